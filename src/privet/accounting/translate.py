"""Translate privet events into Google ``dp_accounting`` events, and flatten compositions.

privet's events say what a mechanism did; ``dp_accounting`` prices events of its own. This
module maps one onto the other, so that the accountants in
:mod:`privet.accounting.accountants` can hand the maths to ``dp_accounting`` instead of
redoing it.

The mapping (neighbouring relation: add/remove one privacy unit):

==============================  =============================================================
privet event                    ``dp_accounting`` event
==============================  =============================================================
``NoOpEvent``                   ``NoOpDpEvent``
``LaplaceEvent(ε)``             ``LaplaceDpEvent(noise_multiplier=1/ε)``
``GaussianEvent(σ)``            ``GaussianDpEvent(noise_multiplier=σ)``
``DiscreteLaplaceEvent(ε)``     ``DiscreteLaplaceDpEvent(noise_parameter=ε, sensitivity=1)``
``DiscreteGaussianEvent(σ,Δ)``  ``ZCDpEvent(rho=Δ²/(2σ²))`` (Canonne, Kamath, Steinke 2020,
                                arXiv:2004.00010, Theorem 4 in v4)
``RandomizedResponseEvent``     ``RandomizedResponseDpEvent(k/(e^ε+k-1), num_buckets=k)``
other pure ε events             binary randomized response at the same ε (see below)
``EpsilonDeltaEvent(ε, 0)``     binary randomized response at ε (``NoOpDpEvent`` if ε = 0)
``EpsilonDeltaEvent(ε, δ>0)``   none: ``dp_accounting`` has no (ε, δ) event; the PLD accountant
                                prices it with ``from_privacy_parameters``
``PoissonSampledEvent``         ``PoissonSampledDpEvent``
``ComposedEvent``               ``ComposedDpEvent``
``SelfComposedEvent``           ``SelfComposedDpEvent``
==============================  =============================================================

Pure events with no exact ``dp_accounting`` counterpart (exponential mechanism,
report-noisy-max, sparse vector, local randomizers) become binary randomized response at the
same ε. That is exact in the worst case and never optimistic: binary randomized response
dominates every ε-DP mechanism (Kairouz, Oh, Viswanath 2015, "The composition theorem for
differential privacy", ICML, arXiv:1311.0776: the mechanism built in the proof of their
Theorem 3.3 dominates every (ε, δ)-DP mechanism, and with δ = 0 it is binary randomized
response), so any accountant's bound for it bounds the mechanism too.

``DiscreteLaplaceEvent(ε)`` is mapped with sensitivity 1. Its privacy loss then takes only the
values ±ε, with the probabilities of binary randomized response at ε; for a larger
sensitivity the mechanism is still ε-DP, hence dominated by that same pair, so the mapping
never understates the cost.

Examples
--------
>>> from privet.accounting.events import LaplaceEvent, SelfComposedEvent
>>> to_dp_accounting(SelfComposedEvent(event=LaplaceEvent(epsilon=0.5), count=3))
SelfComposedDpEvent(event=LaplaceDpEvent(noise_multiplier=2.0), count=3)
"""

from __future__ import annotations

import math
from collections import Counter

from dp_accounting import dp_event as dpe

from privet.accounting.events import (
    ComposedEvent,
    DiscreteGaussianEvent,
    DiscreteLaplaceEvent,
    EpsilonDeltaEvent,
    ExponentialEvent,
    GaussianEvent,
    LaplaceEvent,
    LocalRandomizerEvent,
    NoOpEvent,
    PoissonSampledEvent,
    PrivacyEvent,
    RandomizedResponseEvent,
    ReportNoisyMaxEvent,
    SelfComposedEvent,
    SparseVectorEvent,
)
from privet.core.errors import ParameterTypeError, UnsupportedEventError

__all__ = [
    "check_known_event",
    "flatten",
    "gaussian_equivalent_sigma",
    "randomized_response_noise",
    "to_dp_accounting",
]

