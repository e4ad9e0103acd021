"""Private selection: exact laws, privacy ratios on neighbours, charging and bad inputs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from privet.accounting.events import ExponentialEvent, PrivacyEvent, ReportNoisyMaxEvent
from privet.core import SecureRandom
from privet.core.errors import (
    BudgetExceededError,
    DataError,
    ParameterError,
    ParameterTypeError,
    PrivetError,
)
from privet.dp import selection
from privet.dp.mechanisms import Release
from privet.dp.selection import (
    exponential,
    exponential_release,
    permute_and_flip,
    permute_and_flip_release,
    report_noisy_max,
    report_noisy_max_release,
)

ALPHA = 1e-6
SCORES = [0.0, 1.0, 2.0, 3.0, 2.5]


class SpyRandom(SecureRandom):
    def _fill_view(self, view: memoryview) -> None:
        self.draws = getattr(self, "draws", 0) + 1
        super()._fill_view(view)


class RefusingBudget:
    def charge(self, event: PrivacyEvent, *, label: str = "", delta: float | None = None) -> None:
        raise BudgetExceededError("cannot afford this charge (test)")


class RecordingBudget:
    def __init__(self) -> None:
        self.events: list[PrivacyEvent] = []

    def charge(self, event: PrivacyEvent, *, label: str = "", delta: float | None = None) -> int:
        self.events.append(event)
        return len(self.events)


# -- the exact law of what is implemented, recomputed independently from a release ------------


def weights(scores: list[float], rel: Release, factor: int) -> NDArray[np.float64]:
    """exp(−γᵢ), γᵢ = ε'(U_max − Uᵢ)/(factor·Δ_int), from the release's public parameters."""
    assert rel.granularity is not None
    assert rel.integer_sensitivity is not None
    assert rel.noise_parameter is not None
    u = np.rint(np.asarray(scores) / rel.granularity)
    gaps = u.max() - u
    eps = float(rel.noise_parameter)
    out: NDArray[np.float64] = np.exp(-eps * gaps / (factor * rel.integer_sensitivity))
    return out


def em_probs(w: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = w / w.sum()
    return out


def pf_probs(w: NDArray[np.float64]) -> NDArray[np.float64]:
    """Permute-and-flip: P(i) = wᵢ·E[Π over the candidates before i of (1 − wⱼ)]."""
    k = w.size
    out = np.zeros(k)
    for i in range(k):
        others = [j for j in range(k) if j != i]
        total = 0.0
        for r in range(k):
            for before in itertools.combinations(others, r):
                # P(exactly the set `before` precedes i in a uniform order) = r!(k−1−r)!/k!
                order = math.factorial(r) * math.factorial(k - 1 - r) / math.factorial(k)
                total += order * math.prod(1.0 - w[j] for j in before)
        out[i] = w[i] * total
    return out


def chi2(counts: NDArray[np.int64], probs: NDArray[np.float64]) -> float:
    return float(stats.chisquare(counts, probs * counts.sum()).pvalue)


def draws(
    fn: Callable[..., int], n: int, seed: int, epsilon: float = 1.0, **kw: Any
) -> NDArray[np.int64]:
    rng = SecureRandom.seeded(seed)
    picks = [fn(SCORES, sensitivity=1.0, epsilon=epsilon, rng=rng, **kw) for _ in range(n)]
    return np.bincount(picks, minlength=len(SCORES))


def test_pf_probabilities_sum_to_one_and_beat_em() -> None:
    w = np.array([1.0, 0.5, 0.2, 0.05])
    p = pf_probs(w)
    assert p.sum() == pytest.approx(1.0)
    # McKenna & Sheldon 2020: permute-and-flip's expected score is never below EM's
    assert p @ np.log(w) >= em_probs(w) @ np.log(w)


# -- laws ---------------------------------------------------------------------------------------


def test_exponential_matches_its_exact_law() -> None:
    rel = exponential_release(SCORES, sensitivity=1.0, epsilon=1.0)
    probs = em_probs(weights(SCORES, rel, 2))
    assert chi2(draws(exponential, 2000, 1), probs) > ALPHA


def test_exponential_monotonic_matches_its_exact_law() -> None:
    rel = exponential_release(SCORES, sensitivity=1.0, epsilon=1.0, monotonic=True)
    probs = em_probs(weights(SCORES, rel, 1))
    assert chi2(draws(exponential, 2000, 2, monotonic=True), probs) > ALPHA
    # and it differs from the non-monotonic law (the test can tell them apart)
    other = em_probs(weights(SCORES, rel, 2))
    assert chi2(draws(exponential, 2000, 3, monotonic=True), other) < ALPHA


def test_permute_and_flip_matches_its_exact_law() -> None:
    rel = permute_and_flip_release(SCORES, sensitivity=1.0, epsilon=3.0)
    w = weights(SCORES, rel, 2)
    assert chi2(draws(permute_and_flip, 2000, 4, epsilon=3.0), pf_probs(w)) > ALPHA
    # and not the exponential mechanism's law (the test can tell them apart)
    assert chi2(draws(permute_and_flip, 2000, 5, epsilon=3.0), em_probs(w)) < ALPHA


@pytest.mark.parametrize(("noise", "law"), [("exponential", pf_probs), ("gumbel", em_probs)])
def test_report_noisy_max_has_the_law_of_its_noise(
    noise: str, law: Callable[[NDArray[np.float64]], NDArray[np.float64]]
) -> None:
    rel = report_noisy_max_release(SCORES, sensitivity=1.0, epsilon=1.0, noise=noise)  # type: ignore[arg-type]
    probs = law(weights(SCORES, rel, 2))
    assert chi2(draws(report_noisy_max, 2000, 6, noise=noise), probs) > ALPHA


def test_exact_coins_match_exp_minus_gamma() -> None:
    # 10^6 coins through the same exact Bernoulli(exp(−γᵢ)) the mechanisms use.
    scores = np.array([0.0, 0.3, 1.7, 4.0, 9.5])
    plan = selection._plan(1.0, 1.0, 2)
    ex = selection._exponents(scores, plan)
    rng = SecureRandom.seeded(9)
    n = 200_000
    idx = np.repeat(np.arange(scores.size, dtype=np.intp), n)
    heads = selection._coins(rng, ex, idx).reshape(scores.size, n).mean(axis=1)
    gamma = ex.whole + ex.rem.astype(np.float64) / ex.denominator
    p = np.exp(-gamma)
    z = np.abs(heads - p) / np.sqrt(np.maximum(p * (1 - p), 1e-12) / n)
    assert (z < 5.0).all(), (heads, p)


# -- privacy on neighbouring score vectors (exact probabilities) ----------------------------------

NEIGHBOURS = [
    ([0.0, 0.0, 0.0], [1.0, -1.0, 0.0]),
    ([5.0, 4.0, 3.0, 0.0], [4.0, 5.0, 2.0, 1.0]),
    ([0.25, 0.75], [1.25, -0.25]),
]


@pytest.mark.parametrize(("u", "v"), NEIGHBOURS)
@pytest.mark.parametrize(("name", "law"), [("em", em_probs), ("pf", pf_probs)])
def test_privacy_ratio_is_at_most_e_to_the_epsilon(
    u: list[float], v: list[float], name: str, law: Callable[..., NDArray[np.float64]]
) -> None:
    eps = 0.9
    rel = exponential_release(u, sensitivity=1.0, epsilon=eps)
    assert rel.epsilon <= eps
    pu = law(weights(u, rel, 2))
    pv = law(weights(v, rel, 2))
    ratio = np.max(np.maximum(pu / pv, pv / pu))
    assert ratio <= math.exp(rel.epsilon) * (1 + 1e-12), (name, ratio)


def test_privacy_ratio_check_catches_a_wrong_mechanism() -> None:
    # The "monotonic" factor on scores that move in opposite directions breaks ε-DP: the
    # same check must see it (so the check above is able to fail).
    u, v = [0.0, 0.0, 0.0], [1.0, -1.0, -1.0]
    rel = exponential_release(u, sensitivity=1.0, epsilon=1.0, monotonic=True)
    pu, pv = em_probs(weights(u, rel, 1)), em_probs(weights(v, rel, 1))
    assert np.max(np.maximum(pu / pv, pv / pu)) > math.exp(1.0) * 1.01


def test_monotonic_privacy_ratio_on_monotone_neighbours() -> None:
    u, v = [3.0, 1.0, 0.0], [4.0, 1.5, 0.0]  # every score moves up by at most Δ = 1
    rel = exponential_release(u, sensitivity=1.0, epsilon=1.0, monotonic=True)
    pu, pv = em_probs(weights(u, rel, 1)), em_probs(weights(v, rel, 1))
    assert np.max(np.maximum(pu / pv, pv / pu)) <= math.exp(rel.epsilon) * (1 + 1e-12)


# -- utility, extremes --------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [exponential, permute_and_flip, report_noisy_max])
def test_well_separated_best_is_chosen(fn: Callable[..., int]) -> None:
    rng = SecureRandom.seeded(12)
    scores = np.zeros(50)
    scores[17] = 60.0
    picks = [fn(scores, sensitivity=1.0, epsilon=1.0, rng=rng) for _ in range(20)]
    assert picks == [17] * 20


def test_extreme_scores_use_exact_integers() -> None:
    rng = SecureRandom.seeded(13)
    scores = [0.0, 1e300, -1e300, 5e-324]
    for fn in (exponential, permute_and_flip):
        assert fn(scores, sensitivity=1e-10, epsilon=1.0, rng=rng) == 1
    ex = selection._exponents(np.array(scores), selection._plan(1e-10, 1.0, 2))
    assert ex.big  # the far-away scores took the exact big-integer path


def test_single_candidate_and_ties() -> None:
    assert exponential([3.0], sensitivity=1.0, epsilon=1.0) == 0
    assert permute_and_flip([3.0], sensitivity=1.0, epsilon=1.0) == 0
    rng = SecureRandom.seeded(14)
    picks = [
        permute_and_flip([2.0, 2.0], sensitivity=1.0, epsilon=5.0, rng=rng) for _ in range(400)
    ]
    assert 120 < sum(picks) < 280  # ties split evenly


# -- charging and bad inputs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "event"),
    [
        (exponential, ExponentialEvent(epsilon=0.4)),
        (permute_and_flip, ReportNoisyMaxEvent(epsilon=0.4)),
        (report_noisy_max, ReportNoisyMaxEvent(epsilon=0.4)),
    ],
)
def test_charges_before_drawing(fn: Callable[..., int], event: PrivacyEvent) -> None:
    spy = SpyRandom.seeded(3)
    with pytest.raises(BudgetExceededError):
        fn(SCORES, sensitivity=1.0, epsilon=0.4, budget=RefusingBudget(), rng=spy)
    assert getattr(spy, "draws", 0) == 0
    budget = RecordingBudget()
    fn(SCORES, sensitivity=1.0, epsilon=0.4, budget=budget, rng=spy)
    assert budget.events == [event]


@pytest.mark.parametrize(
    ("kwargs", "error", "mentions"),
    [
        ({"scores": []}, ParameterError, "non-empty"),
        ({"scores": [[1.0, 2.0]]}, ParameterError, "1-D"),
        ({"scores": [1.0, math.nan]}, DataError, "NaN"),
        ({"scores": [1.0, -math.inf]}, DataError, "NaN"),
        ({"scores": "abc"}, ParameterTypeError, "scores"),
        ({"scores": ["a", "b"]}, ParameterTypeError, "real"),
        ({"scores": 3.0}, ParameterTypeError, "scores"),
        ({"epsilon": 0.0}, ParameterError, "epsilon"),
        ({"epsilon": math.nan}, ParameterError, "epsilon"),
        ({"epsilon": 1e-30}, ParameterError, "too small"),
        ({"sensitivity": -1.0}, ParameterError, "sensitivity"),
        ({"sensitivity": math.inf}, ParameterError, "sensitivity"),
        ({"rng": 3}, ParameterTypeError, "SecureRandom"),
        ({"budget": "b"}, ParameterTypeError, "budget"),
    ],
)
def test_bad_inputs(kwargs: dict[str, Any], error: type[PrivetError], mentions: str) -> None:
    args: dict[str, Any] = {"scores": SCORES, "sensitivity": 1.0, "epsilon": 1.0}
    args.update(kwargs)
    scores = args.pop("scores")
    for fn in (exponential, permute_and_flip, report_noisy_max):
        with pytest.raises(error) as info:
            fn(scores, **args)
        assert mentions in str(info.value)


def test_bad_noise_and_monotonic() -> None:
    with pytest.raises(ParameterError, match="gumbel"):
        report_noisy_max(SCORES, sensitivity=1.0, epsilon=1.0, noise="laplace")  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="monotonic"):
        exponential(SCORES, sensitivity=1.0, epsilon=1.0, monotonic=1)  # type: ignore[arg-type]


def test_integer_scores_beyond_2_53_are_ranked_exactly() -> None:
    # As floats, 2**60 + 1 and 2**60 are equal; exactly, the first wins by Δ = 1, which at
    # ε = 60 makes it the pick with probability 1 − e^-30 (EM) or more (permute-and-flip).
    rng = SecureRandom.seeded(15)
    for scores in ([2**60 + 1, 2**60], np.array([2**60 + 1, 2**60], dtype=np.int64)):
        for fn in (exponential, permute_and_flip):
            picks = {fn(scores, sensitivity=1.0, epsilon=60.0, rng=rng) for _ in range(20)}
            assert picks == {0}
    with pytest.raises(ParameterTypeError, match="position 1"):
        exponential([1.0, True], sensitivity=1.0, epsilon=1.0)
