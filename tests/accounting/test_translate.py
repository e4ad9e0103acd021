"""to_dp_accounting and flatten: privet events onto dp_accounting's."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import pytest
from dp_accounting import dp_event as dpe
from hypothesis import given
from hypothesis import strategies as st

from privet.accounting import (
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
    to_dp_accounting,
)
from privet.accounting.translate import flatten, gaussian_equivalent_sigma
from privet.errors import ParameterTypeError, UnsupportedEventError


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlienEvent(PrivacyEvent):
    kind: ClassVar[str] = ""


def truthful_probability(rr: dpe.RandomizedResponseDpEvent) -> float:
    """Probability that dp_accounting's randomized response reports the true bucket."""
    p, k = rr.noise_parameter, rr.num_buckets
    return 1 - p + p / k


def test_simple_mechanisms() -> None:
    assert to_dp_accounting(NoOpEvent()) == dpe.NoOpDpEvent()
    assert to_dp_accounting(LaplaceEvent(epsilon=0.5)) == dpe.LaplaceDpEvent(2.0)
    assert to_dp_accounting(GaussianEvent(noise_multiplier=1.1)) == dpe.GaussianDpEvent(1.1)
    assert to_dp_accounting(DiscreteLaplaceEvent(epsilon=0.3)) == dpe.DiscreteLaplaceDpEvent(
        noise_parameter=0.3, sensitivity=1
    )


def test_discrete_gaussian_becomes_zcdp_with_rho_delta_squared_over_two_sigma_squared() -> None:
    ev = to_dp_accounting(DiscreteGaussianEvent(sigma=2.0, sensitivity=3))
    assert isinstance(ev, dpe.ZCDpEvent)
    assert ev.rho == pytest.approx(9 / 8, rel=1e-15)
    assert ev.xi == 0


@given(eps=st.floats(min_value=1e-3, max_value=30.0), k=st.integers(2, 1000))
def test_k_ary_randomized_response_keeps_its_truthful_probability(eps: float, k: int) -> None:
    ev = to_dp_accounting(RandomizedResponseEvent(epsilon=eps, num_buckets=k))
    assert isinstance(ev, dpe.RandomizedResponseDpEvent)
    assert ev.num_buckets == k
    assert 0 < ev.noise_parameter <= 1
    expected = math.exp(eps) / (math.exp(eps) + k - 1)
    assert truthful_probability(ev) == pytest.approx(expected, rel=1e-12)


def test_large_epsilon_does_not_overflow() -> None:
    ev = to_dp_accounting(RandomizedResponseEvent(epsilon=700.0, num_buckets=2))
    assert 0 < ev.noise_parameter < 1e-300


@pytest.mark.parametrize(
    "event",
    [
        ExponentialEvent(epsilon=0.8),
        ReportNoisyMaxEvent(epsilon=0.8),
        SparseVectorEvent(epsilon=0.8),
        LocalRandomizerEvent(mechanism="olh", epsilon=0.8),
        EpsilonDeltaEvent(epsilon=0.8, delta=0.0),
    ],
    ids=lambda e: e.kind,
)
def test_other_pure_events_become_binary_randomized_response(event: PrivacyEvent) -> None:
    ev = to_dp_accounting(event)
    assert isinstance(ev, dpe.RandomizedResponseDpEvent)
    assert ev.num_buckets == 2
    assert truthful_probability(ev) == pytest.approx(math.exp(0.8) / (1 + math.exp(0.8)))


def test_epsilon_delta_events() -> None:
    assert to_dp_accounting(EpsilonDeltaEvent(epsilon=0.0, delta=0.0)) == dpe.NoOpDpEvent()
    with pytest.raises(UnsupportedEventError, match="approximate"):
        to_dp_accounting(EpsilonDeltaEvent(epsilon=1.0, delta=1e-6))


def test_composites_translate_recursively() -> None:
    ev = SelfComposedEvent(
        event=PoissonSampledEvent(
            sampling_probability=0.01,
            event=ComposedEvent(events=[GaussianEvent(noise_multiplier=4.0), NoOpEvent()]),
        ),
        count=10,
    )
    assert to_dp_accounting(ev) == dpe.SelfComposedDpEvent(
        dpe.PoissonSampledDpEvent(
            0.01, dpe.ComposedDpEvent([dpe.GaussianDpEvent(4.0), dpe.NoOpDpEvent()])
        ),
        10,
    )


@pytest.mark.parametrize(
    "event",
    [
        AlienEvent(),
        ComposedEvent(events=[LaplaceEvent(epsilon=1.0), AlienEvent()]),
        SelfComposedEvent(event=AlienEvent(), count=2),
        PoissonSampledEvent(sampling_probability=0.1, event=AlienEvent()),
        SelfComposedEvent(
            event=PoissonSampledEvent(
                sampling_probability=0.1, event=ComposedEvent(events=[AlienEvent()])
            ),
            count=0,
        ),
    ],
    ids=["plain", "composed", "self_composed", "sampled", "deep"],
)
def test_unknown_events_are_refused_naming_the_type(event: PrivacyEvent) -> None:
    with pytest.raises(UnsupportedEventError, match="AlienEvent"):
        to_dp_accounting(event)
    with pytest.raises(UnsupportedEventError, match="AlienEvent"):
        flatten(event)


@pytest.mark.parametrize("bad", ["laplace", None, 3, dpe.LaplaceDpEvent(1.0)])
def test_non_events_are_refused(bad: object) -> None:
    with pytest.raises(ParameterTypeError, match=r"privet\.accounting event"):
        to_dp_accounting(bad)  # type: ignore[arg-type]


def test_flatten_counts_leaves_and_drops_what_costs_nothing() -> None:
    lap, gauss = LaplaceEvent(epsilon=1.0), GaussianEvent(noise_multiplier=2.0)
    ev = ComposedEvent(
        events=[
            lap,
            SelfComposedEvent(event=ComposedEvent(events=[lap, gauss]), count=3),
            SelfComposedEvent(event=gauss, count=0),
            NoOpEvent(),
            EpsilonDeltaEvent(epsilon=0.0, delta=0.0),
            PoissonSampledEvent(sampling_probability=0.0, event=gauss),
            PoissonSampledEvent(sampling_probability=1.0, event=lap),
            PoissonSampledEvent(sampling_probability=0.3, event=NoOpEvent()),
        ]
    )
    assert flatten(ev) == {lap: 5, gauss: 3}


def test_flatten_merges_nested_poisson_sampling() -> None:
    lap = LaplaceEvent(epsilon=1.0)
    ev = PoissonSampledEvent(
        sampling_probability=0.5, event=PoissonSampledEvent(sampling_probability=0.4, event=lap)
    )
    ((leaf, count),) = flatten(ev).items()
    assert count == 1
    assert isinstance(leaf, PoissonSampledEvent)
    assert leaf.sampling_probability == pytest.approx(0.2)
    assert leaf.event == lap


def test_gaussian_equivalent_sigma() -> None:
    g = GaussianEvent(noise_multiplier=2.0)
    assert gaussian_equivalent_sigma(g) == 2.0
    assert gaussian_equivalent_sigma(SelfComposedEvent(event=g, count=4)) == 1.0
    two = ComposedEvent(events=[GaussianEvent(noise_multiplier=1.0), g])
    assert gaussian_equivalent_sigma(two) == pytest.approx(1 / math.sqrt(1 + 1 / 4))
    assert gaussian_equivalent_sigma(ComposedEvent(events=[g, LaplaceEvent(epsilon=1)])) is None
    assert gaussian_equivalent_sigma(NoOpEvent()) is None
