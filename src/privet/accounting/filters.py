"""Privacy filters: budgets that stay valid when each query is chosen after seeing the last.

An interactive session composes *fully adaptively*: the analyst picks the next mechanism and
its privacy parameters after seeing earlier answers. The classic composition theorems fix
the parameters in advance and do not apply; a **privacy filter** does. It is a stopping
rule: given the budget (ε, δ) and the parameters already charged, it says whether the next
charge may run. Every filter here is a pure function (no I/O, no state): the ledger
(:mod:`privet.store`) stores the charges and asks the filter inside its write transaction.

**One charge is one adaptive step.** An event that is a :class:`ComposedEvent` or
:class:`SelfComposedEvent` was fixed before any of its parts ran (one DP-SGD run), so it is
priced tightly *as one step*: by PLD (:func:`epsilon_at_delta`) or by its RDP curve.
Separate charges are never priced as if their sequence had been fixed in advance: PLD
composition is only sound where the sequence of mechanisms is fixed in advance, so a filter
composes separate charges only by the adaptive rules below.

=================  =====================================================================
filter             admits a charge iff, counting it
=================  =====================================================================
``basic``          Σεᵢ ≤ ε and Σδᵢ ≤ δ
``advanced``       Σδᵢ ≤ δ/2 and (Σεᵢ ≤ ε or √(2 ln(2/δ) Σεᵢ²) + Σεᵢ²/2 ≤ ε)
``rdp``            (every charge pure and Σεᵢ ≤ ε) or
                   minₐ [Σρᵢ(α) + ln(|Λ|/δ)/(α-1)] ≤ ε over the orders α ∈ Λ
=================  =====================================================================

Sources, and why each rule is valid under full adaptivity:

* ``basic``: Rogers, Roth, Ullman, Vadhan 2016, "Privacy odometers and filters: pay-as-you-go
  composition" (NeurIPS 2016; arXiv:1605.08294), the basic-composition filter of their
  Section 3 (Lemma 3.5 in v1, numbered differently in later versions).
* ``advanced``: Whitehouse, Ramdas, Rogers, Wu 2023, "Fully-adaptive composition in
  differential privacy" (ICML 2023; arXiv:2203.05481), the filter for approximate DP that
  matches advanced composition, built on their approximate-zCDP filter: the ε part is
  √(2 ln(1/δ′) Σεᵢ²) + Σεᵢ²/2 with slack δ′ and Σδᵢ ≤ δ″. We take δ′ = δ″ = δ/2 (fixed
  at creation, as in Rogers et al.'s advanced filter, which also keeps Σδᵢ ≤ δ/2). For
  pure charges the rule also follows from the two results cited next: εᵢ-DP implies
  D_α ≤ αεᵢ²/2 at every α (Bun & Steinke 2016, "Concentrated differential privacy",
  arXiv:1605.02065, Proposition 1.4), so while Σεᵢ²/2 ≤ ρ the Rényi filter (below) makes
  the run ρ-zCDP, which is (ρ + 2√(ρ ln(1/δ′)), δ′)-DP (Bun & Steinke, Proposition 1.3);
  solving ρ + 2√(ρ ln(1/δ′)) = ε gives the rule. Rogers et al.'s own advanced filter
  (arXiv:1605.08294) is never tighter: each of its terms is at least the matching term
  here (its √ has ln(2/δ) ≥ ln(1/δ′), a factor 1 + ½ln(·+1) ≥ 1 and an extra ε²-term
  ≥ 0, and Σεᵢ(e^εᵢ - 1)/2 ≥ Σεᵢ²/2), so "the tighter of the two" is this one.
* ``rdp``: Feldman & Zrnic 2021, "Individual privacy accounting via a Rényi filter"
  (NeurIPS 2021; arXiv:2008.11193), the Rényi filter (Theorem 4.3 in the arXiv version): at
  a fixed order α, if Σρᵢ(α) ≤ B holds on every run, the adaptive composition is
  (α, B)-RDP. For several orders at once we use exactly what their proof gives: for each
  α, exp((α-1)(L - Σρᵢ(α))) is a non-negative supermartingale in the privacy loss L, so
  by Markov's inequality P(L > ε and Σρᵢ(α) ≤ B(α)) ≤ exp(-(α-1)(ε - B(α))); with
  B(α) = ε - ln(|Λ|/δ)/(α-1) and a union bound over the |Λ| orders, P(L > ε) ≤ δ on every
  run that ends with *some* order within its B(α), which is (ε, δ)-DP. The union bound
  costs ln|Λ| in the conversion, so the filter tracks a short grid
  (:data:`FILTER_RDP_ORDERS`, 22 orders) rather than ``dp_accounting``'s 150+. The ε
  reported as spent is the same conversion, minₐ [Σρᵢ(α) + ln(|Λ|/δ)/(α-1)] (Mironov 2017,
  "Rényi differential privacy", Proposition 3, with δ/|Λ| per order). Lécuyer 2021,
  "Practical privacy filters and odometers with Rényi DP" (arXiv:2103.01379) also tracks
  several orders; we implement only the union-bound rule proved above.
* the extra pure branch (``advanced`` and ``rdp``): a run whose charges are all pure with
  Σεᵢ ≤ ε has privacy loss L ≤ Σεᵢ ≤ ε on every outcome (pure ε-DP bounds the loss of each
  step pointwise), so P(L > ε) gains nothing from admitting those runs too; the other runs
  keep the tail bound of their own branch. Approximate charges join only through the
  δ-pool, whose Σδᵢ bounds the probability that any step leaves its pure part (the usual
  decomposition of an (εᵢ, δᵢ)-DP step). The branch makes both filters admit at least what
  ``basic`` admits for pure charges.

Theorem numbers differ between versions of these papers; the ones given are for the
versions named (arXiv v1 for Rogers et al.).

A limit raised later (:meth:`privet.store.Budget.raise_limit`) keeps a filter valid at the
highest limit it is ever raised to, as long as that ceiling is a policy fixed in advance and
not a reaction to the answers (an open-ended budget is an odometer, which costs more:
Rogers et al. 2016).

Examples
--------
>>> from privet.accounting.events import LaplaceEvent
>>> f = BasicFilter(epsilon=1.0)
>>> costs = [f.price(LaplaceEvent(epsilon=0.3))] * 3
>>> f.spent(costs), f.admits(costs, f.price(LaplaceEvent(epsilon=0.1)))
((0.9, 0.0), True)
>>> f.admits(costs, f.price(LaplaceEvent(epsilon=0.2)))
False
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from privet.accounting.events import (
    ComposedEvent,
    EpsilonDeltaEvent,
    PoissonSampledEvent,
    PrivacyEvent,
    SelfComposedEvent,
)
from privet.accounting.pricing import epsilon_at_delta, pure_epsilon, rdp_curve
from privet.core.checks import check_delta, check_epsilon, check_finite
from privet.core.errors import (
    BudgetExceededError,
    ParameterError,
    ParameterTypeError,
    UnsupportedEventError,
)

__all__ = [
    "DEFAULT_CHARGE_DELTA_FRACTION",
    "FILTER_NAMES",
    "FILTER_RDP_ORDERS",
    "AdvancedFilter",
    "BasicFilter",
    "Cost",
    "PrivacyFilter",
    "RDPFilter",
    "default_filter",
    "make_filter",
]

#: The filters by name, as the ledger stores them.
FILTER_NAMES: tuple[str, ...] = ("basic", "advanced", "rdp")

#: Rényi orders the ``rdp`` filter tracks: short, because the multi-order rule pays ln|Λ|.
FILTER_RDP_ORDERS: tuple[float, ...] = (
    1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0,
    12.0, 16.0, 20.0, 24.0, 32.0, 48.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
)  # fmt: skip

#: A non-pure charge without ``delta=`` gets this fraction of the budget's δ-pool as δᵢ.
DEFAULT_CHARGE_DELTA_FRACTION = 0.1

# Relative slack of every comparison with a limit, so that 3 × 0.3 fits in 0.9 despite
# binary floating point (the overshoot it allows is at most 1e-12 of the limit).
_SLACK = 1e-12


def _within(value: float, limit: float) -> bool:
    return value <= limit * (1.0 + _SLACK)


@dataclasses.dataclass(frozen=True)
class Cost:
    """What one adaptive step costs, as a filter composes it.

    Parameters
    ----------
    epsilon : float
        εᵢ ≥ 0: the step's pure ε when ``delta`` is 0; otherwise its ε at ``delta``.
    delta : float, default 0.0
        δᵢ in [0, 1); 0 means the step is pure εᵢ-DP.
    rdp : tuple of float or None, default None
        The step's RDP ε(α) at the filter's orders (``rdp`` filters only); ``inf`` allowed.

    Examples
    --------
    >>> Cost(epsilon=0.5).pure
    True
    """

    epsilon: float
    delta: float = 0.0
    rdp: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        eps = check_finite(self.epsilon, name="epsilon")
        if eps < 0:
            raise ParameterError(f"a cost's epsilon must be >= 0, got {eps!r}")
        object.__setattr__(self, "epsilon", eps)
        object.__setattr__(self, "delta", check_delta(self.delta))
        if self.rdp is not None:
            curve = tuple(float(x) for x in self.rdp)
            if any(math.isnan(x) or x < 0 for x in curve):
                raise ParameterError("a cost's RDP curve must hold values >= 0 (inf allowed)")
            object.__setattr__(self, "rdp", curve)

    @property
    def pure(self) -> bool:
        """Whether the step is pure ε-DP (δᵢ = 0)."""
        return self.delta == 0.0


class PrivacyFilter(abc.ABC):
    """A stopping rule valid under fully adaptive composition (see the module docstring).

    Subclasses fix ``name`` and implement :meth:`price` and :meth:`spent`; admissibility is
    always "the spent (ε, δ) after the charge is within the limit".

    Parameters
    ----------
    epsilon : float
        The budget's ε limit, > 0.
    delta : float, default 0.0
        The budget's δ limit, in [0, 1).
    """

    name: ClassVar[str] = ""

    def __init__(self, *, epsilon: float, delta: float = 0.0) -> None:
        self.epsilon = check_epsilon(epsilon)
        self.delta = check_delta(delta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(epsilon={self.epsilon!r}, delta={self.delta!r})"

    def params(self) -> dict[str, Any]:
        """Return the JSON-ready parameters fixed when the budget was created."""
        return {}

    @abc.abstractmethod
    def price(self, event: PrivacyEvent, *, delta: float | None = None) -> Cost:
        """Return what charging ``event`` as one adaptive step costs under this filter."""

    @abc.abstractmethod
    def spent(self, costs: Sequence[Cost]) -> tuple[float, float]:
        """Return the (ε, δ) that the charges ``costs`` have spent, as this filter counts."""

    def remaining(self, costs: Sequence[Cost]) -> tuple[float, float]:
        """Return the limit minus :meth:`spent`, each part at least 0."""
        eps, delta = self.spent(costs)
        return max(self.epsilon - eps, 0.0), max(self.delta - delta, 0.0)

    def admits(self, costs: Sequence[Cost], cost: Cost) -> bool:
        """Return whether ``cost`` may be charged after ``costs``."""
        eps, delta = self.spent([*costs, cost])
        return _within(eps, self.epsilon) and _within(delta, self.delta)

    def check(self, costs: Sequence[Cost], cost: Cost) -> None:
        """Raise :class:`BudgetExceededError` unless ``cost`` may be charged after ``costs``.

        Raises
        ------
        BudgetExceededError
            With the cost, what would be spent, what remains and the fix.
        """
        if self.admits(costs, cost):
            return
        eps_after, delta_after = self.spent([*costs, cost])
        eps_left, delta_left = self.remaining(costs)
        raise BudgetExceededError(
            f"cannot afford this charge: it costs ε={cost.epsilon:.6g}, δ={cost.delta:.3g}; "
            f"under the {self.name!r} filter the budget would have spent "
            f"ε={eps_after:.6g}, δ={delta_after:.3g} of its limit ε={self.epsilon:.6g}, "
            f"δ={self.delta:.3g} (remaining now: ε={eps_left:.6g}, δ={delta_left:.3g}). "
            "Nothing was recorded. Ask a cheaper query (smaller ε, more noise) or raise "
            "the limit explicitly with Budget.raise_limit(epsilon=..., reason=...)"
        )


class _EpsilonDeltaPricing(PrivacyFilter):
    """Pricing shared by ``basic`` and ``advanced``: a step is an (εᵢ, δᵢ) pair."""

    def delta_pool(self) -> float:
        """Return the part of δ that the charges' δᵢ may use."""
        return self.delta

    def default_charge_delta(self) -> float:
        """Return δᵢ for a non-pure charge given without ``delta=``."""
        return DEFAULT_CHARGE_DELTA_FRACTION * self.delta_pool()

    def price(self, event: PrivacyEvent, *, delta: float | None = None) -> Cost:
        """Price ``event`` as one step: (pure ε, 0), (ε, δ) as given, or ε at δᵢ by PLD.

        A pure event costs (ε, 0); with an explicit ``delta`` it costs (ε at ``delta``,
        ``delta``) by PLD instead when that ε is smaller (a composite fixed in advance
        often is). An ``EpsilonDeltaEvent`` costs its own (ε, δ). Any other event costs
        (ε at δᵢ, δᵢ) by PLD, with δᵢ = ``delta`` or the default
        ``DEFAULT_CHARGE_DELTA_FRACTION`` × the δ-pool.

        Parameters
        ----------
        event : PrivacyEvent
            The step.
        delta : float or None, default None
            δᵢ to spend on a non-pure step, in (0, 1).

        Returns
        -------
        Cost
            The step's (εᵢ, δᵢ).

        Raises
        ------
        BudgetExceededError
            If the step needs δᵢ > 0 and the budget has no δ to give.
        UnsupportedEventError
            If ``event`` or a nested event is of an unknown type.
        """
        explicit = _check_charge_delta(delta)
        if isinstance(event, EpsilonDeltaEvent):
            if explicit is not None:
                raise ParameterError(
                    "an EpsilonDeltaEvent carries its own δ; do not pass delta= with it"
                )
            return Cost(epsilon=event.epsilon, delta=event.delta)
        pure = pure_epsilon(event)
        if pure is not None:
            if explicit is None:
                return Cost(epsilon=pure)
            eps_at = epsilon_at_delta(event, delta=explicit)
            return Cost(epsilon=eps_at, delta=explicit) if eps_at < pure else Cost(epsilon=pure)
        d = explicit if explicit is not None else self.default_charge_delta()
        if d <= 0.0:
            raise BudgetExceededError(
                f"cannot afford this charge: {type(event).__name__} is not pure ε-DP and "
                f"needs δ > 0, but this {self.name!r} budget has δ = {self.delta:.3g} to "
                "give. Nothing was recorded. Create a budget with delta > 0, or raise this "
                "one's δ with Budget.raise_limit(delta=..., reason=...)"
            )
        return Cost(epsilon=epsilon_at_delta(event, delta=d), delta=d)


