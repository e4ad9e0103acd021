"""The exact building blocks of privet.core.samplers, checked word by word.

A scripted word source replays chosen 64-bit words, so each threshold and each rejection
branch can be checked against a brute-force reading of the algorithm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats

from privet.core import SecureRandom, samplers
from privet.errors import ParameterTypeError, PrivetError

ALPHA = 1e-6
TWO64 = 1 << 64
RNG = SecureRandom.seeded(424242)


class Script:
    """A word source: the scripted words first (in order of request), then seeded words."""

    def __init__(self, words: Iterable[int]) -> None:
        self.words = list(words)
        self.calls: list[int] = []

    def __call__(self, n: int) -> NDArray[np.uint64]:
        self.calls.append(n)
        head, self.words = self.words[:n], self.words[n:]
        tail = RNG.uint64(n - len(head))
        return np.concatenate([np.array(head, dtype=np.uint64), tail])


# -- uniform_below and bernoulli_ratio ------------------------------------------------------


def pack32(words: list[int]) -> list[int]:
    """Pack 32-bit words into the 64-bit words that produce them (little-endian halves)."""
    words = words + [0] * (len(words) % 2)
    return [lo | (hi << 32) for lo, hi in zip(words[::2], words[1::2], strict=True)]


def test_uniform_below_small_bound_is_lemire_multiply_shift() -> None:
    # bound 5: 2**32 mod 5 = 1, so only w = 0 (w·5 ≡ 0 mod 2**32) is rejected and redrawn.
    first = [0, 2**32 - 1, 858993459, 858993460]
    draw = Script([*pack32(first), 2**31])
    out = samplers.uniform_below(draw, 4, 5)
    assert out.tolist() == [2, 4, 0, 1]  # w·5 // 2**32, the rejected w = 0 replaced by 2**31
    assert draw.calls == [2, 1]


@settings(max_examples=300, deadline=None)
@given(
    bound=st.integers(min_value=2, max_value=2**32),
    w=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_uniform_below_lemire_word_by_word(bound: int, w: int) -> None:
    draw = Script(pack32([w]))
    out = int(samplers.uniform_below(draw, 1, bound)[0])
    if (w * bound) % 2**32 >= 2**32 % bound:
        assert out == (w * bound) >> 32
        assert draw.calls == [1]
    else:
        assert draw.calls[:2] == [1, 1]


def test_uniform_below_large_bound_redraws_out_of_range_words_in_place() -> None:
    # bound 5·2**32: words are read by their top 35 bits; values >= bound are redrawn.
    bound = 5 << 32
    top = [0, bound, 7, bound + 3, bound - 1]
    redraw = [2, 1]
    draw = Script([t << 29 for t in top] + [r << 29 for r in redraw])
    out = samplers.uniform_below(draw, 5, bound)
    assert out.tolist() == [0, 2, 7, 1, bound - 1]
    assert draw.calls == [5, 2]


@settings(max_examples=300, deadline=None)
@given(bound=st.integers(min_value=1, max_value=TWO64), n=st.integers(min_value=0, max_value=50))
def test_uniform_below_stays_below(bound: int, n: int) -> None:
    out = samplers.uniform_below(RNG.uint64, n, bound)
    assert out.shape == (n,)
    assert all(int(v) < bound for v in out)


@settings(max_examples=300, deadline=None)
@given(
    den=st.integers(min_value=2, max_value=TWO64 - 1),
    frac=st.fractions(min_value=0, max_value=1),
    x=st.integers(min_value=0, max_value=TWO64 - 1),
)
def test_bernoulli_ratio_threshold_is_exact(den: int, frac: Fraction, x: int) -> None:
    a = min(int(frac * den), den - 1)
    q = TWO64 // den
    draw = Script([x])
    out = bool(samplers.bernoulli_ratio(draw, np.array([a], dtype=np.uint64), den)[0])
    if x < q * den:  # accepted word: True exactly on [0, a·q), a fraction a/den of [0, q·den)
        assert out == (x < a * q)
        assert draw.calls == [1]
    else:  # rejected word: drawn again, one word at a time, until one is accepted (for N
        # just above 2^63 a fresh word is rejected with probability near 1/2 too)
        assert len(draw.calls) >= 2
        assert set(draw.calls) == {1}


def test_bernoulli_ratio_of_zero_over_one() -> None:
    out = samplers.bernoulli_ratio(RNG.uint64, np.zeros(5, dtype=np.uint64), 1)
    assert not out.any()


@pytest.mark.parametrize(("a", "den"), [(1, 3), (2, 7), (10**17, 3 * 10**17 + 1)])
def test_bernoulli_ratio_frequency(a: int, den: int) -> None:
    n = 400_000
    k = int(samplers.bernoulli_ratio(RNG.uint64, np.full(n, a, dtype=np.uint64), den).sum())
    assert stats.binomtest(k, n, a / den).pvalue > ALPHA


# -- Bernoulli(exp(-1)) by one word (CKS20 Algorithm 1 with γ = 1) --------------------------


def brute_force_k(x: int) -> int | None:
    """K of Algorithm 1 (γ = 1) read off the word x, or None when K > 18 (more rounds)."""
    m = math.factorial(18)
    q = TWO64 // m
    if x < q:
        return None
    return 1 + sum(1 for k in range(1, 19) if x < q * (m // math.factorial(k)))


@settings(max_examples=500, deadline=None)
@given(x=st.integers(min_value=0, max_value=(TWO64 // math.factorial(18)) * math.factorial(18) - 1))
def test_bernoulli_exp_minus_one_word_table(x: int) -> None:
    k = brute_force_k(x)
    out = bool(samplers.bernoulli_exp_minus_one(Script([x]), 1)[0])
    if k is not None:
        assert out == (k % 2 == 1)


def test_bernoulli_exp_minus_one_table_law() -> None:
    # P(K > k) = 1/k! exactly: the scaled thresholds divide the accepted range exactly.
    m = math.factorial(18)
    q = TWO64 // m
    for k in range(1, 19):
        assert Fraction(q * (m // math.factorial(k)), q * m) == Fraction(1, math.factorial(k))


def test_bernoulli_exp_minus_one_deep_and_rejected_words() -> None:
    m = math.factorial(18)
    q = TWO64 // m
    # words 0 and 1 are rejected (>= q·M) and redrawn from the script's last two words;
    # words 2 and 3 have K > 18 and continue with Bernoulli(1/k), k = 19, 20, ...
    words = [q * m, TWO64 - 1, 0, q - 1, q, q * (m // 120) - 1]
    draw = Script(words)
    out = samplers.bernoulli_exp_minus_one(draw, 4)
    assert out.shape == (4,)
    assert draw.calls[:2] == [4, 2]
    assert draw.calls[2] == 2  # one round of Bernoulli(1/19) for the two deep words
    assert brute_force_k(q) == 18  # K = 18: even
    assert not out[0]
    assert brute_force_k(q * (m // 120) - 1) == 6
    assert not out[1]


def test_bernoulli_exp_minus_one_frequency() -> None:
    n = 1_000_000
    k = int(samplers.bernoulli_exp_minus_one(RNG.uint64, n).sum())
    assert stats.binomtest(k, n, math.exp(-1)).pvalue > ALPHA


def test_geometric_exp_minus_one_law() -> None:
    n = 400_000
    v, rounds = samplers.geometric_exp_minus_one(RNG.uint64, n)
    assert rounds == int(v.max())
    vs = np.arange(0, 40)
    probs = (1 - math.exp(-1)) * np.exp(-vs.astype(float))
    counts = np.bincount(np.minimum(v, 8).astype(np.int64), minlength=9)
    expected = np.append(probs[:8], probs[8:].sum()) * n
    assert stats.chisquare(counts, expected * (n / expected.sum())).pvalue > ALPHA


def test_bernoulli_exp_unit_overflow_split_frequency() -> None:
    # N·k >= 2**64 from round 2 on: Bernoulli(a/(N·k)) is split as Bernoulli(a/N) ∧ Bernoulli(1/k).
    den = TWO64 - 3
    a = den - 1
    n = 400_000
    out = samplers.bernoulli_exp_unit(RNG.uint64, np.full(n, a, dtype=np.uint64), den)
    assert stats.binomtest(int(out.sum()), n, math.exp(-a / den)).pvalue > ALPHA


def test_bernoulli_exp_per_element_whole_parts() -> None:
    n = 200_000
    whole = np.array([0, 1, 2, 3], dtype=np.int64).repeat(n // 4)
    rem = np.array([1, 0, 2, 1], dtype=np.uint64).repeat(n // 4)
    out = samplers.bernoulli_exp(RNG.uint64, whole, rem, 3)
    for i, gamma in enumerate([1 / 3, 1.0, 2 + 2 / 3, 3 + 1 / 3]):
        part = out[i * (n // 4) : (i + 1) * (n // 4)]
        assert stats.binomtest(int(part.sum()), part.size, math.exp(-gamma)).pvalue > ALPHA


# -- exact integer helpers of the discrete Gaussian -----------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    den=st.integers(min_value=1, max_value=2**61 - 1),
    a=st.integers(min_value=-(2**62) + 1, max_value=2**62 - 1),
)
def test_exact_divmod_square(den: int, a: int) -> None:
    if a * a >= den * 2**50:
        a = math.isqrt(den * 2**50 - 1) * (1 if a >= 0 else -1)
    quo, rem = samplers._exact_divmod_square(np.array([a], dtype=np.int64), den)
    assert (int(quo[0]), int(rem[0])) == divmod(a * a, den)


def test_gaussian_rejects_astronomically_far_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    far = np.array([0, 2**62, -(2**62), 2**40, 1], dtype=np.int64)
    monkeypatch.setattr(samplers, "_laplace_batch", lambda draw, m, s, t: far.copy())
    p, q, t, den = samplers._gaussian_params(Fraction(1))
    kept = samplers._gaussian_batch(RNG.uint64, 5, p, q, t, den)
    assert set(kept.tolist()) <= {0, 1}  # γ >= 2**70 for the far ones: never kept


def test_bernoulli_exp_big_integers() -> None:
    assert samplers._bernoulli_exp_big(RNG.uint64, 10**40, 3) is False
    assert samplers._bernoulli_exp_big(RNG.uint64, 0, 7) is True


def test_laplace_overflow_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    def endless(draw: samplers.Draw, n: int) -> tuple[NDArray[np.uint64], int]:
        return np.zeros(n, dtype=np.uint64), 2**20

    monkeypatch.setattr(samplers, "geometric_exp_minus_one", endless)
    with pytest.raises(PrivetError, match="64-bit"):
        samplers.discrete_laplace(RNG.uint64, 10, Fraction(2**47))


def test_as_rational() -> None:
    assert samplers.as_rational(np.int64(6), name="scale") == 6
    assert samplers.as_rational(Fraction(4, 6), name="scale") == Fraction(2, 3)
    with pytest.raises(ParameterTypeError, match="limit_denominator"):
        samplers.as_rational(0.5, name="scale")


def test_laplace_sign_and_zero() -> None:
    x = samplers.discrete_laplace(RNG.uint64, 100_000, Fraction(2))
    assert (x > 0).any()
    assert (x < 0).any()
    assert (x == 0).any()
    # symmetry: P(Z > 0) = P(Z < 0)
    pos, neg = int((x > 0).sum()), int((x < 0).sum())
    assert stats.binomtest(pos, pos + neg, 0.5).pvalue > ALPHA
