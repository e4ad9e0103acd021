"""Accountants: what a sequence of privacy events costs, as ε at a δ (or δ at an ε).

Four accountants share one interface (:class:`Accountant`): ``compose(event, count=1)``,
``get_epsilon(delta)``, ``get_delta(epsilon)`` and ``supports(event)``.

=================================  ========================================================
accountant                         prices
=================================  ========================================================
:class:`PLDAccountant`             every event; tight (privacy loss distributions, Google's
                                   ``dp_accounting``; Koskela et al. 2020, Doroshenko et al.
                                   2022)
:class:`RDPAccountant`             everything but approximate (ε, δ>0)-DP events; Rényi DP
                                   (Mironov 2017) through ``dp_accounting``
:class:`BasicCompositionAccountant`  pure and approximate DP events: (Σεᵢ, Σδᵢ)
:class:`AdvancedCompositionAccountant`  pure ε-DP events: the advanced composition theorem
=================================  ========================================================

and three pricing functions answer one question about one event: :func:`pure_epsilon`,
:func:`rdp_curve` and :func:`epsilon_at_delta`.

An accountant prices a sequence of mechanisms whose kinds and parameters were fixed in
advance (each query may still depend on earlier answers; dp_accounting's semantics). When
the parameters themselves are chosen on the fly, a privacy filter is needed instead
(:mod:`privet.accounting.filters`).

All accountants use the add/remove-one neighbouring relation. Composition is priced as the
multiset of an event's leaves (see :func:`privet.accounting.translate.flatten`); a compose
that fails changes nothing. Every accountant that knows an event is pure ε-DP also bounds
the total by basic composition, so ``get_epsilon`` never exceeds Σεᵢ for pure events.

Examples
--------
>>> from privet.accounting.events import LaplaceEvent, SelfComposedEvent
>>> ev = SelfComposedEvent(event=LaplaceEvent(epsilon=0.1), count=100)
>>> pure_epsilon(ev)
10.0
>>> round(AdvancedCompositionAccountant().compose(ev).get_epsilon(1e-6), 3)
6.308
>>> round(PLDAccountant().compose(ev).get_epsilon(1e-6), 2)
4.69
"""

from __future__ import annotations

import abc
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

import numpy as np
from dp_accounting import dp_event as dpe
from dp_accounting.pld import common as pld_common
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.pld import privacy_loss_distribution as pld_lib
from dp_accounting.privacy_accountant import NeighboringRelation
from dp_accounting.rdp import rdp_privacy_accountant

from privet.accounting.events import (
    ComposedEvent,
    DiscreteGaussianEvent,
    DiscreteLaplaceEvent,
    EpsilonDeltaEvent,
    ExponentialEvent,
    GaussianEvent,
    LaplaceEvent,
    LocalRandomizerEvent,
    PoissonSampledEvent,
    PrivacyEvent,
    RandomizedResponseEvent,
    ReportNoisyMaxEvent,
    SelfComposedEvent,
    SparseVectorEvent,
)
from privet.accounting.translate import (
    binary_randomized_response,
    flatten,
    gaussian_equivalent_sigma,
    to_dp_accounting,
)
from privet.core.checks import check_delta, check_finite, check_int, check_positive
from privet.core.errors import ParameterError, ParameterTypeError, UnsupportedEventError

__all__ = [
    "DEFAULT_RDP_ORDERS",
    "Accountant",
    "AdvancedCompositionAccountant",
    "BasicCompositionAccountant",
    "PLDAccountant",
    "RDPAccountant",
    "amplified_epsilon",
    "epsilon_at_delta",
    "pure_epsilon",
    "rdp_curve",
]

#: dp_accounting's default Rényi orders (1.1 … 10.9, 11 … 63, 128, 256, 512, 1024).
DEFAULT_RDP_ORDERS: tuple[float, ...] = tuple(
    float(order) for order in rdp_privacy_accountant.DEFAULT_RDP_ORDERS
)

