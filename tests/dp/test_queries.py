"""The exact statistics against the sensitivities the noise is calibrated to, the fixed-point
sum, DP partition selection, and the accuracy of each release against its stated noise."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from privet.core.random import SecureRandom
from privet.dp import bounding, fixedpoint, partition, queries
from privet.dp.noise import scale_for
from privet.dp.results import discrete_laplace_halfwidth, discrete_laplace_std

# -- tables as (unit codes, values, keys) and "remove one unit" ----------------------------

values_st = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([math.inf, -math.inf, 0.0, -0.0, 1e-300, 5e-324, 0.1, 99.99999999]),
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    n = draw(st.integers(1, 40))
    units = np.asarray(draw(st.lists(st.integers(0, 7), min_size=n, max_size=n)), np.int64)
    vals = np.asarray(draw(st.lists(values_st, min_size=n, max_size=n)), np.float64)
    keys = np.asarray(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), np.int64)
    return units, vals, keys


bounds_st = st.tuples(st.floats(-1e3, 1e3), st.floats(1e-3, 2e3)).map(lambda t: (t[0], t[0] + t[1]))
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def without(units: NDArray[np.int64], victim: int) -> NDArray[np.bool_]:
    return units != victim


def kept(units: NDArray[np.int64], r: int) -> NDArray[np.bool_]:
    return bounding.truncate_rows(units, n_codes=8, max_rows=r, rule="first")


@SETTINGS
@given(tables(), st.integers(1, 5), bounds_st, st.integers(0, 7), st.floats(0.05, 20))
def test_sum_count_mean_variance_sensitivity(
    table: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]],
    r: int,
    bounds: tuple[float, float],
    victim: int,
    eps: float,
) -> None:
    units, vals, _ = table
    lo, hi = bounds
    keep = without(units, victim)
    a_mask, b_mask = kept(units, r), kept(units[keep], r)
    a, b = vals[a_mask], vals[keep][b_mask]
    # count: sensitivity R
    assert abs(int(a_mask.sum()) - int(b_mask.sum())) <= r
    # fixed-point sum: sensitivity R · max(|L|, |H|) grid steps (the value the noise uses)
    g = fixedpoint.choose_grid(bound=max(abs(lo), abs(hi)), max_rows=r, epsilon=eps)
    sa, m = queries.exact_sum(a, lo=lo, hi=hi, g=g)
    sb, _ = queries.exact_sum(b, lo=lo, hi=hi, g=g)
    assert abs(sa - sb) <= r * m
    # centered sum and moments (mean, variance)
    half = 0.5 * hi - 0.5 * lo
    g1 = fixedpoint.choose_grid(bound=half, max_rows=r, epsilon=eps)
    g2 = fixedpoint.choose_grid(bound=half * half, max_rows=r, epsilon=eps)
    ca, s1a, s2a, m1, m2 = queries.exact_moments(a, lo=lo, hi=hi, g1=g1, g2=g2)
    cb, s1b, s2b, _, _ = queries.exact_moments(b, lo=lo, hi=hi, g1=g1, g2=g2)
    assert abs(ca - cb) <= r
    assert abs(s1a - s1b) <= r * m1
    assert abs(s2a - s2b) <= r * m2
    assert queries.exact_centered_sum(a, lo=lo, hi=hi, g=g1)[1] == s1a


@SETTINGS
@given(tables(), st.integers(1, 4), st.integers(1, 3), bounds_st, st.integers(0, 7))
def test_histogram_and_groupby_sensitivity(
    table: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]],
    k: int,
    m: int,
    bounds: tuple[float, float],
    victim: int,
) -> None:
    units, vals, keys = table
    lo, hi = bounds
    keep = without(units, victim)
    # histogram: R rows per unit, vector L1 <= R, <= R keys touched, <= R per key
    r = k
    a = keys[kept(units, r)]
    b = keys[keep][kept(units[keep], r)]
    diff = queries.exact_group_counts(a, n_groups=5) - queries.exact_group_counts(b, n_groups=5)
    assert np.abs(diff).sum() <= r
    # group-by: k groups × m rows per unit: L1 <= k·m, <= k keys, <= m per key
    ma = bounding.bound_groups(
        units, keys, n_groups=5, max_groups=k, max_rows_per_group=m, rule="first"
    )
    mb = bounding.bound_groups(
        units[keep], keys[keep], n_groups=5, max_groups=k, max_rows_per_group=m, rule="first"
    )
    ca = queries.exact_group_counts(keys[ma], n_groups=5)
    cb = queries.exact_group_counts(keys[keep][mb], n_groups=5)
    assert np.abs(ca - cb).sum() <= k * m
    assert np.count_nonzero(ca - cb) <= k
    assert np.abs(ca - cb).max() <= m
    g = fixedpoint.choose_grid(bound=max(abs(lo), abs(hi)), max_rows=k * m, epsilon=1.0)
    sa, mx = queries.exact_group_sums(vals[ma], keys[ma], lo=lo, hi=hi, g=g, n_groups=5)
    sb, _ = queries.exact_group_sums(vals[keep][mb], keys[keep][mb], lo=lo, hi=hi, g=g, n_groups=5)
    assert sum(abs(x - y) for x, y in zip(sa, sb, strict=True)) <= k * m * mx


@SETTINGS
@given(tables(), st.integers(1, 5), bounds_st, st.integers(0, 7), st.floats(0.0, 1.0))
def test_quantile_utility_sensitivity(
    table: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]],
    r: int,
    bounds: tuple[float, float],
    victim: int,
    q: float,
) -> None:
    units, vals, _ = table
    lo, hi = bounds
    keep = without(units, victim)
    a = vals[kept(units, r)]
    b = vals[keep][kept(units[keep], r)]
    ua = queries.quantile_scores(a, q=q, lo=lo, hi=hi, bits=8)
    ub = queries.quantile_scores(b, q=q, lo=lo, hi=hi, bits=8)
    assert np.abs(ua - ub).max() <= r + 1e-9


@SETTINGS
@given(tables(), st.integers(1, 3), st.sampled_from(["first", "random"]))
def test_bounding_never_exceeds_the_bounds(
    table: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]], k: int, rule: str
) -> None:
    units, _, keys = table
    rng = SecureRandom.seeded(7)
    mask = bounding.truncate_rows(units, n_codes=8, max_rows=k, rule=rule, rng=rng)  # type: ignore[arg-type]
    assert np.bincount(units[mask], minlength=8).max() <= k
    assert np.array_equal(
        np.minimum(np.bincount(units, minlength=8), k), np.bincount(units[mask], minlength=8)
    )
    gm = bounding.bound_groups(
        units, keys, n_groups=5, max_groups=k, max_rows_per_group=2, rule=rule, rng=rng
    )  # type: ignore[arg-type]
    for u in range(8):
        rows = keys[gm & (units == u)]
        assert len(set(rows.tolist())) <= k
        assert (np.bincount(rows, minlength=5) <= 2).all()


def test_random_truncation_is_uniform() -> None:
    units = np.zeros(4, dtype=np.int64)
    rng = SecureRandom.seeded(11)
    hits = np.zeros(4)
    for _ in range(2000):
        hits += bounding.truncate_rows(units, n_codes=1, max_rows=1, rule="random", rng=rng)
    assert hits.sum() == 2000
    assert np.abs(hits / 2000 - 0.25).max() < 0.05  # 5σ ≈ 0.048


# -- the fixed-point sum --------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.lists(values_st, min_size=0, max_size=50), bounds_st)
def test_fixed_point_sum_is_exact_and_order_free(
    xs: list[float], bounds: tuple[float, float]
) -> None:
    lo, hi = bounds
    g = fixedpoint.choose_grid(bound=max(abs(lo), abs(hi)), max_rows=3, epsilon=0.5)
    arr = np.asarray(xs, dtype=np.float64)
    total, m = fixedpoint.fixed_sum(arr, fixedpoint.Clamp(lo, hi), g=g)
    exact = sum(
        round(Fraction(min(max(x, lo), hi)) * Fraction(2) ** g) for x in xs
    )  # the real-number definition, in exact rationals
    assert total == exact
    assert m == max(abs(round(Fraction(lo) * 2**g)), abs(round(Fraction(hi) * 2**g)))
    shuffled = arr[::-1].copy()
    assert fixedpoint.fixed_sum(shuffled, fixedpoint.Clamp(lo, hi), g=g)[0] == total
    q = fixedpoint.quantize(arr, lo=lo, hi=hi, g=g)
    assert fixedpoint.exact_sum(q, max_abs=q.max_abs) == total


def test_fixed_point_sum_never_overflows() -> None:
    # per-row bound 2**52 grid steps: an int64 sum of 4096 rows would overflow
    x = np.full(5000, 1.0)
    total, m = fixedpoint.fixed_sum(x, fixedpoint.Clamp(-1.0, 1.0), g=52)
    assert m == 2**52
    assert total == 5000 * 2**52
    groups = np.zeros(5000, dtype=np.int64)
    sums, _ = fixedpoint.fixed_group_sums(x, groups, fixedpoint.Clamp(-1.0, 1.0), g=52, n_groups=2)
    assert sums == [5000 * 2**52, 0]


def test_float_sum_leaks_but_fixed_point_does_not() -> None:
    # Casacuberta et al. 2022: the float sum of the same multiset depends on the order, by
    # more than rows × bound would suggest for tiny values; the exact integer sum does not.
    big, small = 2.0**53, 1.0
    xs = np.array([big] + [small] * 1000)
    float_a = math.fsum(xs) - sum(xs.tolist())  # sequential float sum loses every 1.0
    assert float_a != 0.0
    total, _ = fixedpoint.fixed_sum(xs, fixedpoint.Clamp(0.0, big), g=0)
    assert total == 2**53 + 1000


def test_grid_is_public_and_puts_noise_near_2_to_40() -> None:
    for bound, r, eps in [(100.0, 20, 1.0), (1e-3, 1, 0.01), (1e9, 5, 3.0), (0.5, 1, 1e4)]:
        g = fixedpoint.choose_grid(bound=bound, max_rows=r, epsilon=eps)
        steps = r * bound * 2.0**g / eps
        assert 2.0**38 <= steps <= 2.0**41 or bound * 2.0**g <= 2.0**52


# -- partition selection --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "m", "eps", "delta"),
    [(1, 1, 1.0, 1e-6), (3, 2, 0.1, 1e-9), (20, 20, 1.0, 1e-5), (1, 1, 10.0, 0.5)],
)
def test_threshold_is_the_smallest_meeting_delta(k: int, m: int, eps: float, delta: float) -> None:
    t = scale_for(sensitivity=k * m, epsilon=eps)
    thr = partition.threshold(scale=t, delta=delta, max_partitions=k, max_count=m)
    assert partition.selection_delta(scale=t, threshold=thr, max_partitions=k, max_count=m) <= delta
    if thr > m + 1:
        assert (
            partition.selection_delta(scale=t, threshold=thr - 1, max_partitions=k, max_count=m)
            > delta
        )


def test_selection_delta_matches_the_exact_tail() -> None:
    # P(Z >= j) for discrete Laplace t, by summing the pmf exactly enough in floats
    t = 2.5
    z = np.arange(-400, 401)
    pmf = np.exp(-np.abs(z) / t)
    pmf /= pmf.sum()
    for j in (1, 3, 10):
        tail = pmf[z >= j].sum()
        got = partition.selection_delta(scale=t, threshold=j + 1, max_partitions=1, max_count=1)
        assert got == pytest.approx(tail, rel=1e-9)


def test_lonely_key_released_at_about_the_stated_rate() -> None:
    # with a generous δ the empirical release rate of a one-unit key matches δ
    rng = SecureRandom.seeded(5)
    groups = np.zeros(1, dtype=np.int64)
    released = 0
    trials = 2000
    for _ in range(trials):
        out = queries.release_group_counts(
            groups,
            ["lonely"],
            l1=1,
            max_partitions=1,
            max_count=1,
            epsilon=1.0,
            delta=0.05,
            public=False,
            rng=rng,
            confidence=0.95,
        )
        released += bool(out.value)
    t = scale_for(sensitivity=1, epsilon=1.0)
    thr = partition.threshold(scale=t, delta=0.05, max_partitions=1, max_count=1)
    rate = partition.selection_delta(scale=t, threshold=thr, max_partitions=1, max_count=1)
    assert rate <= 0.05
    assert abs(released / trials - rate) < 5 * math.sqrt(rate * (1 - rate) / trials)


def test_zero_delta_refused() -> None:
    with pytest.raises(ValueError, match="delta > 0"):
        partition.threshold(scale=1, delta=0.0, max_partitions=1, max_count=1)


# -- accuracy: the empirical error matches the stated noise ---------------------------------

RUNS = 400


def _check_errors(errors: list[float], std: float, inside: list[bool]) -> None:
    e = np.asarray(errors)
    assert abs(e.mean()) < 5 * std / math.sqrt(len(e))  # unbiased
    assert e.std() == pytest.approx(std, rel=0.15)  # the stated noise
    assert np.mean(inside) >= 0.92  # the 95 % interval covers (4σ below 0.95 at n=400)


def test_count_and_sum_accuracy() -> None:
    rng = SecureRandom.seeded(21)
    vals = np.linspace(0, 100, 501)
    g = fixedpoint.choose_grid(bound=100.0, max_rows=3, epsilon=0.7)
    exact = math.ldexp(queries.exact_sum(vals, lo=0.0, hi=100.0, g=g)[0], -g)
    c_err, c_in, s_err, s_in = [], [], [], []
    for _ in range(RUNS):
        c = queries.release_count(501, max_rows=3, epsilon=0.7, rng=rng, confidence=0.95)
        c_err.append(float(c.value) - 501)
        c_in.append(c.ci[0] <= 501 <= c.ci[1])  # type: ignore[index]
        s = queries.release_sum(
            vals, lo=0.0, hi=100.0, max_rows=3, epsilon=0.7, rng=rng, confidence=0.95
        )
        s_err.append(float(s.value) - exact)  # type: ignore[arg-type]
        s_in.append(s.ci[0] <= exact <= s.ci[1])  # type: ignore[index]
    assert c.noise_scale == pytest.approx(3 / 0.7)
    assert s.noise_scale == pytest.approx(300 / 0.7, rel=1e-9)
    _check_errors(c_err, c.noise_std or 0.0, c_in)
    _check_errors(s_err, s.noise_std or 0.0, s_in)
    assert s.noise_std == pytest.approx(math.sqrt(2) * 300 / 0.7, rel=1e-3)


def test_mean_and_variance_accuracy() -> None:
    rng = SecureRandom.seeded(22)
    vals = np.random.default_rng(0).uniform(10, 30, 2000)
    mean_err, mean_in, var_in = [], [], []
    for _ in range(RUNS):
        r = queries.release_mean(
            vals, lo=0.0, hi=40.0, max_rows=1, epsilon=1.0, rng=rng, confidence=0.95
        )
        mean_err.append(float(r.value) - vals.mean())  # type: ignore[arg-type]
        mean_in.append(r.ci[0] <= vals.mean() <= r.ci[1])  # type: ignore[index]
        v = queries.release_variance(
            vals, lo=0.0, hi=40.0, max_rows=1, epsilon=1.0, rng=rng, confidence=0.95
        )
        var_in.append(v.ci[0] <= vals.var() <= v.ci[1])  # type: ignore[index]
    # mean ≈ mid + S/C: its error ≈ sum noise / n (count noise is second order here)
    std = math.sqrt(2) * 20.0 / 0.5 / 2000
    assert np.std(mean_err) == pytest.approx(std, rel=0.2)
    assert np.mean(mean_in) >= 0.95
    assert np.mean(var_in) >= 0.95


def test_histogram_accuracy() -> None:
    rng = SecureRandom.seeded(23)
    groups = np.repeat(np.arange(4), [100, 50, 10, 0])
    errs = []
    for _ in range(RUNS // 4):
        out = queries.release_group_counts(
            groups,
            ["a", "b", "c", "d"],
            l1=2,
            max_partitions=2,
            max_count=2,
            epsilon=0.5,
            delta=0.0,
            public=True,
            rng=rng,
            confidence=0.95,
        )
        assert isinstance(out.value, dict)
        errs += [out.value[k] - n for k, n in zip("abcd", [100, 50, 10, 0], strict=True)]
    assert np.std(errs) == pytest.approx(out.noise_std, rel=0.15)
    assert out.noise_scale == 4.0


def test_quantile_accuracy() -> None:
    rng = SecureRandom.seeded(24)
    vals = np.random.default_rng(1).uniform(0, 100, 4000)
    ranks_off = []
    for _ in range(40):
        r = queries.release_quantile(
            vals, q=0.25, lo=0.0, hi=100.0, max_rows=1, epsilon=1.0, rng=rng
        )
        ranks_off.append(abs(np.searchsorted(np.sort(vals), r.value) - 1000))
    # exponential mechanism: rank error is a few times 2R/ε = 2 (plus the grid cell)
    assert np.median(ranks_off) <= 3 * r.noise_scale
    assert max(ranks_off) <= 30 * r.noise_scale


def test_noise_law_helpers() -> None:
    rng = SecureRandom.seeded(25)
    t = Fraction(7, 2)
    z = rng.discrete_laplace(20000, scale=t)
    assert z.std() == pytest.approx(discrete_laplace_std(t), rel=0.03)
    k = discrete_laplace_halfwidth(t, alpha=0.05)
    assert np.mean(np.abs(z) <= k) >= 0.945
    assert np.mean(np.abs(z) <= k - 1) < 0.955
