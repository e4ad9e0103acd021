"""Exact fixed-point sums: the sum that floating-point rounding cannot leak through.

A float sum of clamped values can differ from the real-number sum by more than the
sensitivity a library calibrates to, so that noise scaled to ``rows × bound`` does not hide
one person (Casacuberta, Shoemate, Vadhan, Wagaman 2022, "Widespread underestimation of
sensitivity in differentially private libraries and how to fix it", ACM CCS 2022,
arXiv:2207.10635). privet avoids float arithmetic in the sum altogether, one of the fixes
the paper discusses (exact arithmetic on integers):

1. **clamp** each value to the public bounds ``[lo, hi]`` (±inf clamps to a bound);
2. **quantize** it to a fixed-point integer on the power-of-two grid ``2**-g``:
   ``k = rint(x · 2**g)``. Multiplying a float by a power of two is exact, ``rint`` is
   monotone, so every ``k`` lies in ``[L, H] = [rint(lo·2**g), rint(hi·2**g)]``;
3. **sum exactly** in integers: ``int64`` sums over chunks small enough that no partial sum
   can overflow (``rows_per_chunk · max(|L|, |H|) < 2**63``), the chunk sums added as Python
   integers (unbounded);
4. the **sensitivity in grid units** is ``max_rows · max(|L|, |H|)``, an exact integer that
   includes the quantization (rounding a bound can only move it by half a grid step, and
   that is counted because ``L`` and ``H`` are the rounded bounds themselves);
5. **integer noise** (discrete Laplace or discrete Gaussian, exact samplers of Canonne,
   Kamath, Steinke 2020) is added to the integer sum, and only then is the result scaled
   back by ``2**-g`` (post-processing: no rounding there can leak).

The grid is chosen from public parameters only (bounds, rows per unit, ε), never from the
data or its size: a data-dependent grid would show in the output's resolution. It puts
the noise scale near ``2**40`` grid steps, so the quantization error (at most half a step per
row) stays below 10⁻¹² of the noise per row.

Examples
--------
>>> import numpy as np
>>> grid = choose_grid(bound=100.0, max_rows=20, epsilon=1.0)
>>> q = quantize(np.array([1.5, 250.0, -3.0, np.inf]), lo=0.0, hi=100.0, g=grid)
>>> exact_sum(q, max_abs=q.max_abs) == round((1.5 + 100.0 + 0.0 + 100.0) * 2**grid)
True
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError

__all__ = [
    "NOISE_SCALE_BITS",
    "Clamp",
    "Quantized",
    "choose_grid",
    "exact_group_sums",
    "exact_sum",
    "fixed_group_sums",
    "fixed_sum",
    "quantize",
]

NOISE_SCALE_BITS: Final = 40
"""The grid puts the noise scale near ``2**NOISE_SCALE_BITS`` grid steps."""

_MAX_ABS_BITS: Final = 52
"""A quantized bound never exceeds ``2**52`` (exact in float64 and far from int64's edge)."""

_INT64_LIMIT: Final = (1 << 63) - 1
_CHUNK_CAP: Final = 1 << 22
_FUSED_CHUNK: Final = 1 << 18


def choose_grid(*, bound: float, max_rows: int, epsilon: float) -> int:
    """Return the grid exponent ``g`` (step ``2**-g``) for a fixed-point sum.

    Chosen so that ``max_rows · bound · 2**g / ε`` (the noise scale in grid steps) is about
    ``2**NOISE_SCALE_BITS``, and ``bound · 2**g <= 2**52``. Uses public parameters only.

    Parameters
    ----------
    bound : float
        ``max(|lo|, |hi|)`` of the clamping bounds, > 0.
    max_rows : int
        The most rows one privacy unit contributes, >= 1.
    epsilon : float
        The ε that the sum's noise gets, > 0.

    Returns
    -------
    int
        ``g``; may be negative (a grid coarser than 1) for huge bounds.

    Examples
    --------
    >>> choose_grid(bound=100.0, max_rows=20, epsilon=1.0)
    29
    >>> 20 * 100 * 2**29 / 1.0 < 2**41
    True
    """
    if not (bound > 0 and math.isfinite(bound)):
        raise ParameterError(f"bound must be finite and > 0, got {bound!r}")
    # log2(ε · 2**40 / (rows · bound)), rounded down; then cap bound · 2**g at 2**52.
    target = math.log2(epsilon) + NOISE_SCALE_BITS - math.log2(max_rows) - math.log2(bound)
    g = math.floor(target)
    cap = _MAX_ABS_BITS - math.ceil(math.log2(bound))
    return int(min(g, cap))


@dataclasses.dataclass(frozen=True)
class Quantized:
    """Clamped values as fixed-point integers on the grid ``2**-g``.

    Attributes
    ----------
    values : numpy.ndarray
        ``int64`` integers ``rint(clamp(x) · 2**g)``, each in ``[low, high]``.
    g : int
        The grid exponent.
    low, high : int
        The quantized bounds ``rint(lo · 2**g)`` and ``rint(hi · 2**g)``.
    """

    values: NDArray[np.int64]
    g: int
    low: int
    high: int

    @property
    def max_abs(self) -> int:
        """``max(|low|, |high|)``: the most one row can move a sum, in grid steps."""
        return max(abs(self.low), abs(self.high))


def quantize(values: NDArray[np.float64], *, lo: float, hi: float, g: int) -> Quantized:
    """Clamp ``values`` to ``[lo, hi]`` and round them to integers on the grid ``2**-g``.

    NaN must be removed before (the caller's rule drops NaN rows); ±inf clamps to a bound.

    Parameters
    ----------
    values : numpy.ndarray
        Float values, no NaN.
    lo, hi : float
        Public finite bounds, ``lo <= hi``.
    g : int
        The grid exponent (:func:`choose_grid`).

    Returns
    -------
    Quantized
        The integers and the quantized bounds.

    Examples
    --------
    >>> quantize(np.array([0.3, 7.0]), lo=0.0, hi=5.0, g=2).values.tolist()
    [1, 20]
    """
    scale = math.ldexp(1.0, g)
    low = round(math.ldexp(lo, g))  # Python's round is round-half-even, like np.rint
    high = round(math.ldexp(hi, g))
    out = np.clip(np.asarray(values, dtype=np.float64), lo, hi)
    out *= scale  # exact: a power of two (bound · 2**g <= 2**52, no overflow)
    np.rint(out, out=out)
    return Quantized(values=out.astype(np.int64), g=g, low=low, high=high)


def _chunk_rows(max_abs: int) -> int:
    """Rows per chunk such that a chunk's int64 sum cannot overflow."""
    if max_abs <= 0:
        return _CHUNK_CAP
    return max(1, min(_CHUNK_CAP, _INT64_LIMIT // max_abs))


def exact_sum(q: Quantized | NDArray[np.int64], *, max_abs: int) -> int:
    """Return the exact integer sum of quantized values (no overflow, no rounding).

    Parameters
    ----------
    q : Quantized or numpy.ndarray
        The integers (each of magnitude at most ``max_abs``).
    max_abs : int
        A bound on every ``|value|``; sets the chunk size of the overflow guard.

    Returns
    -------
    int
        The sum, as an unbounded Python ``int``.

    Examples
    --------
    >>> exact_sum(np.full(5, 2**61, dtype=np.int64), max_abs=2**61)
    11529215046068469760
    """
    values = q.values if isinstance(q, Quantized) else q
    step = _chunk_rows(max_abs)
    total = 0
    for start in range(0, values.shape[0], step):
        total += int(values[start : start + step].sum(dtype=np.int64))
    return total


def exact_group_sums(
    q: Quantized | NDArray[np.int64], groups: NDArray[np.int64], *, n_groups: int, max_abs: int
) -> list[int]:
    """Return the exact integer sum of the values in each group ``0 … n_groups-1``.

    Parameters
    ----------
    q : Quantized or numpy.ndarray
        The integers, one per row.
    groups : numpy.ndarray
        Each row's group, an integer in ``[0, n_groups)``.
    n_groups : int
        The number of groups.
    max_abs : int
        A bound on every ``|value|``.

    Returns
    -------
    list of int
        ``n_groups`` unbounded Python integers.

    Examples
    --------
    >>> exact_group_sums(np.array([1, 2, 3]), np.array([0, 1, 0]), n_groups=3, max_abs=3)
    [4, 2, 0]
    """
    values = q.values if isinstance(q, Quantized) else q
    step = _chunk_rows(max_abs)
    totals = [0] * n_groups
    for start in range(0, values.shape[0], step):
        part = np.zeros(n_groups, dtype=np.int64)
        np.add.at(part, groups[start : start + step], values[start : start + step])
        totals = [a + int(b) for a, b in zip(totals, part.tolist(), strict=True)]
    return totals


@dataclasses.dataclass(frozen=True)
class Clamp:
    """How one row's value becomes a bounded float before quantization (a per-row map).

    ``clip(x, lo, hi)``; with ``center``, minus the midpoint and clipped to ``±(hi-lo)/2``;
    with ``square`` (needs ``center``), squared and clipped to ``[0, ((hi-lo)/2)²]``. Each
    step ends with a clip to its bounds, so float rounding inside the map can never move a
    row outside them.

    Examples
    --------
    >>> Clamp(0.0, 10.0, center=True).bounds()
    (-5.0, 5.0)
    >>> Clamp(0.0, 10.0, center=True, square=True).apply(np.array([0.0, 4.0])).tolist()
    [25.0, 1.0]
    """

    lo: float
    hi: float
    center: bool = False
    square: bool = False

    def bounds(self) -> tuple[float, float]:
        """Return the bounds of the mapped values."""
        if not self.center:
            return self.lo, self.hi
        half = 0.5 * self.hi - 0.5 * self.lo
        return (0.0, half * half) if self.square else (-half, half)

    def apply(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the mapped values (a new array)."""
        out = np.clip(x, self.lo, self.hi)
        if self.center:
            half = 0.5 * self.hi - 0.5 * self.lo
            out -= 0.5 * self.lo + 0.5 * self.hi
            np.clip(out, -half, half, out=out)
            if self.square:
                np.multiply(out, out, out=out)
                np.clip(out, 0.0, half * half, out=out)
        return out


def _fused_step(max_abs: int) -> int:
    """Rows per fused chunk: at most 2**18, and few enough that int64 cannot overflow."""
    return max(1, min(_FUSED_CHUNK, _chunk_rows(max_abs)))


def _quantized_chunk(x: NDArray[np.float64], clamp: Clamp, g: int) -> NDArray[np.int64]:
    out = clamp.apply(x)
    out *= math.ldexp(1.0, g)  # exact: a power of two
    np.rint(out, out=out)
    return out.astype(np.int64)


def _max_abs(clamp: Clamp, g: int) -> int:
    lo, hi = clamp.bounds()
    return max(abs(round(math.ldexp(lo, g))), abs(round(math.ldexp(hi, g))))


def fixed_sum(values: NDArray[np.float64], clamp: Clamp, *, g: int) -> tuple[int, int]:
    """Return the exact fixed-point sum of the mapped values, and the per-row bound.

    The same arithmetic as :func:`quantize` then :func:`exact_sum`, fused and done in
    chunks of at most 2**18 rows (so the temporaries stay small).

    Parameters
    ----------
    values : numpy.ndarray
        Float values, NaN already dropped.
    clamp : Clamp
        The per-row map and its bounds.
    g : int
        The grid exponent.

    Returns
    -------
    tuple of int
        The sum in steps of ``2**-g``, and ``max(|L|, |H|)`` in the same steps.

    Examples
    --------
    >>> fixed_sum(np.array([1.0, 2.5, 99.0]), Clamp(0.0, 10.0), g=1)
    (27, 20)
    """
    max_abs = _max_abs(clamp, g)
    total = 0
    step = _fused_step(max_abs)
    for start in range(0, values.shape[0], step):
        q = _quantized_chunk(values[start : start + step], clamp, g)
        total += int(q.sum(dtype=np.int64))
    return total, max_abs


def fixed_group_sums(
    values: NDArray[np.float64],
    groups: NDArray[np.int64],
    clamp: Clamp,
    *,
    g: int,
    n_groups: int,
) -> tuple[list[int], int]:
    """Return each group's exact fixed-point sum of the mapped values, and the row bound.

    Examples
    --------
    >>> fixed_group_sums(np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0]), Clamp(0.0, 5.0),
    ...     g=0, n_groups=2)
    ([3, 3], 5)
    """
    max_abs = _max_abs(clamp, g)
    n = values.shape[0]
    step = _fused_step(max_abs)
    # One int64 accumulator while no group total can reach 2**63 (n·max_abs bounds them
    # all); otherwise chunk totals are added as Python integers.
    wide = n * max_abs > _INT64_LIMIT
    acc = np.zeros(n_groups, dtype=object if wide else np.int64)
    for start in range(0, n, step):
        q = _quantized_chunk(values[start : start + step], clamp, g)
        part = np.zeros(n_groups, dtype=np.int64)
        np.add.at(part, groups[start : start + step], q)
        acc += part.astype(object) if wide else part
    return [int(t) for t in acc.tolist()], max_abs