#: Events that are pure ε-DP on their own, with their ε in the ``epsilon`` field.
PURE_EVENT_TYPES: tuple[type[PrivacyEvent], ...] = (
    LaplaceEvent,
    DiscreteLaplaceEvent,
    ExponentialEvent,
    ReportNoisyMaxEvent,
    SparseVectorEvent,
    RandomizedResponseEvent,
    LocalRandomizerEvent,
)

#: Pure events that become binary randomized response (no exact dp_accounting event).
RR_DOMINATED_TYPES: tuple[type[PrivacyEvent], ...] = (
    ExponentialEvent,
    ReportNoisyMaxEvent,
    SparseVectorEvent,
    LocalRandomizerEvent,
)

_KNOWN_TYPES: frozenset[type[PrivacyEvent]] = frozenset(
    (
        *PURE_EVENT_TYPES,
        NoOpEvent,
        GaussianEvent,
        DiscreteGaussianEvent,
        EpsilonDeltaEvent,
        PoissonSampledEvent,
        ComposedEvent,
        SelfComposedEvent,
    )
)


def check_known_event(event: object) -> PrivacyEvent:
    """Return ``event`` after checking that it and every event nested in it is privet's own.

    Subclasses of privet's events are refused too: a subclass may change what the mechanism
    does, and pricing it as its parent could understate its cost.

    Parameters
    ----------
    event : PrivacyEvent
        The event to check.

    Returns
    -------
    PrivacyEvent
        ``event`` itself.

    Raises
    ------
    ParameterTypeError
        If ``event`` is not a privacy event at all.
    UnsupportedEventError
        If ``event`` or a nested event is of a type privet does not know.

    Examples
    --------
    >>> check_known_event(NoOpEvent())
    NoOpEvent()
    """
    if not isinstance(event, PrivacyEvent):
        raise ParameterTypeError(
            f"event must be a privet.accounting event, got {type(event).__name__}; "
            "build one from privet.accounting (LaplaceEvent, GaussianEvent, ...)"
        )
    stack: list[PrivacyEvent] = [event]
    while stack:
        ev = stack.pop()
        if type(ev) not in _KNOWN_TYPES:
            raise UnsupportedEventError(
                f"unknown privacy event type {type(ev).__qualname__} (kind {ev.kind!r}); "
                "privet's accountants price only privet.accounting's own event types"
            )
        if isinstance(ev, ComposedEvent):
            stack.extend(ev.events)
        elif isinstance(ev, SelfComposedEvent | PoissonSampledEvent):
            stack.append(ev.event)
    return event


def flatten(event: PrivacyEvent) -> dict[PrivacyEvent, int]:
    """Return the leaves of ``event`` with their multiplicities.

    Composition is commutative for every accountant here, so an event is priced as the
    multiset of its leaves: ``ComposedEvent`` and ``SelfComposedEvent`` are expanded,
    ``NoOpEvent``, zero counts, ``EpsilonDeltaEvent(0, 0)`` and sampling with probability 0
    are dropped, nested Poisson sampling is merged (sampling with q₁ then q₂ is sampling
    with q₁q₂), and sampling with probability 1 is removed. A ``PoissonSampledEvent`` with
    0 < q < 1 stays one leaf, since its inner events share one sample.

    Parameters
    ----------
    event : PrivacyEvent
        The event to flatten; every nested event is checked first.

    Returns
    -------
    dict of PrivacyEvent to int
        Each leaf and how many times it is composed (all counts > 0).

    Examples
    --------
    >>> flatten(ComposedEvent(events=[LaplaceEvent(epsilon=1.0), NoOpEvent(),
    ...     SelfComposedEvent(event=LaplaceEvent(epsilon=1.0), count=2)]))
    {LaplaceEvent(epsilon=1.0): 3}
    """
    check_known_event(event)
    out: Counter[PrivacyEvent] = Counter()
    _flatten_into(event, 1, out)
    return dict(out)


