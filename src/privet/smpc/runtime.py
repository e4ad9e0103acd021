"""The runtimes: each computing party and the dealer execute the driver's op-code program.

A :class:`PartyRuntime` holds one party's registers (its shares, ``uint64`` arrays keyed by
id) and runs a loop: receive an instruction from the driver, execute it (the protocols of
this room, talking to the other parties over the same :class:`~privet.core.channel.Channel`),
and, when the driver asks (it does once per operation), answer with an acknowledgement
carrying the costs of the instructions since the last one (bytes, rounds, seconds), or at
once with the error. A :class:`DealerRuntime` receives the instructions that need correlated
randomness and serves them (:mod:`privet.smpc.dealer`). Neither knows whether the driver
is a thread of the same process (:class:`~privet.smpc.InProcessCluster`) or another machine:
the same loop runs over the in-memory network and over TLS.

Acknowledgement (JSON in a ``uint8`` array, tag ``ack``), after a ``sync`` instruction or
one whose arguments hold ``"ack": true``::

    {"ok": true, "seq": 17, "sent": 32, "rounds": 1, "messages": 2, "seconds": 0.0004,
     "cpu_seconds": 0.0003}
    {"ok": false, "seq": 12, "error": "ProtocolError", "message": "..."}

``seq`` is the instruction that asked (or failed; ``"partial": true`` marks a progress report
in a long operation, see :meth:`_Runtime.serve`); the costs are sums over the instructions
since the previous acknowledgement: ``seconds`` their wall clock (waits included),
``cpu_seconds`` the CPU time of the runtime's thread (its own work). One acknowledgement per
operation instead of one per instruction: each costs a message on the critical path.

After an error the runtime closes its channel and stops: peers waiting on it fail fast.

Examples
--------
>>> from privet.core.channel import InMemoryNetwork
>>> net = InMemoryNetwork(2, dealer=True, clients=1)
>>> PartyRuntime(net.channel(0), driver=3)
PartyRuntime(party=0, parties=2)
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.channel import DEFAULT_IDLE_TIMEOUT, Channel, expect_arrays
from privet.core.errors import PrivetError, ProtocolError
from privet.core.random import SecureRandom, resolve_rng
from privet.smpc import ring
from privet.smpc.beaver import FixedOperand, beaver_bilinear, beaver_square
from privet.smpc.dealer import Dealer
from privet.smpc.program import FIXED, Instruction, decode, encode, plan
from privet.smpc.ring import Ring
from privet.smpc.session import PartySession
from privet.smpc.truncation import less_than_zero, truncate, truncate_relu

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "PROGRESS_S",
    "DealerRuntime",
    "PartyRuntime",
    "decode_index",
    "encode_index",
]

U64 = np.uint64


def encode_index(index: object) -> list[list[Any]]:
    """Encode a basic numpy index (ints, slices, ``None``, ``...``) as JSON-ready lists.

    Examples
    --------
    >>> encode_index((slice(0, None, 2), 1))
    [['s', 0, None, 2], ['i', 1]]
    """
    items = index if isinstance(index, tuple) else (index,)
    out: list[list[Any]] = []
    for it in items:
        if isinstance(it, slice):
            parts = [it.start, it.stop, it.step]
            if not all(
                p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts
            ):
                raise ProtocolError("slice bounds must be ints or None")
            out.append(["s", *parts])
        elif isinstance(it, int | np.integer) and not isinstance(it, bool):
            out.append(["i", int(it)])
        elif it is None:
            out.append(["n"])
        elif it is Ellipsis:
            out.append(["e"])
        else:
            raise ProtocolError(
                f"only basic indexing (ints, slices, None, ...) is supported on shared tensors, "
                f"got {type(it).__name__}"
            )
    return out


def decode_index(spec: object) -> tuple[Any, ...]:
    """Decode :func:`encode_index`'s output; a malformed spec is a ``ProtocolError``."""
    if not isinstance(spec, list) or len(spec) > 32:
        raise ProtocolError("index must be a list of at most 32 items")
    out: list[Any] = []
    for it in spec:
        if not isinstance(it, list) or not it or it[0] not in ("s", "i", "n", "e"):
            raise ProtocolError("malformed index item")
        kind = it[0]
        vals = it[1:]
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in vals):
            raise ProtocolError("index values must be ints or null")
        if kind == "s" and len(vals) == 3:
            out.append(slice(*vals))
        elif kind == "i" and len(vals) == 1 and vals[0] is not None:
            out.append(vals[0])
        elif kind == "n" and not vals:
            out.append(None)
        elif kind == "e" and not vals:
            out.append(Ellipsis)
        else:
            raise ProtocolError("malformed index item")
    return tuple(out)


