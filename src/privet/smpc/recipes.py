"""Recipes of correlated randomness: what the dealer hands out for each protocol step.

A :class:`Recipe` names its :class:`Field` objects in the order both the dealer and the
parties draw them (:mod:`privet.smpc.dealer`), and says how the dealer computes the
*derived* fields from the *random* ones: Beaver triples ``(a, b, c = op(a, b))`` for a
bilinear map (Beaver 1991, "Efficient multiparty protocols using circuit randomization",
CRYPTO '91, §2), square pairs, binary AND triples (with a shared first factor), daBits
and the masks of truncation.

Examples
--------
>>> [f.name for f in triples("mul", (3,), (3,), {}).fields]
['a', 'b', 'c']
>>> wrap_masks((4,), 16, with_low_bits=False).fields[2].dtype.__name__
'uint16'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from privet.core.errors import ParameterError, ProtocolError
from privet.core.random import SecureRandom
from privet.smpc.bitplanes import from_plane, plane_words, to_planes
from privet.smpc.ring import Ring, bilinear, mul, output_shape

__all__ = [
    "Derive",
    "Field",
    "Recipe",
    "dabits",
    "fan_triples",
    "fixed_triples",
    "narrow_dtype",
    "sign_masks",
    "square_pairs",
    "triples",
    "wrap_masks",
]

U64: Final = np.uint64


@dataclass(frozen=True)
class Field:
    """One field of correlated randomness.

    Attributes
    ----------
    name
        Its name in the recipe (``a``, ``c``, ``r_hi`` …).
    shape
        Its shape.
    kind
        ``"arith"`` (additive shares mod 2^64, or mod 2^w for a ``w``-bit ``dtype``) or
        ``"xor"`` (XOR shares of words).
    derived
        ``False``: a random field, the sum/XOR of what every party draws. ``True``: computed
        by the dealer; the receiver gets a correction.
    dtype
        ``uint64`` (default), or a narrower unsigned dtype for an additive field whose
        shares are needed mod 2^w only.
    """

    name: str
    shape: tuple[int, ...]
    kind: Literal["arith", "xor"]
    derived: bool
    dtype: type[np.unsignedinteger[Any]] = np.uint64

    @property
    def nbytes(self) -> int:
        """Bytes of one party's share, rounded up to whole words (the PRG draws words)."""
        size = math.prod(self.shape) * np.dtype(self.dtype).itemsize  # math: per-draw hot path
        return -(-size // 8) * 8


def narrow_dtype(bits: int) -> type[np.unsignedinteger[Any]]:
    """Return the smallest unsigned dtype of at least ``bits`` bits (8, 16, 32 or 64).

    Examples
    --------
    >>> narrow_dtype(16).__name__, narrow_dtype(17).__name__
    ('uint16', 'uint32')
    """
    for dt in (np.uint8, np.uint16, np.uint32):
        if bits <= np.dtype(dt).itemsize * 8:
            return dt
    return np.uint64


Derive = Callable[[Mapping[str, Ring], SecureRandom], dict[str, Ring]]


@dataclass(frozen=True)
class Recipe:
    """A request for correlated randomness: its fields, and how derived ones are computed.

    ``derive(random_values, dealer_rng)`` maps the reconstructed random fields to the
    derived ones (run by the dealer only). ``keep`` names random fields the dealer keeps
    after serving, each under a key (a register id), and ``reads`` values it kept earlier
    that ``derive`` gets beside the random fields: the fixed operand of
    :func:`fixed_triples`.
    """

    name: str
    fields: tuple[Field, ...]
    derive: Derive
    keep: tuple[tuple[str, int], ...] = ()
    reads: tuple[tuple[str, int], ...] = ()


def triples(
    kind: str,
    x_shape: tuple[int, ...],
    y_shape: tuple[int, ...],
    params: Mapping[str, Any],
    *,
    keep: int | None = None,
) -> Recipe:
    """Beaver triples for the bilinear map ``kind``: ``a``, ``b`` random, ``c = op(a, b)``.

    With ``keep`` (the register id of the second operand), the dealer keeps ``b`` for the
    :func:`fixed_triples` of later products by the same operand.
    """
    out = output_shape(kind, x_shape, y_shape, params)
    frozen = dict(params)

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        return {"c": bilinear(kind, v["a"], v["b"], frozen)}

    return Recipe(
        f"triple/{kind}",
        (
            Field("a", x_shape, "arith", False),
            Field("b", y_shape, "arith", False),
            Field("c", out, "arith", True),
        ),
        derive,
        keep=() if keep is None else (("b", keep),),
    )


def fixed_triples(
    kind: str,
    x_shape: tuple[int, ...],
    y_shape: tuple[int, ...],
    params: Mapping[str, Any],
    *,
    key: int,
) -> Recipe:
    """Beaver triples whose second factor is the ``b`` kept under ``key``: ``a``, ``c = op(a, b)``.

    For products by a fixed operand ``y`` (a model's weights): ``y - b`` was opened once,
    by the :func:`triples` that kept ``b``, and each later product opens only ``x - a``
    with a fresh ``a``. Every opened value is still one secret under its own uniform pad
    used once (``y - b`` once, each ``x - a`` once), so the transcript is simulated as for
    separate triples: the re-use of SecureML (Mohassel & Zhang 2017, IEEE S&P, §4.2, where
    the masked data matrix is opened once for all iterations).

    Examples
    --------
    >>> [f.name for f in fixed_triples("matmul", (1, 3), (3, 2), {}, key=7).fields]
    ['a', 'c']
    """
    out = output_shape(kind, x_shape, y_shape, params)
    frozen = dict(params)

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        b = v["b"]
        if b.shape != y_shape:
            raise ProtocolError(f"the kept operand mask has shape {b.shape}, not {y_shape}")
        return {"c": bilinear(kind, v["a"], b, frozen)}

    return Recipe(
        f"triple/{kind}/fixed",
        (Field("a", x_shape, "arith", False), Field("c", out, "arith", True)),
        derive,
        reads=(("b", key),),
    )


def square_pairs(shape: tuple[int, ...]) -> Recipe:
    """Square pairs: ``a`` random, ``c = a * a``."""

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        return {"c": mul(v["a"], v["a"])}

    return Recipe(
        "square", (Field("a", shape, "arith", False), Field("c", shape, "arith", True)), derive
    )


def fan_triples(shape: tuple[int, ...], fan: int) -> Recipe:
    """Binary triples with a shared first factor: ``a``, ``b`` random, ``c_j = a ∧ b_j``.

    ``a`` has ``shape``; ``b`` and ``c`` have ``(fan, *shape)``. This is the Beaver triple
    (Beaver 1991, CRYPTO '91, §2, in the bilinear form of :mod:`privet.smpc.beaver`; used
    by :func:`privet.smpc.bits.and_fan`) of the
    GF(2)-bilinear map ``(x, y) ↦ (x ∧ y_j)_j``, as a matmul triple serves every product that
    shares a row: ``x ⊕ a`` is opened once for the ``fan`` products. Every opened value is
    still one secret under its own fresh uniform pad (``a`` and each ``b_j`` independent, used
    once), so the transcript is simulated as for ``fan`` separate triples.

    Examples
    --------
    >>> [f.shape for f in fan_triples((3,), 2).fields]
    [(3,), (2, 3), (2, 3)]
    """
    out = (fan, *shape)

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        return {"c": np.bitwise_and(v["a"][None], v["b"])}

    return Recipe(
        f"and/fan{fan}",
        (
            Field("a", shape, "xor", False),
            Field("b", out, "xor", False),
            Field("c", out, "xor", True),
        ),
        derive,
    )


def dabits(
    shape: tuple[int, ...], *, packed: bool = False, product: tuple[int, ...] | None = None
) -> Recipe:
    """daBits: a random bit ``β`` XOR-shared in ``bx``; ``ba`` its additive sharing.

    ``β`` is the lsb of the word ``bx`` (``bx`` of ``shape``), or, when ``packed``, one bit
    of the plane ``bx`` (``⌈n/64⌉`` words, bit ``j`` for element ``j``; see
    :mod:`~privet.smpc.bitplanes`): the same random bits, drawn and opened 64 to a word.
    With ``product`` (the shape of ``y``: ``shape``, or ``(k, *shape)`` for ``k`` values per
    bit), also ``a`` random of that shape and ``c = a·β`` (``β`` broadcast) additively
    shared: a Beaver triple whose second factor is the daBit itself, so ``y·β`` needs only
    ``y - a`` opened (:func:`privet.smpc.bits.plane_to_arith` with ``times``).
    """
    n = int(np.prod(shape, dtype=np.int64))

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        bits = v["bx"]
        ba = from_plane(bits, n).reshape(shape) if packed else np.bitwise_and(bits, U64(1))
        if product is not None:
            return {"ba": ba, "c": mul(v["a"], ba)}  # ba broadcasts over a stack of y
        return {"ba": ba}

    fields = [
        Field("bx", (plane_words(n),) if packed else shape, "xor", False),
        Field("ba", shape, "arith", True),
    ]
    if product is not None:
        if tuple(product) != shape and tuple(product[1:]) != shape:
            raise ParameterError(f"a daBit product needs y of shape {shape} or (k, *{shape})")
        fields += [Field("a", product, "arith", False), Field("c", product, "arith", True)]
    return Recipe("dabit" if product is None else "dabit*", tuple(fields), derive)


def wrap_masks(
    shape: tuple[int, ...], bits: int, *, with_low_bits: bool, planes: bool = False
) -> Recipe:
    """Return masks for truncation by ``bits``.

    ``r`` random; ``r >> bits``, ``r >> 63`` additively shared; and, when
    ``with_low_bits``, ``r mod 2^bits`` XOR-shared (the edaBit of Escudero et al. 2020,
    CRYPTO, §3, restricted to the low ``bits`` bits) in ``r_lo``: one word per element, or,
    when ``planes``, transposed into ``bits`` bit planes of ``⌈n/64⌉`` words
    (:func:`~privet.smpc.bitplanes.to_planes`; the dealer transposes once, so the parties
    need not). A fixed bit permutation of a uniformly XOR-shared value is again one: each
    party's view is the same as in word layout.
    """
    if not 1 <= bits <= 62:
        raise ParameterError(f"truncation bits must be in 1..62, got {bits}")
    low = U64((1 << bits) - 1)

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        r = v["r"]
        out = {"r_hi": np.right_shift(r, U64(bits)), "r_msb": np.right_shift(r, U64(63))}
        # r_msb is only used times 2^(64-bits) (truncation.py): its shares mod 2^bits do
        if with_low_bits:
            lo = np.bitwise_and(r, low)
            out["r_lo"] = to_planes(lo, bits) if planes else lo
        return out

    fields = [
        Field("r", shape, "arith", False),
        Field("r_hi", shape, "arith", True),
        Field("r_msb", shape, "arith", True, narrow_dtype(bits)),
    ]
    if with_low_bits:
        n = int(np.prod(shape, dtype=np.int64))
        lo_shape = (bits, plane_words(n)) if planes else shape
        fields.append(Field("r_lo", lo_shape, "xor", True))
    return Recipe(f"wrap/{bits}", tuple(fields), derive)


SIGN_PLANES: Final = 64
"""Every bit of the sign test's mask: 0..62 for the borrow, 63 for the sign itself."""


def sign_masks(shape: tuple[int, ...]) -> Recipe:
    """Return the mask of the sign test: ``r`` random, all its bits XOR-shared as planes.

    The edaBit of Escudero et al. 2020 (CRYPTO, §3) in :data:`SIGN_PLANES` bit planes
    (:func:`~privet.smpc.bitplanes.to_planes`; a fixed bit permutation of a uniform XOR
    sharing is one again): the top bit of ``c - r`` depends on all 64
    (:func:`privet.smpc.truncation.less_than_zero`). Unlike :func:`wrap_masks` it needs no
    ``r >> m``: about 8 bytes per element to the receiver instead of 24.
    """
    n = int(np.prod(shape, dtype=np.int64))

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        return {"r_bits": to_planes(v["r"], SIGN_PLANES)}

    fields = (
        Field("r", shape, "arith", False),
        Field("r_bits", (SIGN_PLANES, plane_words(n)), "xor", True),
    )
    return Recipe(f"sign/{SIGN_PLANES}", fields, derive)
