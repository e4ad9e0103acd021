"""Float-safe Laplace and Gaussian mechanisms, and the :class:`Release` every mechanism returns.

Adding a continuous Laplace sample computed in floating point to a float leaks the input
through the low bits of the output: some outputs can come from one input and not from its
neighbour (Mironov 2012, "On significance of the least significant bits for differential
privacy", ACM CCS 2012). privet never adds float noise. :func:`laplace` and :func:`gaussian`
release a float (or a float64 array) in five steps, each exact:

1. **grid.** A power of two γ = 2^j is chosen from the *public* parameters only (Δ, ε, δ
   and the number of values d), never from the data: a data-dependent grid would show in
   the output.
2. **round.** ``U = rint(x / γ)``: dividing by a power of two is exact in binary floating
   point (barring underflow, which only happens where ``|x/γ| < 2^-1022`` and the rounded
   value is 0 either way), and an integer-valued float is an exact integer. Inputs that
   float64 cannot hold exactly (integers beyond 2^53, Fractions) and quotients that
   overflow are rounded in exact rational arithmetic instead: converting them to float
   first could stretch the gap between neighbours beyond Δ.
3. **inflate the sensitivity.** Each coordinate moves by less than 1/2 in rounding, so for
   neighbours x, x' the integer difference k = U − U' satisfies |k_i| ≤ ⌊|x_i − x'_i|/γ⌋ + 1.
   Hence, for a query of L1-sensitivity Δ over d values,
   ``‖k‖₁ ≤ ⌊Δ/γ⌋ + d`` (Σ⌊·⌋ ≤ ⌊Σ·⌋), and for L2-sensitivity Δ,
   ``‖k‖₂ ≤ ‖(x − x')/γ‖₂ + ‖e − e'‖₂ ≤ Δ/γ + √d`` (the rounding errors e, e' lie in
   [−1/2, 1/2]^d, so ‖e − e'‖∞ ≤ 1). The integer sensitivity Δ_int is ⌊Δ/γ⌋ + d (L1),
   ⌊Δ/γ⌋ + 1 (one value, L2) or ⌈Δ/γ⌉ + ⌈√d⌉ (L2, d > 1).
4. **exact integer noise**, calibrated to Δ_int so that the stated ε is met exactly despite
   the rounding: discrete Laplace of scale t = Δ_int/ε (rounded *up* to a fraction with
   48-bit terms: more noise, never less) or discrete Gaussian of integer variance σ², both
   sampled exactly by :class:`~privet.core.random.SecureRandom` (Canonne, Kamath, Steinke
   2020, "The discrete Gaussian for differential privacy", arXiv:2004.00010, Algorithms 2
   and 3).
5. **scale back.** The output is ``fl(U + Z)·γ``: ``U`` and ``Z`` are exact floats (``|Z| <
   2^53``; a larger Z takes an exact integer path), IEEE addition rounds their exact integer
   sum correctly, and multiplying by γ is exact. So the output is a deterministic function
   of the integer ``U + Z``, which is DP: post-processing, with nothing left for low bits to
   leak. Outputs lie exactly on the grid γ·ℤ while ``|U + Z| < 2^53``.

The grid is fine: Δ/γ ≥ 2^20·d for Laplace (the rounding costs at most a factor
1 + 2^-20 in noise). For the Gaussian it is as fine as the exact sampler and the accountant
afford (σ in grid units near 2^12 for one value, up to 30 000 for vectors): the noise is
within about 0.1 % of the continuous mechanism's for one value, and the rounding's √d grid
units cost more for long vectors (about 2 % at d = 10^4, 24 % at d = 10^6 for ε = 1,
δ = 1e-5; see :attr:`Release.sensitivity_inflation`).

Every function takes ``budget=`` (a ledger :class:`~privet.store.Budget`, or anything with
its ``charge`` method): the event is charged *before* any noise is drawn, and a refusal
(:class:`~privet.errors.BudgetExceededError`) draws nothing.

Examples
--------
>>> from privet.core.random import SecureRandom
>>> rng = SecureRandom.seeded(3)
>>> out = laplace(10.0, sensitivity=1.0, epsilon=0.5, rng=rng)
>>> type(out).__name__
'float'
>>> rel = gaussian_release(np.zeros(3), sensitivity=1.0, epsilon=1.0, delta=1e-6, rng=rng)
>>> rel.value.shape, rel.mechanism, rel.delta
((3,), 'gaussian', 1e-06)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from fractions import Fraction
from typing import Any, Final, overload

import numpy as np
from numpy.typing import NDArray

from privet.accounting.chargeable import Chargeable, charge_budget
from privet.accounting.events import (
    DiscreteGaussianEvent,
    DiscreteLaplaceEvent,
    PrivacyEvent,
)
from privet.core.checks import check_epsilon, check_positive
from privet.core.errors import DataError, ParameterError, ParameterTypeError
from privet.core.random import SecureRandom, resolve_rng
from privet.dp.calibration import (
    _check_positive_delta,
    calibrate_discrete_gaussian,
    discrete_gaussian_delta,
    gaussian_noise_multiplier,
    zcdp_rho,
    zcdp_sigma_squared,
)

__all__ = [
    "Chargeable",
    "Release",
    "gaussian",
    "gaussian_release",
    "laplace",
    "laplace_release",
]

MAX_SCALE_TERM: Final = 1 << 48
"""The largest numerator or denominator of a discrete Laplace scale the sampler accepts."""

_LAPLACE_FINENESS_BITS: Final = 20
"""Δ/γ ≥ 2^20·d: the grid's rounding costs at most a factor 1 + 2^-20 in Laplace noise."""

