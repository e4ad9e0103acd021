"""Exact privacy: every client's output law, enumerated, satisfies its claimed ε.

For each input value, the client is run for one user on a *scripted* generator that walks
every outcome of every random draw the client makes (depth-first), multiplying the exact
probability of each outcome (the Fraction the client passed to ``bernoulli``, 1/(high-low)
for ``integers``, 1/2 per bit, 1/256 per byte). This is the client's exact output pmf,
computed through the real code path (only the uniform words are scripted; the core samplers
that turn words into these laws are tested exactly in tests/core). Then, for every pair of
inputs and every output, ``P(o | v) <= e^ε · P(o | v')`` must hold (+1e-9), the pmf must
sum to exactly 1, and the bound must be nearly tight (no privacy wasted).

The same pmfs give the exact expected support counts through the real server code, proving
unbiasedness: ``E[S_x | v] = p*`` if x = v else ``q*``.

Unary encoding draws d bytes per user in one call (256^d joint outcomes), so its bit law is
enumerated per bit through the real Bernoulli helper, and the product law is checked;
a χ² test (p < 1e-6 to fail) checks that the client samples that product law.
(pure-LDP's UE client failed this kind of check for years: Samuel-Maddock/pure-LDP#11,
found by Arcolezi & Gambs, arXiv:2309.01597.)
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Hashable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from scipy import stats

from privet.core import SecureRandom
from privet.ldp import GRR, OLH, OUE, SUE, HadamardResponse, HashedReports, RandomizedResponse
from privet.ldp.oracles import FrequencyOracle, bernoulli_dyadic

TOL = 1e-9
_BYTES = [(b, Fraction(1, 256)) for b in range(256)]
_COIN = [(0, Fraction(1, 2)), (1, Fraction(1, 2))]


@functools.cache
def _uniform(low: int, high: int) -> list[tuple[int, Fraction]]:
    w = Fraction(1, high - low)
    return [(v, w) for v in range(low, high)]


class ScriptedRandom(SecureRandom):
    """A SecureRandom whose draws follow a script of outcome indices (depth-first walk)."""

    def __init__(self, script: list[int]) -> None:
        super().__init__()
        self.script = script
        self.choices: list[tuple[int, int]] = []
        self.prob = Fraction(1)

    def _choose(self, options: list[tuple[Any, Fraction]]) -> Any:
        pos = len(self.choices)
        idx = self.script[pos] if pos < len(self.script) else 0
        self.choices.append((idx, len(options)))
        value, p = options[idx]
        self.prob *= p
        return value

    @staticmethod
    def _count(size: Any) -> tuple[tuple[int, ...], int]:
        shape = tuple(size) if isinstance(size, tuple | list) else (int(size),)
        return shape, math.prod(shape)

    def bernoulli(self, size: Any, *, p: Any) -> np.ndarray:  # type: ignore[override]
        shape, n = self._count(size)
        fp = Fraction(p)
        opts = [(v, q) for v, q in ((True, fp), (False, 1 - fp)) if q > 0]
        vals = [self._choose(opts) for _ in range(n)]
        return np.array(vals, dtype=np.bool_).reshape(shape)

    def integers(self, size: Any, *, low: int, high: int) -> np.ndarray:  # type: ignore[override]
        shape, n = self._count(size)
        vals = [self._choose(_uniform(low, high)) for _ in range(n)]
        return np.array(vals, dtype=np.int64).reshape(shape)

    def bits(self, size: Any) -> np.ndarray:  # type: ignore[override]
        shape, n = self._count(size)
        vals = [self._choose(_COIN) for _ in range(n)]
        return np.array(vals, dtype=np.uint8).reshape(shape)

    def fill(self, array: np.ndarray) -> None:  # type: ignore[override]
        assert array.dtype == np.uint8, "scripted fill supports uint8 only"
        flat = array.reshape(-1)
        for i in range(flat.size):
            flat[i] = self._choose(_BYTES)

    def _words(self, n: int) -> Any:
        raise AssertionError("the client drew from an unscripted source")

    def _fill_view(self, view: memoryview) -> None:
        raise AssertionError("the client drew from an unscripted source")


def enumerate_pmf(run: Callable[[SecureRandom], Hashable]) -> dict[Hashable, Fraction]:
    """Walk every path of ``run``'s draws; return the exact output pmf."""
    pmf: dict[Hashable, Fraction] = defaultdict(Fraction)
    script: list[int] = []
    while True:
        rng = ScriptedRandom(script)
        out = run(rng)
        pmf[out] += rng.prob
        ch = rng.choices
        i = len(ch) - 1
        while i >= 0 and ch[i][0] == ch[i][1] - 1:
            i -= 1
        if i < 0:
            return dict(pmf)
        script = [c[0] for c in ch[:i]] + [ch[i][0] + 1]


