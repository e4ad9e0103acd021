"""Exact products of Z_2^64 matrices from float64 BLAS products of 21/22-bit limbs.

numpy's integer ``matmul`` has no BLAS path. Here each ``uint64`` word is split into three
limbs small enough that every partial sum of a limb product is an integer below 2^53, which
float64 holds exactly; five float64 GEMMs per chunk of at most 512 inner terms then give the
product mod 2^64 bit for bit (the bounds are worked out in :func:`_limb_chunk`).
:func:`privet.smpc.ring.matmul` and :func:`~privet.smpc.ring.matmul_sum` are the public
entry points; this module is their engine.

Examples
--------
>>> import numpy as np
>>> a = np.full((4, 300), 2**64 - 1, dtype=np.uint64)
>>> int(limb_matmul_sum([(a, a.T)])[0, 0])
300
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError

__all__ = ["SMALL_MATMUL", "Pair", "demote", "limb_matmul_sum", "promote", "sum_chunks", "work"]

Ring = NDArray[np.uint64]
U64: Final = np.uint64

SMALL_MATMUL: Final = 1 << 12
"""Below this many multiply-adds numpy's integer loop beats splitting into limbs."""

_LIMB_K_MAX: Final = 512
"""Inner-dimension terms per limb product: the bounds proved in ``_limb_chunk`` need <= 512."""

_O1: Final = 22
"""Offset of the middle limb; the low limb has 22 bits, the middle one 21."""

_O2: Final = 43
"""Offset of the top limb (21 bits, read as a signed digit)."""

_MASK_LO: Final = np.int64((1 << _O1) - 1)
_MASK_MID: Final = np.int64((1 << (_O2 - _O1)) - 1)

_NARROW_N: Final = 16
"""Up to this many output columns the stacked schoolbook (``_limb_chunk_narrow``) is faster."""

Pair = tuple[Ring, Ring]
"""Operands ``(a, b)`` of one product ``a @ b``."""


def _limb_chunk(segments: list[Pair]) -> Ring:
    """Return ``Σ a @ b`` mod 2^64 over ``segments`` sharing batch, rows and columns.

    The inner dimensions are fused: with ``K = Σ k`` (at most ``_LIMB_K_MAX`` = 512) the
    segments act as one product ``[a_1 | a_2 | ...] @ [b_1; b_2; ...]`` over ``K`` terms.
    Each word is split into three limbs read from its ``int64`` view,

        ``a = a0 + 2^22 a1 + 2^43 a2  (mod 2^64)``,
        ``0 <= a0 < 2^22``, ``0 <= a1 < 2^21``, ``-2^20 <= a2 < 2^20``

    (``a2`` is the arithmetic shift ``int64(a) >> 43``, so the identity holds mod 2^64), and
    ``a @ b = P00 + 2^22 (P01 + P10) + 2^43 (P02 + P20 + 2 P11)  (mod 2^64)`` with
    ``Pij = ai @ bj``; the terms of shift ``22 + 43`` and ``86`` vanish mod 2^64. Five float64
    GEMMs give it, the middle term by one subtractive Karatsuba step (Karatsuba & Ofman, 1962;
    Knuth, TAOCP vol. 2, §4.3.3.A):

    * ``P00 = a0 @ b0``: every term in ``[0, (2^22-1)^2]``, partial sums ``< K 2^44``;
    * ``P11 = a1 @ b1``: terms in ``[0, (2^21-1)^2]``, partial sums ``< K 2^42``;
    * ``D = (a0 - a1) @ (b1 - b0)``: ``|a0 - a1| < 2^22``, partial sums ``|.| < K 2^44``;
      then ``P01 + P10 = D + P00 + P11``, in ``[0, 2 K (2^22-1)(2^21-1)] < K 2^44``, and
      the intermediate ``D + P00 = P01 + P10 - P11`` lies in ``(-K 2^42, K 2^44)``;
    * ``Q = [a0 | a2] @ [b2; b0] = P02 + P20``: terms ``|a0 b2|, |a2 b0| < 2^42``, partial
      sums ``|.| < K 2^43``; then ``Q + P11`` and ``Q + 2 P11`` stay ``|.| < K 2^44``.

    Every GEMM partial sum (in whatever order and with whatever FMA the BLAS uses) is a sum
    of a subset of the terms, so its magnitude is below the bound on ``Σ |terms|``; with
    ``K <= 512`` every bound is ``<= 2^9 · 2^44 = 2^53``. All values are integers of magnitude
    at most 2^53, which float64 represents exactly, so every product, sum and conversion is
    exact. Each of the three coefficients is converted to ``int64`` once, reinterpreted as
    ``uint64`` (two's complement), shifted and added mod 2^64.
    """
    a_lead = segments[0][0].shape[:-1]
    b_lead = segments[0][1].shape[:-2]
    n = segments[0][1].shape[-1]
    k_all = sum(a.shape[-1] for a, _ in segments)
    a02 = np.empty((*a_lead, 2 * k_all))  # [a0 | a2]
    a1 = np.empty((*a_lead, k_all))
    b20 = np.empty((*b_lead, 2 * k_all, n))  # [b2; b0]
    b1 = np.empty((*b_lead, k_all, n))
    pos = 0
    for a, b in segments:
        k = a.shape[-1]
        ai = a.view(np.int64)
        bi = b.view(np.int64)
        lo, top = slice(pos, pos + k), slice(k_all + pos, k_all + pos + k)
        # the int64 -> float64 casts are exact (|values| < 2^22) and SIMD-fast (uint64 is not)
        np.bitwise_and(ai, _MASK_LO, out=a02[..., lo])
        np.right_shift(ai, _O2, out=a02[..., top])
        np.bitwise_and(np.right_shift(ai, _O1), _MASK_MID, out=a1[..., lo])
        np.right_shift(bi, _O2, out=b20[..., lo, :])
        np.bitwise_and(bi, _MASK_LO, out=b20[..., top, :])
        np.bitwise_and(np.right_shift(bi, _O1), _MASK_MID, out=b1[..., lo, :])
        pos += k
    a0 = a02[..., :k_all]
    b0 = b20[..., k_all:, :]
    p00 = np.matmul(a0, b0)
    p11 = np.matmul(a1, b1)
    # D; a1 and b1 are used up
    c1 = np.matmul(np.subtract(a0, a1, out=a1), np.subtract(b1, b0, out=b1))
    c2 = np.matmul(a02, b20)  # Q = P02 + P20
    c1 += p00
    c1 += p11  # P01 + P10
    c2 += p11
    c2 += p11  # P02 + P20 + 2 P11
    return _recombine(p00, c1, c2)


