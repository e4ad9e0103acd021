"""Discrete Laplace and discrete Gaussian mechanisms on integers (counts, fixed-point sums).

Integer queries need no grid: the noise is an exact integer sample (Canonne, Kamath,
Steinke 2020, "The discrete Gaussian for differential privacy", NeurIPS 2020,
arXiv:2004.00010, Algorithms 2 and 3, run by :class:`~privet.core.random.SecureRandom`), and
the answer is the exact integer sum. Floats are refused, never silently rounded: rounding is
a decision about sensitivity (see :func:`privet.dp.mechanisms.laplace`, which makes it).

* :func:`discrete_laplace` — P(z) ∝ exp(−|z|/t), t = Δ/ε: ε-DP for L1-sensitivity Δ.
* :func:`discrete_gaussian` — N_Z(0, σ²), σ² calibrated to (ε, δ) exactly (CKS20 Theorem 7
  in v3 for one value; zCDP for vectors), or given as ``sigma``.

Both charge the budget before drawing, and return the input's type: a Python ``int`` for an
integer (of any size; the sum is exact), an ``int64`` array for an integer array.

Examples
--------
>>> from privet.core.random import SecureRandom
>>> rng = SecureRandom.seeded(5)
>>> isinstance(discrete_laplace(120, sensitivity=1, epsilon=1.0, rng=rng), int)
True
>>> discrete_gaussian(np.array([3, 4]), sensitivity=1, sigma=2.0, rng=rng).dtype.name
'int64'
"""

from __future__ import annotations

import functools
import math
import numbers
from fractions import Fraction
from typing import Any, Final, overload

import numpy as np
from numpy.typing import NDArray

from privet.accounting.chargeable import Chargeable, charge_budget
from privet.accounting.events import DiscreteGaussianEvent, DiscreteLaplaceEvent, PrivacyEvent
from privet.core.checks import check_epsilon, check_int, check_positive
from privet.core.errors import ParameterError, ParameterTypeError
from privet.core.random import SecureRandom
from privet.dp.calibration import (
    _check_positive_delta,
    calibrate_discrete_gaussian,
    discrete_gaussian_delta,
    gaussian_noise_multiplier,
    zcdp_epsilon,
    zcdp_rho,
    zcdp_sigma_squared,
)
from privet.dp.mechanisms import (
    Release,
    check_release_args,
    float_at_least,
    gaussian_noise_stats,
    laplace_noise_stats,
    round_up_scale,
    sigma_for_event,
)

__all__ = [
    "discrete_gaussian",
    "discrete_gaussian_release",
    "discrete_laplace",
    "discrete_laplace_release",
]

IntValue = int | np.integer[Any]
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_SAFE: Final = 1 << 62
_SAMPLER_LIMIT: Final = 1 << 61
_SIGMA_MAX: Final = 32_000.0


def as_int_values(value: object, *, name: str = "value") -> tuple[NDArray[np.int64] | int, bool]:
    """Return ``value`` as a Python int (scalar) or an int64 array; refuse floats and bools."""
    if isinstance(value, bool | np.bool_):
        raise ParameterTypeError(f"{name} must be an integer or an integer array, got a bool")
    if isinstance(value, numbers.Integral):
        return int(value), True
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind == "i":
            return value.astype(np.int64), False
        if kind == "u":
            if value.size and int(value.max()) > _INT64_MAX:
                raise ParameterError(
                    f"{name} has entries above 2**63 - 1, which int64 cannot hold; pass "
                    "smaller integers (or rescale them)"
                )
            return value.astype(np.int64), False
        raise ParameterTypeError(
            f"{name} must be an integer array, got dtype {value.dtype}; the discrete "
            "mechanisms add integer noise to integers: use privet.dp.laplace / gaussian for "
            "real values, or convert exactly with np.asarray(values, dtype=np.int64)"
        )
    if isinstance(value, numbers.Real):
        raise ParameterTypeError(
            f"{name} must be an integer, got {type(value).__name__}; the discrete mechanisms "
            "add integer noise to integers: use privet.dp.laplace / gaussian for real values"
        )
    raise ParameterTypeError(
        f"{name} must be an int or an integer numpy array, got {type(value).__name__}"
    )


