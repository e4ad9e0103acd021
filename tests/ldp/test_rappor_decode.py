"""RAPPOR's server: the unbiased Bloom-bit estimator and the regression decoder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privet.core import SecureRandom
from privet.errors import ParameterError, ParameterTypeError
from privet.ldp.rappor import Rappor, RapporReports
from privet.ldp.rappor_decode import (
    RapporCounts,
    decode_rappor,
    detection_frequency,
    estimate_bloom_counts,
)


def chrome(**kw: object) -> Rappor:
    params: dict[str, object] = {
        "num_bloombits": 32,
        "num_hashes": 2,
        "num_cohorts": 16,
        "f": 0.5,
        "p": 0.25,
        "q": 0.75,
    }
    params.update(kw)
    return Rappor(**params)  # type: ignore[arg-type]


def test_estimator_closed_form() -> None:
    # Section 4: t = (c - (p + f q/2 - f p/2) N) / ((1 - f)(q - p)).
    r = chrome(num_bloombits=2, num_cohorts=2, f=0.5, p=0.5, q=0.75)
    counts = RapporCounts(np.array([1000, 400]), np.array([[600, 700], [230, 400]]))
    est = estimate_bloom_counts(r, counts)
    p_star = 0.5 + 0.5 * 0.5 * 0.75 - 0.5 * 0.5 * 0.5  # 0.5625
    expected = (counts.bit_counts - p_star * counts.num_reports[:, None]) / (0.5 * 0.25)
    assert np.allclose(est.counts, expected)
    assert est.counts[0, 0] == pytest.approx(300.0)


def test_bit_count_estimator_is_unbiased() -> None:
    # A fixed population (so the true Bloom-bit counts t_ij are known), privatized 300 times
    # afresh. The mean of t̂ over trials is within 5 standard errors of t_ij for every (i, j)
    # (320 cells: a false alarm has probability < 1e-4), and the estimated variance matches
    # the empirical one.
    r = chrome(num_bloombits=16, num_cohorts=2)
    values = [f"v{i % 7}" for i in range(1400)]
    cohorts = np.arange(1400) % 2
    bloom = r.bloom(values, cohorts)
    truth = np.stack([bloom[cohorts == j].sum(axis=0) for j in range(2)]).astype(float)
    rng = SecureRandom.seeded(11)
    trials = 300
    ests = np.empty((trials, 2, 16))
    var_est = np.empty((trials, 2, 16))
    for t in range(trials):
        rep = r.privatize(values, cohorts=cohorts, rng=rng)
        be = estimate_bloom_counts(r, RapporCounts.from_reports(r, rep))
        ests[t], var_est[t] = be.counts, be.variance
    se = ests.std(axis=0, ddof=1) / math.sqrt(trials)
    assert (np.abs(ests.mean(axis=0) - truth) < 5 * se).all()
    ratio = var_est.mean(axis=0) / ests.var(axis=0, ddof=1)
    assert 0.7 < float(ratio.mean()) < 1.4


def test_counts_aggregate_and_add() -> None:
    r = chrome(num_bloombits=8, num_cohorts=3)
    rng = SecureRandom.seeded(2)
    a = r.privatize(["x"] * 50, rng=rng)
    b = r.privatize(["y"] * 70, rng=rng)
    both = RapporReports(np.concatenate([a.cohorts, b.cohorts]), np.vstack([a.bits, b.bits]))
    total = RapporCounts.from_reports(r, a) + RapporCounts.from_reports(r, b)
    direct = RapporCounts.from_reports(r, both)
    assert (total.bit_counts == direct.bit_counts).all()
    assert total.total == 120
    with pytest.raises(ParameterError, match="bits"):
        RapporCounts.from_reports(chrome(num_bloombits=9, num_cohorts=3), a)
    with pytest.raises(ParameterError):
        RapporCounts(np.array([1]), np.array([[2]]))


PRESENT = [12000, 9000, 7000, 5000, 4000, 3000, 2500, 2000, 1800, 1500]
CANDIDATES = [f"https://site{i}.example/" for i in range(60)]


def population(unlisted: int) -> tuple[list[str], dict[str, int]]:
    """10 of the 60 candidates, with the counts above, plus ``unlisted`` reports of 25
    strings that are not in the dictionary."""
    present = dict(zip(CANDIDATES, PRESENT, strict=False))
    values: list[str] = []
    for s, c in present.items():
        values += [s] * c
    values += [f"https://unlisted{i % 25}.example/" for i in range(unlisted)]
    return values, present


@pytest.fixture(scope="module")
def planted() -> tuple[Rappor, RapporCounts]:
    r = chrome()
    values, _ = population(0)
    reports = r.privatize(values, rng=SecureRandom.seeded(2014))
    return r, RapporCounts.from_reports(r, reports)


def test_decode_detects_the_planted_distribution(planted: tuple[Rappor, RapporCounts]) -> None:
    r, counts = planted
    _, present = population(0)
    est = decode_rappor(r, counts, CANDIDATES, confidence=0.9999)
    assert est.num_reports == sum(PRESENT)
    assert est.threshold == pytest.approx(0.05 / 60)
    found = {c for c, d in zip(est.candidates, est.detected, strict=True) if d}
    # The frequent ones are detected …
    assert set(list(present)[:6]) <= found
    # … with the true counts inside their 99.99 % intervals (z-scores are calibrated when
    # the dictionary holds every string: over 30 seeds, mean 0.01 and sd 1.02) …
    for s in found & set(present):
        i = CANDIDATES.index(s)
        assert est.ci_low[i] <= present[s] <= est.ci_high[i], (s, est.counts[i], est.std_errors[i])
    # … and absent candidates are (mostly) not detected (Bonferroni: family-wise 5 %).
    assert len(found - set(present)) <= 1
    rows = est.rows(detected_only=True)
    assert rows[0]["candidate"] == CANDIDATES[0]
    assert all(row["detected"] for row in rows)
    assert est.proportions[0] == pytest.approx(est.counts[0] / sum(PRESENT))


def test_decode_with_strings_outside_the_dictionary() -> None:
    # A quarter of the reports come from strings the dictionary lacks. Their Bloom bits are
    # partly absorbed by candidates (a documented upward bias), but detection still works.
    r = chrome()
    values, present = population(16_000)
    reports = r.privatize(values, rng=SecureRandom.seeded(7))
    est = decode_rappor(r, RapporCounts.from_reports(r, reports), CANDIDATES)
    found = {c for c, d in zip(est.candidates, est.detected, strict=True) if d}
    assert set(list(present)[:6]) <= found
    assert len(found - set(present)) <= 2


def test_decode_refuses_bad_input(planted: tuple[Rappor, RapporCounts]) -> None:
    r, counts = planted
    cands = CANDIDATES
    with pytest.raises(ParameterError, match="empty"):
        decode_rappor(r, counts, [])
    with pytest.raises(ParameterError, match="duplicates"):
        decode_rappor(r, counts, ["a", "a"])
    with pytest.raises(ParameterTypeError):
        decode_rappor(r, counts, "abc")
    with pytest.raises(ParameterError, match="no reports"):
        decode_rappor(r, RapporCounts.zeros(r), cands)
    with pytest.raises(ParameterError, match="shape"):
        decode_rappor(chrome(num_cohorts=4), counts, cands)
    with pytest.raises(ParameterError, match="alpha"):
        decode_rappor(r, counts, cands, alpha=0.0)


def test_detection_frequency_matches_the_reference_formula() -> None:
    # google/rappor decode.R ComputePrivacyGuarantees: qnorm(1 - α)·sqrt(p*(1-p*)N)/(q*-p*)/N.
    r = chrome(num_bloombits=128, num_cohorts=128)
    n = 1_000_000
    expected = 1.6448536269514722 * math.sqrt(0.375 * 0.625 * n) / (0.25 * n)
    assert detection_frequency(r, n) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ParameterError):
        detection_frequency(r, 0)


@pytest.mark.slow
def test_decoder_z_scores_are_calibrated() -> None:
    # 30 seeded collections of the planted population: the z-scores (estimate − truth)/SE of
    # the detected candidates have mean ≈ 0 and standard deviation ≈ 1 (the docs' claim).
    r = chrome()
    values, present = population(0)
    zs = []
    for seed in range(30):
        reports = r.privatize(values, rng=SecureRandom.seeded(10_000 + seed))
        est = decode_rappor(r, RapporCounts.from_reports(r, reports), CANDIDATES)
        for s, count in present.items():
            i = CANDIDATES.index(s)
            if est.detected[i]:
                zs.append((est.counts[i] - count) / est.std_errors[i])
    z = np.array(zs)
    assert len(z) >= 200
    assert abs(float(z.mean())) < 0.3
    assert 0.8 < float(z.std()) < 1.25