def max_ratio(pmfs: list[dict[Hashable, Fraction]]) -> float:
    """The largest P(o | v) / P(o | v') over inputs v, v' and outputs o (inf if unmatched)."""
    outputs = set().union(*pmfs)
    worst = Fraction(1)
    for o in outputs:
        probs = [pmf.get(o, Fraction(0)) for pmf in pmfs]
        lo, hi = min(probs), max(probs)
        if lo == 0:
            return math.inf
        worst = max(worst, hi / lo)
    return float(worst)


def check_pmfs(pmfs: list[dict[Hashable, Fraction]], epsilon: float, tight: float = TOL) -> None:
    for pmf in pmfs:
        assert sum(pmf.values()) == 1
    ratio = max_ratio(pmfs)
    assert ratio <= math.exp(epsilon) + TOL, (ratio, math.exp(epsilon))
    # Tight: the mechanism uses its budget (e^ε is rounded down by ~1e-15 only; unary
    # encoding also rounds its bit probabilities to multiples of 2^-32).
    assert ratio >= math.exp(epsilon) * (1 - tight)


def one_user(oracle: FrequencyOracle, v: int, key: Callable[[Any], Hashable]):
    def run(rng: SecureRandom) -> Hashable:
        return key(oracle.privatize(np.array([v]), rng=rng))

    return run


def code_key(reports: np.ndarray) -> Hashable:
    return int(reports[0])


def hashed_key(reports: HashedReports) -> Hashable:
    return (tuple(int(s) for s in reports.seeds[0]), int(reports.hashed[0]))


def expected_support(
    oracle: FrequencyOracle, pmf: dict[Hashable, Fraction], build: Callable[[Hashable], Any]
) -> list[Fraction]:
    """E[S_x | v] through the real server code: Σ_o P(o) · support(o)."""
    total = [Fraction(0)] * oracle.domain_size
    for out, p in pmf.items():
        support = oracle.aggregate(build(out)).support
        for x in range(oracle.domain_size):
            total[x] += p * int(support[x])
    return total


def check_unbiased(oracle: FrequencyOracle, pmfs: list[dict[Hashable, Fraction]], build) -> None:
    p_star, q_star = oracle.support_probabilities
    for v, pmf in enumerate(pmfs):
        exp = expected_support(oracle, pmf, build)
        for x, e in enumerate(exp):
            want = p_star if x == v else q_star
            assert float(e) == pytest.approx(want, rel=1e-12, abs=1e-15), (v, x)


# -- randomized response -------------------------------------------------------------------


def test_coin_flips_exact_law_is_ln3() -> None:
    rr = RandomizedResponse.coin_flips()
    pmfs = [
        enumerate_pmf(lambda rng, a=a: bool(rr.privatize(np.array([a]), rng=rng)[0]))
        for a in (True, False)
    ]
    assert pmfs[0] == {True: Fraction(3, 4), False: Fraction(1, 4)}
    assert pmfs[1] == {True: Fraction(1, 4), False: Fraction(3, 4)}
    check_pmfs(pmfs, math.log(3))


@pytest.mark.parametrize("epsilon", [0.1, 1.0, math.log(3), 4.0])
def test_binary_rr_exact_law(epsilon: float) -> None:
    rr = RandomizedResponse(epsilon=epsilon)
    pmfs = [
        enumerate_pmf(lambda rng, a=a: bool(rr.privatize(np.array([a]), rng=rng)[0]))
        for a in (True, False)
    ]
    check_pmfs(pmfs, epsilon)


# -- GRR, OLH, Hadamard response --------------------------------------------------------------


@pytest.mark.parametrize(("epsilon", "d"), [(0.5, 2), (1.0, 3), (1.0, 5), (3.0, 4)])
def test_grr_exact_law(epsilon: float, d: int) -> None:
    oracle = GRR(epsilon=epsilon, domain_size=d)
    pmfs = [enumerate_pmf(one_user(oracle, v, code_key)) for v in range(d)]
    check_pmfs(pmfs, epsilon)
    check_unbiased(oracle, pmfs, lambda o: np.array([o], dtype=np.uint8))


