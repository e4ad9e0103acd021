"""Private selection: the exponential mechanism, permute-and-flip and report-noisy-max.

Given a score uᵢ for each of k candidates (utility sensitivity Δ: one person moves every
score by at most Δ), each function returns the index of a candidate that scores high, with
ε-DP. All three are **exact**: no floating-point probability ever decides an outcome.

1. **Integer utilities.** The scores are rounded to a power-of-two grid γ (Δ/γ ∈
   [2^20, 2^21), from the public Δ only): Uᵢ = rint(uᵢ/γ), exactly. Rounding moves a score by
   less than 1/2 step, so the integer utility has sensitivity Δ_int = ⌊Δ/γ⌋ + 1 (and stays
   monotone when u is: rounding is monotone).
2. **A rational ε.** ε' = ⌊ε·2^m⌋/2^m ≤ ε (m ≈ 40), so every exponent
   γᵢ = ε'·(U_max − Uᵢ)/(2·Δ_int) is an exact rational with a denominator below 2^64.
3. **Exact coins.** Bernoulli(exp(−γᵢ)) is sampled exactly (Canonne, Kamath, Steinke 2020,
   arXiv:2004.00010, Algorithm 1, by :func:`privet.core.samplers.bernoulli_exp`), and
   uniform choices are exact integers.

The guarantee met is ε' (``Release.epsilon``; ε' ≤ ε, equal up to 2^-40 relative): the
mechanisms below are ε'-DP for the integer utility U of sensitivity Δ_int, which is a
deterministic function of the scores. This avoids the float pitfalls of a naive
exponential mechanism (Ilvento 2020, "Implementing the exponential mechanism with base-2
differential privacy", ACM CCS 2020), the selection analogue of Mironov 2012.

* :func:`exponential` — P(i) ∝ exp(ε'Uᵢ/(2Δ_int)) (McSherry & Talwar 2007, "Mechanism design
  via differential privacy", FOCS 2007; Dwork & Roth 2014, "The algorithmic foundations of
  differential privacy", Theorem 3.10), sampled by rejection: propose i uniformly, accept
  with probability exp(−γᵢ); an accepted i has exactly that law. With ``monotonic=True``
  (all scores move in the same direction between neighbours) the factor 2 is dropped: then
  P_D'(i)/P_D(i) = exp(ε'(U'ᵢ − Uᵢ)/Δ_int)·Z_D/Z_D' is at most e^ε' because the two factors
  are ≤ e^ε' and ≤ 1 (or ≤ 1 and ≤ e^ε') as Z moves with U.
* :func:`permute_and_flip` — McKenna & Sheldon 2020, "Permute-and-flip: a new mechanism for
  differentially private selection", NeurIPS 2020 (arXiv:2010.12603), Algorithm 1: visit the
  candidates in a uniformly random order and return the first whose coin
  Bernoulli(exp(−γᵢ)) lands heads. Never worse in expected score than the exponential
  mechanism. privet flips every coin up front and returns a uniformly random head: the
  coins are independent of the order, so the first head in a uniform order is a uniform
  head (the same law, and vectorised). The top candidate's coin is always heads.
* :func:`report_noisy_max` — argmaxᵢ (uᵢ + noise). With **exponential** noise of scale
  2Δ/ε (the default) its output law *is* permute-and-flip's (Ding, Kifer, Saghaian, Steinke,
  Wang, Xiao, Zhang 2021, "The permute-and-flip mechanism is identical to report-noisy-max
  with exponential noise", arXiv:2105.07260), and with **Gumbel** noise of scale 2Δ/ε it is
  the exponential mechanism's (the Gumbel-max trick: Yellott 1977, J. Math. Psychology 15;
  used for DP by Durfee & Rogers 2019, "Practical differentially private top-k selection
  with pay-what-you-get composition", NeurIPS 2019). privet samples those laws exactly as
  above rather than adding float noise. The Laplace-noise variant is not offered: its exact
  law has no closed form to sample from, and float Laplace noise is what Mironov broke.

Each charges the budget before it draws: ``ExponentialEvent(ε)`` for the exponential
mechanism, ``ReportNoisyMaxEvent(ε)`` for the other two.

Examples
--------
>>> from privet.core.random import SecureRandom
>>> rng = SecureRandom.seeded(2)
>>> exponential([1.0, 50.0, 3.0], sensitivity=1.0, epsilon=2.0, rng=rng)
1
>>> permute_and_flip([1.0, 50.0, 3.0], sensitivity=1.0, epsilon=2.0, rng=rng)
1
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from privet.accounting.chargeable import Chargeable, charge_budget
from privet.accounting.events import ExponentialEvent, PrivacyEvent, ReportNoisyMaxEvent
from privet.core import samplers
from privet.core.checks import check_epsilon, check_positive
from privet.core.errors import DataError, ParameterError, ParameterTypeError
from privet.core.random import SecureRandom
from privet.dp.mechanisms import (
    Release,
    check_release_args,
    float_at_least,
)

__all__ = [
    "exponential",
    "exponential_release",
    "permute_and_flip",
    "permute_and_flip_release",
    "report_noisy_max",
    "report_noisy_max_release",
]

_FINENESS_BITS: Final = 20
"""Δ/γ ∈ [2^20, 2^21): rounding the scores costs at most a factor 1 + 2^-20 in ε-scale."""

_WHOLE_CAP: Final = 1 << 62
"""Exponents with ⌊γᵢ⌋ above this are handled one by one in exact Python integers."""

Scores = Sequence[float] | NDArray[Any]


@dataclasses.dataclass(frozen=True)
class _Plan:
    j: int  # grid γ = 2^j
    integer_sensitivity: int  # Δ_int
    numerator: int  # a: ε' = a / 2^m
    bits: int  # m
    denominator: int  # den = factor·Δ_int·2^m (< 2^63): γᵢ = a·Dᵢ / den


@functools.lru_cache(maxsize=512)
def _plan(sensitivity: float, epsilon: float, factor: int) -> _Plan:
    j = math.frexp(sensitivity)[1] - 1 - _FINENESS_BITS
    delta_int = math.floor(Fraction(sensitivity) / Fraction(2) ** j) + 1
    base = factor * delta_int
    m = 63 - base.bit_length()  # den = base·2^m < 2^63
    a = math.floor(Fraction(epsilon) * (1 << m))
    if a == 0:
        raise ParameterError(
            f"epsilon={epsilon!r} is too small for exact selection (below 2**-{m}); pass a "
            "larger epsilon"
        )
    return _Plan(j=j, integer_sensitivity=delta_int, numerator=a, bits=m, denominator=base << m)


def _as_scores(scores: object) -> tuple[NDArray[np.float64], dict[int, Fraction]]:
    """Validate the scores: float64 values plus the entries float64 cannot hold exactly."""
    if isinstance(scores, str | bytes) or not isinstance(scores, Sequence | np.ndarray):
        raise ParameterTypeError(
            f"scores must be a sequence or 1-D array of real numbers, got {type(scores).__name__}"
        )
    if isinstance(scores, np.ndarray) and scores.dtype.kind not in "fiu":
        raise ParameterTypeError(f"scores must be real numbers, got dtype {scores.dtype}")
    exact: dict[int, Fraction] = {}
    if isinstance(scores, np.ndarray):
        if scores.dtype.kind in "iu" and scores.ndim == 1:
            exact = {i: Fraction(int(v)) for i, v in enumerate(scores.tolist()) if abs(v) > 1 << 53}
    else:
        for i, v in enumerate(scores):
            if isinstance(v, Sequence | np.ndarray) and not isinstance(v, str | bytes):
                raise ParameterError(
                    f"scores must be a flat, 1-D sequence (one score per candidate), got a "
                    f"nested {type(v).__name__} at position {i}"
                )
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise ParameterTypeError(
                    f"scores must be real numbers, got {type(v).__name__} at position {i}"
                )
            if isinstance(v, numbers.Rational) and not isinstance(v, float):
                q = Fraction(int(v.numerator), int(v.denominator))
                if abs(q) > 1 << 53 or Fraction(float(q)) != q:
                    exact[i] = q  # float64 would round it: keep it exact
    try:
        with np.errstate(over="ignore"):
            arr = np.asarray(
                [0.0 if i in exact else v for i, v in enumerate(scores)]
                if exact and not isinstance(scores, np.ndarray)
                else scores,
                dtype=np.float64,
            )
    except (TypeError, ValueError, OverflowError):
        raise ParameterTypeError(
            "scores must be real numbers; pass a list or 1-D array of floats"
        ) from None
    if arr.ndim != 1 or arr.size == 0:
        raise ParameterError(
            f"scores must be a non-empty 1-D sequence (one score per candidate), got shape "
            f"{arr.shape}"
        )
    if exact:
        arr = arr.copy()
        arr[list(exact)] = 0.0  # placeholders: these entries are used exactly
    if not np.isfinite(arr).all():
        raise DataError(
            "scores hold NaN or infinite entries; give every candidate a finite score "
            "(clamp utilities to public bounds)"
        )
    return arr, exact


@dataclasses.dataclass(frozen=True)
class _Exponents:
    """γᵢ = wholeᵢ + remᵢ/den for every candidate; ``big`` holds exact wholes above the cap."""

    whole: NDArray[np.int64]
    rem: NDArray[np.uint64]
    denominator: int
    big: dict[int, int]


def _exponents(
    arr: NDArray[np.float64], plan: _Plan, exact: dict[int, Fraction] | None = None
) -> _Exponents:
    with np.errstate(over="ignore", invalid="ignore"):
        uf = np.rint(np.ldexp(arr, -plan.j))  # exact integers (inf only on overflow)
    if not exact and np.isfinite(uf).all() and float(np.abs(uf).max()) < 2.0**62:
        ints = uf.astype(np.int64)
        gaps = (int(ints.max()) - ints).tolist()  # U_max − Uᵢ, exact (< 2^63)
    else:  # exact rational rounding: scores far beyond the grid's range, or not floats
        step = Fraction(2) ** plan.j
        known = exact or {}
        units = [
            round(known[i] / step) if i in known else round(Fraction(x) / step)
            for i, x in enumerate(arr.tolist())
        ]
        top = max(units)
        gaps = [top - u for u in units]
    a, den = plan.numerator, plan.denominator
    whole = np.empty(len(gaps), dtype=np.int64)
    rem = np.empty(len(gaps), dtype=np.uint64)
    big: dict[int, int] = {}
    for i, gap in enumerate(gaps):
        w, r = divmod(a * gap, den)
        rem[i] = r
        if w > _WHOLE_CAP:
            big[i] = w
            whole[i] = _WHOLE_CAP
        else:
            whole[i] = w
    return _Exponents(whole=whole, rem=rem, denominator=den, big=big)


def _coins(rng: SecureRandom, ex: _Exponents, idx: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Exact Bernoulli(exp(−γᵢ)) for the candidates ``idx`` (CKS20 Algorithm 1)."""
    out = samplers.bernoulli_exp(rng.uint64, ex.whole[idx], ex.rem[idx], ex.denominator)
    if ex.big:
        for pos in np.flatnonzero(ex.whole[idx] == _WHOLE_CAP).tolist():
            i = int(idx[pos])
            if i in ex.big:  # redraw exactly with the true (huge) whole part
                one = ex.rem[i : i + 1]
                out[pos] = bool(
                    samplers.bernoulli_exp(rng.uint64, ex.big[i], one, ex.denominator)[0]
                )
    return out