def _json_array(doc: dict[str, Any]) -> NDArray[np.uint8]:
    return np.frombuffer(json.dumps(doc).encode("utf-8"), dtype=np.uint8).copy()


def _error_doc(exc: BaseException) -> dict[str, Any]:
    name = type(exc).__name__ if isinstance(exc, PrivetError) else "ProtocolError"
    text = str(exc) if isinstance(exc, PrivetError) else f"internal error ({type(exc).__name__})"
    return {"ok": False, "error": name, "message": text}


PROGRESS_S: Final = 1.0
"""Seconds after which a runtime reports progress in a long operation (unasked)."""
_COSTS: Final = ("sent", "rounds", "messages", "seconds", "cpu_seconds")
"""The costs an acknowledgement sums over the instructions since the last one."""


def _progress(ins: Instruction) -> float:
    """Return the progress interval a ``setup`` instruction names (default :data:`PROGRESS_S`)."""
    v = ins.args.get("progress", PROGRESS_S)
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 3600:
        raise ProtocolError("setup needs a progress interval in (0, 3600] seconds")
    return float(v)


class _Runtime:
    """The loop shared by the party and the dealer runtimes."""

    def __init__(self, channel: Channel, *, driver: int, idle_timeout: float) -> None:
        self.channel = channel
        self.driver = driver
        self.idle_timeout = idle_timeout

    def serve(self) -> None:
        """Execute instructions until ``stop``, an error, or the idle timeout.

        The costs of the instructions add up until one asks for an acknowledgement (a
        ``sync``, or ``"ack": true`` in its arguments), which carries their sums; an error is
        acknowledged at once. In a long operation a progress report (``"partial": true``)
        goes out after the first instruction that ends :data:`PROGRESS_S` (or what ``setup``
        says: a quarter of the driver's timeout) after the last acknowledgement, so each of
        the driver's waits is bounded, as before, by the slowest instruction rather than by
        the whole operation.
        """
        ch = self.channel
        totals = dict.fromkeys(_COSTS, 0.0)
        last = time.monotonic()  # of the last acknowledgement
        progress = PROGRESS_S
        while True:
            try:
                ins = decode(ch.recv(self.driver, tag="op", timeout=self.idle_timeout))
            except PrivetError as exc:
                self._fail(exc, seq=None)
                return
            if ins.op == "stop":
                with contextlib.suppress(PrivetError):  # the driver may have gone already
                    self._ack(ins.seq, {"ok": True})
                return
            before = ch.stats.snapshot()
            t0 = time.perf_counter()
            c0 = time.thread_time()
            try:
                if ins.op != "sync":
                    self.execute(ins)
            except Exception as exc:  # reported to the driver, then this runtime stops
                self._fail(exc, seq=ins.seq)
                return
            after = ch.stats.snapshot()
            totals["sent"] += after["bytes_sent"] - before["bytes_sent"]
            totals["rounds"] += after["rounds"] - before["rounds"]
            totals["messages"] += after["messages_sent"] - before["messages_sent"]
            totals["seconds"] += time.perf_counter() - t0
            totals["cpu_seconds"] += time.thread_time() - c0
            if ins.op == "setup":  # the driver says how often to report progress
                progress = _progress(ins)
            asked = ins.op == "sync" or ins.args.get("ack") is True
            if asked or time.monotonic() - last >= progress:
                counts = {k: int(totals[k]) for k in ("sent", "rounds", "messages")}
                times = {k: round(totals[k], 6) for k in ("seconds", "cpu_seconds")}
                extra = {} if asked else {"partial": True}  # a progress report
                self._ack(ins.seq, {"ok": True, **counts, **times, **extra})
                totals = dict.fromkeys(_COSTS, 0.0)
                last = time.monotonic()

    def execute(self, ins: Instruction) -> None:
        """Execute one instruction (overridden)."""
        raise NotImplementedError

    def _ack(self, seq: int, doc: dict[str, Any]) -> None:
        self.channel.send(self.driver, [_json_array({**doc, "seq": seq})], tag="ack")

    def _fail(self, exc: BaseException, *, seq: int | None) -> None:
        """Report ``exc`` to the driver, then abort: every peer (the dealer too) fails fast.

        A plain close would say goodbye, and a peer waiting for its next instruction (the
        dealer) would take that for a clean end and wait out its idle timeout.
        """
        try:
            if seq is not None:
                self._ack(seq, _error_doc(exc))
        except PrivetError:
            pass
        finally:
            abort = getattr(self.channel, "abort", None)
            if callable(abort):  # the reason names the failure, never a value
                where = "" if seq is None else f" in instruction {seq}"
                # privet's messages name endpoints, tags and counts only (never a value or a
                # share); anything else is an internal error: its type alone
                said = f": {exc}" if isinstance(exc, PrivetError) else ""
                abort(f"{type(exc).__name__}{where}{said}")
            else:
                self.channel.close()


