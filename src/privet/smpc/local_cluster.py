"""Secure computation across OS processes: every party, and the dealer, is its own process.

:class:`LocalCluster` is :class:`~privet.smpc.InProcessCluster` with real isolation: it
creates a private CA and one certificate per endpoint in a ``0700`` temporary directory,
starts each computing party (and the dealer) as a separate Python process
(:mod:`privet.smpc.party_main`), and links every process to every other over loopback TCP
with mutual TLS 1.3 (:class:`~privet.transport.TlsChannel`). This process keeps the driver
and the clients. The parties run exactly the runtimes of the in-process cluster; only the
channels differ, so every operation, cost report and error behaves the same.

* **Inputs** are shared by their owner: a client encodes and splits its array with its own
  generator and sends one share to each party over that party's TLS link; the plaintext
  never leaves the client's process.
* **Outputs** are opened to one named client only: the parties send their shares to it and
  to nobody else.
* **Failures are loud and fast**: when a process dies (even by SIGKILL), the end of its TLS
  streams fails every other endpoint's next wait with a
  :class:`~privet.errors.TransportError`, and the surviving processes exit with status 1.
  Every wait has a timeout.
* On :meth:`~LocalCluster.close` the driver stops the runtimes, the processes exit, and the
  certificates and keys are deleted.

Endpoints: parties ``0..n-1``, the dealer ``n``, the driver ``n+1`` (``client-0``), then the
named clients (``client-1`` …), as in :class:`~privet.smpc.InProcessCluster`.

Examples
--------
>>> with LocalCluster(parties=2) as cluster:  # doctest: +SKIP
...     x = cluster.share([1.5, -2.0])
...     (x * x).reveal()
array([2.25, 4.  ])
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.channel import DEFAULT_IDLE_TIMEOUT, DEFAULT_TIMEOUT, ChannelStats
from privet.core.checks import check_int, check_timeout
from privet.core.errors import ParameterError, PrivetError, ProtocolError, TransportError
from privet.core.random import SecureRandom
from privet.smpc.driver import AFTER_FAILURE_S, DRIVER, Driver
from privet.smpc.facade import DriverFacade
from privet.smpc.party_main import dealer_idle
from privet.smpc.runtime import DealerRuntime
from privet.transport import (
    Credentials,
    NetworkConfig,
    TlsChannel,
    default_names,
    load_config,
    make_certificates,
)

if TYPE_CHECKING:
    from privet.smpc.tensor import SharedTensor

__all__ = ["LocalCluster", "RemoteCluster"]

_STOP_WAIT: Final = 10.0
_THREAD_VARS: Final = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


_BOOT: Final = "import sys; from privet.smpc.party_main import main; sys.exit(main(sys.argv[1:]))"
"""The child's program (``python -c``): run :func:`privet.smpc.party_main.main`. Not ``-m``:
runpy warns when the package imported the module first (``privet.smpc`` does not import
it now, but a user's code may have)."""


class LocalCluster(DriverFacade):
    """``parties`` computing parties and a dealer as OS processes over mutual TLS on loopback.

    Parameters
    ----------
    parties
        The number of computing parties (>= 2), one process each.
    dealer
        ``True`` (default): the dealer is a process of its own. ``False``: the dealer runs
        on a thread of this process (the driver's process then also holds the dealer's
        seeds: use it only where the driver is trusted not to collude with a party).
    clients
        Names of extra client endpoints (input owners and result recipients, e.g.
        ``("owner", "bob")``); the driver itself is the client ``"driver"``.
    frac_bits
        Fixed-point fractional bits (16 by default).
    truncation
        ``"dealer"`` (default), ``"exact"`` or ``"local"`` (2 parties only); see
        :mod:`privet.smpc.truncation`.
    timeout
        Seconds any receive waits before :class:`~privet.errors.PeerTimeoutError`; also
        bounds how long a failure takes to reach every process.
    connect_timeout
        Seconds the processes may take to start and link up.
    idle_timeout
        Seconds the parties wait for the driver's next instruction (an hour): if this
        process is stopped (not killed) they wait that long, then abort the dealer too; if
        it exits or crashes, they stop at once. The dealer, which gets only the
        instructions needing its material, waits at least an hour.

    Raises
    ------
    TransportError
        If a process fails to start or the network cannot be set up (the message carries
        the process's own error).

    Examples
    --------
    >>> with LocalCluster(parties=2, clients=("bob",)) as cluster:  # doctest: +SKIP
    ...     x = cluster.share([3.0, -1.0], owner="bob")
    ...     (x * x).reveal(to="bob")
    array([9., 1.])
    """

    def __init__(
        self,
        *,
        parties: int = 2,
        dealer: bool = True,
        clients: Sequence[str] = (),
        frac_bits: int = 16,
        truncation: str = "dealer",
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = 60.0,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        n = check_int(parties, name="parties", minimum=2)
        if not isinstance(dealer, bool):
            raise ParameterError(f"dealer must be True or False, got {dealer!r}")
        names = list(clients)
        if (
            len(set(names)) != len(names)
            or DRIVER in names
            or not all(isinstance(c, str) and c for c in names)
        ):
            raise ParameterError(
                f"clients must be distinct non-empty names other than {DRIVER!r}, got {names}"
            )
        self._timeout = check_timeout(timeout, name="timeout")
        self._connect_timeout = check_timeout(connect_timeout, name="connect_timeout")
        self._idle_timeout = check_timeout(idle_timeout, name="idle_timeout")
        self._n = n
        self._client_names = [DRIVER, *names]
        self._tmp = tempfile.TemporaryDirectory(prefix="privet-cluster-")
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Path] = {}
        self._channels: list[TlsChannel] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._driver: Driver | None = None
        self._finalizer = weakref.finalize(self, _reap, self._procs, self._tmp)
        try:
            self._start(dealer=dealer, frac_bits=frac_bits, truncation=truncation)
        except BaseException:
            self._abort_all("set-up failed")
            raise

    # -- start-up ------------------------------------------------------------------------

    def _start(self, *, dealer: bool, frac_bits: int, truncation: str) -> None:
        n = self._n
        n_clients = len(self._client_names)
        endpoint_names = default_names(n, dealer=True, clients=n_clients)
        folder = Path(self._tmp.name)
        creds = make_certificates(folder / "certs", endpoint_names, days=2)
        session = SecureRandom().bytes(8).hex()
        boot = {
            "parties": n,
            "dealer": True,
            "clients": n_clients,
            "session": session,
            "certs": str(folder / "certs"),
            "timeout": self._timeout,
            "connect_timeout": self._connect_timeout,
            "idle_timeout": self._idle_timeout,
            "driver": n + 1,
        }
        spawned = list(range(n)) + ([n] if dealer else [])
        own = {i: _own_folder(folder / "certs", endpoint_names[i]) for i in spawned}
        for i in spawned:  # every key moved first: none is left where the others look
            self._spawn(endpoint_names[i], {**boot, "me": i, "certs": str(own[i])}, folder)
        deadline = time.monotonic() + self._connect_timeout
        ports: list[int] = []
        local_dealer = None
        for i in range(n + 1):
            if i in spawned:
                name = endpoint_names[i]
                proc = self._procs[name]
                stdout = proc.stdout
                if stdout is None:  # pragma: no cover - Popen(stdout=PIPE)
                    raise TransportError(f"no pipe to {name}")
                ports.append(self._read_port(name, stdout, deadline))
            else:
                local_dealer = socket.create_server(("127.0.0.1", 0))
                ports.append(local_dealer.getsockname()[1])
        table = json.dumps({"ports": ports}).encode() + b"\n"
        for name, proc in self._procs.items():
            try:
                if proc.stdin is not None:
                    proc.stdin.write(table)
                    proc.stdin.flush()
            except OSError:
                raise TransportError(f"{name} exited during start-up{self._diagnose()}") from None
        options: dict[str, Any] = {
            "session": session,
            "timeout": self._timeout,
            "connect_timeout": max(1.0, deadline - time.monotonic()),
            "idle_timeout": self._idle_timeout,
        }

        def config(me: int) -> NetworkConfig:
            return NetworkConfig.local(
                me=me, ports=ports, parties=n, dealer=True, clients=n_clients, **options
            )

        if local_dealer is not None:
            self._threads.append(
                _start_local_dealer(config(n), creds[endpoint_names[n]], local_dealer, self)
            )
        clients: dict[str, TlsChannel] = {}
        for k, cname in enumerate(self._client_names):
            me = n + 1 + k
            try:
                chan = TlsChannel.open(config(me), creds[endpoint_names[me]])
            except PrivetError as exc:
                raise TransportError(f"{exc}{self._diagnose()}") from None
            self._channels.append(chan)
            clients[cname] = chan
        driver_chan = clients.pop(DRIVER)
        self._dealer_clock = _DealerClock(driver_chan)
        self._driver = Driver(
            self._dealer_clock,
            clients=clients,
            frac_bits=frac_bits,
            truncation=truncation,
            timeout=self._timeout,
        )
        self._client_channels = {DRIVER: driver_chan, **clients}
        self._driver.start()

    def _spawn(self, name: str, boot: dict[str, Any], folder: Path) -> None:
        log = folder / f"{name}.log"
        env = dict(os.environ)
        for var in _THREAD_VARS:  # one process per party: no oversubscribed BLAS pools
            env.setdefault(var, "1")
        with open(log, "wb") as err:
            proc = subprocess.Popen(  # noqa: S603 - a fixed program and arguments
                [sys.executable, "-c", _BOOT, "--bootstrap"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                close_fds=True,
                env=env,
            )
        self._procs[name] = proc
        self._logs[name] = log
        if proc.stdin is None:  # pragma: no cover - Popen(stdin=PIPE)
            raise TransportError(f"no pipe to {name}")
        with contextlib.suppress(OSError):  # a child that died at once is reported below
            proc.stdin.write(json.dumps(boot).encode() + b"\n")
            proc.stdin.flush()

    def _read_port(self, name: str, stdout: IO[bytes], deadline: float) -> int:
        fd = stdout.fileno()
        line = bytearray()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, min(left, 0.5)))
            if not ready:
                if self._procs[name].poll() is not None or left <= 0:
                    raise TransportError(
                        f"{name} did not start within {self._connect_timeout:g} s{self._diagnose()}"
                    )
                continue
            chunk = os.read(fd, 1)
            if not chunk:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._procs[name].wait(2.0)  # let it finish exiting, for the diagnosis
                raise TransportError(f"{name} exited during start-up{self._diagnose()}")
            line += chunk
        try:
            port = json.loads(line)["port"]
        except (ValueError, KeyError, TypeError):
            raise ProtocolError(f"{name} reported no port during start-up") from None
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ProtocolError(f"{name} reported an invalid port")
        return port

    def _diagnose(self) -> str:
        """Return the exit status and last error line of every process that has exited."""
        notes = []
        for name, proc in self._procs.items():
            code = proc.poll()
            if code is None:
                continue
            tail = ""
            with contextlib.suppress(OSError):
                lines = self._logs[name].read_text(errors="replace").strip().splitlines()
                tail = lines[-1][:300] if lines else ""
            notes.append(f"{name} exited with status {code}{': ' + tail if tail else ''}")
        return ("; " + "; ".join(notes)) if notes else ""

    # -- life cycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the runtimes, wait for the processes, delete the keys (idempotent)."""
        if self._closed:
            return
        self._closed = True
        failed = self._driver is not None and self._driver.failed is not None
        if failed:  # abort: the processes still up exit (status 1) instead of waiting
            for chan in self._abort_order():
                chan.abort("the driver's run failed")
        elif self._driver is not None:
            with contextlib.suppress(PrivetError):
                self._driver.stop()
        for chan in self._channels:
            chan.close()
        deadline = time.monotonic() + (AFTER_FAILURE_S if failed else _STOP_WAIT)
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self._finalizer()

    def _abort_all(self, reason: str) -> None:
        self._closed = True
        for chan in self._abort_order():
            chan.abort(reason)
        self._finalizer()

    def _abort_order(self) -> list[TlsChannel]:
        """Return this process's channels, the in-thread dealer's last (``dealer=False``).

        That thread holds its channel's lock while it waits for an instruction; aborting
        the driver's channel first sends it an ``ABORT`` that ends the wait, so aborting
        its own channel then does not wait out its idle timeout.
        """
        dealer = [c for c in self._channels if c.party == c.dealer]
        return [c for c in self._channels if c not in dealer] + dealer

    @property
    def dealer_seconds(self) -> float:
        """Seconds the dealer has spent producing material so far (from its acknowledgements).

        The dealer works on demand, when an operation needing correlated randomness
        starts; its wall clock includes the time its corrections wait for their receiver
        to read them (the parties read them only when the protocol needs them, so the
        dealer's work overlaps their first round). :attr:`dealer_cpu_seconds` is its own
        work alone.
        """
        return self._dealer_clock.seconds

    @property
    def dealer_cpu_seconds(self) -> float:
        """CPU seconds the dealer has spent producing material so far (its own work)."""
        return self._dealer_clock.cpu_seconds

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        """The child processes by endpoint name (``party-0`` …, ``dealer``)."""
        return dict(self._procs)

    def exit_codes(self) -> dict[str, int | None]:
        """Return each child process's exit status (``None`` while it runs)."""
        return {name: proc.poll() for name, proc in self._procs.items()}

    def client_stats(self, name: str) -> ChannelStats:
        """Return the channel counters of client ``name`` (who received what)."""
        try:
            return self._client_channels[name].stats
        except KeyError:
            raise ParameterError(
                f"unknown client {name!r}; clients are {list(self._client_names)}"
            ) from None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return (
            f"LocalCluster(parties={self._n}, processes={len(self._procs)}, "
            f"clients={self._client_names}, {state})"
        )


