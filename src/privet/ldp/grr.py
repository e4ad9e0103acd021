"""Generalized randomized response (GRR, k-RR, "direct encoding").

Each user reports their true value with probability ``p = e^ε / (e^ε + d - 1)`` and each
other value with probability ``q = 1 / (e^ε + d - 1)`` (Kairouz, Oh, Viswanath, NeurIPS 2014,
"Extremal mechanisms for local differential privacy"; Wang, Blocki, Li, Jha, USENIX Security
2017, arXiv:1705.04421, Section 4, "Direct Encoding"). ``p / q = e^ε``: ε-LDP.

The server counts the reports equal to each value (``p* = p``, ``q* = q``) and inverts:
``Var* = n·(e^ε + d - 2) / (e^ε - 1)²`` (Wang et al. 2017, Section 4, direct encoding: the
pure-protocol variance with these p, q). It grows with d: GRR is the best oracle only for
small domains, ``d < 3e^ε + 2`` (Wang et al. 2017, Section 4; see :func:`best_oracle`).

**Report format.** One integer per user in ``[0, d)``: a 1-D array of the smallest unsigned
dtype that holds ``d - 1`` (``uint8`` for d ≤ 256). ``ceil(log2 d)`` bits.

Examples
--------
>>> from privet.core import SecureRandom
>>> grr = GRR(epsilon=2.0, domain_size=3)
>>> reports = grr.privatize([0, 0, 1, 2, 2, 2], rng=SecureRandom.seeded(5))
>>> reports.dtype.name, reports.shape
('uint8', (6,))
>>> grr.event
RandomizedResponseEvent(epsilon=2.0, num_buckets=3)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from privet.accounting.events import PrivacyEvent, RandomizedResponseEvent
from privet.core.random import SecureRandom
from privet.ldp.oracles import FrequencyOracle, check_codes, code_dtype, perturb_categorical

__all__ = ["GRR"]


class GRR(FrequencyOracle):
    """Generalized randomized response over d values: report the truth w.p. e^ε/(e^ε+d-1).

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
    >>> grr = GRR(epsilon=1.0, domain_size=4)
    >>> values = np.repeat(np.arange(4), [4000, 3000, 2000, 1000])
    >>> est = grr.estimate(grr.privatize(values, rng=SecureRandom.seeded(0)))
    >>> [round(c, -3) for c in est.counts.tolist()]
    [4000.0, 3000.0, 2000.0, 1000.0]
    >>> round(grr.variance(10_000))  # n (e^ε + d - 2) / (e^ε - 1)²
    15981
    """

    mechanism: ClassVar[str] = "grr"

    def __init__(self, *, epsilon: float, domain_size: int) -> None:
        super().__init__(epsilon=epsilon, domain_size=domain_size)
        # keep / other = r <= e^ε exactly (Kairouz et al. 2014; Wang et al. 2017, DE).
        self._keep = self._e / (self._e + self._d - 1)
        self._dtype = code_dtype(self._d)

    @property
    def event(self) -> PrivacyEvent:
        """``RandomizedResponseEvent(epsilon, num_buckets=d)``.

        GRR is k-ary randomized response, which accountants can price exactly.
        """
        return RandomizedResponseEvent(epsilon=self._epsilon, num_buckets=self._d)

    @property
    def support_probabilities(self) -> tuple[float, float]:
        """``(p, q)``: P(report = true value), P(report = a given other value)."""
        keep = self._keep
        return float(keep), float((1 - keep) / (self._d - 1))

    @property
    def report_bits(self) -> int:
        """``ceil(log2 d)``."""
        return math.ceil(math.log2(self._d))

    def _randomize(self, values: NDArray[np.int64], rng: SecureRandom) -> NDArray[Any]:
        out = perturb_categorical(values, k=self._d, keep=self._keep, rng=rng)
        return out.astype(self._dtype)

    def _support(self, reports: Any) -> tuple[NDArray[np.int64], int]:
        codes = check_codes(reports, bound=self._d, oracle=repr(self))
        support = np.bincount(codes.astype(np.intp, copy=False), minlength=self._d)
        return support.astype(np.int64, copy=False), int(codes.shape[0])
