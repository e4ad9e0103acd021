"""Privacy filters: boundaries, worked examples from each theorem's formula, properties."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privet.accounting.events import (
    ComposedEvent,
    EpsilonDeltaEvent,
    GaussianEvent,
    LaplaceEvent,
    NoOpEvent,
    PoissonSampledEvent,
    PrivacyEvent,
    SelfComposedEvent,
)
from privet.accounting.filters import (
    DEFAULT_CHARGE_DELTA_FRACTION,
    FILTER_RDP_ORDERS,
    AdvancedFilter,
    BasicFilter,
    Cost,
    PrivacyFilter,
    RDPFilter,
    default_filter,
    make_filter,
)
from privet.errors import (
    BudgetExceededError,
    ParameterError,
    ParameterTypeError,
    UnsupportedEventError,
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _UnknownEvent(PrivacyEvent):
    """A mechanism privet's accountants do not know."""

    kind: ClassVar[str] = "test_filters_unknown"


def _admitted(f: PrivacyFilter, cost: Cost, limit: int = 10_000) -> int:
    costs: list[Cost] = []
    while f.admits(costs, cost) and len(costs) < limit:
        costs.append(cost)
    return len(costs)


# -- basic -----------------------------------------------------------------------------


def test_basic_admits_exactly_up_to_the_limit() -> None:
    f = BasicFilter(epsilon=1.0)
    costs = [Cost(epsilon=0.3)] * 3
    assert f.admits(costs, Cost(epsilon=0.1))  # 3 × 0.3 + 0.1 = 1.0: on the boundary
    assert not f.admits(costs, Cost(epsilon=0.1 + 1e-9))
    assert not f.admits([*costs, Cost(epsilon=0.1)], Cost(epsilon=1e-9))


def test_basic_delta_boundary() -> None:
    f = BasicFilter(epsilon=10.0, delta=1e-6)
    costs = [Cost(epsilon=0.1, delta=5e-7)] * 2
    assert f.spent(costs) == pytest.approx((0.2, 1e-6))
    assert not f.admits(costs, Cost(epsilon=0.1, delta=1e-12))
    assert f.admits(costs, Cost(epsilon=0.1))  # a pure charge needs no δ


def test_basic_worked_example() -> None:
    # Rogers et al. 2016's basic filter: the run is (Σεᵢ, Σδᵢ)-DP.
    f = BasicFilter(epsilon=2.0, delta=1e-5)
    costs = [Cost(epsilon=0.5), Cost(epsilon=0.25, delta=2e-6), Cost(epsilon=0.125, delta=3e-6)]
    assert f.spent(costs) == (0.875, pytest.approx(5e-6, rel=1e-15))
    assert f.remaining(costs) == pytest.approx((1.125, 5e-6))


def test_basic_refuses_nonpure_events_without_delta() -> None:
    f = BasicFilter(epsilon=1.0)
    with pytest.raises(BudgetExceededError, match="needs δ > 0"):
        f.price(GaussianEvent(noise_multiplier=5.0))


def test_basic_default_and_explicit_charge_delta() -> None:
    f = BasicFilter(epsilon=5.0, delta=1e-5)
    gauss = GaussianEvent(noise_multiplier=3.0)
    default = f.price(gauss)
    assert default.delta == pytest.approx(DEFAULT_CHARGE_DELTA_FRACTION * 1e-5)
    explicit = f.price(gauss, delta=1e-7)
    assert explicit.delta == 1e-7
    assert explicit.epsilon > default.epsilon  # smaller δ, larger ε


def test_epsilon_delta_event_costs_its_own_parameters() -> None:
    f = BasicFilter(epsilon=5.0, delta=1e-5)
    assert f.price(EpsilonDeltaEvent(epsilon=0.5, delta=1e-7)) == Cost(epsilon=0.5, delta=1e-7)
    with pytest.raises(ParameterError, match="carries its own"):
        f.price(EpsilonDeltaEvent(epsilon=0.5, delta=1e-7), delta=1e-6)