def _limb_chunk_narrow(segments: list[Pair]) -> Ring:
    """Return ``Σ a @ b`` mod 2^64 like ``_limb_chunk``, by three GEMMs on stacked columns.

    Same limbs and the same identity as ``_limb_chunk``, but schoolbook: ``a0 @ [b0|b1|b2]``,
    ``a1 @ [b0|b1]`` and ``a2 @ b0`` give the six needed ``Pij`` while each ``a`` limb is
    read once and no difference limb is formed, which wins when ``a`` is much larger than the
    output (few columns). Bounds over ``K <= 512`` fused terms: ``P00 < K 2^44``,
    ``P01, P10 < K 2^43``, ``P11 < K 2^42``, ``|P02|, |P20| < K 2^42``; the coefficient sums
    ``P01 + P10 < K 2^44`` and ``|P02 + P20 + 2 P11| < K 2^44`` (each partial sum too), all
    at most 2^53 and so exact in float64.
    """
    a_lead = segments[0][0].shape[:-1]
    b_lead = segments[0][1].shape[:-2]
    n = segments[0][1].shape[-1]
    k_all = sum(a.shape[-1] for a, _ in segments)
    a0 = np.empty((*a_lead, k_all))
    a1 = np.empty((*a_lead, k_all))
    a2 = np.empty((*a_lead, k_all))
    bs = np.empty((*b_lead, k_all, 3 * n))  # [b0 | b1 | b2]
    pos = 0
    for a, b in segments:
        k = a.shape[-1]
        ai = a.view(np.int64)
        bi = b.view(np.int64)
        lo = slice(pos, pos + k)
        np.bitwise_and(ai, _MASK_LO, out=a0[..., lo])
        np.bitwise_and(np.right_shift(ai, _O1), _MASK_MID, out=a1[..., lo])
        np.right_shift(ai, _O2, out=a2[..., lo])
        np.bitwise_and(bi, _MASK_LO, out=bs[..., lo, :n])
        np.bitwise_and(np.right_shift(bi, _O1), _MASK_MID, out=bs[..., lo, n : 2 * n])
        np.right_shift(bi, _O2, out=bs[..., lo, 2 * n :])
        pos += k
    r0 = np.matmul(a0, bs)  # P00 | P01 | P02
    r1 = np.matmul(a1, bs[..., : 2 * n])  # P10 | P11
    c2 = np.matmul(a2, bs[..., :n])  # P20
    c1 = np.add(r0[..., n : 2 * n], r1[..., :n])
    c2 += r0[..., 2 * n :]
    c2 += r1[..., n:]
    c2 += r1[..., n:]
    return _recombine(r0[..., :n], c1, c2)


