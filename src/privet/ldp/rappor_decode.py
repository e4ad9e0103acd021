"""Server-side RAPPOR decoding against a dictionary of candidate strings.

Erlingsson, Pihur, Korolova 2014 (arXiv:1407.6981), Section 4, in three steps:

1. **Counts.** Per cohort ``j``: ``N_j`` reports, and ``c_ij`` of them with bit ``i`` set
   (:class:`RapporCounts`; counts of several batches add up).
2. **Unbiased Bloom-bit counts** (Section 4, first equation)::

       t̂_ij = (c_ij − (p + ½fq − ½fp)·N_j) / ((1 − f)(q − p))

   ``E[c_ij] = p*·N_j + (q* − p*)·t_ij`` with ``q* − p* = (1 − f)(q − p)`` and
   ``p* = p + ½f(q − p)``, so ``E[t̂_ij] = t_ij``. Its variance, ``Var(c_ij)/(q* − p*)²``,
   is estimated with the observed rate ``r = c_ij/N_j`` as ``N_j·r(1 − r)/(q* − p*)²``
   (binomial; an upper bound for the heterogeneous Bernoulli sum).
3. **Regression** of the estimated bit fractions ``y_ji = t̂_ij/N_j`` on the candidates'
   Bloom patterns ``X`` (``X[(j,i), s] = 1`` iff candidate ``s`` sets bit ``i`` in cohort
   ``j``), ``y ≈ X·π`` with ``π`` the candidates' population shares. The paper selects
   candidates with the Lasso, then fits ordinary least squares on them and keeps those
   significant at the Bonferroni level α/M (M candidates). Here: weighted non-negative
   least squares (``scipy.optimize.nnls``, each row weighted by its inverse standard error)
   selects the support; weighted OLS on the support gives estimates and standard errors
   ``sqrt(diag((XᵀWX)⁻¹))``, scaled up by the residual dispersion when it exceeds 1 (strings
   outside the dictionary, cohort imbalance); a one-sided z-test gives p-values; candidates
   with ``p < α/M`` are *detected* and refitted alone.

The standard errors are calibrated when the dictionary holds every reported string (in
tests, z-scores of the true counts have mean 0 and standard deviation 1). Strings outside
the dictionary set Bloom bits that the fit partly assigns to candidates sharing them: those
estimates are biased upwards and their intervals too narrow; the residual dispersion only
partly corrects for it. :mod:`privet.ldp.discovery` finds such strings first.

Examples
--------
>>> import numpy as np
>>> from privet.core import SecureRandom
>>> from privet.ldp.rappor import Rappor
>>> r = Rappor(num_bloombits=32, num_hashes=2, num_cohorts=8, f=0.5, p=0.25, q=0.75)
>>> rng = SecureRandom.seeded(5)
>>> values = ["red"] * 6000 + ["green"] * 3000 + ["blue"] * 1000
>>> reports = r.privatize(values, rng=rng)
>>> est = decode_rappor(r, RapporCounts.from_reports(r, reports), ["red", "green", "blue", "pink"])
>>> [c for c, d in zip(est.candidates, est.detected) if d]
['red', 'green', 'blue']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, optimize, stats

from privet.core.checks import check_probability
from privet.core.errors import ParameterError, ParameterTypeError
from privet.ldp.rappor import Rappor, RapporReports, as_value_bytes

__all__ = [
    "BloomEstimate",
    "RapporCounts",
    "RapporEstimate",
    "decode_rappor",
    "detection_frequency",
    "estimate_bloom_counts",
]


@dataclasses.dataclass(frozen=True, eq=False)
class RapporCounts:
    """Aggregated RAPPOR reports: per cohort, the reports and the reported 1s per bit.

    Parameters
    ----------
    num_reports
        ``int64`` array ``(m,)``: ``N_j``.
    bit_counts
        ``int64`` array ``(m, k)``: ``c_ij``.

    Examples
    --------
    >>> import numpy as np
    >>> a = RapporCounts(np.array([2, 0]), np.array([[1, 2], [0, 0]]))
    >>> (a + a).num_reports.tolist()
    [4, 0]
    """

    num_reports: NDArray[np.int64]
    bit_counts: NDArray[np.int64]

    def __post_init__(self) -> None:
        n = np.asarray(self.num_reports, dtype=np.int64)
        c = np.asarray(self.bit_counts, dtype=np.int64)
        if n.ndim != 1 or c.ndim != 2 or c.shape[0] != n.shape[0]:
            raise ParameterError(
                f"num_reports must be (m,) and bit_counts (m, k), got {n.shape} and {c.shape}"
            )
        if (n < 0).any() or (c < 0).any() or (c > n[:, None]).any():
            raise ParameterError("counts must satisfy 0 <= bit_counts <= num_reports per cohort")
        object.__setattr__(self, "num_reports", n)
        object.__setattr__(self, "bit_counts", c)

    @classmethod
    def from_reports(cls, rappor: Rappor, reports: RapporReports) -> RapporCounts:
        """Aggregate reports (vectorised: one ``bincount`` per bit).

        Raises
        ------
        ParameterError
            If a report's width or cohort does not fit ``rappor``.
        """
        if not isinstance(reports, RapporReports):
            raise ParameterTypeError(f"reports must be RapporReports, got {type(reports).__name__}")
        m, k = rappor.num_cohorts, rappor.num_bloombits
        if reports.bits.shape[1] != k:
            raise ParameterError(
                f"reports have {reports.bits.shape[1]} bits, the mechanism has {k}; decode "
                "with the parameters the reports were made with"
            )
        coh = rappor.check_cohorts(reports.cohorts, n=len(reports))
        n = np.bincount(coh, minlength=m).astype(np.int64)
        c = np.empty((m, k), dtype=np.int64)
        for i in range(k):
            c[:, i] = np.bincount(coh, weights=reports.bits[:, i], minlength=m).astype(np.int64)
        return cls(n, c)

    @classmethod
    def zeros(cls, rappor: Rappor) -> RapporCounts:
        """Return empty counts for ``rappor``'s shape."""
        return cls(
            np.zeros(rappor.num_cohorts, dtype=np.int64),
            np.zeros((rappor.num_cohorts, rappor.num_bloombits), dtype=np.int64),
        )

    @property
    def total(self) -> int:
        """The number of reports, ``N``."""
        return int(self.num_reports.sum())

    def __add__(self, other: RapporCounts) -> RapporCounts:
        if not isinstance(other, RapporCounts) or other.bit_counts.shape != self.bit_counts.shape:
            return NotImplemented
        return RapporCounts(
            self.num_reports + other.num_reports, self.bit_counts + other.bit_counts
        )


