"""Statistical tests of the value mechanisms against their exact laws, and of calibration.

Seeded generators make every test deterministic; the χ² tests reject at p < ALPHA = 1e-6,
so a failure means a real bias, not bad luck.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from dp_accounting.pld import privacy_loss_mechanism
from numpy.typing import NDArray
from scipy import stats

from privet.core import SecureRandom
from privet.dp.calibration import (
    calibrate_discrete_gaussian,
    discrete_gaussian_delta,
    gaussian_noise_multiplier,
    zcdp_epsilon,
    zcdp_rho,
)
from privet.dp.discrete import discrete_gaussian_release, discrete_laplace_release
from privet.dp.mechanisms import Release, gaussian_release, laplace_release

ALPHA = 1e-6


def laplace_cdf(t: Fraction) -> Callable[[int], float]:
    """P(Z <= k) for P(z) ∝ exp(-|z|/t) on the integers."""
    inv = 1.0 / float(t)
    p = math.exp(-inv)

    def cdf(k: int) -> float:
        if k >= 0:
            return 1.0 - math.exp(-(k + 1) * inv) / (1.0 + p)
        return math.exp(k * inv) / (1.0 + p)

    return cdf


def gaussian_cdf(sigma_squared: Fraction) -> Callable[[int], float]:
    """P(Z <= k) for the discrete Gaussian, from its pmf summed within 40σ."""
    s2 = float(sigma_squared)
    span = math.ceil(40 * math.sqrt(s2)) + 1
    z = np.arange(-span, span + 1, dtype=np.float64)
    w = np.exp(-(z * z) / (2.0 * s2))
    cum = np.cumsum(w) / w.sum()

    def cdf(k: int) -> float:
        i = k + span
        return 0.0 if i < 0 else 1.0 if i >= cum.size else float(cum[i])

    return cdf


def chi2_pvalue(samples: NDArray[np.int64], cdf: Callable[[int], float], scale: float) -> float:
    """χ² p-value of integer samples against ``cdf``, on ~40 bins of near-equal mass."""
    qs = stats.laplace.ppf(np.linspace(0.0, 1.0, 41)[1:-1], scale=scale)
    edges = sorted({round(q) for q in qs.tolist()})
    cum = [0.0, *(cdf(e) for e in edges), 1.0]
    probs = np.diff(cum)
    counts = np.bincount(np.searchsorted(edges, samples, side="left"), minlength=len(probs))
    expected = probs * samples.size
    assert expected.min() >= 20, "bins too thin for χ²"
    return float(stats.chisquare(counts, expected * (samples.size / expected.sum())).pvalue)


def grid_noise(rel: Release, x: NDArray[np.float64]) -> NDArray[np.int64]:
    """The integer noise of a float release: rint(out/γ) − rint(x/γ)."""
    assert rel.granularity is not None
    out = np.asarray(rel.value)
    return (np.rint(out / rel.granularity) - np.rint(x / rel.granularity)).astype(np.int64)


# -- distributions ------------------------------------------------------------------------------


def test_laplace_noise_is_exact_discrete_laplace_on_the_grid() -> None:
    x = np.full(200_000, 1234.5678)  # off-grid: rounding is part of what is tested
    rel = laplace_release(x, sensitivity=2.0, epsilon=0.7, rng=SecureRandom.seeded(101))
    t = rel.noise_parameter
    assert t is not None
    z = grid_noise(rel, x)
    assert chi2_pvalue(z, laplace_cdf(t), float(t)) > ALPHA


def test_gaussian_noise_is_exact_discrete_gaussian_on_the_grid() -> None:
    x = np.full(200_000, -3.3)
    rel = gaussian_release(
        x, sensitivity=1.0, epsilon=1.0, delta=1e-6, rng=SecureRandom.seeded(102)
    )
    s2 = rel.noise_parameter
    assert s2 is not None
    z = grid_noise(rel, x)
    assert chi2_pvalue(z, gaussian_cdf(s2), math.sqrt(float(s2)) / math.sqrt(2)) > ALPHA


def test_discrete_laplace_on_integers_matches_pmf() -> None:
    rel = discrete_laplace_release(
        np.full(200_000, 40, dtype=np.int64),
        sensitivity=1,
        epsilon=0.5,
        rng=SecureRandom.seeded(103),
    )
    assert rel.noise_parameter == Fraction(2)
    z = np.asarray(rel.value) - 40
    assert chi2_pvalue(z, laplace_cdf(Fraction(2)), 2.0) > ALPHA


def test_discrete_gaussian_on_integers_matches_pmf() -> None:
    rel = discrete_gaussian_release(
        np.zeros(200_000, dtype=np.int64),
        sensitivity=2,
        epsilon=1.0,
        delta=1e-5,
        rng=SecureRandom.seeded(104),
    )
    s2 = rel.noise_parameter
    assert s2 is not None
    z = np.asarray(rel.value)
    assert chi2_pvalue(z, gaussian_cdf(s2), math.sqrt(float(s2)) / math.sqrt(2)) > ALPHA


def test_one_value_gaussian_calls_follow_the_scalar_law() -> None:
    # The one-value path (Theorem 7 calibration) drawn call by call: a KS-style check of
    # its first two moments over 3000 calls.
    rng = SecureRandom.seeded(105)
    rels = [
        gaussian_release(0.0, sensitivity=1.0, epsilon=1.0, delta=1e-5, rng=rng)
        for _ in range(3000)
    ]
    vals = np.array([r.value for r in rels])
    std = rels[0].noise_std
    assert std is not None
    assert abs(vals.mean()) < 5 * std / math.sqrt(vals.size)
    assert vals.std() == pytest.approx(std, rel=0.08)


# -- accuracy -------------------------------------------------------------------------------------


def test_laplace_noise_has_the_stated_scale() -> None:
    n = 1_000_000
    rel = laplace_release(np.zeros(n), sensitivity=3.0, epsilon=1.5, rng=SecureRandom.seeded(201))
    noise = np.asarray(rel.value)
    b = 3.0 / 1.5
    assert rel.noise_std == pytest.approx(math.sqrt(2) * b, rel=1e-4)  # grid cost < 2^-20
    assert noise.std() == pytest.approx(rel.noise_std, rel=0.015)
    assert np.mean(np.abs(noise)) == pytest.approx(b, rel=0.015)  # E|Lap(b)| = b
    assert rel.ci95 is not None
    inside = np.mean(np.abs(noise) <= rel.ci95)
    assert 0.948 <= inside <= 0.953


def test_gaussian_noise_has_the_stated_scale() -> None:
    n = 1_000_000
    rel = gaussian_release(
        np.zeros(n), sensitivity=2.0, epsilon=0.8, delta=1e-6, rng=SecureRandom.seeded(202)
    )
    noise = np.asarray(rel.value)
    assert rel.noise_std is not None
    assert rel.ci95 is not None
    assert noise.std() == pytest.approx(rel.noise_std, rel=0.015)
    # vectors: zCDP calibration, σ = Δ/√(2ρ*) inflated by the grid's rounding
    ideal = 2.0 / math.sqrt(2.0 * zcdp_rho(0.8, 1e-6))
    assert rel.sensitivity_inflation is not None
    assert rel.noise_std == pytest.approx(ideal * rel.sensitivity_inflation, rel=1e-3)
    inside = np.mean(np.abs(noise) <= rel.ci95)
    assert 0.948 <= inside <= 0.953
    # one value: within 0.3 % of the analytic Gaussian mechanism's σ (Balle & Wang 2018)
    one = gaussian_release(0.0, sensitivity=2.0, epsilon=0.8, delta=1e-6)
    assert one.noise_std == pytest.approx(2.0 * gaussian_noise_multiplier(0.8, 1e-6), rel=3e-3)


# -- calibration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epsilon", "sigma_squared", "sensitivity"),
    [(1.0, 16, 1), (0.5, 400, 3), (2.0, 10_000, 40), (1.0, 14_622_192, 1025), (0.1, 5, 1)],
)
def test_theorem7_delta_matches_dp_accounting(
    epsilon: float, sigma_squared: int, sensitivity: int
) -> None:
    ours = discrete_gaussian_delta(epsilon, sigma_squared=sigma_squared, sensitivity=sensitivity)
    ref = privacy_loss_mechanism.DiscreteGaussianPrivacyLoss(
        math.sqrt(sigma_squared), sensitivity=sensitivity
    ).get_delta_for_epsilon(epsilon)
    assert ours == pytest.approx(ref, rel=1e-8, abs=1e-300)


@pytest.mark.parametrize(
    ("epsilon", "delta", "sensitivity"),
    [(1.0, 1e-5, 1), (0.3, 1e-7, 2), (3.0, 1e-3, 17), (1.0, 1e-6, 1000)],
)
def test_calibration_meets_delta_and_is_tight(
    epsilon: float, delta: float, sensitivity: int
) -> None:
    s2 = calibrate_discrete_gaussian(epsilon=epsilon, delta=delta, sensitivity=sensitivity)
    assert discrete_gaussian_delta(epsilon, sigma_squared=s2, sensitivity=sensitivity) <= delta
    assert discrete_gaussian_delta(epsilon, sigma_squared=s2 - 1, sensitivity=sensitivity) > delta


def test_zcdp_rho_is_the_largest_meeting_epsilon() -> None:
    rho = zcdp_rho(1.0, 1e-5)
    assert zcdp_epsilon(rho, 1e-5) <= 1.0
    assert zcdp_epsilon(rho * 1.001, 1e-5) > 1.0
    # ρ-zCDP ⇒ (ρ + 2√(ρ ln 1/δ), δ) (Bun & Steinke 2016): the conversion is never worse
    assert zcdp_epsilon(rho, 1e-5) <= rho + 2 * math.sqrt(rho * math.log(1e5))