class DealerRuntime(_Runtime):
    """The dealer's runtime: it serves the material of each instruction it is sent.

    Parameters
    ----------
    channel
        The dealer's channel.
    rng
        Its generator (``None``: a fresh OS-keyed one).
    driver
        The driver's endpoint id.
    idle_timeout
        Seconds to wait for the next instruction.
    """

    def __init__(
        self,
        channel: Channel,
        rng: SecureRandom | None = None,
        *,
        driver: int,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        super().__init__(channel, driver=driver, idle_timeout=idle_timeout)
        self.dealer = Dealer(channel, resolve_rng(rng))

    def execute(self, ins: Instruction) -> None:
        """Serve the instruction's material (``setup`` sends the seeds)."""
        self.dealer.forget(ins.free)  # fixed-operand masks of freed registers
        if ins.op == "setup":
            self.dealer.setup()
        else:
            self.dealer.serve(ins.seq, plan(ins))

    def __repr__(self) -> str:
        return f"DealerRuntime(dealer={self.channel.party}, parties={self.channel.parties})"


class PartyRuntime(_Runtime):
    """A computing party's runtime: registers of shares and the op-code interpreter.

    Parameters
    ----------
    channel
        The party's channel.
    rng
        Its generator (``None``: a fresh OS-keyed one).
    driver
        The driver's endpoint id.
    timeout
        Seconds each protocol receive waits (``None``: the channel's default).
    idle_timeout
        Seconds to wait for the next instruction.
    """

    def __init__(
        self,
        channel: Channel,
        rng: SecureRandom | None = None,
        *,
        driver: int,
        timeout: float | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        super().__init__(channel, driver=driver, idle_timeout=idle_timeout)
        self.session = PartySession(channel, rng, timeout=timeout)
        self.registers: dict[int, Ring] = {}
        self.fixed: dict[int, FixedOperand] = {}  # masks of fixed operands, by register
        self._ops: dict[str, Callable[[Instruction], None]] = {
            "setup": lambda ins: self.session.material.setup(),
            "input": self._input,
            "output": self._output,
            "add": self._binary(ring.add),
            "sub": self._binary(ring.sub),
            "neg": self._neg,
            "add_const": self._add_const,
            "mul_const": self._mul_const,
            "lin_const": self._lin_const,
            "bilinear": self._bilinear,
            "square": self._square,
            "trunc": self._trunc,
            "ltz": self._ltz,
            "relu": self._relu,
            "reshape": self._reshape,
            "transpose": self._transpose,
            "sum": self._sum,
            "index": self._index,
            "take": self._take,
            "concat": self._concat,
            "broadcast": self._broadcast,
            "unfold": self._unfold,
            "zeros": self._zeros,
        }

    def __repr__(self) -> str:
        return f"PartyRuntime(party={self.channel.party}, parties={self.channel.parties})"

    # -- plumbing ------------------------------------------------------------------------

    def execute(self, ins: Instruction) -> None:
        """Run one instruction on this party's registers."""
        for r in ins.free:
            self.registers.pop(r, None)
            self.fixed.pop(r, None)
        fn = self._ops.get(ins.op)
        if fn is None:
            raise ProtocolError(
                f"unknown instruction {ins.op!r}; the driver is newer than this party"
            )
        self.session.begin(ins.seq)
        fn(ins)
        self.session.end()

    def _get(self, ins: Instruction, key: str) -> Ring:
        rid = ins.reg(key)
        try:
            return self.registers[rid]
        except KeyError:
            raise ProtocolError(f"instruction {ins.op!r} names unknown register {rid}") from None

    def _put(self, ins: Instruction, value: Ring) -> None:
        self.registers[ins.reg("out")] = np.asarray(value, dtype=U64)

    def _const(self, ins: Instruction) -> Ring:
        if len(ins.consts) != 1 or ins.consts[0].dtype != U64:
            raise ProtocolError(f"instruction {ins.op!r} needs one uint64 constant")
        return ins.consts[0]

    def _finish(self, ins: Instruction, z: Ring, mats: Sequence[Mapping[str, Ring]]) -> None:
        bits = ins.integer("trunc")
        if bits:
            z = truncate(self.session, z, bits=bits, mode=ins.mode(), material=mats)
        self._put(ins, z)

    # -- input and output ----------------------------------------------------------------

    def _client(self, ins: Instruction, key: str) -> int:
        """Return the endpoint ``key``, a client's: values come from and go to clients only."""
        who = ins.integer(key)
        if who < self.channel.parties or who == self.channel.dealer:
            raise ProtocolError(
                f"instruction {ins.op!r} names endpoint {who}, a computing party or the "
                "dealer: inputs come from clients and results are opened to clients only"
            )
        return who

    def _input(self, ins: Instruction) -> None:
        src = self._client(ins, "src")
        tag = f"in/{ins.integer('k')}"
        share, meta = expect_arrays(
            self.channel.recv(src, tag=tag, timeout=self.session.timeout),
            shapes=[ins.shape("shape"), (1,)],
            dtype=U64,
            frm=src,
            tag=tag,
        )
        frac = ins.integer("frac")
        if int(meta[0]) != frac:
            raise ProtocolError(
                f"endpoint {src} encoded input {tag!r} with {int(meta[0])} fractional bits "
                f"(0: integers), the driver expects {frac}; share reals or integers as the "
                "driver asks (integer=...), with the cluster's frac_bits"
            )
        self._put(ins, share)

    def _output(self, ins: Instruction) -> None:
        dst = self._client(ins, "dst")
        meta = np.array([ins.integer("frac")], dtype=U64)
        self.channel.send(dst, [self._get(ins, "x"), meta], tag=f"out/{ins.integer('k')}")

    # -- local linear operations ---------------------------------------------------------

    def _binary(self, fn: Callable[[Ring, Ring], Ring]) -> Callable[[Instruction], None]:
        def run(ins: Instruction) -> None:
            self._put(ins, fn(self._get(ins, "x"), self._get(ins, "y")))

        return run

    def _neg(self, ins: Instruction) -> None:
        self._put(ins, ring.neg(self._get(ins, "x")))

    def _add_const(self, ins: Instruction) -> None:
        x = self._get(ins, "x")
        c = self._const(ins)
        if self.session.leader:
            self._put(ins, ring.add(x, c))
        else:
            self._put(ins, np.broadcast_to(x, np.broadcast_shapes(x.shape, c.shape)).copy())

    def _mul_const(self, ins: Instruction) -> None:
        mats = self.session.fetch(plan(ins))
        self._finish(ins, ring.mul(self._get(ins, "x"), self._const(ins)), mats)

    def _lin_const(self, ins: Instruction) -> None:
        mats = self.session.fetch(plan(ins))
        kind = ins.choice("kind", tuple(ring.BILINEAR))
        x, c = self._get(ins, "x"), self._const(ins)
        if ins.choice("side", ("left", "right")) == "left":
            z = ring.bilinear(kind, x, c, ins.params())
        else:
            z = ring.bilinear(kind, c, x, ins.params())
        self._finish(ins, z, mats)

    # -- interactive operations ----------------------------------------------------------

    def _bilinear(self, ins: Instruction) -> None:
        mats = self.session.fetch(plan(ins))
        x, y = self._get(ins, "x"), self._get(ins, "y")
        if x.shape != ins.shape("xs") or y.shape != ins.shape("ys"):
            raise ProtocolError("bilinear operand shapes differ from the instruction's")
        kind = ins.choice("kind", tuple(ring.BILINEAR))
        fixed, keep = self._fixed_operand(ins, y)
        z = beaver_bilinear(self.session, kind, x, y, ins.params(), mats[0], fixed=fixed, keep=keep)
        if keep:
            self.fixed[ins.reg("y")] = keep[0]
        self._finish(ins, z, mats[1:])

    def _fixed_operand(
        self, ins: Instruction, y: Ring
    ) -> tuple[FixedOperand | None, list[FixedOperand] | None]:
        """Return the kept mask of ``y`` to re-use, or a list to keep a new one in."""
        if "fixed" not in ins.args:
            return None, None
        rid = ins.reg("y")
        if ins.choice("fixed", FIXED) == "new":
            if rid in self.fixed:
                raise ProtocolError(f"register {rid} already has a fixed-operand mask")
            return None, []
        fixed = self.fixed.get(rid)
        if fixed is None or fixed.b.shape != y.shape:
            raise ProtocolError(
                f"no fixed-operand mask of shape {y.shape} is kept for register {rid}; the "
                "driver must mask it with its first product"
            )
        return fixed, None

    def _square(self, ins: Instruction) -> None:
        mats = self.session.fetch(plan(ins))
        x = self._get(ins, "x")
        if x.shape != ins.shape("shape"):
            raise ProtocolError("square operand shape differs from the instruction's")
        self._finish(ins, beaver_square(self.session, x, mats[0]), mats[1:])

    def _trunc(self, ins: Instruction) -> None:
        mats = self.session.fetch(plan(ins))
        x = self._get(ins, "x")
        if x.shape != ins.shape("shape"):
            raise ProtocolError("trunc operand shape differs from the instruction's")
        z = truncate(
            self.session, x, bits=ins.integer("bits", minimum=1), mode=ins.mode(), material=mats
        )
        self._put(ins, z)

    def _ltz(self, ins: Instruction) -> None:
        mats = self.session.fetch(plan(ins))
        x = self._get(ins, "x")
        y = self._get(ins, "y") if "y" in ins.args else None
        if x.shape != ins.shape("shape") or (y is not None and y.shape != ins.shape("y_shape")):
            raise ProtocolError("ltz operand shapes differ from the instruction's")
        self._put(ins, less_than_zero(self.session, x, material=mats, times=y))

    def _relu(self, ins: Instruction) -> None:
        mats = self.session.fetch(plan(ins))
        x = self._get(ins, "x")
        if x.shape != ins.shape("shape"):
            raise ProtocolError("relu operand shape differs from the instruction's")
        bits = ins.integer("trunc")
        if bits:
            z = truncate_relu(self.session, x, bits=bits, mode=ins.mode(), material=mats)
        else:
            z = ring.sub(x, less_than_zero(self.session, x, material=mats, times=x))
        self._put(ins, z)

    # -- shape operations (local) --------------------------------------------------------

    def _reshape(self, ins: Instruction) -> None:
        x = self._get(ins, "x")
        shape = ins.shape("shape")
        if int(np.prod(shape, dtype=np.int64)) != x.size:
            raise ProtocolError("reshape to a shape of another size")
        self._put(ins, x.reshape(shape))

    def _transpose(self, ins: Instruction) -> None:
        x = self._get(ins, "x")
        axes = ins.shape("axes")
        if sorted(axes) != list(range(x.ndim)):
            raise ProtocolError("transpose axes are not a permutation")
        self._put(ins, np.ascontiguousarray(x.transpose(axes)))

    def _sum(self, ins: Instruction) -> None:
        x = self._get(ins, "x")
        axes = ins.shape("axes")
        if any(a >= x.ndim for a in axes):
            raise ProtocolError("sum over an axis the register does not have")
        keep = bool(ins.args.get("keepdims", False))
        self._put(ins, ring.sum_axis(x, axis=tuple(axes), keepdims=keep))

    def _index(self, ins: Instruction) -> None:
        x = self._get(ins, "x")
        try:
            self._put(ins, np.array(x[decode_index(ins.args.get("index"))], dtype=U64))
        except IndexError:
            raise ProtocolError("index out of range for the register") from None

    def _take(self, ins: Instruction) -> None:
        x = self._get(ins, "x")
        picks = ins.regs("indices")  # non-negative ints, like register ids
        if x.ndim == 0 or max(picks) >= x.shape[-1]:
            raise ProtocolError("take: an index is out of range for the register's last axis")
        self._put(ins, np.take(x, picks, axis=-1))

    def _concat(self, ins: Instruction) -> None:
        xs = [self._reg_value(r) for r in ins.regs("xs")]
        axis = ins.integer("axis")
        try:
            self._put(ins, np.concatenate(xs, axis=axis))
        except (ValueError, np.exceptions.AxisError):
            raise ProtocolError("concat of registers with mismatched shapes") from None

    def _reg_value(self, rid: int) -> Ring:
        try:
            return self.registers[rid]
        except KeyError:
            raise ProtocolError(f"unknown register {rid}") from None

    def _broadcast(self, ins: Instruction) -> None:
        x = self._get(ins, "x")
        try:
            self._put(ins, np.broadcast_to(x, ins.shape("shape")).copy())
        except ValueError:
            raise ProtocolError("broadcast to an incompatible shape") from None

    def _zeros(self, ins: Instruction) -> None:
        shape = ins.shape("shape")
        if int(np.prod(shape, dtype=np.int64)) > 1 << 31:
            raise ProtocolError("zeros of more than 2^31 elements refused")
        self._put(ins, np.zeros(shape, dtype=U64))

    def _unfold(self, ins: Instruction) -> None:
        x = self._get(ins, "x")
        k, s, p = ins.shape("kernel"), ins.shape("stride"), ins.shape("padding")
        if x.ndim != 4 or len(k) != 2 or len(s) != 2 or len(p) != 2 or min(s) < 1:
            raise ProtocolError("unfold needs a 4-D register and pairs kernel/stride/padding")
        self._put(ins, ring.im2col(x, (k[0], k[1]), (s[0], s[1]), (p[0], p[1])))


def stop_message(seq: int) -> list[NDArray[Any]]:
    """Return the instruction that ends a runtime's loop."""
    return encode(seq, "stop", {})