def _recombine(c0: NDArray[np.float64], c1: NDArray[np.float64], c2: NDArray[np.float64]) -> Ring:
    """Return ``c0 + 2^22 c1 + 2^43 c2`` mod 2^64 from exact integer-valued coefficients.

    Each coefficient (``|c| <= 2^53``) converts to ``int64`` exactly, is reinterpreted as
    ``uint64`` (two's complement: the same residue mod 2^64), shifted and added mod 2^64.
    """
    out: Ring = c0.astype(np.int64).view(U64)
    for coeff, shift in ((c1, _O1), (c2, _O2)):
        term = coeff.astype(np.int64).view(U64)
        np.left_shift(term, U64(shift), out=term)
        np.add(out, term, out=out)
    return out


def limb_matmul_sum(pairs: list[Pair]) -> Ring:
    """Return ``Σ a @ b`` mod 2^64 for operands of 2 or more dimensions, fused along k.

    All ``a`` share ``shape[:-1]`` and all ``b`` share ``shape[:-2]`` and ``shape[-1]``, so
    the pairs are one product over the concatenated inner dimension. That dimension is cut
    into near-equal chunks of at most ``_LIMB_K_MAX`` terms (a pair may straddle two), each
    computed exactly by ``_limb_chunk`` (or ``_limb_chunk_narrow`` for at most
    ``_NARROW_N`` output columns), and the chunk results are added mod 2^64.
    """
    limb_chunk = _limb_chunk_narrow if pairs[0][1].shape[-1] <= _NARROW_N else _limb_chunk
    return sum_chunks(pairs, _LIMB_K_MAX, limb_chunk)


def sum_chunks(pairs: list[Pair], k_max: int, engine: Callable[[list[Pair]], Ring]) -> Ring:
    """Return ``Σ engine(chunk)`` mod 2^64 over the fused inner dimension cut into chunks.

    The pairs act as one product over their concatenated inner dimension; it is cut into
    near-equal chunks of at most ``k_max`` terms (a pair may straddle two), each a list of
    ``(a[..., lo:hi], b[..., lo:hi, :])`` handed to ``engine``.

    Raises
    ------
    ParameterError
        If the inner dimension is empty.
    """
    k_all = sum(a.shape[-1] for a, _ in pairs)
    count = max(1, -(-k_all // k_max))
    room = -(-k_all // count)
    out: Ring | None = None
    chunk: list[Pair] = []
    free = room
    for a, b in pairs:
        k, lo = a.shape[-1], 0
        while lo < k:
            take = min(free, k - lo)
            chunk.append((a[..., lo : lo + take], b[..., lo : lo + take, :]))
            lo += take
            free -= take
            if free == 0:
                part = engine(chunk)
                out = part if out is None else np.add(out, part, out=out)
                chunk, free = [], room
    if chunk:
        part = engine(chunk)
        out = part if out is None else np.add(out, part, out=out)
    if out is None:
        raise ParameterError("empty inner dimension")
    return out


def promote(a: Ring, b: Ring) -> Pair:
    """Return ``a`` as a row matrix when 1-D and ``b`` as a column when 1-D (numpy's rule)."""
    return (a[np.newaxis, :] if a.ndim == 1 else a, b[:, np.newaxis] if b.ndim == 1 else b)


def demote(out: Ring, a_ndim: int, b_ndim: int) -> Ring:
    """Drop the axes ``_promote`` added, as ``numpy.matmul`` does."""
    if b_ndim == 1:
        out = out[..., 0]
    if a_ndim == 1:
        out = out[..., 0, :] if b_ndim > 1 else out[..., 0]
    return np.asarray(out)


def work(a: Ring, b: Ring) -> int:
    """Return the number of multiply-adds of ``a @ b`` (0 when the shapes do not fit)."""
    k = a.shape[-1]
    m = a.shape[-2] if a.ndim > 1 else 1
    n = b.shape[-1] if b.ndim > 1 else 1
    if b.ndim > 1 and b.shape[-2] != k:
        return 0
    batch = max(a.size // max(m * k, 1), b.size // max(k * n, 1), 1)
    return int(batch * m * k * n)