def test_a_composite_fixed_in_advance_is_one_tightly_priced_step() -> None:
    # One SelfComposedEvent may be priced by PLD as a single step; the same mechanisms
    # charged as 100 separate (adaptive) steps are composed by the filter's rule only.
    f = BasicFilter(epsilon=20.0, delta=1e-5)
    fixed = SelfComposedEvent(event=LaplaceEvent(epsilon=0.1), count=100)
    assert f.price(fixed) == Cost(epsilon=10.0)  # pure, no δ asked for: basic composition
    tight = f.price(fixed, delta=1e-6)
    assert tight.delta == 1e-6
    assert tight.epsilon < 5.0  # PLD of the whole run
    separate = [f.price(LaplaceEvent(epsilon=0.1)) for _ in range(100)]
    assert all(c == Cost(epsilon=0.1) for c in separate)
    assert f.spent(separate) == (pytest.approx(10.0), 0.0)  # never the PLD of the sequence
    # With delta= a single Laplace step buys almost nothing: δ = 1 - e^((ε'-ε)/2).
    single = f.price(LaplaceEvent(epsilon=0.1), delta=1e-6)
    assert single.epsilon == pytest.approx(0.1 + 2 * math.log(1 - 1e-6), rel=1e-6)


# -- advanced --------------------------------------------------------------------------


def _whitehouse(square: float, delta_slack: float) -> float:
    return math.sqrt(2.0 * math.log(1.0 / delta_slack) * square) + square / 2.0


def test_advanced_worked_example() -> None:
    # Whitehouse et al. 2023: √(2 ln(1/δ′) Σεᵢ²) + Σεᵢ²/2 with δ′ = δ/2 = 5e-7.
    f = AdvancedFilter(epsilon=10.0, delta=1e-6)
    costs = [Cost(epsilon=0.1)] * 200  # Σεᵢ² = 2
    eps, delta = f.spent(costs)
    assert eps == pytest.approx(math.sqrt(4.0 * math.log(2e6)) + 1.0, rel=1e-12)
    assert eps == pytest.approx(8.618046, abs=1e-6)
    assert delta == 5e-7  # the concentration slack δ′ is spent, the δᵢ pool untouched


def test_advanced_boundary_matches_closed_form() -> None:
    # √(2L S) + S/2 = ε  ⇔  √S = √(2L + 2ε) - √(2L), L = ln(1/δ′).
    eps, delta, q = 10.0, 1e-6, 0.1
    big_l = math.log(2.0 / delta)
    s_star = (math.sqrt(2 * big_l + 2 * eps) - math.sqrt(2 * big_l)) ** 2
    k_star = math.floor(s_star / q**2)
    assert k_star == 260
    f = AdvancedFilter(epsilon=eps, delta=delta)
    at_limit = [Cost(epsilon=q)] * k_star
    assert f.admits(at_limit[:-1], Cost(epsilon=q))
    assert not f.admits(at_limit, Cost(epsilon=q))
    assert (
        _whitehouse(k_star * q**2, delta / 2) <= eps < _whitehouse((k_star + 1) * q**2, delta / 2)
    )


def test_advanced_delta_pool_is_half_of_delta() -> None:
    f = AdvancedFilter(epsilon=10.0, delta=1e-6)
    assert f.admits([], Cost(epsilon=0.1, delta=5e-7))
    assert not f.admits([Cost(epsilon=0.1, delta=5e-7)], Cost(epsilon=0.1, delta=1e-12))
    assert f.price(GaussianEvent(noise_multiplier=4.0)).delta == pytest.approx(
        DEFAULT_CHARGE_DELTA_FRACTION * 5e-7
    )


# Laplace(ε = 0.1) queries admitted at δ = 1e-6, for ε = 1 … 10. Basic: ⌊ε/0.1⌋. Advanced:
# max of that (its pure branch) and ⌊S*/0.01⌋ with S* from the closed form above; the
# bound alone admits 3, 12, 28 for ε = 1, 2, 3, so it beats basic only from ε = 4 on.
LAPLACE_COUNTS = {
    1: (10, 10),
    2: (20, 20),
    3: (30, 30),
    4: (40, 48),
    5: (50, 73),
    6: (60, 103),
    7: (70, 137),
    8: (80, 174),
    9: (90, 216),
    10: (100, 260),
}