class RemoteCluster(DriverFacade):
    """The driver of parties that run elsewhere (``privet smpc party --config FILE``).

    The parties and the dealer are started on their hosts, each with its own config file;
    this object connects the driver (the first client of the network, see
    :mod:`privet.smpc.party_main`) to all of them over mutual TLS and offers the same API as
    :class:`LocalCluster`. ``privet smpc certs --hosts ...`` writes a matching set of
    certificates and config files. With ``--clients N`` the clients after the driver
    (``client-1`` …) are input owners and recipients on their own hosts
    (:class:`~privet.smpc.RemoteClient`): :meth:`share_from` takes their inputs and
    :meth:`send` opens results to them; every endpoint must start within the
    ``connect_timeout``.

    Parameters
    ----------
    config
        The driver's TOML/JSON config (:func:`privet.transport.load_config`).
    frac_bits
        Fixed-point fractional bits (16 by default).
    truncation
        ``"dealer"`` (default), ``"exact"`` or ``"local"``.

    Raises
    ------
    ParameterError
        If the config is not the driver's.
    TransportError
        If a party or the dealer cannot be reached within the config's ``connect_timeout``.
    """

    def __init__(
        self, config: str | os.PathLike[str], *, frac_bits: int = 16, truncation: str = "dealer"
    ) -> None:
        from privet.smpc.party_main import default_driver  # not at import: see _BOOT

        cfg, creds = load_config(config)
        if cfg.me != default_driver(cfg):
            raise ParameterError(
                f"{os.fspath(config)!r} is the config of endpoint {cfg.me} "
                f"({cfg.me_endpoint.name}); the driver is endpoint {default_driver(cfg)}"
            )
        self._channel = TlsChannel.open(cfg, creds)
        self._closed = False
        # the other clients are on their own hosts (RemoteClient): input owners, recipients
        remote = {cfg.endpoints[j].name: j for j in range(cfg.me + 1, len(cfg.endpoints))}
        try:
            self._driver = Driver(
                self._channel,
                remote=remote,
                frac_bits=frac_bits,
                truncation=truncation,
                timeout=cfg.timeout,
            )
            self._driver.start()
        except BaseException:
            self._channel.abort("the driver failed to start")
            raise

    def share_from(
        self, owner: str, shape: tuple[int, ...], *, integer: bool = False
    ) -> SharedTensor:
        """Take the next input of the remote client ``owner`` (its ``RemoteClient.share``).

        The client's plaintext never reaches this host: it sends its shares to the parties,
        which check them against ``shape`` and the encoding. See
        :meth:`privet.smpc.Driver.share_from`.
        """
        return self.driver.share_from(owner, shape, integer=integer)

    def send(self, t: SharedTensor, *, to: str) -> None:
        """Open ``t`` to the remote client ``to`` alone (its ``RemoteClient.receive``)."""
        self.driver.send(t, to=to)

    def close(self) -> None:
        """Stop the remote runtimes (they exit) and close the driver's links (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.driver.failed is not None:  # the parties still up exit (status 1) at once
            self._channel.abort("the driver's run failed")
        else:
            with contextlib.suppress(PrivetError):
                self.driver.stop()
        self._channel.close()

    def __repr__(self) -> str:
        return f"RemoteCluster(parties={self.parties}, {'closed' if self._closed else 'open'})"


class _DealerClock:
    """The driver's channel, passed through, adding up the dealer's reported seconds.

    The dealer's acknowledgement (tag ``ack``, a small JSON object) carries the seconds it
    spent on the instructions since the last one; nothing else is read, and every message is
    returned as is.
    """

    def __init__(self, channel: TlsChannel) -> None:
        self._ch = channel
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    @property
    def party(self) -> int:
        """The driver's endpoint id."""
        return self._ch.party

    @property
    def parties(self) -> int:
        """The number of computing parties."""
        return self._ch.parties

    @property
    def dealer(self) -> int | None:
        """The dealer's id."""
        return self._ch.dealer

    @property
    def endpoints(self) -> int:
        """The number of endpoint ids."""
        return self._ch.endpoints

    @property
    def stats(self) -> ChannelStats:
        """The driver channel's counters."""
        return self._ch.stats

    def send(self, to: int, arrays: Sequence[NDArray[Any]], *, tag: str) -> None:
        """Send, unchanged."""
        self._ch.send(to, arrays, tag=tag)

    def recv(self, frm: int, *, tag: str, timeout: float | None = None) -> list[NDArray[Any]]:
        """Receive, unchanged; note the seconds in the dealer's acknowledgements."""
        msg = self._ch.recv(frm, tag=tag, timeout=timeout)
        if frm == self._ch.dealer and tag == "ack" and len(msg) == 1:
            raw = msg[0]
            if raw.dtype == np.uint8 and raw.ndim == 1 and raw.size < 4096:
                with contextlib.suppress(ValueError, UnicodeDecodeError, TypeError, RecursionError):
                    doc = json.loads(raw.tobytes().decode("utf-8"))
                    doc = doc if isinstance(doc, dict) else {}
                    value = doc.get("seconds", 0.0)
                    if isinstance(value, int | float) and 0 <= value < 1e6:
                        self.seconds += float(value)
                    cpu = doc.get("cpu_seconds", 0.0)
                    if isinstance(cpu, int | float) and 0 <= cpu < 1e6:
                        self.cpu_seconds += float(cpu)
        return msg

    def close(self) -> None:
        """Close the channel."""
        self._ch.close()