#: Above this ε a Laplace PLD is replaced by binary randomized response (which dominates it).
_PLD_GRID_EPSILON = 10.0
#: Above this ε an event gives no useful guarantee (and e^ε overflows): ε = ∞ for PLD.
_PLD_MAX_EPSILON = 700.0

_ADD_REMOVE = NeighboringRelation.ADD_OR_REMOVE_ONE
_REPLACE_ONE = NeighboringRelation.REPLACE_ONE

_PureEvent = (
    LaplaceEvent
    | DiscreteLaplaceEvent
    | ExponentialEvent
    | ReportNoisyMaxEvent
    | SparseVectorEvent
    | RandomizedResponseEvent
    | LocalRandomizerEvent
)
_RRPriced = (
    RandomizedResponseEvent
    | ExponentialEvent
    | ReportNoisyMaxEvent
    | SparseVectorEvent
    | LocalRandomizerEvent
)


# ---------------------------------------------------------------------------------------
# Basic (ε, δ) of an event, with amplification by Poisson subsampling
# ---------------------------------------------------------------------------------------


def amplified_epsilon(epsilon: float, sampling_probability: float) -> float:
    """Return ε' = ln(1 + q(e^ε - 1)): an ε-DP mechanism run on a Poisson sample with rate q.

    Li, Qardaji, Su 2012, "On sampling, anonymization, and differential privacy",
    ASIACCS, Theorem 1; Balle, Barthe, Gaboardi 2018, "Privacy amplification by
    subsampling" (arXiv:1807.01647), Theorem 8 (an (ε, δ)-DP mechanism becomes
    (ε', qδ)-DP).

    Parameters
    ----------
    epsilon : float
        ε ≥ 0 of the mechanism.
    sampling_probability : float
        q in [0, 1].

    Returns
    -------
    float
        ε' ≤ ε.

    Examples
    --------
    >>> round(amplified_epsilon(1.0, 0.01), 6)
    0.017037
    """
    q = sampling_probability
    if q == 0:
        return 0.0
    if epsilon < 30:
        return math.log1p(q * math.expm1(epsilon))
    return epsilon + math.log(q + (1.0 - q) * math.exp(-epsilon))  # no overflow of e^ε


def _leaf_parameters(leaf: PrivacyEvent) -> tuple[float, float] | None:
    """(ε, δ) of one flattened leaf, or None when it has no fixed (ε, δ) (Gaussian …)."""
    if isinstance(leaf, _PureEvent):
        return leaf.epsilon, 0.0
    if isinstance(leaf, EpsilonDeltaEvent):
        return leaf.epsilon, leaf.delta
    if isinstance(leaf, PoissonSampledEvent):
        inner = _basic_parameters(flatten(leaf.event))
        if inner is None:
            return None
        q = leaf.sampling_probability
        # Li, Qardaji, Su 2012, Theorem 1 / Balle, Barthe, Gaboardi 2018, Theorem 8.
        return amplified_epsilon(inner[0], q), q * inner[1]
    return None


def _basic_parameters(leaves: Mapping[PrivacyEvent, int]) -> tuple[float, float] | None:
    """(Σεᵢ, Σδᵢ) over flattened leaves (Dwork & Roth 2014, Theorem 3.16), or None."""
    eps_parts: list[float] = []
    delta_parts: list[float] = []
    for leaf, count in leaves.items():
        params = _leaf_parameters(leaf)
        if params is None:
            return None
        eps_parts.append(count * params[0])
        delta_parts.append(count * params[1])
    return math.fsum(eps_parts), min(1.0, math.fsum(delta_parts))


# ---------------------------------------------------------------------------------------
# The common interface
# ---------------------------------------------------------------------------------------