def _flatten_into(event: PrivacyEvent, count: int, out: Counter[PrivacyEvent]) -> None:
    if count == 0 or isinstance(event, NoOpEvent):
        return
    if isinstance(event, ComposedEvent):
        for ev in event.events:
            _flatten_into(ev, count, out)
    elif isinstance(event, SelfComposedEvent):
        _flatten_into(event.event, count * event.count, out)
    elif isinstance(event, PoissonSampledEvent):
        q, inner = event.sampling_probability, event.event
        while isinstance(inner, PoissonSampledEvent):
            q *= inner.sampling_probability
            inner = inner.event
        if q == 0.0 or not flatten(inner):
            return
        if q == 1.0:
            _flatten_into(inner, count, out)
        elif q == event.sampling_probability and inner is event.event:
            out[event] += count
        else:
            out[PoissonSampledEvent(sampling_probability=q, event=inner)] += count
    elif isinstance(event, EpsilonDeltaEvent) and event.epsilon == 0 and event.delta == 0:
        return
    else:
        out[event] += count


def gaussian_equivalent_sigma(event: PrivacyEvent) -> float | None:
    """Return σ of the one Gaussian equal to ``event``, or None if it is not all Gaussian.

    Gaussian mechanisms run on the same data with noise multipliers σᵢ compose to one
    Gaussian mechanism with noise multiplier (Σ 1/σᵢ²)^(-1/2) (Dong, Roth, Su 2019,
    "Gaussian differential privacy", arXiv:1905.02383, Corollary 3.3 in v2); this is what
    lets a Poisson-sampled composite be priced as one subsampled Gaussian.

    Parameters
    ----------
    event : PrivacyEvent
        A (possibly composed) event.

    Returns
    -------
    float or None
        The equivalent noise multiplier; None if ``event`` has a non-Gaussian part or
        no part at all.

    Examples
    --------
    >>> gaussian_equivalent_sigma(SelfComposedEvent(event=GaussianEvent(noise_multiplier=2.0),
    ...     count=4))
    1.0
    """
    leaves = flatten(event)
    if not leaves or not all(isinstance(leaf, GaussianEvent) for leaf in leaves):
        return None
    sigmas = [
        (leaf.noise_multiplier, count)
        for leaf, count in leaves.items()
        if isinstance(leaf, GaussianEvent)
    ]
    if len(sigmas) == 1:  # one σ: keep it exact (no round trip through 1/σ²)
        sigma, count = sigmas[0]
        return sigma if count == 1 else sigma / math.sqrt(count)
    return 1.0 / math.sqrt(math.fsum(count / sigma**2 for sigma, count in sigmas))


def randomized_response_noise(epsilon: float, num_buckets: int) -> float:
    """Return ``dp_accounting``'s noise parameter p of k-ary randomized response at ε.

    ``dp_accounting`` reports the true bucket with probability 1 - p + p/k, and privet's
    event with probability e^ε/(e^ε + k - 1); equating gives p = k/(e^ε + k - 1), computed
    here as k·e^(-ε)/(1 + (k-1)·e^(-ε)) so that a large ε cannot overflow.

    Parameters
    ----------
    epsilon : float
        The local privacy ε ≥ 0.
    num_buckets : int
        The number of answers k ≥ 2.

    Returns
    -------
    float
        The noise parameter p in (0, 1].

    Examples
    --------
    >>> round(randomized_response_noise(math.log(3.0), 2), 12)
    0.5
    """
    t = math.exp(-epsilon)
    return num_buckets * t / (1.0 + (num_buckets - 1) * t)


def binary_randomized_response(epsilon: float) -> dpe.DpEvent:
    """Return the ``dp_accounting`` event that dominates every ε-DP mechanism.

    Binary randomized response at ε dominates every ε-DP mechanism (Kairouz, Oh,
    Viswanath 2015, the dominating mechanism of the proof of Theorem 3.3, at δ = 0), so
    pricing a pure event as this one is never optimistic.

    Parameters
    ----------
    epsilon : float
        ε ≥ 0; ε = 0 gives ``NoOpDpEvent``.

    Returns
    -------
    dp_accounting.DpEvent
        ``RandomizedResponseDpEvent`` over two buckets, or ``NoOpDpEvent``.

    Examples
    --------
    >>> binary_randomized_response(0.0)
    NoOpDpEvent()
    """
    if epsilon == 0:
        return dpe.NoOpDpEvent()
    return dpe.RandomizedResponseDpEvent(
        noise_parameter=randomized_response_noise(epsilon, 2), num_buckets=2
    )