@pytest.mark.parametrize("eps", sorted(LAPLACE_COUNTS))
def test_advanced_admits_more_laplace_queries_than_basic(eps: int) -> None:
    basic_count, advanced_count = LAPLACE_COUNTS[eps]
    query = LaplaceEvent(epsilon=0.1)
    basic = BasicFilter(epsilon=eps, delta=1e-6)
    advanced = AdvancedFilter(epsilon=eps, delta=1e-6)
    assert _admitted(basic, basic.price(query)) == basic_count
    assert _admitted(advanced, advanced.price(query)) == advanced_count
    big_l = math.log(2.0 / 1e-6)
    s_star = (math.sqrt(2 * big_l + 2 * eps) - math.sqrt(2 * big_l)) ** 2
    assert advanced_count == max(basic_count, math.floor(s_star / 0.01))
    assert advanced_count >= basic_count
    if eps >= 4:
        assert advanced_count > basic_count


def _rogers_2016_bound(epsilons: list[float], eps_g: float, delta_g: float, inner: float) -> float:
    # Rogers et al. 2016's advanced filter (Section 5 of arXiv:1605.08294) as implemented by
    # third parties; the constant's logarithm differs between sources (ln(1/δ) or ln(2/δ)),
    # so it is a parameter. Whitehouse et al.'s bound is below it for any positive constant.
    square = math.fsum(e * e for e in epsilons)
    c = 28.04 * math.log(inner / delta_g)
    first = math.sqrt(
        2.0
        * (square + eps_g**2 / c)
        * (1.0 + 0.5 * math.log(c * square / eps_g**2 + 1.0))
        * math.log(2.0 / delta_g)
    )
    return first + math.fsum(e * (math.exp(e) - 1.0) / 2.0 for e in epsilons)


@given(
    st.lists(st.floats(min_value=1e-4, max_value=2.0), min_size=1, max_size=50),
    st.floats(min_value=0.1, max_value=20.0),
    st.floats(min_value=1e-12, max_value=0.3),
)
def test_whitehouse_bound_is_never_looser_than_rogers(
    epsilons: list[float], eps_g: float, delta_g: float
) -> None:
    f = AdvancedFilter(epsilon=eps_g, delta=delta_g)
    ours = f.concentration_epsilon([Cost(epsilon=e) for e in epsilons])
    for inner in (1.0, 2.0):
        assert ours <= _rogers_2016_bound(epsilons, eps_g, delta_g, inner)


# -- RDP -------------------------------------------------------------------------------


def test_rdp_worked_example_single_gaussian() -> None:
    f = RDPFilter(epsilon=2.0, delta=1e-6, orders=(2.0, 4.0))
    cost = f.price(GaussianEvent(noise_multiplier=4.0))
    assert cost.rdp == (2 / 32, 4 / 32)  # α/(2σ²)
    expected = min(2 / 32 + math.log(2 / 1e-6) / 1, 4 / 32 + math.log(2 / 1e-6) / 3)
    assert cost.epsilon == pytest.approx(expected, rel=1e-12)
    assert f.spent([cost]) == (pytest.approx(expected, rel=1e-12), 1e-6)


def test_rdp_admits_exactly_the_multi_order_count() -> None:
    # Gaussian σ = 10: ρ(α) = α/200. Admitted: max over α of ⌊B(α)/ρ(α)⌋ with
    # B(α) = ε - ln(|Λ|/δ)/(α-1).
    orders = (2.0, 4.0, 8.0, 16.0, 32.0)
    eps, delta = 3.0, 1e-6
    f = RDPFilter(epsilon=eps, delta=delta, orders=orders)
    expected = max(
        math.floor((eps - math.log(len(orders) / delta) / (a - 1)) / (a / 200))
        for a in orders
        if eps - math.log(len(orders) / delta) / (a - 1) > 0
    )
    cost = f.price(GaussianEvent(noise_multiplier=10.0))
    assert _admitted(f, cost) == expected == 24


def test_rdp_pure_branch_admits_what_basic_admits() -> None:
    f = RDPFilter(epsilon=1.0, delta=1e-6)
    big = f.price(LaplaceEvent(epsilon=1.0))
    assert f.rdp_epsilon(big.rdp or ()) > 1.0  # the RDP bound alone would refuse it
    assert f.admits([], big)
    assert f.spent([big]) == (1.0, 0.0)
    assert not f.admits([big], f.price(LaplaceEvent(epsilon=0.001)))


def test_rdp_mixed_charges_use_the_rdp_bound() -> None:
    f = RDPFilter(epsilon=5.0, delta=1e-6)
    costs = [f.price(LaplaceEvent(epsilon=0.5)), f.price(GaussianEvent(noise_multiplier=5.0))]
    eps, delta = f.spent(costs)
    total = [a + b for a, b in zip(costs[0].rdp or (), costs[1].rdp or (), strict=True)]
    assert eps == pytest.approx(f.rdp_epsilon(total), rel=1e-12)
    assert delta == 1e-6


