"""Discovering frequent strings that are in no dictionary: prefix extension over RAPPOR.

RAPPOR's decoder (:mod:`privet.ldp.rappor_decode`) only finds strings it is told to look
for. Fanti, Pihur, Erlingsson, "Building a RAPPOR with the Unknown" (PoPETs 2016,
arXiv:1503.01214) learn unknown strings from RAPPOR reports of n-gram pairs decoded with
EM. privet uses the simpler *prefix-extension* idea of Wang, Li, Jha, "Locally
Differentially Private Heavy Hitter Identification" (arXiv:1708.06674, the Prefix
Extending Method, PEM; also Bassily et al. 2017's prefix tree), with RAPPOR as the
frequency oracle of each level:

1. Strings are over a public ``alphabet``, padded (with an end mark) or cut to ``length``
   characters. The prefix lengths ``segment, 2·segment, …, length`` are the levels.
2. **Each user is put in one level's group at random** (CSPRNG) and reports, once, the
   prefix of that length with RAPPOR (no memo: one report, ε₁).
3. The server decodes level 1 against every possible first segment; each later level
   against the extensions (by one segment) of the previous level's detected prefixes, at
   most ``max_candidates`` of them (the largest estimates). What survives the last level is
   the discovered strings, with counts scaled from the group to the whole population.

**Privacy.** Every user sends exactly one RAPPOR report, so each user's cost is ε₁
(:attr:`PrefixDiscovery.event`): the population is split across levels, not the privacy
budget. (The alternative, every user reporting every level at ε₁/levels, is not offered.)

**Limits.** A level sees only ``N/levels`` reports, so a string is found only if its share
clears that level's detection threshold (about ``z·σ`` with ``σ ∝ sqrt(levels/N)``; see
:meth:`PrefixDiscovery.min_share`) at *every* level; prefixes are at least as frequent as
the string, so the last level is the binding one. Strings longer than ``length`` are cut,
characters outside the alphabet are refused, and at most ``max_candidates`` prefixes are
followed per level (a long tail of near-threshold prefixes can crowd out a real one).

Examples
--------
>>> from privet.core import SecureRandom
>>> from privet.ldp.rappor import Rappor
>>> r = Rappor(num_bloombits=32, num_hashes=2, num_cohorts=8, f=0.5, p=0.25, q=0.75)
>>> disc = PrefixDiscovery(r, alphabet="abc", length=3)
>>> disc.levels
(1, 2, 3)
>>> reports = disc.privatize(["abc"] * 9000 + ["cab"] * 3000, rng=SecureRandom.seeded(2))
>>> found = disc.discover(reports)
>>> sorted(found.strings)
['abc', 'cab']
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from privet.accounting.events import LocalRandomizerEvent
from privet.core.checks import check_int, check_probability
from privet.core.errors import ParameterError, ParameterTypeError
from privet.core.random import SecureRandom, resolve_rng
from privet.ldp.rappor import Rappor, RapporReports
from privet.ldp.rappor_decode import RapporCounts, decode_rappor

if TYPE_CHECKING:
    from privet.store import Budget

__all__ = ["DiscoveryReports", "DiscoveryResult", "PrefixDiscovery"]

END: Final = "\x00"
"""The end mark padding strings shorter than ``length`` (never part of the alphabet)."""

_MAX_LEVEL_CANDIDATES: Final = 20_000


@dataclasses.dataclass(frozen=True, eq=False)
class DiscoveryReports:
    """Each user's level (group) and RAPPOR report of the prefix of that level's length."""

    groups: NDArray[np.int64]
    reports: RapporReports

    def __len__(self) -> int:
        return int(self.groups.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class DiscoveryResult:
    """Discovered strings, their estimated population counts and standard errors.

    ``per_level`` lists, for each level, the prefixes that survived it (end marks removed).
    """

    strings: tuple[str, ...]
    counts: NDArray[np.float64]
    std_errors: NDArray[np.float64]
    per_level: tuple[tuple[str, ...], ...]


class PrefixDiscovery:
    r"""Find frequent strings without a dictionary: RAPPOR on growing prefixes.

    Parameters
    ----------
    rappor
        The RAPPOR mechanism of every level.
    alphabet
        The characters strings may use (distinct; the end mark ``\x00`` is added).
    length
        The longest string (longer ones are cut to it).
    segment
        Characters added per level.
    max_candidates
        The most prefixes followed from one level to the next.
    alpha
        Each level's family-wise significance level (Bonferroni within the level).
    """

    def __init__(
        self,
        rappor: Rappor,
        *,
        alphabet: str,
        length: int,
        segment: int = 1,
        max_candidates: int = 16,
        alpha: float = 0.05,
    ) -> None:
        if not isinstance(rappor, Rappor):
            raise ParameterTypeError(f"rappor must be a Rappor, got {type(rappor).__name__}")
        if not isinstance(alphabet, str) or not alphabet:
            raise ParameterError("alphabet must be a non-empty string of allowed characters")
        if len(set(alphabet)) != len(alphabet) or END in alphabet:
            raise ParameterError("alphabet must hold distinct characters and no NUL")
        self._rappor = rappor
        self._alphabet = alphabet
        self._length = check_int(length, name="length", minimum=1)
        self._segment = check_int(segment, name="segment", minimum=1)
        self._max = check_int(max_candidates, name="max_candidates", minimum=1)
        self._alpha = check_probability(alpha, name="alpha", allow_zero=False, allow_one=False)
        self._levels = tuple(
            min(i, self._length)
            for i in range(self._segment, self._length + self._segment, self._segment)
        )
        widest = (len(alphabet) + 1) ** self._segment * max(self._max, 1)
        if widest > _MAX_LEVEL_CANDIDATES:
            raise ParameterError(
                f"a level could hold {widest} candidates (> {_MAX_LEVEL_CANDIDATES}); use a "
                "smaller segment, alphabet or max_candidates"
            )

    @property
    def levels(self) -> tuple[int, ...]:
        """The prefix length of each level."""
        return self._levels

    @property
    def event(self) -> LocalRandomizerEvent:
        """Each user's cost: one unmemoised RAPPOR report, ε₁ (``rappor.report_event``)."""
        return self._rappor.report_event

    def _pad(self, values: Sequence[str]) -> list[str]:
        if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
            raise ParameterTypeError("values must be a sequence of strings, one per user")
        allowed = set(self._alphabet)
        out = []
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise ParameterTypeError(f"values[{i}] must be a str")
            cut = v[: self._length]
            if not set(cut) <= allowed:
                raise ParameterError(
                    f"values[{i}] has characters outside the alphabet; map or drop them first"
                )
            out.append(cut + END * (self._length - len(cut)))
        return out

    def privatize(
        self,
        values: Sequence[str],
        *,
        rng: SecureRandom | None = None,
        budget: Budget | None = None,
    ) -> DiscoveryReports:
        """Assign each user a level at random and report that prefix with RAPPOR.

        Parameters
        ----------
        values
            One string per user.
        rng
            The generator (``None``: a fresh OS-keyed one).
        budget
            The population's budget: :attr:`event` is charged once, before any draw.

        Returns
        -------
        DiscoveryReports
            The users' levels and reports.
        """
        padded = self._pad(values)
        if budget is not None:
            budget.charge(self.event, label=f"prefix discovery: {len(padded)} users, one report")
        gen = resolve_rng(rng)
        groups = gen.integers(len(padded), low=0, high=len(self._levels))
        prefixes = [v[: self._levels[g]] for v, g in zip(padded, groups.tolist(), strict=True)]
        return DiscoveryReports(groups, self._rappor.privatize(prefixes, rng=gen))

    def discover(self, reports: DiscoveryReports) -> DiscoveryResult:
        """Decode level by level, extending the detected prefixes.

        Parameters
        ----------
        reports
            What :meth:`privatize` returned (possibly gathered from many clients).

        Returns
        -------
        DiscoveryResult
            The discovered strings (largest first); empty if a level detects nothing.
        """
        if not isinstance(reports, DiscoveryReports):
            raise ParameterTypeError("reports must be DiscoveryReports")
        total = len(reports)
        symbols = self._alphabet + END
        survivors = [""]
        kept: list[tuple[str, ...]] = []
        counts = np.zeros(0)
        errors = np.zeros(0)
        previous = 0
        for g, size in enumerate(self._levels):
            rows = np.flatnonzero(reports.groups == g)
            if rows.size == 0:
                return DiscoveryResult((), np.zeros(0), np.zeros(0), tuple(kept))
            sub = RapporReports(reports.reports.cohorts[rows], reports.reports.bits[rows])
            cands = []
            for prefix in survivors:
                if prefix.endswith(END):  # a finished string only extends with end marks
                    cands.append(prefix + END * (size - previous))
                    continue
                for ext in itertools.product(symbols, repeat=size - previous):
                    tail = "".join(ext)
                    if END in tail.rstrip(END):
                        continue  # an end mark is followed only by end marks
                    cands.append(prefix + tail)
            est = decode_rappor(
                self._rappor, RapporCounts.from_reports(self._rappor, sub), cands, alpha=self._alpha
            )
            found = np.flatnonzero(est.detected)
            found = found[np.argsort(-est.counts[found], kind="stable")][: self._max]
            if found.size == 0:
                return DiscoveryResult((), np.zeros(0), np.zeros(0), tuple(kept))
            scale = total / rows.size  # the group is a uniform sample of the population
            survivors = [cands[s] for s in found.tolist()]
            counts, errors = est.counts[found] * scale, est.std_errors[found] * scale
            kept.append(tuple(s.rstrip(END) for s in survivors))
            previous = size
        return DiscoveryResult(tuple(kept[-1]), counts, errors, tuple(kept))

    def min_share(self, num_users: int) -> float:
        """Roughly the smallest share a string needs to be found with ``num_users`` users.

        One Bloom bit's detection threshold (:func:`~privet.ldp.rappor_decode.
        detection_frequency`) with ``num_users / levels`` reports at the Bonferroni level of
        the last level's candidate count: a guide for choosing ``length`` and ``segment``,
        not a guarantee.

        Examples
        --------
        >>> from privet.ldp.rappor import Rappor
        >>> r = Rappor(num_bloombits=32, num_hashes=2, num_cohorts=8, f=0.5, p=0.25, q=0.75)
        >>> d = PrefixDiscovery(r, alphabet="abcdefghijklmnopqrstuvwxyz", length=6)
        >>> 0 < d.min_share(60_000) < 0.1
        True
        """
        n = check_int(num_users, name="num_users", minimum=1) / len(self._levels)
        m_cand = self._max * (len(self._alphabet) + 1) ** self._segment
        ps, qs = self._rappor.p_star, self._rappor.q_star
        z = float(stats.norm.isf(self._alpha / m_cand))
        return z * math.sqrt(ps * (1 - ps) * n) / ((qs - ps) * n)