def add_integer_noise(value: NDArray[np.int64] | int, noise: NDArray[np.int64]) -> Any:
    """Return ``value + noise`` exactly: a Python int, or int64 saturated at int64's ends.

    Saturation (only for entries beyond ±2^62) is a deterministic function of the exact
    integer sum: post-processing, so it costs no privacy.
    """
    if isinstance(value, int):
        return value + int(noise[0])
    out = value + noise  # exact wherever |value| <= 2^62 (|noise| < 2^62 always)
    for i in np.flatnonzero((value > _SAFE) | (value < -_SAFE)).tolist():
        exact = int(value[i]) + int(noise[i])
        out[i] = min(_INT64_MAX, max(_INT64_MIN, exact))
    return out


def _count(value: NDArray[np.int64] | int) -> int:
    return 1 if isinstance(value, int) else int(value.size)


def _integer_release(
    vals: NDArray[np.int64] | int,
    noise: NDArray[np.int64],
    stats: tuple[float, int],
    *,
    mechanism: str,
    event: PrivacyEvent,
    epsilon: float,
    delta: float,
    rho: float | None,
    sensitivity: int,
    noise_parameter: Fraction,
    charge: object | None,
    label: str,
) -> Release:
    """Add the flat integer ``noise`` to ``vals`` exactly and say how: the Release.

    ``stats`` is the noise law's (std, k95) (:func:`~privet.dp.mechanisms.laplace_noise_stats`,
    :func:`~privet.dp.mechanisms.gaussian_noise_stats`); the grid is the integers.
    """
    out = add_integer_noise(vals, noise if isinstance(vals, int) else noise.reshape(vals.shape))
    std, k95 = stats
    return Release(
        value=out,
        mechanism=mechanism,
        event=event,
        epsilon=epsilon,
        delta=delta,
        rho=rho,
        sensitivity=float(sensitivity),
        granularity=1.0,
        integer_sensitivity=sensitivity,
        noise_parameter=noise_parameter,
        noise_std=std,
        ci95=float(k95),
        charge=charge,
        label=label,
    )


# ---------------------------------------------------------------------------------------
# Discrete Laplace
# ---------------------------------------------------------------------------------------


