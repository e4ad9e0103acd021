"""The DP table queries: exact statistics on bounded rows, then calibrated integer noise.

Each query has two halves, kept apart so that tests can check one against the other:

* an **exact** statistic (``exact_*``) on rows that contribution bounding already kept
  (:mod:`privet.dp.bounding`), in integers: a count, or a fixed-point sum
  (:mod:`privet.dp.fixedpoint`);
* a **release** (``release_*``) that adds noise calibrated to the statistic's sensitivity,
  which follows from the contribution bounds and the caller's value bounds only.

Neighbouring tables differ by one privacy unit's rows (add/remove). With at most ``R`` rows
per unit, values clamped to ``[lo, hi]`` and quantized to ``[L, H]`` grid steps:

========================  =============================================================
statistic                 sensitivity (L1, add/remove one unit)
========================  =============================================================
count                     ``R``
fixed-point sum           ``R · max(|L|, |H|)`` grid steps
centered sum (mean)       ``R · max(|L′|, |H′|)``, values shifted by the bounds' midpoint
histogram (vector)        ``R`` (each row adds 1 to one key)
group counts (vector)     ``k · m`` (``k`` groups per unit, ``m`` rows per group)
group sums (vector)       ``k · m · max(|L|, |H|)``
quantile utility          ``R`` (ranks move by at most ``R``)
========================  =============================================================

The release functions never see the budget: the :class:`~privet.dp.Session` charges it
before calling them (charge before noise). The call that draws noise is the last step.

Examples
--------
>>> import numpy as np
>>> from privet.core.random import SecureRandom
>>> out = release_count(120, max_rows=1, epsilon=1.0, rng=SecureRandom.seeded(0),
...     confidence=0.95)
>>> out.noise_scale, round(out.value) - 120 in range(-10, 11)
(1.0, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privet.core.random import SecureRandom
from privet.dp import fixedpoint, partition
from privet.dp.noise import add_discrete_laplace, scale_for
from privet.dp.results import discrete_laplace_halfwidth, discrete_laplace_std
from privet.dp.selection import exponential_release

__all__ = [
    "Released",
    "exact_centered_sum",
    "exact_group_counts",
    "exact_group_sums",
    "exact_moments",
    "exact_sum",
    "quantile_scores",
    "release_count",
    "release_group_counts",
    "release_group_means",
    "release_group_sums",
    "release_mean",
    "release_quantile",
    "release_sum",
    "release_variance",
]

Interval = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Released:
    """The numbers of one release, before the session adds the event and the charge."""

    value: float | dict[Hashable, float]
    ci: Interval | dict[Hashable, Interval] | None
    noise_scale: float
    noise_std: float | None
    mechanism: str
    details: dict[str, Any]


# -- exact statistics -----------------------------------------------------------------------


def exact_sum(values: NDArray[np.float64], *, lo: float, hi: float, g: int) -> tuple[int, int]:
    """Return the exact fixed-point sum (grid steps) of clamped values, and ``max(|L|,|H|)``.

    Parameters
    ----------
    values : numpy.ndarray
        Bounded rows' values, NaN already dropped.
    lo, hi : float
        The clamping bounds.
    g : int
        The grid exponent.

    Returns
    -------
    tuple of int
        The sum in units of ``2**-g`` and the per-row bound in the same units.

    Examples
    --------
    >>> exact_sum(np.array([1.0, 2.5, 99.0]), lo=0.0, hi=10.0, g=1)
    (27, 20)
    """
    return fixedpoint.fixed_sum(values, fixedpoint.Clamp(lo, hi), g=g)


def exact_centered_sum(
    values: NDArray[np.float64], *, lo: float, hi: float, g: int
) -> tuple[int, int, int]:
    """Return (count, Σ y, max |y|) for the clamped, centered ``y = x - (lo+hi)/2``.

    ``Σ y`` and the per-row bound are in steps of ``2**-g`` (``y`` clamped to
    ``±(hi-lo)/2``, :class:`~privet.dp.fixedpoint.Clamp`).

    Examples
    --------
    >>> exact_centered_sum(np.array([0.0, 10.0, 10.0]), lo=0.0, hi=10.0, g=0)
    (3, 5, 5)
    """
    s1, m1 = fixedpoint.fixed_sum(values, fixedpoint.Clamp(lo, hi, center=True), g=g)
    return int(values.shape[0]), s1, m1


def exact_moments(
    values: NDArray[np.float64], *, lo: float, hi: float, g1: int, g2: int
) -> tuple[int, int, int, int, int]:
    """Return (count, Σ y, Σ y², max |y|, max y²) of the clamped, centered values.

    ``y = x - (lo+hi)/2``; ``Σ y`` in steps of ``2**-g1`` (bounds ``±(hi-lo)/2``), ``Σ y²``
    in steps of ``2**-g2`` (bounds ``[0, ((hi-lo)/2)²]``); all exact integers.

    Examples
    --------
    >>> exact_moments(np.array([0.0, 10.0]), lo=0.0, hi=10.0, g1=0, g2=0)
    (2, 0, 50, 5, 25)
    """
    s1, m1 = fixedpoint.fixed_sum(values, fixedpoint.Clamp(lo, hi, center=True), g=g1)
    s2, m2 = fixedpoint.fixed_sum(values, fixedpoint.Clamp(lo, hi, center=True, square=True), g=g2)
    return int(values.shape[0]), s1, s2, m1, m2


def exact_group_counts(groups: NDArray[np.int64], *, n_groups: int) -> NDArray[np.int64]:
    """Return the number of rows in each group ``0 … n_groups-1``.

    Examples
    --------
    >>> exact_group_counts(np.array([0, 2, 2]), n_groups=3).tolist()
    [1, 0, 2]
    """
    return np.bincount(groups, minlength=n_groups).astype(np.int64)


def exact_group_sums(
    values: NDArray[np.float64],
    groups: NDArray[np.int64],
    *,
    lo: float,
    hi: float,
    g: int,
    n_groups: int,
    center: bool = False,
) -> tuple[list[int], int]:
    """Return each group's exact fixed-point sum (grid steps), and the per-row bound.

    With ``center``, the values are ``clip(x) - (lo+hi)/2`` (bounds ``±(hi-lo)/2``).

    Examples
    --------
    >>> exact_group_sums(np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0]), lo=0.0, hi=5.0,
    ...     g=0, n_groups=2)
    ([3, 3], 5)
    """
    clamp = fixedpoint.Clamp(lo, hi, center=center)
    return fixedpoint.fixed_group_sums(values, groups, clamp, g=g, n_groups=n_groups)


# -- noise helpers ---------------------------------------------------------------------------


def _alpha(confidence: float) -> float:
    return 1.0 - confidence


def _noisy(
    exact: Sequence[int] | NDArray[np.int64], sensitivity: int, epsilon: float, rng: SecureRandom
) -> list[int]:
    return add_discrete_laplace(exact, sensitivity=sensitivity, epsilon=epsilon, rng=rng)[0]


def _steps(x: int, g: int) -> float:
    """``x · 2**-g`` as a float (post-processing of an exact integer)."""
    return math.ldexp(float(x), -g) if abs(x) < (1 << 1000) else math.inf


# -- releases --------------------------------------------------------------------------------


def release_count(
    count: int, *, max_rows: int, epsilon: float, rng: SecureRandom, confidence: float
) -> Released:
    """Release a row count with discrete Laplace noise of scale ``R/ε`` (sensitivity R)."""
    t = scale_for(sensitivity=max_rows, epsilon=epsilon)
    noisy = _noisy([count], max_rows, epsilon, rng)[0]
    half = discrete_laplace_halfwidth(t, alpha=_alpha(confidence))
    return Released(
        value=float(noisy),
        ci=(float(noisy - half), float(noisy + half)),
        noise_scale=float(t),
        noise_std=discrete_laplace_std(t),
        mechanism="discrete Laplace",
        details={"sensitivity": max_rows, "scale": str(t)},
    )


def release_sum(
    values: NDArray[np.float64],
    *,
    lo: float,
    hi: float,
    max_rows: int,
    epsilon: float,
    rng: SecureRandom,
    confidence: float,
) -> Released:
    """Release a bounded sum: fixed-point exact sum + discrete Laplace (module docstring)."""
    g = fixedpoint.choose_grid(bound=max(abs(lo), abs(hi)), max_rows=max_rows, epsilon=epsilon)
    total, max_abs = exact_sum(values, lo=lo, hi=hi, g=g)
    sens = max_rows * max_abs
    t = scale_for(sensitivity=sens, epsilon=epsilon)
    noisy = _noisy([total], sens, epsilon, rng)[0]
    half = discrete_laplace_halfwidth(t, alpha=_alpha(confidence))
    return Released(
        value=_steps(noisy, g),
        ci=(_steps(noisy - half, g), _steps(noisy + half, g)),
        noise_scale=math.ldexp(float(t), -g),
        noise_std=math.ldexp(discrete_laplace_std(t), -g),
        mechanism="fixed-point sum + discrete Laplace",
        details={"grid_exponent": g, "sensitivity_steps": sens, "max_rows_per_unit": max_rows},
    )


def _ratio_interval(s: int, c: int, hs: int, hc: int, g: int, lo: float, hi: float) -> Interval:
    """Range of ``mid + (s ± hs)·2**-g / (c ± hc)`` clamped to [lo, hi]."""
    if c - hc < 1:
        return (lo, hi)
    mid = 0.5 * lo + 0.5 * hi
    corners = [mid + _steps(a, g) / b for a in (s - hs, s + hs) for b in (c - hc, c + hc)]
    return (max(lo, min(corners)), min(hi, max(corners)))


def _mean_from(s: int, c: int, g: int, lo: float, hi: float) -> float:
    mid = 0.5 * lo + 0.5 * hi
    if c < 1:
        return mid
    return min(hi, max(lo, mid + _steps(s, g) / c))


def release_mean(
    values: NDArray[np.float64],
    *,
    lo: float,
    hi: float,
    max_rows: int,
    epsilon: float,
    rng: SecureRandom,
    confidence: float,
) -> Released:
    """Release a bounded mean: noisy centered sum / noisy count, ε/2 each.

    Values are shifted by the bounds' midpoint, so the sum's sensitivity is
    ``R·(hi-lo)/2`` rather than ``R·max(|lo|, |hi|)``. A noisy count below 1 gives the
    midpoint; the mean is clamped to the bounds (post-processing). The interval covers the
    pre-noise mean with probability ``confidence`` (union bound over the two noises,
    interval arithmetic on the ratio).
    """
    half_width = 0.5 * hi - 0.5 * lo
    eps = epsilon / 2.0
    g = fixedpoint.choose_grid(bound=half_width, max_rows=max_rows, epsilon=eps)
    count, s1, max_abs = exact_centered_sum(values, lo=lo, hi=hi, g=g)
    ts = scale_for(sensitivity=max_rows * max_abs, epsilon=eps)
    tc = scale_for(sensitivity=max_rows, epsilon=eps)
    noisy_s = _noisy([s1], max_rows * max_abs, eps, rng)[0]
    noisy_c = _noisy([count], max_rows, eps, rng)[0]
    alpha = _alpha(confidence) / 2.0
    hs = discrete_laplace_halfwidth(ts, alpha=alpha)
    hc = discrete_laplace_halfwidth(tc, alpha=alpha)
    return Released(
        value=_mean_from(noisy_s, noisy_c, g, lo, hi),
        ci=_ratio_interval(noisy_s, noisy_c, hs, hc, g, lo, hi),
        noise_scale=math.ldexp(float(ts), -g),
        noise_std=None,
        mechanism="noisy centered sum / noisy count (discrete Laplace, ε/2 each)",
        details={
            "grid_exponent": g,
            "sum_scale": math.ldexp(float(ts), -g),
            "count_scale": float(tc),
            "max_rows_per_unit": max_rows,
        },
    )


def release_variance(
    values: NDArray[np.float64],
    *,
    lo: float,
    hi: float,
    max_rows: int,
    epsilon: float,
    rng: SecureRandom,
    confidence: float,
) -> Released:
    """Release a bounded variance from noisy count, Σy and Σy² (ε/3 each), y centered.

    ``var = Σy²/n - (Σy/n)²`` on the noisy moments, clamped to ``[0, ((hi-lo)/2)²]``
    (population variance, post-processing). The interval is the range of that formula over
    the three noises' ``confidence`` boxes (union bound).
    """
    half_width = 0.5 * hi - 0.5 * lo
    eps = epsilon / 3.0
    g1 = fixedpoint.choose_grid(bound=half_width, max_rows=max_rows, epsilon=eps)
    g2 = fixedpoint.choose_grid(bound=half_width * half_width, max_rows=max_rows, epsilon=eps)
    count, s1, s2, m1, m2 = exact_moments(values, lo=lo, hi=hi, g1=g1, g2=g2)
    t1 = scale_for(sensitivity=max_rows * m1, epsilon=eps)
    t2 = scale_for(sensitivity=max_rows * m2, epsilon=eps)
    tc = scale_for(sensitivity=max_rows, epsilon=eps)
    n1 = _noisy([s1], max_rows * m1, eps, rng)[0]
    n2 = _noisy([s2], max_rows * m2, eps, rng)[0]
    nc = _noisy([count], max_rows, eps, rng)[0]
    cap = half_width * half_width

    def var(a: int, b: int, c: int) -> float:
        if c < 1:
            return 0.0
        mean = _steps(a, g1) / c
        return min(cap, max(0.0, _steps(b, g2) / c - mean * mean))

    alpha = _alpha(confidence) / 3.0
    h1 = discrete_laplace_halfwidth(t1, alpha=alpha)
    h2 = discrete_laplace_halfwidth(t2, alpha=alpha)
    hc = discrete_laplace_halfwidth(tc, alpha=alpha)
    if nc - hc < 1:
        ci: Interval = (0.0, cap)
    else:
        # E[y²] is monotone in Σy² and in 1/n; (Σy/n)² is largest at the extreme |Σy|.
        lo_sq = _steps(n2 - h2, g2) / (nc + hc)
        hi_sq = _steps(n2 + h2, g2) / (nc - hc)
        a_lo, a_hi = _steps(n1 - h1, g1), _steps(n1 + h1, g1)
        m_abs_max = max(abs(a_lo), abs(a_hi)) / (nc - hc)
        m_abs_min = 0.0 if a_lo <= 0 <= a_hi else min(abs(a_lo), abs(a_hi)) / (nc + hc)
        ci = (
            min(cap, max(0.0, lo_sq - m_abs_max * m_abs_max)),
            min(cap, max(0.0, hi_sq - m_abs_min * m_abs_min)),
        )
    return Released(
        value=var(n1, n2, nc),
        ci=ci,
        noise_scale=math.ldexp(float(t2), -g2),
        noise_std=None,
        mechanism="noisy moments (discrete Laplace, ε/3 each)",
        details={
            "grid_exponents": [g1, g2],
            "count_scale": float(tc),
            "max_rows_per_unit": max_rows,
        },
    )


QUANTILE_GRID_BITS = 16
"""The quantile's candidates are the ``2**16 + 1`` points ``lo + j·(hi-lo)/2**16``."""


