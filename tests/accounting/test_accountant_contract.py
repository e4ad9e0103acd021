"""The contract every privet accountant passes (cf. dp_accounting's PrivacyAccountantTest).

Each accountant is run through the same checks: unknown events are refused (also nested),
a failed compose changes nothing, no events cost nothing, ε never decreases with more
steps, get_delta and get_epsilon are (roughly) inverse, and bad arguments are refused.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from privet.accounting import (
    AdvancedCompositionAccountant,
    BasicCompositionAccountant,
    ComposedEvent,
    EpsilonDeltaEvent,
    ExponentialEvent,
    GaussianEvent,
    LaplaceEvent,
    NoOpEvent,
    PLDAccountant,
    PoissonSampledEvent,
    PrivacyEvent,
    RandomizedResponseEvent,
    RDPAccountant,
    SelfComposedEvent,
)
from privet.accounting.accountants import Accountant
from privet.errors import ParameterError, ParameterTypeError, UnsupportedEventError


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlienEvent(PrivacyEvent):
    """A privacy event privet does not know (kind "" keeps it out of the JSON registry)."""

    kind: ClassVar[str] = ""
    epsilon: float = 1.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class LaplaceLookalike(LaplaceEvent):
    """A subclass of a known event: it may do something else, so it is refused too."""

    kind: ClassVar[str] = ""


# Each accountant, with events it must accept (used for the monotonicity/inverse checks).
SUITE: dict[str, tuple[Callable[[], Accountant], list[PrivacyEvent]]] = {
    "pld": (
        PLDAccountant,
        [
            LaplaceEvent(epsilon=0.3),
            PoissonSampledEvent(
                sampling_probability=0.05, event=GaussianEvent(noise_multiplier=2.0)
            ),
            RandomizedResponseEvent(epsilon=0.5, num_buckets=3),
            EpsilonDeltaEvent(epsilon=0.2, delta=1e-7),
        ],
    ),
    "rdp": (
        RDPAccountant,
        [
            LaplaceEvent(epsilon=0.3),
            PoissonSampledEvent(
                sampling_probability=0.05, event=GaussianEvent(noise_multiplier=2.0)
            ),
            ExponentialEvent(epsilon=0.4),
        ],
    ),
    "basic": (
        BasicCompositionAccountant,
        [LaplaceEvent(epsilon=0.3), EpsilonDeltaEvent(epsilon=0.2, delta=1e-7)],
    ),
    "advanced": (
        AdvancedCompositionAccountant,
        [LaplaceEvent(epsilon=0.3), ExponentialEvent(epsilon=0.05)],
    ),
}
NAMES = list(SUITE)
CASES = [(name, ev) for name, (_, events) in SUITE.items() for ev in events]
CASE_IDS = [f"{name}-{ev.kind}" for name, ev in CASES]

ALIEN = AlienEvent()
NESTED_ALIENS: list[PrivacyEvent] = [
    ALIEN,
    LaplaceLookalike(epsilon=1.0),
    ComposedEvent(events=[LaplaceEvent(epsilon=0.1), ALIEN]),
    SelfComposedEvent(event=ALIEN, count=3),
    SelfComposedEvent(event=ALIEN, count=0),
    PoissonSampledEvent(sampling_probability=0.1, event=ALIEN),
    PoissonSampledEvent(sampling_probability=0.0, event=ALIEN),
    SelfComposedEvent(
        event=PoissonSampledEvent(
            sampling_probability=0.5,
            event=ComposedEvent(events=[NoOpEvent(), SelfComposedEvent(event=ALIEN, count=2)]),
        ),
        count=10,
    ),
]


def make(name: str) -> Accountant:
    return SUITE[name][0]()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("event", NESTED_ALIENS, ids=lambda e: type(e).__name__)
def test_unknown_event_is_refused_even_when_nested(name: str, event: PrivacyEvent) -> None:
    acc = make(name)
    assert not acc.supports(event)
    with pytest.raises(UnsupportedEventError, match=r"AlienEvent|LaplaceLookalike"):
        acc.compose(event)


@pytest.mark.parametrize(("name", "event"), CASES, ids=CASE_IDS)
def test_failed_compose_changes_nothing(name: str, event: PrivacyEvent) -> None:
    acc = make(name).compose(event)
    before = (acc.get_epsilon(1e-6), acc.get_delta(1.0))
    with pytest.raises(UnsupportedEventError):
        acc.compose(ComposedEvent(events=[event, event, ALIEN]))
    assert (acc.get_epsilon(1e-6), acc.get_delta(1.0)) == before


@pytest.mark.parametrize("name", NAMES)
def test_no_events_cost_nothing(name: str) -> None:
    acc = make(name)
    for delta in (0.0, 1e-9, 1e-5, 0.5):
        assert acc.get_epsilon(delta) == 0.0
    assert acc.get_delta(0.0) == 0.0
    assert acc.get_delta(1.0) == 0.0
    # Composing nothing (NoOp, zero counts, empty compositions) keeps it free.
    acc.compose(NoOpEvent()).compose(ComposedEvent(events=[]))
    acc.compose(SUITE[name][1][0], count=0)
    assert acc.get_epsilon(1e-6) == 0.0


@pytest.mark.parametrize(("name", "event"), CASES, ids=CASE_IDS)
def test_epsilon_never_decreases_with_more_steps(name: str, event: PrivacyEvent) -> None:
    previous = 0.0
    for steps in (1, 2, 3, 5, 10, 30):
        eps = make(name).compose(event, count=steps).get_epsilon(1e-5)
        assert eps >= previous - 1e-9, (steps, eps, previous)
        previous = eps
    assert previous > 0


@pytest.mark.parametrize(("name", "event"), CASES, ids=CASE_IDS)
def test_compose_count_equals_repeated_compose(name: str, event: PrivacyEvent) -> None:
    once = make(name).compose(event, count=4).get_epsilon(1e-5)
    repeated = make(name)
    for _ in range(4):
        repeated.compose(event)
    assert repeated.get_epsilon(1e-5) == pytest.approx(once, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize(("name", "event"), CASES, ids=CASE_IDS)
def test_get_delta_and_get_epsilon_are_roughly_inverse(name: str, event: PrivacyEvent) -> None:
    acc = make(name).compose(event, count=20)
    finite = 0
    for delta in (1e-6, 1e-4, 1e-2):
        eps = acc.get_epsilon(delta)
        if not math.isfinite(eps):  # δ below what the events' own δ allows
            assert acc.get_delta(1e6) > delta
            continue
        finite += 1
        back = acc.get_delta(eps)
        # Never claims more δ than asked at the ε it reported …
        assert back <= delta * (1 + 1e-3) + 1e-12
        # … and, where the accountant's curve is continuous, about the same δ.
        if name != "basic" and eps < acc.get_epsilon(0.0):
            assert back >= delta / 10
    assert finite
    for eps in (0.5, 2.0):
        delta = acc.get_delta(eps)
        if delta < 1.0:
            assert acc.get_epsilon(delta) <= eps + 1e-3


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0, math.nan, math.inf])
def test_bad_delta_is_refused(name: str, bad: float) -> None:
    acc = make(name).compose(SUITE[name][1][0])
    with pytest.raises(ParameterError, match="delta"):
        acc.get_epsilon(bad)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", ["1e-5", True, None, [1e-5]])
def test_delta_of_the_wrong_type_is_refused(name: str, bad: Any) -> None:
    with pytest.raises(ParameterTypeError, match="delta"):
        make(name).get_epsilon(bad)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_epsilon_for_get_delta_is_refused(name: str, bad: float) -> None:
    with pytest.raises(ParameterError, match="epsilon"):
        make(name).get_delta(bad)


@pytest.mark.parametrize("name", NAMES)
def test_bad_count_and_non_events_are_refused(name: str) -> None:
    acc = make(name)
    event = SUITE[name][1][0]
    with pytest.raises(ParameterError, match="count"):
        acc.compose(event, count=-1)
    with pytest.raises(ParameterTypeError, match="count"):
        acc.compose(event, count=1.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="count"):
        acc.compose(event, count=True)
    with pytest.raises(ParameterTypeError, match="event"):
        acc.compose("laplace")  # type: ignore[arg-type]
    assert acc.get_epsilon(1e-6) == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_compose_returns_self_and_records_events(name: str) -> None:
    acc = make(name)
    event = SUITE[name][1][0]
    assert acc.compose(event, count=2) is acc
    assert acc.events == ComposedEvent(events=[SelfComposedEvent(event=event, count=2)])
