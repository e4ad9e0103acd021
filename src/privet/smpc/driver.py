"""The driver: it turns operations on shared tensors into op-code instructions.

The driver holds no share. It numbers registers, sends each instruction to every party
runtime (and to the dealer when the instruction consumes correlated randomness), collects
the acknowledgements and charges their cost to the current operation.

Within one operation (``x < y``, a model's forward pass …) the instructions are
*pipelined*: the driver sends them back to back and collects the acknowledgements when the
operation ends (or before any input or output), so a runtime starts the next instruction as
soon as it finishes one, and the dealer prepares the next instruction's material while the
parties still compute. Each endpoint acknowledges once per operation: the driver holds each
instruction back until the next one is made, and the last asks for the acknowledgement (an
endpoint that got none of the last instructions gets a ``sync``); the acknowledgement sums
the costs of everything since the previous one. The runtimes execute instructions in order,
so the result is the same; an operation still returns only after every endpoint has
acknowledged all of its instructions, and an error anywhere is raised then, with its root
cause.

Inside :meth:`Driver.preprocessing` an operation instead runs in two phases: the dealer gets
every instruction first and the driver waits until it has produced all their material (the
*offline* phase: the corrections wait, received, at the parties), and only then do the
parties get the instructions (the *online* phase). The cost report then splits the time:
``offline_seconds`` of the ``seconds``. Inputs are shared by
a *client* endpoint (the driver itself, or a named one such as Bob): the client encodes,
splits with its own generator and sends one share per party. A result is opened to one
client only: the parties send their shares to that endpoint and nobody else.

The driver talks through :class:`~privet.core.channel.Channel` objects only, so the same
class drives runtimes in threads (:class:`~privet.smpc.InProcessCluster`) or in other
processes over TLS.

Examples
--------
>>> from privet.smpc import InProcessCluster
>>> with InProcessCluster(parties=2) as cluster:
...     x = cluster.share([1.0, 2.0])
...     (x + x).reveal()
array([2., 4.])
"""

from __future__ import annotations

import json
import numbers
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privet.core import errors
from privet.core.channel import Channel
from privet.core.errors import (
    ParameterError,
    PeerTimeoutError,
    PrivetError,
    ProtocolError,
    TransportError,
)
from privet.core.random import SecureRandom, resolve_rng
from privet.smpc import ring
from privet.smpc.client import encode_input, receive_shares, send_shares
from privet.smpc.cost import CostReport
from privet.smpc.fixed_point import FixedPoint
from privet.smpc.program import decode, encode, plan
from privet.smpc.runtime import PROGRESS_S, encode_index
from privet.smpc.tensor import SharedTensor
from privet.smpc.truncation import TruncationMode, check_mode

__all__ = ["Driver"]

U64 = np.uint64
DRIVER = "driver"


@dataclass
class _Held:
    """An instruction held back until the next: the last of an operation asks for the ack."""

    seq: int
    op: str
    args: Mapping[str, Any]
    consts: Sequence[NDArray[Any]]
    free: list[int]
    targets: list[int]
    msg: list[NDArray[Any]]  # encoded already (its plan decided the targets): sent as is


@dataclass
class _Pending:
    """Costs accumulated for the operation being run."""

    name: str
    bytes_sent: int = 0
    dealer_bytes: int = 0
    rounds: int = 0
    messages: int = 0
    elements: int = 0
    offline_seconds: float = 0.0


