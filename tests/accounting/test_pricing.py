"""pure_epsilon, rdp_curve and epsilon_at_delta: the price of one event."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import dp_accounting
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privet.accounting import (
    DEFAULT_RDP_ORDERS,
    ComposedEvent,
    DiscreteGaussianEvent,
    DiscreteLaplaceEvent,
    EpsilonDeltaEvent,
    ExponentialEvent,
    GaussianEvent,
    LaplaceEvent,
    LocalRandomizerEvent,
    NoOpEvent,
    PLDAccountant,
    PoissonSampledEvent,
    PrivacyEvent,
    RandomizedResponseEvent,
    ReportNoisyMaxEvent,
    SelfComposedEvent,
    SparseVectorEvent,
    amplified_epsilon,
    epsilon_at_delta,
    pure_epsilon,
    rdp_curve,
)
from privet.errors import ParameterError, ParameterTypeError, UnsupportedEventError


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlienEvent(PrivacyEvent):
    kind: ClassVar[str] = ""


def pure_events(eps: float) -> list[PrivacyEvent]:
    return [
        LaplaceEvent(epsilon=eps),
        DiscreteLaplaceEvent(epsilon=eps),
        ExponentialEvent(epsilon=eps),
        ReportNoisyMaxEvent(epsilon=eps),
        SparseVectorEvent(epsilon=eps),
        RandomizedResponseEvent(epsilon=eps, num_buckets=2),
        RandomizedResponseEvent(epsilon=eps, num_buckets=7),
        LocalRandomizerEvent(mechanism="oue", epsilon=eps),
        EpsilonDeltaEvent(epsilon=eps, delta=0.0),
    ]


NOT_PURE: list[PrivacyEvent] = [
    GaussianEvent(noise_multiplier=1.0),
    DiscreteGaussianEvent(sigma=2.0),
    EpsilonDeltaEvent(epsilon=1.0, delta=1e-6),
    ComposedEvent(events=[LaplaceEvent(epsilon=1.0), GaussianEvent(noise_multiplier=3.0)]),
    SelfComposedEvent(event=EpsilonDeltaEvent(epsilon=0.1, delta=1e-9), count=5),
    PoissonSampledEvent(sampling_probability=0.1, event=GaussianEvent(noise_multiplier=1.0)),
    PoissonSampledEvent(sampling_probability=0.1, event=EpsilonDeltaEvent(epsilon=1, delta=1e-6)),
]

NESTED_ALIENS: list[PrivacyEvent] = [
    AlienEvent(),
    ComposedEvent(events=[LaplaceEvent(epsilon=1.0), AlienEvent()]),
    SelfComposedEvent(event=AlienEvent(), count=2),
    PoissonSampledEvent(sampling_probability=0.3, event=AlienEvent()),
]


# --- pure_epsilon ------------------------------------------------------------------------


@pytest.mark.parametrize("event", pure_events(0.7), ids=lambda e: e.kind)
def test_pure_epsilon_of_each_pure_event_is_its_epsilon(event: PrivacyEvent) -> None:
    assert pure_epsilon(event) == 0.7


@pytest.mark.parametrize("event", NOT_PURE, ids=lambda e: e.kind)
def test_pure_epsilon_is_none_for_events_that_are_not_pure(event: PrivacyEvent) -> None:
    assert pure_epsilon(event) is None


def test_pure_epsilon_of_compositions() -> None:
    assert pure_epsilon(NoOpEvent()) == 0.0
    assert pure_epsilon(ComposedEvent(events=[])) == 0.0
    assert pure_epsilon(EpsilonDeltaEvent(epsilon=0.0, delta=0.0)) == 0.0
    composed = ComposedEvent(
        events=[LaplaceEvent(epsilon=0.25), ExponentialEvent(epsilon=0.5), NoOpEvent()]
    )
    assert pure_epsilon(composed) == 0.75
    assert pure_epsilon(SelfComposedEvent(event=composed, count=4)) == 3.0
    assert pure_epsilon(SelfComposedEvent(event=GaussianEvent(noise_multiplier=1), count=0)) == 0


def test_pure_epsilon_amplifies_poisson_sampling() -> None:
    # Li, Qardaji, Su 2012 / Balle, Barthe, Gaboardi 2018: ln(1 + q(e^ε - 1)).
    ev = PoissonSampledEvent(sampling_probability=0.1, event=LaplaceEvent(epsilon=1.0))
    assert pure_epsilon(ev) == pytest.approx(math.log(1 + 0.1 * (math.e - 1)), rel=1e-12)
    inner = SelfComposedEvent(event=LaplaceEvent(epsilon=0.5), count=2)  # 1.0 in all
    ev2 = PoissonSampledEvent(sampling_probability=0.1, event=inner)
    assert pure_epsilon(ev2) == pytest.approx(pure_epsilon(ev), rel=1e-12)
    # q = 0 costs nothing, q = 1 is the event itself, nested sampling multiplies rates.
    lap = LaplaceEvent(epsilon=2.0)
    assert pure_epsilon(PoissonSampledEvent(sampling_probability=0.0, event=lap)) == 0.0
    assert pure_epsilon(PoissonSampledEvent(sampling_probability=1.0, event=lap)) == 2.0
    nested = PoissonSampledEvent(
        sampling_probability=0.5, event=PoissonSampledEvent(sampling_probability=0.2, event=lap)
    )
    assert pure_epsilon(nested) == pytest.approx(amplified_epsilon(2.0, 0.1), rel=1e-12)


@given(
    eps=st.floats(min_value=1e-4, max_value=20.0),
    q=st.floats(min_value=0.0, max_value=1.0),
    q2=st.floats(min_value=0.0, max_value=1.0),
)
def test_amplification_is_at_most_epsilon_and_monotone_in_q(
    eps: float, q: float, q2: float
) -> None:
    a, b = sorted((q, q2))
    assert 0.0 <= amplified_epsilon(eps, a) <= amplified_epsilon(eps, b) <= eps * (1 + 1e-12)


@given(eps=st.floats(min_value=1e-3, max_value=10.0), count=st.integers(0, 1000))
def test_pure_epsilon_of_self_composition_is_count_times_epsilon(eps: float, count: int) -> None:
    ev = SelfComposedEvent(event=LaplaceEvent(epsilon=eps), count=count)
    assert pure_epsilon(ev) == pytest.approx(count * eps, rel=1e-12)


@pytest.mark.parametrize("event", NESTED_ALIENS, ids=lambda e: e.kind or "alien")
def test_pricing_functions_refuse_unknown_events_even_nested(event: PrivacyEvent) -> None:
    with pytest.raises(UnsupportedEventError, match="AlienEvent"):
        pure_epsilon(event)
    with pytest.raises(UnsupportedEventError, match="AlienEvent"):
        rdp_curve(event, [2.0])
    with pytest.raises(UnsupportedEventError, match="AlienEvent"):
        epsilon_at_delta(event, delta=1e-6)


@pytest.mark.parametrize("bad", ["laplace", 1.0, None, LaplaceEvent])
def test_pricing_functions_refuse_non_events(bad: object) -> None:
    with pytest.raises(ParameterTypeError):
        pure_epsilon(bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError):
        epsilon_at_delta(bad, delta=1e-6)  # type: ignore[arg-type]


# --- rdp_curve ---------------------------------------------------------------------------


def test_default_orders_are_dp_accounting_s() -> None:
    from dp_accounting.rdp.rdp_privacy_accountant import DEFAULT_RDP_ORDERS as THEIRS

    assert isinstance(DEFAULT_RDP_ORDERS, tuple)
    assert tuple(float(a) for a in THEIRS) == DEFAULT_RDP_ORDERS


def test_rdp_of_the_gaussian_is_alpha_over_two_sigma_squared() -> None:
    orders = [1.5, 2.0, 8.0, 64.0]
    curve = rdp_curve(GaussianEvent(noise_multiplier=3.0), orders)
    np.testing.assert_allclose(curve, np.array(orders) / 18.0, rtol=1e-12)


def test_rdp_of_the_discrete_gaussian_is_its_zcdp_line() -> None:
    # Canonne, Kamath, Steinke 2020, Theorem 4: ρ = Δ²/(2σ²); ρ-zCDP is (α, ρα)-RDP.
    orders = [2.0, 5.0, 32.0]
    curve = rdp_curve(DiscreteGaussianEvent(sigma=2.0, sensitivity=3), orders)
    np.testing.assert_allclose(curve, np.array(orders) * 9.0 / 8.0, rtol=1e-12)


def test_rdp_of_laplace_matches_mironov_proposition_6() -> None:
    eps, alpha = 0.8, 3.0
    expected = eps + math.log1p(
        (alpha - 1) * math.expm1((1 - 2 * alpha) * eps) / (2 * alpha - 1)
    ) / (alpha - 1)
    (got,) = rdp_curve(LaplaceEvent(epsilon=eps), [alpha])
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("event", pure_events(0.9), ids=lambda e: e.kind)
def test_rdp_of_a_pure_event_respects_the_pure_dp_bounds(event: PrivacyEvent) -> None:
    # ε-DP implies RDP ≤ ε (order ∞) and RDP(α) ≤ αε²/2 (Bun & Steinke 2016, Prop. 3.3).
    orders = np.array([1.1, 1.5, 2.0, 4.0, 16.0, 256.0])
    curve = rdp_curve(event, orders)
    assert np.all(curve >= 0)
    assert np.all(curve <= 0.9 + 1e-12)
    assert np.all(curve <= orders * 0.9**2 / 2 + 1e-12)


def test_rdp_of_the_discrete_laplace_is_that_of_binary_randomized_response() -> None:
    orders = [2.0, 10.0]
    np.testing.assert_allclose(
        rdp_curve(DiscreteLaplaceEvent(epsilon=1.3), orders),
        rdp_curve(RandomizedResponseEvent(epsilon=1.3, num_buckets=2), orders),
        rtol=1e-12,
    )


def test_rdp_curves_add_under_composition() -> None:
    a, b = LaplaceEvent(epsilon=0.5), GaussianEvent(noise_multiplier=2.0)
    c = RandomizedResponseEvent(epsilon=1.0, num_buckets=4)
    orders = [1.5, 3.0, 20.0]
    total = rdp_curve(ComposedEvent(events=[a, b, SelfComposedEvent(event=c, count=3)]), orders)
    parts = rdp_curve(a, orders) + rdp_curve(b, orders) + 3 * rdp_curve(c, orders)
    np.testing.assert_allclose(total, parts, rtol=1e-12)


def test_rdp_of_a_subsampled_gaussian_composite_matches_dp_accounting() -> None:
    # dp_accounting collapses Poisson(Composed(Gaussians)) to one effective σ too.
    inner = ComposedEvent(
        events=[GaussianEvent(noise_multiplier=1.0), GaussianEvent(noise_multiplier=2.0)]
    )
    ev = PoissonSampledEvent(sampling_probability=0.1, event=inner)
    theirs = dp_accounting.rdp.RdpAccountant([2.0, 8.0]).compose(
        dp_accounting.PoissonSampledDpEvent(
            0.1,
            dp_accounting.ComposedDpEvent(
                [dp_accounting.GaussianDpEvent(1.0), dp_accounting.GaussianDpEvent(2.0)]
            ),
        )
    )
    np.testing.assert_allclose(rdp_curve(ev, [2.0, 8.0]), theirs.rdp, rtol=1e-12)


@pytest.mark.parametrize(
    "event",
    [
        EpsilonDeltaEvent(epsilon=1.0, delta=1e-6),
        ComposedEvent(events=[LaplaceEvent(epsilon=1), EpsilonDeltaEvent(epsilon=1, delta=1e-9)]),
        PoissonSampledEvent(
            sampling_probability=0.2, event=EpsilonDeltaEvent(epsilon=1, delta=1e-6)
        ),
    ],
    ids=["plain", "composed", "sampled"],
)
def test_rdp_refuses_approximate_dp_with_a_helpful_message(event: PrivacyEvent) -> None:
    with pytest.raises(UnsupportedEventError, match="RDP cannot express") as info:
        rdp_curve(event, DEFAULT_RDP_ORDERS)
    assert "basic-composition" in str(info.value)


@pytest.mark.parametrize(
    ("orders", "error"),
    [
        ([], ParameterError),
        ([0.5, 2.0], ParameterError),
        ([1.0], ParameterError),
        ([2.0, math.nan], ParameterError),
        ("2.0", ParameterTypeError),
        (2.0, ParameterTypeError),
        ([True, 2.0], ParameterTypeError),
    ],
)
def test_rdp_curve_refuses_bad_orders(orders: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="order"):
        rdp_curve(LaplaceEvent(epsilon=1.0), orders)  # type: ignore[arg-type]


# --- epsilon_at_delta --------------------------------------------------------------------


def test_epsilon_at_delta_of_a_gaussian_matches_the_analytic_gaussian() -> None:
    # Balle & Wang 2018's analytic Gaussian, as computed by dp_accounting (not by a PLD).
    exact = dp_accounting.get_epsilon_gaussian(1.0, 1e-5)
    assert epsilon_at_delta(GaussianEvent(noise_multiplier=1.0), delta=1e-5) == pytest.approx(
        exact, abs=1e-3
    )


@pytest.mark.parametrize("event", pure_events(1.0), ids=lambda e: e.kind)
def test_epsilon_at_delta_of_a_pure_event_is_at_most_its_epsilon(event: PrivacyEvent) -> None:
    assert epsilon_at_delta(event, delta=0.0) == pytest.approx(1.0, abs=1e-9)
    assert epsilon_at_delta(event, delta=1e-3) <= 1.0
    assert epsilon_at_delta(SelfComposedEvent(event=event, count=50), delta=1e-6) < 50.0


def test_k_ary_randomized_response_is_priced_exactly() -> None:
    # With k buckets, a report equal to neither input carries no information, so at δ
    # equal to the probability of the most telling report ε drops to 0 … but not below.
    eps, k = 1.0, 5
    event = RandomizedResponseEvent(epsilon=eps, num_buckets=k)
    p_true = math.exp(eps) / (math.exp(eps) + k - 1)
    p_other = 1 / (math.exp(eps) + k - 1)
    tv = p_true - p_other  # hockey-stick divergence at ε = 0
    assert epsilon_at_delta(event, delta=tv * 1.001) == pytest.approx(0.0, abs=1e-3)
    assert epsilon_at_delta(event, delta=tv * 0.5) > 0.1


def test_epsilon_at_delta_of_approximate_dp() -> None:
    ev = EpsilonDeltaEvent(epsilon=0.5, delta=1e-6)
    assert epsilon_at_delta(ev, delta=1e-6) == pytest.approx(0.5, abs=1e-3)
    assert epsilon_at_delta(ev, delta=1e-7) == math.inf
    assert epsilon_at_delta(EpsilonDeltaEvent(epsilon=0.0, delta=0.0), delta=0.0) == 0.0


def test_epsilon_at_delta_prices_discrete_gaussian_with_dp_accounting_s_pld() -> None:
    from dp_accounting.pld import privacy_loss_distribution as pld

    ev = DiscreteGaussianEvent(sigma=3.0, sensitivity=2)
    exact = pld.from_discrete_gaussian_mechanism(3.0, sensitivity=2).get_epsilon_for_delta(1e-6)
    assert epsilon_at_delta(ev, delta=1e-6) == pytest.approx(exact, rel=1e-9)
    # and RDP (through zCDP) is an upper bound, looser than the PLD
    from privet.accounting import RDPAccountant

    assert RDPAccountant().compose(ev).get_epsilon(1e-6) >= epsilon_at_delta(ev, delta=1e-6)


def test_pld_mixes_dp_accounting_s_accountant_with_its_constructors() -> None:
    lap, rr = LaplaceEvent(epsilon=0.5), RandomizedResponseEvent(epsilon=0.5, num_buckets=2)
    both = PLDAccountant().compose(lap).compose(rr).get_epsilon(1e-6)
    only_lap = epsilon_at_delta(lap, delta=1e-6)
    only_rr = epsilon_at_delta(rr, delta=1e-6)
    assert max(only_lap, only_rr) < both <= 1.0 + 1e-9
    # Laplace and binary randomized response at the same ε: RR dominates, same δ(0) here.
    assert only_rr >= only_lap - 1e-9


@settings(max_examples=25, deadline=None)
@given(eps=st.floats(min_value=0.05, max_value=3.0), q=st.floats(min_value=0.01, max_value=1))
def test_pld_of_a_sampled_pure_event_never_exceeds_the_amplified_epsilon(
    eps: float, q: float
) -> None:
    ev = PoissonSampledEvent(sampling_probability=q, event=ExponentialEvent(epsilon=eps))
    assert epsilon_at_delta(ev, delta=0.0) <= amplified_epsilon(eps, q) + 1e-9


@pytest.mark.parametrize("bad", [-1e-6, 1.0, math.nan])
def test_epsilon_at_delta_refuses_bad_delta(bad: float) -> None:
    with pytest.raises(ParameterError, match="delta"):
        epsilon_at_delta(LaplaceEvent(epsilon=1.0), delta=bad)


def test_huge_epsilons_neither_overflow_nor_blow_up_the_pld_grid() -> None:
    # amplification of a large ε (e^ε would overflow)
    assert amplified_epsilon(1000.0, 0.5) == pytest.approx(1000.0 + math.log(0.5))
    assert amplified_epsilon(1000.0, 0.0) == 0.0
    # Laplace with a large ε: priced as binary randomized response (dominates it), instantly
    assert epsilon_at_delta(LaplaceEvent(epsilon=50.0), delta=1e-6) == pytest.approx(50, abs=1e-3)
    # an (ε, δ) event beyond any useful ε: no finite guarantee, and no OverflowError
    assert epsilon_at_delta(EpsilonDeltaEvent(epsilon=800.0, delta=1e-9), delta=1e-6) == math.inf
    assert PLDAccountant().compose(ExponentialEvent(epsilon=800.0)).get_epsilon(0.0) == 800.0
    from privet.accounting import AdvancedCompositionAccountant

    adv = AdvancedCompositionAccountant().compose(LaplaceEvent(epsilon=800.0), count=2)
    assert adv.get_epsilon(1e-6) == 1600.0