def quantile_scores(
    values: NDArray[np.float64], *, q: float, lo: float, hi: float, bits: int = QUANTILE_GRID_BITS
) -> NDArray[np.float64]:
    """Return the utility of each candidate point of the public grid (the exact statistic).

    Candidate ``c_j = lo + j·(hi-lo)/K`` (``K = 2**bits``, j = 0 … K) scores
    ``-|below_j - q·n|``, where ``below_j`` counts the rows in the cells left of ``c_j`` (a
    row's cell is ``floor((clip(x) - lo)·K/(hi-lo))``, a per-row map). Adding one row moves
    every ``below_j`` by at most 1 and ``q·n`` by ``q``: with ``R`` rows per unit, every
    score moves by at most ``R·max(q, 1-q) <= R``.

    Examples
    --------
    >>> quantile_scores(np.array([1.0, 2.0, 3.0]), q=0.5, lo=0.0, hi=4.0, bits=2).tolist()
    [-1.5, -1.5, -0.5, -0.5, -1.5]
    """
    k = 1 << bits
    n = values.shape[0]
    cells = np.clip(values, lo, hi)
    cells -= lo
    cells *= k / (hi - lo)
    idx = np.minimum(cells.astype(np.int64), k - 1)
    below = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(idx, minlength=k), out=below[1:])
    scores: NDArray[np.float64] = -np.abs(below.astype(np.float64) - q * n)
    return scores


