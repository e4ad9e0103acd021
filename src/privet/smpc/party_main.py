"""The process entry point of one computing party or of the dealer.

On a real host, ``privet smpc party --config FILE`` (or ``python -m privet.smpc.party_main
--config FILE``) reads the endpoint's network config and TLS files
(:func:`privet.transport.load_config`), connects to its peers over mutual TLS and runs the
:class:`~privet.smpc.runtime.PartyRuntime` (ids ``0..parties-1``) or the
:class:`~privet.smpc.runtime.DealerRuntime` (id ``parties``) until the driver stops it. The
driver is the first client: the endpoint right after the parties and the dealer.

:class:`~privet.smpc.local_cluster.LocalCluster` starts the same code with ``--bootstrap``:
the process reads one JSON line from its standard input (its id, the network's shape, the
certificate directory, the timeouts), binds a loopback port, writes ``{"port": N}`` on its
standard output, reads ``{"ports": [...]}`` (everyone's), and joins the network. The pipes
carry only these two JSON lines; nothing is ever unpickled.

Exit status: 0 after the driver's ``stop``; 1 when the run failed (a peer died, timed out
or broke the protocol): the reason goes to standard error, never a share or a key; 2 for a
bad command line or config.

Examples
--------
>>> main(["--help"])  # doctest: +ELLIPSIS
usage: privet-party ...
0
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import socket
import sys
import time
from typing import IO, Any, Final

from privet.core.channel import DEFAULT_IDLE_TIMEOUT
from privet.core.checks import check_int, check_timeout
from privet.core.errors import ParameterError, PrivetError, ProtocolError, TransportError
from privet.smpc.runtime import DealerRuntime, PartyRuntime
from privet.transport import NetworkConfig, TlsChannel, load_config, load_credentials

__all__ = ["default_driver", "main", "serve_endpoint", "tune_allocator"]


def default_driver(config: NetworkConfig) -> int:
    """Return the driver's id: the first client after the parties and the dealer.

    Parameters
    ----------
    config
        The network config.

    Returns
    -------
    int
        The driver's endpoint id.

    Raises
    ------
    ParameterError
        If the network has no client endpoint.

    Examples
    --------
    >>> cfg = NetworkConfig.local(me=0, ports=[1, 2, 3], parties=2, dealer=True, clients=1)
    >>> default_driver(cfg)
    3
    """
    first = config.parties + int(config.dealer)
    if first >= len(config.endpoints):
        raise ParameterError(
            "the network lists no client endpoint; add the driver (e.g. 'client-0') after "
            "the parties and the dealer"
        )
    return first


def serve_endpoint(
    channel: TlsChannel,
    *,
    driver: int,
    timeout: float | None = None,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> None:
    """Run this endpoint's runtime on ``channel`` until the driver stops it.

    Parameters
    ----------
    channel
        The endpoint's open channel: a computing party or the dealer.
    driver
        The driver's endpoint id.
    timeout
        Seconds each protocol receive waits (``None``: the channel's default).
    idle_timeout
        Seconds it waits for the driver's next instruction.

    Raises
    ------
    ParameterError
        If the endpoint is a client.
    TransportError
        If the network failed (a peer died, aborted or timed out).
    ProtocolError
        If the runtime stopped on a protocol error (reported to the driver as well).
    """
    me = channel.party
    runtime: PartyRuntime | DealerRuntime
    if me < channel.parties:
        runtime = PartyRuntime(
            channel, None, driver=driver, timeout=timeout, idle_timeout=idle_timeout
        )
    elif me == channel.dealer:
        runtime = DealerRuntime(
            channel, None, driver=driver, idle_timeout=dealer_idle(idle_timeout)
        )
    else:
        raise ParameterError(
            f"endpoint {me} is a client; only parties (0..{channel.parties - 1}) and the "
            "dealer run a runtime"
        )
    runtime.serve()
    # The runtime closes its channel when it stops on an error, and returns on ``stop``.
    if channel.broken is not None:
        raise TransportError(f"the run failed: {channel.broken}")
    if channel.closed:
        raise ProtocolError(
            "the runtime stopped on an error (the driver got the details in its acknowledgement)"
        )


def dealer_idle(idle_timeout: float) -> float:
    """Return the dealer's wait for its next instruction: at least an hour.

    The driver sends the dealer only the instructions that need its material, so a busy run
    may leave it without one for longer than the parties' ``idle_timeout``. It needs no
    short wait of its own: a party that gives up aborts every peer, the dealer included.
    """
    return max(idle_timeout, DEFAULT_IDLE_TIMEOUT)


def _read_json_line(fd: int, *, timeout: float, what: str) -> dict[str, Any]:
    """Read one JSON object line from a pipe within ``timeout`` seconds (unbuffered)."""
    deadline = time.monotonic() + timeout
    line = bytearray()
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, left))
        if not ready:
            raise TransportError(f"the launcher sent no {what} within {timeout:g} s")
        chunk = os.read(fd, 1)
        if not chunk:
            raise TransportError(f"the launcher closed the pipe before sending the {what}")
        line += chunk
        if len(line) > 1 << 16:
            raise ProtocolError(f"the launcher's {what} is too long")
    try:
        doc = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProtocolError(f"the launcher's {what} is not JSON") from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"the launcher's {what} is not a JSON object")
    return doc


def _bootstrap(stdin: int, stdout: IO[bytes]) -> None:
    """Join a LocalCluster: report a loopback port, learn everyone's, serve."""
    boot = _read_json_line(stdin, timeout=60.0, what="bootstrap")
    try:
        me = check_int(boot["me"], name="me")
        parties = check_int(boot["parties"], name="parties", minimum=2)
        clients = check_int(boot["clients"], name="clients")
        dealer = bool(boot["dealer"])
        timeout = check_timeout(boot["timeout"], name="timeout")
        connect_timeout = check_timeout(boot["connect_timeout"], name="connect_timeout")
        idle_timeout = check_timeout(boot["idle_timeout"], name="idle_timeout")
        session, certs = str(boot["session"]), str(boot["certs"])
        driver = check_int(boot["driver"], name="driver")
    except KeyError as exc:
        raise ProtocolError(f"the bootstrap lacks {exc.args[0]!r}") from None
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        stdout.write(json.dumps({"port": listener.getsockname()[1]}).encode() + b"\n")
        stdout.flush()
        ports = _read_json_line(stdin, timeout=connect_timeout, what="port table").get("ports")
        if not isinstance(ports, list) or not all(isinstance(p, int) for p in ports):
            raise ProtocolError("the launcher's port table is not a list of ints")
        config = NetworkConfig.local(
            me=me,
            ports=ports,
            parties=parties,
            dealer=dealer,
            clients=clients,
            session=session,
            timeout=timeout,
            connect_timeout=connect_timeout,
            idle_timeout=idle_timeout,
        )
        creds = load_credentials(certs, config.me_endpoint.name)
        channel = TlsChannel.open(config, creds, listener=listener)
    finally:
        listener.close()
    _serve_and_close(channel, driver=driver)


def _serve_and_close(channel: TlsChannel, *, driver: int) -> None:
    config = channel.config
    try:
        serve_endpoint(
            channel, driver=driver, timeout=config.timeout, idle_timeout=config.idle_timeout
        )
    except BaseException as exc:
        channel.abort(f"{channel.config.me_endpoint.name} failed: {type(exc).__name__}")
        raise
    channel.close()


_M_TRIM_THRESHOLD: Final = -1
_M_TOP_PAD: Final = -2
_M_MMAP_THRESHOLD: Final = -3


def tune_allocator() -> bool:
    """Keep freed array memory in the process (glibc ``mallopt``); return whether it applied.

    A party allocates and frees arrays of megabytes for every instruction. By default glibc
    serves each from fresh ``mmap`` pages, or trims the heap after it, so every new array
    costs page faults and the kernel zeroing its pages: about a fifth of a party's CPU time
    on a 10^6-element product. Arrays up to 32 MiB are served from the heap instead, and
    freed memory is kept for the next instruction. Memory the process already holds stays
    in the process (nothing is shared or exposed); only the allocator's reuse changes.
    Elsewhere than glibc this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1)
    ok = bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1) and ok
    return bool(mallopt(_M_TOP_PAD, 64 << 20) == 1) and ok


def main(argv: list[str] | None = None) -> int:
    """Run one party or the dealer; return the exit status (see the module docstring).

    Parameters
    ----------
    argv
        The command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 after a clean stop, 1 when the run failed, 2 for a bad command line or config.
    """
    ap = argparse.ArgumentParser(
        prog="privet-party",
        description="Run one SMPC party or the dealer over mutual TLS.",
        exit_on_error=False,
    )
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", help="the endpoint's TOML/JSON network config")
    group.add_argument(
        "--bootstrap", action="store_true", help="join a LocalCluster (JSON lines on stdin)"
    )
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error printed by argparse
        return 0 if exc.code == 0 else 2
    except argparse.ArgumentError as exc:
        print(f"privet-party: {exc}", file=sys.stderr)
        return 2
    tune_allocator()
    try:
        if args.bootstrap:
            _bootstrap(sys.stdin.fileno(), sys.stdout.buffer)
        else:
            try:
                config, creds = load_config(args.config)
                driver = default_driver(config)
            except ParameterError as exc:
                print(f"privet-party: bad config: {exc}", file=sys.stderr)
                return 2
            # the clients after the driver are input owners and recipients on their own
            # hosts: one that leaves (or fails) ends its own link, not the run
            remote = range(driver + 1, len(config.endpoints))
            channel = TlsChannel.open(config, creds, optional=remote)
            _serve_and_close(channel, driver=driver)
    except PrivetError as exc:
        print(f"privet-party: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(main())
