"""privet.dp: central differential privacy over tables, charged to a persisted budget.

* :class:`Session` — DP queries (count, sum, mean, variance, quantile, histogram, group-by)
  over a pandas/polars table or a CSV/Parquet file; every query is charged to a budget of a
  privacy ledger *before* any noise is drawn (:mod:`privet.dp.session`).
* :class:`QueryResult` — the noisy value, its noise scale and interval, and the event.
* Float-safe sums on a fixed-point grid (:mod:`privet.dp.fixedpoint`), contribution
  bounding (:mod:`privet.dp.bounding`), DP partition selection (:mod:`privet.dp.partition`).

* Mechanisms, safe against floating-point attacks (Mironov 2012): :func:`laplace` and
  :func:`gaussian` on floats and arrays (exact discrete noise on a power-of-two grid),
  :func:`discrete_laplace` and :func:`discrete_gaussian` on integers, the exponential
  mechanism, permute-and-flip and report-noisy-max, and the sparse vector technique. Each
  ``*_release`` variant returns a :class:`Release` with the noise scale and the event.

See ``docs/dp.md``.
"""

from privet.dp.discrete import (
    discrete_gaussian,
    discrete_gaussian_release,
    discrete_laplace,
    discrete_laplace_release,
)
from privet.dp.mechanisms import (
    Chargeable,
    Release,
    gaussian,
    gaussian_release,
    laplace,
    laplace_release,
)
from privet.dp.results import QueryResult
from privet.dp.selection import (
    exponential,
    exponential_release,
    permute_and_flip,
    permute_and_flip_release,
    report_noisy_max,
    report_noisy_max_release,
)
from privet.dp.session import GroupBy, Session
from privet.dp.sparse_vector import AboveThreshold, SparseVector

__all__ = [
    "AboveThreshold",
    "Chargeable",
    "GroupBy",
    "QueryResult",
    "Release",
    "Session",
    "SparseVector",
    "discrete_gaussian",
    "discrete_gaussian_release",
    "discrete_laplace",
    "discrete_laplace_release",
    "exponential",
    "exponential_release",
    "gaussian",
    "gaussian_release",
    "laplace",
    "laplace_release",
    "permute_and_flip",
    "permute_and_flip_release",
    "report_noisy_max",
    "report_noisy_max_release",
]