def release_quantile(
    values: NDArray[np.float64],
    *,
    q: float,
    lo: float,
    hi: float,
    max_rows: int,
    epsilon: float,
    rng: SecureRandom,
) -> Released:
    """Release a DP ``q``-quantile by the exponential mechanism over the data's ranks.

    Smith 2011 ("Privacy-preserving statistical estimation with optimal convergence
    rates", STOC 2011) picks a point of ``[lo, hi]`` with density ∝ ``exp(ε·u(y)/(2Δ))``,
    ``u(y) = -|#{x < y} - q·n|``: the exponential mechanism (McSherry & Talwar 2007) over
    the sorted data, whose intervals between consecutive values carry the same utility
    (see also Gillenwater, Joseph, Kulesza 2021, "Differentially private quantiles", ICML
    2021). privet runs it on the public grid of :func:`quantile_scores`
    (resolution ``(hi-lo)/2**16``), which lets the exact sampler of
    :func:`privet.dp.selection.exponential_release` draw it: no float probability decides
    the outcome (Ilvento 2020), so the release is ε-DP as stated. Utility sensitivity: R.
    The result has no interval (``ci`` is None); ``noise_scale`` is ``2R/ε``, in ranks.
    """
    scores = quantile_scores(values, q=q, lo=lo, hi=hi)
    k = scores.shape[0] - 1
    rel = exponential_release(scores, sensitivity=float(max_rows), epsilon=epsilon, rng=rng)
    j = int(rel.value)
    value = hi if j == k else lo + (hi - lo) * (j / k)
    return Released(
        value=float(min(max(value, lo), hi)),
        ci=None,
        noise_scale=2.0 * max_rows / epsilon,
        noise_std=None,
        mechanism="exponential mechanism over ranks (Smith 2011), exact sampler",
        details={
            "rank_scale": 2.0 * max_rows / epsilon,
            "resolution": (hi - lo) / k,
            "max_rows_per_unit": max_rows,
            "epsilon_met": rel.epsilon,
        },
    )


