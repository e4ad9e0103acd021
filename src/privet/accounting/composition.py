"""Basic and advanced composition accountants for pure and approximate DP events."""

from __future__ import annotations

import math

from privet.accounting.accountants import (
    Accountant,
    _leaf_parameters,
)
from privet.accounting.events import (
    PrivacyEvent,
)
from privet.accounting.rdp import _expm1
from privet.core.errors import UnsupportedEventError

__all__ = ["AdvancedCompositionAccountant", "BasicCompositionAccountant"]


class BasicCompositionAccountant(Accountant):
    """Basic composition: k mechanisms (εᵢ, δᵢ)-DP compose to (Σεᵢ, Σδᵢ)-DP.

    Dwork & Roth 2014, "The algorithmic foundations of differential privacy", Theorem 3.16
    (it holds under adaptive composition too; Dwork, Rothblum, Vadhan 2010). Valid for any
    adaptively chosen sequence, and the loosest of the four. Gaussian and discrete Gaussian
    events have no fixed (ε, δ) and are refused.

    Examples
    --------
    >>> from privet.accounting.events import EpsilonDeltaEvent, LaplaceEvent
    >>> acc = BasicCompositionAccountant()
    >>> acc = acc.compose(LaplaceEvent(epsilon=0.5)).compose(
    ...     EpsilonDeltaEvent(epsilon=1.0, delta=1e-6))
    >>> acc.get_epsilon(1e-6), acc.get_epsilon(1e-7)
    (1.5, inf)
    """

    def __init__(self) -> None:
        super().__init__()
        self._eps_parts: list[float] = []
        self._delta_parts: list[float] = []

    def _prepare(self, leaf: PrivacyEvent) -> tuple[float, float]:
        params = _leaf_parameters(leaf)
        if params is None:
            raise UnsupportedEventError(
                f"BasicCompositionAccountant needs events with a fixed (ε, δ); "
                f"{type(leaf).__name__} has none (a Gaussian's ε depends on δ): "
                "use PLDAccountant or RDPAccountant"
            )
        return params

    def _commit(self, prepared: tuple[float, float], count: int) -> None:
        self._eps_parts.append(count * prepared[0])
        self._delta_parts.append(count * prepared[1])

    def _epsilon(self, delta: float) -> float:
        if math.fsum(self._delta_parts) > delta:
            return math.inf
        return math.fsum(self._eps_parts)

    def _delta(self, epsilon: float) -> float:
        if epsilon >= math.fsum(self._eps_parts):
            return min(1.0, math.fsum(self._delta_parts))
        return 1.0


class AdvancedCompositionAccountant(Accountant):
    """The advanced composition theorem for pure ε-DP events, capped by basic composition.

    For k mechanisms, each εᵢ-DP, and any δ' > 0, the adaptive composition is (ε', δ')-DP
    with ε' = sqrt(2 ln(1/δ') Σεᵢ²) + Σ εᵢ(e^εᵢ - 1). For k equal ε this is Dwork,
    Rothblum, Vadhan 2010, "Boosting and differential privacy", Theorem III.3, as stated
    in Dwork & Roth 2014, Theorem 3.20: ε' = sqrt(2k ln(1/δ'))ε + kε(e^ε - 1). For unequal
    εᵢ the proof of Theorem 3.20 carries over step by step: the privacy loss of step i has
    conditional mean at most εᵢ(e^εᵢ - 1) (Dwork & Roth 2014, Lemma 3.18) and is bounded
    by εᵢ in absolute value, so Azuma's inequality bounds the total loss by the formula
    above except with probability δ'. The answer is min(ε', Σεᵢ). Tighter bounds exist
    (Kairouz, Oh, Viswanath 2015, Section 3, replace εᵢ(e^εᵢ - 1) by
    εᵢ(e^εᵢ - 1)/(e^εᵢ + 1)); PLDAccountant is tighter still.

    Examples
    --------
    >>> from privet.accounting.events import LaplaceEvent
    >>> acc = AdvancedCompositionAccountant().compose(LaplaceEvent(epsilon=0.1), count=100)
    >>> round(acc.get_epsilon(1e-6), 4)
    6.3082
    >>> round(acc.get_delta(6.3082), 8)
    1e-06
    """

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[tuple[float, int]] = []

    def _prepare(self, leaf: PrivacyEvent) -> float:
        params = _leaf_parameters(leaf)
        if params is None or params[1] > 0:
            raise UnsupportedEventError(
                "AdvancedCompositionAccountant takes pure ε-DP events only; "
                f"{type(leaf).__name__} is not one: use PLDAccountant (or "
                "BasicCompositionAccountant for approximate (ε, δ) events)"
            )
        return params[0]

    def _commit(self, prepared: float, count: int) -> None:
        self._parts.append((prepared, count))

    def _sums(self) -> tuple[float, float, float]:
        basic = math.fsum(n * e for e, n in self._parts)
        drift = math.fsum(n * e * _expm1(e) for e, n in self._parts)
        square = math.fsum(n * e * e for e, n in self._parts)
        return basic, drift, square

    def _epsilon(self, delta: float) -> float:
        basic, drift, square = self._sums()
        if delta == 0:
            return basic
        return min(basic, math.sqrt(2.0 * math.log(1.0 / delta) * square) + drift)

    def _delta(self, epsilon: float) -> float:
        _, drift, square = self._sums()
        if epsilon <= drift or square == 0:
            return 1.0
        return math.exp(-((epsilon - drift) ** 2) / (2.0 * square))