_LAPLACE_MAX_SCALE: Final = Fraction(1 << 47)
"""The integer-unit Laplace scale is kept below 2^47, so rounding it up stays below 2^48."""

_GAUSS_SIGMA_SCALAR: Final = float(1 << 12)
"""σ in grid units for one value: fine enough (≈0.1 % rounding cost at σ/Δ ≈ 4) and cheap
for the PLD accountant to price (its cost grows with σ)."""

_GAUSS_SIGMA_VECTOR: Final = 30_000.0
"""σ in grid units for vectors: near the sampler's limit, because the rounding costs √d
grid units (2·σ²·(⌊σ⌋+1)² < 2^61 holds up to σ ≈ 32767)."""

_GAUSS_SIGMA_MAX: Final = 32_000.0
"""Beyond this σ (in grid units) the exact sampler refuses (2·σ²·(⌊σ⌋+1)² ≥ 2^61)."""

_GAUSS_SAMPLER_LIMIT: Final = 1 << 61
"""The exact discrete Gaussian sampler needs 2·σ²·(⌊σ⌋+1)² < 2^61 (integer σ²)."""

_TWO53: Final = float(1 << 53)
_TWO53_INT: Final = 1 << 53

FloatValue = float | np.floating[Any] | np.integer[Any]
"""A real number a float mechanism accepts (and returns as a ``float``)."""


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Release:
    """One DP release: the noisy value and everything public about how it was made.

    Attributes
    ----------
    value : float, int, numpy.ndarray
        The released value, of the type and shape of the input (for selection: the index).
    mechanism : str
        ``"laplace"``, ``"gaussian"``, ``"discrete_laplace"``, ``"discrete_gaussian"``,
        ``"exponential"``, ``"report_noisy_max"`` or ``"permute_and_flip"``.
    event : PrivacyEvent
        The event charged (or that a budget would be charged).
    epsilon, delta : float
        The (ε, δ)-DP guarantee actually met (ε ≤ the ε asked; δ ≤ the δ asked).
    rho : float or None
        The zCDP ρ of Gaussian mechanisms (in grid units: Δ_int² / (2σ²)), else None.
    sensitivity : float
        The sensitivity given (L1 for Laplace, L2 for Gaussian, of the utility for selection).
    granularity : float or None
        The grid γ the value was rounded to (1.0 for integer mechanisms).
    integer_sensitivity : int or None
        Δ_int: the sensitivity in grid units after rounding, which the noise is calibrated to.
    noise_parameter : Fraction or None
        The exact parameter given to the sampler, in grid units: the Laplace scale t or the
        Gaussian σ².
    noise_std : float or None
        The standard deviation of the noise on one value, in the value's units (exact for
        the discrete law, up to float rounding).
    ci95 : float or None
        The half-width h of the noise: ``P(|noise| <= h) >= 0.95`` on each value.
    charge : object or None
        What ``budget.charge`` returned (a ledger ``Charge``), or None without a budget.
    label : str
        The label given.
    """

    value: Any
    mechanism: str
    event: PrivacyEvent
    epsilon: float
    delta: float
    rho: float | None = None
    sensitivity: float
    granularity: float | None = None
    integer_sensitivity: int | None = None
    noise_parameter: Fraction | None = None
    noise_std: float | None = None
    ci95: float | None = None
    charge: object | None = None
    label: str = ""

    @property
    def sensitivity_inflation(self) -> float | None:
        """γ·Δ_int / Δ ≥ 1: the factor by which rounding to the grid inflated the sensitivity.

        The noise is calibrated to the inflated sensitivity, so this is also the factor the
        noise grew by compared with an ideal real-valued mechanism.
        """
        if self.granularity is None or self.integer_sensitivity is None:
            return None
        return self.granularity * self.integer_sensitivity / self.sensitivity

    def __repr__(self) -> str:
        if isinstance(self.value, np.ndarray):
            shown = f"array{self.value.shape}"
        else:
            shown = f"{self.value!r}"
        return (
            f"Release({self.mechanism}: {shown}, ε={self.epsilon:.6g}, δ={self.delta:.3g}, "
            f"event={self.event!r})"
        )