def _select_or_all(
    exact_counts: NDArray[np.int64],
    present: NDArray[np.bool_] | None,
    *,
    sensitivity: int,
    epsilon: float,
    rng: SecureRandom,
    delta: float,
    max_partitions: int,
    max_count: int,
) -> tuple[list[int], NDArray[np.bool_], int | None]:
    """Noisy counts, the mask of keys released, and the threshold (None: public keys)."""
    scale = scale_for(sensitivity=sensitivity, epsilon=epsilon)
    noisy = _noisy(exact_counts, sensitivity, epsilon, rng)
    if present is None:
        return noisy, np.ones(len(noisy), dtype=bool), None
    thr = partition.threshold(
        scale=scale, delta=delta, max_partitions=max_partitions, max_count=max_count
    )
    keep = present & partition.select(np.asarray(noisy, dtype=np.int64), threshold=thr)
    return noisy, keep, thr


def release_group_counts(
    groups: NDArray[np.int64],
    keys: Sequence[Hashable],
    *,
    l1: int,
    max_partitions: int,
    max_count: int,
    epsilon: float,
    delta: float,
    public: bool,
    rng: SecureRandom,
    confidence: float,
) -> Released:
    """Release per-key counts; with private keys, only those above the DP threshold.

    ``groups`` holds each bounded row's key index into ``keys``. With ``public=False``,
    ``keys`` are the keys present in the data and :mod:`privet.dp.partition` decides which
    are released (the same noisy counts serve both).
    """
    counts = exact_group_counts(groups, n_groups=len(keys))
    t = scale_for(sensitivity=l1, epsilon=epsilon)
    present = None if public else counts > 0
    noisy, keep, thr = _select_or_all(
        counts,
        present,
        sensitivity=l1,
        epsilon=epsilon,
        rng=rng,
        delta=delta,
        max_partitions=max_partitions,
        max_count=max_count,
    )
    half = discrete_laplace_halfwidth(t, alpha=_alpha(confidence))
    idx = np.flatnonzero(keep).tolist()
    details: dict[str, Any] = {"sensitivity": l1, "scale": str(t)}
    if thr is not None:
        details["threshold"] = thr
    return Released(
        value={keys[i]: float(noisy[i]) for i in idx},
        ci={keys[i]: (float(noisy[i] - half), float(noisy[i] + half)) for i in idx},
        noise_scale=float(t),
        noise_std=discrete_laplace_std(t),
        mechanism="discrete Laplace" + ("" if public else " + thresholding (partition selection)"),
        details=details,
    )


