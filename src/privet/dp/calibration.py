"""Noise calibration for the Gaussian mechanisms: σ for a target (ε, δ), exactly where it can be.

Three questions, three sources:

* :func:`gaussian_noise_multiplier` — σ/Δ of the *continuous* Gaussian mechanism at (ε, δ),
  by the analytic Gaussian mechanism (Balle & Wang 2018, "Improving the Gaussian mechanism
  for differential privacy: analytical calibration and optimal denoising", ICML 2018,
  arXiv:1805.06530, Theorem 8), computed by ``dp_accounting.gaussian_mechanism``. privet
  uses it only as a starting guess: the mechanisms add *discrete* Gaussian noise.
* :func:`discrete_gaussian_delta` and :func:`calibrate_discrete_gaussian` — the exact δ(ε)
  of adding N_Z(0, σ²) to an integer query of sensitivity Δ (Canonne, Kamath, Steinke 2020,
  "The discrete Gaussian for differential privacy", NeurIPS 2020, arXiv:2004.00010,
  Theorem 7 in v3), and the smallest integer σ² that meets a target (ε, δ).
* :func:`zcdp_rho` — the largest ρ whose ρ-zCDP implies (ε, δ)-DP, by the conversion of
  CKS20 Proposition 12 (in v4), computed by ``dp_accounting``'s RDP conversion. It
  calibrates *vector* discrete Gaussian noise, whose privacy privet derives from zCDP (see
  :func:`privet.dp.mechanisms.gaussian`).

Every result is cached: the mechanisms call these on every release.

Examples
--------
>>> s2 = calibrate_discrete_gaussian(epsilon=1.0, delta=1e-5, sensitivity=1)
>>> discrete_gaussian_delta(1.0, sigma_squared=s2, sensitivity=1) <= 1e-5
True
>>> discrete_gaussian_delta(1.0, sigma_squared=s2 - 1, sensitivity=1) > 1e-5
True
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Final

import numpy as np
from dp_accounting import gaussian_mechanism
from dp_accounting.rdp import rdp_privacy_accountant

from privet.core.checks import check_delta, check_epsilon, check_int
from privet.core.errors import ParameterError

__all__ = [
    "calibrate_discrete_gaussian",
    "discrete_gaussian_delta",
    "gaussian_noise_multiplier",
    "zcdp_epsilon",
    "zcdp_rho",
]

_SAFETY: Final = 1.0 - 1e-9
"""Calibrations aim at δ·(1 - 1e-9): the float sums of :func:`discrete_gaussian_delta` are
accurate to about 1e-13 relative, so the margin keeps the exact δ below the target."""

_TAIL_SIGMAS: Final = 40
"""Terms beyond 40σ of the mode weigh below exp(-800): they underflow to 0 in float64."""

_MAX_CALIBRATED_SIGMA_SQUARED: Final = 1 << 34
"""Calibration stops here (σ = 2^17, well past the exact sampler's σ ≈ 2^15): the δ sums
grow with σ."""

_ZCDP_ORDERS: Final = tuple(
    float(a) for a in np.concatenate([1.0 + np.geomspace(1e-3, 1e4, 600), [1.01, 1.5, 2.0]])
)
"""A dense grid of Rényi orders: any order gives a valid conversion, so density only helps."""


def _check_positive_delta(delta: object) -> float:
    out = check_delta(delta)
    if out == 0.0:
        raise ParameterError(
            "delta must be > 0 for the Gaussian mechanism, got 0.0; pass a small delta such "
            "as 1e-6, or use the Laplace mechanism for pure ε-DP"
        )
    return out


@functools.lru_cache(maxsize=256)
def gaussian_noise_multiplier(epsilon: float, delta: float) -> float:
    """Return σ/Δ of the continuous Gaussian mechanism that is exactly (ε, δ)-DP.

    The analytic Gaussian mechanism (Balle & Wang 2018, arXiv:1805.06530, Theorem 8):
    the smallest σ with Φ(Δ/(2σ) − εσ/Δ) − e^ε Φ(−Δ/(2σ) − εσ/Δ) ≤ δ, computed by
    ``dp_accounting.gaussian_mechanism.get_sigma_gaussian``.

    Parameters
    ----------
    epsilon : float
        ε > 0.
    delta : float
        δ in (0, 1).

    Returns
    -------
    float
        The noise multiplier σ/Δ.

    Examples
    --------
    >>> round(gaussian_noise_multiplier(1.0, 1e-5), 3)
    3.731
    """
    eps = check_epsilon(epsilon)
    dlt = _check_positive_delta(delta)
    return float(gaussian_mechanism.get_sigma_gaussian(eps, dlt))


def _weights(sigma_squared: int, upto: int) -> np.ndarray:
    """``exp(-z²/(2σ²))`` for z = 0 … ``upto`` (float64; z² is exact below 2**53)."""
    z = np.arange(upto + 1, dtype=np.float64)
    out: np.ndarray = np.exp(-(z * z) / (2.0 * sigma_squared))
    return out


@functools.lru_cache(maxsize=1024)
def discrete_gaussian_delta(epsilon: float, *, sigma_squared: int, sensitivity: int) -> float:
    """Return the exact δ at which adding N_Z(0, σ²) to a Δ-sensitive integer query is (ε, δ)-DP.

    Canonne, Kamath, Steinke 2020 (arXiv:2004.00010), Theorem 7 (in v3): with
    Y ~ N_Z(0, σ²),

        δ = P[Y ≥ a] − e^ε·P[Y ≥ b],  a = ⌊εσ²/Δ − Δ/2⌋ + 1,  b = ⌊εσ²/Δ + Δ/2⌋ + 1,

    evaluated here as P[a ≤ Y < b] − (e^ε − 1)·P[Y ≥ b] (less cancellation). The
    thresholds are computed exactly in rational arithmetic; the probabilities are float64
    sums over the integers within 40σ of 0 (the rest weighs below e^-800 and underflows).

    Parameters
    ----------
    epsilon : float
        ε ≥ 0.
    sigma_squared : int
        σ² ≥ 1, an integer (the σ² privet's sampler is given).
    sensitivity : int
        The integer sensitivity Δ ≥ 1.

    Returns
    -------
    float
        δ in [0, 1].

    Examples
    --------
    >>> f"{discrete_gaussian_delta(1.0, sigma_squared=16, sensitivity=1):.4e}"
    '3.0555e-06'
    """
    eps = float(epsilon)
    if not (math.isfinite(eps) and eps >= 0.0):
        raise ParameterError(f"epsilon must be a finite number >= 0, got {eps!r}")
    s2 = check_int(sigma_squared, name="sigma_squared", minimum=1)
    sens = check_int(sensitivity, name="sensitivity", minimum=1)
    if s2 > _MAX_CALIBRATED_SIGMA_SQUARED:
        raise ParameterError(
            f"sigma_squared must be at most 2**34 here (the sums grow with σ), got {s2}"
        )
    centre = Fraction(eps) * s2 / sens
    a = math.floor(centre - Fraction(sens, 2)) + 1
    b = math.floor(centre + Fraction(sens, 2)) + 1
    sigma = math.sqrt(s2)
    span = math.ceil(_TAIL_SIGMAS * sigma) + 2
    w = _weights(s2, span)  # beyond 40σ every weight underflows to 0
    norm = float(w[0] + 2.0 * w[1:].sum())

    def upper(m: int) -> float:  # Σ_{z ≥ m} w(z), by symmetry for m ≤ 0
        if m > span:
            return 0.0
        if m >= 1:
            return float(w[m:].sum())
        return norm - upper(1 - m)

    tail = upper(b)
    between = upper(a) - tail  # Σ_{a ≤ z < b}
    if tail == 0.0:
        out = between / norm
    elif eps > 700.0:  # e^ε·P[Y ≥ b] > P[a ≤ Y < b]: the hockey-stick divergence is 0
        out = 0.0
    else:
        out = (between - math.expm1(eps) * tail) / norm
    return min(1.0, max(0.0, out))


@functools.lru_cache(maxsize=256)
def calibrate_discrete_gaussian(*, epsilon: float, delta: float, sensitivity: int) -> int:
    """Return the smallest integer σ² with :func:`discrete_gaussian_delta` ≤ δ (at ε).

    Starts from the analytic continuous σ (:func:`gaussian_noise_multiplier`) and bisects
    on the integers. The exact δ of CKS20 Theorem 7 (in v3) is not always monotone in σ²
    (its thresholds move in integer steps), so the result is the smallest integer the
    bisection meets whose δ is within the target; that one is *verified*, which is all the
    privacy guarantee needs.

    Parameters
    ----------
    epsilon : float
        ε > 0.
    delta : float
        δ in (0, 1).
    sensitivity : int
        The integer sensitivity Δ ≥ 1.

    Returns
    -------
    int
        σ², an integer ≥ 1.

    Raises
    ------
    ParameterError
        If ε or δ is out of range, or the σ² needed exceeds 2**34.

    Examples
    --------
    >>> calibrate_discrete_gaussian(epsilon=1.0, delta=1e-5, sensitivity=1)
    14
    """
    eps = check_epsilon(epsilon)
    dlt = _check_positive_delta(delta)
    sens = check_int(sensitivity, name="sensitivity", minimum=1)
    target = dlt * _SAFETY

    def ok(s2: int) -> bool:
        return discrete_gaussian_delta(eps, sigma_squared=s2, sensitivity=sens) <= target

    too_large = ParameterError(
        f"the discrete Gaussian would need σ² > 2**34 for epsilon={eps!r}, delta={dlt!r}, "
        f"sensitivity={sens}, beyond the exact sampler; pass a larger epsilon or delta"
    )
    guess = gaussian_noise_multiplier(eps, dlt) * sens
    hi = max(1, math.ceil((guess * 1.01 + 1.0) ** 2))
    if hi > _MAX_CALIBRATED_SIGMA_SQUARED:
        raise too_large
    while not ok(hi):
        hi *= 2
        if hi > _MAX_CALIBRATED_SIGMA_SQUARED:
            raise too_large
    lo = max(0, math.floor((guess * 0.99) ** 2) - 1)
    while lo > 0 and ok(lo):
        lo //= 2
    # invariant: ok(hi), and lo == 0 or not ok(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


@functools.lru_cache(maxsize=256)
def zcdp_epsilon(rho: float, delta: float) -> float:
    """Return the ε at δ that ρ-zCDP implies.

    ρ-zCDP bounds the Rényi divergence of every order α by αρ; the conversion at each order
    is CKS20 (arXiv:2004.00010) Proposition 12 (in v4), minimised over a dense grid of
    orders by ``dp_accounting.rdp.rdp_privacy_accountant.compute_epsilon``. Any order gives
    a valid bound, so a grid is never optimistic.

    Parameters
    ----------
    rho : float
        ρ > 0.
    delta : float
        δ in (0, 1).

    Returns
    -------
    float
        ε ≥ 0.

    Examples
    --------
    >>> round(zcdp_epsilon(0.5 / 25.0, 1e-5), 3)  # σ/Δ = 5
    0.794
    """
    r = float(rho)
    if not (math.isfinite(r) and r > 0):
        raise ParameterError(f"rho must be a finite number > 0, got {r!r}")
    dlt = _check_positive_delta(delta)
    orders = list(_ZCDP_ORDERS)
    eps, _ = rdp_privacy_accountant.compute_epsilon(orders, [a * r for a in orders], dlt)
    return float(eps)


def zcdp_sigma_squared(
    epsilon: float, delta: float, *, sensitivity: int, rho: float
) -> tuple[int, float]:
    """Return the integer σ² giving ρ-zCDP at L2-sensitivity Δ, and the ε it converts to.

    N_Z(0, σ²) noise on each coordinate of an integer vector of L2-sensitivity Δ is
    Δ²/(2σ²)-zCDP (CKS20, arXiv:2004.00010, Theorem 4 in v4, per coordinate; Rényi
    divergences of product laws add up). σ² = ⌈Δ²/(2ρ)⌉ (at least 1) is the smallest integer
    meeting ``rho`` (usually ``zcdp_rho(epsilon, delta)``); the ε returned is that of the ρ
    met at ``delta`` (CKS20 Proposition 12 in v4), never above ``epsilon``.
    """
    s2 = max(1, math.ceil(Fraction(sensitivity**2) / (2 * Fraction(rho))))
    return s2, min(epsilon, zcdp_epsilon(sensitivity**2 / (2.0 * s2), delta))


@functools.lru_cache(maxsize=256)
def zcdp_rho(epsilon: float, delta: float) -> float:
    """Return (a hair below) the largest ρ such that ρ-zCDP implies (ε, δ)-DP.

    Bisection on ρ over :func:`zcdp_epsilon`, which increases with ρ; the value returned
    satisfies ``zcdp_epsilon(rho, delta) <= epsilon``.

    Parameters
    ----------
    epsilon : float
        ε > 0.
    delta : float
        δ in (0, 1).

    Returns
    -------
    float
        ρ > 0.

    Examples
    --------
    >>> rho = zcdp_rho(1.0, 1e-5)
    >>> zcdp_epsilon(rho, 1e-5) <= 1.0
    True
    """
    eps = check_epsilon(epsilon)
    dlt = _check_positive_delta(delta)
    lo, hi = 0.0, eps  # ρ-zCDP implies (ρ + 2√(ρ ln 1/δ), δ): ρ ≤ ε is necessary
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if zcdp_epsilon(mid, dlt) <= eps:
            lo = mid
        else:
            hi = mid
    if lo <= 0.0:
        raise ParameterError(
            f"no ρ > 0 meets epsilon={eps!r} at delta={dlt!r}; pass a larger epsilon or delta"
        )
    return lo
