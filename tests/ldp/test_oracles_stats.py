"""Statistical tests of the frequency oracles: variance against the papers' formulas, bias.

Seeded generators make every test deterministic. Bounds are at least 4 standard errors of
the statistic tested (false-alarm rate below 1e-4 per test before seeding), so a failure
means a real bias or a wrong variance, not bad luck.

The variance tests put every user on one value, so each other value's count has exactly
the approximate variance ``Var*`` of Wang et al. 2017 (the ``n_x = 0`` case of their
Theorem 2); its mean squared error over trials and values must be within ±10 % of the
formulas: OUE and OLH ``n·4e^ε/(e^ε-1)²`` (36,827 at n = 10^4, ε = 1), GRR
``n(e^ε+d-2)/(e^ε-1)²``, SUE ``n·e^(ε/2)/(e^(ε/2)-1)²``, HR ``n((e^ε+1)/(e^ε-1))²``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from privet.core import SecureRandom
from privet.ldp import GRR, OLH, OUE, SUE, FrequencyOracle, HadamardResponse

E1 = math.e


def paper_variance(name: str, *, n: int, d: int, epsilon: float) -> float:
    e = math.exp(epsilon)
    if name in ("OUE", "OLH"):
        return n * 4 * e / (e - 1) ** 2  # Wang et al. 2017, OUE and OLH
    if name == "GRR":
        return n * (e + d - 2) / (e - 1) ** 2  # Wang et al. 2017, direct encoding
    if name == "SUE":
        h = math.exp(epsilon / 2)
        return n * h / (h - 1) ** 2  # Wang et al. 2017, SUE (basic RAPPOR)
    return n * ((e + 1) / (e - 1)) ** 2  # Hadamard response (derived in hadamard.py)


ORACLES = {"GRR": GRR, "SUE": SUE, "OUE": OUE, "OLH": OLH, "HR": HadamardResponse}


def mse_of_absent_values(
    oracle: FrequencyOracle, *, n: int, trials: int, seed: int
) -> tuple[float, float]:
    """(MSE of the values nobody holds, mean estimate of the held one) over ``trials``."""
    held = 3
    values = np.full(n, held, dtype=np.int64)
    rng = SecureRandom.seeded(seed)
    sq, tops = 0.0, []
    for _ in range(trials):
        counts = oracle.estimate(oracle.privatize(values, rng=rng)).counts
        tops.append(counts[held])
        sq += float(np.sum(np.delete(counts, held) ** 2))
    return sq / (trials * (oracle.domain_size - 1)), float(np.mean(tops))


def test_the_36827_figure() -> None:
    assert round(paper_variance("OUE", n=10_000, d=0, epsilon=1.0)) == 36_827
    assert round(OUE(epsilon=1.0, domain_size=32).variance(10_000)) == 36_827


@pytest.mark.parametrize("name", list(ORACLES))
def test_variance_within_10_percent_of_theory(name: str) -> None:
    # n = 10^4, ε = 1, d = 32, 160 trials: 4,960 squared errors, relative SE about 2 %.
    n, d, trials = 10_000, 32, 160
    oracle = ORACLES[name](epsilon=1.0, domain_size=d)
    mse, top = mse_of_absent_values(oracle, n=n, trials=trials, seed=100 + len(name))
    theory = paper_variance(name, n=n, d=d, epsilon=1.0)
    assert mse == pytest.approx(theory, rel=0.10), (mse, theory)
    # the held value: unbiased, with its exact variance n·p*(1-p*)/(p*-q*)² (n_x = n)
    p, q = oracle.support_probabilities
    held_sd = math.sqrt(n * p * (1 - p) / (p - q) ** 2 / trials)
    assert abs(top - n) < 5 * held_sd


@pytest.mark.parametrize("name", list(ORACLES))
def test_unbiased_on_a_skewed_population(name: str) -> None:
    n, d, trials = 5_000, 10, 150
    counts = np.array([2000, 1200, 700, 500, 300, 150, 100, 50, 0, 0])
    values = np.repeat(np.arange(d), counts)
    oracle = ORACLES[name](epsilon=1.0, domain_size=d)
    rng = SecureRandom.seeded(7 + len(name))
    ests = np.array(
        [oracle.estimate(oracle.privatize(values, rng=rng)).counts for _ in range(trials)]
    )
    p, q = oracle.support_probabilities
    exact_var = (counts * p * (1 - p) + (n - counts) * q * (1 - q)) / (p - q) ** 2
    z = (ests.mean(axis=0) - counts) / np.sqrt(exact_var / trials)
    assert np.abs(z).max() < 4.5, z
    # the exact per-value variance matches the spread (Wang et al. 2017, Theorem 2)
    ratio = ests.var(axis=0, ddof=1).mean() / exact_var.mean()
    assert ratio == pytest.approx(1.0, rel=0.12)


def test_odd_prime_olh_is_unbiased_with_its_variance() -> None:
    # g = 3 and 5: the FFT server; q* = 1/g exactly by the linear family's universality.
    for g in (3, 5, 9):
        oracle = OLH(epsilon=1.0, domain_size=40, hash_range=g)
        mse, top = mse_of_absent_values(oracle, n=4000, trials=120, seed=g)
        assert mse == pytest.approx(oracle.variance(4000), rel=0.10)
        p, q = oracle.support_probabilities
        assert abs(top - 4000) < 5 * math.sqrt(4000 * p * (1 - p) / (p - q) ** 2 / 120)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ORACLES))
@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0])
def test_variance_at_scale(name: str, epsilon: float) -> None:
    n, d, trials = 100_000, 256, 60
    oracle = ORACLES[name](epsilon=epsilon, domain_size=d)
    mse, _top = mse_of_absent_values(oracle, n=n, trials=trials, seed=int(epsilon * 10))
    assert mse == pytest.approx(oracle.variance(n), rel=0.05)
    # OLH's integer g adds under 1 % to the real-g figure at these ε
    assert mse == pytest.approx(paper_variance(name, n=n, d=d, epsilon=epsilon), rel=0.10)


@pytest.mark.slow
def test_zipf_mse_matches_the_exact_expectation() -> None:
    # The W4 benchmark's data (Zipf 1.1, d = 1024): the MSE averaged over values includes the
    # n_x term of Theorem 2; it must match that exact expectation within 10 %.
    d, n, trials = 1024, 100_000, 8
    p_v = np.arange(1, d + 1, dtype=np.float64) ** -1.1
    values = np.random.default_rng(1024).choice(d, size=n, p=p_v / p_v.sum())
    counts = np.bincount(values, minlength=d)
    for name, cls in ORACLES.items():
        oracle = cls(epsilon=1.0, domain_size=d)
        rng = SecureRandom.seeded(31)
        mses = [
            float(
                np.mean((oracle.estimate(oracle.privatize(values, rng=rng)).counts - counts) ** 2)
            )
            for _ in range(trials)
        ]
        p, q = oracle.support_probabilities
        exact = float(np.mean((counts * p * (1 - p) + (n - counts) * q * (1 - q)) / (p - q) ** 2))
        assert np.mean(mses) == pytest.approx(exact, rel=0.10), name
