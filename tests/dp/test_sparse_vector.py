"""The sparse vector technique: halting, accuracy, noise laws, charging and bad inputs."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from scipy import stats

from privet.accounting.events import PrivacyEvent, SparseVectorEvent
from privet.core import SecureRandom
from privet.core.errors import (
    BudgetExceededError,
    DataError,
    ParameterError,
    ParameterTypeError,
    PrivetError,
)
from privet.dp.sparse_vector import AboveThreshold, SparseVector


class SpyRandom(SecureRandom):
    def _fill_view(self, view: memoryview) -> None:
        self.draws = getattr(self, "draws", 0) + 1
        super()._fill_view(view)


class Budget:
    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.events: list[PrivacyEvent] = []

    def charge(self, event: PrivacyEvent, *, label: str = "", delta: float | None = None) -> str:
        if self.refuse:
            raise BudgetExceededError("cannot afford this charge (test)")
        self.events.append(event)
        return "charged"


def test_halts_after_max_above_positives() -> None:
    svt = SparseVector(
        threshold=0.0, epsilon=1.0, sensitivity=1.0, max_above=3, rng=SecureRandom.seeded(1)
    )
    answers = [svt.test(v) for v in (1e6, -1e6, 1e6, -1e6, -1e6, 1e6)]
    assert answers == [True, False, True, False, False, True]
    assert svt.halted
    assert svt.remaining == 0
    assert svt.answered == 6
    with pytest.raises(BudgetExceededError, match="halted"):
        svt.test(1e6)
    assert "halted" in repr(svt)


def test_above_threshold_stops_at_the_first_above() -> None:
    svt = AboveThreshold(threshold=50.0, epsilon=1.0, sensitivity=1.0, rng=SecureRandom.seeded(2))
    assert not svt.test(-1000.0)
    assert svt.test(1000.0)
    with pytest.raises(BudgetExceededError):
        svt.test(-1000.0)


@pytest.mark.parametrize("monotonic", [False, True])
def test_well_separated_queries_are_answered_correctly(monotonic: bool) -> None:
    # Noise scales here: threshold ≈ Lap(2.6), queries ≈ Lap(16) (c = 2, ε = 1): a margin of
    # 300 makes an error a < 1e-7 event per query.
    rng = SecureRandom.seeded(3)
    wrong = 0
    for _ in range(40):
        svt = SparseVector(
            threshold=100.0,
            epsilon=1.0,
            sensitivity=1.0,
            max_above=2,
            monotonic=monotonic,
            rng=rng,
        )
        queries = [-200.0] * 20 + [400.0] + [-200.0] * 20 + [400.0]
        expected = [q > 100.0 for q in queries]
        got = [svt.test(q) for q in queries]
        wrong += got != expected
    assert wrong == 0


def test_noise_scales_follow_lyu_su_li() -> None:
    # ρ ~ Lap(Δ/ε₁), νᵢ ~ Lap(2cΔ/ε₂) with ε₁ : ε₂ = 1 : (2c)^(2/3), in grid units.
    svt = SparseVector(
        threshold=0.0, epsilon=1.0, sensitivity=1.0, max_above=4, rng=SecureRandom.seeded(4)
    )
    delta_int = 2**20 + 1  # Δ/γ = 2^20 for Δ = 1
    eps1 = 1.0 / (1.0 + 8.0 ** (2.0 / 3.0))
    expected = 2 * 4 * delta_int / (1.0 - eps1)
    assert float(svt._query_scale) == pytest.approx(expected, rel=1e-12)
    assert svt.epsilon <= 1.0
    assert svt.epsilon == pytest.approx(1.0, rel=1e-9)
    # Dwork & Roth's AboveThreshold split: ε₁ = ε₂ = ε/2, νᵢ ~ Lap(4Δ/ε)
    at = AboveThreshold(threshold=0.0, epsilon=2.0, sensitivity=1.0, threshold_share=0.5)
    assert float(at._query_scale) == pytest.approx(4 * delta_int / 2.0, rel=1e-12)
    mono = SparseVector(threshold=0.0, epsilon=1.0, sensitivity=1.0, max_above=4, monotonic=True)
    assert float(mono._query_scale) < float(svt._query_scale)


def test_answers_follow_the_noisy_comparison_law() -> None:
    # A query 0.7 above the threshold is "above" iff ν − ρ ≥ −0.7, with ρ ~ Lap(Δ/ε₁) = Lap(0.5)
    # and ν ~ Lap(2Δ/ε₂) = Lap(1) (ε = 4, ε₁ = ε₂ = 2). The grid makes these discrete Laplace
    # laws 2^20 steps per unit: the continuous law below is exact to about 1e-6.
    from scipy import integrate

    def p_above(offset: float, b1: float, b2: float) -> float:
        def integrand(r: float) -> float:
            tail = stats.laplace.sf(r - offset, scale=b2)
            return float(stats.laplace.pdf(r, scale=b1) * tail)

        return float(integrate.quad(integrand, -40.0, 40.0, points=[0.0, offset], limit=200)[0])

    rng = SecureRandom.seeded(5)
    n = 1500
    above = 0
    for _ in range(n):
        svt = AboveThreshold(
            threshold=10.0, epsilon=4.0, sensitivity=1.0, threshold_share=0.5, rng=rng
        )
        above += svt.test(10.7)
    p = p_above(0.7, 0.5, 1.0)
    assert stats.binomtest(above, n, p).pvalue > 1e-6
    # the test can fail: a query noise of twice the scale would be rejected
    assert stats.binomtest(above, n, p_above(0.7, 0.5, 2.0)).pvalue < 1e-3


def test_charges_once_before_any_noise() -> None:
    spy = SpyRandom.seeded(6)
    with pytest.raises(BudgetExceededError):
        SparseVector(
            threshold=1.0, epsilon=0.5, sensitivity=1.0, budget=Budget(refuse=True), rng=spy
        )
    assert getattr(spy, "draws", 0) == 0
    budget = Budget()
    svt = SparseVector(
        threshold=1.0,
        epsilon=0.5,
        sensitivity=1.0,
        max_above=2,
        budget=budget,
        label="svt",
        rng=spy,
    )
    for q in (0.0, 0.0, 0.0):
        svt.test(q)
    assert budget.events == [SparseVectorEvent(epsilon=0.5)]
    assert svt.event == SparseVectorEvent(epsilon=0.5)
    assert svt.charge == "charged"
    assert svt.label == "svt"


def test_secret_threshold_is_not_shown() -> None:
    svt = SparseVector(threshold=12345.0, epsilon=1.0, sensitivity=1.0)
    assert "12345" not in repr(svt)


def test_grid_rounding_handles_extreme_values() -> None:
    svt = SparseVector(
        threshold=1e300, epsilon=1.0, sensitivity=1e-6, max_above=2, rng=SecureRandom.seeded(8)
    )
    assert not svt.test(-1e300)
    assert svt.test(1.7e308)
    svt2 = SparseVector(threshold=0.0, epsilon=1.0, sensitivity=1e-300, max_above=2)
    assert not svt2.test(-1.0)
    assert svt2.test(1.0)


def test_reported_epsilon_accounts_for_rounding_up() -> None:
    svt = SparseVector(threshold=0.0, epsilon=0.1, sensitivity=3.0, max_above=5)
    assert svt.epsilon <= 0.1
    assert Fraction(svt.epsilon) >= Fraction(0.1) * (1 - Fraction(1, 2**40))


@pytest.mark.parametrize(
    ("kwargs", "error", "mentions"),
    [
        ({"epsilon": 0.0}, ParameterError, "epsilon"),
        ({"epsilon": -1.0}, ParameterError, "epsilon"),
        ({"epsilon": math.inf}, ParameterError, "epsilon"),
        ({"sensitivity": 0.0}, ParameterError, "sensitivity"),
        ({"sensitivity": math.nan}, ParameterError, "sensitivity"),
        ({"threshold": math.nan}, ParameterError, "threshold"),
        ({"threshold": "1"}, ParameterTypeError, "threshold"),
        ({"max_above": 0}, ParameterError, "max_above"),
        ({"max_above": 1.5}, ParameterTypeError, "max_above"),
        ({"threshold_share": 1.0}, ParameterError, "threshold_share"),
        ({"threshold_share": 0.0}, ParameterError, "threshold_share"),
        ({"monotonic": "yes"}, ParameterTypeError, "monotonic"),
        ({"rng": np.random.default_rng()}, ParameterTypeError, "SecureRandom"),
        ({"budget": 1}, ParameterTypeError, "budget"),
        ({"label": None}, ParameterTypeError, "label"),
    ],
)
def test_bad_construction(kwargs: dict[str, Any], error: type[PrivetError], mentions: str) -> None:
    args: dict[str, Any] = {"threshold": 0.0, "epsilon": 1.0, "sensitivity": 1.0}
    args.update(kwargs)
    with pytest.raises(error) as info:
        SparseVector(**args)
    assert mentions in str(info.value)


def test_bad_queries() -> None:
    svt = SparseVector(threshold=0.0, epsilon=1.0, sensitivity=1.0)
    with pytest.raises(DataError):
        svt.test(math.nan)
    with pytest.raises(ParameterTypeError):
        svt.test("3")  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError):
        svt.test(True)
    assert svt.answered == 0  # refused queries draw and count nothing


def test_integer_queries_are_compared_exactly() -> None:
    from privet.dp.sparse_vector import _to_grid

    assert _to_grid(Fraction(2**60 + 1), 0) == 2**60 + 1
    assert _to_grid(float(2**60 + 1), 0) == 2**60  # what a float conversion would lose
    assert _to_grid(0.75, -2) == 3
    svt = SparseVector(threshold=0.0, epsilon=1.0, sensitivity=1.0, max_above=2)
    assert svt.test(2**70 + 1)
    assert svt.test(Fraction(10**9, 3))
