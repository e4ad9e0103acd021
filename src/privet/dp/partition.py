"""DP partition selection: release only the group keys that enough privacy units share.

When the keys of a histogram or group-by are not public, the set of keys present in the
data is itself private: a key held by one person shows that the person is in the table.
privet then releases a key only if its noisy count clears a threshold — *Laplace
thresholding* (Korolova, Kenthapadi, Mishra, Ntoulas 2009, "Releasing search queries and
clicks privately", WWW 2009; Wilson, Zhang, Lam, Desfontaines, Simmons-Marengo, Gipson 2020,
"Differentially Private SQL with Bounded User Contribution", PoPETs 2020(2),
arXiv:1909.01917, which thresholds the number of users per group). Desfontaines, Voss, Gipson,
Mandayam 2022 ("Differentially private partition selection", PoPETs 2022(1),
arXiv:2006.03684) give the optimal rule for one partition per unit; privet uses the simpler
thresholding, which is within a small factor of it, with integer (discrete Laplace) noise.

**The mechanism.** After contribution bounding, every unit adds at most ``max_count`` to the
count of at most ``max_partitions`` keys, and at most ``l1`` to all counts together. Each key
present in the data gets ``c + Z`` with ``Z`` discrete Laplace of scale ``t = l1 / ε``;
a key is released, with that noisy count, iff ``c + Z >= T``.

**Why it is (ε, δ)-DP**, δ = ``max_partitions · P(Z >= T - max_count)``. Let ``D′`` be
``D`` plus one unit, and ``N`` the keys that unit alone holds (``|N| <= max_partitions``,
each count ``<= max_count``). Let ``E`` be "no key of ``N`` is released"; ``P(not E) <=
δ``. On ``E`` the output on ``D′`` is a post-processing of the noisy counts of the keys of
``D``, which differ from ``D``'s by at most ``l1`` in L1: discrete Laplace of scale ``t`` is
``l1/t = ε``-DP for them (the geometric mechanism: Ghosh, Roughgarden, Sundararajan 2009). So
``P_D′(O) <= P_D′(O ∩ E) + δ <= e^ε P_D(O) + δ``. Conversely the noise on ``N`` is
independent of the rest, so ``P_D(O) <= e^ε P_D′(O) / P(E)``, and ``min(1, e^ε p / (1-δ))
<= e^ε p + δ`` for every ``p``. The tail of discrete Laplace is exact:
``P(Z >= j) = e^(-j/t) / (1 + e^(-1/t))`` for ``j >= 1``.

Examples
--------
>>> from fractions import Fraction
>>> threshold(scale=Fraction(1), delta=1e-6, max_partitions=1, max_count=1)
15
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from privet.core.checks import check_delta, check_int
from privet.core.errors import ParameterError

__all__ = ["selection_delta", "threshold"]


def selection_delta(
    *, scale: float | Fraction, threshold: int, max_partitions: int, max_count: int
) -> float:
    """Return δ = ``max_partitions · P(Z >= threshold - max_count)``, Z discrete Laplace(t).

    Parameters
    ----------
    scale : float or Fraction
        The noise scale t, in counts.
    threshold : int
        T: a key is released iff its noisy count is ``>= T``.
    max_partitions : int
        The most keys one unit adds to.
    max_count : int
        The most one unit adds to one key's count.

    Returns
    -------
    float
        The δ of the selection (an upper bound; float rounding of ``exp`` is below 1e-15
        relative).

    Examples
    --------
    >>> selection_delta(scale=1, threshold=15, max_partitions=1, max_count=1) < 1e-6
    True
    """
    t = float(scale)
    j = threshold - max_count
    if j <= 0:
        return 1.0
    return min(1.0, max_partitions * math.exp(-j / t) / (1.0 + math.exp(-1.0 / t)))


def threshold(*, scale: float | Fraction, delta: float, max_partitions: int, max_count: int) -> int:
    """Return the smallest integer threshold T whose selection δ is at most ``delta``.

    Parameters
    ----------
    scale : float or Fraction
        The noise scale t = l1 / ε, in counts.
    delta : float
        The δ to spend on selection, in (0, 1).
    max_partitions : int
        The most keys one unit adds to (>= 1).
    max_count : int
        The most one unit adds to one key's count (>= 1).

    Returns
    -------
    int
        T (>= ``max_count + 1``).

    Raises
    ------
    ParameterError
        If ``delta`` is 0: selection is impossible with pure DP.
    """
    d = check_delta(delta)
    if d <= 0.0:
        raise ParameterError(
            "DP partition selection needs delta > 0 (a key held by one unit can only be "
            "hidden with some probability δ); pass public keys=[...] instead, or a delta > 0"
        )
    k = check_int(max_partitions, name="max_partitions", minimum=1)
    m = check_int(max_count, name="max_count", minimum=1)
    t = float(scale)
    # k · e^{-j/t} / (1 + e^{-1/t}) <= δ  ⇔  j >= t · ln(k / (δ (1 + e^{-1/t}))).
    j = max(1, math.ceil(t * math.log(k / (d * (1.0 + math.exp(-1.0 / t))))))
    while selection_delta(scale=t, threshold=m + j, max_partitions=k, max_count=m) > d:
        j += 1  # float slack: step up until the exact-formula check holds
    return m + j


def select(noisy_counts: NDArray[np.int64], *, threshold: int) -> NDArray[np.bool_]:
    """Return the mask of keys whose noisy count is at least ``threshold``."""
    return np.asarray(noisy_counts >= threshold, dtype=bool)