@overload
def discrete_laplace(
    value: IntValue,
    *,
    sensitivity: int,
    epsilon: float,
    budget: Chargeable | None = ...,
    label: str = ...,
    rng: SecureRandom | None = ...,
) -> int: ...
@overload
def discrete_laplace(
    value: NDArray[Any],
    *,
    sensitivity: int,
    epsilon: float,
    budget: Chargeable | None = ...,
    label: str = ...,
    rng: SecureRandom | None = ...,
) -> NDArray[np.int64]: ...
def discrete_laplace(
    value: IntValue | NDArray[Any],
    *,
    sensitivity: int,
    epsilon: float,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> int | NDArray[np.int64]:
    """Return the integer ``value`` plus discrete Laplace noise: ε-DP for L1-sensitivity Δ.

    The value of :func:`discrete_laplace_release`; see there.

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> discrete_laplace(np.arange(3), sensitivity=1, epsilon=2.0,
    ...     rng=SecureRandom.seeded(0)).shape
    (3,)
    """
    return discrete_laplace_release(  # type: ignore[no-any-return]
        value, sensitivity=sensitivity, epsilon=epsilon, budget=budget, label=label, rng=rng
    ).value


def discrete_laplace_release(
    value: IntValue | NDArray[Any],
    *,
    sensitivity: int,
    epsilon: float,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> Release:
    """Release an integer (or integer array) with discrete Laplace noise, and say how.

    The geometric mechanism (Ghosh, Roughgarden, Sundararajan 2009, "Universally
    utility-maximizing privacy mechanisms", STOC 2009): add Z with P(Z = z) ∝ exp(−|z|/t)
    to each value, sampled exactly (CKS20, arXiv:2004.00010, Algorithm 2). For an integer
    query of L1-sensitivity Δ it is (Δ/t)-DP: the pmf ratio of two shifts is at most
    exp(‖k‖₁/t). privet takes t = Δ/ε, rounded *up* to a fraction with 48-bit terms (the
    sampler's range), so the guarantee met, ``Release.epsilon`` = Δ/t, is ≤ ε and equal
    to it up to a relative 2^-47. The event charged is ``DiscreteLaplaceEvent(epsilon=ε)``.

    Parameters
    ----------
    value : int or numpy.ndarray
        An integer (any size) or an integer array; floats are refused.
    sensitivity : int
        Δ ≥ 1: the L1-sensitivity, an integer.
    epsilon : float
        ε > 0.
    budget : Budget or None, default None
        Charged before any noise is drawn.
    label : str, default ""
        Stored with the charge.
    rng : SecureRandom or None, default None
        The generator; None makes a fresh OS-keyed one.

    Returns
    -------
    Release
        ``value`` is a Python int for an integer, an int64 array of the same shape for an
        array.

    Raises
    ------
    ParameterTypeError
        If ``value`` is a float or a float array, or ``sensitivity`` is not an integer.
    ParameterError
        If ε or Δ is out of range (Δ/ε above 2^48 too).
    BudgetExceededError
        If the budget cannot afford ε (nothing is drawn, nothing recorded).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> rel = discrete_laplace_release(10, sensitivity=1, epsilon=0.5,
    ...     rng=SecureRandom.seeded(0))
    >>> rel.noise_parameter, rel.epsilon, rel.event
    (Fraction(2, 1), 0.5, DiscreteLaplaceEvent(epsilon=0.5))
    """
    vals, _ = as_int_values(value)
    sens = check_int(sensitivity, name="sensitivity", minimum=1)
    eps = check_epsilon(epsilon)
    chosen, lab, gen = check_release_args(budget, label, rng)
    scale = round_up_scale(Fraction(sens) / Fraction(eps), what="discrete_laplace")
    event = DiscreteLaplaceEvent(epsilon=eps)
    record = charge_budget(chosen, event, label=lab)  # before any noise is drawn
    noise = gen.discrete_laplace(_count(vals), scale=scale)
    return _integer_release(
        vals,
        noise,
        laplace_noise_stats(scale),
        mechanism="discrete_laplace",
        event=event,
        epsilon=float_at_least(sens / scale),
        delta=0.0,
        rho=None,
        sensitivity=sens,
        noise_parameter=scale,
        charge=record,
        label=lab,
    )


# ---------------------------------------------------------------------------------------
# Discrete Gaussian
# ---------------------------------------------------------------------------------------


def _sampler_fits(sigma_squared: Fraction) -> bool:
    p, q = sigma_squared.numerator, sigma_squared.denominator
    t = math.isqrt(p // q) + 1
    return 2 * p * q * t * t < _SAMPLER_LIMIT


def _sigma_squared_from_sigma(sigma: float) -> Fraction:
    """σ² as the smallest dyadic fraction ≥ σ² that the exact sampler accepts."""
    exact = Fraction(sigma) ** 2
    if exact.denominator == 1 or _sampler_fits(exact):
        out = exact
    else:
        out = Fraction(math.ceil(exact))
        for k in range(40, 0, -1):
            cand = Fraction(-((-exact.numerator << k) // exact.denominator), 1 << k)
            if _sampler_fits(cand):
                out = cand
                break
    if not _sampler_fits(out):
        raise ParameterError(
            f"discrete_gaussian: sigma={sigma!r} is beyond the exact sampler (σ up to about "
            "32 000); pass a smaller sigma, or scale the integers down"
        )
    return out


@functools.lru_cache(maxsize=512)
def _calibrated(epsilon: float, delta: float, sensitivity: int, vector: bool) -> tuple[int, float]:
    """(σ², the ε met) for (ε, δ): CKS20 Theorem 7 for one value, zCDP for vectors."""
    if gaussian_noise_multiplier(epsilon, delta) * sensitivity > _SIGMA_MAX:
        raise ParameterError(
            f"discrete_gaussian: epsilon={epsilon!r}, delta={delta!r}, sensitivity="
            f"{sensitivity} need σ beyond the exact sampler (about 32 000); pass a larger "
            "epsilon or delta, or scale the integers down"
        )
    if not vector:
        return calibrate_discrete_gaussian(
            epsilon=epsilon, delta=delta, sensitivity=sensitivity
        ), epsilon
    return zcdp_sigma_squared(epsilon, delta, sensitivity=sensitivity, rho=zcdp_rho(epsilon, delta))


@overload
def discrete_gaussian(
    value: IntValue,
    *,
    sensitivity: int,
    epsilon: float | None = ...,
    delta: float | None = ...,
    sigma: float | None = ...,
    budget: Chargeable | None = ...,
    label: str = ...,
    rng: SecureRandom | None = ...,
) -> int: ...
@overload
def discrete_gaussian(
    value: NDArray[Any],
    *,
    sensitivity: int,
    epsilon: float | None = ...,
    delta: float | None = ...,
    sigma: float | None = ...,
    budget: Chargeable | None = ...,
    label: str = ...,
    rng: SecureRandom | None = ...,
) -> NDArray[np.int64]: ...
def discrete_gaussian(
    value: IntValue | NDArray[Any],
    *,
    sensitivity: int,
    epsilon: float | None = None,
    delta: float | None = None,
    sigma: float | None = None,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> int | NDArray[np.int64]:
    """Return the integer ``value`` plus discrete Gaussian noise.

    The value of :func:`discrete_gaussian_release`; see there.

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> out = discrete_gaussian(7, sensitivity=1, epsilon=1.0, delta=1e-6,
    ...     rng=SecureRandom.seeded(0))
    >>> isinstance(out, int)
    True
    """
    return discrete_gaussian_release(  # type: ignore[no-any-return]
        value,
        sensitivity=sensitivity,
        epsilon=epsilon,
        delta=delta,
        sigma=sigma,
        budget=budget,
        label=label,
        rng=rng,
    ).value


def discrete_gaussian_release(
    value: IntValue | NDArray[Any],
    *,
    sensitivity: int,
    epsilon: float | None = None,
    delta: float | None = None,
    sigma: float | None = None,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> Release:
    """Release an integer (or integer array) with discrete Gaussian noise, and say how.

    Adds N_Z(0, σ²) to each value (CKS20, arXiv:2004.00010, Algorithm 3, exact). Pass either
    ``epsilon`` and ``delta`` (σ² is calibrated) or ``sigma`` (optionally with ``delta``, to
    report an ε):

    * (ε, δ), one value: σ² is the smallest integer whose exact δ at ε (CKS20 Theorem 7 in
      v3) is ≤ δ; ``Release.delta`` is that exact δ.
    * (ε, δ), d > 1 values with L2-sensitivity Δ: N_Z(0, σ²) on each coordinate is ρ-zCDP
      with ρ = Δ²/(2σ²) (CKS20 Theorem 4 in v4 per coordinate; Rényi divergences of product
      laws add up), and σ² = ⌈Δ²/(2ρ*)⌉ with ρ* the largest ρ whose zCDP gives (ε, δ)-DP
      (CKS20 Proposition 12 in v4). ``Release.epsilon`` is the ε met (≤ ε).
    * ``sigma``: σ² is σ² rounded up to a dyadic fraction the sampler accepts; the guarantee
      is ρ = Δ²/(2σ²)-zCDP (``Release.rho``), and, with ``delta``, the ε its conversion
      gives (otherwise ``Release.epsilon`` is inf: no pure-DP guarantee).

    The event charged is ``DiscreteGaussianEvent(sigma=σ, sensitivity=Δ)`` (σ never above the
    σ sampled), with δᵢ = δ for budgets that take a δ per charge.

    Parameters
    ----------
    value : int or numpy.ndarray
        An integer (any size) or an integer array; floats are refused.
    sensitivity : int
        Δ ≥ 1: the L2-sensitivity, an integer.
    epsilon : float or None
        ε > 0, with ``delta``; None when ``sigma`` is given.
    delta : float or None
        δ in (0, 1).
    sigma : float or None
        σ > 0 in integer units, instead of ``epsilon``.
    budget : Budget or None, default None
        Charged before any noise is drawn.
    label : str, default ""
        Stored with the charge.
    rng : SecureRandom or None, default None
        The generator; None makes a fresh OS-keyed one.

    Returns
    -------
    Release
        ``value`` is a Python int for an integer, an int64 array of the same shape for an
        array.

    Raises
    ------
    ParameterTypeError
        If ``value`` is a float or a float array, or ``sensitivity`` is not an integer.
    ParameterError
        If the parameters are missing, mixed, out of range, or need a σ beyond the sampler.
    BudgetExceededError
        If the budget cannot afford the event (nothing is drawn, nothing recorded).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> rel = discrete_gaussian_release(100, sensitivity=1, epsilon=1.0, delta=1e-5,
    ...     rng=SecureRandom.seeded(0))
    >>> rel.noise_parameter, rel.delta < 1e-5
    (Fraction(14, 1), True)
    """
    vals, _ = as_int_values(value)
    sens = check_int(sensitivity, name="sensitivity", minimum=1)
    chosen, lab, gen = check_release_args(budget, label, rng)
    d = _count(vals)
    if sigma is not None:
        if epsilon is not None:
            raise ParameterError(
                "discrete_gaussian takes either sigma or (epsilon and delta), not both; drop one"
            )
        sig = check_positive(sigma, name="sigma", hint="pass a noise scale σ > 0")
        dlt = None if delta is None else _check_positive_delta(delta)
        s2 = _sigma_squared_from_sigma(sig)
        rho = sens**2 / (2.0 * float(s2))
        eps_met = math.inf if dlt is None else zcdp_epsilon(rho, dlt)
        delta_met = 0.0 if dlt is None else dlt
        event_sigma = sig
    else:
        if epsilon is None or delta is None:
            raise ParameterError(
                "discrete_gaussian needs epsilon and delta (σ is calibrated to them), or "
                "sigma; pass e.g. epsilon=1.0, delta=1e-6"
            )
        eps = check_epsilon(epsilon)
        dlt = _check_positive_delta(delta)
        s2_int, eps_met = _calibrated(eps, dlt, sens, d > 1)
        s2 = Fraction(s2_int)
        if not _sampler_fits(s2):
            raise ParameterError(
                f"discrete_gaussian: epsilon={eps!r}, delta={dlt!r}, sensitivity={sens} need "
                f"σ ≈ {math.sqrt(s2_int):.4g}, beyond the exact sampler (about 32 000); pass "
                "a larger epsilon or delta, or scale the integers down"
            )
        rho = sens**2 / (2.0 * s2_int)
        delta_met = (
            discrete_gaussian_delta(eps, sigma_squared=s2_int, sensitivity=sens) if d <= 1 else dlt
        )
        event_sigma = sigma_for_event(s2_int)
    event = DiscreteGaussianEvent(sigma=event_sigma, sensitivity=sens, dimension=max(d, 1))
    record = charge_budget(chosen, event, label=lab, delta=dlt)  # before any noise is drawn
    noise = gen.discrete_gaussian(d, sigma_squared=s2)
    return _integer_release(
        vals,
        noise,
        gaussian_noise_stats(s2),
        mechanism="discrete_gaussian",
        event=event,
        epsilon=eps_met,
        delta=delta_met,
        rho=rho,
        sensitivity=sens,
        noise_parameter=s2,
        charge=record,
        label=lab,
    )
