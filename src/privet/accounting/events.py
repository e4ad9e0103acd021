"""Frozen, serialisable privacy events: what a mechanism did, not what it cost.

Mechanisms emit events; accountants and budget filters consume them (the split of Google's
``dp_accounting.dp_event``). An event records the mechanism and its noise parameters, so that
any accountant, present or future, can price it. Events are immutable, hashable, validated
on construction and round-trip through JSON (the ledger stores them that way).

Neighbouring relation: add/remove one privacy unit throughout.

One rule decides how events are priced under adaptivity: **the parts of one event are fixed
in advance**. A :class:`ComposedEvent` or :class:`SelfComposedEvent` says that the sequence
of mechanisms was chosen before any of them ran (one DP-SGD run), so a tight accountant such
as PLD may price it. Queries that an analyst picks after seeing earlier answers are separate
charges to a budget, whose filter is valid under fully adaptive composition.

Examples
--------
>>> ev = SelfComposedEvent(event=PoissonSampledEvent(
...     sampling_probability=0.01, event=GaussianEvent(noise_multiplier=4.0)), count=10_000)
>>> event_from_json(ev.to_json()) == ev
True
>>> LaplaceEvent(epsilon=-1)
Traceback (most recent call last):
...
privet.core.errors.ParameterError: epsilon must be a finite number > 0, got -1.0; ...
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

from privet.core.checks import (
    check_delta,
    check_epsilon,
    check_finite,
    check_int,
    check_positive,
    check_probability,
)
from privet.core.errors import ParameterError, ParameterTypeError, UnsupportedEventError

__all__ = [
    "ComposedEvent",
    "DiscreteGaussianEvent",
    "DiscreteLaplaceEvent",
    "EpsilonDeltaEvent",
    "ExponentialEvent",
    "GaussianEvent",
    "LaplaceEvent",
    "LocalRandomizerEvent",
    "NoOpEvent",
    "PoissonSampledEvent",
    "PrivacyEvent",
    "RandomizedResponseEvent",
    "ReportNoisyMaxEvent",
    "SelfComposedEvent",
    "SparseVectorEvent",
    "event_from_dict",
    "event_from_json",
]

_REGISTRY: dict[str, type[PrivacyEvent]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrivacyEvent:
    """Base class of privacy events. Subclasses are frozen keyword-only dataclasses."""

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            _REGISTRY[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; nested events become nested dicts."""
        out: dict[str, Any] = {"type": self.kind}
        for field in dataclasses.fields(self):
            out[field.name] = _encode(getattr(self, field.name))
        return out

    def to_json(self) -> str:
        """Return the event as a compact JSON string (stable key order)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _encode(value: Any) -> Any:
    if isinstance(value, PrivacyEvent):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def _check_event(value: object, *, name: str) -> PrivacyEvent:
    if not isinstance(value, PrivacyEvent):
        raise ParameterTypeError(
            f"{name} must be a privet.accounting event, got {type(value).__name__}"
        )
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoOpEvent(PrivacyEvent):
    """An operation that touches no private data and costs nothing."""

    kind: ClassVar[str] = "noop"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LaplaceEvent(PrivacyEvent):
    """The Laplace mechanism with scale = L1-sensitivity / ε: pure ε-DP.

    Dwork, McSherry, Nissim, Smith 2006, "Calibrating noise to sensitivity", Example 1.
    """

    kind: ClassVar[str] = "laplace"
    epsilon: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))


@dataclasses.dataclass(frozen=True, kw_only=True)
class GaussianEvent(PrivacyEvent):
    """The Gaussian mechanism; ``noise_multiplier`` is σ / L2-sensitivity."""

    kind: ClassVar[str] = "gaussian"
    noise_multiplier: float

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "noise_multiplier",
            check_positive(self.noise_multiplier, name="noise_multiplier"),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiscreteLaplaceEvent(PrivacyEvent):
    """The discrete Laplace (two-sided geometric) mechanism on integers: pure ε-DP.

    ``epsilon`` = sensitivity / scale (P(x) ∝ exp(-ε|x| / sensitivity)); Ghosh, Roughgarden,
    Sundararajan 2009, and Canonne, Kamath, Steinke 2020 (arXiv:2004.00010), Section 2.
    """

    kind: ClassVar[str] = "discrete_laplace"
    epsilon: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiscreteGaussianEvent(PrivacyEvent):
    """The discrete Gaussian N_Z(0, σ²) on integers with integer L2-sensitivity.

    Canonne, Kamath, Steinke 2020 (arXiv:2004.00010), Theorem 4 (in v4): it satisfies
    ρ-zCDP with ρ = sensitivity² / (2σ²), also for a vector of ``dimension`` independent
    coordinates under L2-sensitivity (zCDP composes over the coordinates). The exact
    (ε, δ) of their Theorem 7 is for one coordinate only, so an event with
    ``dimension > 1`` is priced through zCDP, never by the one-coordinate PLD.
    """

    kind: ClassVar[str] = "discrete_gaussian"
    sigma: float
    sensitivity: int = 1
    dimension: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", check_positive(self.sigma, name="sigma"))
        object.__setattr__(
            self, "sensitivity", check_int(self.sensitivity, name="sensitivity", minimum=1)
        )
        object.__setattr__(
            self, "dimension", check_int(self.dimension, name="dimension", minimum=1)
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExponentialEvent(PrivacyEvent):
    """The exponential mechanism at privacy ε (utility sensitivity already folded in)."""

    kind: ClassVar[str] = "exponential"
    epsilon: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReportNoisyMaxEvent(PrivacyEvent):
    """Report-noisy-max or permute-and-flip at privacy ε."""

    kind: ClassVar[str] = "report_noisy_max"
    epsilon: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))


@dataclasses.dataclass(frozen=True, kw_only=True)
class SparseVectorEvent(PrivacyEvent):
    """Sparse vector / AboveThreshold with total privacy ε (Dwork & Roth 2014, Thm 3.23)."""

    kind: ClassVar[str] = "sparse_vector"
    epsilon: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomizedResponseEvent(PrivacyEvent):
    """k-ary randomized response at local privacy ε (truthful with prob. e^ε/(e^ε+k-1))."""

    kind: ClassVar[str] = "randomized_response"
    epsilon: float
    num_buckets: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))
        object.__setattr__(
            self, "num_buckets", check_int(self.num_buckets, name="num_buckets", minimum=2)
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class LocalRandomizerEvent(PrivacyEvent):
    """A local-DP randomizer (GRR, OUE, OLH, Hadamard, RAPPOR …) that is ε-LDP."""

    kind: ClassVar[str] = "local_randomizer"
    mechanism: str
    epsilon: float

    def __post_init__(self) -> None:
        if not isinstance(self.mechanism, str) or not self.mechanism:
            raise ParameterError(
                f"mechanism must be a non-empty name such as 'oue', got {self.mechanism!r}"
            )
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))


@dataclasses.dataclass(frozen=True, kw_only=True)
class EpsilonDeltaEvent(PrivacyEvent):
    """A mechanism known only to be (ε, δ)-DP (DP partition selection, for example)."""

    kind: ClassVar[str] = "epsilon_delta"
    epsilon: float
    delta: float = 0.0

    def __post_init__(self) -> None:
        eps = check_finite(self.epsilon, name="epsilon")
        if eps < 0:
            raise ParameterError(f"epsilon must be >= 0, got {eps!r}")
        object.__setattr__(self, "epsilon", eps)
        object.__setattr__(self, "delta", check_delta(self.delta))


@dataclasses.dataclass(frozen=True, kw_only=True)
class PoissonSampledEvent(PrivacyEvent):
    """``event`` run on a Poisson subsample: each unit is kept with ``sampling_probability``."""

    kind: ClassVar[str] = "poisson_sampled"
    sampling_probability: float
    event: PrivacyEvent

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "sampling_probability",
            check_probability(self.sampling_probability, name="sampling_probability"),
        )
        _check_event(self.event, name="event")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ComposedEvent(PrivacyEvent):
    """Several events whose sequence was fixed in advance, composed."""

    kind: ClassVar[str] = "composed"
    events: tuple[PrivacyEvent, ...]

    def __post_init__(self) -> None:
        if isinstance(self.events, PrivacyEvent) or not isinstance(self.events, list | tuple):
            raise ParameterTypeError(
                f"events must be a list or tuple of events, got {type(self.events).__name__}"
            )
        events = tuple(self.events)
        for i, ev in enumerate(events):
            _check_event(ev, name=f"events[{i}]")
        object.__setattr__(self, "events", events)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SelfComposedEvent(PrivacyEvent):
    """``event`` repeated ``count`` times, fixed in advance (the steps of one DP-SGD run)."""

    kind: ClassVar[str] = "self_composed"
    event: PrivacyEvent
    count: int

    def __post_init__(self) -> None:
        _check_event(self.event, name="event")
        object.__setattr__(self, "count", check_int(self.count, name="count", minimum=0))


def event_from_dict(data: dict[str, Any]) -> PrivacyEvent:
    """Rebuild an event from :meth:`PrivacyEvent.to_dict` output (validating every field)."""
    if not isinstance(data, dict) or "type" not in data:
        raise ParameterError(f"an event dict needs a 'type' key, got {data!r:.80}")
    cls = _REGISTRY.get(data["type"])
    if cls is None:
        raise UnsupportedEventError(
            f"unknown event type {data['type']!r}; known: {', '.join(sorted(_REGISTRY))}"
        )
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key == "type":
            continue
        if key not in names:
            raise ParameterError(f"event type {data['type']!r} has no field {key!r}")
        if key == "event":
            value = event_from_dict(value)
        elif key == "events":
            value = tuple(event_from_dict(v) for v in value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ParameterError(f"bad fields for event type {data['type']!r}: {exc}") from None


def event_from_json(text: str) -> PrivacyEvent:
    """Rebuild an event from :meth:`PrivacyEvent.to_json` output."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"not a JSON event: {exc}") from None
    return event_from_dict(data)
