"""Choosing a frequency oracle: :func:`best_oracle`.

Wang, Blocki, Li, Jha (USENIX Security 2017, arXiv:1705.04421, Section 4) compare the
approximate variances ``Var*`` of the pure protocols:

* GRR: ``n·(e^ε + d - 2) / (e^ε - 1)²`` grows with d;
* OUE and OLH: ``n·4e^ε / (e^ε - 1)²`` does not depend on d;

so GRR has the lower variance exactly when ``e^ε + d - 2 < 4e^ε``, i.e. ``d < 3e^ε + 2``.
Otherwise OUE and OLH tie (OLH with the real ``g = e^ε + 1``; with an integer g it is at most
a few percent above OUE), and OLH's report is ``O(log d)`` bits where OUE's is d bits, so
OLH is chosen whenever its variance is within ``tolerance`` of OUE's. Hadamard response
(variance ``n((e^ε+1)/(e^ε-1))²``, always n above OUE's) is never the lowest.

Examples
--------
>>> best_oracle(1.0, 8)
GRR(epsilon=1, domain_size=8)
>>> best_oracle(1.0, 1024)
OLH(epsilon=1, domain_size=1024, hash_range=4)
>>> best_oracle(1.0, 1024, tolerance=0.0)
OUE(epsilon=1, domain_size=1024)
"""

from __future__ import annotations

from privet.core.checks import check_finite
from privet.core.errors import ParameterError
from privet.ldp.grr import GRR
from privet.ldp.olh import OLH
from privet.ldp.oracles import FrequencyOracle, check_domain_size, check_local_epsilon
from privet.ldp.unary import OUE

__all__ = ["best_oracle"]


def best_oracle(epsilon: float, domain_size: int, *, tolerance: float = 0.05) -> FrequencyOracle:
    """Return the frequency oracle with the lowest count variance for ε and d.

    GRR when ``d < 3e^ε + 2`` (its ``Var*`` is then the lowest: Wang et al. 2017,
    Section 4); otherwise OLH when its ``Var*`` is within ``tolerance`` of OUE's (same
    variance up to the rounding of g, and O(log d)-bit reports instead of d bits), else OUE.

    Parameters
    ----------
    epsilon : float
        The local privacy parameter ε (> 0).
    domain_size : int
        d (>= 2).
    tolerance : float
        The relative variance excess accepted for OLH's shorter reports (>= 0; 0 picks the
        strictly lowest variance).

    Returns
    -------
    FrequencyOracle
        A :class:`GRR`, :class:`OLH` or :class:`OUE` for ``(epsilon, domain_size)``.

    Examples
    --------
    >>> import math
    >>> 3 * math.e + 2  # the threshold at ε = 1
    10.154845485377136
    >>> type(best_oracle(1.0, 10)).__name__, type(best_oracle(1.0, 11)).__name__
    ('GRR', 'OLH')
    """
    eps = check_local_epsilon(epsilon)
    d = check_domain_size(domain_size)
    tol = check_finite(tolerance, name="tolerance")
    if tol < 0:
        raise ParameterError(f"tolerance must be >= 0, got {tol!r}")
    grr = GRR(epsilon=eps, domain_size=d)
    oue = OUE(epsilon=eps, domain_size=d)
    # GRR's Var* < OUE's ⇔ e^ε + d - 2 < 4e^ε ⇔ d < 3e^ε + 2 (Wang et al. 2017, Section 4).
    if grr.variance(1) < oue.variance(1):
        return grr
    olh = OLH(epsilon=eps, domain_size=d)
    if olh.variance(1) <= (1.0 + tol) * oue.variance(1):
        return olh
    return oue