def _sample_exponential(rng: SecureRandom, ex: _Exponents) -> int:
    """Rejection: uniform proposal, accepted with probability exp(−γᵢ); ≤ k tries expected."""
    k = ex.whole.size
    batch = min(max(2 * k, 64), 1 << 16)
    while True:
        idx = rng.integers(batch, low=0, high=k).astype(np.intp)
        hits = np.flatnonzero(_coins(rng, ex, idx))
        if hits.size:
            return int(idx[hits[0]])


def _sample_permute_and_flip(rng: SecureRandom, ex: _Exponents) -> int:
    """Flip every coin, return a uniformly random head (McKenna & Sheldon 2020, Algorithm 1)."""
    k = ex.whole.size
    heads = np.flatnonzero(_coins(rng, ex, np.arange(k, dtype=np.intp)))
    # heads is never empty: the top candidate has γ = 0, and Bernoulli(exp(0)) = 1.
    pick = int(rng.integers(1, low=0, high=int(heads.size))[0]) if heads.size > 1 else 0
    return int(heads[pick])


def _select(
    scores: object,
    *,
    sensitivity: object,
    epsilon: object,
    factor: int,
    how: Literal["exponential", "permute_and_flip"],
    mechanism: str,
    event_type: type[ExponentialEvent] | type[ReportNoisyMaxEvent],
    budget: object,
    label: object,
    rng: SecureRandom | None,
) -> Release:
    sens = check_positive(
        sensitivity, name="sensitivity", hint="pass the utility sensitivity Δ > 0"
    )
    eps = check_epsilon(epsilon)
    arr, exact = _as_scores(scores)
    chosen, lab, gen = check_release_args(budget, label, rng)
    plan = _plan(sens, eps, factor)
    ex = _exponents(arr, plan, exact)
    event: PrivacyEvent = event_type(epsilon=eps)
    record = charge_budget(chosen, event, label=lab)  # before anything is drawn
    if how == "exponential":
        index = _sample_exponential(gen, ex)
    else:
        index = _sample_permute_and_flip(gen, ex)
    return Release(
        value=index,
        mechanism=mechanism,
        event=event,
        epsilon=float_at_least(Fraction(plan.numerator, 1 << plan.bits)),
        delta=0.0,
        sensitivity=sens,
        granularity=math.ldexp(1.0, plan.j),
        integer_sensitivity=plan.integer_sensitivity,
        noise_parameter=Fraction(plan.numerator, 1 << plan.bits),
        charge=record,
        label=lab,
    )


