"""Discovering strings outside any dictionary: prefix extension with RAPPOR per level."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest

from privet.core import SecureRandom
from privet.errors import ParameterError
from privet.ldp.discovery import PrefixDiscovery
from privet.ldp.rappor import Rappor
from privet.store import Ledger

RAPPOR = Rappor(num_bloombits=32, num_hashes=2, num_cohorts=8, f=0.5, p=0.25, q=0.75)


def random_words(n: int, seed: int) -> list[str]:
    gen = np.random.default_rng(seed)  # the *data*, not privacy randomness
    letters = np.array(list(string.ascii_lowercase))
    return ["".join(gen.choice(letters, size=6)) for _ in range(n)]


def test_finds_planted_heavy_hitters() -> None:
    disc = PrefixDiscovery(RAPPOR, alphabet=string.ascii_lowercase, length=6, max_candidates=8)
    n = 36_000
    values = ["privet"] * int(0.35 * n) + ["prism"] * int(0.2 * n)
    values += random_words(n - len(values), seed=1)
    reports = disc.privatize(values, rng=SecureRandom.seeded(16))
    found = disc.discover(reports)
    assert "privet" in found.strings
    assert "prism" in found.strings  # shorter than length: padded with the end mark
    assert len(found.strings) <= 4
    i = found.strings.index("privet")
    # The population count is estimated within a few standard errors.
    assert abs(found.counts[i] - 0.35 * n) < 5 * found.std_errors[i]
    assert [len(level) > 0 for level in found.per_level] == [True] * 6
    assert "p" in found.per_level[0]


def test_nothing_frequent_nothing_found() -> None:
    disc = PrefixDiscovery(RAPPOR, alphabet=string.ascii_lowercase, length=6)
    reports = disc.privatize(random_words(12_000, seed=2), rng=SecureRandom.seeded(3))
    found = disc.discover(reports)
    assert found.strings == ()


def test_each_user_pays_one_report(tmp_path: Path) -> None:
    disc = PrefixDiscovery(RAPPOR, alphabet="ab", length=2)
    assert disc.event == RAPPOR.report_event
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("words", epsilon=3.0)
        reports = disc.privatize(["ab", "ba", "a"], rng=SecureRandom.seeded(1), budget=budget)
        assert budget.spent()[0] == pytest.approx(RAPPOR.epsilon_one)
    assert len(reports) == 3
    assert set(reports.groups.tolist()) <= {0, 1}


def test_bad_input_is_refused_without_echoing_it() -> None:
    disc = PrefixDiscovery(RAPPOR, alphabet="abc", length=3)
    with pytest.raises(ParameterError, match="outside the alphabet") as info:
        disc.privatize(["abc", "SECRET"])
    assert "SECRET" not in str(info.value)
    with pytest.raises(ParameterError, match="distinct"):
        PrefixDiscovery(RAPPOR, alphabet="aab", length=3)
    with pytest.raises(ParameterError, match="candidates"):
        PrefixDiscovery(RAPPOR, alphabet=string.printable[:90], length=8, segment=3)
    assert disc.levels == (1, 2, 3)
    assert PrefixDiscovery(RAPPOR, alphabet="ab", length=5, segment=2).levels == (2, 4, 5)
    assert 0 < disc.min_share(30_000) < 1