def release_group_sums(
    values: NDArray[np.float64],
    groups: NDArray[np.int64],
    keys: Sequence[Hashable],
    *,
    lo: float,
    hi: float,
    l1_rows: int,
    max_partitions: int,
    max_count: int,
    epsilon: float,
    delta: float,
    public: bool,
    rng: SecureRandom,
    confidence: float,
) -> Released:
    """Release per-key bounded sums (fixed point + discrete Laplace).

    ``l1_rows`` is the most rows one unit keeps over all groups (``k·m``). With private
    keys, half of ε selects the keys (thresholded noisy row counts, :mod:`partition`) and
    half goes to the sums of the selected keys.
    """
    eps = epsilon if public else epsilon / 2.0
    g = fixedpoint.choose_grid(bound=max(abs(lo), abs(hi)), max_rows=l1_rows, epsilon=eps)
    sums, max_abs = exact_group_sums(values, groups, lo=lo, hi=hi, g=g, n_groups=len(keys))
    t = scale_for(sensitivity=l1_rows * max_abs, epsilon=eps)
    if public:
        keep = np.ones(len(keys), dtype=bool)
        thr = None
    else:
        counts = exact_group_counts(groups, n_groups=len(keys))
        _, keep, thr = _select_or_all(
            counts,
            counts > 0,
            sensitivity=l1_rows,
            epsilon=eps,
            rng=rng,
            delta=delta,
            max_partitions=max_partitions,
            max_count=max_count,
        )
    noisy = _noisy(sums, l1_rows * max_abs, eps, rng)
    half = discrete_laplace_halfwidth(t, alpha=_alpha(confidence))
    idx = np.flatnonzero(keep).tolist()
    details: dict[str, Any] = {"grid_exponent": g, "sensitivity_steps": l1_rows * max_abs}
    if thr is not None:
        details["threshold"] = thr
    return Released(
        value={keys[i]: _steps(noisy[i], g) for i in idx},
        ci={keys[i]: (_steps(noisy[i] - half, g), _steps(noisy[i] + half, g)) for i in idx},
        noise_scale=math.ldexp(float(t), -g),
        noise_std=math.ldexp(discrete_laplace_std(t), -g),
        mechanism="fixed-point sums + discrete Laplace"
        + ("" if public else " (ε/2 partition selection)"),
        details=details,
    )


