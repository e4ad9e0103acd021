"""Unary encoding: SUE (basic RAPPOR) and OUE (optimized unary encoding).

A user holding ``v`` encodes it as the d-bit vector with only bit ``v`` set, then flips every
bit independently: a 1 stays 1 with probability ``p``, a 0 becomes 1 with probability ``q``.
The report is ε-LDP with ``ε = ln(p(1-q) / ((1-p)q))`` (Wang, Blocki, Li, Jha, USENIX
Security 2017, arXiv:1705.04421, Section 4, "Unary Encoding": two inputs differ in two bits).

* **SUE** (symmetric; the one-time, unhashed RAPPOR of Erlingsson, Pihur, Korolova, CCS 2014):
  ``p = e^(ε/2) / (e^(ε/2) + 1)``, ``q = 1 - p``; ``Var* = n·e^(ε/2) / (e^(ε/2) - 1)²``.
* **OUE** (Wang et al. 2017, Section 4, "Optimized Unary Encoding"): ``p = 1/2``,
  ``q = 1 / (e^ε + 1)``, the q minimising the variance; ``Var* = n·4e^ε / (e^ε - 1)²``
  (36,827 for n = 10,000 and ε = 1).

**Exact probabilities.** Each bit is an exact Bernoulli of a multiple of 2^-32
(:func:`~privet.ldp.oracles.bernoulli_dyadic`, about one random byte per bit): p is rounded
down and q up, which can only lower ``p(1-q)/((1-p)q)``, so the ratio bound holds exactly
and the variance changes by less than 1e-8 relative.

**Report format.** A ``uint8`` matrix of shape ``(n, ceil(d/8))``: each row is the user's
d bits packed with :func:`numpy.packbits` (bit ``x`` is bit ``7 - x % 8`` of byte ``x // 8``;
padding bits are 0). :meth:`~UnaryEncoding.estimate` also accepts the unpacked ``(n, d)``
matrix of 0/1 (bool or integers). d bits per user.

Examples
--------
>>> import numpy as np
>>> from privet.core import SecureRandom
>>> oue = OUE(epsilon=1.0, domain_size=10)
>>> reports = oue.privatize(np.zeros(3, dtype=np.int64), rng=SecureRandom.seeded(1))
>>> reports.shape, reports.dtype.name
((3, 2), 'uint8')
>>> round(oue.variance(10_000))
36827
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, ClassVar, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import DataError, ParameterError, ParameterTypeError
from privet.core.random import SecureRandom
from privet.ldp.oracles import FrequencyOracle, bernoulli_dyadic, exp_below

__all__ = ["OUE", "SUE", "UnaryEncoding"]

_PRECISION_BYTES: Final = 4
"""Bit probabilities are multiples of 256**-4 = 2**-32."""

_SCALE: Final = 256**_PRECISION_BYTES

_BLOCK_BITS: Final = 1 << 18
"""Bits randomized per block: keeps the block's random bytes in cache."""

_SUM_ROWS: Final = 255
"""Rows summed in uint8 before widening: 255 bits cannot overflow a byte."""


