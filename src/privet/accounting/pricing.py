"""Pricing one event: is it pure, what is its RDP curve, what ε at a δ.

The privacy filters (:mod:`privet.accounting.filters`) price each charge with these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privet.accounting.accountants import (
    _basic_parameters,
)
from privet.accounting.events import (
    PrivacyEvent,
)
from privet.accounting.pld import PLDAccountant
from privet.accounting.rdp import RDPAccountant
from privet.accounting.translate import (
    flatten,
)

__all__ = ["epsilon_at_delta", "pure_epsilon", "rdp_curve"]


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

    Events PLD cannot price exactly (a multivariate discrete Gaussian) are priced by RDP.

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
    pld = PLDAccountant()
    if not pld.supports(event) and delta > 0:
        rdp = RDPAccountant()
        if rdp.supports(event):
            # e.g. a multivariate discrete Gaussian: no exact PLD, a proven zCDP bound.
            return rdp.compose(event).get_epsilon(delta)
    return pld.compose(event).get_epsilon(delta)
