"""Binary circuits on XOR-shared bit words: a public-vs-secret less-than, and bit → arithmetic.

**Less-than against a public value** (:func:`less_than_public`). A secret ``m``-bit number
``r`` is XOR-shared bit-sliced in one ``uint64`` word per element; ``c`` is public. Per bit,
``g_i = r_i ∧ ¬c_i`` ("r is greater here") and ``e_i = ¬(r_i ⊕ c_i)`` ("equal here") are
local (``c`` is public). Adjacent blocks combine as ``G = G_hi ⊕ (E_hi ∧ G_lo)``,
``E = E_hi ∧ E_lo`` (the two cases of the OR are exclusive, so OR is XOR), a log-depth
prefix tree: after ``⌈log2 m⌉`` rounds of AND gates, the one remaining ``G`` is
``[c < r]``. This is the bitwise comparison BitLT of Catrina & de Hoogh 2010 ("Improved
primitives for secure multiparty integer computation", SCN 2010, §3), evaluated with the
logarithmic-depth (carry look-ahead style) tree of Garay, Schoenmakers & Villegas 2007
("Practical and secure solutions for integer comparison", PKC 2007, §3). Bit-slicing makes
one word-wise AND evaluate 64 elements at once: the words are transposed into bit planes
(plane ``i`` holds bit ``i`` of 64 elements), so level ``k`` ANDs ``2^(L-k)`` planes and
needs no gather: about 2 words of AND gates per element in all for ``m = 62`` (~31 bytes per
party per comparison for the tree).

**Bit to arithmetic** (:func:`bit_to_arith`) with a daBit ``β`` (shared both ways; Rotaru &
Wood 2019, "MArBled circuits", INDOCRYPT 2019, §3): open ``v = b ⊕ β`` (one round, one
byte per element), then ``[b] = v + [β] - 2 v [β]``.

Examples
--------
>>> less_than_plan((4,), bits=16)[0].name
'and'
>>> [r.fields[0].shape for r in less_than_plan((1000,), bits=62)]
[(2, 32, 16), (2, 16, 16), (2, 8, 16), (2, 4, 16), (2, 2, 16), (1, 1, 16)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np

from privet.core.errors import ParameterError
from privet.smpc.beaver import and_words
from privet.smpc.dealer import Recipe, and_triples, dabits
from privet.smpc.ring import Ring, add, mul
from privet.smpc.session import PartySession

__all__ = ["bit_to_arith", "bit_to_arith_plan", "less_than_plan", "less_than_public", "levels"]

U64 = np.uint64


def levels(bits: int) -> int:
    """Return the number of AND rounds for ``bits``-bit numbers: ``⌈log2 bits⌉``."""
    if not 1 <= bits <= 64:
        raise ParameterError(f"bits must be in 1..64, got {bits}")
    return max(0, math.ceil(math.log2(bits)))


_SWAP_MASKS: Final = (
    (32, 0x0000_0000_FFFF_FFFF),
    (16, 0x0000_FFFF_0000_FFFF),
    (8, 0x00FF_00FF_00FF_00FF),
    (4, 0x0F0F_0F0F_0F0F_0F0F),
    (2, 0x3333_3333_3333_3333),
    (1, 0x5555_5555_5555_5555),
)


def _transpose64(a: Ring) -> Ring:
    """Transpose each 64x64 bit matrix of ``a`` (shape (B, 64), row = word, column = bit).

    Six rounds of masked block swaps (the recursive transpose of Warren, "Hacker's
    Delight", 2nd ed., §7-3), vectorised over the B blocks.
    """
    out = np.array(a, dtype=U64, copy=True)
    blocks = out.shape[0]
    for j, m in _SWAP_MASKS:
        quad = out.reshape(blocks, 64 // (2 * j), 2, j)
        top, bottom = quad[:, :, 0, :], quad[:, :, 1, :]
        t = np.bitwise_and(np.bitwise_xor(np.right_shift(top, U64(j)), bottom), U64(m))
        np.bitwise_xor(bottom, t, out=bottom)
        np.bitwise_xor(top, np.left_shift(t, U64(j)), out=top)
    return out


def to_planes(x: Ring, planes: int) -> Ring:
    """Transpose words into bit planes: row ``i`` holds bit ``i`` of every element.

    64 elements per ``uint64``; a bit permutation, so it maps XOR shares to XOR shares.

    Examples
    --------
    >>> import numpy as np
    >>> to_planes(np.array([1, 2, 3], dtype=np.uint64), 2).tolist()
    [[5], [6]]
    """
    flat = np.asarray(x, dtype=U64).reshape(-1)
    pad = (-flat.size) % 64
    if pad:
        flat = np.concatenate([flat, np.zeros(pad, dtype=U64)])
    t = _transpose64(flat.reshape(-1, 64))  # t[b, i]: bit n = bit i of element 64 b + n
    return np.ascontiguousarray(t[:, :planes].T)


def from_plane(plane: Ring, n: int) -> Ring:
    """Return bit ``j`` of a single plane as element ``j`` (``uint64`` 0/1), ``n`` of them."""
    bits = np.unpackbits(np.ascontiguousarray(plane).view(np.uint8), bitorder="little")
    return bits[:n].astype(U64)


def _geometry(shape: tuple[int, ...], bits: int) -> tuple[int, int, int]:
    n = int(np.prod(shape, dtype=np.int64))
    depth = levels(bits)
    return n, depth, -(-n // 64)


def less_than_plan(shape: tuple[int, ...], *, bits: int) -> list[Recipe]:
    """Return the binary triples of :func:`less_than_public`.

    Level ``k`` ANDs ``2^(L-k)`` planes of ``⌈n/64⌉`` words (``2^(L-k-1)`` at the last
    level, where only ``G`` is needed).
    """
    _, depth, words = _geometry(shape, bits)
    return [
        and_triples((1 if k == depth - 1 else 2, (1 << depth) >> (k + 1), words))
        for k in range(depth)
    ]


def less_than_public(
    sess: PartySession,
    c: Ring,
    r_bits: Ring,
    *,
    bits: int,
    material: Sequence[Mapping[str, Ring]],
) -> Ring:
    """Return this party's XOR share of ``[c < r]`` (0/1 words) for ``bits``-bit numbers.

    Parameters
    ----------
    sess
        The party's session.
    c
        The public ``uint64`` values (only their low ``bits`` bits are used).
    r_bits
        This party's XOR shares of ``r`` (``r < 2^bits``).
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
    n, depth, _ = _geometry(shape, bits)
    width = 1 << depth  # planes, a power of two >= bits; the planes above bits are neutral
    mask = U64((1 << bits) - 1) if bits < 64 else U64(0xFFFF_FFFF_FFFF_FFFF)
    cw = np.bitwise_and(np.asarray(c, dtype=U64), mask).reshape(-1)
    r = np.asarray(r_bits, dtype=U64).reshape(-1)
    g = to_planes(np.bitwise_and(r, np.bitwise_not(cw)), width)  # g_i = r_i ∧ ¬c_i
    # e_i = ¬(r_i ⊕ c_i): a public XOR (and the NOT) is applied by one party only
    e = to_planes(np.bitwise_not(np.bitwise_xor(r, cw)) if sess.leader else r, width)
    for k in range(depth):
        g_lo, g_hi, e_lo, e_hi = g[0::2], g[1::2], e[0::2], e[1::2]
        if k == depth - 1:
            t = and_words(sess, e_hi[None], g_lo[None], material[k])[0]
            g = np.bitwise_xor(g_hi, t)  # G = G_hi ⊕ (E_hi ∧ G_lo)
        else:
            t = and_words(sess, np.stack([e_hi, e_hi]), np.stack([g_lo, e_lo]), material[k])
            g = np.bitwise_xor(g_hi, t[0])
            e = t[1]  # E = E_hi ∧ E_lo
    return from_plane(g[0], n).reshape(shape)


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