# ---------------------------------------------------------------------------------------
# Shared checks and charging (used by every module of privet.dp's mechanisms)
# ---------------------------------------------------------------------------------------


def check_budget(budget: object) -> Chargeable | None:
    """Return ``budget`` if it is None or has a ``charge`` method; refuse anything else."""
    if budget is None:
        return None
    if not callable(getattr(budget, "charge", None)):
        raise ParameterTypeError(
            f"budget must be a privet Budget (ledger.budget(...)) or None, got "
            f"{type(budget).__name__}; pass ledger.budget('name', epsilon=...)"
        )
    return budget  # type: ignore[return-value]


def check_label(label: object) -> str:
    """Return ``label`` if it is a str."""
    if not isinstance(label, str):
        raise ParameterTypeError(f"label must be a str, got {type(label).__name__}")
    return label


def check_release_args(
    budget: object, label: object, rng: SecureRandom | None
) -> tuple[Chargeable | None, str, SecureRandom]:
    """Check the ``budget``, ``label`` and ``rng`` every mechanism takes, in that order."""
    return check_budget(budget), check_label(label), resolve_rng(rng)


def round_up_scale(scale: Fraction, *, what: str) -> Fraction:
    """Return the smallest fraction ``>= scale`` with a power-of-two denominator and terms ≤ 2^48.

    ``scale`` itself when its terms already fit. Rounding *up* means more noise: the privacy
    guarantee computed from the result is never weaker than the one asked for.
    """
    if scale.numerator <= MAX_SCALE_TERM and scale.denominator <= MAX_SCALE_TERM:
        return scale
    if scale > MAX_SCALE_TERM:
        raise ParameterError(
            f"{what}: the noise scale would be {float(scale):.4g} integer steps, above the "
            "exact sampler's 2**48; pass a larger epsilon or a smaller sensitivity"
        )
    for k in range(48, -1, -1):
        den = 1 << k
        num = -((-scale.numerator * den) // scale.denominator)  # ceil(scale · 2^k)
        if num <= MAX_SCALE_TERM:
            return Fraction(num, den)
    raise AssertionError("unreachable: k = 0 gives ceil(scale) <= 2**48")  # pragma: no cover


def float_at_least(value: Fraction) -> float:
    """Return the smallest float ≥ ``value`` (a guarantee reported as a float stays true)."""
    out = float(value)
    if Fraction(out) < value:
        out = math.nextafter(out, math.inf)
    return out


def _floor_log2(x: float) -> int:
    """⌊log2 x⌋ of a finite float x > 0, exactly."""
    return math.frexp(x)[1] - 1


def _grid_units(sensitivity: float, j: int) -> Fraction:
    """Δ / 2^j, exactly."""
    return Fraction(sensitivity) / Fraction(2) ** j


# ---------------------------------------------------------------------------------------
# Exact laws of the integer noise: standard deviation and 95 % half-width
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def laplace_noise_stats(scale: Fraction) -> tuple[float, int]:
    """Return (std, k95) of the discrete Laplace law P(z) ∝ exp(−|z|/t), t = ``scale``.

    ``Var Z = 2p/(1−p)²`` with p = e^{−1/t}, and ``P(|Z| > k) = 2p^{k+1}/(1+p)`` (CKS20,
    arXiv:2004.00010, Section 2); k95 is the smallest integer k with ``P(|Z| > k) <= 0.05``.
    """
    inv = 1.0 / float(scale)
    p = math.exp(-inv)
    std = math.sqrt(2.0 * p) / -math.expm1(-inv)
    k = max(0, math.ceil(-math.log(0.025 * (1.0 + p)) / inv) - 1)
    while k > 0 and 2.0 * math.exp(-k * inv) / (1.0 + p) <= 0.05:
        k -= 1  # float slack: the smaller k still holds
    while 2.0 * math.exp(-(k + 1) * inv) / (1.0 + p) > 0.05:
        k += 1
    return std, k


@functools.lru_cache(maxsize=1024)
def gaussian_noise_stats(sigma_squared: int | Fraction) -> tuple[float, int]:
    """Return (std, k95) of the discrete Gaussian N_Z(0, σ²), summed over |z| ≤ 40σ."""
    s2 = float(sigma_squared)
    z = np.arange(math.ceil(40.0 * math.sqrt(s2)) + 2, dtype=np.float64)
    w = np.exp(-(z * z) / (2.0 * s2))
    norm = float(w[0] + 2.0 * w[1:].sum())
    std = math.sqrt(float(2.0 * (z * z * w).sum()) / norm)
    inside = (w[0] + 2.0 * np.cumsum(w[1:])) / norm  # inside[k-1] = P(|Z| <= k)
    k = int(np.searchsorted(inside, 0.95)) + 1 if w[0] / norm < 0.95 else 0
    return std, k


# ---------------------------------------------------------------------------------------
# Values: validation, rounding to the grid and adding integer noise exactly
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class FloatValues:
    """A validated real input: float64 values, plus the entries float64 cannot hold exactly.

    An integer beyond 2^53 (or a Fraction) does not convert to float64 exactly, and the
    conversion can stretch the difference between neighbouring inputs beyond their
    sensitivity (Casacuberta, Shoemate, Vadhan, Wagaman 2022, arXiv:2207.10635, make the
    same point for sums). Such entries are kept exactly in ``exact`` (flat index → value)
    and rounded to the grid in rational arithmetic; ``array`` holds a placeholder there.
    """

    array: NDArray[np.float64]
    scalar: bool
    exact: dict[int, Fraction]


_TWO53_FRACTION: Final = Fraction(1 << 53)


def as_float_values(value: object, *, name: str = "value") -> FloatValues:
    """Validate a real number or real array; refuse NaN, ±inf, bools and other types."""
    if isinstance(value, bool | np.bool_):
        raise ParameterTypeError(f"{name} must be a number or a numpy array, got a bool")
    exact: dict[int, Fraction] = {}
    if isinstance(value, float | np.floating):
        arr = np.array(float(value), dtype=np.float64)
        scalar = True
    elif isinstance(value, numbers.Rational):  # int, numpy integer, Fraction: exact
        q = Fraction(int(value.numerator), int(value.denominator))
        as_float = float(q) if abs(q) < _TWO53_FRACTION else 0.0
        if Fraction(as_float) != q:
            exact[0] = q
        arr = np.array(as_float, dtype=np.float64)
        scalar = True
    elif isinstance(value, numbers.Real):
        arr = np.array(float(value), dtype=np.float64)
        scalar = True
    elif isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind not in "fiu":
            raise ParameterTypeError(
                f"{name} must be a real numeric array, got dtype {value.dtype}; pass "
                "np.asarray(values, dtype=float)"
            )
        # a float64 input is only read, never written: no copy
        arr = value if value.dtype == np.float64 else value.astype(np.float64)
        if kind in "iu" and value.size:
            flat = value.reshape(-1)
            big = flat > _TWO53_INT
            if kind == "i":
                big |= flat < -_TWO53_INT
            exact = {i: Fraction(int(flat[i])) for i in np.flatnonzero(big).tolist()}
        scalar = False
    else:
        raise ParameterTypeError(
            f"{name} must be a float or a numpy array, got {type(value).__name__}; pass "
            "np.asarray(values, dtype=float) for a sequence"
        )
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise DataError(
            f"{name} holds {bad} NaN or infinite entr{'y' if bad == 1 else 'ies'}; remove "
            "or impute them (and clamp to public bounds) before releasing"
        )
    return FloatValues(array=arr, scalar=scalar, exact=exact)


def snap_and_add(
    x: NDArray[np.float64],
    j: int,
    z: NDArray[np.int64],
    exact: dict[int, Fraction] | None = None,
) -> NDArray[np.float64]:
    """Return ``fl(rint(x/2^j) + z)·2^j`` elementwise: a function of the exact integer sum.

    ``x/2^j`` is exact (an overflow to ±inf takes the exact-integer path), ``rint`` is exact,
    ``z`` is exact as a float while ``|z| <= 2^53`` (else the exact-integer path), IEEE
    addition rounds the exact integer sum ``U + Z`` correctly, and scaling by ``2^j`` is
    exact up to overflow or underflow, which are deterministic too. ``exact`` gives the
    exact value of entries that ``x`` only approximates (see :class:`FloatValues`).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        u: NDArray[np.float64] = np.ldexp(x, -j)
        np.rint(u, out=u)
    zf = z.astype(np.float64)
    slow = np.zeros(0, dtype=np.intp)
    z_large = z.size > 0 and (int(z.max()) > _TWO53_INT or int(z.min()) < -_TWO53_INT)
    if z_large or not np.isfinite(u).all():
        slow = np.flatnonzero(~np.isfinite(u) | (np.abs(zf) > _TWO53))
    np.add(u, zf, out=u)  # the correctly rounded exact integer sum
    with np.errstate(over="ignore", invalid="ignore"):
        np.ldexp(u, j, out=u)
    for i in slow.tolist():
        u[i] = _exact_snap(Fraction(float(x[i])), j, int(z[i]))
    for i, q in (exact or {}).items():
        u[i] = _exact_snap(q, j, int(z[i]))
    return u


def _exact_snap(x: Fraction, j: int, z: int) -> float:
    """Compute :func:`snap_and_add` for one element, in exact rational arithmetic."""
    step = Fraction(2) ** j
    total = round(x / step) + z  # round() of a Fraction: half to even, exact
    try:
        return float(Fraction(total) * step)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def _grid_release(
    vals: FloatValues,
    j: int,
    noise: NDArray[np.int64],
    stats: tuple[float, int],
    *,
    mechanism: str,
    event: PrivacyEvent,
    epsilon: float,
    delta: float,
    rho: float | None,
    sensitivity: float,
    integer_sensitivity: int,
    noise_parameter: Fraction,
    charge: object | None,
    label: str,
) -> Release:
    """Snap ``vals`` to the grid 2^j, add the integer ``noise``, scale back: the Release.

    ``stats`` is the noise law's (std, k95) in grid units (:func:`laplace_noise_stats`,
    :func:`gaussian_noise_stats`); the release reports them in the value's units.
    """
    arr = vals.array
    out = snap_and_add(arr.reshape(-1), j, noise, vals.exact).reshape(arr.shape)
    gamma = math.ldexp(1.0, j)
    std, k95 = stats
    return Release(
        value=float(out) if vals.scalar else out,
        mechanism=mechanism,
        event=event,
        epsilon=epsilon,
        delta=delta,
        rho=rho,
        sensitivity=sensitivity,
        granularity=gamma,
        integer_sensitivity=integer_sensitivity,
        noise_parameter=noise_parameter,
        noise_std=std * gamma,
        ci95=k95 * gamma,
        charge=charge,
        label=label,
    )


# ---------------------------------------------------------------------------------------
# Laplace
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _LaplacePlan:
    j: int
    integer_sensitivity: int
    scale: Fraction
    epsilon: Fraction  # the ε met exactly: Δ_int / scale


@functools.lru_cache(maxsize=1024)
def _laplace_plan(sensitivity: float, epsilon: float, count: int) -> _LaplacePlan:
    d = max(1, count)
    j = _floor_log2(sensitivity) - _LAPLACE_FINENESS_BITS - (d - 1).bit_length()
    eps = Fraction(epsilon)
    while True:
        units = math.floor(_grid_units(sensitivity, j))
        delta_int = units + d  # L1: ⌊Δ/γ⌋ + d (module docstring, step 3)
        scale = Fraction(delta_int) / eps
        if scale <= _LAPLACE_MAX_SCALE:
            break
        if units == 0:
            raise ParameterError(
                f"laplace: epsilon={epsilon!r} is too small for {d} values: the noise scale "
                f"would exceed 2**47 grid steps; pass a larger epsilon or fewer values"
            )
        j += 1
    t = round_up_scale(scale, what="laplace")
    return _LaplacePlan(j=j, integer_sensitivity=delta_int, scale=t, epsilon=delta_int / t)


@overload
def laplace(
    value: FloatValue,
    *,
    sensitivity: float,
    epsilon: float,
    budget: Chargeable | None = ...,
    label: str = ...,
    rng: SecureRandom | None = ...,
) -> float: ...
@overload
def laplace(
    value: NDArray[Any],
    *,
    sensitivity: float,
    epsilon: float,
    budget: Chargeable | None = ...,
    label: str = ...,
    rng: SecureRandom | None = ...,
) -> NDArray[np.float64]: ...
def laplace(
    value: FloatValue | NDArray[Any],
    *,
    sensitivity: float,
    epsilon: float,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> float | NDArray[np.float64]:
    """Return ``value`` plus float-safe Laplace noise: ε-DP for L1-sensitivity Δ.

    The value of :func:`laplace_release`; see there.

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> out = laplace(np.arange(4.0), sensitivity=1.0, epsilon=1.0, rng=SecureRandom.seeded(1))
    >>> out.shape, out.dtype.name
    ((4,), 'float64')
    """
    return laplace_release(  # type: ignore[no-any-return]
        value, sensitivity=sensitivity, epsilon=epsilon, budget=budget, label=label, rng=rng
    ).value


def laplace_release(
    value: FloatValue | NDArray[Any],
    *,
    sensitivity: float,
    epsilon: float,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> Release:
    """Release ``value`` with float-safe Laplace noise (ε-DP), and say how.

    The Laplace mechanism (Dwork, McSherry, Nissim, Smith 2006, "Calibrating noise to
    sensitivity in private data analysis", TCC 2006) made float-safe as the module docstring
    describes: round to the grid γ (Δ/γ ≥ 2^20·d), add exact discrete Laplace noise of scale
    t ≥ Δ_int/ε in grid units (CKS20, arXiv:2004.00010, Algorithm 2), scale back.

    **Privacy.** The discrete Laplace mechanism P(z) ∝ exp(−|z|/t) on an integer query of
    L1-sensitivity Δ_int is (Δ_int/t)-DP (Ghosh, Roughgarden, Sundararajan 2009, "Universally
    utility-maximizing privacy mechanisms", STOC 2009; CKS20 Section 2): the pmf ratio of
    two shifts is exp((|z−k| − |z|)/t) ≤ exp(‖k‖₁/t) coordinatewise. With Δ_int = ⌊Δ/γ⌋ + d
    (the rounding-inflated sensitivity, module docstring step 3) and t = Δ_int/ε rounded up,
    the release is ε_g-DP with ε_g = Δ_int/t ≤ ε (``Release.epsilon``; equal to ε up to the
    48-bit rounding of t, a relative 2^-47 at most). The event charged is
    ``DiscreteLaplaceEvent(epsilon=ε)``: what runs is a discrete Laplace mechanism.

    Parameters
    ----------
    value : float or numpy.ndarray
        The exact query answer: a real number, or a real array (any shape) of d values.
        NaN and ±inf are refused.
    sensitivity : float
        Δ > 0: the L1-sensitivity of the whole value (one person changes the sum of the
        absolute changes over all d values by at most Δ).
    epsilon : float
        ε > 0.
    budget : Budget or None, default None
        Charged ``DiscreteLaplaceEvent(epsilon=ε)`` before any noise is drawn.
    label : str, default ""
        What the release is, stored with the charge.
    rng : SecureRandom or None, default None
        The generator; None makes a fresh OS-keyed one.

    Returns
    -------
    Release
        ``value`` is a float for a number and a float64 array of the input's shape for an
        array; the noise std is ≈ √2·Δ/ε.

    Raises
    ------
    ParameterError
        If ε or Δ is not a finite number > 0, or ε is so small that the scale leaves the
        exact sampler's range.
    DataError
        If ``value`` holds NaN or ±inf.
    ParameterTypeError
        If ``value``, ``budget``, ``label`` or ``rng`` has the wrong type.
    BudgetExceededError
        If the budget cannot afford ε (nothing is drawn, nothing recorded).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> rel = laplace_release(3.5, sensitivity=1.0, epsilon=0.5, rng=SecureRandom.seeded(0))
    >>> rel.event
    DiscreteLaplaceEvent(epsilon=0.5)
    >>> round(rel.noise_std / (2**0.5 / 0.5), 6)  # √2·Δ/ε, up to the 2^-20 grid cost
    1.0
    >>> (rel.value / rel.granularity).is_integer()
    True
    """
    sens = check_positive(sensitivity, name="sensitivity", hint="pass the L1-sensitivity Δ > 0")
    eps = check_epsilon(epsilon)
    vals = as_float_values(value)
    arr = vals.array
    chosen, lab, gen = check_release_args(budget, label, rng)
    plan = _laplace_plan(sens, eps, arr.size)
    event = DiscreteLaplaceEvent(epsilon=eps)
    record = charge_budget(chosen, event, label=lab)  # before any noise is drawn
    # exact discrete Laplace of scale t (CKS20 Algorithm 2): (Δ_int/t)-DP on the grid
    noise = gen.discrete_laplace(arr.size, scale=plan.scale)
    return _grid_release(
        vals,
        plan.j,
        noise,
        laplace_noise_stats(plan.scale),
        mechanism="laplace",
        event=event,
        epsilon=float_at_least(plan.epsilon),
        delta=0.0,
        rho=None,
        sensitivity=sens,
        integer_sensitivity=plan.integer_sensitivity,
        noise_parameter=plan.scale,
        charge=record,
        label=lab,
    )


# ---------------------------------------------------------------------------------------
# Gaussian
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _GaussianPlan:
    j: int
    integer_sensitivity: int
    sigma_squared: int
    epsilon: float
    delta: float
    rho: float


def _isqrt_ceil(n: int) -> int:
    r = math.isqrt(n)
    return r if r * r == n else r + 1


def _sampler_error(epsilon: float, delta: float, sigma: float, d: int) -> ParameterError:
    return ParameterError(
        f"gaussian: epsilon={epsilon!r}, delta={delta!r} need σ ≈ {sigma:.4g} grid steps for "
        f"{d} value(s), beyond the exact discrete Gaussian sampler (σ up to about 32 000); "
        "pass a larger epsilon or delta, release fewer values at once, or use laplace"
    )


@functools.lru_cache(maxsize=1024)
def _gaussian_plan(sensitivity: float, epsilon: float, delta: float, count: int) -> _GaussianPlan:
    d = max(1, count)
    vector = d > 1
    if vector:  # zCDP calibration (see gaussian_release): σ/Δ = 1/√(2ρ)
        rho_target = zcdp_rho(epsilon, delta)
        multiplier = 1.0 / math.sqrt(2.0 * rho_target)
        limit = _GAUSS_SIGMA_VECTOR
    else:  # CKS20 Theorem 7 (in v3); the continuous σ/Δ is the guide
        multiplier = gaussian_noise_multiplier(epsilon, delta)
        limit = _GAUSS_SIGMA_SCALAR
    root_d = _isqrt_ceil(d)
    j = _floor_log2(sensitivity) - 40
    while True:
        units = _grid_units(sensitivity, j)
        if vector:  # L2: ⌈Δ/γ⌉ + ⌈√d⌉ ≥ Δ/γ + √d (module docstring, step 3)
            delta_int = math.ceil(units) + root_d
            coarsest = math.ceil(units) <= 1
        else:  # one value: ⌊Δ/γ⌋ + 1
            delta_int = math.floor(units) + 1
            coarsest = math.floor(units) == 0
        if multiplier * delta_int * 1.02 <= limit or coarsest:
            break
        j += 1
    if multiplier * delta_int > _GAUSS_SIGMA_MAX:
        raise _sampler_error(epsilon, delta, multiplier * delta_int, d)
    if vector:
        s2, eps_met = zcdp_sigma_squared(epsilon, delta, sensitivity=delta_int, rho=rho_target)
        rho = delta_int**2 / (2.0 * s2)
        delta_met = delta
    else:
        s2 = calibrate_discrete_gaussian(epsilon=epsilon, delta=delta, sensitivity=delta_int)
        rho = delta_int**2 / (2.0 * s2)
        eps_met = epsilon
        delta_met = discrete_gaussian_delta(epsilon, sigma_squared=s2, sensitivity=delta_int)
    t = math.isqrt(s2) + 1
    if 2 * s2 * t * t >= _GAUSS_SAMPLER_LIMIT:
        raise _sampler_error(epsilon, delta, math.sqrt(s2), d)
    return _GaussianPlan(
        j=j,
        integer_sensitivity=delta_int,
        sigma_squared=s2,
        epsilon=eps_met,
        delta=delta_met,
        rho=rho,
    )


def sigma_for_event(sigma_squared: int) -> float:
    """Return the largest float σ with σ² ≤ ``sigma_squared`` (an event never overstates σ)."""
    sigma = math.sqrt(sigma_squared)
    while Fraction(sigma) ** 2 > sigma_squared:
        sigma = math.nextafter(sigma, 0.0)
    return sigma


@overload
def gaussian(
    value: FloatValue,
    *,
    sensitivity: float,
    epsilon: float,
    delta: float,
    budget: Chargeable | None = ...,
    label: str = ...,
    rng: SecureRandom | None = ...,
) -> float: ...
@overload
def gaussian(
    value: NDArray[Any],
    *,
    sensitivity: float,
    epsilon: float,
    delta: float,
    budget: Chargeable | None = ...,
    label: str = ...,
    rng: SecureRandom | None = ...,
) -> NDArray[np.float64]: ...
def gaussian(
    value: FloatValue | NDArray[Any],
    *,
    sensitivity: float,
    epsilon: float,
    delta: float,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> float | NDArray[np.float64]:
    """Return ``value`` plus float-safe Gaussian noise: (ε, δ)-DP for L2-sensitivity Δ.

    The value of :func:`gaussian_release`; see there.

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> out = gaussian(1.0, sensitivity=1.0, epsilon=1.0, delta=1e-6,
    ...     rng=SecureRandom.seeded(1))
    >>> isinstance(out, float)
    True
    """
    return gaussian_release(  # type: ignore[no-any-return]
        value,
        sensitivity=sensitivity,
        epsilon=epsilon,
        delta=delta,
        budget=budget,
        label=label,
        rng=rng,
    ).value


def gaussian_release(
    value: FloatValue | NDArray[Any],
    *,
    sensitivity: float,
    epsilon: float,
    delta: float,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> Release:
    """Release ``value`` with float-safe (discrete) Gaussian noise, (ε, δ)-DP, and say how.

    Rounds to a grid γ, adds exact discrete Gaussian noise N_Z(0, σ²) of integer σ² in grid
    units to each value (CKS20, arXiv:2004.00010, Algorithm 3), and scales back (module
    docstring). σ² is calibrated to the rounding-inflated integer sensitivity Δ_int, so
    the stated (ε, δ) holds exactly:

    * **one value** (a number, or an array of one element): Δ_int = ⌊Δ/γ⌋ + 1 is an integer
      sensitivity and σ² is the smallest integer whose exact δ at ε, by CKS20 Theorem 7
      (in v3), is at most δ (:func:`~privet.dp.calibration.calibrate_discrete_gaussian`).
      ``Release.delta`` is that exact δ (≤ the δ asked) and ``Release.epsilon`` is ε.
    * **d > 1 values**: the integer difference vector k of two neighbours has
      ‖k‖₂ ≤ Δ_int = ⌈Δ/γ⌉ + ⌈√d⌉. Independent N_Z(0, σ²) noise on each value is then
      ρ-zCDP with ρ = Δ_int²/(2σ²): the Rényi divergence of a product law is the sum over
      coordinates, and each coordinate's is at most α·k_i²/(2σ²) (CKS20 Theorem 4 in v4,
      with integer sensitivity |k_i|). σ² = ⌈Δ_int²/(2ρ*)⌉ with ρ* the largest ρ whose
      ρ-zCDP gives (ε, δ)-DP by CKS20 Proposition 12 (in v4)
      (:func:`~privet.dp.calibration.zcdp_rho`); ``Release.epsilon`` is the ε that the ρ
      met converts to (≤ ε). This costs about 8 % more noise than the exact scalar
      calibration at ε = 1, δ = 1e-5, and the rounding costs √d grid units: see
      ``Release.sensitivity_inflation``.

    The event charged is ``DiscreteGaussianEvent(sigma=σ, sensitivity=Δ_int)`` in grid units
    (σ rounded down, so the event never overstates the noise), with δᵢ = δ for budgets that
    take a δ per charge.

    Parameters
    ----------
    value : float or numpy.ndarray
        The exact query answer (a real number or a real array of any shape); NaN and ±inf
        are refused.
    sensitivity : float
        Δ > 0: the L2-sensitivity of the whole value.
    epsilon : float
        ε > 0.
    delta : float
        δ in (0, 1).
    budget : Budget or None, default None
        Charged before any noise is drawn.
    label : str, default ""
        Stored with the charge.
    rng : SecureRandom or None, default None
        The generator; None makes a fresh OS-keyed one.

    Returns
    -------
    Release
        ``value`` has the input's type and shape (float, or float64 array).

    Raises
    ------
    ParameterError
        If ε, Δ or δ is out of range, or the σ needed leaves the exact sampler's range.
    DataError
        If ``value`` holds NaN or ±inf.
    ParameterTypeError
        If an argument has the wrong type.
    BudgetExceededError
        If the budget cannot afford the event (nothing is drawn, nothing recorded).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> rel = gaussian_release(0.0, sensitivity=1.0, epsilon=1.0, delta=1e-5,
    ...     rng=SecureRandom.seeded(0))
    >>> rel.event.sensitivity == rel.integer_sensitivity, rel.delta <= 1e-5
    (True, True)
    >>> round(rel.noise_std, 2)  # the analytic Gaussian's σ is 3.73
    3.73
    """
    sens = check_positive(sensitivity, name="sensitivity", hint="pass the L2-sensitivity Δ > 0")
    eps = check_epsilon(epsilon)
    dlt = _check_positive_delta(delta)
    vals = as_float_values(value)
    arr = vals.array
    chosen, lab, gen = check_release_args(budget, label, rng)
    plan = _gaussian_plan(sens, eps, dlt, arr.size)
    event = DiscreteGaussianEvent(
        sigma=sigma_for_event(plan.sigma_squared),
        sensitivity=plan.integer_sensitivity,
        dimension=max(int(arr.size), 1),
    )
    record = charge_budget(chosen, event, label=lab, delta=dlt)  # before any noise is drawn
    # exact discrete Gaussian N_Z(0, σ²) (CKS20 Algorithm 3), σ² calibrated in the plan
    noise = gen.discrete_gaussian(arr.size, sigma_squared=plan.sigma_squared)
    return _grid_release(
        vals,
        plan.j,
        noise,
        gaussian_noise_stats(plan.sigma_squared),
        mechanism="gaussian",
        event=event,
        epsilon=plan.epsilon,
        delta=plan.delta,
        rho=plan.rho,
        sensitivity=sens,
        integer_sensitivity=plan.integer_sensitivity,
        noise_parameter=Fraction(plan.sigma_squared),
        charge=record,
        label=lab,
    )
