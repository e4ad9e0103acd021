"""Every event type survives JSON, prices the same afterwards, and refuses bad values."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privet.accounting import (
    BasicCompositionAccountant,
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
    event_from_dict,
    event_from_json,
    pure_epsilon,
    rdp_curve,
)
from privet.errors import ParameterError, ParameterTypeError, UnsupportedEventError

EPS = st.floats(min_value=1e-3, max_value=20.0)

LEAVES: st.SearchStrategy[PrivacyEvent] = st.one_of(
    st.just(NoOpEvent()),
    EPS.map(lambda e: LaplaceEvent(epsilon=e)),
    st.floats(min_value=0.1, max_value=100.0).map(lambda s: GaussianEvent(noise_multiplier=s)),
    EPS.map(lambda e: DiscreteLaplaceEvent(epsilon=e)),
    st.builds(
        DiscreteGaussianEvent,
        sigma=st.floats(min_value=0.5, max_value=50.0),
        sensitivity=st.integers(1, 10),
    ),
    EPS.map(lambda e: ExponentialEvent(epsilon=e)),
    EPS.map(lambda e: ReportNoisyMaxEvent(epsilon=e)),
    EPS.map(lambda e: SparseVectorEvent(epsilon=e)),
    st.builds(RandomizedResponseEvent, epsilon=EPS, num_buckets=st.integers(2, 64)),
    st.builds(
        LocalRandomizerEvent,
        mechanism=st.sampled_from(["grr", "oue", "olh", "hadamard", "rappor"]),
        epsilon=EPS,
    ),
    st.builds(
        EpsilonDeltaEvent,
        epsilon=st.floats(min_value=0.0, max_value=10.0),
        delta=st.floats(min_value=0.0, max_value=1e-3),
    ),
)


def _extend(children: st.SearchStrategy[PrivacyEvent]) -> st.SearchStrategy[PrivacyEvent]:
    return st.one_of(
        st.builds(
            PoissonSampledEvent,
            sampling_probability=st.floats(min_value=0.0, max_value=1.0),
            event=children,
        ),
        st.lists(children, max_size=4).map(lambda evs: ComposedEvent(events=evs)),
        st.builds(SelfComposedEvent, event=children, count=st.integers(0, 50)),
    )


EVENTS = st.recursive(LEAVES, _extend, max_leaves=8)


@settings(max_examples=150)
@given(event=EVENTS)
def test_every_event_round_trips_through_json(event: PrivacyEvent) -> None:
    text = event.to_json()
    back = event_from_json(text)
    assert back == event
    assert hash(back) == hash(event)
    assert back.to_json() == text
    assert event_from_dict(event.to_dict()) == event


@settings(max_examples=60, deadline=None)
@given(event=EVENTS)
def test_a_round_tripped_event_prices_the_same(event: PrivacyEvent) -> None:
    back = event_from_json(event.to_json())
    assert pure_epsilon(back) == pure_epsilon(event)
    basic = BasicCompositionAccountant()
    if basic.supports(event):
        assert basic.compose(back).get_epsilon(0.5) == BasicCompositionAccountant().compose(
            event
        ).get_epsilon(0.5)
    try:
        curve = rdp_curve(event, [2.0, 16.0])
    except UnsupportedEventError:
        with pytest.raises(UnsupportedEventError):
            rdp_curve(back, [2.0, 16.0])
    else:
        assert list(rdp_curve(back, [2.0, 16.0])) == list(curve)


BAD_EPSILONS: list[Any] = [0.0, -1.0, math.nan, math.inf, -math.inf]
WRONG_TYPES: list[Any] = ["1.0", True, False, None, [1.0], 1j]
EPSILON_EVENTS = [
    LaplaceEvent,
    DiscreteLaplaceEvent,
    ExponentialEvent,
    ReportNoisyMaxEvent,
    SparseVectorEvent,
    RandomizedResponseEvent,
]


@pytest.mark.parametrize("cls", EPSILON_EVENTS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", BAD_EPSILONS)
def test_bad_epsilon_is_refused(cls: type[PrivacyEvent], bad: float) -> None:
    with pytest.raises(ParameterError, match="epsilon"):
        cls(epsilon=bad)  # type: ignore[call-arg]


@pytest.mark.parametrize("cls", EPSILON_EVENTS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", WRONG_TYPES, ids=repr)
def test_epsilon_of_the_wrong_type_is_refused(cls: type[PrivacyEvent], bad: Any) -> None:
    with pytest.raises(ParameterTypeError, match="epsilon"):
        cls(epsilon=bad)  # type: ignore[call-arg]


@pytest.mark.parametrize("bad", [-1e-9, 1.0, 1.5, math.nan])
def test_bad_delta_is_refused(bad: float) -> None:
    with pytest.raises(ParameterError, match="delta"):
        EpsilonDeltaEvent(epsilon=1.0, delta=bad)


@pytest.mark.parametrize("bad", ["1e-6", True, None])
def test_delta_of_the_wrong_type_is_refused(bad: Any) -> None:
    with pytest.raises(ParameterTypeError, match="delta"):
        EpsilonDeltaEvent(epsilon=1.0, delta=bad)


def test_other_bad_fields_are_refused() -> None:
    with pytest.raises(ParameterError):
        GaussianEvent(noise_multiplier=0.0)
    with pytest.raises(ParameterTypeError):
        GaussianEvent(noise_multiplier="1")  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        RandomizedResponseEvent(epsilon=1.0, num_buckets=1)
    with pytest.raises(ParameterTypeError):
        RandomizedResponseEvent(epsilon=1.0, num_buckets=2.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        DiscreteGaussianEvent(sigma=1.0, sensitivity=0)
    with pytest.raises(ParameterError):
        PoissonSampledEvent(sampling_probability=1.5, event=NoOpEvent())
    with pytest.raises(ParameterTypeError):
        PoissonSampledEvent(sampling_probability=0.5, event="laplace")  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        SelfComposedEvent(event=NoOpEvent(), count=-1)
    with pytest.raises(ParameterTypeError):
        SelfComposedEvent(event=NoOpEvent(), count=True)
    with pytest.raises(ParameterTypeError):
        ComposedEvent(events=LaplaceEvent(epsilon=1.0))  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        LocalRandomizerEvent(mechanism="", epsilon=1.0)


def test_bad_json_is_refused() -> None:
    with pytest.raises(ParameterError):
        event_from_json("{not json")
    with pytest.raises(UnsupportedEventError, match="unknown event type"):
        event_from_json('{"type": "martian"}')
    with pytest.raises(ParameterError, match="no field"):
        event_from_json('{"type": "laplace", "epsilon": 1.0, "sigma": 2}')
    with pytest.raises(ParameterError, match="epsilon"):
        event_from_json('{"type": "laplace", "epsilon": -1.0}')