@pytest.mark.parametrize(
    ("epsilon", "d", "g"),
    [
        (1.0, 4, None),  # g = 4 = 2², keys: 2 rows of 2 bits
        (1.0, 5, 2),  # g = 2, 3-bit keys
        (0.5, 5, 3),  # odd prime: base-3 digits, FFT server
        (1.0, 3, 5),
        (2.0, 4, 8),  # g = 2³
        (1.0, 4, 9),  # g = 3²
    ],
)
def test_olh_exact_law_over_the_hash_family(epsilon: float, d: int, g: int | None) -> None:
    oracle = OLH(epsilon=epsilon, domain_size=d, hash_range=g)
    pmfs = [enumerate_pmf(one_user(oracle, v, hashed_key)) for v in range(d)]
    # every key of the family appears: (p^m)^k keys, each with g outputs
    assert len(pmfs[0]) == oracle._key_bound**oracle._k * oracle.hash_range
    check_pmfs(pmfs, epsilon)

    def build(o: Hashable) -> HashedReports:
        seeds, y = o  # type: ignore[misc]
        return HashedReports(np.array([seeds], dtype=np.uint64), np.array([y], dtype=np.uint8))

    check_unbiased(oracle, pmfs, build)


@pytest.mark.parametrize(("epsilon", "d"), [(0.5, 2), (1.0, 3), (1.0, 6), (2.5, 8)])
def test_hadamard_exact_law_over_codewords(epsilon: float, d: int) -> None:
    oracle = HadamardResponse(epsilon=epsilon, domain_size=d)
    pmfs = [enumerate_pmf(one_user(oracle, v, code_key)) for v in range(d)]
    assert all(len(pmf) == oracle.codewords for pmf in pmfs)  # every codeword is possible
    check_pmfs(pmfs, epsilon)
    check_unbiased(oracle, pmfs, lambda o: np.array([o], dtype=np.uint16))


# -- unary encoding --------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0, 1, 1 << 31, 1155197946, (1 << 32) - 1, 1 << 32])
def test_dyadic_bernoulli_is_exact(threshold: int) -> None:
    pmf = enumerate_pmf(
        lambda rng: bool(bernoulli_dyadic(rng, 1, threshold=threshold, nbytes=4)[0])
    )
    assert pmf.get(True, Fraction(0)) == Fraction(threshold, 1 << 32)
    assert sum(pmf.values()) == 1


def unary_pmfs(oracle: OUE | SUE) -> list[dict[Hashable, Fraction]]:
    """The product law of the bits, from the exact thresholds the client uses."""
    d = oracle.domain_size
    one = Fraction(oracle._t_one, 1 << 32)
    zero = Fraction(oracle._t_zero, 1 << 32)
    pmfs = []
    for v in range(d):
        pmf: dict[Hashable, Fraction] = {}
        for bits in itertools.product((0, 1), repeat=d):
            pr = Fraction(1)
            for x, b in enumerate(bits):
                p1 = one if x == v else zero
                pr *= p1 if b else 1 - p1
            pmf[bits] = pr
        pmfs.append(pmf)
    return pmfs


@pytest.mark.parametrize("cls", [OUE, SUE])
@pytest.mark.parametrize(("epsilon", "d"), [(0.1, 2), (1.0, 3), (1.0, 5), (5.0, 4)])
def test_unary_exact_law(cls: type[OUE | SUE], epsilon: float, d: int) -> None:
    oracle = cls(epsilon=epsilon, domain_size=d)
    pmfs = unary_pmfs(oracle)
    check_pmfs(pmfs, epsilon, tight=1e-6)

    def build(o: Hashable) -> np.ndarray:
        return np.packbits(np.array([o], dtype=np.uint8), axis=1)

    check_unbiased(oracle, pmfs, build)


@pytest.mark.parametrize("cls", [OUE, SUE])
def test_unary_client_samples_the_analysed_law(cls: type[OUE | SUE]) -> None:
    d, n = 3, 200_000
    oracle = cls(epsilon=1.0, domain_size=d)
    pmfs = unary_pmfs(oracle)
    rng = SecureRandom.seeded(11)
    for v in range(d):
        reports = oracle.privatize(np.full(n, v), rng=rng)
        bits = np.unpackbits(reports, axis=1, count=d)
        codes = bits @ (1 << np.arange(d - 1, -1, -1))
        observed = np.bincount(codes, minlength=2**d)
        expected = [
            float(pmfs[v][tuple(int(b) for b in format(c, f"0{d}b"))]) * n for c in range(2**d)
        ]
        _, pvalue = stats.chisquare(observed, expected)
        assert pvalue > 1e-6, (v, observed, expected)


def test_unary_rounding_is_on_the_safe_side() -> None:
    # q is rounded up and p down to multiples of 2^-32: the realised ε' <= ε, within 1e-8.
    for eps in (0.01, 0.5, 1.0, 3.0, 10.0):
        for cls in (OUE, SUE):
            o = cls(epsilon=eps, domain_size=4)
            p, q = Fraction(o._t_one, 1 << 32), Fraction(o._t_zero, 1 << 32)
            realised = math.log(float(p * (1 - q) / ((1 - p) * q)))
            assert eps - 1e-5 < realised <= eps + TOL