class Accountant(abc.ABC):
    """A privacy accountant: compose events, then ask for ε at a δ or δ at an ε.

    Subclasses price one flattened leaf at a time: ``_prepare`` checks a leaf and returns
    what ``_commit`` needs (it raises :class:`~privet.errors.UnsupportedEventError` and
    changes nothing), ``_commit`` adds it ``count`` times, and ``_epsilon``/``_delta``
    answer for everything committed. The base class validates arguments, makes ``compose``
    all-or-nothing, answers ε = 0 / δ = 0 when nothing was composed, and caps the answer
    by basic composition when every composed event is pure ε-DP.
    """

    def __init__(self) -> None:
        self._ledger: Counter[PrivacyEvent] = Counter()
        self._pure_cache: tuple[bool, float | None] = (True, 0.0)

    # --- what subclasses implement -----------------------------------------------------
    @abc.abstractmethod
    def _prepare(self, leaf: PrivacyEvent) -> Any:
        """Check one leaf; return what :meth:`_commit` needs, or raise UnsupportedEventError."""

    @abc.abstractmethod
    def _commit(self, prepared: Any, count: int) -> None:
        """Add a prepared leaf ``count`` (≥ 1) times."""

    @abc.abstractmethod
    def _epsilon(self, delta: float) -> float:
        """ε at ``delta`` for everything committed (at least one leaf)."""

    @abc.abstractmethod
    def _delta(self, epsilon: float) -> float:
        """δ at ``epsilon`` for everything committed (at least one leaf)."""

    # --- the public interface ----------------------------------------------------------
    def compose(self, event: PrivacyEvent, count: int = 1) -> Self:
        """Add ``event``, run ``count`` times, to what this accountant has seen.

        Parameters
        ----------
        event : PrivacyEvent
            The event to account for.
        count : int, default 1
            How many times it ran (0 checks the event and adds nothing).

        Returns
        -------
        Accountant
            ``self``, so that calls chain.

        Raises
        ------
        UnsupportedEventError
            If this accountant cannot price ``event`` or a part of it (nothing is added).
        ParameterTypeError
            If ``event`` is not a privacy event or ``count`` not an integer.
        """
        count = check_int(count, name="count", minimum=0)
        leaves = flatten(event)
        prepared = [(leaf, self._prepare(leaf), n) for leaf, n in leaves.items()]
        if count == 0:
            return self
        for leaf, item, n in prepared:
            self._commit(item, n * count)
            self._ledger[leaf] += n * count
        self._pure_cache = (False, None)
        return self

    def supports(self, event: PrivacyEvent) -> bool:
        """Return whether :meth:`compose` would accept ``event`` (nothing is added).

        Parameters
        ----------
        event : PrivacyEvent
            The event to check.

        Returns
        -------
        bool
            False if ``event`` or a part of it cannot be priced by this accountant.
        """
        try:
            for leaf in flatten(event):
                self._prepare(leaf)
        except UnsupportedEventError:
            return False
        return True

    def get_epsilon(self, delta: float) -> float:
        """Return the smallest ε this accountant proves for everything composed, at ``delta``.

        Parameters
        ----------
        delta : float
            Target δ in [0, 1).

        Returns
        -------
        float
            ε ≥ 0 (``math.inf`` when no finite ε holds at this δ).
        """
        delta = check_delta(delta)
        if not self._ledger:
            return 0.0
        eps = float(self._epsilon(delta))
        pure = self._pure_total()
        if pure is not None:
            eps = min(eps, pure)
        return max(0.0, eps)

    def get_delta(self, epsilon: float) -> float:
        """Return the smallest δ this accountant proves for everything composed, at ``epsilon``.

        Parameters
        ----------
        epsilon : float
            Target ε ≥ 0.

        Returns
        -------
        float
            δ in [0, 1].
        """
        epsilon = check_finite(epsilon, name="epsilon")
        if epsilon < 0:
            raise ParameterError(f"epsilon must be >= 0, got {epsilon!r}; pass a target ε >= 0")
        if not self._ledger:
            return 0.0
        pure = self._pure_total()
        if pure is not None and epsilon >= pure:
            return 0.0
        return min(1.0, max(0.0, float(self._delta(epsilon))))

    @property
    def events(self) -> ComposedEvent:
        """Everything composed so far, as one event (each leaf with its total count)."""
        return ComposedEvent(
            events=tuple(SelfComposedEvent(event=leaf, count=n) for leaf, n in self._ledger.items())
        )

    def _pure_total(self) -> float | None:
        """Σε over the ledger if every composed event is pure ε-DP, else None (cached)."""
        valid, value = self._pure_cache
        if not valid:
            params = _basic_parameters(self._ledger)
            value = params[0] if params is not None and params[1] == 0 else None
            self._pure_cache = (True, value)
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{sum(self._ledger.values())} events composed>)"


