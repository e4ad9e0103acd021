"""The RDP accountant: Rényi differential privacy (Mironov 2017) through ``dp_accounting``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from dp_accounting import dp_event as dpe
from dp_accounting.rdp import rdp_privacy_accountant

from privet.accounting.accountants import (
    _ADD_REMOVE,
    _REPLACE_ONE,
    DEFAULT_RDP_ORDERS,
    Accountant,
    _leaf_parameters,
    _RRPriced,
)
from privet.accounting.events import (
    DiscreteGaussianEvent,
    DiscreteLaplaceEvent,
    EpsilonDeltaEvent,
    GaussianEvent,
    LaplaceEvent,
    PoissonSampledEvent,
    PrivacyEvent,
)
from privet.accounting.translate import (
    binary_randomized_response,
    gaussian_equivalent_sigma,
    to_dp_accounting,
)
from privet.core.checks import check_finite
from privet.core.errors import ParameterError, ParameterTypeError, UnsupportedEventError

__all__ = ["RDPAccountant"]


def _check_orders(orders: object) -> tuple[float, ...]:
    if isinstance(orders, str | bytes) or not isinstance(orders, Sequence | np.ndarray):
        raise ParameterTypeError(
            f"orders must be a sequence of Rényi orders > 1, got {type(orders).__name__}"
        )
    out = tuple(check_finite(a, name="each RDP order") for a in orders)
    if not out or min(out) <= 1.0:
        raise ParameterError(
            f"orders must be a non-empty sequence of Rényi orders > 1, got {out!r:.120}; "
            "pass DEFAULT_RDP_ORDERS"
        )
    return out


class RDPAccountant(Accountant):
    """Rényi DP through ``dp_accounting``'s ``RdpAccountant`` (Mironov 2017).

    Gaussian, Laplace, discrete Gaussian (as ρ-zCDP) and Poisson-sampled Gaussian events go
    to a ``RdpAccountant`` under add/remove-one. Randomized response and the other pure
    events go to a second ``RdpAccountant`` under REPLACE_ONE, which is the relation their ε
    speaks about (binary randomized response at ε, which dominates every ε-DP mechanism;
    Kairouz, Oh, Viswanath 2015, proof of Theorem 3.3; Rényi divergence obeys data
    processing, so the dominating pair's RDP bounds the mechanism's).
    The discrete Laplace mechanism at ε with sensitivity 1 *is* binary randomized response
    at ε for this purpose: its privacy loss takes only the values ±ε, with the same
    probabilities. RDP curves add under composition (Mironov 2017, Proposition 1), so the
    two accountants' public ``rdp`` arrays are summed, and ε is read off with
    ``dp_accounting``'s ``compute_epsilon`` (Canonne, Kamath, Steinke 2020, Proposition 12).

    RDP cannot express an approximate (ε, δ>0) guarantee: such events are refused.

    Parameters
    ----------
    orders : sequence of float, default DEFAULT_RDP_ORDERS
        The Rényi orders α > 1 to track.

    Examples
    --------
    >>> from privet.accounting.events import GaussianEvent
    >>> round(RDPAccountant().compose(GaussianEvent(noise_multiplier=1.0)).get_epsilon(1e-5), 2)
    4.7
    """

    def __init__(self, *, orders: Sequence[float] = DEFAULT_RDP_ORDERS) -> None:
        super().__init__()
        self._orders = _check_orders(orders)
        self._add_remove = rdp_privacy_accountant.RdpAccountant(
            orders=list(self._orders), neighboring_relation=_ADD_REMOVE
        )
        self._replace_one = rdp_privacy_accountant.RdpAccountant(
            orders=list(self._orders), neighboring_relation=_REPLACE_ONE
        )

    @property
    def orders(self) -> tuple[float, ...]:
        """The Rényi orders tracked."""
        return self._orders

    @property
    def rdp(self) -> np.ndarray:
        """The RDP ε(α) of everything composed, at each order (a fresh array)."""
        total = np.asarray(self._add_remove.rdp, dtype=np.float64) + np.asarray(
            self._replace_one.rdp, dtype=np.float64
        )
        return total

    @staticmethod
    def _no_delta(what: str) -> UnsupportedEventError:
        return UnsupportedEventError(
            f"{what} is approximate (ε, δ>0)-DP, which RDP cannot express; charge it to a "
            "basic-composition budget (BasicCompositionAccountant) or use PLDAccountant"
        )

    def _prepare(self, leaf: PrivacyEvent) -> tuple[Any, Any]:
        if isinstance(leaf, LaplaceEvent | GaussianEvent | DiscreteGaussianEvent):
            return self._add_remove, to_dp_accounting(leaf)
        if isinstance(leaf, DiscreteLaplaceEvent):
            return self._replace_one, binary_randomized_response(leaf.epsilon)
        if isinstance(leaf, _RRPriced):
            return self._replace_one, to_dp_accounting(leaf)
        if isinstance(leaf, EpsilonDeltaEvent):
            if leaf.delta > 0:
                raise self._no_delta(f"EpsilonDeltaEvent(delta={leaf.delta!r})")
            return self._replace_one, binary_randomized_response(leaf.epsilon)
        if isinstance(leaf, PoissonSampledEvent):
            q = leaf.sampling_probability
            sigma_eq = gaussian_equivalent_sigma(leaf.event)
            if sigma_eq is not None:
                return self._add_remove, dpe.PoissonSampledDpEvent(q, dpe.GaussianDpEvent(sigma_eq))
            params = _leaf_parameters(leaf)
            if params is None:
                raise UnsupportedEventError(
                    "RDPAccountant prices a PoissonSampledEvent only around Gaussian events or "
                    f"pure ε-DP events; got one around {leaf.event!r:.200}"
                )
            if params[1] > 0:
                raise self._no_delta("a Poisson-sampled EpsilonDeltaEvent")
            # Li, Qardaji, Su 2012, Theorem 1: ε-DP on a Poisson sample is ε'-DP.
            return self._replace_one, binary_randomized_response(params[0])
        raise UnsupportedEventError(f"RDPAccountant cannot price {type(leaf).__name__}")

    def _commit(self, prepared: tuple[Any, Any], count: int) -> None:
        accountant, event = prepared
        accountant.compose(event, count)

    def _epsilon(self, delta: float) -> float:
        eps, _ = rdp_privacy_accountant.compute_epsilon(self._orders, self.rdp, delta)
        return float(eps)

    def _delta(self, epsilon: float) -> float:
        delta, _ = rdp_privacy_accountant.compute_delta(self._orders, self.rdp, epsilon)
        return float(delta)


def _expm1(x: float) -> float:
    return math.expm1(x) if x < 700 else math.inf