class BasicFilter(_EpsilonDeltaPricing):
    """Basic composition as a filter: admit iff Σεᵢ ≤ ε and Σδᵢ ≤ δ.

    Rogers, Roth, Ullman, Vadhan 2016 (arXiv:1605.08294), the basic-composition filter of
    Section 3: valid when every εᵢ, δᵢ is chosen adaptively. Works for pure (δ = 0) and
    approximate budgets.

    Parameters
    ----------
    epsilon : float
        The ε limit, > 0.
    delta : float, default 0.0
        The δ limit, in [0, 1).

    Examples
    --------
    >>> f = BasicFilter(epsilon=1.0, delta=1e-6)
    >>> f.spent([Cost(epsilon=0.25, delta=1e-7), Cost(epsilon=0.5)])
    (0.75, 1e-07)
    """

    name: ClassVar[str] = "basic"

    def spent(self, costs: Sequence[Cost]) -> tuple[float, float]:
        """Return (Σεᵢ, Σδᵢ), summed exactly (``math.fsum``)."""
        # Rogers et al. 2016, basic filter: the run is (Σεᵢ, Σδᵢ)-DP.
        return math.fsum(c.epsilon for c in costs), math.fsum(c.delta for c in costs)


class AdvancedFilter(_EpsilonDeltaPricing):
    """Advanced composition as a filter (Whitehouse et al. 2023), never below ``basic``.

    With δ′ = δ″ = δ/2: admit iff Σδᵢ ≤ δ″ and (Σεᵢ ≤ ε or
    √(2 ln(1/δ′) Σεᵢ²) + Σεᵢ²/2 ≤ ε). See the module docstring for the sources and the
    proof that the pure branch Σεᵢ ≤ ε may be added.

    Parameters
    ----------
    epsilon : float
        The ε limit, > 0.
    delta : float
        The δ limit, in (0, 1); half of it is the concentration slack δ′.

    Examples
    --------
    >>> f = AdvancedFilter(epsilon=10.0, delta=1e-6)
    >>> eps, delta = f.spent([Cost(epsilon=0.1)] * 200)
    >>> round(eps, 4), delta
    (8.618, 5e-07)
    """

    name: ClassVar[str] = "advanced"
    PARAMS: ClassVar[dict[str, Any]] = {"concentration_delta_fraction": 0.5}

    def __init__(self, *, epsilon: float, delta: float) -> None:
        super().__init__(epsilon=epsilon, delta=delta)
        if self.delta == 0.0:
            raise ParameterError(
                "an 'advanced' budget needs delta > 0 (its bound holds with probability "
                "1 - δ); use filter='basic' for a pure-DP budget with delta = 0"
            )

    @property
    def concentration_delta(self) -> float:
        """δ′ = δ/2: the slack of the √(2 ln(1/δ′) Σεᵢ²) bound."""
        return self.delta / 2.0

    def delta_pool(self) -> float:
        """δ″ = δ - δ′: what the charges' δᵢ may sum to (Rogers et al. keep Σδᵢ ≤ δ/2)."""
        return self.delta - self.concentration_delta

    def concentration_epsilon(self, costs: Sequence[Cost]) -> float:
        """Return √(2 ln(1/δ′) Σεᵢ²) + Σεᵢ²/2 (Whitehouse et al. 2023's filter bound)."""
        square = math.fsum(c.epsilon * c.epsilon for c in costs)
        # Whitehouse, Ramdas, Rogers, Wu 2023 (arXiv:2203.05481), advanced-composition
        # filter: εᵢ-DP steps are εᵢ²/2-zCDP (Bun & Steinke 2016, arXiv:1605.02065,
        # Proposition 1.4), composed by their approximate-zCDP filter, converted with
        # ρ + 2√(ρ ln(1/δ′)) at ρ = Σεᵢ²/2 (Bun & Steinke 2016, Proposition 1.3).
        return math.sqrt(2.0 * math.log(1.0 / self.concentration_delta) * square) + square / 2

    def spent(self, costs: Sequence[Cost]) -> tuple[float, float]:
        """Return the smaller certified ε: (Σεᵢ, Σδᵢ), or (bound, Σδᵢ + δ′) if lower."""
        # Pure branch: Σεᵢ certifies (Σεᵢ, Σδᵢ) on its own (Rogers et al. 2016, basic
        # filter); the module docstring shows why admitting either branch stays valid.
        basic = math.fsum(c.epsilon for c in costs)
        deltas = math.fsum(c.delta for c in costs)
        bound = self.concentration_epsilon(costs)
        if bound < basic:
            return bound, deltas + self.concentration_delta
        return basic, deltas

    def admits(self, costs: Sequence[Cost], cost: Cost) -> bool:
        """Admit iff Σδᵢ ≤ δ″ and (Σεᵢ ≤ ε or the Whitehouse et al. bound ≤ ε)."""
        after = [*costs, cost]
        if not _within(math.fsum(c.delta for c in after), self.delta_pool()):
            return False
        eps, _ = self.spent(after)
        return _within(eps, self.epsilon)

    def params(self) -> dict[str, Any]:
        """Return the δ split, fixed at creation."""
        return dict(self.PARAMS)