# ---------------------------------------------------------------------------------------
# PLD
# ---------------------------------------------------------------------------------------


class PLDAccountant(Accountant):
    """Privacy loss distributions through ``dp_accounting`` (tight; pessimistic rounding).

    Events that ``dp_accounting``'s own ``PLDAccountant`` accepts under add/remove-one
    (Laplace, Gaussian, discrete Laplace, Poisson-sampled Gaussian or Laplace) go to it.
    The others are built with ``dp_accounting``'s PLD constructors and composed with it:

    * randomized response and every other pure event: ``from_randomized_response`` (the
      exact k-ary PLD, or binary randomized response at ε, which dominates any ε-DP
      mechanism; Kairouz, Oh, Viswanath 2015, proof of Theorem 3.3);
    * discrete Gaussian: ``from_discrete_gaussian_mechanism``;
    * (ε, δ)-DP: ``from_privacy_parameters``;
    * Poisson sampling of a Gaussian composite: one subsampled Gaussian with the equivalent
      σ (Dong, Roth, Su 2019, Corollary 3.3); of any other event with a basic (ε, δ):
      (ln(1+q(e^ε-1)), qδ) (Balle, Barthe, Gaboardi 2018, Theorem 8).

    Two guards keep the grid small, never understating the cost: a Laplace or discrete
    Laplace event with ε > 10 is priced as binary randomized response at ε (its PLD would
    span 2ε / value_discretization_interval grid points), and any event with ε > 700 (no
    useful guarantee) as non-private: ε = ∞, δ = 1 (pure events still cap ε at Σε).

    Parameters
    ----------
    value_discretization_interval : float, default 1e-4
        The PLD grid step; smaller is tighter and slower.

    Examples
    --------
    >>> from privet.accounting.events import GaussianEvent
    >>> acc = PLDAccountant().compose(GaussianEvent(noise_multiplier=1.0))
    >>> round(acc.get_epsilon(1e-5), 2)
    4.38
    """

    def __init__(self, *, value_discretization_interval: float = 1e-4) -> None:
        super().__init__()
        self._vdi = check_positive(
            value_discretization_interval,
            name="value_discretization_interval",
            hint="pass a small grid step such as 1e-4",
        )
        self._native = pld_privacy_accountant.PLDAccountant(
            neighboring_relation=_ADD_REMOVE, value_discretization_interval=self._vdi
        )
        self._native_used = False
        self._extra: Any = None  # PrivacyLossDistribution of what the native one refused
        self._combined: Any = None
        self._non_private = False  # an event with ε > 700 was composed: ε = ∞, δ = 1

    def _prepare(self, leaf: PrivacyEvent) -> Any:
        vdi = self._vdi
        eps = getattr(leaf, "epsilon", 0.0)
        if isinstance(leaf, _PureEvent | EpsilonDeltaEvent) and eps > _PLD_MAX_EPSILON:
            # No useful guarantee (and e^ε overflows): priced as non-private, ε = ∞.
            return dpe.NonPrivateDpEvent()
        if isinstance(leaf, LaplaceEvent | DiscreteLaplaceEvent) and eps > _PLD_GRID_EPSILON:
            # The PLD grid would span ±ε / value_discretization_interval points; binary
            # randomized response at ε dominates the mechanism and needs two.
            return self._rr_factory(binary_randomized_response(eps))
        if isinstance(leaf, LaplaceEvent | GaussianEvent | DiscreteLaplaceEvent):
            return to_dp_accounting(leaf)
        if isinstance(leaf, DiscreteGaussianEvent):
            sigma, sensitivity = leaf.sigma, leaf.sensitivity
            return lambda: pld_lib.from_discrete_gaussian_mechanism(
                sigma, sensitivity=sensitivity, value_discretization_interval=vdi
            )
        if isinstance(leaf, _RRPriced) or (isinstance(leaf, EpsilonDeltaEvent) and leaf.delta == 0):
            return self._rr_factory(to_dp_accounting(leaf))
        if isinstance(leaf, EpsilonDeltaEvent):
            return self._eps_delta_factory(leaf.epsilon, leaf.delta)
        if isinstance(leaf, PoissonSampledEvent):
            q = leaf.sampling_probability
            sigma_eq = gaussian_equivalent_sigma(leaf.event)
            if sigma_eq is not None:
                return dpe.PoissonSampledDpEvent(q, dpe.GaussianDpEvent(sigma_eq))
            inner = flatten(leaf.event)
            if len(inner) == 1 and next(iter(inner.values())) == 1:
                (only,) = inner
                if isinstance(only, LaplaceEvent) and only.epsilon <= _PLD_GRID_EPSILON:
                    return dpe.PoissonSampledDpEvent(q, to_dp_accounting(only))
            params = _leaf_parameters(leaf)
            if params is None:
                raise UnsupportedEventError(
                    "PLDAccountant prices a PoissonSampledEvent only around Gaussian events or "
                    f"events with a fixed (ε, δ); got one around {leaf.event!r:.200}"
                )
            eps, delta = params
            if eps > _PLD_MAX_EPSILON:
                return dpe.NonPrivateDpEvent()
            if delta == 0:
                return self._rr_factory(binary_randomized_response(eps))
            return self._eps_delta_factory(eps, delta)
        raise UnsupportedEventError(f"PLDAccountant cannot price {type(leaf).__name__}")

    def _rr_factory(self, rr: Any) -> Callable[[], Any] | Any:
        if isinstance(rr, dpe.NoOpDpEvent):
            return rr
        vdi = self._vdi
        # The ε of a randomized-response event holds between any two inputs of one person:
        # the REPLACE_ONE pair of dp_accounting (exact for randomized response, and the
        # dominating pair of every ε-DP mechanism for the other pure events).
        return lambda: pld_lib.from_randomized_response(
            noise_parameter=rr.noise_parameter,
            num_buckets=rr.num_buckets,
            value_discretization_interval=vdi,
            neighboring_relation=_REPLACE_ONE,
        )

    def _eps_delta_factory(self, epsilon: float, delta: float) -> Callable[[], Any]:
        vdi = self._vdi
        return lambda: pld_lib.from_privacy_parameters(
            pld_common.DifferentialPrivacyParameters(epsilon=epsilon, delta=delta),
            value_discretization_interval=vdi,
        )

    def _commit(self, prepared: Any, count: int) -> None:
        self._combined = None
        if isinstance(prepared, dpe.NoOpDpEvent):
            return
        if isinstance(prepared, dpe.NonPrivateDpEvent):
            self._non_private = True
            return
        if isinstance(prepared, dpe.DpEvent):
            self._native.compose(prepared, count)
            self._native_used = True
            return
        pld = prepared()
        if count > 1:
            pld = pld.self_compose(count)
        self._extra = pld if self._extra is None else self._extra.compose(pld)

    def _pld(self) -> Any:
        """Return the PLD of everything composed (None: dp_accounting's accountant has it all)."""
        if self._extra is None:
            return None
        if not self._native_used:
            return self._extra
        if self._combined is None:
            # dp_accounting 0.6.0 (pinned) gives no public access to its accountant's PLD;
            # `_pld` is read only here, to compose it with the PLDs built above.
            self._combined = self._native._pld.compose(self._extra)
        return self._combined

    def _epsilon(self, delta: float) -> float:
        if self._non_private:
            return math.inf
        pld = self._pld()
        if pld is None:
            return float(self._native.get_epsilon(delta))
        return float(pld.get_epsilon_for_delta(delta))

    def _delta(self, epsilon: float) -> float:
        if self._non_private:
            return 1.0
        pld = self._pld()
        if pld is None:
            return float(self._native.get_delta(epsilon))
        return float(pld.get_delta_for_epsilon(epsilon))