@dataclasses.dataclass(frozen=True, eq=False)
class BloomEstimate:
    """Unbiased estimates of the true Bloom-bit counts ``t_ij`` and their variances."""

    counts: NDArray[np.float64]
    variance: NDArray[np.float64]


def estimate_bloom_counts(rappor: Rappor, counts: RapporCounts) -> BloomEstimate:
    """Estimate how many clients of each cohort had each Bloom bit set (Section 4).

    Parameters
    ----------
    rappor
        The mechanism the reports were made with.
    counts
        The aggregated reports.

    Returns
    -------
    BloomEstimate
        ``t̂`` of shape ``(m, k)`` (unbiased, may be negative) and its estimated variance.

    Examples
    --------
    >>> import numpy as np
    >>> r = Rappor(num_bloombits=1, num_hashes=1, num_cohorts=1, f=0.5, p=0.25, q=0.75)
    >>> est = estimate_bloom_counts(r, RapporCounts(np.array([1000]), np.array([[500]])))
    >>> float(est.counts[0, 0])  # 500 = 0.375·1000 + 0.25·t  ⇒  t = 500
    500.0
    """
    _check_counts(rappor, counts)
    n = counts.num_reports.astype(np.float64)[:, None]
    c = counts.bit_counts.astype(np.float64)
    # Section 4: t̂_ij = (c_ij − (p + ½fq − ½fp)·N_j) / ((1 − f)(q − p)).
    f, p, q = rappor.f, rappor.p, rappor.q
    gap = (1.0 - f) * (q - p)
    t_hat = (c - (p + 0.5 * f * q - 0.5 * f * p) * n) / gap
    rate = (c + 0.5) / (n + 1.0)  # smoothed: a variance of 0 would give infinite weight
    variance = n * rate * (1.0 - rate) / gap**2
    return BloomEstimate(t_hat, variance)


