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

and three pricing functions answer one question about one event
(:mod:`privet.accounting.pricing`): ``pure_epsilon``, ``rdp_curve`` and ``epsilon_at_delta``.
This module holds the interface and what the accountants share; the concrete ones live in
:mod:`~privet.accounting.pld`, :mod:`~privet.accounting.rdp` and
:mod:`~privet.accounting.composition`.

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
>>> from privet.accounting import (AdvancedCompositionAccountant, LaplaceEvent,
...     PLDAccountant, SelfComposedEvent, pure_epsilon)
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
from collections.abc import Mapping
from typing import Any, Self

from dp_accounting.privacy_accountant import NeighboringRelation
from dp_accounting.rdp import rdp_privacy_accountant

from privet.accounting.events import (
    ComposedEvent,
    DiscreteLaplaceEvent,
    EpsilonDeltaEvent,
    ExponentialEvent,
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
    flatten,
)
from privet.core.checks import check_delta, check_finite, check_int
from privet.core.errors import ParameterError, UnsupportedEventError

__all__ = ["DEFAULT_RDP_ORDERS", "Accountant", "amplified_epsilon"]

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
