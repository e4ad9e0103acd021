"""RAPPOR's client: golden ε values, exact privacy, the randomizers' laws, memoisation, budgets."""

from __future__ import annotations

import itertools
import math
import threading
from pathlib import Path

import numpy as np
import pytest

from privet.accounting.events import LocalRandomizerEvent
from privet.core import SecureRandom
from privet.errors import BudgetExceededError, ParameterError, ParameterTypeError
from privet.ldp.rappor import Rappor, RapporReports
from privet.ldp.rappor_memo import MemoryPrrMemo, SqlitePrrMemo
from privet.store import Ledger

# Golden values. Source: Erlingsson, Pihur, Korolova, CCS 2014 (arXiv:1407.6981), Section 3
# (Theorem 1: ε∞ = 2h ln((1 - f/2)/(f/2)); Theorem 2: ε₁ = h ln(q*(1-p*)/(p*(1-q*)))), whose
# Chrome deployment used f=0.5, p=0.25, q=0.75, h=2 (ε₁ ≈ 2.043, ε∞ ≈ 4.394), and whose
# simulations used p=0.5, q=0.75, f=0.5, h=2 (ε₁ ≈ 1.074). The same formulas are in the
# reference implementation, google/rappor analysis/R/decode.R, ComputePrivacyGuarantees.
GOLDEN = [
    # (f, p, q, h, ε₁, ε∞) with ε given in closed form
    (0.5, 0.25, 0.75, 2, 4 * math.log(5 / 3), 4 * math.log(3)),
    (0.5, 0.5, 0.75, 2, 2 * math.log((0.6875 * 0.4375) / (0.5625 * 0.3125)), 4 * math.log(3)),
]


def make(**kw: object) -> Rappor:
    params: dict[str, object] = {
        "num_bloombits": 16,
        "num_hashes": 2,
        "num_cohorts": 4,
        "f": 0.5,
        "p": 0.25,
        "q": 0.75,
    }
    params.update(kw)
    return Rappor(**params)  # type: ignore[arg-type]


@pytest.mark.parametrize(("f", "p", "q", "h", "eps1", "epsinf"), GOLDEN)
def test_golden_epsilons(f: float, p: float, q: float, h: int, eps1: float, epsinf: float) -> None:
    r = make(f=f, p=p, q=q, num_hashes=h)
    assert r.epsilon_one == pytest.approx(eps1, rel=1e-12)
    assert r.epsilon_inf == pytest.approx(epsinf, rel=1e-12)


def test_golden_epsilons_rounded_as_published() -> None:
    chrome = make(f=0.5, p=0.25, q=0.75, num_hashes=2)
    assert round(chrome.epsilon_one, 3) == 2.043
    assert round(chrome.epsilon_inf, 3) == 4.394
    paper = make(f=0.5, p=0.5, q=0.75, num_hashes=2)
    assert round(paper.epsilon_one, 3) == 1.074
    # The variant that does NOT give these numbers: ε₁ with p, q in place of p*, q*
    # (ignoring the permanent step) would claim 2·ln(0.75·0.75/(0.25·0.25)) = 4.39 for Chrome.
    assert 2 * math.log(0.75 * 0.75 / (0.25 * 0.25)) != pytest.approx(chrome.epsilon_one)


def test_events() -> None:
    r = make()
    assert r.event == LocalRandomizerEvent(mechanism="rappor", epsilon=r.epsilon_inf)
    assert r.report_event == LocalRandomizerEvent(mechanism="rappor-report", epsilon=r.epsilon_one)
    assert r.epsilon_one < r.epsilon_inf


def _bit_law(bits: tuple[int, ...], given: tuple[int, ...], one: float, zero: float) -> float:
    """P(output bits | input bits) for independent bits: P(1 | 1) = one, P(1 | 0) = zero."""
    prob = 1.0
    for s, b in zip(bits, given, strict=True):
        p1 = one if b else zero
        prob *= p1 if s else 1.0 - p1
    return prob


