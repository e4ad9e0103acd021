"""The op-code program: instructions the driver sends to the party and dealer runtimes.

An instruction is one message of arrays: a UTF-8 JSON object in a ``uint8`` array, then any
public constants as numeric arrays. Nothing is pickled; the runtime checks every field, and
a malformed instruction is a :class:`~privet.errors.ProtocolError`. The JSON object is::

    {"v": 2, "seq": 17, "op": "bilinear", "args": {...}, "free": [3, 4]}

``seq`` numbers the instructions (message tags and dealer nonces follow it); ``free`` lists
registers the driver no longer needs. :func:`plan` maps an instruction to the dealer material
it consumes: the party and the dealer both call it, so they draw the same recipes in the
same order.

Examples
--------
>>> msg = encode(3, "add", {"out": 2, "x": 0, "y": 1})
>>> decode(msg).op
'add'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ProtocolError
from privet.smpc.beaver import bilinear_plan, square_plan
from privet.smpc.recipes import Recipe
from privet.smpc.ring import BILINEAR
from privet.smpc.truncation import (
    BIAS_BITS,
    MODES,
    TruncationMode,
    less_than_zero_plan,
    truncate_relu_plan,
    truncation_plan,
)

__all__ = ["FIXED", "VERSION", "Instruction", "decode", "encode", "plan"]

VERSION: Final = 5
"""The instruction format's version. 2: ``ltz`` draws the sign mask of
:func:`~privet.smpc.recipes.sign_masks` and may carry a product (``y``, ``y_shape``);
``relu`` is an instruction. 3: ``input`` and ``output`` name the client's message number
``k`` (``in/k``, ``out/k``) and the encoding ``frac``, which travels with the shares. 4:
``bilinear`` may carry ``fixed`` (``"new"``/``"reuse"``): its second operand's mask is kept
and re-used (:func:`~privet.smpc.recipes.fixed_triples`). 5: a runtime acknowledges only a
``sync`` or an instruction with ``"ack": true`` (tag ``ack``), with the costs summed since
the last acknowledgement (:mod:`privet.smpc.runtime`). A runtime refuses any other version."""
FIXED: Final = ("new", "reuse")
"""``fixed`` of a ``bilinear``: mask the second operand and keep the mask, or re-use it."""
MAX_JSON_BYTES: Final = 1 << 20


@dataclass(frozen=True)
class Instruction:
    """A decoded instruction (see the module docstring)."""

    seq: int
    op: str
    args: Mapping[str, Any]
    consts: list[NDArray[Any]] = field(default_factory=list)
    free: tuple[int, ...] = ()

    def integer(self, key: str, *, minimum: int = 0) -> int:
        """Return the integer argument ``key`` (>= ``minimum``)."""
        v = self.args.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ProtocolError(f"instruction {self.op!r} needs an integer {key!r} >= {minimum}")
        return v

    def reg(self, key: str) -> int:
        """Return the register id ``key``."""
        return self.integer(key)

    def regs(self, key: str) -> list[int]:
        """Return a list of register ids."""
        v = self.args.get(key)
        if not isinstance(v, list) or not v:
            raise ProtocolError(f"instruction {self.op!r} needs a non-empty list {key!r}")
        return [_nonneg_int(x, key, self.op) for x in v]

    def shape(self, key: str) -> tuple[int, ...]:
        """Return the shape argument ``key``."""
        v = self.args.get(key)
        if not isinstance(v, list) or len(v) > 32:
            raise ProtocolError(f"instruction {self.op!r} needs a shape {key!r}")
        return tuple(_nonneg_int(x, key, self.op) for x in v)

    def choice(self, key: str, choices: Sequence[str]) -> str:
        """Return the string argument ``key``, one of ``choices``."""
        v = self.args.get(key)
        if v not in choices:
            raise ProtocolError(f"instruction {self.op!r}: {key!r} must be one of {list(choices)}")
        return str(v)

    def params(self) -> dict[str, Any]:
        """Return the bilinear map's parameters (``stride``, ``padding``)."""
        v = self.args.get("params", {})
        if not isinstance(v, dict) or set(v) - {"stride", "padding"}:
            raise ProtocolError(f"instruction {self.op!r} has bad params")
        return dict(v)

    def mode(self) -> TruncationMode:
        """Return the truncation mode."""
        return self.choice("mode", MODES)  # type: ignore[return-value]