@pytest.mark.parametrize(
    "event",
    [
        EpsilonDeltaEvent(epsilon=0.5, delta=1e-7),
        ComposedEvent(
            events=[LaplaceEvent(epsilon=0.1), EpsilonDeltaEvent(epsilon=0.5, delta=1e-7)]
        ),
        SelfComposedEvent(
            event=PoissonSampledEvent(
                sampling_probability=0.5, event=EpsilonDeltaEvent(epsilon=0.5, delta=1e-7)
            ),
            count=3,
        ),
    ],
)
def test_rdp_refuses_approximate_events(event: PrivacyEvent) -> None:
    f = RDPFilter(epsilon=5.0, delta=1e-6)
    with pytest.raises(UnsupportedEventError, match="filter='basic'"):
        f.price(event)


def test_rdp_accepts_pure_epsilon_delta_events_and_refuses_delta_argument() -> None:
    f = RDPFilter(epsilon=5.0, delta=1e-6)
    assert f.price(EpsilonDeltaEvent(epsilon=0.5)).epsilon == 0.5
    with pytest.raises(ParameterError, match="delta= is not used"):
        f.price(GaussianEvent(noise_multiplier=2.0), delta=1e-7)


# -- unknown events and validation -----------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        _UnknownEvent(),
        ComposedEvent(events=[LaplaceEvent(epsilon=0.1), _UnknownEvent()]),
        SelfComposedEvent(
            event=PoissonSampledEvent(sampling_probability=0.1, event=_UnknownEvent()), count=2
        ),
    ],
)
@pytest.mark.parametrize("name", ["basic", "advanced", "rdp"])
def test_unknown_events_are_refused_even_when_nested(event: PrivacyEvent, name: str) -> None:
    f = make_filter(name, epsilon=5.0, delta=1e-6)
    with pytest.raises(UnsupportedEventError):
        f.price(event)


def test_noop_costs_nothing() -> None:
    for name in ("basic", "advanced", "rdp"):
        f = make_filter(name, epsilon=1.0, delta=1e-6)
        cost = f.price(NoOpEvent())
        assert cost.epsilon == 0.0
        assert cost.delta == 0.0


def test_filter_validation() -> None:
    with pytest.raises(ParameterError, match="needs delta > 0"):
        AdvancedFilter(epsilon=1.0, delta=0.0)
    with pytest.raises(ParameterError, match="needs delta > 0"):
        RDPFilter(epsilon=1.0, delta=0.0)
    with pytest.raises(ParameterError):
        RDPFilter(epsilon=1.0, delta=1e-6, orders=(1.0, 2.0))
    with pytest.raises(ParameterError):
        RDPFilter(epsilon=1.0, delta=1e-6, orders=(2.0, 2.0))
    with pytest.raises(ParameterTypeError):
        RDPFilter(epsilon=1.0, delta=1e-6, orders="2")  # type: ignore[arg-type]
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ParameterError):
            BasicFilter(epsilon=bad)
    with pytest.raises(ParameterTypeError):
        BasicFilter(epsilon=True)
    with pytest.raises(ParameterError):
        BasicFilter(epsilon=1.0, delta=1.0)
    with pytest.raises(ParameterError):
        make_filter("fancy", epsilon=1.0)
    with pytest.raises(ParameterError):
        make_filter("basic", epsilon=1.0, orders=[2.0])
    with pytest.raises(ParameterError):
        Cost(epsilon=-0.1)
    with pytest.raises(ParameterError):
        Cost(epsilon=0.1, rdp=(math.nan,))
    with pytest.raises(ParameterError, match="RDP curve"):
        RDPFilter(epsilon=1.0, delta=1e-6).spent([Cost(epsilon=0.1)])


def test_default_filter_and_make_filter_round_trip() -> None:
    assert default_filter(0.0) == "basic"
    assert default_filter(1e-9) == "rdp"
    rdp = RDPFilter(epsilon=1.0, delta=1e-6)
    assert rdp.params() == {"orders": list(FILTER_RDP_ORDERS)}
    again = make_filter("rdp", epsilon=1.0, delta=1e-6, **rdp.params())
    assert isinstance(again, RDPFilter)
    assert again.orders == FILTER_RDP_ORDERS
    adv = AdvancedFilter(epsilon=1.0, delta=1e-6)
    assert isinstance(
        make_filter("advanced", epsilon=1.0, delta=1e-6, **adv.params()), AdvancedFilter
    )