class Driver:
    """Drive party runtimes through channels (see the module docstring).

    Parameters
    ----------
    channel
        The driver's own endpoint (a client).
    clients
        Other client endpoints by name (input owners, result recipients), hosted here.
    remote
        Clients on other hosts, by name: their endpoint ids (see :class:`RemoteClient
        <privet.smpc.client.RemoteClient>`); they share with :meth:`share_from` and
        receive with :meth:`send`.
    frac_bits
        Fixed-point fractional bits.
    truncation
        ``"dealer"`` (default), ``"exact"`` or ``"local"`` (2 parties only); see
        :mod:`privet.smpc.truncation`.
    rng
        The clients' generator for sharing inputs (``None``: fresh OS-keyed generators).
    timeout
        Seconds to wait for an acknowledgement (or a progress report: the runtimes send one
        every quarter of it in a long operation) or a share.
    """

    def __init__(
        self,
        channel: Channel,
        *,
        clients: Mapping[str, Channel] | None = None,
        remote: Mapping[str, int] | None = None,
        client_rngs: Mapping[str, SecureRandom] | None = None,
        frac_bits: int = 16,
        truncation: str = "dealer",
        timeout: float | None = None,
    ) -> None:
        if channel.parties < 2:
            raise ParameterError(f"secret sharing needs >= 2 parties, got {channel.parties}")
        if channel.dealer is None:
            raise ParameterError("the protocols need a dealer endpoint (dealer=True)")
        self._ch = channel
        self._clients: dict[str, Channel] = {DRIVER: channel, **(clients or {})}
        self._remote: dict[str, int] = dict(remote or {})
        if set(self._remote) & set(self._clients):
            raise ParameterError("a client is either hosted by the driver or remote, not both")
        self._count_in = dict.fromkeys([*self._clients, *self._remote], 0)
        self._count_out = dict(self._count_in)
        rngs = dict(client_rngs or {})
        self._rngs = {name: rngs.get(name) or resolve_rng(None) for name in self._clients}
        self.codec = FixedPoint(frac_bits)
        self.truncation: TruncationMode = check_mode(truncation, channel.parties)
        self.timeout = timeout
        self._seq = 0
        self._next_reg = 0
        self._free: list[int] = []
        self._fixed: dict[int, bool] = {}  # fixed operands' registers: masked yet?
        self._dealer_free: list[int] = []  # freed masked registers the dealer must forget
        self._costs = CostReport()
        self._pending: _Pending | None = None
        # endpoints with instructions not yet acknowledged: the seq of the one that asks
        # for the acknowledgement, or None (a sync will ask)
        self._unacked: dict[int, int | None] = {}
        self._held: _Held | None = None  # the operation's last instruction, not yet sent
        self._preprocess = False
        self._deferred: list[tuple[list[NDArray[Any]], int]] = []  # (message, seq) for parties
        self._offline_t0 = 0.0
        self._failed: PrivetError | None = None
        self._closed = False

    # -- facts ---------------------------------------------------------------------------

    @property
    def parties(self) -> int:
        """The number of computing parties."""
        return self._ch.parties

    @property
    def frac_bits(self) -> int:
        """Fixed-point fractional bits."""
        return self.codec.frac_bits

    @property
    def clients(self) -> tuple[str, ...]:
        """The client names (``"driver"`` first, then those hosted here, then remote ones)."""
        return (*self._clients, *self._remote)

    @property
    def remote_clients(self) -> tuple[str, ...]:
        """The clients on other hosts (they share and receive themselves)."""
        return tuple(self._remote)

    def cost_report(self) -> CostReport:
        """Return the costs recorded so far (the live report)."""
        return self._costs

    def reset_costs(self) -> None:
        """Forget the recorded costs."""
        self._costs = CostReport()

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Have the dealer hand out its seeds."""
        # runtimes report progress at a quarter of the timeout: each wait stays bounded
        progress = PROGRESS_S if self.timeout is None else min(PROGRESS_S, self.timeout / 4)
        with self.op("setup"):
            self._exec("setup", {"progress": progress}, dealer=True)

    def stop(self) -> None:
        """Stop every runtime (best effort; errors are swallowed at shutdown).

        After a failure the runtimes still up are told to stop too, but each is given
        ``AFTER_FAILURE_S`` to answer, not a whole timeout: one that is stuck stays stuck.
        """
        if self._closed:
            return
        self._closed = True
        wait = self.timeout if self._failed is None else self._grace()
        self._seq += 1
        msg = encode(self._seq, "stop", {})
        targets = [*range(self.parties), self._dealer_id]
        for t in targets:
            try:
                self._ch.send(t, msg, tag="op")
            except PrivetError:
                continue
        for t in targets:
            try:
                self._ch.recv(t, tag="ack", timeout=wait)
            except PrivetError:
                continue

    @property
    def _dealer_id(self) -> int:
        d = self._ch.dealer
        if d is None:  # checked in __init__
            raise ProtocolError("no dealer")
        return d

    # -- operation bookkeeping -----------------------------------------------------------

    @contextmanager
    def op(self, name: str) -> Iterator[_Pending]:
        """Charge every instruction run inside to operation ``name`` (outermost wins)."""
        if self._pending is not None:
            yield self._pending
            return
        pending = _Pending(name)
        self._pending = pending
        t0 = time.perf_counter()
        try:
            yield pending
            self._collect()
        except BaseException:
            if (self._unacked or self._held or self._deferred) and self._failed is None:
                with suppress(PrivetError):  # the first error is the one raised
                    self._collect()
            self._unacked.clear()
            self._held = None
            self._deferred.clear()
            raise
        finally:
            self._pending = None
            self._costs.add(
                name,
                bytes_sent=pending.bytes_sent,
                dealer_bytes=pending.dealer_bytes,
                rounds=pending.rounds,
                messages=pending.messages,
                elements=pending.elements,
                seconds=time.perf_counter() - t0,
                offline_seconds=pending.offline_seconds,
            )

    @contextmanager
    def preprocessing(self) -> Iterator[None]:
        """Run each operation inside as an offline phase, then an online phase.

        The dealer produces the material of all of an operation's instructions before any
        party starts (module docstring), so ``seconds - offline_seconds`` in the cost report
        is the online phase alone. Slower in total than the default, which overlaps the two,
        and the last party holds all of an operation's corrections in memory until its online
        phase (over TLS, at most twice the channel's ``max_bytes``).
        """
        if self._pending is not None:
            raise ParameterError("preprocessing() must be entered outside any operation")
        self._preprocess = True
        try:
            yield
        finally:
            self._preprocess = False

    def release(self, reg: int) -> None:
        """Mark a register as no longer needed (sent with the next instruction)."""
        self._free.append(reg)
        if self._fixed.pop(reg, False):
            self._dealer_free.append(reg)

    def fix_operand(self, t: SharedTensor) -> None:
        """Mark ``t`` as a fixed second operand of products (a model's weights).

        Its first product opens ``t - b`` and every party and the dealer keep the mask;
        later products by ``t`` open only their first operand
        (:func:`~privet.smpc.recipes.fixed_triples`). The masks go when ``t`` is freed.
        """
        self._check_own(t)
        self._fixed.setdefault(t.reg, False)

    def fixed_args(self, reg: int) -> dict[str, str]:
        """Return the ``fixed`` argument of a product whose second operand is ``reg``."""
        if reg not in self._fixed:
            return {}
        masked, self._fixed[reg] = self._fixed[reg], True
        return {"fixed": "reuse" if masked else "new"}

    def _new(self, shape: tuple[int, ...], frac: int) -> SharedTensor:
        reg = self._next_reg
        self._next_reg += 1
        return SharedTensor(self, reg, shape, frac)

    def _check_alive(self) -> None:
        if self._closed:
            raise ProtocolError("this cluster is closed; open a new one")
        if self._failed is not None:
            raise ProtocolError(
                f"this cluster failed earlier ({type(self._failed).__name__}); open a new one"
            )

    def _exec(
        self,
        op: str,
        args: Mapping[str, Any],
        consts: Sequence[NDArray[Any]] = (),
        *,
        dealer: bool | None = None,
        io: Callable[[int], None] | None = None,
    ) -> None:
        """Send one instruction and run the client side ``io(seq)``.

        Inside an operation the acknowledgements are collected when it ends (module
        docstring); an instruction with client I/O, or one outside any operation, is
        collected at once, after everything sent before it.
        """
        self._check_alive()
        if io is not None:
            self._collect()  # the client's channel must carry only this instruction's data
        self._seq += 1
        seq = self._seq
        deferred = self._preprocess and io is None and self._pending is not None
        now = not deferred and (io is not None or self._pending is None)  # collected at once
        if now:
            args = {**args, "ack": True}  # acknowledged by itself: no sync needed
        free, self._free = self._free, []
        msg = encode(seq, op, args, consts, free)
        if dealer is None:
            dealer = bool(plan(decode(msg)))
        if dealer and self._dealer_free:  # the dealer sees only its instructions' frees
            free, self._dealer_free = free + self._dealer_free, []
            msg = encode(seq, op, args, consts, free)
        if deferred:
            self._defer(seq, msg, dealer=dealer)
            return
        # the dealer first: it starts on the material while the parties get theirs
        targets = ([self._dealer_id] if dealer else []) + list(range(self.parties))
        first = self._send_held(None, ack=False)
        if first is not None:  # the last one did not reach everyone: send nothing more
            self._collect(first)
        if not now:  # held until the next one: the last of an operation asks for the ack
            self._held = _Held(seq, op, args, consts, free, targets, msg)
            return
        try:
            for t in targets:
                self._unacked[t] = seq
                self._ch.send(t, msg, tag="op")
            if io is not None:
                io(seq)
        except PrivetError as exc:
            first = first or exc
        self._collect(first)

    def _send_held(self, first: PrivetError | None, *, ack: bool) -> PrivetError | None:
        """Send the held instruction (asking for the acknowledgement when ``ack``)."""
        held, self._held = self._held, None
        if held is None:
            return first
        msg = held.msg
        if ack:
            msg = encode(held.seq, held.op, {**held.args, "ack": True}, held.consts, held.free)
        try:
            for t in held.targets:
                self._unacked[t] = held.seq if ack else None
                self._ch.send(t, msg, tag="op")
        except PrivetError as exc:
            return first or exc
        return first

    def _defer(self, seq: int, msg: list[NDArray[Any]], *, dealer: bool) -> None:
        """Preprocessing: send to the dealer now, to the parties when the offline phase ends."""
        if not self._deferred:
            self._offline_t0 = time.perf_counter()
        self._deferred.append((msg, seq))
        if dealer:
            self._unacked[self._dealer_id] = None
            try:
                self._ch.send(self._dealer_id, msg, tag="op")
            except PrivetError as exc:
                self._collect(exc)

    def _go_online(self) -> None:
        """End the offline phase: wait for the dealer's ack, then send the parties theirs."""
        deferred, self._deferred = self._deferred, []
        self._drain()  # the dealer's acknowledgement: its material has been sent
        if self._pending is not None:
            self._pending.offline_seconds += time.perf_counter() - self._offline_t0
        for msg, _seq in deferred:
            for t in range(self.parties):
                self._unacked[t] = None
                try:
                    self._ch.send(t, msg, tag="op")
                except PrivetError as exc:
                    self._drain(exc)

    def _collect(self, first: PrivetError | None = None) -> None:
        """Collect the acknowledgements of every instruction in flight.

        A preprocessed operation first ends its offline phase (:meth:`_go_online`). Raises
        the root cause of the first failure (``first``: one met while sending) after reading
        every acknowledgement that can still arrive.
        """
        if first is None and self._deferred:
            self._go_online()
        self._deferred.clear()
        if first is None:
            first = self._send_held(None, ack=True)
        self._held = None  # after a failure: never sent (the cluster has failed)
        self._drain(first)

    def _drain(self, first: PrivetError | None = None) -> None:
        """Read the acknowledgement of every endpoint with instructions in flight.

        An endpoint whose last instruction did not ask for one gets a ``sync`` first. Each
        acknowledgement sums the costs since the previous one (:mod:`privet.smpc.runtime`),
        and progress reports of a long operation (``partial``) come before it; an endpoint
        that failed sends its error at once, and stops.
        """
        pending = self._pending
        unacked, self._unacked = self._unacked, {}
        if any(s is None for s in unacked.values()):
            self._seq += 1
            sync = encode(self._seq, "sync", {})
            for t, s in unacked.items():
                if s is None:
                    unacked[t] = self._seq
                    try:
                        self._ch.send(t, sync, tag="op")
                    except PrivetError as exc:
                        first = first if _ranks_before(first, exc) else exc
        max_rounds = 0
        silent: list[int] = []
        for t, seq in unacked.items():
            rounds = 0
            while True:  # progress reports first (a long operation), then the answer
                # after a failure the others report theirs at once, or are stuck behind it
                wait = self.timeout if first is None else self._grace()
                ack, failure = self._read_ack(t, wait)
                if isinstance(failure, _NoAnswer) and first is None:
                    # t may itself wait on a stuck peer: it times out about now, and its own
                    # report names that peer (the first timeout only names the one asked)
                    ack, failure = self._read_ack(t, self._grace())
                if failure is not None:
                    if isinstance(failure, _NoAnswer):
                        silent.append(t)
                    first = first if _ranks_before(first, failure) else failure
                    break
                if not ack.get("partial") and ack.get("seq") != seq:
                    failure = ProtocolError(
                        f"endpoint {t} acknowledged instruction {ack.get('seq')!r}, not {seq}; "
                        "it is out of step with the driver"
                    )
                    first = first if _ranks_before(first, failure) else failure
                    break
                if pending is not None:
                    sent = int(ack.get("sent", 0))
                    if t == self._dealer_id:
                        pending.dealer_bytes += sent
                    else:
                        pending.bytes_sent += sent
                        pending.messages += int(ack.get("messages", 0))
                        rounds += int(ack.get("rounds", 0))
                if not ack.get("partial"):
                    break
            max_rounds = max(max_rounds, rounds)
        if pending is not None:
            pending.rounds += max_rounds
        if isinstance(first, _NoAnswer):
            first = PeerTimeoutError(
                f"timed out: no answer from {self._names(silent)}: stopped, overloaded or "
                "cut off from the network; raise timeout= if the operation is only slow"
            )
        if first is not None:
            self._failed = first
            raise first

    def _names(self, endpoints: list[int]) -> str:
        """Name endpoints for a message: ``party 1``, ``the dealer``, ``client 4``."""
        dealer = self._ch.dealer
        return ", ".join(
            f"party {t}" if t < self.parties else "the dealer" if t == dealer else f"client {t}"
            for t in endpoints
        )

    @property
    def failed(self) -> PrivetError | None:
        """The error that ended this cluster's run, or ``None`` while it works."""
        return self._failed

    def _grace(self) -> float:
        """Seconds to wait for an endpoint once another has failed (``AFTER_FAILURE_S``)."""
        return AFTER_FAILURE_S if self.timeout is None else min(self.timeout, AFTER_FAILURE_S)

    def _read_ack(self, t: int, wait: float | None) -> tuple[dict[str, Any], PrivetError | None]:
        """Read one acknowledgement from endpoint ``t``: (its document, or the failure)."""
        try:
            (raw,) = self._ch.recv(t, tag="ack", timeout=wait)
            ack = json.loads(raw.tobytes().decode("utf-8"))
        except PeerTimeoutError as exc:
            return {}, _NoAnswer(str(exc))
        except PrivetError as exc:
            return {}, exc
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
            return {}, ProtocolError(f"endpoint {t} sent a malformed acknowledgement")
        if not isinstance(ack, dict) or not ack.get("ok"):
            return {}, _error_from(ack, t)
        bad = [k for k in _ACK_COUNTS if k in ack and not _is_count(ack[k])]
        if bad:
            return {}, ProtocolError(
                f"endpoint {t} sent an acknowledgement whose {bad[0]!r} is not a count"
            )
        return ack, None

    # -- input and output ----------------------------------------------------------------

    def share(
        self, x: ArrayLike, *, owner: str | None = None, integer: bool = False
    ) -> SharedTensor:
        """Encode and secret-share ``x`` from client ``owner`` (default: the driver).

        Parameters
        ----------
        x
            Array-like of reals (or integers with ``integer=True``).
        owner
            The client that owns the input.
        integer
            Share as integers (``frac_bits = 0``) instead of fixed point.

        Returns
        -------
        SharedTensor
            The shared tensor.
        """
        name = owner or DRIVER
        client = self._client(name)
        enc, frac = encode_input(self.codec, x, integer=integer)
        out = self._new(tuple(enc.shape), frac)
        k = self._next_input(name)
        sent = [0]

        def io(seq: int) -> None:
            before = client.stats.snapshot()["bytes_sent"]
            send_shares(client, enc, frac, k=k, parties=self.parties, rng=self._rngs[name])
            sent[0] = client.stats.snapshot()["bytes_sent"] - before

        with self.op("share") as pending:
            args = {"out": out.reg, "src": client.party, "shape": list(out.shape), "k": k}
            self._exec("input", {**args, "frac": frac}, io=io)
            pending.bytes_sent += sent[0]
            pending.elements += out.size
        return out

    def share_from(
        self, owner: str, shape: tuple[int, ...], *, integer: bool = False
    ) -> SharedTensor:
        """Take the next input of a remote client (it calls ``RemoteClient.share``).

        Parameters
        ----------
        owner
            The remote client's name (its endpoint name, e.g. ``"client-1"``).
        shape
            The shape it shares; the parties refuse another one.
        integer
            Whether it shares whole numbers (``integer=True`` on its side too).

        Returns
        -------
        SharedTensor
            The shared input.
        """
        if owner not in self._remote:
            raise ParameterError(
                f"{owner!r} is not a remote client; remote clients: {list(self._remote)} "
                "(a client hosted here shares with share(x, owner=...))"
            )
        if not isinstance(shape, tuple | list) or not all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise ParameterError(
                f"share_from needs a shape: a tuple of non-negative ints, got {shape!r}"
            )
        dims = tuple(int(n) for n in shape)
        frac = 0 if integer else self.frac_bits
        out = self._new(dims, frac)
        k = self._next_input(owner)
        with self.op("share") as pending:
            args = {"out": out.reg, "src": self._remote[owner], "shape": list(dims), "k": k}
            self._exec("input", {**args, "frac": frac}, io=lambda seq: None)
            pending.elements += out.size
        return out

    def send(self, t: SharedTensor, *, to: str) -> None:
        """Open ``t`` to the remote client ``to`` alone (it calls ``RemoteClient.receive``)."""
        if to not in self._remote:
            raise ParameterError(
                f"{to!r} is not a remote client; remote clients: {list(self._remote)} "
                "(open a value to a client hosted here with reveal(t, to=...))"
            )
        self._check_own(t)
        k = self._count_out[to]  # numbered only once nothing can fail before sending
        self._count_out[to] = k + 1
        with self.op("reveal") as pending:
            args = {"x": t.reg, "dst": self._remote[to], "k": k, "frac": t.frac_bits}
            self._exec("output", args, io=lambda seq: None)
            pending.elements += t.size

    def _check_own(self, t: object) -> None:
        if not isinstance(t, SharedTensor):
            raise errors.ParameterTypeError(
                f"expected a SharedTensor of this cluster, got {type(t).__name__}"
            )
        if t.driver is not self:
            raise ParameterError("the shared tensor belongs to another cluster")

    def _next_input(self, name: str) -> int:
        k = self._count_in[name]
        self._count_in[name] = k + 1
        return k

    def reveal(self, t: SharedTensor, *, to: str | None = None) -> NDArray[Any]:
        """Open ``t`` to client ``to`` (default: the driver) and decode it there."""
        name = to or DRIVER
        client = self._client(name)
        self._check_own(t)
        k = self._count_out[name]
        self._count_out[name] = k + 1
        got: list[ring.Ring] = []

        def io(seq: int) -> None:
            total, frac = receive_shares(
                client, k=k, parties=self.parties, shape=t.shape, timeout=self.timeout
            )
            if frac != t.frac_bits:
                raise ProtocolError(f"the parties sent result {k} with another encoding")
            got.append(total)

        with self.op("reveal") as pending:
            args = {"x": t.reg, "dst": client.party, "k": k, "frac": t.frac_bits}
            self._exec("output", args, io=io)
            pending.elements += t.size
        return self.codec.decode(got[0], frac_bits=t.frac_bits)

    def _client(self, name: str) -> Channel:
        if name in self._remote:
            raise ParameterError(
                f"client {name!r} is on another host: it shares and receives itself "
                "(RemoteClient); here use share_from(name, shape) and send(t, to=name)"
            )
        try:
            return self._clients[name]
        except KeyError:
            raise ParameterError(
                f"unknown client {name!r}; this cluster's clients are {list(self.clients)}"
            ) from None

    # -- primitives (each returns a new tensor) ------------------------------------------

    def emit(
        self,
        op: str,
        shape: tuple[int, ...],
        frac: int,
        args: Mapping[str, Any],
        consts: Sequence[NDArray[Any]] = (),
    ) -> SharedTensor:
        """Run instruction ``op`` writing a new register of ``shape``; return its tensor."""
        out = self._new(shape, frac)
        self._exec(op, {"out": out.reg, **args}, consts)
        if self._pending is not None:
            self._pending.elements = out.size
        return out

    def mode_args(self, trunc: int) -> dict[str, Any]:
        """Return the truncation fields of an instruction."""
        return {"trunc": trunc, "mode": self.truncation}

    def index_args(self, index: object) -> list[list[Any]]:
        """Encode a basic index for an instruction."""
        try:
            return encode_index(index)
        except ProtocolError as exc:
            raise ParameterError(str(exc)) from None

    def __repr__(self) -> str:
        return (
            f"Driver(parties={self.parties}, frac_bits={self.frac_bits}, "
            f"truncation={self.truncation!r})"
        )


_ERRORS: dict[str, type[PrivetError]] = {
    name: cls
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type) and issubclass(cls, PrivetError)
}


class _NoAnswer(PeerTimeoutError):
    """The driver's own wait for an acknowledgement ran out (not a peer's reported error)."""


AFTER_FAILURE_S: Final = 2.0
"""Seconds the driver waits for each other endpoint once one has failed or timed out: the
others report their errors at once (a failing runtime aborts its peers), and one stuck
behind the first would only add a timeout each (two stopped parties: 3 timeouts)."""

_ACK_COUNTS: Final = ("seq", "sent", "rounds", "messages")
"""The fields of an acknowledgement the driver adds up (:mod:`privet.smpc.runtime`)."""


def _is_count(value: object) -> bool:
    """Return True for a non-negative int (not a bool) below 2^63."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 63


def _error_from(ack: object, endpoint: int) -> PrivetError:
    if not isinstance(ack, dict):
        return ProtocolError(f"endpoint {endpoint} sent a malformed acknowledgement")
    cls = _ERRORS.get(str(ack.get("error")), ProtocolError)
    return cls(f"endpoint {endpoint}: {ack.get('message', 'failed')}")


def _ranks_before(current: PrivetError | None, new: PrivetError) -> bool:
    """Keep the first root cause: a transport failure is usually a consequence."""
    if current is None:
        return False
    return not (isinstance(current, TransportError) and not isinstance(new, TransportError))