def exponential_release(
    scores: Scores,
    *,
    sensitivity: float,
    epsilon: float,
    monotonic: bool = False,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> Release:
    """Select an index with the exponential mechanism, exactly, and say how.

    P(i) ∝ exp(ε'·Uᵢ/(2Δ_int)) (``monotonic=True``: exp(ε'·Uᵢ/Δ_int)) over the integer
    utilities of the module docstring, by exact rejection sampling; ε'-DP with ε' ≤ ε
    (McSherry & Talwar 2007; Dwork & Roth 2014, Theorem 3.10). Charges
    ``ExponentialEvent(epsilon=ε)``.

    Parameters
    ----------
    scores : sequence of float or numpy.ndarray
        One finite score per candidate (higher is better), k ≥ 1.
    sensitivity : float
        Δ > 0: the most one person changes any score.
    epsilon : float
        ε > 0.
    monotonic : bool, default False
        True if between neighbours all scores move in the same direction (counts, for
        example): the mechanism then uses ε/Δ instead of ε/(2Δ).
    budget : Budget or None, default None
        Charged before anything is drawn.
    label : str, default ""
        Stored with the charge.
    rng : SecureRandom or None, default None
        The generator; None makes a fresh OS-keyed one.

    Returns
    -------
    Release
        ``value`` is the index chosen (an int); ``noise_parameter`` is ε' and
        ``granularity`` the grid γ of the scores.

    Raises
    ------
    ParameterError
        If ε or Δ is out of range, or ``scores`` is empty or not 1-D.
    DataError
        If a score is NaN or infinite.
    ParameterTypeError
        If an argument has the wrong type.
    BudgetExceededError
        If the budget cannot afford ε (nothing is drawn, nothing recorded).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> rel = exponential_release([0.0, 10.0], sensitivity=1.0, epsilon=1.0,
    ...     rng=SecureRandom.seeded(0))
    >>> rel.event, rel.epsilon <= 1.0
    (ExponentialEvent(epsilon=1.0), True)
    """
    if not isinstance(monotonic, bool):
        raise ParameterTypeError(f"monotonic must be a bool, got {type(monotonic).__name__}")
    return _select(
        scores,
        sensitivity=sensitivity,
        epsilon=epsilon,
        factor=1 if monotonic else 2,
        how="exponential",
        mechanism="exponential",
        event_type=ExponentialEvent,
        budget=budget,
        label=label,
        rng=rng,
    )


def exponential(
    scores: Scores,
    *,
    sensitivity: float,
    epsilon: float,
    monotonic: bool = False,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> int:
    """Return the index chosen by the exponential mechanism (see :func:`exponential_release`).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> exponential([0.0, 100.0], sensitivity=1.0, epsilon=1.0, rng=SecureRandom.seeded(0))
    1
    """
    rel = exponential_release(
        scores,
        sensitivity=sensitivity,
        epsilon=epsilon,
        monotonic=monotonic,
        budget=budget,
        label=label,
        rng=rng,
    )
    return int(rel.value)


def permute_and_flip_release(
    scores: Scores,
    *,
    sensitivity: float,
    epsilon: float,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> Release:
    """Select an index with permute-and-flip, exactly, and say how.

    McKenna & Sheldon 2020 (arXiv:2010.12603), Algorithm 1, with the coin of candidate i
    Bernoulli(exp(ε'(Uᵢ − U_max)/(2Δ_int))) on the integer utilities of the module
    docstring: ε'-DP with ε' ≤ ε. Charges ``ReportNoisyMaxEvent(epsilon=ε)``.

    Parameters
    ----------
    scores : sequence of float or numpy.ndarray
        One finite score per candidate (higher is better), k ≥ 1.
    sensitivity : float
        Δ > 0: the most one person changes any score.
    epsilon : float
        ε > 0.
    budget : Budget or None, default None
        Charged before anything is drawn.
    label : str, default ""
        Stored with the charge.
    rng : SecureRandom or None, default None
        The generator; None makes a fresh OS-keyed one.

    Returns
    -------
    Release
        ``value`` is the index chosen (an int).

    Raises
    ------
    ParameterError
        If ε or Δ is out of range, or ``scores`` is empty or not 1-D.
    DataError
        If a score is NaN or infinite.
    ParameterTypeError
        If an argument has the wrong type.
    BudgetExceededError
        If the budget cannot afford ε (nothing is drawn, nothing recorded).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> permute_and_flip_release([3.0, 1.0], sensitivity=1.0, epsilon=1.0,
    ...     rng=SecureRandom.seeded(0)).event
    ReportNoisyMaxEvent(epsilon=1.0)
    """
    return _select(
        scores,
        sensitivity=sensitivity,
        epsilon=epsilon,
        factor=2,
        how="permute_and_flip",
        mechanism="permute_and_flip",
        event_type=ReportNoisyMaxEvent,
        budget=budget,
        label=label,
        rng=rng,
    )


def permute_and_flip(
    scores: Scores,
    *,
    sensitivity: float,
    epsilon: float,
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> int:
    """Return the index chosen by permute-and-flip (see :func:`permute_and_flip_release`).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> permute_and_flip([0.0, 100.0], sensitivity=1.0, epsilon=1.0,
    ...     rng=SecureRandom.seeded(0))
    1
    """
    rel = permute_and_flip_release(
        scores, sensitivity=sensitivity, epsilon=epsilon, budget=budget, label=label, rng=rng
    )
    return int(rel.value)


def report_noisy_max_release(
    scores: Scores,
    *,
    sensitivity: float,
    epsilon: float,
    noise: Literal["exponential", "gumbel"] = "exponential",
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> Release:
    """Select argmaxᵢ(uᵢ + noiseᵢ), sampled exactly through its known law, and say how.

    ``noise="exponential"``: noise of scale 2Δ/ε, whose argmax has permute-and-flip's law
    (Ding et al. 2021, arXiv:2105.07260), sampled as :func:`permute_and_flip`.
    ``noise="gumbel"``: Gumbel noise of scale 2Δ/ε, whose argmax has the exponential
    mechanism's law (the Gumbel-max trick), sampled as :func:`exponential`. Both are ε'-DP
    with ε' ≤ ε and charge ``ReportNoisyMaxEvent(epsilon=ε)``.

    Parameters
    ----------
    scores : sequence of float or numpy.ndarray
        One finite score per candidate (higher is better), k ≥ 1.
    sensitivity : float
        Δ > 0: the most one person changes any score.
    epsilon : float
        ε > 0.
    noise : {"exponential", "gumbel"}, default "exponential"
        The noise whose argmax is reported.
    budget : Budget or None, default None
        Charged before anything is drawn.
    label : str, default ""
        Stored with the charge.
    rng : SecureRandom or None, default None
        The generator; None makes a fresh OS-keyed one.

    Returns
    -------
    Release
        ``value`` is the index chosen (an int).

    Raises
    ------
    ParameterError
        If ``noise`` is not one of the two, or another argument is out of range.
    DataError
        If a score is NaN or infinite.
    ParameterTypeError
        If an argument has the wrong type.
    BudgetExceededError
        If the budget cannot afford ε (nothing is drawn, nothing recorded).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> report_noisy_max_release([5.0, 0.0], sensitivity=1.0, epsilon=1.0, noise="gumbel",
    ...     rng=SecureRandom.seeded(0)).mechanism
    'report_noisy_max'
    """
    if noise not in ("exponential", "gumbel"):
        raise ParameterError(
            f"noise must be 'exponential' or 'gumbel', got {noise!r} (Laplace noise is not "
            "offered: see privet.dp.selection)"
        )
    return _select(
        scores,
        sensitivity=sensitivity,
        epsilon=epsilon,
        factor=2,
        how="permute_and_flip" if noise == "exponential" else "exponential",
        mechanism="report_noisy_max",
        event_type=ReportNoisyMaxEvent,
        budget=budget,
        label=label,
        rng=rng,
    )


def report_noisy_max(
    scores: Scores,
    *,
    sensitivity: float,
    epsilon: float,
    noise: Literal["exponential", "gumbel"] = "exponential",
    budget: Chargeable | None = None,
    label: str = "",
    rng: SecureRandom | None = None,
) -> int:
    """Return the index chosen by report-noisy-max (see :func:`report_noisy_max_release`).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> report_noisy_max([0.0, 100.0], sensitivity=1.0, epsilon=1.0,
    ...     rng=SecureRandom.seeded(0))
    1
    """
    rel = report_noisy_max_release(
        scores,
        sensitivity=sensitivity,
        epsilon=epsilon,
        noise=noise,
        budget=budget,
        label=label,
        rng=rng,
    )
    return int(rel.value)
