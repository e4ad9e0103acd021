"""Optimized local hashing (OLH), with a linear hash family the server inverts by a transform.

Wang, Blocki, Li, Jha, USENIX Security 2017 (arXiv:1705.04421), Section 4, "Local Hashing":
each user draws a random hash function ``h: [0, d) → [0, g)`` from a universal family, hashes
their value and reports ``(h, y)`` where ``y`` is generalized randomized response over the g
buckets of ``h(v)``: ``y = h(v)`` with probability ``p = e^ε / (e^ε + g - 1)``. For any fixed
h this is ε-LDP, and h does not depend on v, so the report is ε-LDP. A report supports every
x with ``h(x) = y``: ``p* = p`` and, for a universal family, ``q* = 1/g``; with
``g = e^ε + 1`` the variance is ``Var* = n·4e^ε / (e^ε - 1)²``, the same as OUE's (OLH,
Wang et al. 2017, Section 4). privet picks the integer g (a prime power, below) that
minimises ``(e^ε - 1 + g)² / (g - 1)``: g = 4 at ε = 1, as pure-ldp's ``round(e^ε) + 1``, and
``Var* = 36,917`` for n = 10,000 (0.24 % above the real-g figure 36,827).

**The hash family.** ``g = p^k`` for a prime p. A value x is written as m base-p digits
(``p^m >= d``) and hashed by a k×m matrix A over GF(p): ``h_A(x) = A·x`` (k digits = one
bucket). For ``x ≠ v``, ``x - v`` is a non-zero vector, so each row of a uniform A maps it to
a uniform digit and ``P(h_A(x) = h_A(v)) = p^-k = 1/g`` *exactly*: the family is universal
(for p = 2 it is Carter & Wegman's class H3 of XORs of random words, "Universal classes of
hash functions", JCSS 18(2):143–154, 1979), so ``q* = 1/g`` holds exactly, not
approximately as with a generic hash. The key A is drawn per user from the CSPRNG.

**The server is fast because the family is linear.** Counting, for every x, the reports with
``A_i·x = y_i`` costs n·d hash evaluations done naively (pure-ldp: one xxhash call per user
and value). Here ``[A·x = y] = p^-k · sum_{s ∈ GF(p)^k} ω^(s·(A·x - y))`` (ω = e^(2πi/p)),
so the support of every x is one d-point transform of a histogram with (g - 1) entries per
report: ``O(n·g + d log d)`` time and ``O(d)`` memory. For p = 2 the transform is the exact
integer Walsh–Hadamard transform; for odd p an m-dimensional FFT (rounded to integers).

**Report format.** :class:`HashedReports`: ``seeds``, an ``(n, k)`` unsigned array (row j of
each user's A, as the integer whose base-p digits are the row), and ``hashed``, the ``(n,)``
bucket reported in ``[0, g)``. ``k·ceil(m·log2 p) + ceil(log2 g)`` bits per user.

Examples
--------
>>> import numpy as np
>>> from privet.core import SecureRandom
>>> olh = OLH(epsilon=1.0, domain_size=1024)
>>> olh.hash_range
4
>>> reports = olh.privatize(np.arange(5), rng=SecureRandom.seeded(0))
>>> reports.seeds.shape, reports.hashed.shape
((5, 2), (5,))
>>> round(olh.variance(10_000))
36917
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, ClassVar, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.checks import check_int
from privet.core.errors import DataError, ParameterError, ParameterTypeError
from privet.core.random import SecureRandom
from privet.ldp.hadamard import fwht
from privet.ldp.oracles import FrequencyOracle, check_codes, code_dtype, perturb_categorical

__all__ = ["OLH", "HashedReports"]

_MAX_HASH_RANGE: Final = 1 << 12
"""The largest g accepted: beyond it, GRR over the domain is the better oracle."""

_CHUNK: Final = 1 << 18
"""Reports transformed per pass by the server (bounds its temporary memory)."""


@dataclasses.dataclass(frozen=True, eq=False)
class HashedReports:
    """OLH reports: each user's hash key and the bucket they reported.

    Attributes
    ----------
    seeds : numpy.ndarray
        ``(n, k)`` unsigned integers: the rows of each user's hash matrix A.
    hashed : numpy.ndarray
        ``(n,)`` unsigned integers in ``[0, g)``: the randomized bucket.

    Examples
    --------
    >>> import numpy as np
    >>> r = HashedReports(np.zeros((3, 2), dtype=np.uint16), np.zeros(3, dtype=np.uint8))
    >>> len(r)
    3
    """

    seeds: NDArray[Any]
    hashed: NDArray[Any]

    def __len__(self) -> int:
        return int(self.hashed.shape[0])

    def __getitem__(self, index: slice) -> HashedReports:
        """Return the reports of a slice of users (``reports[a:b]``)."""
        if not isinstance(index, slice):
            raise ParameterTypeError("index HashedReports with a slice, e.g. reports[0:100]")
        return HashedReports(self.seeds[index], self.hashed[index])

    def __repr__(self) -> str:
        return f"HashedReports(n={len(self)}, rows={self.seeds.shape[1:]})"


def prime_power(g: int) -> tuple[int, int] | None:
    """Return ``(p, k)`` with ``g = p**k`` and p prime, or None if g is not a prime power.

    Examples
    --------
    >>> prime_power(8), prime_power(9), prime_power(7), prime_power(12)
    ((2, 3), (3, 2), (7, 1), None)
    """
    if g < 2:
        return None
    p = next((f for f in range(2, math.isqrt(g) + 1) if g % f == 0), g)
    k, rest = 0, g
    while rest % p == 0:
        rest //= p
        k += 1
    return (p, k) if rest == 1 else None


def best_hash_range(epsilon: float) -> int:
    """Return the prime power g minimising OLH's variance factor ``(e^ε - 1 + g)² / (g - 1)``.

    The real minimiser is ``g = e^ε + 1`` (Wang et al. 2017, Section 4, OLH); the family
    here needs a prime power, and the factor is flat near its minimum (at most a few
    percent above it).

    Examples
    --------
    >>> best_hash_range(1.0), best_hash_range(2.0), best_hash_range(0.5)
    (4, 8, 3)
    """
    e = math.exp(epsilon)
    top = min(_MAX_HASH_RANGE, max(4, math.ceil(2 * (e + 1))))
    best, best_factor = 2, math.inf
    for g in range(2, top + 1):
        if prime_power(g) is None:
            continue
        factor = (e - 1 + g) ** 2 / (g - 1)
        if factor < best_factor:
            best, best_factor = g, factor
    return best


class OLH(FrequencyOracle):
    """Optimized local hashing: a per-user linear hash to g buckets, then GRR over them.

    Parameters
    ----------
    epsilon : float
        The local privacy parameter ε (> 0).
    domain_size : int
        d (>= 2).
    hash_range : int, optional
        g, a prime power in ``[2, 4096]``; default: the one minimising the variance.

    Examples
    --------
    >>> import numpy as np
    >>> from privet.core import SecureRandom
    >>> olh = OLH(epsilon=1.0, domain_size=6)
    >>> values = np.repeat(np.arange(6), [3000, 2000, 2000, 1000, 1000, 1000])
    >>> est = olh.estimate(olh.privatize(values, rng=SecureRandom.seeded(6)))
    >>> [round(c, -3) for c in est.counts.tolist()]
    [3000.0, 2000.0, 2000.0, 1000.0, 1000.0, 1000.0]
    """

    mechanism: ClassVar[str] = "olh"

    def __init__(self, *, epsilon: float, domain_size: int, hash_range: int | None = None) -> None:
        super().__init__(epsilon=epsilon, domain_size=domain_size)
        g = best_hash_range(self._epsilon) if hash_range is None else hash_range
        g = check_int(g, name="hash_range")
        pk = prime_power(g)
        if pk is None or g > _MAX_HASH_RANGE:
            raise ParameterError(
                f"hash_range must be a prime power in [2, {_MAX_HASH_RANGE}] (2, 3, 4, 5, 7, "
                f"8, 9 …), got {g}; or leave it out to use the best one for ε"
            )
        self._g = g
        self._p, self._k = pk
        self._m = 1
        while self._p**self._m < self._d:
            self._m += 1
        self._key_bound = self._p**self._m
        # GRR over the g buckets: keep/other = r <= e^ε (Wang et al. 2017, Section 4).
        self._keep = self._e / (self._e + g - 1)
        self._seed_dtype = code_dtype(self._key_bound)
        self._hash_dtype = code_dtype(g)

    def __repr__(self) -> str:
        return f"OLH(epsilon={self._epsilon:g}, domain_size={self._d}, hash_range={self._g})"

    @property
    def hash_range(self) -> int:
        """g: the number of hash buckets (``p**k``)."""
        return self._g

    @property
    def support_probabilities(self) -> tuple[float, float]:
        """``(p, 1/g)``: P(y = h(v) | v), P(y = h(x) | v ≠ x) (exact, universal family)."""
        return float(self._keep), 1.0 / self._g

    @property
    def report_bits(self) -> int:
        """``k·ceil(log2 p^m) + ceil(log2 g)``."""
        key_bits = math.ceil(math.log2(self._key_bound))
        return self._k * key_bits + math.ceil(math.log2(self._g))

    # -- hashing ---------------------------------------------------------------------------

    def _digits(self, x: NDArray[np.int64]) -> NDArray[np.int64]:
        """Base-p digits of ``x`` on a new last axis of length m (least significant first)."""
        powers = self._p ** np.arange(self._m, dtype=np.int64)
        out: NDArray[np.int64] = (x[..., None] // powers) % self._p
        return out

    def hash(self, seeds: NDArray[Any], values: NDArray[Any]) -> NDArray[np.int64]:
        """Return ``h_A(values)``: each user's value hashed with their key ``A``.

        Parameters
        ----------
        seeds : numpy.ndarray
            ``(n, k)`` keys (as in :class:`HashedReports`).
        values : numpy.ndarray
            ``(n,)`` values in ``[0, d)``, or a scalar value hashed with every key.

        Returns
        -------
        numpy.ndarray
            ``int64`` buckets in ``[0, g)``.

        Examples
        --------
        >>> import numpy as np
        >>> olh = OLH(epsilon=1.0, domain_size=4)  # g = 4 = 2², keys are 2 rows of 2 bits
        >>> olh.hash(np.array([[1, 2]]), np.array([3])).tolist()  # rows 01, 10 · x = 11
        [3]
        """
        a = np.asarray(seeds).astype(np.int64)
        x = np.asarray(values).astype(np.int64)
        if a.ndim != 2 or a.shape[1] != self._k:
            raise ParameterError(f"seeds of {self!r} have shape (n, {self._k}), got {a.shape}")
        x = np.broadcast_to(x, a.shape[:1])
        p = self._p
        out = np.zeros(a.shape[0], dtype=np.int64)
        if p == 2:
            for j in range(self._k):
                bit = np.bitwise_count(a[:, j] & x).astype(np.int64) & 1
                out |= bit << j
            return out
        xd = self._digits(x)  # (n, m)
        for j in range(self._k):
            row = (self._digits(a[:, j]) * xd).sum(axis=1) % p
            out += row * p**j
        return out

    # -- client ----------------------------------------------------------------------------

    def _randomize(self, values: NDArray[np.int64], rng: SecureRandom) -> HashedReports:
        n = values.shape[0]
        seeds = rng.integers((n, self._k), low=0, high=self._key_bound)
        buckets = self.hash(seeds, values)
        y = perturb_categorical(buckets, k=self._g, keep=self._keep, rng=rng)
        return HashedReports(seeds.astype(self._seed_dtype), y.astype(self._hash_dtype))

    # -- server ----------------------------------------------------------------------------

    def _check(self, reports: Any) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if isinstance(reports, HashedReports):
            seeds, hashed = reports.seeds, reports.hashed
        elif isinstance(reports, tuple) and len(reports) == 2:
            seeds, hashed = reports
        else:
            raise ParameterTypeError(
                f"reports of {self!r} are HashedReports (or a (seeds, hashed) pair), got "
                f"{type(reports).__name__}"
            )
        y = check_codes(hashed, bound=self._g, oracle=repr(self))
        if not isinstance(seeds, np.ndarray) or seeds.dtype.kind not in "iu":
            raise ParameterTypeError(f"seeds of {self!r} are an integer numpy array")
        if seeds.shape != (y.shape[0], self._k):
            raise ParameterError(
                f"seeds of {self!r} have shape (n, {self._k}) with n = {y.shape[0]} reports, "
                f"got {seeds.shape}; check that ε (hence g) and d match"
            )
        bad = seeds >= self._key_bound
        if seeds.dtype.kind == "i":
            bad |= seeds < 0
        if np.any(bad):
            raise DataError(
                f"some seeds lie outside [0, {self._key_bound}): they were not made by "
                f"{self!r}; check that d matches"
            )
        return seeds.astype(np.int64), y.astype(np.int64)

    def _support(self, reports: Any) -> tuple[NDArray[np.int64], int]:
        seeds, y = self._check(reports)
        n = int(y.shape[0])
        size = self._key_bound
        if self._p == 2:
            acc = np.zeros(size, dtype=np.int64)
            for start in range(0, n, _CHUNK):
                part = slice(start, start + _CHUNK)
                acc += self._binary_histogram(seeds[part], y[part])
            acc[0] += n  # s = 0: every report contributes +1 at u = 0
            # Σ_u acc[u]·(-1)^<u,x> = 2^k · #{i : A_i x = y_i}  (exact integers)
            support = fwht(acc)[: self._d] >> self._k
            return support, n
        total = np.zeros(size, dtype=np.complex128)
        for start in range(0, n, _CHUNK):
            part = slice(start, start + _CHUNK)
            total += self._odd_histogram(seeds[part], y[part])
        total[0] += n
        p, m = self._p, self._m
        # Σ_u G[u]·ω^<u,x> = p^m · ifftn(G) on the (p,)*m grid (same digit order for u, x).
        spectrum = np.fft.ifftn(total.reshape((p,) * m)).reshape(-1) * (p**m / p**self._k)
        support = np.rint(spectrum.real[: self._d]).astype(np.int64)
        return support, n

    def _binary_histogram(
        self, seeds: NDArray[np.int64], y: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """G[u] = Σ_i Σ_{s ≠ 0} (-1)^{popcount(s & y_i)} [⊕_{j ∈ s} A_ij = u], over GF(2)."""
        size = self._key_bound
        acc = np.zeros(size, dtype=np.int64)
        for s in range(1, self._g):
            u = np.zeros(seeds.shape[0], dtype=np.int64)
            for j in range(self._k):
                if s >> j & 1:
                    u ^= seeds[:, j]
            odd = np.bitwise_count(y & s).astype(np.int64) & 1
            counts = np.bincount(2 * u + odd, minlength=2 * size)
            acc += counts[0::2] - counts[1::2]
        return acc

    def _odd_histogram(
        self, seeds: NDArray[np.int64], y: NDArray[np.int64]
    ) -> NDArray[np.complex128]:
        """G[u] = Σ_i Σ_{s ≠ 0} ω^{-s·y_i} [Σ_j s_j A_ij = u], over GF(p), p odd."""
        p, k, m = self._p, self._k, self._m
        size = self._key_bound
        powers = p ** np.arange(m, dtype=np.int64)
        rows = [self._digits(seeds[:, j]) for j in range(k)]  # k arrays (n, m)
        y_digits = [(y // p**j) % p for j in range(k)]
        angle = 2.0 * np.pi / p
        cos_table = np.cos(angle * np.arange(p))
        sin_table = np.sin(angle * np.arange(p))
        out = np.zeros(size, dtype=np.complex128)
        for s in itertools.product(range(p), repeat=k):
            if not any(s):
                continue
            u_digits = sum(s[j] * rows[j] for j in range(k) if s[j]) % p
            u = u_digits @ powers
            phase = (-sum(s[j] * y_digits[j] for j in range(k))) % p
            out.real += np.bincount(u, weights=cos_table[phase], minlength=size)
            out.imag += np.bincount(u, weights=sin_table[phase], minlength=size)
        return out