def _start_local_dealer(
    config: NetworkConfig, creds: Credentials, listener: socket.socket, owner: LocalCluster
) -> threading.Thread:
    """Run the dealer on a thread of this process (``dealer=False``)."""

    def run() -> None:
        try:
            chan = TlsChannel.open(config, creds, listener=listener)
        except PrivetError:
            return  # the driver's own set-up reports the failure
        owner._channels.append(chan)
        DealerRuntime(
            chan, None, driver=config.parties + 1, idle_timeout=dealer_idle(config.idle_timeout)
        ).serve()
        chan.close()

    t = threading.Thread(target=run, name="privet-dealer", daemon=True)
    t.start()
    return t


def _own_folder(certs: Path, name: str) -> Path:
    """Move ``name``'s key and certificate into a folder of their own, with the CA's.

    Each child process is told only its own key's folder. On one host the processes share a
    user, so this is tidiness, not a boundary: a party could still read a sibling folder. On
    real hosts each host holds only its own files.
    """
    own = certs.parent / f"certs-{name}"
    own.mkdir(mode=0o700)
    for suffix in (".pem", ".key"):
        os.replace(certs / f"{name}{suffix}", own / f"{name}{suffix}")
    (own / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    return own


def _reap(procs: dict[str, subprocess.Popen[bytes]], tmp: tempfile.TemporaryDirectory[str]) -> None:
    """Kill what still runs and delete the key directory (also at interpreter exit)."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5.0)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
    with contextlib.suppress(OSError):
        tmp.cleanup()
