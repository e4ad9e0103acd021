"""Binary circuits on XOR-shared bit words: a public-vs-secret less-than, and bit → arithmetic.

**Less-than against a public value** (:func:`less_than_public`). A secret ``m``-bit number
``r`` is XOR-shared bit by bit; ``c`` is public. Per bit,
``g_i = r_i ∧ ¬c_i`` ("r is greater here") and ``e_i = ¬(r_i ⊕ c_i)`` ("equal here") are
local (``c`` is public). Adjacent blocks combine as ``G = G_hi ⊕ (E_hi ∧ G_lo)``,
``E = E_hi ∧ E_lo`` (the two cases of the OR are exclusive, so OR is XOR), a log-depth
prefix tree: after ``⌈log2 m⌉`` rounds of AND gates, the one remaining ``G`` is
``[c < r]``. This is the bitwise comparison BitLT of Catrina & de Hoogh 2010 ("Improved
primitives for secure multiparty integer computation", SCN 2010, §3), evaluated with the
logarithmic-depth (carry look-ahead style) tree of Garay, Schoenmakers & Villegas 2007
("Practical and secure solutions for integer comparison", PKC 2007, §3). Bit-slicing makes
one word-wise AND evaluate 64 elements at once: the words are transposed into bit planes
(plane ``i`` holds bit ``i`` of 64 elements; :mod:`privet.smpc.bitplanes`), so level ``k``
ANDs ``2^(L-k)`` planes and needs no gather. At each level ``E_hi`` enters two products
(with ``G_lo`` and ``E_lo``): a triple with a shared first factor (:func:`fan_triples`)
opens it once, so the tree costs 3 planes per pair instead of 4: ``188/64`` words, ~23.5
bytes per party per element for ``m = 62``. The dealer hands ``r`` out already as planes
(:func:`less_than_planes`), so a party transposes only the public ``c``.

**Bit to arithmetic** (:func:`bit_to_arith`) with a daBit ``β`` (shared both ways; Rotaru &
Wood 2019, "MArBled circuits", INDOCRYPT 2019, §3): open ``v = b ⊕ β`` (one round), then
``[b] = v + [β] - 2 v [β]``. :func:`plane_to_arith` takes ``b`` as a plane and packed
daBits: ``v`` is opened at one bit per element.

Examples
--------
>>> less_than_plan((4,), bits=16)[0].name
'and/fan2'
>>> [r.fields[1].shape for r in less_than_plan((1000,), bits=62)]
[(2, 32, 16), (2, 16, 16), (2, 8, 16), (2, 4, 16), (2, 2, 16), (1, 1, 16)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from privet.core.errors import ParameterError
from privet.smpc.bitplanes import from_plane, to_planes
from privet.smpc.recipes import Recipe, dabits, fan_triples
from privet.smpc.ring import Ring, add, mul, sub
from privet.smpc.session import PartySession

__all__ = [
    "and_fan",
    "bit_to_arith",
    "bit_to_arith_plan",
    "less_than_plan",
    "less_than_planes",
    "less_than_public",
    "levels",
    "plane_to_arith",
    "plane_to_arith_plan",
]

U64 = np.uint64


def levels(bits: int) -> int:
    """Return the number of AND rounds for ``bits``-bit numbers: ``⌈log2 bits⌉``."""
    if not 1 <= bits <= 64:
        raise ParameterError(f"bits must be in 1..64, got {bits}")
    return max(0, math.ceil(math.log2(bits)))


def _geometry(shape: tuple[int, ...], bits: int) -> tuple[int, int, int]:
    n = int(np.prod(shape, dtype=np.int64))
    depth = levels(bits)
    return n, depth, -(-n // 64)


def and_fan(sess: PartySession, x: Ring, ys: Ring, material: Mapping[str, Ring]) -> Ring:
    """Return this party's XOR shares of ``x ∧ y_j`` for each ``y_j`` of ``ys`` (one round).

    Beaver's identity for the bilinear map of :func:`fan_triples`: open ``d = x ⊕ a`` and
    ``e = ys ⊕ b`` (each a secret under a fresh uniform pad: ``a``, ``b`` are independent and
    used once), then ``z_j = c_j ⊕ (d ∧ b_j) ⊕ (e_j ∧ a)``, and party 0 adds ``d ∧ e_j``.
    """
    a, b = material["a"], material["b"]
    d, e = sess.open_xor([np.bitwise_xor(x, a), np.bitwise_xor(ys, b)], step="and")
    z = np.bitwise_and(e, a[None])
    if sess.leader:  # (d ∧ b_j) ⊕ (d ∧ e_j) = d ∧ (b_j ⊕ e_j)
        np.bitwise_xor(e, b, out=e)
        np.bitwise_and(e, d[None], out=e)
    else:
        np.bitwise_and(b, d[None], out=e)
    np.bitwise_xor(z, e, out=z)
    np.bitwise_xor(z, material["c"], out=z)  # c read after the opening (lazy for the last)
    return np.asarray(z, dtype=U64)


def less_than_plan(shape: tuple[int, ...], *, bits: int) -> list[Recipe]:
    """Return the binary triples of :func:`less_than_public`.

    Level ``k`` ANDs ``E_hi`` (``2^(L-k-1)`` planes of ``⌈n/64⌉`` words) with ``G_lo`` and
    ``E_lo`` (a fan of 2), with ``G_lo`` only at the last level, where only ``G`` is needed.
    """
    _, depth, words = _geometry(shape, bits)
    return [
        fan_triples(((1 << depth) >> (k + 1), words), 1 if k == depth - 1 else 2)
        for k in range(depth)
    ]


def less_than_planes(
    sess: PartySession,
    c: Ring,
    r_planes: Ring,
    *,
    bits: int,
    material: Sequence[Mapping[str, Ring]],
    c_planes: Ring | None = None,
) -> Ring:
    """Return this party's XOR share of ``[c < r]`` as one bit plane (bit ``j``: element ``j``).

    ``r`` is given as bit planes (:func:`~privet.smpc.bitplanes.to_planes`), as the dealer
    hands it out (:func:`~privet.smpc.recipes.wrap_masks` with ``planes=True``), so only the
    public ``c`` is transposed here. With ``c`` public, ``r ↦ r ∧ ¬c`` and ``r ↦ ¬(r ⊕ c)``
    are GF(2)-affine and commute with the transposition: ``planes(g) = planes(r) ∧
    planes(¬c)``, ``planes(e) = ¬(planes(r) ⊕ planes(c))`` (the NOT and the public XOR by one
    party only). These are the local steps of BitLT (Catrina & de Hoogh 2010, SCN, §3):
    nothing is opened but the masked AND inputs of the tree, as before.

    Parameters
    ----------
    sess
        The party's session.
    c
        The public ``uint64`` values (only their low ``bits`` bits are used).
    r_planes
        This party's XOR shares of the ``bits`` planes of ``r`` (``r < 2^bits``), shape
        ``(bits, ⌈n/64⌉)``.
    bits
        The width ``m``.
    material
        The binary triples of :func:`less_than_plan`, in order.
    c_planes
        The low ``bits`` planes of ``c`` when the caller has transposed it already.

    Returns
    -------
    numpy.ndarray
        ``uint64``, shape ``(⌈n/64⌉,)``: XOR shares of the bits ``[c_j < r_j]``.
    """
    n, depth, words = _geometry(np.shape(c), bits)
    r = np.asarray(r_planes, dtype=U64)
    if r.shape != (bits, words):
        raise ParameterError(
            f"r_planes must have shape {(bits, words)} for {n} elements of {bits} bits, "
            f"got {r.shape}"
        )
    width = 1 << depth  # planes, a power of two >= bits; the planes above bits are neutral
    mask = U64((1 << bits) - 1) if bits < 64 else U64(0xFFFF_FFFF_FFFF_FFFF)
    if c_planes is None:
        c_planes = to_planes(np.bitwise_and(np.asarray(c, dtype=U64), mask), bits)
    cp = c_planes
    g = np.zeros((width, words), dtype=U64)  # neutral planes: g = 0, e = 1
    e = np.zeros((width, words), dtype=U64)
    np.bitwise_not(cp, out=g[:bits])
    np.bitwise_and(g[:bits], r, out=g[:bits])  # g_i = r_i ∧ ¬c_i
    if sess.leader:  # e_i = ¬(r_i ⊕ c_i): the public XOR and the NOT by one party only
        np.bitwise_xor(r, cp, out=e[:bits])
        np.bitwise_not(e, out=e)
    else:
        e[:bits] = r
    for k in range(depth):
        g_lo, g_hi, e_lo, e_hi = g[0::2], g[1::2], e[0::2], e[1::2]
        last = k == depth - 1
        ys = g_lo[None] if last else np.stack([g_lo, e_lo])
        t = and_fan(sess, e_hi, ys, material[k])  # E_hi is opened once for both products
        g = np.bitwise_xor(g_hi, t[0])  # G = G_hi ⊕ (E_hi ∧ G_lo)
        if not last:
            e = t[1]  # E = E_hi ∧ E_lo
    return np.asarray(g[0], dtype=U64)


def less_than_public(
    sess: PartySession,
    c: Ring,
    r_bits: Ring,
    *,
    bits: int,
    material: Sequence[Mapping[str, Ring]],
) -> Ring:
    """Return this party's XOR share of ``[c < r]`` (0/1 words) for ``bits``-bit numbers.

    :func:`less_than_planes` on this party's share of ``r`` transposed into planes.

    Parameters
    ----------
    sess
        The party's session.
    c
        The public ``uint64`` values (only their low ``bits`` bits are used).
    r_bits
        This party's XOR shares of ``r`` (``r < 2^bits``), one word per element.
    bits
        The width ``m``.
    material
        The binary triples of :func:`less_than_plan`, in order.

    Returns
    -------
    numpy.ndarray
        ``uint64`` 0/1 XOR shares of the result, shape of ``c``.
    """
    shape = np.shape(c)
    n, _, _ = _geometry(shape, bits)
    planes = to_planes(np.asarray(r_bits, dtype=U64), bits)
    plane = less_than_planes(sess, c, planes, bits=bits, material=material)
    return from_plane(plane, n).reshape(shape)


def bit_to_arith_plan(shape: tuple[int, ...]) -> list[Recipe]:
    """One daBit per element."""
    return [dabits(shape)]


def bit_to_arith(sess: PartySession, b: Ring, material: Mapping[str, Ring]) -> Ring:
    """Convert XOR-shared bits (bit 0 of ``b``) to additive shares of 0/1 in Z_2^64."""
    bx, ba = material["bx"], material["ba"]
    masked = np.bitwise_and(np.bitwise_xor(b, bx), U64(1)).astype(np.uint8)
    (v8,) = sess.open_xor([masked], step="b2a")
    v = v8.astype(U64)
    coef = np.subtract(U64(1), mul(v, U64(2)), dtype=U64)  # 1 - 2v
    z = mul(coef, ba)
    if sess.leader:
        z = add(z, v)
    return z


def plane_to_arith_plan(
    shape: tuple[int, ...], *, product: tuple[int, ...] | None = None
) -> list[Recipe]:
    """One daBit per element, the XOR halves packed 64 to a word (with a product triple)."""
    return [dabits(shape, packed=True, product=product)]


def plane_to_arith(
    sess: PartySession,
    plane: Ring,
    shape: tuple[int, ...],
    material: Mapping[str, Ring],
    *,
    times: Ring | None = None,
) -> Ring:
    """Convert one XOR-shared bit plane to additive shares of 0/1 in Z_2^64, of ``shape``.

    As :func:`bit_to_arith` with packed daBits: ``v = b ⊕ β`` is opened as ``⌈n/64⌉`` words
    (one bit per element). The bits past ``n`` are cleared before the opening.

    With ``times`` (this party's additive share of ``y``, of ``shape`` or ``(k, *shape)``),
    return shares of ``y·b`` (``b`` broadcast) instead, with no round of its own: the daBit
    comes with ``a`` and ``c = a·β`` (:func:`~privet.smpc.recipes.dabits` with ``product``),
    ``d = y - a`` is opened together with ``v``, and ``y·b = v·y + (1 - 2v)·(d·β + c)``,
    since ``b = v + β - 2vβ`` and ``y·β = (d + a)·β`` (Beaver's identity with ``β`` as the
    second factor, so no ``e``).
    """
    n = int(np.prod(shape, dtype=np.int64))
    masked = np.bitwise_xor(plane, material["bx"])
    if n % 64:
        masked[-1] &= U64((1 << (n % 64)) - 1)
    if times is None:
        (vw,) = sess.open_xor([masked], step="b2a")
    else:
        (d,), (vw,) = sess.open_both([sub(times, material["a"])], [masked], step="b2a")
    v = from_plane(vw, n).reshape(shape)
    ba = material["ba"]  # read after the opening: its receiver gets it only now
    z = np.asarray(np.multiply(v, U64(2)))  # an array even for shape (): out= needs one
    np.subtract(U64(1), z, out=z)  # 1 - 2v
    if times is None:
        np.multiply(z, ba, out=z)
        if sess.leader:
            np.add(z, v, out=z)
        return z
    yb = np.asarray(np.multiply(d, ba))  # y·β = d·β + c (β broadcast over a stack of y)
    np.add(yb, material["c"], out=yb)
    np.multiply(yb, z, out=yb)
    np.add(yb, np.multiply(times, v), out=yb)  # + v·y (every party: y is shared)
    return yb
