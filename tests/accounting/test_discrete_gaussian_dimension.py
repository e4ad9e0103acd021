"""A vector discrete Gaussian is priced through zCDP, never by the one-coordinate exact PLD."""

from __future__ import annotations

import pytest

from privet.accounting import (
    DiscreteGaussianEvent,
    PLDAccountant,
    RDPAccountant,
    epsilon_at_delta,
    event_from_json,
)
from privet.errors import ParameterError, UnsupportedEventError


def test_pld_refuses_a_vector() -> None:
    vec = DiscreteGaussianEvent(sigma=20.0, sensitivity=10, dimension=100)
    assert not PLDAccountant().supports(vec)
    with pytest.raises(UnsupportedEventError, match="dimension=100"):
        PLDAccountant().compose(vec)


def test_vector_is_priced_by_rdp_and_never_below_the_scalar() -> None:
    scalar = DiscreteGaussianEvent(sigma=20.0, sensitivity=10)
    vec = DiscreteGaussianEvent(sigma=20.0, sensitivity=10, dimension=100)
    eps_vec = epsilon_at_delta(vec, delta=1e-6)
    assert eps_vec == pytest.approx(RDPAccountant().compose(vec).get_epsilon(1e-6))
    # The exact scalar bound is tighter than zCDP; the vector must not borrow it.
    assert eps_vec > epsilon_at_delta(scalar, delta=1e-6)


def test_dimension_round_trips_and_is_validated() -> None:
    vec = DiscreteGaussianEvent(sigma=3.0, sensitivity=2, dimension=7)
    assert event_from_json(vec.to_json()) == vec
    with pytest.raises(ParameterError):
        DiscreteGaussianEvent(sigma=3.0, dimension=0)
