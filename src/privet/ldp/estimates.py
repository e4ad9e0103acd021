"""What a frequency oracle's server computes: the tally, the estimate, its post-processing.

* :class:`Tally` — the sufficient statistic of a batch of reports: how many reports
  *support* each value (Wang et al. 2017's ``Support`` counts) and how many reports there
  were. Tallies of the same oracle add up, so a server can aggregate reports chunk by chunk
  (or on several machines) and estimate once.
* :class:`FrequencyEstimate` — the unbiased counts, their variance and confidence intervals.
* :func:`clip_negatives` and :func:`norm_sub` — post-processing that makes the counts
  consistent (non-negative, summing to n).

**Post-processing is free.** Everything here works on reports that are already ε-LDP; any
function of them is ε-LDP too (Dwork & Roth 2014, Proposition 2.1), so clipping or
projecting costs no privacy. It does cost unbiasedness: post-processed counts are biased
(towards zero for rare values), though usually closer to the truth in total (Wang et al.
2020, NDSS, "Locally Differentially Private Frequency Estimation with Consistency",
arXiv:1905.08320, Sections IV and VI).

Examples
--------
>>> import numpy as np
>>> norm_sub(np.array([5.0, -2.0, 1.0]), total=4).tolist()
[4.0, 0.0, 0.0]
>>> clip_negatives(np.array([5.0, -2.0, 1.0])).tolist()
[5.0, 0.0, 1.0]
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privet.core.checks import check_finite, check_probability
from privet.core.errors import DataError, ParameterError, ParameterTypeError

__all__ = ["FrequencyEstimate", "Tally", "clip_negatives", "norm_sub"]


@dataclasses.dataclass(frozen=True, eq=False)
class Tally:
    """The support counts of a batch of reports: all a server keeps to estimate.

    ``support[x]`` is the number of reports that support value ``x`` (for GRR: reports equal
    to ``x``; for unary encoding: reports whose bit ``x`` is set; for OLH: reports whose hash
    of ``x`` equals the reported bucket; for Hadamard response: reports in ``x``'s half of
    the code). Tallies of the same oracle add with ``+``.

    Attributes
    ----------
    mechanism : str
        The oracle that made the reports (``"grr"``, ``"oue"`` …).
    epsilon : float
        Its ε.
    domain_size : int
        d.
    support : numpy.ndarray
        ``int64`` array of length d.
    n : int
        The number of reports.

    Examples
    --------
    >>> import numpy as np
    >>> a = Tally("grr", 1.0, 3, np.array([2, 0, 1]), 3)
    >>> b = Tally("grr", 1.0, 3, np.array([0, 1, 0]), 1)
    >>> (a + b).support.tolist(), (a + b).n
    ([2, 1, 1], 4)
    """

    mechanism: str
    epsilon: float
    domain_size: int
    support: NDArray[np.int64]
    n: int

    def __add__(self, other: object) -> Tally:
        if not isinstance(other, Tally):
            return NotImplemented
        if (other.mechanism, other.epsilon, other.domain_size) != (
            self.mechanism,
            self.epsilon,
            self.domain_size,
        ):
            raise ParameterError(
                f"cannot add a tally of {other.mechanism} (ε={other.epsilon:g}, "
                f"d={other.domain_size}) to one of {self.mechanism} (ε={self.epsilon:g}, "
                f"d={self.domain_size}); aggregate each oracle's reports separately"
            )
        return Tally(
            self.mechanism,
            self.epsilon,
            self.domain_size,
            self.support + other.support,
            self.n + other.n,
        )

    def __repr__(self) -> str:
        return f"Tally({self.mechanism}, ε={self.epsilon:g}, d={self.domain_size}, n={self.n})"


@dataclasses.dataclass(frozen=True, eq=False)
class FrequencyEstimate:
    """Unbiased estimates of how many users hold each value, with their variance.

    The counts come from the pure-protocol estimator of Wang et al. 2017 (USENIX Security,
    arXiv:1705.04421, Section 3, Theorem 2): with ``S_x`` reports supporting ``x``,
    ``p*`` = P(a report supports the sender's value) and ``q*`` = P(it supports another
    given value), ``counts[x] = (S_x - n·q*) / (p* - q*)``, whose variance is
    ``n·q*(1-q*)/(p*-q*)² + n_x·(1-p*-q*)/(p*-q*)`` (same theorem).

    Attributes
    ----------
    counts : numpy.ndarray
        ``float64`` array of length d: the unbiased count estimates (they can be negative,
        and need not sum to n; see :meth:`norm_sub`).
    variance : float
        Wang et al.'s approximate variance ``Var* = n·q*(1-q*)/(p*-q*)²`` of every count:
        the exact variance of a value nobody holds, and the figure papers compare oracles by.
    item_variance : numpy.ndarray
        The exact variance formula per value, with ``n_x`` replaced by the estimate clipped
        to ``[0, n]``: what :meth:`confidence_interval` uses.
    n : int
        The number of reports.
    mechanism : str
        The oracle.
    epsilon : float
        Its ε.
    p_star, q_star : float
        The support probabilities the estimator inverted.

    Examples
    --------
    >>> import numpy as np
    >>> est = FrequencyEstimate(
    ...     counts=np.array([60.0, 40.0]), variance=25.0, item_variance=np.array([30.0, 29.0]),
    ...     n=100, mechanism="grr", epsilon=1.0, p_star=0.73, q_star=0.27)
    >>> est.frequencies.tolist()
    [0.6, 0.4]
    >>> lo, hi = est.confidence_interval(0.95)
    >>> round(float(lo[0]), 2), round(float(hi[0]), 2)
    (49.26, 70.74)
    """

    counts: NDArray[np.float64]
    variance: float
    item_variance: NDArray[np.float64]
    n: int
    mechanism: str
    epsilon: float
    p_star: float
    q_star: float

    @property
    def domain_size(self) -> int:
        """d, the number of values estimated."""
        return int(self.counts.shape[0])

    @property
    def frequencies(self) -> NDArray[np.float64]:
        """``counts / n``: the estimated fraction of users holding each value."""
        out: NDArray[np.float64] = self.counts / float(self.n)
        return out

    @property
    def std(self) -> NDArray[np.float64]:
        """The standard deviation of each count (the square root of :attr:`item_variance`)."""
        out: NDArray[np.float64] = np.sqrt(self.item_variance)
        return out

    def confidence_interval(
        self, level: float = 0.95
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return normal-approximation intervals ``counts ± z·std`` for each count.

        The count is a sum of n independent reports, so it is close to normal once the
        expected support counts are large (say ≥ 30); the variance is estimated (plug-in),
        so the coverage is approximate.

        Parameters
        ----------
        level : float
            The coverage, in (0, 1).

        Returns
        -------
        tuple of numpy.ndarray
            ``(low, high)``, each of length d.
        """
        lvl = check_probability(level, name="level", allow_zero=False, allow_one=False)
        z = statistics.NormalDist().inv_cdf(0.5 + lvl / 2.0)
        half = z * self.std
        return self.counts - half, self.counts + half

    def clipped(self) -> NDArray[np.float64]:
        """Return the counts with negatives set to 0 (free post-processing).

        Returns
        -------
        numpy.ndarray
            See :func:`clip_negatives`.
        """
        return clip_negatives(self.counts)

    def norm_sub(self) -> NDArray[np.float64]:
        """Return the counts made consistent by Norm-Sub (free post-processing).

        Returns
        -------
        numpy.ndarray
            Non-negative counts summing to n; see :func:`norm_sub`.

        Examples
        --------
        >>> import numpy as np
        >>> est = FrequencyEstimate(
        ...     counts=np.array([8.0, 3.0, -1.0]), variance=1.0,
        ...     item_variance=np.ones(3), n=10, mechanism="oue", epsilon=1.0,
        ...     p_star=0.5, q_star=0.27)
        >>> est.norm_sub().tolist()
        [7.5, 2.5, 0.0]
        """
        return norm_sub(self.counts, total=self.n)

    def __repr__(self) -> str:
        return (
            f"FrequencyEstimate({self.mechanism}, ε={self.epsilon:g}, d={self.domain_size}, "
            f"n={self.n}, Var*={self.variance:.6g})"
        )