def _nonneg_int(x: object, key: str, op: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise ProtocolError(f"instruction {op!r}: {key!r} must hold non-negative integers")
    return x


def encode(
    seq: int,
    op: str,
    args: Mapping[str, Any],
    consts: Sequence[NDArray[Any]] = (),
    free: Sequence[int] = (),
) -> list[NDArray[Any]]:
    """Encode an instruction as a message (a list of arrays).

    Parameters
    ----------
    seq
        The sequence number.
    op
        The op-code.
    args
        JSON-serialisable arguments.
    consts
        Public constant arrays.
    free
        Registers to drop.

    Returns
    -------
    list of numpy.ndarray
        The message.
    """
    doc = {"v": VERSION, "seq": seq, "op": op, "args": dict(args), "free": list(free)}
    raw = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    return [np.frombuffer(raw, dtype=np.uint8).copy(), *consts]


def decode(msg: Sequence[NDArray[Any]]) -> Instruction:
    """Decode and check an instruction message.

    Raises
    ------
    ProtocolError
        If the message is not a well-formed instruction.
    """
    if (
        not msg
        or not isinstance(msg[0], np.ndarray)
        or msg[0].dtype != np.uint8
        or msg[0].ndim != 1
    ):
        raise ProtocolError("an instruction starts with a 1-D uint8 JSON array")
    if msg[0].size > MAX_JSON_BYTES:
        raise ProtocolError(f"instruction header larger than {MAX_JSON_BYTES} bytes")
    try:
        doc = json.loads(msg[0].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProtocolError("instruction header is not UTF-8 JSON") from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise ProtocolError(f"instruction is not a version-{VERSION} object")
    seq, op, args, free = doc.get("seq"), doc.get("op"), doc.get("args"), doc.get("free", [])
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ProtocolError("instruction has no valid seq")
    if not isinstance(op, str) or not isinstance(args, dict) or not isinstance(free, list):
        raise ProtocolError("instruction needs op (str), args (object) and free (list)")
    return Instruction(
        seq, op, args, list(msg[1:]), tuple(_nonneg_int(f, "free", op) for f in free)
    )


def plan(ins: Instruction) -> list[Recipe]:
    """Return the dealer material instruction ``ins`` consumes (empty for local ops)."""
    op = ins.op
    if op == "bilinear":
        kind = ins.choice("kind", tuple(BILINEAR))
        fixed = ins.choice("fixed", FIXED) if "fixed" in ins.args else None
        out = bilinear_plan(
            kind, ins.shape("xs"), ins.shape("ys"), ins.params(), fixed=fixed, key=ins.reg("y")
        )
        return out + _trunc(ins)
    if op == "square":
        return square_plan(ins.shape("shape")) + _trunc(ins)
    if op in ("mul_const", "lin_const"):
        return _trunc(ins)
    if op == "trunc":
        return truncation_plan(ins.shape("shape"), bits=_bits(ins, "bits"), mode=ins.mode())
    if op == "relu":
        bits, shape = _bits(ins, "trunc"), ins.shape("shape")
        if bits:
            return truncate_relu_plan(shape, bits=bits, mode=ins.mode())
        return less_than_zero_plan(shape, product=shape)
    if op == "ltz":
        product = ins.shape("y_shape") if "y" in ins.args else None
        return less_than_zero_plan(ins.shape("shape"), product=product)
    return []


def _bits(ins: Instruction, key: str) -> int:
    b = ins.integer(key)
    if b > BIAS_BITS:
        raise ProtocolError(f"instruction {ins.op!r}: {key!r} must be <= {BIAS_BITS}")
    return b


def _trunc(ins: Instruction) -> list[Recipe]:
    bits = _bits(ins, "trunc")
    if bits == 0:
        return []
    return truncation_plan(ins.shape("shape"), bits=bits, mode=ins.mode())