class RDPFilter(PrivacyFilter):
    """The Rényi filter over several orders (Feldman & Zrnic 2021, with a union bound).

    Admit iff every charge is pure with Σεᵢ ≤ ε, or some order α ∈ Λ has
    Σρᵢ(α) ≤ ε - ln(|Λ|/δ)/(α-1). Each charge is priced by its RDP curve
    (:func:`rdp_curve`), which prices a composite fixed in advance as one step. Approximate
    (ε, δ>0) events have no RDP curve and are refused.

    Parameters
    ----------
    epsilon : float
        The ε limit, > 0.
    delta : float
        The δ limit, in (0, 1), used by the RDP-to-(ε, δ) conversion.
    orders : sequence of float, default FILTER_RDP_ORDERS
        The orders Λ, all > 1; fixed when the budget is created.

    Examples
    --------
    >>> from privet.accounting.events import GaussianEvent
    >>> f = RDPFilter(epsilon=2.0, delta=1e-6, orders=(2.0, 4.0))
    >>> cost = f.price(GaussianEvent(noise_multiplier=4.0))
    >>> cost.rdp  # α/(2σ²)
    (0.0625, 0.125)
    >>> round(f.spent([cost])[0], 4)  # min over α of ρ(α) + ln(2/δ)/(α-1)
    4.9612
    """

    name: ClassVar[str] = "rdp"

    def __init__(
        self, *, epsilon: float, delta: float, orders: Sequence[float] = FILTER_RDP_ORDERS
    ) -> None:
        super().__init__(epsilon=epsilon, delta=delta)
        if self.delta == 0.0:
            raise ParameterError(
                "an 'rdp' budget needs delta > 0 to convert Rényi DP into (ε, δ)-DP; use "
                "filter='basic' for a pure-DP budget with delta = 0"
            )
        if isinstance(orders, str | bytes) or not isinstance(orders, Sequence | np.ndarray):
            raise ParameterTypeError(
                f"orders must be a sequence of Rényi orders > 1, got {type(orders).__name__}"
            )
        checked = tuple(check_finite(a, name="each RDP order") for a in orders)
        if not checked or min(checked) <= 1.0 or len(set(checked)) != len(checked):
            raise ParameterError(
                f"orders must be distinct Rényi orders > 1, got {checked!r:.120}; "
                "pass FILTER_RDP_ORDERS"
            )
        self.orders = checked

    def __repr__(self) -> str:
        return (
            f"RDPFilter(epsilon={self.epsilon!r}, delta={self.delta!r}, "
            f"orders=<{len(self.orders)} orders>)"
        )

    def params(self) -> dict[str, Any]:
        """Return the orders, fixed at creation."""
        return {"orders": list(self.orders)}

    def _conversion(self) -> np.ndarray:
        # Mironov 2017, Proposition 3, at δ/|Λ| per order (union bound over Λ).
        orders = np.asarray(self.orders, dtype=np.float64)
        return math.log(len(self.orders) / self.delta) / (orders - 1.0)

    def rdp_epsilon(self, curve: Sequence[float] | np.ndarray) -> float:
        """Return minₐ [ρ(α) + ln(|Λ|/δ)/(α-1)]: the ε that the RDP curve certifies."""
        values = np.asarray(curve, dtype=np.float64) + self._conversion()
        return float(np.min(values))

    def price(self, event: PrivacyEvent, *, delta: float | None = None) -> Cost:
        """Price ``event`` by its RDP curve at the filter's orders.

        A pure event's cost also carries its pure ε (δᵢ = 0); any other event's cost
        carries the ε its curve certifies alone (δᵢ = the budget's δ).

        Parameters
        ----------
        event : PrivacyEvent
            The step.
        delta : None
            Not used: an ``rdp`` budget prices events by their curve.

        Returns
        -------
        Cost
            The step's curve and ε.

        Raises
        ------
        UnsupportedEventError
            For an approximate (ε, δ>0) event, also nested, and for unknown events.
        """
        if delta is not None:
            raise ParameterError(
                "an 'rdp' budget prices each event by its RDP curve; delta= is not used. "
                "Use a 'basic' budget to spend an explicit δ per charge"
            )
        if _holds_approximate(event):
            raise UnsupportedEventError(
                "this event is approximate (ε, δ>0)-DP, which Rényi DP cannot express, so "
                "an 'rdp' budget cannot charge it; charge it to a budget created with "
                "filter='basic'"
            )
        curve = rdp_curve(event, self.orders)
        pure = pure_epsilon(event)
        if pure is not None:
            return Cost(epsilon=pure, rdp=tuple(curve))
        return Cost(epsilon=self.rdp_epsilon(curve), delta=self.delta, rdp=tuple(curve))

    def _total(self, costs: Sequence[Cost]) -> np.ndarray:
        total = np.zeros(len(self.orders), dtype=np.float64)
        for c in costs:
            if c.rdp is None or len(c.rdp) != len(self.orders):
                raise ParameterError(
                    "every charge to an 'rdp' budget needs an RDP curve at the budget's "
                    f"{len(self.orders)} orders"
                )
            total += np.asarray(c.rdp, dtype=np.float64)
        return total

    def spent(self, costs: Sequence[Cost]) -> tuple[float, float]:
        """Return (Σεᵢ, 0) if all pure and not above the RDP bound, else (RDP bound, δ)."""
        if not costs:
            return 0.0, 0.0
        # Rényi filter at every order of Λ (Feldman & Zrnic 2021) + union bound over Λ.
        rdp_eps = self.rdp_epsilon(self._total(costs))
        if all(c.pure for c in costs):  # pure branch: L ≤ Σεᵢ pointwise (module docstring)
            basic = math.fsum(c.epsilon for c in costs)
            if basic <= rdp_eps:
                return basic, 0.0
        return rdp_eps, self.delta