class UnaryEncoding(FrequencyOracle):
    """Base class of SUE and OUE: d bits, a 1 kept with probability p, a 0 set with q.

    Subclasses set the exact thresholds ``_t_one`` (P(1 → 1) · 2^32) and ``_t_zero``
    (P(0 → 1) · 2^32).
    """

    _t_one: int
    _t_zero: int

    @property
    def support_probabilities(self) -> tuple[float, float]:
        """``(p, q)``: P(bit of the true value is 1), P(any other bit is 1)."""
        return self._t_one / _SCALE, self._t_zero / _SCALE

    @property
    def report_bits(self) -> int:
        """d: one bit per value."""
        return self._d

    def _randomize(self, values: NDArray[np.int64], rng: SecureRandom) -> NDArray[np.uint8]:
        n, d = values.shape[0], self._d
        out = np.empty((n, (d + 7) // 8), dtype=np.uint8)
        block = max(1, _BLOCK_BITS // d)
        for start in range(0, n, block):
            v = values[start : start + block]
            m = v.shape[0]
            # Every bit is drawn as a 0 first; the true value's bit is then replaced by a
            # fresh, independent draw with the 1 → 1 probability.
            bits = bernoulli_dyadic(rng, (m, d), threshold=self._t_zero, nbytes=_PRECISION_BYTES)
            bits[np.arange(m), v] = bernoulli_dyadic(
                rng, m, threshold=self._t_one, nbytes=_PRECISION_BYTES
            )
            out[start : start + m] = np.packbits(bits, axis=1)
        return out

    def _support(self, reports: Any) -> tuple[NDArray[np.int64], int]:
        d = self._d
        width = (d + 7) // 8
        if not isinstance(reports, np.ndarray):
            raise ParameterTypeError(
                f"reports of {self!r} are a numpy uint8 matrix, got {type(reports).__name__}"
            )
        if reports.ndim != 2 or reports.shape[1] not in (width, d):
            raise ParameterError(
                f"reports of {self!r} have shape (n, {width}) (packed bits) or (n, {d}) "
                f"(one 0/1 per value), got {reports.shape}; check that d matches"
            )
        if reports.dtype != np.bool_ and reports.dtype.kind not in "iu":
            raise ParameterTypeError(
                f"reports of {self!r} are uint8 (packed) or 0/1 bits, got dtype {reports.dtype}"
            )
        n = int(reports.shape[0])
        if reports.shape[1] == d:  # unpacked: d != ceil(d/8) for every d >= 2
            return self._sum_unpacked(reports), n
        if reports.dtype != np.uint8:
            raise ParameterTypeError(
                f"packed reports of {self!r} are uint8, got dtype {reports.dtype}"
            )
        pad = 8 * width - d
        if pad and np.any(reports[:, -1] & np.uint8((1 << pad) - 1)):
            raise DataError(
                f"some reports set padding bits beyond value {d - 1}: they were not made by "
                f"{self!r}; check that d matches"
            )
        total = np.zeros(d, dtype=np.int64)
        rows = max(_SUM_ROWS, (_BLOCK_BITS * 8 // d) // _SUM_ROWS * _SUM_ROWS)
        for start in range(0, n, rows):
            bits = np.unpackbits(reports[start : start + rows], axis=1, count=d)
            total += _column_sums(bits)
        return total, n

    def _sum_unpacked(self, reports: NDArray[Any]) -> NDArray[np.int64]:
        if reports.dtype != np.bool_:
            bad = (reports != 0) & (reports != 1)
            if np.any(bad):
                raise DataError(
                    f"unpacked reports of {self!r} hold values other than 0 and 1; pass the "
                    "packed uint8 reports privatize returned"
                )
        return _column_sums(reports.astype(np.uint8, copy=False))


def _column_sums(bits: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Column sums of a 0/1 ``uint8`` matrix: groups of 255 rows add in ``uint8`` first."""
    r, d = bits.shape
    full = r // _SUM_ROWS * _SUM_ROWS
    total = np.zeros(d, dtype=np.int64)
    if full:
        partial = bits[:full].reshape(-1, _SUM_ROWS, d).sum(axis=1, dtype=np.uint8)
        total += partial.sum(axis=0, dtype=np.int64)
    if r > full:
        total += bits[full:].sum(axis=0, dtype=np.int64)
    return total


def _round_down(x: Fraction) -> int:
    return math.floor(x * _SCALE)


def _round_up(x: Fraction) -> int:
    return math.ceil(x * _SCALE)


class SUE(UnaryEncoding):
    """Symmetric unary encoding (basic one-time RAPPOR): ``p = e^(ε/2)/(e^(ε/2)+1)``, q = 1-p.

    Parameters
    ----------
    epsilon : float
        The local privacy parameter ε (> 0).
    domain_size : int
        d (>= 2).

    Examples
    --------
    >>> sue = SUE(epsilon=1.0, domain_size=8)
    >>> p, q = sue.support_probabilities
    >>> round(p, 6), round(q, 6)
    (0.622459, 0.377541)
    """

    mechanism: ClassVar[str] = "sue"

    def __init__(self, *, epsilon: float, domain_size: int) -> None:
        super().__init__(epsilon=epsilon, domain_size=domain_size)
        half = exp_below(self._epsilon / 2.0)  # r <= e^(ε/2)
        # p/(1-p) <= r and (1-q)/q <= r, so p(1-q)/((1-p)q) <= r² <= e^ε
        # (Wang et al. 2017, Section 4, unary encoding privacy condition).
        self._t_one = _round_down(half / (half + 1))
        self._t_zero = _round_up(1 / (half + 1))


class OUE(UnaryEncoding):
    """Optimized unary encoding: ``p = 1/2``, ``q = 1/(e^ε + 1)`` (Wang et al. 2017).

    Parameters
    ----------
    epsilon : float
        The local privacy parameter ε (> 0).
    domain_size : int
        d (>= 2).

    Examples
    --------
    >>> import numpy as np
    >>> from privet.core import SecureRandom
    >>> oue = OUE(epsilon=1.0, domain_size=3)
    >>> values = np.repeat([0, 1, 2], [5000, 3000, 2000])
    >>> est = oue.estimate(oue.privatize(values, rng=SecureRandom.seeded(3)))
    >>> [round(c, -3) for c in est.counts.tolist()]
    [5000.0, 3000.0, 2000.0]
    """

    mechanism: ClassVar[str] = "oue"

    def __init__(self, *, epsilon: float, domain_size: int) -> None:
        super().__init__(epsilon=epsilon, domain_size=domain_size)
        # p = 1/2 exactly; (1-q)/q <= r <= e^ε (Wang et al. 2017, Section 4, OUE).
        self._t_one = _SCALE // 2
        self._t_zero = _round_up(1 / (self._e + 1))