def release_group_means(
    values: NDArray[np.float64],
    groups: NDArray[np.int64],
    keys: Sequence[Hashable],
    *,
    lo: float,
    hi: float,
    l1_rows: int,
    max_partitions: int,
    max_count: int,
    epsilon: float,
    delta: float,
    public: bool,
    rng: SecureRandom,
    confidence: float,
) -> Released:
    """Release per-key bounded means: noisy centered sums / noisy counts, ε/2 each.

    With private keys the noisy counts also select the keys (thresholding, δ).
    """
    eps = epsilon / 2.0
    half_width = 0.5 * hi - 0.5 * lo
    g = fixedpoint.choose_grid(bound=half_width, max_rows=l1_rows, epsilon=eps)
    sums, max_abs = exact_group_sums(
        values, groups, lo=lo, hi=hi, g=g, n_groups=len(keys), center=True
    )
    counts = exact_group_counts(groups, n_groups=len(keys))
    ts = scale_for(sensitivity=l1_rows * max_abs, epsilon=eps)
    tc = scale_for(sensitivity=l1_rows, epsilon=eps)
    noisy_c, keep, thr = _select_or_all(
        counts,
        None if public else counts > 0,
        sensitivity=l1_rows,
        epsilon=eps,
        rng=rng,
        delta=delta,
        max_partitions=max_partitions,
        max_count=max_count,
    )
    noisy_s = _noisy(sums, l1_rows * max_abs, eps, rng)
    alpha = _alpha(confidence) / 2.0
    hs = discrete_laplace_halfwidth(ts, alpha=alpha)
    hc = discrete_laplace_halfwidth(tc, alpha=alpha)
    idx = np.flatnonzero(keep).tolist()
    details: dict[str, Any] = {
        "grid_exponent": g,
        "sum_scale": math.ldexp(float(ts), -g),
        "count_scale": float(tc),
    }
    if thr is not None:
        details["threshold"] = thr
    return Released(
        value={keys[i]: _mean_from(noisy_s[i], noisy_c[i], g, lo, hi) for i in idx},
        ci={keys[i]: _ratio_interval(noisy_s[i], noisy_c[i], hs, hc, g, lo, hi) for i in idx},
        noise_scale=math.ldexp(float(ts), -g),
        noise_std=None,
        mechanism="noisy centered sums / noisy counts (discrete Laplace, ε/2 each)"
        + ("" if public else ", counts thresholded"),
        details=details,
    )
