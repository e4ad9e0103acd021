"""Sharing, the ring and fixed point: properties (Hypothesis) and seeded χ² tests.

The statistical tests use seeded generators (deterministic) and reject at a false-alarm
rate of about 1e-6 in all (Bonferroni over the tests of each function).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from privet.core import SecureRandom
from privet.errors import ParameterError, ParameterTypeError
from privet.smpc import (
    FixedPoint,
    reconstruct_additive,
    reconstruct_xor,
    ring,
    share_additive,
    share_xor,
)

ALPHA = 1e-6

u64_arrays = hnp.arrays(
    np.uint64,
    hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
    elements=st.integers(0, 2**64 - 1),
)


@settings(max_examples=60, deadline=None)
@given(x=u64_arrays, n=st.integers(2, 6), seed=st.integers(0, 2**32))
def test_additive_reconstruct_of_share_is_identity(x: np.ndarray, n: int, seed: int) -> None:
    shares = share_additive(x, parties=n, rng=SecureRandom.seeded(seed))
    assert len(shares) == n
    assert all(s.shape == x.shape for s in shares)
    assert np.array_equal(reconstruct_additive(shares), x)


@settings(max_examples=60, deadline=None)
@given(x=u64_arrays, n=st.integers(2, 6), seed=st.integers(0, 2**32))
def test_xor_reconstruct_of_share_is_identity(x: np.ndarray, n: int, seed: int) -> None:
    shares = share_xor(x, parties=n, rng=SecureRandom.seeded(seed))
    assert np.array_equal(reconstruct_xor(shares), x)


def test_sharing_refuses_unencoded_input() -> None:
    with pytest.raises(ParameterTypeError, match=r"FixedPoint\.encode"):
        share_additive(np.array([1.5]), parties=2)
    with pytest.raises(ParameterError):
        reconstruct_additive([])
    with pytest.raises(ParameterError, match="same shape"):
        reconstruct_additive([np.zeros(2, np.uint64), np.zeros(3, np.uint64)])


def _byte_counts(words: np.ndarray) -> np.ndarray:
    """Counts of each byte value (256) at each of the 8 byte positions: shape (8, 256)."""
    b = words.reshape(-1).view(np.uint8).reshape(-1, 8)
    return np.stack([np.bincount(b[:, k], minlength=256) for k in range(8)])


def _homogeneity(a: np.ndarray, b: np.ndarray) -> float:
    """χ² homogeneity p-value of two count vectors (empty cells dropped)."""
    table = np.stack([a, b])
    return float(stats.chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue)


def test_shares_of_a_fixed_secret_are_uniform() -> None:
    n, m = 3, 40_000
    secret = np.full(m, 8, dtype=np.uint64)  # the seed's secret, shared m times
    shares = share_additive(secret, parties=n, rng=SecureRandom.seeded(1))
    tests = n * 8
    for s in shares:
        counts = _byte_counts(s)
        for row in counts:
            p = stats.chisquare(row).pvalue
            assert p > ALPHA / tests, p


def test_any_n_minus_1_shares_are_independent_of_the_secret() -> None:
    # For each subset of n-1 shares, the law of (each share's bytes, their sum's bytes) is
    # the same whether the secret is 0 or 2^63 + 5: χ² test of homogeneity.
    n, m = 3, 30_000
    rng = SecureRandom.seeded(2)
    a = share_additive(np.zeros(m, dtype=np.uint64), parties=n, rng=rng)
    b = share_additive(np.full(m, 2**63 + 5, dtype=np.uint64), parties=n, rng=rng)
    subsets = list(itertools.combinations(range(n), n - 1))
    tests = len(subsets) * n * 8
    for subset in subsets:
        views_a = [a[i] for i in subset] + [ring.sum_axis(np.stack([a[i] for i in subset]), 0)]
        views_b = [b[i] for i in subset] + [ring.sum_axis(np.stack([b[i] for i in subset]), 0)]
        for va, vb in zip(views_a, views_b, strict=True):
            for ra, rb in zip(_byte_counts(va), _byte_counts(vb), strict=True):
                p = _homogeneity(ra, rb)
                assert p > ALPHA / tests, (subset, p)


def test_the_chi2_test_has_power_against_a_biased_sharing() -> None:
    # The same statistic rejects a broken sharing (last share = secret - s0 with s0 < 2^8).
    m = 30_000
    low = SecureRandom.seeded(3).integers(m, low=0, high=256).astype(np.uint64)
    last = ring.sub(np.full(m, 2**63 + 5, dtype=np.uint64), low)
    last0 = ring.sub(np.zeros(m, dtype=np.uint64), low)
    p = _homogeneity(_byte_counts(last0)[7], _byte_counts(last)[7])
    assert p < 1e-12


finite = st.floats(-(2.0**45), 2.0**45, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(0, 20), elements=finite), f=st.integers(0, 20))
def test_fixed_point_roundtrip_is_within_half_an_ulp(x: np.ndarray, f: int) -> None:
    fp = FixedPoint(f)
    if f > 16:
        x = x / 2.0 ** (f - 16)  # stay inside |x| < 2^(62 - f)
    back = fp.decode(fp.encode(x))
    assert np.all(np.abs(back - x) <= 2.0 ** -(f + 1) * (1 + 1e-9) + np.abs(x) * 2**-52)


def test_overflowing_inputs_are_refused_without_showing_them() -> None:
    fp = FixedPoint(16)
    secret = 123456789012345678.0
    with pytest.raises(ParameterError, match=r"1 value\(s\) outside the representable range") as e:
        fp.encode([1.0, secret])
    assert "123456789" not in str(e.value)
    assert "2^46" in str(e.value)
    with pytest.raises(ParameterError, match="NaN or infinite"):
        fp.encode([np.nan])
    with pytest.raises(ParameterTypeError):
        fp.encode(np.array(["a"]))
    with pytest.raises(ParameterError, match="frac_bits"):
        FixedPoint(31)
    # integers at 0 fractional bits: the smallest int64 has no absolute value in int64
    for value in (np.iinfo(np.int64).min, -(2**62), 2**62):
        with pytest.raises(ParameterError, match="outside the representable range"):
            fp.encode(np.array([value], dtype=np.int64), frac_bits=0)
    assert fp.encode(np.array([-(2**62) + 1], dtype=np.int64), frac_bits=0).dtype == np.uint64
    assert fp.encode([2.0**46 - 1]).dtype == np.uint64  # just inside
    with pytest.raises(ParameterError):
        fp.encode([2.0**46])


def test_fixed_point_ranges_are_documented_values() -> None:
    fp = FixedPoint()
    assert fp.frac_bits == 16
    assert fp.ulp == 2.0**-16
    assert fp.max_abs == 2.0**46
    assert fp.max_product == 2.0**30


def test_ring_wraps_and_signs() -> None:
    top = np.array([2**64 - 1], dtype=np.uint64)
    assert ring.add(top, np.array([2], dtype=np.uint64)).tolist() == [1]
    assert ring.to_signed(top).tolist() == [-1]
    assert ring.from_signed(np.array([-2])).tolist() == [2**64 - 2]
    # 0-d values stay arrays (no numpy scalar overflow warnings)
    z = ring.mul(np.array(2**63, dtype=np.uint64), np.array(2, dtype=np.uint64))
    assert isinstance(z, np.ndarray)
    assert int(z) == 0


def test_ring_conv2d_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0)
    x = g.integers(-50, 50, (2, 3, 7, 6))
    w = g.integers(-50, 50, (4, 3, 3, 2))
    for stride, padding in [(1, 0), (2, 1), ((1, 2), (2, 0))]:
        got = ring.to_signed(
            ring.conv2d(
                ring.from_signed(x), ring.from_signed(w), {"stride": stride, "padding": padding}
            )
        )
        ref = torch.nn.functional.conv2d(
            torch.tensor(x, dtype=torch.float64),
            torch.tensor(w, dtype=torch.float64),
            stride=stride,
            padding=padding,
        ).numpy()
        assert np.array_equal(got, ref.astype(np.int64))
        shape = ring.output_shape(
            "conv2d", x.shape, w.shape, {"stride": stride, "padding": padding}
        )
        assert shape == got.shape


def test_bilinear_shapes_are_checked() -> None:
    with pytest.raises(ParameterError, match="do not fit matmul"):
        ring.output_shape("matmul", (2, 3), (4, 5), {})
    with pytest.raises(ParameterError, match="channels differ"):
        ring.output_shape("conv2d", (1, 2, 5, 5), (1, 3, 3, 3), {})
    with pytest.raises(ParameterError, match="unknown bilinear"):
        ring.bilinear("dot", np.zeros(1, np.uint64), np.zeros(1, np.uint64))
