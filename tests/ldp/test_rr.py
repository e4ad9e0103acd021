"""Randomized response: the seed's coin flips (golden), binary RR, the estimator, the ledger."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from privet.accounting.events import RandomizedResponseEvent
from privet.core import SecureRandom
from privet.errors import (
    BudgetExceededError,
    DataError,
    ParameterError,
    ParameterTypeError,
    PrivetError,
)
from privet.ldp import ProportionEstimate, RandomizedResponse
from privet.store import Ledger


def test_golden_coin_flips_scheme() -> None:
    # The seed: heads → the truth; tails → flip again, "yes" on heads. ε = ln 3, p = 3/4.
    rr = RandomizedResponse.coin_flips()
    assert rr.epsilon == math.log(3)
    assert rr.truth_probability == 0.75
    assert rr.event == RandomizedResponseEvent(epsilon=math.log(3), num_buckets=2)
    # π̂ = 2ŷ − ½ on hand-made reports.
    for yes, n, want in [(60, 100, 0.7), (25, 100, 0.0), (75, 100, 1.0), (50, 200, 0.0)]:
        reports = np.arange(n) < yes
        assert rr.estimate(reports).proportion == pytest.approx(2 * yes / n - 0.5, abs=1e-15)
        assert rr.estimate(reports).proportion == pytest.approx(want, abs=1e-15)
    # Var(π̂) = 4·ŷ(1-ŷ)/(n-1) (Warner 1965 with 2p - 1 = 1/2).
    est = rr.estimate(np.arange(1000) < 600)
    assert est.variance == pytest.approx(4 * 0.6 * 0.4 / 999, rel=1e-12)
    assert repr(rr) == "RandomizedResponse.coin_flips()"


def test_binary_rr_for_any_epsilon() -> None:
    rr = RandomizedResponse(epsilon=2.0)
    e = math.exp(2.0)
    assert rr.truth_probability == pytest.approx(e / (1 + e), rel=1e-14)
    odds = rr._truth / (1 - rr._truth)  # exact: the likelihood ratio of the two answers
    assert odds < Fraction(e)  # e^ε rounded to the safe side
    # the general estimator reduces to the seed's one at ε = ln 3
    p = rr.truth_probability
    est = rr.estimate(np.arange(500) < 300)
    assert est.proportion == pytest.approx((0.6 - (1 - p)) / (2 * p - 1), rel=1e-12)


def test_coin_flips_estimate_is_unbiased_with_honest_intervals() -> None:
    # 400 surveys of 2,000 people, 30 % true "yes": mean of π̂ within 5 standard errors,
    # the variance formula matches the spread, and 95 % intervals cover about 95 % of the time.
    rr = RandomizedResponse.coin_flips()
    rng = SecureRandom.seeded(20)
    truth = np.arange(2000) < 600
    ests = [rr.estimate(rr.privatize(truth, rng=rng)) for _ in range(400)]
    pis = np.array([e.proportion for e in ests])
    theory_var = (0.3 * 0.7 + 0.75 * 0.25 / 0.25) / 2000  # Warner: π(1-π)/n + p(1-p)/(n(2p-1)²)
    assert abs(pis.mean() - 0.3) < 5 * math.sqrt(theory_var / 400)
    assert pis.var(ddof=1) == pytest.approx(theory_var, rel=0.35)  # 5 SE of a variance
    assert np.mean([e.variance for e in ests]) == pytest.approx(theory_var, rel=0.05)
    cover = np.mean([lo <= 0.3 <= hi for lo, hi in (e.confidence_interval(0.95) for e in ests)])
    assert 0.89 <= cover <= 0.995


def test_rr_accepts_01_integers_and_lists() -> None:
    rr = RandomizedResponse(epsilon=1.0)
    a = rr.privatize([1, 0, 1], rng=SecureRandom.seeded(1))
    assert a.dtype == np.bool_
    assert a.shape == (3,)
    est = rr.estimate(np.array([1, 1, 0, 0], dtype=np.uint8))
    assert isinstance(est, ProportionEstimate)
    assert est.yes == 2
    assert est.n == 4
    lo, hi = est.confidence_interval()
    assert 0.0 <= lo <= hi <= 1.0


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (np.array([0.5, 1.0]), ParameterTypeError),
        (np.array([0, 2]), DataError),
        (np.array([[True]]), ParameterError),
        (np.array([], dtype=bool), ParameterError),
        ("yes", ParameterTypeError),
    ],
)
def test_rr_bad_answers(bad: object, error: type[PrivetError]) -> None:
    rr = RandomizedResponse(epsilon=1.0)
    with pytest.raises(error):
        rr.privatize(bad)
    with pytest.raises(error):
        rr.estimate(bad)


@pytest.mark.parametrize("eps", [0, -1.0, float("nan"), math.inf, 51.0])
def test_rr_bad_epsilon(eps: float) -> None:
    with pytest.raises(ParameterError):
        RandomizedResponse(epsilon=eps)
    with pytest.raises(ParameterTypeError):
        RandomizedResponse(epsilon="1")  # type: ignore[arg-type]


def test_rr_charges_the_ledger_before_randomizing(tmp_path) -> None:
    rr = RandomizedResponse.coin_flips()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("survey", epsilon=2.5)
        rr.privatize(np.array([True, False]), budget=budget, label="wave 1")
        rr.privatize(np.array([True, False]), budget=budget, label="wave 2")
        assert [c.label for c in budget.history()] == ["wave 1", "wave 2"]
        assert budget.spent()[0] == pytest.approx(2 * math.log(3))
        rng = SecureRandom.seeded(5)
        with pytest.raises(BudgetExceededError):
            rr.privatize(np.array([True]), budget=budget, rng=rng)
        assert len(budget.history()) == 2
        # nothing was drawn: the generator's stream is untouched
        assert rng.uint64(2).tolist() == SecureRandom.seeded(5).uint64(2).tolist()
    with pytest.raises(ParameterTypeError):
        rr.privatize(np.array([True]), budget=object())  # type: ignore[arg-type]