def _holds_approximate(event: PrivacyEvent) -> bool:
    stack = [event]
    while stack:
        ev = stack.pop()
        if isinstance(ev, EpsilonDeltaEvent) and ev.delta > 0:
            return True
        if isinstance(ev, ComposedEvent):
            stack.extend(ev.events)
        elif isinstance(ev, SelfComposedEvent | PoissonSampledEvent):
            stack.append(ev.event)
    return False


def _check_charge_delta(delta: object) -> float | None:
    if delta is None:
        return None
    out = check_delta(delta)
    return out if out > 0 else None


def default_filter(delta: float) -> str:
    """Return the filter a budget gets when none is named: ``basic`` for δ = 0, else ``rdp``.

    ``rdp`` for δ > 0 because it charges Gaussian and subsampled Gaussian events (DP-SGD)
    tightly, keeps pure charges at least as cheap as ``basic`` does, and is valid under full
    adaptivity; it refuses only approximate (ε, δ>0) events, which need ``basic``.

    Examples
    --------
    >>> default_filter(0.0), default_filter(1e-6)
    ('basic', 'rdp')
    """
    return "basic" if check_delta(delta) == 0.0 else "rdp"


def make_filter(name: str, *, epsilon: float, delta: float = 0.0, **params: Any) -> PrivacyFilter:
    """Build the filter called ``name`` with its limits and stored parameters.

    Parameters
    ----------
    name : {"basic", "advanced", "rdp"}
        The filter.
    epsilon, delta : float
        The limits.
    **params
        What :meth:`PrivacyFilter.params` returned when the budget was created.

    Returns
    -------
    PrivacyFilter
        The filter.

    Examples
    --------
    >>> make_filter("advanced", epsilon=1.0, delta=1e-6)
    AdvancedFilter(epsilon=1.0, delta=1e-06)
    """
    if not isinstance(name, str):
        raise ParameterTypeError(f"filter must be a str, got {type(name).__name__}")
    if name not in FILTER_NAMES:
        raise ParameterError(f"filter must be one of {', '.join(FILTER_NAMES)}, got {name!r}")
    if name == "rdp" and set(params) <= {"orders"}:
        return RDPFilter(epsilon=epsilon, delta=delta, **params)
    if name == "advanced" and params in ({}, AdvancedFilter.PARAMS):
        return AdvancedFilter(epsilon=epsilon, delta=delta)
    if name == "basic" and not params:
        return BasicFilter(epsilon=epsilon, delta=delta)
    raise ParameterError(f"unknown parameters for the {name!r} filter: {sorted(params)!r}")