# ---------------------------------------------------------------------------------------
# RDP
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Basic and advanced composition
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Pricing functions
# ---------------------------------------------------------------------------------------


def pure_epsilon(event: PrivacyEvent) -> float | None:
    """Return ε if ``event`` is pure ε-DP by basic composition of its parts, else None.

    Laplace, discrete Laplace, exponential, report-noisy-max, sparse vector, randomized
    response, local randomizers and (ε, 0) events count their ε; ``NoOpEvent`` counts 0;
    ``ComposedEvent`` sums (Dwork & Roth 2014, Theorem 3.16); ``SelfComposedEvent``
    multiplies by its count; ``PoissonSampledEvent`` with rate q around a pure event of ε
    counts ln(1 + q(e^ε - 1)) (Li, Qardaji, Su 2012, Theorem 1; Balle, Barthe, Gaboardi
    2018, Theorem 8). Gaussian, discrete Gaussian and (ε, δ>0) events, and composites
    holding one, give None.

    Parameters
    ----------
    event : PrivacyEvent
        The event to price.

    Returns
    -------
    float or None
        ε ≥ 0, or None when the event is not pure DP.

    Raises
    ------
    UnsupportedEventError
        If ``event`` or a nested event is of an unknown type.

    Examples
    --------
    >>> from privet.accounting.events import GaussianEvent, LaplaceEvent, SelfComposedEvent
    >>> pure_epsilon(SelfComposedEvent(event=LaplaceEvent(epsilon=0.5), count=4))
    2.0
    >>> pure_epsilon(GaussianEvent(noise_multiplier=1.0)) is None
    True
    """
    params = _basic_parameters(flatten(event))
    if params is None or params[1] > 0:
        return None
    return params[0]