@pytest.mark.parametrize(("f", "p", "q"), [(0.5, 0.25, 0.75), (0.5, 0.5, 0.75), (0.2, 0.1, 0.9)])
def test_exact_privacy_by_enumeration(f: float, p: float, q: float) -> None:
    # Every Bloom filter of k=4 bits with at most h=2 ones is a possible input; every 4-bit
    # output is enumerated. One report's law depends only on B: P(S_i=1) = q* or p*.
    r = make(num_bloombits=4, num_hashes=2, f=f, p=p, q=q)
    inputs = [b for b in itertools.product((0, 1), repeat=4) if 1 <= sum(b) <= 2]
    outputs = list(itertools.product((0, 1), repeat=4))
    worst_one = worst_inf = 0.0
    for b1, b2 in itertools.permutations(inputs, 2):
        for s in outputs:
            worst_one = max(
                worst_one, _bit_law(s, b1, r.q_star, r.p_star) / _bit_law(s, b2, r.q_star, r.p_star)
            )
            prr1 = _bit_law(s, b1, 1 - f / 2, f / 2)
            worst_inf = max(worst_inf, prr1 / _bit_law(s, b2, 1 - f / 2, f / 2))
    assert math.log(worst_one) <= r.epsilon_one + 1e-9
    assert math.log(worst_inf) <= r.epsilon_inf + 1e-9
    # Both bounds are tight (two disjoint pairs of bits).
    assert math.log(worst_one) == pytest.approx(r.epsilon_one, rel=1e-9)
    assert math.log(worst_inf) == pytest.approx(r.epsilon_inf, rel=1e-9)


def test_parameters_are_validated() -> None:
    with pytest.raises(ParameterError, match="f must be"):
        make(f=0.0)
    with pytest.raises(ParameterError, match="p must be < q"):
        make(p=0.75, q=0.25)
    with pytest.raises(ParameterError, match="num_hashes"):
        make(num_bloombits=2, num_hashes=3)
    with pytest.raises(ParameterError, match="num_bloombits"):
        make(num_bloombits=5000)
    with pytest.raises(ParameterTypeError):
        make(hash_key="not bytes")
    with pytest.raises(ParameterTypeError):
        make(num_cohorts=2.5)


def test_config_round_trip_and_errors() -> None:
    r = make(hash_key=b"collection-7")
    again = Rappor.from_dict(r.to_dict())
    assert again == r
    assert again.fingerprint == r.fingerprint
    assert make().fingerprint != r.fingerprint
    with pytest.raises(ParameterError, match="unknown"):
        Rappor.from_dict({**r.to_dict(), "extra": 1})
    with pytest.raises(ParameterError, match="lacks"):
        Rappor.from_dict({"mechanism": "rappor", "num_bloombits": 8})
    with pytest.raises(ParameterError, match="hex"):
        Rappor.from_dict({**r.to_dict(), "hash_key": "zz"})


def test_bloom_filters() -> None:
    r = make(num_bloombits=64, num_hashes=3, num_cohorts=8)
    values = [f"value-{i}" for i in range(50)]
    b = r.bloom(values * 2, list(range(8)) * 12 + [0, 1, 2, 3])
    assert b.shape == (100, 64)
    assert ((b.sum(axis=1) >= 1) & (b.sum(axis=1) <= 3)).all()
    # Deterministic, and the same as the candidate patterns the decoder uses.
    pats = r.candidate_patterns(values)
    for i in range(100):
        cohort = (list(range(8)) * 12 + [0, 1, 2, 3])[i]
        assert (b[i] == pats[cohort, :, i % 50]).all()
    # Cohorts use different hash functions; another key gives another family member.
    assert not all((pats[0, :, s] == pats[1, :, s]).all() for s in range(50))
    other = make(num_bloombits=64, num_hashes=3, num_cohorts=8, hash_key=b"other")
    assert not (other.candidate_patterns(values) == pats).all()


def test_bad_values_and_cohorts_are_refused_without_echoing_values() -> None:
    r = make()
    with pytest.raises(ParameterTypeError) as info:
        r.bloom(["secret-homepage", 42], [0, 1])
    assert "secret" not in str(info.value)
    with pytest.raises(ParameterTypeError):
        r.bloom("abc", [0, 0, 0])
    with pytest.raises(ParameterError, match="cohorts must lie"):
        r.bloom(["a"], [4])
    with pytest.raises(ParameterError, match="cohorts must be"):
        r.bloom(["a", "b"], [0])


