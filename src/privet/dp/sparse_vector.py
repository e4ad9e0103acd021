"""The sparse vector technique: answer "is this query above the threshold?" many times.

:class:`SparseVector` answers a stream of adaptively chosen queries q₁, q₂, … (each of
sensitivity Δ) with one bit each — is qᵢ above the threshold T? — and halts after
``max_above`` = c "above" answers. Its privacy cost is paid once, up front, whatever the
number of "below" answers. :class:`AboveThreshold` is the case c = 1.

The algorithm is Lyu, Su, Li 2017, "Understanding the sparse vector technique for
differential privacy", PVLDB 10(6) (arXiv:1603.01699), Algorithm 1, the variant they prove
correct (their privacy theorem for Algorithm 1; several published variants are not
private):

1. ρ ← Lap(Δ/ε₁), drawn once (the noisy threshold is T + ρ);
2. for each query: νᵢ ← Lap(2cΔ/ε₂) (Lap(cΔ/ε₂) if the queries are monotonic), answer
   "above" iff qᵢ + νᵢ ≥ T + ρ; after the c-th "above", halt.

It is (ε₁ + ε₂)-DP. With c = 1, ε₁ = ε₂ = ε/2 it is Dwork & Roth 2014's AboveThreshold
(Algorithm 1; Theorem 3.23). privet splits ε as Lyu et al. recommend for the best accuracy
(their budget-allocation analysis, Section 4),
ε₁ : ε₂ = 1 : (2c)^(2/3) (1 : c^(2/3) for monotonic queries), unless ``threshold_share``
says otherwise.

**Float safety.** Queries and threshold are rounded to a power-of-two grid γ (Δ/γ ∈
[2^20, 2^21), from the public Δ), so the integer queries have sensitivity
Δ_int = ⌊Δ/γ⌋ + 1, and both noises are exact discrete Laplace samples (Canonne, Kamath,
Steinke 2020, arXiv:2004.00010, Algorithm 2) of scales t₁ = Δ_int/ε₁ and t₂ = 2cΔ_int/ε₂,
rounded up to 48-bit fractions. The comparison is exact integer arithmetic. Lyu et al.'s
proof holds verbatim on the integers: it shifts ρ by Δ and each "above" νᵢ by 2Δ (integers
here), and bounds the ratio of the noise laws under those shifts, which for the discrete
Laplace of scale t is exp(shift/t), as for the continuous one. The guarantee met is
Δ_int/t₁ + 2cΔ_int/t₂ ≤ ε (``epsilon``).

The budget is charged ``SparseVectorEvent(epsilon=ε)`` once, at construction, before the
threshold noise is drawn. The noisy threshold is kept inside the object and never shown.

Examples
--------
>>> from privet.core.random import SecureRandom
>>> svt = SparseVector(threshold=100.0, epsilon=1.0, sensitivity=1.0, max_above=2,
...     rng=SecureRandom.seeded(4))
>>> [svt.test(q) for q in (3.0, 500.0, 7.0, 900.0)]
[False, True, False, True]
>>> svt.halted
True
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Final

import numpy as np

from privet.accounting.chargeable import Chargeable, charge_budget
from privet.accounting.events import SparseVectorEvent
from privet.core.checks import check_epsilon, check_finite, check_int, check_positive
from privet.core.errors import BudgetExceededError, DataError, ParameterError, ParameterTypeError
from privet.core.random import SecureRandom
from privet.dp.mechanisms import (
    check_release_args,
    float_at_least,
    round_up_scale,
)

__all__ = ["AboveThreshold", "SparseVector"]

_FINENESS_BITS: Final = 20
_FAST_LIMIT: Final = 2.0**62


def _to_grid(x: float | Fraction, j: int) -> int:
    """rint(x / 2^j) as an exact integer (round half to even)."""
    if isinstance(x, float):
        with np.errstate(over="ignore"):
            scaled = float(np.ldexp(x, -j))
        if math.isfinite(scaled) and abs(scaled) < _FAST_LIMIT:
            return int(np.rint(scaled))
    return round(Fraction(x) / Fraction(2) ** j)


class SparseVector:
    """Answer above/below-threshold queries; halt after ``max_above`` "above" answers.

    See the module docstring for the algorithm (Lyu, Su, Li 2017, Algorithm 1) and its
    float-safe, exact form.

    Parameters
    ----------
    threshold : float
        The public threshold T.
    epsilon : float
        ε > 0, the total privacy cost (ε₁ for the threshold noise + ε₂ for the queries).
    sensitivity : float
        Δ > 0: the most one person changes any one query's value.
    max_above : int, default 1
        c ≥ 1: the number of "above" answers after which it halts.
    monotonic : bool, default False
        True if between neighbours all queries move in the same direction (counts): the
        query noise is then Lap(cΔ/ε₂) instead of Lap(2cΔ/ε₂) (Lyu et al. 2017).
    threshold_share : float or None, default None
        ε₁/ε in (0, 1); None uses Lyu et al.'s split ε₁ : ε₂ = 1 : (2c)^(2/3)
        (1 : c^(2/3) when monotonic). 0.5 with c = 1 is Dwork & Roth's AboveThreshold.
    budget : Budget or None, default None
        Charged ``SparseVectorEvent(epsilon=ε)`` once, here, before any noise is drawn.
    label : str, default ""
        Stored with the charge.
    rng : SecureRandom or None, default None
        The generator; None makes a fresh OS-keyed one. It is kept for the queries' noise.

    Attributes
    ----------
    event : SparseVectorEvent
        The event charged.
    charge : object or None
        What ``budget.charge`` returned.
    epsilon : float
        The ε met (≤ the ε asked, by the rounding up of the noise scales).

    Raises
    ------
    ParameterError
        If a numeric argument is out of range.
    ParameterTypeError
        If an argument has the wrong type.
    BudgetExceededError
        If the budget cannot afford ε (nothing is drawn, nothing recorded).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> svt = SparseVector(threshold=0.0, epsilon=1.0, sensitivity=1.0,
    ...     rng=SecureRandom.seeded(0))
    >>> svt.event, svt.remaining
    (SparseVectorEvent(epsilon=1.0), 1)
    """

    __slots__ = (
        "_answered",
        "_j",
        "_max_above",
        "_noisy_threshold",
        "_positives",
        "_query_scale",
        "_rng",
        "charge",
        "epsilon",
        "event",
        "label",
    )

    def __init__(
        self,
        *,
        threshold: float,
        epsilon: float,
        sensitivity: float,
        max_above: int = 1,
        monotonic: bool = False,
        threshold_share: float | None = None,
        budget: Chargeable | None = None,
        label: str = "",
        rng: SecureRandom | None = None,
    ) -> None:
        t = check_finite(threshold, name="threshold")
        eps = check_epsilon(epsilon)
        sens = check_positive(
            sensitivity, name="sensitivity", hint="pass the queries' sensitivity Δ > 0"
        )
        c = check_int(max_above, name="max_above", minimum=1)
        if not isinstance(monotonic, bool):
            raise ParameterTypeError(f"monotonic must be a bool, got {type(monotonic).__name__}")
        if threshold_share is None:
            ratio = (c if monotonic else 2 * c) ** (2.0 / 3.0)  # ε₂/ε₁, Lyu et al. 2017
            share = 1.0 / (1.0 + ratio)
        else:
            share = check_finite(threshold_share, name="threshold_share")
            if not 0.0 < share < 1.0:
                raise ParameterError(
                    f"threshold_share must lie in (0, 1), got {share!r}; it is ε₁/ε, the part "
                    "of ε spent on the threshold's noise"
                )
        chosen, lab, gen = check_release_args(budget, label, rng)

        j = math.frexp(sens)[1] - 1 - _FINENESS_BITS
        delta_int = math.floor(Fraction(sens) / Fraction(2) ** j) + 1
        eps1 = Fraction(eps) * Fraction(share)
        eps2 = Fraction(eps) - eps1
        per_query = (c if monotonic else 2 * c) * delta_int
        scale1 = round_up_scale(delta_int / eps1, what="SparseVector threshold noise")
        scale2 = round_up_scale(per_query / eps2, what="SparseVector query noise")

        self.event = SparseVectorEvent(epsilon=eps)
        self.epsilon = float_at_least(delta_int / scale1 + per_query / scale2)
        self.label = lab
        self.charge = charge_budget(chosen, self.event, label=lab)  # before any noise
        rho = int(gen.discrete_laplace(1, scale=scale1)[0])
        self._noisy_threshold = _to_grid(t, j) + rho
        self._rng = gen
        self._j = j
        self._query_scale = scale2
        self._max_above = c
        self._positives = 0
        self._answered = 0

    @property
    def halted(self) -> bool:
        """True once ``max_above`` "above" answers have been given."""
        return self._positives >= self._max_above

    @property
    def remaining(self) -> int:
        """How many more "above" answers it may give."""
        return self._max_above - self._positives

    @property
    def answered(self) -> int:
        """How many queries it has answered."""
        return self._answered

    def test(self, query_value: float | Fraction) -> bool:
        """Return True if the query is (noisily) above the threshold.

        Parameters
        ----------
        query_value : float, int or Fraction
            The exact value of the next query, q(D) (finite).

        Returns
        -------
        bool
            True for "above" (qᵢ + νᵢ ≥ T + ρ, exactly, on the grid).

        Raises
        ------
        BudgetExceededError
            If it has halted: its ``max_above`` "above" answers are spent.
        DataError
            If ``query_value`` is NaN or infinite.
        ParameterTypeError
            If ``query_value`` is not a real number.

        Examples
        --------
        >>> from privet.core.random import SecureRandom
        >>> svt = AboveThreshold(threshold=10.0, epsilon=2.0, sensitivity=1.0,
        ...     rng=SecureRandom.seeded(1))
        >>> svt.test(-100.0), svt.test(100.0)
        (False, True)
        """
        if self.halted:
            raise BudgetExceededError(
                f"this sparse vector has halted after max_above={self._max_above} 'above' "
                "answer(s): its privacy budget is spent. Create a new SparseVector (a new "
                "charge) to ask more"
            )
        if isinstance(query_value, bool) or not isinstance(query_value, numbers.Real):
            raise ParameterTypeError(
                f"query_value must be a real number, got {type(query_value).__name__}"
            )
        q: float | Fraction
        if isinstance(query_value, numbers.Rational) and not isinstance(query_value, float):
            # an int or Fraction is used exactly: float64 could round it
            q = Fraction(int(query_value.numerator), int(query_value.denominator))
        else:
            q = float(query_value)
            if not math.isfinite(q):
                raise DataError("query_value is NaN or infinite; pass a finite query value")
        nu = int(self._rng.discrete_laplace(1, scale=self._query_scale)[0])
        above = _to_grid(q, self._j) + nu >= self._noisy_threshold
        self._answered += 1
        if above:
            self._positives += 1
        return above

    def __repr__(self) -> str:
        state = "halted" if self.halted else f"{self.remaining} 'above' answer(s) left"
        return (
            f"{type(self).__name__}(ε={self.epsilon:.6g}, max_above={self._max_above}, "
            f"answered={self._answered}, {state})"
        )


class AboveThreshold(SparseVector):
    """:class:`SparseVector` with ``max_above=1``: halts at the first "above" answer.

    Dwork & Roth 2014, Algorithm 1 (AboveThreshold), Theorem 3.23; noise scales and the
    proof of Lyu, Su, Li 2017 (see :mod:`privet.dp.sparse_vector`).

    Parameters
    ----------
    threshold : float
        The public threshold T.
    epsilon : float
        ε > 0.
    sensitivity : float
        Δ > 0.
    monotonic : bool, default False
        True for queries that move in the same direction between neighbours.
    threshold_share : float or None, default None
        ε₁/ε (0.5 is Dwork & Roth's split); None uses Lyu et al.'s 1 : 2^(2/3).
    budget : Budget or None, default None
        Charged ``SparseVectorEvent(epsilon=ε)`` once, before any noise is drawn.
    label : str, default ""
        Stored with the charge.
    rng : SecureRandom or None, default None
        The generator.

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> AboveThreshold(threshold=5.0, epsilon=1.0, sensitivity=1.0,
    ...     rng=SecureRandom.seeded(0)).remaining
    1
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        threshold: float,
        epsilon: float,
        sensitivity: float,
        monotonic: bool = False,
        threshold_share: float | None = None,
        budget: Chargeable | None = None,
        label: str = "",
        rng: SecureRandom | None = None,
    ) -> None:
        super().__init__(
            threshold=threshold,
            epsilon=epsilon,
            sensitivity=sensitivity,
            max_above=1,
            monotonic=monotonic,
            threshold_share=threshold_share,
            budget=budget,
            label=label,
            rng=rng,
        )
