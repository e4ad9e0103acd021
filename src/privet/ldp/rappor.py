"""RAPPOR: strings collected with local DP through a Bloom filter and two randomized responses.

Erlingsson, Pihur, Korolova, "RAPPOR: Randomized Aggregatable Privacy-Preserving Ordinal
Response", CCS 2014 (arXiv:1407.6981). A client holding a string ``v`` in cohort ``j``:

1. **Signal** (Section 2, step 1): sets the ``h`` bits of a ``k``-bit Bloom filter ``B``
   chosen by the cohort's hash functions.
2. **Permanent randomized response** (step 2): each bit becomes 1 with probability ``f/2``,
   0 with probability ``f/2``, and stays ``B_i`` otherwise. The result ``B'`` is drawn once
   per (client, value) and *memoised* (:mod:`privet.ldp.rappor_memo`): every later report on
   the same value reuses it, which is what bounds a client's lifetime loss by ε∞.
3. **Instantaneous randomized response** (step 3): each report draws fresh bits ``S`` with
   ``P(S_i = 1) = q`` where ``B'_i = 1`` and ``p`` where ``B'_i = 0``.

Privacy (Section 3): ε∞ = 2h·ln((1 − f/2)/(f/2)) for everything ever reported on one value
(Theorem 1, Section 3.1); ε₁ = h·ln(q*(1 − p*)/(p*(1 − q*))) for one report (Theorem 2,
Section 3.2), with q* = f/2·(p + q) + (1 − f)·q and p* = f/2·(p + q) + (1 − f)·p the
probabilities that a reported bit is 1 when the Bloom bit is 1 or 0.

The Bloom filters use a keyed hash family (:mod:`privet.ldp.rappor_encoding`).

Examples
--------
>>> r = Rappor(num_bloombits=16, num_hashes=2, num_cohorts=4, f=0.5, p=0.25, q=0.75)
>>> round(r.epsilon_one, 3), round(r.epsilon_inf, 3)
(2.043, 4.394)
>>> from privet.core import SecureRandom
>>> from privet.ldp.rappor_memo import MemoryPrrMemo
>>> memo = MemoryPrrMemo()
>>> rng = SecureRandom.seeded(1)
>>> reports = r.privatize(["a.com", "b.com"], clients=["u1", "u2"], memo=memo, rng=rng)
>>> reports.bits.shape, reports.bits.dtype.name
((2, 16), 'uint8')
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.accounting.events import LocalRandomizerEvent
from privet.core.checks import check_int, check_probability
from privet.core.errors import ParameterError, ParameterTypeError
from privet.core.random import SecureRandom, resolve_rng
from privet.ldp.rappor_encoding import (
    DEFAULT_HASH_KEY,
    BloomFamily,
    RapporReports,
    as_value_bytes,
    is_binary,
)

if TYPE_CHECKING:
    from privet.ldp.rappor_memo import PrrMemo
    from privet.store import Budget

__all__ = ["DEFAULT_HASH_KEY", "Rappor", "RapporReports", "as_value_bytes"]

_MAX_BITS: Final = 4096
_MAX_HASHES: Final = 16  # 16 words of 32 bits fill one 64-byte BLAKE2b digest
_MAX_COHORTS: Final = 1 << 20
_CHUNK_ROWS: Final = 1 << 15


class Rappor:
    """The RAPPOR mechanism's parameters, its privacy, and its client-side randomizers.

    Parameters
    ----------
    num_bloombits
        ``k``, the Bloom filter's size in bits (1 to 4096).
    num_hashes
        ``h``, the bits each value sets (1 to 16, at most ``k``).
    num_cohorts
        ``m``, the cohorts (each with its own hash functions); clients are assigned one at
        random and keep it.
    f
        The permanent randomized response's noise, in (0, 1): a bit is replaced by a fair
        coin with probability ``f``. ``f = 0`` (no permanent noise) is refused: then
        repeated reports would reveal the value (ε∞ = ∞).
    p, q
        The instantaneous response's probabilities of reporting 1 for a permanent bit of 0
        and 1, with ``0 <= p < q <= 1``.
    hash_key
        The public key of the hash family (up to 64 bytes); see the module docstring.

    Examples
    --------
    >>> chrome = Rappor(num_bloombits=128, num_hashes=2, num_cohorts=128,
    ...                 f=0.5, p=0.25, q=0.75)
    >>> chrome
    Rappor(k=128, h=2, m=128, f=0.5, p=0.25, q=0.75)
    >>> round(chrome.q_star, 4), round(chrome.p_star, 4)
    (0.625, 0.375)
    >>> chrome.event
    LocalRandomizerEvent(mechanism='rappor', epsilon=4.394449154672439)
    """

    def __init__(
        self,
        *,
        num_bloombits: int,
        num_hashes: int,
        num_cohorts: int,
        f: float,
        p: float,
        q: float,
        hash_key: bytes = DEFAULT_HASH_KEY,
    ) -> None:
        self._k = check_int(num_bloombits, name="num_bloombits", minimum=1)
        if self._k > _MAX_BITS:
            raise ParameterError(f"num_bloombits must be <= {_MAX_BITS}, got {self._k}")
        self._h = check_int(num_hashes, name="num_hashes", minimum=1)
        if self._h > min(self._k, _MAX_HASHES):
            raise ParameterError(
                f"num_hashes must be <= min(num_bloombits, {_MAX_HASHES}) = "
                f"{min(self._k, _MAX_HASHES)}, got {self._h}"
            )
        self._m = check_int(num_cohorts, name="num_cohorts", minimum=1)
        if self._m > _MAX_COHORTS:
            raise ParameterError(f"num_cohorts must be <= {_MAX_COHORTS}, got {self._m}")
        self._f = check_probability(f, name="f", allow_zero=False, allow_one=False)
        self._p = check_probability(p, name="p")
        self._q = check_probability(q, name="q")
        if not self._p < self._q:
            raise ParameterError(
                f"p must be < q (a reported 1 must be likelier when the bit is 1), got "
                f"p={self._p}, q={self._q}; Chrome used p=0.25, q=0.75"
            )
        if not isinstance(hash_key, bytes) or len(hash_key) > 64:
            raise ParameterTypeError("hash_key must be bytes of length <= 64")
        self._key = bytes(hash_key)
        self._family = BloomFamily(
            key=self._key, num_bloombits=self._k, num_hashes=self._h, num_cohorts=self._m
        )

    # -- parameters ------------------------------------------------------------------------

    @property
    def num_bloombits(self) -> int:
        """``k``, the Bloom filter's size in bits."""
        return self._k

    @property
    def num_hashes(self) -> int:
        """``h``, the bits each value sets."""
        return self._h

    @property
    def num_cohorts(self) -> int:
        """``m``, the number of cohorts."""
        return self._m

    @property
    def f(self) -> float:
        """The permanent randomized response's noise probability."""
        return self._f

    @property
    def p(self) -> float:
        """P(report 1 | permanent bit 0)."""
        return self._p

    @property
    def q(self) -> float:
        """P(report 1 | permanent bit 1)."""
        return self._q

    @property
    def hash_key(self) -> bytes:
        """The public key selecting the hash family member."""
        return self._key

    @property
    def q_star(self) -> float:
        """q* = P(reported bit 1 | Bloom bit 1) = f/2·(p + q) + (1 − f)·q (Section 3.2)."""
        return 0.5 * self._f * (self._p + self._q) + (1.0 - self._f) * self._q

    @property
    def p_star(self) -> float:
        """p* = P(reported bit 1 | Bloom bit 0) = f/2·(p + q) + (1 − f)·p (Section 3.2)."""
        return 0.5 * self._f * (self._p + self._q) + (1.0 - self._f) * self._p

    # -- privacy ---------------------------------------------------------------------------

    @property
    def epsilon_inf(self) -> float:
        """ε∞ = 2h·ln((1 − f/2)/(f/2)): the bound on everything reported about one value.

        Erlingsson et al. 2014, Theorem 1 (Section 3.1): the permanent randomized response
        is ε∞-DP, and every instantaneous report is post-processing of it.
        """
        half = 0.5 * self._f
        return 2.0 * self._h * math.log((1.0 - half) / half)

    @property
    def epsilon_one(self) -> float:
        """ε₁ = h·ln(q*(1 − p*)/(p*(1 − q*))): the privacy of one single report.

        Erlingsson et al. 2014, Theorem 2 (Section 3.2).
        """
        qs, ps = self.q_star, self.p_star
        return self._h * math.log(qs * (1.0 - ps) / (ps * (1.0 - qs)))

    @property
    def event(self) -> LocalRandomizerEvent:
        """The lifetime cost of one memoised (client, value): ``LocalRandomizerEvent`` at ε∞.

        :meth:`privatize` with a memo charges it once to a budget for a collection round
        that draws any new permanent randomized response, and nothing for a round whose
        every report reuses a memoised one (Theorem 1: all those reports together are
        ε∞-DP).
        """
        return LocalRandomizerEvent(mechanism="rappor", epsilon=self.epsilon_inf)

    @property
    def report_event(self) -> LocalRandomizerEvent:
        """The cost of one unmemoised report: ``LocalRandomizerEvent`` at ε₁.

        :meth:`privatize` without a memo charges it for every call (every call is a new
        collection whose reports compose with the earlier ones).
        """
        return LocalRandomizerEvent(mechanism="rappor-report", epsilon=self.epsilon_one)

    # -- configuration ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready dict (the key as hex).

        Examples
        --------
        >>> r = Rappor(num_bloombits=8, num_hashes=1, num_cohorts=2, f=0.5, p=0.25, q=0.75)
        >>> Rappor.from_dict(r.to_dict()) == r
        True
        """
        return {
            "mechanism": "rappor",
            "num_bloombits": self._k,
            "num_hashes": self._h,
            "num_cohorts": self._m,
            "f": self._f,
            "p": self._p,
            "q": self._q,
            "hash_key": self._key.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rappor:
        """Rebuild from :meth:`to_dict` output, validating every field."""
        if not isinstance(data, dict):
            raise ParameterTypeError(f"a RAPPOR config must be a dict, got {type(data).__name__}")
        known = {"mechanism", "num_bloombits", "num_hashes", "num_cohorts", "f", "p", "q"}
        extra = set(data) - known - {"hash_key"}
        if extra:
            raise ParameterError(f"unknown RAPPOR config keys {sorted(extra)}")
        missing = known - {"mechanism"} - set(data)
        if missing:
            raise ParameterError(f"RAPPOR config lacks {sorted(missing)}")
        if data.get("mechanism", "rappor") != "rappor":
            raise ParameterError(f"not a RAPPOR config: mechanism={data.get('mechanism')!r}")
        key_hex = data.get("hash_key", DEFAULT_HASH_KEY.hex())
        try:
            key = bytes.fromhex(key_hex)
        except (TypeError, ValueError):
            raise ParameterError("hash_key must be a hex string") from None
        return cls(
            num_bloombits=data["num_bloombits"],
            num_hashes=data["num_hashes"],
            num_cohorts=data["num_cohorts"],
            f=data["f"],
            p=data["p"],
            q=data["q"],
            hash_key=key,
        )

    @property
    def fingerprint(self) -> str:
        """A SHA-256 hex digest of the parameters (binds a memo to one configuration)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rappor):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return (
            f"Rappor(k={self._k}, h={self._h}, m={self._m}, f={self._f}, p={self._p}, q={self._q})"
        )

    # -- signal: Bloom filters -------------------------------------------------------------

    def bloom(self, values: object, cohorts: object) -> NDArray[np.uint8]:
        """Return the Bloom filters ``B`` of ``values`` (step 1 of Section 2), one row each.

        Each distinct (cohort, value) pair is hashed once, then rows are gathered.

        Parameters
        ----------
        values
            ``n`` strings or bytes.
        cohorts
            ``n`` cohorts in ``[0, num_cohorts)``.

        Returns
        -------
        numpy.ndarray
            ``uint8`` 0/1 array of shape ``(n, k)`` with at most ``h`` ones per row.

        Examples
        --------
        >>> r = Rappor(num_bloombits=8, num_hashes=2, num_cohorts=2, f=0.5, p=0.25, q=0.75)
        >>> b = r.bloom(["x", "x"], [0, 0])
        >>> bool((b[0] == b[1]).all()) and 1 <= int(b[0].sum()) <= 2
        True
        """
        return self._family.filters(values, cohorts)

    def candidate_patterns(self, candidates: object) -> NDArray[np.uint8]:
        """Return every candidate's Bloom filter in every cohort: shape ``(m, k, M)``.

        This is the design matrix of the server's regression (Section 4).

        Examples
        --------
        >>> r = Rappor(num_bloombits=8, num_hashes=2, num_cohorts=3, f=0.5, p=0.25, q=0.75)
        >>> r.candidate_patterns(["a", "b"]).shape
        (3, 8, 2)
        """
        return self._family.patterns(candidates)

    def check_cohorts(self, cohorts: object, *, n: int) -> NDArray[np.int64]:
        """Return ``cohorts`` as an ``int64`` array of length ``n`` in ``[0, m)``."""
        return self._family.check_cohorts(cohorts, n=n)

    # -- the two randomized responses ------------------------------------------------------

    def permanent(self, bloom: NDArray[np.uint8], *, rng: SecureRandom | None = None) -> Any:
        """Draw permanent randomized responses ``B'`` (step 2): a SHARP tool.

        Each bit is replaced by a fair coin with probability ``f``. Calling this twice on
        the same value gives two independent ``B'``, whose reports together are NOT
        ε∞-bounded: use :meth:`privatize` with a memo, which draws ``B'`` once.

        Parameters
        ----------
        bloom
            ``(n, k)`` 0/1 Bloom filters.
        rng
            The generator (``None``: a fresh OS-keyed one).

        Returns
        -------
        numpy.ndarray
            ``uint8`` 0/1 array of the same shape.
        """
        b = self._check_bits(bloom, name="bloom")
        gen = resolve_rng(rng)
        out = np.empty_like(b)
        for lo in range(0, b.shape[0], _CHUNK_ROWS):
            blk = b[lo : lo + _CHUNK_ROWS]
            noisy = gen.bernoulli(blk.shape, p=self._f)  # P(replace) = f
            coins = gen.bits(blk.shape)  # the replacement: 1 or 0 with f/2 each
            out[lo : lo + _CHUNK_ROWS] = np.where(noisy, coins, blk)
        return out

    def instantaneous(self, prr: NDArray[np.uint8], *, rng: SecureRandom | None = None) -> Any:
        """Draw instantaneous randomized responses ``S`` (step 3) from ``B'``.

        ``P(S_i = 1) = q`` where ``B'_i = 1`` and ``p`` where ``B'_i = 0``, fresh each call.

        Parameters
        ----------
        prr
            ``(n, k)`` 0/1 permanent randomized responses.
        rng
            The generator (``None``: a fresh OS-keyed one).

        Returns
        -------
        numpy.ndarray
            ``uint8`` 0/1 array of the same shape.
        """
        b = self._check_bits(prr, name="prr")
        gen = resolve_rng(rng)
        out = np.empty_like(b)
        for lo in range(0, b.shape[0], _CHUNK_ROWS):
            blk = b[lo : lo + _CHUNK_ROWS]
            ones = gen.bernoulli(blk.shape, p=self._q)
            zeros = gen.bernoulli(blk.shape, p=self._p)
            out[lo : lo + _CHUNK_ROWS] = np.where(blk == 1, ones, zeros)
        return out

    def _check_bits(self, bits: object, *, name: str) -> NDArray[np.uint8]:
        arr = np.asarray(bits)
        if arr.ndim != 2 or arr.shape[1] != self._k:
            raise ParameterError(f"{name} must have shape (n, {self._k}), got {arr.shape}")
        if not is_binary(arr):
            raise ParameterError(f"{name} must hold only 0 and 1")
        return arr.astype(np.uint8, copy=False)

    # -- the client ------------------------------------------------------------------------

    def privatize(
        self,
        values: object,
        *,
        clients: Sequence[str | int] | None = None,
        memo: PrrMemo | None = None,
        cohorts: object = None,
        rng: SecureRandom | None = None,
        budget: Budget | None = None,
    ) -> RapporReports:
        """Report ``values`` (one per client) with RAPPOR, vectorised over the clients.

        With a ``memo`` (the safe recipe), each client keeps one cohort and one permanent
        randomized response per value, drawn once from the CSPRNG and reused by every later
        report: all of a client's reports on one value together cost at most ε∞. Without a
        memo, cohorts (unless given) and permanent responses are drawn afresh: each call is
        a separate collection costing ε₁ per client, and calls compose.

        Budget rule (one budget per client population; charged before any draw):

        * with a memo: :attr:`event` (ε∞) once for a call that draws at least one new
          permanent response; nothing when every (client, value) was memoised already
          (their cost was charged when their responses were drawn);
        * without a memo: :attr:`report_event` (ε₁) for every call.

        Parameters
        ----------
        values
            ``n`` strings or bytes.
        clients
            ``n`` client ids (``str`` or ``int``); required with a memo.
        memo
            A :class:`~privet.ldp.rappor_memo.PrrMemo` (in memory or SQLite).
        cohorts
            Without a memo only: the clients' cohorts (default: uniform draws).
        rng
            The generator (``None``: a fresh OS-keyed one).
        budget
            A :class:`privet.store.Budget` to charge first.

        Returns
        -------
        RapporReports
            The clients' cohorts and reported bits.

        Raises
        ------
        BudgetExceededError
            If the budget cannot afford the charge (nothing is drawn or memoised then).

        Examples
        --------
        >>> from privet.core import SecureRandom
        >>> from privet.ldp.rappor_memo import MemoryPrrMemo
        >>> r = Rappor(num_bloombits=32, num_hashes=2, num_cohorts=2, f=0.5, p=0.25, q=0.75)
        >>> memo, rng = MemoryPrrMemo(), SecureRandom.seeded(0)
        >>> a = r.privatize(["v"], clients=["c"], memo=memo, rng=rng)
        >>> b = r.privatize(["v"], clients=["c"], memo=memo, rng=rng)
        >>> bool((memo.permanent(r, ["c"], ["v"]) == memo.permanent(r, ["c"], ["v"])).all())
        True
        """
        raw = as_value_bytes(values)
        n = len(raw)
        gen = resolve_rng(rng)
        if memo is None:
            given = None if cohorts is None else self.check_cohorts(cohorts, n=n)
            if budget is not None:
                budget.charge(self.report_event, label=f"rappor: {n} unmemoised reports")
            coh = given if given is not None else gen.integers(n, low=0, high=self._m)
            prr = self.permanent(self.bloom(raw, coh), rng=gen)
            return RapporReports(coh, self.instantaneous(prr, rng=gen))
        if clients is None:
            raise ParameterError("clients is required with a memo: pass one id per value")
        if cohorts is not None:
            raise ParameterError(
                "cohorts cannot be given with a memo: the memo assigns each client its cohort"
            )
        coh, prr = memo.resolve(self, clients, raw, rng=gen, budget=budget)
        return RapporReports(coh, self.instantaneous(prr, rng=gen))