def rdp_curve(event: PrivacyEvent, orders: Sequence[float]) -> np.ndarray:
    """Return the Rényi-DP ε(α) of ``event`` at each order α (see :class:`RDPAccountant`).

    Parameters
    ----------
    event : PrivacyEvent
        The event to price.
    orders : sequence of float
        Rényi orders α > 1.

    Returns
    -------
    numpy.ndarray
        One ε(α) per order, in the order given.

    Raises
    ------
    UnsupportedEventError
        For approximate (ε, δ>0) events (RDP cannot express δ > 0) and unknown events.

    Examples
    --------
    >>> from privet.accounting.events import GaussianEvent
    >>> rdp_curve(GaussianEvent(noise_multiplier=2.0), [2.0, 4.0])  # α/(2σ²)
    array([0.25, 0.5 ])
    """
    return RDPAccountant(orders=orders).compose(event).rdp


def epsilon_at_delta(event: PrivacyEvent, *, delta: float) -> float:
    """Return the tightest ε of ``event`` at ``delta`` (PLD; capped by pure ε when pure).

    Parameters
    ----------
    event : PrivacyEvent
        The event to price.
    delta : float
        Target δ in [0, 1).

    Returns
    -------
    float
        ε ≥ 0.

    Examples
    --------
    >>> from privet.accounting.events import LaplaceEvent
    >>> epsilon_at_delta(LaplaceEvent(epsilon=1.0), delta=0.0)
    1.0
    """
    return PLDAccountant().compose(event).get_epsilon(delta)