def _as_counts(counts: object) -> NDArray[np.float64]:
    if not isinstance(counts, np.ndarray):
        raise ParameterTypeError(
            f"counts must be a numpy array, got {type(counts).__name__}; pass estimate.counts"
        )
    if counts.ndim != 1 or counts.size == 0:
        raise ParameterError(f"counts must be a non-empty 1-D array, got shape {counts.shape}")
    if counts.dtype.kind not in "iuf":
        raise ParameterTypeError(f"counts must be numeric, got dtype {counts.dtype}")
    out = counts.astype(np.float64)
    if not np.isfinite(out).all():
        raise DataError("counts hold NaN or infinite values; pass finite estimates")
    return out


def clip_negatives(counts: NDArray[Any]) -> NDArray[np.float64]:
    """Return a copy of ``counts`` with negative entries set to 0 (free post-processing).

    Parameters
    ----------
    counts : numpy.ndarray
        Estimated counts (1-D, finite).

    Returns
    -------
    numpy.ndarray
        ``float64`` counts, each ``max(c, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> clip_negatives(np.array([-1, 2])).tolist()
    [0.0, 2.0]
    """
    return np.maximum(_as_counts(counts), 0.0)


def norm_sub(counts: NDArray[Any], *, total: float) -> NDArray[np.float64]:
    """Return consistent counts: ``max(c - δ, 0)`` with δ chosen so that they sum to ``total``.

    Norm-Sub of Wang et al. 2020 (NDSS, arXiv:1905.08320, Section IV): negative counts become
    0 and one constant δ is subtracted from (or added to) the positive ones until the total is
    right. It is the Euclidean projection of ``counts`` onto ``{x >= 0, sum(x) = total}``,
    computed exactly by sorting (Duchi, Shalev-Shwartz, Singer, Chandra, ICML 2008, Figure 1,
    scaled by ``total``). Post-processing: it costs no privacy.

    Parameters
    ----------
    counts : numpy.ndarray
        Estimated counts (1-D, finite).
    total : float
        The sum the output must have: the number of reports n (>= 0).

    Returns
    -------
    numpy.ndarray
        ``float64`` counts, non-negative, summing to ``total`` (up to rounding).

    Raises
    ------
    ParameterError
        If ``total`` is negative or not finite, or ``counts`` is empty.

    Examples
    --------
    >>> import numpy as np
    >>> norm_sub(np.array([6.0, 3.0, -2.0, 1.0]), total=7).tolist()
    [5.0, 2.0, 0.0, 0.0]
    >>> norm_sub(np.array([1.0, 1.0]), total=6).tolist()  # δ < 0: mass is added back
    [3.0, 3.0]
    """
    c = _as_counts(counts)
    tot = check_finite(total, name="total")
    if tot < 0:
        raise ParameterError(f"total must be >= 0, got {tot!r}; pass the number of reports")
    if tot == 0:
        return np.zeros_like(c)
    s = np.sort(c)[::-1]
    cum = np.cumsum(s)
    k = np.arange(1, s.size + 1, dtype=np.float64)
    # The largest k with s_k > (sum of the k largest - total) / k; k = 1 always qualifies
    # because total > 0 (s_1·1 - cum_1 is exactly 0 in floating point too).
    ok = (s * k - cum) + tot > 0
    last = int(np.flatnonzero(ok)[-1])
    delta = (cum[last] - tot) / (last + 1)
    out: NDArray[np.float64] = np.maximum(c - delta, 0.0)
    return out