def test_permanent_and_instantaneous_laws() -> None:
    # 400,000 bits each: a binomial count is within 6 σ of its mean except with
    # probability ~2e-9.
    r = make(num_bloombits=40, f=0.5, p=0.25, q=0.75)
    rng = SecureRandom.seeded(7)
    n = 10_000
    ones = np.ones((n, 40), dtype=np.uint8)
    zeros = np.zeros((n, 40), dtype=np.uint8)

    def close(x: np.ndarray, prob: float) -> bool:
        sd = math.sqrt(prob * (1 - prob) / x.size)
        return abs(float(x.mean()) - prob) < 6 * sd

    assert close(r.permanent(ones, rng=rng), 1 - r.f / 2)
    assert close(r.permanent(zeros, rng=rng), r.f / 2)
    assert close(r.instantaneous(ones, rng=rng), r.q)
    assert close(r.instantaneous(zeros, rng=rng), r.p)
    # Both steps together: p*, q*.
    assert close(r.instantaneous(r.permanent(ones, rng=rng), rng=rng), r.q_star)
    assert close(r.instantaneous(r.permanent(zeros, rng=rng), rng=rng), r.p_star)
    with pytest.raises(ParameterError, match="only 0 and 1"):
        r.instantaneous(ones * 2, rng=rng)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_prr_is_memoised_per_client_and_value(kind: str, tmp_path: Path) -> None:
    r = make(num_bloombits=32)
    memo = MemoryPrrMemo() if kind == "memory" else SqlitePrrMemo(tmp_path / "memo.sqlite")
    rng = SecureRandom.seeded(3)
    clients = [f"c{i}" for i in range(200)]
    values = ["x.com"] * 100 + ["y.com"] * 100
    first_coh, first = memo.resolve(r, clients, values, rng=rng)
    # Later reports of the same (client, value) reuse the same B' and cohort, whatever rng.
    again_coh, again = memo.resolve(r, clients, values, rng=SecureRandom.seeded(99))
    assert (first == again).all()
    assert (first_coh == again_coh).all()
    # The reports themselves are fresh each time (instantaneous randomized response).
    rep1 = r.privatize(values, clients=clients, memo=memo, rng=rng)
    rep2 = r.privatize(values, clients=clients, memo=memo, rng=rng)
    assert (rep1.cohorts == first_coh).all()
    assert not (rep1.bits == rep2.bits).all()
    # A new value of a known client gets its own B', in the client's cohort.
    coh_z, _ = memo.resolve(r, ["c0"], ["z.com"], rng=rng)
    assert int(coh_z[0]) == int(first_coh[0])
    assert (memo.permanent(r, clients, values) == first).all()
    if isinstance(memo, SqlitePrrMemo):
        memo.close()
        with SqlitePrrMemo(tmp_path / "memo.sqlite") as reopened:
            assert (reopened.permanent(r, clients, values) == first).all()


def test_different_clients_are_independent() -> None:
    # Same value, 4000 clients: bits of B' where the Bloom bit is 0 are Bernoulli(f/2),
    # independently across clients. Two clients agree on such a bit with probability
    # (f/2)² + (1 - f/2)² = 0.625 for f = 0.5; identical draws would agree always.
    r = make(num_bloombits=64, num_cohorts=1)
    memo = MemoryPrrMemo()
    n = 4000
    _, prr = memo.resolve(r, [f"u{i}" for i in range(n)], ["same"] * n, rng=SecureRandom.seeded(5))
    zero_bits = r.bloom(["same"], [0])[0] == 0
    a, b = prr[0::2][:, zero_bits], prr[1::2][:, zero_bits]
    agree = float((a == b).mean())
    sd = math.sqrt(0.625 * 0.375 / a.size)
    assert abs(agree - 0.625) < 6 * sd
    assert abs(float(prr[:, zero_bits].mean()) - 0.25) < 6 * math.sqrt(0.25 * 0.75 / a.size / 2)