def to_dp_accounting(event: PrivacyEvent) -> dpe.DpEvent:
    """Translate a privet event into the ``dp_accounting`` event that prices it.

    See the module docstring for the mapping and its sources.

    Parameters
    ----------
    event : PrivacyEvent
        A privet event (composites are translated recursively).

    Returns
    -------
    dp_accounting.DpEvent
        The equivalent (or, for pure events without a counterpart, dominating) event.

    Raises
    ------
    UnsupportedEventError
        For an event type privet does not know (also when nested), and for
        ``EpsilonDeltaEvent`` with δ > 0, which no ``dp_accounting`` event expresses.
    ParameterTypeError
        If ``event`` is not a privacy event.

    Examples
    --------
    >>> to_dp_accounting(GaussianEvent(noise_multiplier=1.1))
    GaussianDpEvent(noise_multiplier=1.1)
    >>> to_dp_accounting(RandomizedResponseEvent(epsilon=math.log(3.0), num_buckets=2))
    RandomizedResponseDpEvent(noise_parameter=0.5..., num_buckets=2)
    """
    check_known_event(event)
    return _translate(event)


def _translate(event: PrivacyEvent) -> dpe.DpEvent:
    if isinstance(event, NoOpEvent):
        return dpe.NoOpDpEvent()
    if isinstance(event, LaplaceEvent):
        return dpe.LaplaceDpEvent(noise_multiplier=1.0 / event.epsilon)
    if isinstance(event, GaussianEvent):
        return dpe.GaussianDpEvent(noise_multiplier=event.noise_multiplier)
    if isinstance(event, DiscreteLaplaceEvent):
        return dpe.DiscreteLaplaceDpEvent(noise_parameter=event.epsilon, sensitivity=1)
    if isinstance(event, DiscreteGaussianEvent):
        # Canonne, Kamath, Steinke 2020 (arXiv:2004.00010), Theorem 4 (in v4): ρ = Δ²/(2σ²).
        return dpe.ZCDpEvent(rho=event.sensitivity**2 / (2.0 * event.sigma**2))
    if isinstance(event, RandomizedResponseEvent):
        return dpe.RandomizedResponseDpEvent(
            noise_parameter=randomized_response_noise(event.epsilon, event.num_buckets),
            num_buckets=event.num_buckets,
        )
    if isinstance(
        event, ExponentialEvent | ReportNoisyMaxEvent | SparseVectorEvent | LocalRandomizerEvent
    ):
        return binary_randomized_response(event.epsilon)
    if isinstance(event, EpsilonDeltaEvent):
        if event.delta == 0:
            return binary_randomized_response(event.epsilon)
        raise UnsupportedEventError(
            f"EpsilonDeltaEvent(epsilon={event.epsilon!r}, delta={event.delta!r}) has no "
            "dp_accounting event: approximate (ε, δ>0)-DP is priced by PLDAccountant "
            "(from_privacy_parameters) or BasicCompositionAccountant"
        )
    if isinstance(event, PoissonSampledEvent):
        return dpe.PoissonSampledDpEvent(
            sampling_probability=event.sampling_probability, event=_translate(event.event)
        )
    if isinstance(event, ComposedEvent):
        return dpe.ComposedDpEvent(events=[_translate(ev) for ev in event.events])
    if isinstance(event, SelfComposedEvent):
        return dpe.SelfComposedDpEvent(event=_translate(event.event), count=event.count)
    raise UnsupportedEventError(  # unreachable after check_known_event; kept for safety
        f"unknown privacy event type {type(event).__qualname__}"
    )
