"""privet.datasets: the tables privet's examples, tests and benchmarks use, offline.

* :func:`load_adult` — UCI Adult (Becker & Kohavi 1996, CC BY 4.0), shipped in the package.
* :func:`load_breast_cancer` — the Wisconsin breast cancer data, through scikit-learn, with
  a synthetic patient column.

This room imports only :mod:`privet.core`; the DP rooms never import it (only the command
line, the tests and the benchmarks do).

Examples
--------
>>> from privet.datasets import load_adult
>>> load_adult().shape
(32561, 15)
"""

from privet.datasets.adult import ADULT_COLUMNS, ADULT_NUMERIC, load_adult
from privet.datasets.breast_cancer import load_breast_cancer

__all__ = ["ADULT_COLUMNS", "ADULT_NUMERIC", "load_adult", "load_breast_cancer"]
