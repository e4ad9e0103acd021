"""Integer noise for the table queries, through :mod:`privet.dp.discrete`.

The queries of :mod:`privet.dp.queries` compute exact integers (counts, fixed-point sums)
and add discrete Laplace noise ``P(z) ∝ exp(-|z|/t)`` with the geometric mechanism of
:func:`privet.dp.discrete.discrete_laplace_release` (Ghosh, Roughgarden, Sundararajan 2009;
sampled exactly, Canonne, Kamath, Steinke 2020, arXiv:2004.00010, Algorithm 2): for an
integer query of L1-sensitivity Δ, ``t = Δ/ε`` rounded *up* to the sampler's range, so the
privacy met is at most ε. The session has charged the budget already, so no budget is
passed here.

Examples
--------
>>> from privet.core.random import SecureRandom
>>> noisy, scale = add_discrete_laplace([10, 20], sensitivity=1, epsilon=0.5,
...     rng=SecureRandom.seeded(0))
>>> len(noisy), scale
(2, Fraction(2, 1))
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from privet.core.random import SecureRandom
from privet.dp.discrete import discrete_laplace_release
from privet.dp.mechanisms import round_up_scale

__all__ = ["add_discrete_laplace", "scale_for"]

_SAFE = 1 << 62


def scale_for(*, sensitivity: int, epsilon: float) -> Fraction:
    """Return the discrete Laplace scale ``t >= sensitivity/ε`` that the release will use.

    The same rounding as :func:`privet.dp.discrete.discrete_laplace_release` (up, to a
    fraction with terms of at most 48 bits).

    Examples
    --------
    >>> scale_for(sensitivity=3, epsilon=0.5)
    Fraction(6, 1)
    """
    return round_up_scale(Fraction(sensitivity) / Fraction(epsilon), what="discrete_laplace")


def add_discrete_laplace(
    exact: Sequence[int] | NDArray[np.int64],
    *,
    sensitivity: int,
    epsilon: float,
    rng: SecureRandom,
) -> tuple[list[int], Fraction]:
    """Return ``exact`` plus i.i.d. discrete Laplace noise of scale ``≈ sensitivity/ε``.

    Parameters
    ----------
    exact : sequence of int
        The exact integers (any size; one vector query of L1-sensitivity ``sensitivity``).
    sensitivity : int
        Δ ≥ 1, in the integers' units.
    epsilon : float
        ε > 0.
    rng : SecureRandom
        The generator.

    Returns
    -------
    tuple of (list of int, Fraction)
        The noisy integers (exact Python ints) and the scale ``t`` used.
    """
    values = [int(v) for v in exact]
    scale = scale_for(sensitivity=sensitivity, epsilon=epsilon)
    if not values:
        return [], scale
    if all(-_SAFE <= v <= _SAFE for v in values):
        rel = discrete_laplace_release(
            np.asarray(values, dtype=np.int64), sensitivity=sensitivity, epsilon=epsilon, rng=rng
        )
        return [int(v) for v in np.asarray(rel.value).tolist()], scale
    # beyond int64: one exact Python-int release per value (the same scale)
    noisy = [
        int(discrete_laplace_release(v, sensitivity=sensitivity, epsilon=epsilon, rng=rng).value)
        for v in values
    ]
    return noisy, scale
