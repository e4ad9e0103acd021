"""Frequency oracles: the API contract, report formats, server checks, selection, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import privet.ldp as ldp
from privet.accounting.events import LocalRandomizerEvent, RandomizedResponseEvent
from privet.core import SecureRandom
from privet.errors import (
    BudgetExceededError,
    DataError,
    ParameterError,
    ParameterTypeError,
    PrivetError,
)
from privet.ldp import (
    GRR,
    OLH,
    OUE,
    SUE,
    FrequencyEstimate,
    HadamardResponse,
    HashedReports,
    best_oracle,
    clip_negatives,
    norm_sub,
)
from privet.ldp.hadamard import fwht
from privet.store import Ledger

ORACLES = [GRR, SUE, OUE, OLH, HadamardResponse]


def rng(seed: int = 0) -> SecureRandom:
    return SecureRandom.seeded(seed)


def test_exported_members_are_pinned() -> None:
    mine = {
        "GRR",
        "OLH",
        "OUE",
        "SUE",
        "FrequencyEstimate",
        "FrequencyOracle",
        "HadamardResponse",
        "HashedReports",
        "ProportionEstimate",
        "RandomizedResponse",
        "Tally",
        "best_oracle",
        "clip_negatives",
        "norm_sub",
    }
    assert mine <= set(ldp.__all__)  # ldp-b adds RAPPOR and the service to the same list
    assert len(ldp.__all__) == len(set(ldp.__all__))
    for name in ldp.__all__:
        assert hasattr(ldp, name)


@pytest.mark.parametrize("cls", ORACLES)
def test_contract(cls: type[ldp.FrequencyOracle]) -> None:
    d = 37
    oracle = cls(epsilon=1.0, domain_size=d)
    assert (oracle.epsilon, oracle.domain_size) == (1.0, d)
    values = np.arange(500) % d
    reports = oracle.privatize(values, rng=rng())
    est = oracle.estimate(reports)
    assert isinstance(est, FrequencyEstimate)
    assert est.counts.shape == (d,)
    assert est.counts.dtype == np.float64
    assert est.item_variance.shape == (d,)
    assert (est.item_variance > 0).all()
    assert est.variance == pytest.approx(oracle.variance(500))
    assert est.n == 500
    assert est.mechanism == oracle.mechanism
    # Var* is the exact variance of a value held by nobody
    p, q = oracle.support_probabilities
    assert est.variance == pytest.approx(500 * q * (1 - q) / (p - q) ** 2)
    # privatize without rng uses a fresh OS-keyed generator
    assert oracle.estimate(oracle.privatize(values)).counts.shape == (d,)
    assert oracle.report_bits >= 1
    assert repr(oracle).startswith(cls.__name__)
    assert "FrequencyEstimate" in repr(est)
    assert "Tally" in repr(oracle.aggregate(reports))


def test_events() -> None:
    assert GRR(epsilon=1.0, domain_size=5).event == RandomizedResponseEvent(
        epsilon=1.0, num_buckets=5
    )
    for cls, name in [
        (SUE, "sue"),
        (OUE, "oue"),
        (OLH, "olh"),
        (HadamardResponse, "hadamard_response"),
    ]:
        assert cls(epsilon=0.5, domain_size=9).event == LocalRandomizerEvent(
            mechanism=name, epsilon=0.5
        )


def test_variance_formulas_of_the_papers() -> None:
    e = math.e
    n = 10_000
    # Wang et al. 2017: OUE/OLH n·4e^ε/(e^ε-1)², 36,827 at n = 10^4, ε = 1.
    assert round(n * 4 * e / (e - 1) ** 2) == 36_827
    assert round(OUE(epsilon=1.0, domain_size=64).variance(n)) == 36_827
    # OLH with the integer g = 4 (as pure-ldp): 0.24 % above the real-g figure.
    olh = OLH(epsilon=1.0, domain_size=64)
    assert olh.hash_range == 4
    assert olh.variance(n) == pytest.approx(36_827, rel=0.003)
    assert round(olh.variance(n)) == 36_917
    # GRR: n(e^ε + d - 2)/(e^ε - 1)²
    for d in (2, 5, 64):
        assert GRR(epsilon=1.0, domain_size=d).variance(n) == pytest.approx(
            n * (e + d - 2) / (e - 1) ** 2, rel=1e-12
        )
    # SUE: n e^(ε/2)/(e^(ε/2) - 1)²; HR: n((e^ε+1)/(e^ε-1))²
    h = math.exp(0.5)
    assert SUE(epsilon=1.0, domain_size=8).variance(n) == pytest.approx(
        n * h / (h - 1) ** 2, rel=1e-8
    )
    assert HadamardResponse(epsilon=1.0, domain_size=8).variance(n) == pytest.approx(
        n * ((e + 1) / (e - 1)) ** 2, rel=1e-12
    )


def test_best_oracle_rule() -> None:
    for eps in (0.1, 0.5, 1.0, 2.0, 4.0):
        threshold = 3 * math.exp(eps) + 2
        for d in (2, 3, 5, 8, 10, 11, 16, 50, 100, 1024, 100_000):
            chosen = best_oracle(eps, d)
            assert isinstance(chosen, GRR) == (d < threshold), (eps, d)
            if d >= threshold:
                assert isinstance(chosen, OLH | OUE)
                oue = OUE(epsilon=eps, domain_size=d).variance(1)
                assert chosen.variance(1) <= 1.05 * oue
            assert (chosen.epsilon, chosen.domain_size) == (eps, d)
    assert isinstance(best_oracle(1.0, 1024), OLH)
    assert isinstance(best_oracle(1.0, 1024, tolerance=0.0), OUE)
    assert isinstance(best_oracle(epsilon=1.0, domain_size=10), GRR)
    with pytest.raises(ParameterError):
        best_oracle(1.0, 16, tolerance=-0.1)


def test_report_formats() -> None:
    values = np.array([0, 5, 9, 9])
    g = GRR(epsilon=1.0, domain_size=10).privatize(values, rng=rng())
    assert g.dtype == np.uint8
    assert g.shape == (4,)
    assert GRR(epsilon=1.0, domain_size=1000).privatize(values, rng=rng()).dtype == np.uint16
    u = OUE(epsilon=1.0, domain_size=10).privatize(values, rng=rng())
    assert u.dtype == np.uint8
    assert u.shape == (4, 2)
    assert not (u[:, 1] & 0b00111111).any()  # padding bits are 0
    h = OLH(epsilon=1.0, domain_size=10).privatize(values, rng=rng())
    assert isinstance(h, HashedReports)
    assert len(h) == 4
    assert h.seeds.shape == (4, 2)
    assert int(h.seeds.max()) < 16
    assert int(h.hashed.max()) < 4
    assert len(h[1:3]) == 2
    r = HadamardResponse(epsilon=1.0, domain_size=10).privatize(values, rng=rng())
    assert r.dtype == np.uint8
    assert int(r.max()) < 16


def test_unary_estimate_accepts_unpacked_bits() -> None:
    oue = OUE(epsilon=1.0, domain_size=13)
    packed = oue.privatize(np.arange(300) % 13, rng=rng(3))
    bits = np.unpackbits(packed, axis=1, count=13)
    a = oue.estimate(packed).counts
    assert np.array_equal(a, oue.estimate(bits).counts)
    assert np.array_equal(a, oue.estimate(bits.astype(bool)).counts)
    assert np.array_equal(a, oue.estimate(bits.astype(np.int64)).counts)


def brute_support_olh(olh: OLH, reports: HashedReports) -> np.ndarray:
    seeds = reports.seeds.astype(np.int64)
    return np.array(
        [
            int(np.count_nonzero(olh.hash(seeds, np.int64(x)) == reports.hashed))
            for x in range(olh.domain_size)
        ]
    )


@pytest.mark.parametrize(("d", "g"), [(1000, 4), (37, 2), (100, 8), (64, 3), (50, 5), (30, 9)])
def test_olh_fast_server_equals_brute_force(d: int, g: int) -> None:
    olh = OLH(epsilon=1.0, domain_size=d, hash_range=g)
    reports = olh.privatize(np.arange(3000) % d, rng=rng(d + g))
    assert np.array_equal(olh.aggregate(reports).support, brute_support_olh(olh, reports))


def test_hadamard_server_equals_brute_force() -> None:
    hr = HadamardResponse(epsilon=1.0, domain_size=20)
    reports = hr.privatize(np.arange(2000) % 20, rng=rng(1))
    rows = np.arange(1, 21)[:, None]
    inside = (np.bitwise_count(rows & reports.astype(np.int64)[None, :]) & 1) == 0
    assert np.array_equal(hr.aggregate(reports).support, inside.sum(axis=1))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=64))
def test_fwht_matches_the_matrix(xs: list[int]) -> None:
    size = 1 << max(0, (len(xs) - 1).bit_length())
    a = np.zeros(size, dtype=np.int64)
    a[: len(xs)] = xs
    idx = np.arange(size)
    h = np.where(np.bitwise_count(idx[:, None] & idx[None, :]) % 2, -1, 1)
    assert np.array_equal(fwht(a), h @ a)
    assert np.array_equal(fwht(fwht(a)), size * a)


def test_tallies_add_up_across_chunks() -> None:
    oue = OUE(epsilon=1.0, domain_size=20)
    reports = oue.privatize(np.arange(1000) % 20, rng=rng(2))
    whole = oue.aggregate(reports)
    parts = oue.aggregate(reports[:300]) + oue.aggregate(reports[300:])
    assert np.array_equal(whole.support, parts.support)
    assert parts.n == 1000
    assert np.array_equal(oue.estimate(parts).counts, oue.estimate(reports).counts)
    olh = OLH(epsilon=1.0, domain_size=20)
    h = olh.privatize(np.arange(1000) % 20, rng=rng(2))
    assert np.array_equal(
        (olh.aggregate(h[:10]) + olh.aggregate(h[10:])).support, olh.aggregate(h).support
    )
    with pytest.raises(ParameterError):
        _ = whole + olh.aggregate(h)
    with pytest.raises(ParameterError):
        OUE(epsilon=2.0, domain_size=20).estimate(whole)


# -- post-processing --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    st.floats(0, 1e6),
)
def test_norm_sub_is_the_projection_onto_the_simplex(counts: list[float], total: float) -> None:
    c = np.array(counts)
    out = norm_sub(c, total=total)
    assert (out >= 0).all()
    assert out.sum() == pytest.approx(total, rel=1e-9, abs=1e-6)
    # one shift δ on the positive part (Wang et al. 2020, Norm-Sub)
    pos = out > 0
    if pos.any() and total > 0:
        shifts = c[pos] - out[pos]
        assert np.ptp(shifts) <= 1e-6 * max(1.0, float(np.abs(c).max()))
        # entries set to 0 were at or below the shift
        assert (c[~pos] <= shifts[0] + 1e-6 * max(1.0, float(np.abs(c).max()))).all()
    # idempotent on consistent input
    if total > 0:
        assert np.allclose(norm_sub(out, total=total), out, atol=1e-6 * max(1.0, total))


def test_post_processing_of_an_estimate() -> None:
    oue = OUE(epsilon=0.5, domain_size=50)
    est = oue.estimate(oue.privatize(np.zeros(2000, dtype=np.int64), rng=rng(4)))
    assert (est.counts < 0).any()  # raw unbiased counts go negative
    clipped = est.clipped()
    assert (clipped >= 0).all()
    assert np.array_equal(clipped, clip_negatives(est.counts))
    ns = est.norm_sub()
    assert (ns >= 0).all()
    assert ns.sum() == pytest.approx(2000)
    # closer to the truth in total than the raw counts here (one value holds everyone)
    truth = np.zeros(50)
    truth[0] = 2000
    assert np.abs(ns - truth).sum() < np.abs(est.counts - truth).sum()
    with pytest.raises(ParameterError):
        norm_sub(np.array([1.0]), total=-1)
    with pytest.raises(DataError):
        norm_sub(np.array([np.nan]), total=1)
    with pytest.raises(ParameterTypeError):
        norm_sub([1.0, 2.0], total=1)  # type: ignore[arg-type]
    assert norm_sub(np.array([3.0, -1.0]), total=0).tolist() == [0.0, 0.0]


def test_confidence_intervals_cover() -> None:
    grr = GRR(epsilon=1.0, domain_size=6)
    values = np.repeat(np.arange(6), [500, 400, 300, 200, 100, 0])
    r = rng(9)
    hits = []
    for _ in range(100):
        lo, hi = grr.estimate(grr.privatize(values, rng=r)).confidence_interval(0.9)
        hits.append(
            (lo <= np.bincount(values, minlength=6)) & (np.bincount(values, minlength=6) <= hi)
        )
    cover = np.mean(hits)
    assert 0.85 <= cover <= 0.95  # 600 intervals at 90 %


# -- the ledger -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ORACLES)
def test_privatize_charges_the_budget_first(cls: type[ldp.FrequencyOracle], tmp_path) -> None:
    oracle = cls(epsilon=1.0, domain_size=8)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("population", epsilon=2.0)
        oracle.privatize(np.arange(8), budget=budget, rng=rng())
        oracle.privatize(np.arange(8), budget=budget, rng=rng(), label="round 2")
        hist = budget.history()
        assert [c.event for c in hist] == [oracle.event, oracle.event]
        assert hist[1].label == "round 2"
        assert "8 reports" in hist[0].label
        r = rng(7)
        with pytest.raises(BudgetExceededError):
            oracle.privatize(np.arange(8), budget=budget, rng=r)
        assert len(budget.history()) == 2
        assert r.uint64(3).tolist() == rng(7).uint64(3).tolist()  # nothing was drawn
        # bad values are refused before anything is charged
        with pytest.raises(DataError):
            oracle.privatize(np.array([0, 8]), budget=budget)
        assert len(budget.history()) == 2


# -- bad inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ORACLES)
def test_bad_parameters(cls: type[ldp.FrequencyOracle]) -> None:
    for eps in (0.0, -1.0, math.nan, math.inf, 60.0):
        with pytest.raises(ParameterError, match="epsilon"):
            cls(epsilon=eps, domain_size=4)
    for d in (1, 0, -3, 2**24 + 1):
        with pytest.raises(ParameterError, match="domain_size"):
            cls(epsilon=1.0, domain_size=d)
    with pytest.raises(ParameterTypeError):
        cls(epsilon=1.0, domain_size=4.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError):
        cls(epsilon=True, domain_size=4)
    with pytest.raises(TypeError):
        cls(1.0, 4)  # type: ignore[misc]  # keyword-only


@pytest.mark.parametrize("cls", ORACLES)
@pytest.mark.parametrize(
    ("values", "error", "match"),
    [
        (
            np.array([0, 1, 7]),
            DataError,
            r"1 of 3 values lie outside \[0, 5\) \(the first at index 2\)",
        ),
        (np.array([-1, 0]), DataError, "outside"),
        (np.array([0.0, 1.0]), ParameterTypeError, "integer codes"),
        (np.array([True, False]), ParameterTypeError, "RandomizedResponse"),
        (np.array(["a"]), ParameterTypeError, "integer codes"),
        (np.array([[0, 1]]), ParameterError, "1-D"),
        (np.array([], dtype=np.int64), ParameterError, "empty"),
        ({0, 1}, ParameterTypeError, "1-D numpy integer array"),
    ],
)
def test_bad_values(
    cls: type[ldp.FrequencyOracle], values: object, error: type[PrivetError], match: str
) -> None:
    with pytest.raises(error, match=match):
        cls(epsilon=1.0, domain_size=5).privatize(values, rng=rng())


def test_values_never_appear_in_messages() -> None:
    secret = 987_654_321
    with pytest.raises(DataError) as info:
        OUE(epsilon=1.0, domain_size=5).privatize(np.array([1, secret]), rng=rng())
    assert str(secret) not in str(info.value)


def test_bad_reports() -> None:
    grr = GRR(epsilon=1.0, domain_size=5)
    with pytest.raises(DataError, match="not made by"):
        grr.estimate(np.array([0, 5]))
    with pytest.raises(ParameterTypeError):
        grr.estimate(np.array([0.0]))
    with pytest.raises(ParameterError):
        grr.estimate(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(DataError, match="no reports"):
        grr.estimate(np.array([], dtype=np.int64))
    oue = OUE(epsilon=1.0, domain_size=10)
    with pytest.raises(ParameterError, match=r"\(n, 2\)"):
        oue.estimate(np.zeros((3, 3), dtype=np.uint8))  # wrong width: another d
    with pytest.raises(DataError, match="padding"):
        oue.estimate(np.full((3, 2), 255, dtype=np.uint8))
    with pytest.raises(DataError):
        oue.estimate(np.full((3, 10), 2, dtype=np.uint8))
    with pytest.raises(ParameterTypeError):
        oue.estimate(np.zeros((3, 2), dtype=np.float64))
    with pytest.raises(ParameterTypeError):
        oue.estimate([[0, 1]])
    olh = OLH(epsilon=1.0, domain_size=10)
    good = olh.privatize(np.arange(10), rng=rng())
    with pytest.raises(ParameterError, match="seeds"):
        olh.estimate(HashedReports(good.seeds[:5], good.hashed))  # lengths differ
    with pytest.raises(DataError):
        olh.estimate(HashedReports(good.seeds + 16, good.hashed))
    with pytest.raises(DataError):
        olh.estimate(HashedReports(good.seeds, good.hashed + 4))
    with pytest.raises(ParameterTypeError):
        olh.estimate(good.hashed)
    assert olh.estimate((good.seeds, good.hashed)).n == 10
    hr = HadamardResponse(epsilon=1.0, domain_size=10)
    with pytest.raises(DataError):
        hr.estimate(np.array([16]))
    with pytest.raises(ParameterError):
        OLH(epsilon=1.0, domain_size=10, hash_range=6)  # not a prime power
    with pytest.raises(ParameterError):
        OLH(epsilon=1.0, domain_size=10, hash_range=1)


def test_rng_must_be_secure_random() -> None:
    with pytest.raises(ParameterTypeError, match="SecureRandom"):
        OUE(epsilon=1.0, domain_size=4).privatize(
            np.array([0]),
            rng=np.random.default_rng(0),  # type: ignore[arg-type]
        )