def test_check_message_names_cost_remaining_and_fix() -> None:
    f = BasicFilter(epsilon=1.0)
    with pytest.raises(BudgetExceededError) as info:
        f.check([Cost(epsilon=0.8)], Cost(epsilon=0.5))
    text = str(info.value)
    assert "ε=0.5" in text
    assert "remaining now: ε=0.2" in text
    assert "raise_limit" in text
    assert "Nothing was recorded" in text


# -- properties: an accepted sequence never exceeds the limit ---------------------------

_pure_eps = st.floats(min_value=1e-4, max_value=3.0, allow_nan=False)
_limits = st.tuples(
    st.floats(min_value=0.05, max_value=20.0), st.floats(min_value=1e-12, max_value=0.1)
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_pure_eps, st.floats(min_value=0.0, max_value=1e-3)), max_size=60), _limits
)
def test_basic_accepted_sequences_stay_within_the_limit(
    requests: list[tuple[float, float]], limits: tuple[float, float]
) -> None:
    f = BasicFilter(epsilon=limits[0], delta=limits[1])
    accepted: list[Cost] = []
    for eps, delta in requests:
        cost = Cost(epsilon=eps, delta=delta)
        ok = f.admits(accepted, cost)
        new_eps = math.fsum([*(c.epsilon for c in accepted), eps])
        new_delta = math.fsum([*(c.delta for c in accepted), delta])
        within = new_eps <= limits[0] * (1 + 1e-12) and new_delta <= limits[1] * (1 + 1e-12)
        assert ok == within
        if ok:
            accepted.append(cost)
    eps_spent, delta_spent = f.spent(accepted)
    assert eps_spent <= limits[0] * (1 + 1e-12)
    assert delta_spent <= limits[1] * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(_pure_eps, max_size=80), _limits)
def test_advanced_accepted_sequences_satisfy_a_proven_branch(
    requests: list[float], limits: tuple[float, float]
) -> None:
    f = AdvancedFilter(epsilon=limits[0], delta=limits[1])
    accepted: list[Cost] = []
    for eps in requests:
        if f.admits(accepted, Cost(epsilon=eps)):
            accepted.append(Cost(epsilon=eps))
            # every prefix the filter lets through satisfies basic OR Whitehouse et al.
            basic = math.fsum(c.epsilon for c in accepted)
            square = math.fsum(c.epsilon**2 for c in accepted)
            bound = _whitehouse(square, limits[1] / 2)
            assert min(basic, bound) <= limits[0] * (1 + 1e-12)
    assert f.spent(accepted)[0] <= limits[0] * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(min_value=1e-4, max_value=1.0), st.booleans()), max_size=60),
    _limits,
)
def test_rdp_accepted_sequences_keep_some_order_within_budget(
    requests: list[tuple[float, bool]], limits: tuple[float, float]
) -> None:
    # Synthetic steps: zCDP-like curves ρ(α) = α·r; "pure" steps also carry ε = √(2r)·2.
    orders = (1.5, 2.0, 4.0, 8.0, 16.0, 64.0)
    f = RDPFilter(epsilon=limits[0], delta=limits[1], orders=orders)
    accepted: list[Cost] = []
    for r, pure in requests:
        curve = tuple(a * r for a in orders)
        cost = (
            Cost(epsilon=2 * math.sqrt(2 * r), rdp=curve)
            if pure
            else Cost(epsilon=f.rdp_epsilon(curve), delta=limits[1], rdp=curve)
        )
        if f.admits(accepted, cost):
            accepted.append(cost)
            basic_ok = all(c.pure for c in accepted) and math.fsum(
                c.epsilon for c in accepted
            ) <= limits[0] * (1 + 1e-12)
            some_order_ok = any(
                math.fsum(c.rdp[i] for c in accepted if c.rdp)
                <= (limits[0] - math.log(len(orders) / limits[1]) / (a - 1)) + 1e-12 * limits[0]
                for i, a in enumerate(orders)
            )
            assert basic_ok or some_order_ok
    assert f.spent(accepted)[0] <= limits[0] * (1 + 1e-12)