def _check_counts(rappor: Rappor, counts: RapporCounts) -> None:
    if not isinstance(counts, RapporCounts):
        raise ParameterTypeError(f"counts must be RapporCounts, got {type(counts).__name__}")
    want = (rappor.num_cohorts, rappor.num_bloombits)
    if counts.bit_counts.shape != want:
        raise ParameterError(
            f"counts have shape {counts.bit_counts.shape}, the mechanism's is (m, k) = {want}"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class RapporEstimate:
    """Decoded RAPPOR counts of candidate strings, with standard errors and significance.

    ``counts``, ``std_errors``, ``ci_low`` and ``ci_high`` are in reports (multiply shares by
    ``num_reports``). For a detected candidate they come from the final fit on the detected
    set; for the others, from the fit on the NNLS support (0 with an infinite error outside
    it). ``detected`` is ``p_values < threshold`` with ``threshold = alpha / M``.
    """

    candidates: tuple[str, ...]
    counts: NDArray[np.float64]
    std_errors: NDArray[np.float64]
    p_values: NDArray[np.float64]
    detected: NDArray[np.bool_]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    num_reports: int
    alpha: float
    threshold: float
    confidence: float
    dispersion: float

    @property
    def proportions(self) -> NDArray[np.float64]:
        """``counts / num_reports``."""
        return self.counts / max(self.num_reports, 1)

    def rows(self, *, detected_only: bool = False) -> list[dict[str, Any]]:
        """Return one dict per candidate (largest estimate first), ready for JSON."""
        order = np.argsort(-self.counts, kind="stable")
        out = []
        for s in order.tolist():
            if detected_only and not self.detected[s]:
                continue
            out.append(
                {
                    "candidate": self.candidates[s],
                    "estimate": float(self.counts[s]),
                    "std_error": float(self.std_errors[s]),
                    "ci_low": float(self.ci_low[s]),
                    "ci_high": float(self.ci_high[s]),
                    "p_value": float(self.p_values[s]),
                    "detected": bool(self.detected[s]),
                }
            )
        return out


def _wls(
    xw: NDArray[np.float64], yw: NDArray[np.float64], cols: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Weighted OLS on columns ``cols``: coefficients, standard errors, dispersion.

    Solved through the Cholesky factor of the small Gram matrix ``AᵀA`` (|cols|² entries):
    collinear candidates (not identifiable) make it singular and get infinite errors.
    """
    a = xw[:, cols]
    gram = a.T @ a
    try:
        factor = linalg.cho_factor(gram, check_finite=False)
    except linalg.LinAlgError:
        solution = np.linalg.lstsq(a, yw, rcond=None)
        beta: NDArray[np.float64] = np.asarray(solution[0], dtype=np.float64)
        return beta, np.full(cols.shape[0], np.inf), 1.0
    beta = np.asarray(linalg.cho_solve(factor, a.T @ yw, check_finite=False), dtype=np.float64)
    resid = yw - a @ beta
    dof = max(a.shape[0] - a.shape[1], 1)
    dispersion = max(1.0, float(resid @ resid) / dof)
    cov = linalg.cho_solve(factor, np.eye(cols.shape[0]), check_finite=False)
    se: NDArray[np.float64] = np.sqrt(np.clip(np.diag(cov), 0.0, None) * dispersion)
    return beta, se, dispersion


def decode_rappor(
    rappor: Rappor,
    counts: RapporCounts,
    candidates: Sequence[str],
    *,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> RapporEstimate:
    """Estimate how often each candidate string was reported, and which are significant.

    Parameters
    ----------
    rappor
        The mechanism the reports were made with.
    counts
        The aggregated reports.
    candidates
        The dictionary: ``M`` distinct candidate strings.
    alpha
        The family-wise significance level; each candidate is tested at ``alpha / M``
        (Bonferroni, as in the paper's analysis).
    confidence
        The level of the reported confidence intervals.

    Returns
    -------
    RapporEstimate
        Per candidate: estimated count, standard error, p-value, detection, interval.

    Raises
    ------
    ParameterError
        For an empty or duplicated dictionary, or no reports.
    """
    _check_counts(rappor, counts)
    a = check_probability(alpha, name="alpha", allow_zero=False, allow_one=False)
    conf = check_probability(confidence, name="confidence", allow_zero=False, allow_one=False)
    if isinstance(candidates, str) or not isinstance(candidates, Sequence):
        raise ParameterTypeError("candidates must be a sequence of strings")
    names = tuple(str(c) for c in candidates)
    if not names:
        raise ParameterError("candidates is empty; pass the strings to look for")
    if len(set(as_value_bytes(list(names), name="candidates"))) != len(names):
        raise ParameterError("candidates has duplicates; pass each string once")
    total = counts.total
    if total == 0:
        raise ParameterError("no reports to decode; collect some reports first")
    m_cand = len(names)
    bloom = estimate_bloom_counts(rappor, counts)
    live = counts.num_reports > 0  # cohorts without reports carry no rows
    n_j = counts.num_reports[live].astype(np.float64)[:, None]
    y = (bloom.counts[live] / n_j).reshape(-1)
    sd = (np.sqrt(bloom.variance[live]) / n_j).reshape(-1)
    x = rappor.candidate_patterns(list(names))[live].reshape(-1, m_cand).astype(np.float64)
    xw = x / sd[:, None]
    yw = y / sd
    nnls_beta, _ = optimize.nnls(xw, yw, maxiter=50 * m_cand)
    support = np.flatnonzero(nnls_beta > 0)
    shares = np.zeros(m_cand)
    se = np.full(m_cand, np.inf)
    dispersion = 1.0
    if support.size:
        beta, s_err, dispersion = _wls(xw, yw, support)
        shares[support], se[support] = beta, s_err
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(np.isfinite(se) & (se > 0), shares / se, 0.0)
    p_values = stats.norm.sf(z)  # one-sided: H0 share = 0 against share > 0
    threshold = a / m_cand
    detected = p_values < threshold
    chosen = np.flatnonzero(detected)
    if chosen.size:
        beta, s_err, dispersion = _wls(xw, yw, chosen)
        shares[chosen], se[chosen] = beta, s_err
    zq = float(stats.norm.ppf(0.5 + conf / 2.0))
    est = shares * total
    err = se * total
    return RapporEstimate(
        candidates=names,
        counts=est,
        std_errors=err,
        p_values=p_values,
        detected=detected,
        ci_low=est - zq * err,
        ci_high=est + zq * err,
        num_reports=total,
        alpha=a,
        threshold=threshold,
        confidence=conf,
        dispersion=dispersion,
    )


def detection_frequency(rappor: Rappor, num_reports: int, *, alpha: float = 0.05) -> float:
    """Return the smallest share one Bloom bit's estimate tells from 0 at level ``alpha``.

    ``Φ⁻¹(1 − α)·sqrt(p*(1 − p*)·N)/((q* − p*)·N)``: a rule of thumb for what RAPPOR can
    see with ``N`` reports (the regression pools ``h·m`` bits per candidate, which helps,
    and the Bonferroni level α/M, which hurts).

    Examples
    --------
    >>> r = Rappor(num_bloombits=128, num_hashes=2, num_cohorts=128, f=0.5, p=0.25, q=0.75)
    >>> round(detection_frequency(r, 1_000_000), 5)
    0.00319
    """
    a = check_probability(alpha, name="alpha", allow_zero=False, allow_one=False)
    n = float(num_reports)
    if not n > 0:
        raise ParameterError(f"num_reports must be > 0, got {num_reports}")
    ps, qs = rappor.p_star, rappor.q_star
    return float(stats.norm.ppf(1 - a)) * math.sqrt(ps * (1 - ps) * n) / ((qs - ps) * n)