def test_sqlite_memo_threads_agree(tmp_path: Path) -> None:
    r = make()
    path = tmp_path / "memo.sqlite"
    results: list[np.ndarray] = []
    lock = threading.Lock()

    def work(seed: int) -> None:
        with SqlitePrrMemo(path) as memo:
            _, prr = memo.resolve(r, ["shared"], ["v"], rng=SecureRandom.seeded(seed))
        with lock:
            results.append(prr)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 6
    assert all((res == results[0]).all() for res in results)


def test_memo_file_is_private(tmp_path: Path) -> None:
    with SqlitePrrMemo(tmp_path / "memo.sqlite") as memo:
        memo.resolve(make(), ["a"], ["v"])
    assert (tmp_path / "memo.sqlite").stat().st_mode & 0o077 == 0
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ParameterError, match="not a usable RAPPOR memo"):
        SqlitePrrMemo(tmp_path / "junk.sqlite")


def test_budget_rules(tmp_path: Path) -> None:
    r = make()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("survey", epsilon=2 * r.epsilon_inf + 0.1)
        memo = MemoryPrrMemo()
        rng = SecureRandom.seeded(1)
        r.privatize(["a", "b"], clients=["u1", "u2"], memo=memo, rng=rng, budget=budget)
        assert budget.spent()[0] == pytest.approx(r.epsilon_inf)
        # Every (client, value) memoised: the reports are covered by the ε∞ already charged.
        for _ in range(5):
            r.privatize(["a", "b"], clients=["u1", "u2"], memo=memo, rng=rng, budget=budget)
        assert budget.spent()[0] == pytest.approx(r.epsilon_inf)
        # A new value draws a new B': another ε∞.
        r.privatize(["c"], clients=["u1"], memo=memo, rng=rng, budget=budget)
        assert budget.spent()[0] == pytest.approx(2 * r.epsilon_inf)
        # Refused: nothing drawn, nothing memoised.
        with pytest.raises(BudgetExceededError):
            r.privatize(["d"], clients=["u1"], memo=memo, rng=rng, budget=budget)
        with pytest.raises(ParameterError, match="no memoised response"):
            memo.permanent(r, ["u1"], ["d"])
        # Without a memo every call is a new collection: ε₁ each.
        once = ledger.budget("one-off", epsilon=10.0)
        r.privatize(["a"], rng=rng, budget=once)
        r.privatize(["a"], rng=rng, budget=once)
        assert once.spent()[0] == pytest.approx(2 * r.epsilon_one)


def test_privatize_arguments() -> None:
    r = make()
    memo = MemoryPrrMemo()
    with pytest.raises(ParameterError, match="clients is required"):
        r.privatize(["a"], memo=memo)
    with pytest.raises(ParameterError, match="cohorts cannot be given"):
        r.privatize(["a"], clients=["c"], memo=memo, cohorts=[0])
    with pytest.raises(ParameterError, match="clients must hold"):
        r.privatize(["a", "b"], clients=["c"], memo=memo)
    rep = r.privatize(["a", "b"], cohorts=[1, 3], rng=SecureRandom.seeded(0))
    assert rep.cohorts.tolist() == [1, 3]
    assert isinstance(rep, RapporReports)
    assert repr(rep) == "RapporReports(n=2, k=16)"
    empty = r.privatize([], clients=[], memo=memo)
    assert empty.bits.shape == (0, 16)


def test_exported_members() -> None:
    import privet.ldp as ldp

    mine = {
        "BloomEstimate",
        "Collection",
        "DiscoveryReports",
        "DiscoveryResult",
        "EstimateTable",
        "LdpClient",
        "LdpService",
        "MemoryPrrMemo",
        "OracleCollection",
        "PrefixDiscovery",
        "PrrMemo",
        "Rappor",
        "RapporCollection",
        "RapporCounts",
        "RapporEstimate",
        "RapporReports",
        "ReportStore",
        "SqlitePrrMemo",
        "SubmitResult",
        "collection_from_config",
        "decode_rappor",
        "detection_frequency",
        "estimate_bloom_counts",
    }
    assert mine <= set(ldp.__all__)
    for name in mine:
        assert getattr(ldp, name).__doc__, name
