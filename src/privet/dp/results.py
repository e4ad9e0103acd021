"""What a DP query returns: the noisy value, its error bar, and the privacy event charged.

A :class:`QueryResult` is frozen. Its error bar describes the *noise only*: with probability
at least ``confidence`` over the noise, the statistic privet computed before adding noise
(after clamping and contribution bounding) lies in ``ci``. The bias from clamping to the
bounds and from dropping rows beyond the contribution bounds is not in the interval: it
depends on the data, which the interval must not reveal.

The helpers below give the exact tails and moments of the discrete Laplace law
``P(z) ∝ exp(-|z|/t)`` on the integers (the two-sided geometric law, which Canonne, Kamath,
Steinke 2020, arXiv:2004.00010, sample exactly): for ``j >= 1``,
``P(|Z| >= j) = 2·e^(-j/t) / (1 + e^(-1/t))``, and ``Var Z = 2·e^(-1/t) / (1 - e^(-1/t))²``.

Examples
--------
>>> round(discrete_laplace_std(1000), 1)
1414.2
>>> discrete_laplace_halfwidth(1000, alpha=0.05)
2996
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Mapping
from fractions import Fraction
from typing import Any

from privet.accounting.events import PrivacyEvent

__all__ = [
    "QueryResult",
    "discrete_laplace_halfwidth",
    "discrete_laplace_std",
]

Interval = tuple[float, float]


def discrete_laplace_std(scale: float | Fraction) -> float:
    """Return the standard deviation of the discrete Laplace law of ``scale`` t > 0.

    Parameters
    ----------
    scale : float or Fraction
        t, in integer steps.

    Returns
    -------
    float
        ``sqrt(2·e^(-1/t)) / (1 - e^(-1/t))``.

    Examples
    --------
    >>> round(discrete_laplace_std(1), 3)
    1.357
    """
    inv = 1.0 / float(scale)
    return math.sqrt(2.0 * math.exp(-inv)) / -math.expm1(-inv)


def discrete_laplace_halfwidth(scale: float | Fraction, *, alpha: float) -> int:
    """Return the smallest integer ``k`` with ``P(|Z| > k) <= alpha`` for discrete Laplace t.

    Parameters
    ----------
    scale : float or Fraction
        t > 0, in integer steps.
    alpha : float
        The miss probability, in (0, 1).

    Returns
    -------
    int
        The half-width, in integer steps.

    Examples
    --------
    >>> discrete_laplace_halfwidth(1, alpha=0.05)
    3
    """
    t = float(scale)
    # P(|Z| > k) = P(|Z| >= k+1) = 2 e^{-(k+1)/t} / (1 + e^{-1/t}) <= alpha.
    need = t * math.log(2.0 / (alpha * (1.0 + math.exp(-1.0 / t))))
    k = max(0, math.ceil(need) - 1)
    while k > 0 and 2.0 * math.exp(-k / t) / (1.0 + math.exp(-1.0 / t)) <= alpha:
        k -= 1  # float slack: step down while the smaller k still holds
    return k


@dataclasses.dataclass(frozen=True)
class QueryResult:
    """One DP release from a :class:`~privet.dp.Session`.

    Attributes
    ----------
    query : str
        ``"count"``, ``"sum"``, ``"mean"``, ``"variance"``, ``"quantile"``,
        ``"histogram"``, ``"groupby.count"``, ``"groupby.sum"`` or ``"groupby.mean"``.
    value : float or dict
        The noisy answer; a dict ``{key: float}`` for histograms and group-bys (with private
        keys, only the keys that passed DP partition selection).
    ci : tuple of float, dict of tuples, or None
        The interval that holds the pre-noise statistic with probability ``confidence``
        (noise only; see the module docstring). ``None`` for quantiles.
    confidence : float
        The interval's level (default 0.95).
    noise_scale : float
        The scale of the noise in the value's units: the Laplace scale ``b`` (``P ∝
        e^(-|z|/b)``) of one released number; for means and variances the scale of the sum's
        noise; for quantiles the exponential mechanism's ``2·Δ/ε`` in *ranks*.
    noise_std : float or None
        The noise's standard deviation in the value's units, where it has one number.
    mechanism : str
        How it was released, e.g. ``"fixed-point sum + discrete Laplace"``.
    epsilon, delta : float
        The privacy parameters this query asked for.
    event : PrivacyEvent
        The event charged to the budget.
    charge : object
        The ledger's record of the charge (:class:`privet.store.Charge`).
    from_cache : bool
        True when the session returned an earlier release of the same query, for free.
    details : Mapping
        Calibration facts, all public: sensitivities, grid exponent, threshold …; never a
        data-derived count.
    """

    query: str
    value: float | dict[Hashable, float]
    ci: Interval | dict[Hashable, Interval] | None
    confidence: float
    noise_scale: float
    noise_std: float | None
    mechanism: str
    epsilon: float
    delta: float
    event: PrivacyEvent
    charge: Any
    from_cache: bool = False
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def error(self) -> float | dict[Hashable, float] | None:
        """The half-width of :attr:`ci` (the larger side), or a dict of them per key."""
        if self.ci is None:
            return None
        if isinstance(self.ci, dict):
            return {k: _half(v, self.value, k) for k, v in self.ci.items()}
        value = self.value
        if not isinstance(value, float):
            return None
        lo, hi = self.ci
        return max(value - lo, hi - value)

    def __repr__(self) -> str:
        v = self.value
        shown = f"{len(v)} keys" if isinstance(v, dict) else f"{v:.6g}"
        cached = ", from cache" if self.from_cache else ""
        return (
            f"QueryResult({self.query}: {shown}, ε={self.epsilon:g}, δ={self.delta:g}, "
            f"{self.mechanism}{cached})"
        )


def _half(interval: Interval, value: float | dict[Hashable, float], key: Hashable) -> float:
    v = value[key] if isinstance(value, dict) else value
    return max(v - interval[0], interval[1] - v)
