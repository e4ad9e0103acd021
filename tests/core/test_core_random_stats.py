"""Statistical tests of SecureRandom against exact laws.

Every test uses a seeded generator (so it is deterministic) and rejects only at a
false-alarm rate of about ALPHA = 1e-6, so a failure means a real bias, not bad luck.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from privet.core import SecureRandom

ALPHA = 1e-6
Z_MAX = 5.0  # two-sided normal tail 5.7e-7


def chi2_against_pmf(
    samples: NDArray[np.int64], zs: NDArray[np.int64], probs: NDArray[np.float64]
) -> float:
    """χ² p-value of integer ``samples`` against the pmf ``probs`` on the support ``zs``.

    ``zs`` must cover all but a negligible mass; the bins are the values with an expected
    count >= 10, and the two tails are folded into the edge bins.
    """
    n = samples.size
    probs = probs / probs.sum()
    expected = n * probs
    keep = zs[expected >= 10]
    lo, hi = int(keep.min()), int(keep.max())
    exp_bins = np.array(
        [expected[zs <= lo].sum(), *expected[(zs > lo) & (zs < hi)], expected[zs >= hi].sum()]
    )
    obs = np.bincount(np.clip(samples, lo, hi) - lo, minlength=hi - lo + 1)
    assert obs.size == exp_bins.size
    return float(stats.chisquare(obs, exp_bins * (n / exp_bins.sum())).pvalue)


def laplace_pmf(scale: Fraction, span: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    zs = np.arange(-span, span + 1)
    return zs, np.exp(-np.abs(zs) / float(scale))


def gaussian_pmf(
    sigma_squared: Fraction, span: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    zs = np.arange(-span, span + 1)
    return zs, np.exp(-(zs.astype(np.float64) ** 2) / (2.0 * float(sigma_squared)))


# -- uniform words, integers, floats --------------------------------------------------------


def test_bytes_are_uniform_chi2() -> None:
    rng = SecureRandom.seeded(1)
    data = np.frombuffer(rng.bytes(1 << 20), dtype=np.uint8)
    counts = np.bincount(data, minlength=256)
    assert stats.chisquare(counts).pvalue > ALPHA


def test_fill_bytes_are_uniform_chi2() -> None:
    rng = SecureRandom.seeded(2)
    a = np.empty((512, 1024), dtype=np.uint16)
    rng.fill(a)
    counts = np.bincount(a.view(np.uint8).ravel(), minlength=256)
    assert stats.chisquare(counts).pvalue > ALPHA


def test_uint64_bits_are_balanced() -> None:
    rng = SecureRandom.seeded(3)
    words = rng.uint64(1 << 16)
    bits = np.unpackbits(words.view(np.uint8)).reshape(-1, 64).sum(axis=0, dtype=np.int64)
    # each of the 64 bit positions: Binomial(65536, 1/2)
    z = (bits - (1 << 15)) / math.sqrt((1 << 16) / 4)
    assert np.abs(z).max() < 6.0  # 64 tests: Bonferroni keeps the false alarm near 1e-7


@pytest.mark.parametrize(("low", "high"), [(0, 6), (-7, 3), (10, 10 + 1_000_003)])
def test_integers_unbiased_small_range(low: int, high: int) -> None:
    rng = SecureRandom.seeded(4)
    width = high - low
    x = rng.integers(600_000, low=low, high=high)
    if width <= 64:
        counts = np.bincount(x - low, minlength=width)
    else:  # residues mod 7 of a prime-width range: each has probability ~1/7 (exactly known)
        counts = np.bincount((x - low) % 7, minlength=7)
        expected = np.array([len(range(r, width, 7)) for r in range(7)], dtype=float)
        assert stats.chisquare(counts, expected * x.size / width).pvalue > ALPHA
        return
    assert stats.chisquare(counts).pvalue > ALPHA


def test_integers_unbiased_huge_non_power_of_two_range() -> None:
    # width 3·2**61: the top-bits rejection must make the three thirds equally likely.
    rng = SecureRandom.seeded(5)
    x = rng.integers(300_000, low=-(2**62), high=-(2**62) + 3 * 2**61)
    thirds = ((x.astype(object) + 2**62) // 2**61).astype(np.int64)
    assert stats.chisquare(np.bincount(thirds, minlength=3)).pvalue > ALPHA


def test_random_mean_variance_and_ks() -> None:
    rng = SecureRandom.seeded(6)
    n = 1_000_000
    u = rng.random(n)
    assert ((u >= 0.0) & (u < 1.0)).all()
    z_mean = (u.mean() - 0.5) / math.sqrt(1 / 12 / n)
    z_var = (u.var() - 1 / 12) / math.sqrt((1 / 80 - 1 / 144) / n)
    assert abs(z_mean) < Z_MAX
    assert abs(z_var) < Z_MAX
    assert stats.kstest(u, "uniform").pvalue > ALPHA


def test_bits_are_fair() -> None:
    rng = SecureRandom.seeded(7)
    b = rng.bits(1_000_001)
    assert stats.binomtest(int(b.sum()), b.size, 0.5).pvalue > ALPHA


@pytest.mark.parametrize("p", [0.3, 1e-3, 0.999, Fraction(1, 3), 2.0**-20])
def test_bernoulli_frequency(p: float | Fraction) -> None:
    rng = SecureRandom.seeded(8)
    n = 2_000_000
    k = int(rng.bernoulli(n, p=p).sum())
    assert stats.binomtest(k, n, float(p)).pvalue > ALPHA


@pytest.mark.parametrize(("loc", "scale"), [(0.0, 1.0), (-3.0, 0.25)])
def test_normal_ks(loc: float, scale: float) -> None:
    rng = SecureRandom.seeded(9)
    z = rng.normal(300_001, loc=loc, scale=scale)
    assert stats.kstest(z, "norm", args=(loc, scale)).pvalue > ALPHA


# -- exact samplers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator"),
    [(0, 1), (1, 3), (1, 1), (5, 2), (7, 1), (2**64 - 2, 2**64 - 1), (3 * 2**61, 3 * 2**61 + 1)],
)
def test_bernoulli_exp_frequency(numerator: int, denominator: int) -> None:
    rng = SecureRandom.seeded(10)
    n = 400_000
    k = int(rng.bernoulli_exp(n, numerator=numerator, denominator=denominator).sum())
    p = math.exp(-numerator / denominator)
    if p == 1.0:
        assert k == n
    else:
        assert stats.binomtest(k, n, p).pvalue > ALPHA


@pytest.mark.parametrize(
    "scale", [Fraction(1), Fraction(7, 3), Fraction(1, 2), Fraction(10), Fraction(100, 7)]
)
def test_discrete_laplace_pmf_chi2(scale: Fraction) -> None:
    rng = SecureRandom.seeded(11)
    x = rng.discrete_laplace(300_000, scale=scale)
    zs, probs = laplace_pmf(scale, span=int(60 * scale) + 10)
    assert chi2_against_pmf(x, zs, probs) > ALPHA


@pytest.mark.parametrize(
    "sigma_squared", [Fraction(1), Fraction(2, 3), Fraction(1, 4), Fraction(10), Fraction(1000)]
)
def test_discrete_gaussian_pmf_chi2(sigma_squared: Fraction) -> None:
    rng = SecureRandom.seeded(12)
    x = rng.discrete_gaussian(300_000, sigma_squared=sigma_squared)
    zs, probs = gaussian_pmf(sigma_squared, span=int(12 * math.sqrt(sigma_squared)) + 10)
    assert chi2_against_pmf(x, zs, probs) > ALPHA


def test_discrete_gaussian_variance_close_to_sigma_squared() -> None:
    # For σ² = 100 the discrete Gaussian's variance equals σ² to within 1e-80.
    rng = SecureRandom.seeded(13)
    n = 400_000
    x = rng.discrete_gaussian(n, sigma_squared=100).astype(np.float64)
    z = (np.mean(x**2) - 100.0) / math.sqrt(2 * 100.0**2 / n)
    assert abs(z) < Z_MAX
    assert abs(x.mean()) / math.sqrt(100.0 / n) < Z_MAX


@pytest.mark.slow
@pytest.mark.parametrize("scale", [Fraction(3), Fraction(1, 3), Fraction(1000, 3)])
def test_discrete_laplace_pmf_chi2_large(scale: Fraction) -> None:
    rng = SecureRandom.seeded(14)
    x = rng.discrete_laplace(5_000_000, scale=scale)
    zs, probs = laplace_pmf(scale, span=int(60 * scale) + 10)
    assert chi2_against_pmf(x, zs, probs) > ALPHA


@pytest.mark.slow
@pytest.mark.parametrize("sigma_squared", [Fraction(1, 3), Fraction(50), Fraction(123457, 10)])
def test_discrete_gaussian_pmf_chi2_large(sigma_squared: Fraction) -> None:
    rng = SecureRandom.seeded(15)
    x = rng.discrete_gaussian(3_000_000, sigma_squared=sigma_squared)
    zs, probs = gaussian_pmf(sigma_squared, span=int(12 * math.sqrt(sigma_squared)) + 10)
    assert chi2_against_pmf(x, zs, probs) > ALPHA
