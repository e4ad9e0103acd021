"""Exact samplers over the integers, vectorised on numpy arrays.

These are the building blocks of :class:`privet.core.random.SecureRandom`'s exact methods
(``integers``, ``bernoulli_exp``, ``discrete_laplace``, ``discrete_gaussian``). Each takes a
``draw`` callable that returns ``n`` uniform 64-bit words, and uses only integer arithmetic and
exact comparisons on those words: no floating-point probability ever decides an outcome, so the
output law is exactly the one named (given uniform words).

The algorithms follow Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential
Privacy", NeurIPS 2020, arXiv:2004.00010 ("CKS20" below): Algorithm 1 (Bernoulli(exp(-γ))),
Algorithm 2 (discrete Laplace) and Algorithm 3 (discrete Gaussian). Each loop of the paper runs
here as *rounds on whole arrays*: every round draws for all the elements still looping, and
masks retire the ones that are done. All elements still looping at round ``k`` share the
paper's counter ``K = k``, so each round has one scalar denominator.

Integer overflow is refused, never wrapped: parameters whose numerators or denominators could
overflow the 64-bit arithmetic raise :class:`~privet.errors.ParameterError` up front.

Examples
--------
>>> import numpy as np
>>> from privet.core.random import SecureRandom
>>> rng = SecureRandom.seeded(1)
>>> x = uniform_below(rng.uint64, 1000, 6)
>>> bool(x.max() < 6), x.dtype.name
(True, 'uint64')
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError, ParameterTypeError, PrivetError

__all__ = [
    "MAX_LAPLACE_TERM",
    "Draw",
    "as_rational",
    "bernoulli_exp",
    "bernoulli_exp_minus_one",
    "bernoulli_exp_unit",
    "bernoulli_ratio",
    "discrete_gaussian",
    "discrete_laplace",
    "geometric_exp_minus_one",
    "uniform_below",
]

Draw = Callable[[int], NDArray[np.uint64]]
"""A source of uniform words: ``draw(n)`` returns ``n`` independent uniform ``uint64``."""

_TWO64 = 1 << 64
_INT64_MAX = (1 << 63) - 1

MAX_LAPLACE_TERM = 1 << 48
"""Largest numerator or denominator accepted for a discrete Laplace scale (``X = U + tV``
then stays far below 2**63)."""

_MAX_GAUSS_DENOMINATOR = 1 << 61
"""Largest ``2·p·q·t²`` (σ² = p/q) the exact discrete Gaussian accepts."""

_BATCH = 1 << 17
"""Candidates per batch: keeps the temporaries of one batch in cache."""


def as_rational(value: object, *, name: str) -> Fraction:
    """Return ``value`` as a positive :class:`~fractions.Fraction`, refusing floats.

    Parameters
    ----------
    value
        An ``int`` (numpy integers too) or a :class:`fractions.Fraction`, > 0.
    name
        The argument's name, for the error message.

    Returns
    -------
    Fraction
        The exact value, in lowest terms.

    Raises
    ------
    ParameterTypeError
        If ``value`` is a float, a bool or not a number. An exact sampler needs an exact
        parameter: convert a float yourself, e.g. ``Fraction("0.1")`` or
        ``Fraction(x).limit_denominator(10**6)``, so that the rounding is your decision.
    ParameterError
        If ``value`` is not > 0.

    Examples
    --------
    >>> as_rational(Fraction(3, 6), name="scale")
    Fraction(1, 2)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Rational):
        raise ParameterTypeError(
            f"{name} must be an int or a fractions.Fraction (exact), got "
            f"{type(value).__name__} {value!r}; convert a float yourself, e.g. "
            f'Fraction("0.1") or Fraction(x).limit_denominator(10**6)'
        )
    out = Fraction(int(value.numerator), int(value.denominator))
    if out <= 0:
        raise ParameterError(f"{name} must be > 0, got {out}; pass a positive {name}")
    return out


def uniform_below(draw: Draw, n: int, bound: int) -> NDArray[np.uint64]:
    """Return ``n`` exact uniform integers in ``[0, bound)``, ``1 <= bound <= 2**64``.

    Rejection sampling, never a bare modulo: a word that would bias the result is drawn
    again at its own position, so every position holds its first accepted draw.

    * ``bound <= 2**32``: Lemire's multiply-shift with rejection (D. Lemire, "Fast random
      integer generation in an interval", ACM TOMACS 29(1), 2019, arXiv:1805.10941): a 32-bit
      word ``w`` gives ``m = w·bound``; it is rejected when ``m mod 2**32 < 2**32 mod bound``,
      and ``floor(m / 2**32)`` is uniform otherwise. Rejection is below ``bound / 2**32``.
    * larger bounds: the top ``bit_length(bound - 1)`` bits of a 64-bit word, rejected when
      ``>= bound`` (each round accepts at least half).

    Parameters
    ----------
    draw
        The word source.
    n
        How many integers.
    bound
        The exclusive upper bound.

    Returns
    -------
    numpy.ndarray
        ``uint64`` array of shape ``(n,)``.

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> uniform_below(SecureRandom.seeded(0).uint64, 4, 1).tolist()
    [0, 0, 0, 0]
    """
    if bound == 1:
        return np.zeros(n, dtype=np.uint64)
    if bound <= 1 << 32:
        return _uniform_below_32(draw, n, bound)
    bits = (bound - 1).bit_length()
    shift = np.uint64(64 - bits)
    vals = draw(n) >> shift
    if bound == 1 << bits:
        return vals
    b = np.uint64(bound)
    bad = np.flatnonzero(vals >= b)
    while bad.size:
        new = draw(bad.size) >> shift
        vals[bad] = new
        bad = bad[new >= b]
    return vals


_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def _words32(draw: Draw, n: int) -> NDArray[np.uint64]:
    """Return ``n`` uniform 32-bit words, widened to ``uint64``."""
    return draw((n + 1) // 2).view(np.uint32)[:n].astype(np.uint64)


def _uniform_below_32(draw: Draw, n: int, bound: int) -> NDArray[np.uint64]:
    """Lemire's exact multiply-shift for ``2 <= bound <= 2**32`` (see :func:`uniform_below`)."""
    s = np.uint64(bound)
    m = _words32(draw, n) * s
    reject_below = (1 << 32) % bound  # 2**32 mod bound
    if reject_below:
        lim = np.uint64(reject_below)
        bad = np.flatnonzero((m & _LOW32) < lim)
        while bad.size:
            m2 = _words32(draw, bad.size) * s
            m[bad] = m2
            bad = bad[(m2 & _LOW32) < lim]
    return m >> _SHIFT32


def bernoulli_ratio(
    draw: Draw, numerators: NDArray[np.uint64], denominator: int
) -> NDArray[np.bool_]:
    """Return exact Bernoulli(``a_i / N``) draws, ``0 <= a_i < N = denominator < 2**64``.

    With ``q = floor(2**64 / N)``, a word ``x`` is accepted when ``x < q·N`` (otherwise
    drawn again); an accepted ``x`` is uniform on ``[0, q·N)``, and ``x < a·q`` happens with
    probability exactly ``a/N``. No division per element, and rejection is below ``N/2**64``.

    Parameters
    ----------
    draw
        The word source.
    numerators
        ``uint64`` array of the ``a_i``, each ``< denominator``.
    denominator
        ``N``, with ``1 <= N < 2**64``.

    Returns
    -------
    numpy.ndarray
        ``bool`` array, the shape of ``numerators``.

    Examples
    --------
    >>> import numpy as np
    >>> from privet.core.random import SecureRandom
    >>> a = np.zeros(3, dtype=np.uint64)
    >>> bernoulli_ratio(SecureRandom.seeded(0).uint64, a, 7).tolist()
    [False, False, False]
    """
    if denominator == 1:  # a = 0: Bernoulli(0)
        return np.zeros(numerators.size, dtype=np.bool_)
    q = _TWO64 // denominator
    limit = q * denominator
    qq = np.uint64(q)
    x = draw(numerators.size)
    out = x < numerators * qq
    if limit != _TWO64:
        lim = np.uint64(limit)
        bad = np.flatnonzero(x >= lim)
        while bad.size:
            x2 = draw(bad.size)
            out[bad] = x2 < numerators[bad] * qq
            bad = bad[x2 >= lim]
    return out


def bernoulli_exp_unit(
    draw: Draw, numerators: NDArray[np.uint64], denominator: int
) -> NDArray[np.bool_]:
    """Return exact Bernoulli(exp(-γ_i)) draws for ``γ_i = a_i / N`` in ``[0, 1)``.

    CKS20 (arXiv:2004.00010) Algorithm 1, the branch γ ∈ [0, 1]: ``K ← 1``; loop
    ``A ← Bernoulli(γ/K)``, stop when ``A = 0``, else ``K ← K + 1``; return ``K`` odd.

    Parameters
    ----------
    draw
        The word source.
    numerators
        ``uint64`` array of the ``a_i``, each ``< denominator``.
    denominator
        ``N``, with ``1 <= N < 2**64``.

    Returns
    -------
    numpy.ndarray
        ``bool`` array, the shape of ``numerators``.

    Examples
    --------
    >>> import numpy as np
    >>> from privet.core.random import SecureRandom
    >>> a = np.zeros(3, dtype=np.uint64)  # γ = 0: exp(0) = 1
    >>> bernoulli_exp_unit(SecureRandom.seeded(0).uint64, a, 5).tolist()
    [True, True, True]
    """
    # Round K = 1: A ← Bernoulli(γ); A = 0 stops with K = 1 (odd) → True.
    a_first = bernoulli_ratio(draw, numerators, denominator)
    result = ~a_first
    act = np.flatnonzero(a_first)
    a = numerators[act]
    k = 2
    while act.size:
        # Round K = k: A ← Bernoulli(γ/k) = Bernoulli(a / (N·k)).
        if denominator * k < _TWO64:
            cont = bernoulli_ratio(draw, a, denominator * k)
        else:  # Bernoulli(a/(N·k)) = Bernoulli(a/N) ∧ Bernoulli(1/k), without overflow.
            ones = np.ones(a.size, dtype=np.uint64)
            cont = bernoulli_ratio(draw, a, denominator) & bernoulli_ratio(draw, ones, k)
        if k % 2 == 1:
            result[act[~cont]] = True  # stopped with K = k odd
        act = act[cont]
        a = a[cont]
        k += 1
    return result


# Bernoulli(exp(-1)) is Algorithm 1 with γ = 1, where P(K > k) = 1/k!. The first _KT rounds
# collapse into ONE uniform word: with M = _KT!, q = floor(2**64 / M) and x uniform on [0, q·M),
# the nested events {x < q·M/k!} have probabilities exactly 1/k!, so K > k ⟺ x < q·M/k! gives
# K the law of Algorithm 1's loop for k <= _KT; the rare x < q (K > _KT) continue the loop's
# rounds Bernoulli(1/k), k = _KT + 1, ..., as the algorithm does.
_KT = 18
_M = math.factorial(_KT)
_Q = _TWO64 // _M
_LIMIT = np.uint64(_Q * _M)
# thresholds for k = 2.._KT, ascending: q·M/_KT!, ..., q·M/2!
_THRESH = np.array([_Q * (_M // math.factorial(k)) for k in range(_KT, 1, -1)], dtype=np.uint64)
_T3, _T4, _T5 = (np.uint64(_Q * (_M // math.factorial(k))) for k in (3, 4, 5))
_T2 = np.uint64(_Q * (_M // 2))


def bernoulli_exp_minus_one(draw: Draw, n: int) -> NDArray[np.bool_]:
    """Return ``n`` exact Bernoulli(exp(-1)) draws.

    CKS20 (arXiv:2004.00010) Algorithm 1 with γ = 1, its first 18 rounds read off one
    uniform word (see the comment above this function in the source): ``B = K odd``.

    Parameters
    ----------
    draw
        The word source.
    n
        How many draws.

    Returns
    -------
    numpy.ndarray
        ``bool`` array of shape ``(n,)``.

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> bernoulli_exp_minus_one(SecureRandom.seeded(0).uint64, 5).shape
    (5,)
    """
    x = draw(n)
    bad = np.flatnonzero(x >= _LIMIT)
    while bad.size:
        x2 = draw(bad.size)
        x[bad] = x2
        bad = bad[x2 >= _LIMIT]
    # K = 2 + #{k in 2.._KT : x < T_k}, so "K odd" is the parity of those comparisons.
    # x < T_5 has probability 1/120: only those need the full count.
    out = (x < _T2) ^ (x < _T3) ^ (x < _T4)
    deep = np.flatnonzero(x < _T5)
    if deep.size:
        xd = x[deep]
        above = _THRESH.size - np.searchsorted(_THRESH, xd, side="right")  # #{k: x < T_k}
        out[deep] = (above % 2) == 1
        # x < T_KT (= q) means K > _KT: continue Algorithm 1's loop with Bernoulli(1/k).
        act = deep[xd < np.uint64(_Q)]
        k = _KT + 1
        while act.size:
            cont = bernoulli_ratio(draw, np.ones(act.size, dtype=np.uint64), k)
            out[act[~cont]] = k % 2 == 1
            act = act[cont]
            k += 1
    return out


def geometric_exp_minus_one(draw: Draw, n: int) -> tuple[NDArray[np.uint64], int]:
    """Return ``n`` counts ``V`` of Bernoulli(exp(-1)) successes before the first failure.

    CKS20 (arXiv:2004.00010) Algorithm 2, the loop ``V ← 0; loop A ← Bernoulli(exp(-1));
    if A = 0 break; V ← V + 1``: ``P(V >= v) = exp(-v)``.

    Parameters
    ----------
    draw
        The word source.
    n
        How many counts.

    Returns
    -------
    tuple
        The ``uint64`` counts and the number of rounds run (the largest count).

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> v, rounds = geometric_exp_minus_one(SecureRandom.seeded(0).uint64, 4)
    >>> v.shape
    (4,)
    """
    v = np.zeros(n, dtype=np.uint64)
    act = np.flatnonzero(bernoulli_exp_minus_one(draw, n))
    r = 0
    while act.size:
        r += 1
        v[act] = r  # every element still looping has succeeded exactly r times
        act = act[bernoulli_exp_minus_one(draw, act.size)]
    return v, r


def bernoulli_exp(
    draw: Draw,
    whole: NDArray[np.int64] | int,
    remainders: NDArray[np.uint64],
    denominator: int,
) -> NDArray[np.bool_]:
    """Return exact Bernoulli(exp(-γ_i)) draws for ``γ_i = whole_i + r_i / N >= 0``.

    CKS20 (arXiv:2004.00010) Algorithm 1, the branch γ > 1: for ``k = 1 .. floor(γ)`` draw
    ``B ← Bernoulli(exp(-1))`` and return 0 at the first failure; then return
    ``C ← Bernoulli(exp(-(γ - floor(γ))))`` (the branch γ ∈ [0, 1], :func:`bernoulli_exp_unit`).

    Parameters
    ----------
    draw
        The word source.
    whole
        ``floor(γ_i)``: an ``int64`` array, or one Python ``int`` (of any size) for all.
    remainders
        ``uint64`` array of the ``r_i``, each ``< denominator``.
    denominator
        ``N``, with ``1 <= N < 2**64``.

    Returns
    -------
    numpy.ndarray
        ``bool`` array, the shape of ``remainders``.

    Examples
    --------
    >>> import numpy as np
    >>> from privet.core.random import SecureRandom
    >>> r = np.zeros(2, dtype=np.uint64)
    >>> bernoulli_exp(SecureRandom.seeded(0).uint64, 0, r, 1).tolist()  # γ = 0
    [True, True]
    """
    n = remainders.size
    alive = np.ones(n, dtype=np.bool_)
    if isinstance(whole, int):
        act = np.arange(n) if whole > 0 else np.zeros(0, dtype=np.intp)
        j = 0
        while act.size and j < whole:
            b = bernoulli_exp_minus_one(draw, act.size)
            alive[act[~b]] = False
            act = act[b]
            j += 1
    else:
        act = np.flatnonzero(whole > 0)
        j = 0
        while act.size:
            b = bernoulli_exp_minus_one(draw, act.size)
            alive[act[~b]] = False
            j += 1
            act = act[b]
            act = act[whole[act] > j]
    idx = np.flatnonzero(alive & (remainders > 0))
    if idx.size:
        alive[idx] = bernoulli_exp_unit(draw, remainders[idx], denominator)
    return alive


def _sign_bits(draw: Draw, n: int) -> NDArray[np.bool_]:
    """Return ``n`` fair coin flips (one bit of a word each)."""
    words = draw((n + 63) // 64)
    return np.unpackbits(words.view(np.uint8))[:n].view(np.bool_)


def _laplace_batch(draw: Draw, m: int, s: int, t: int) -> NDArray[np.int64]:
    """Run ``m`` attempts of CKS20 Algorithm 2 (scale ``t/s``); return the accepted samples."""
    # CKS20 (arXiv:2004.00010) Algorithm 2, for the discrete Laplace of scale t/s:
    if t == 1:
        u = np.zeros(m, dtype=np.uint64)  # U ∈ {0} and D = Bernoulli(exp(0)) = 1
    else:
        u = uniform_below(draw, m, t)  # U ← Uniform({0, ..., t-1})
        d = bernoulli_exp_unit(draw, u, t)  # D ← Bernoulli(exp(-U/t)); D = 0: reject
        u = u[d]
    v, rounds = geometric_exp_minus_one(draw, u.size)  # V: Bernoulli(exp(-1)) successes
    if t * (rounds + 1) > _INT64_MAX:  # probability below exp(-2**15) with t < 2**48
        raise PrivetError(
            "discrete_laplace: an intermediate value left the 64-bit range (an event of "
            "vanishing probability); draw again"
        )
    x = u + np.uint64(t) * v  # X ← U + t·V
    y = x // np.uint64(s) if s != 1 else x  # Y ← floor(X / s)
    b = _sign_bits(draw, y.size)  # B ← Bernoulli(1/2)
    z = y.view(np.int64)
    np.negative(z, out=z, where=b)  # Z ← (1 - 2B)·Y
    kept: NDArray[np.int64] = z[~b | (z != 0)]  # B = 1 and Y = 0: reject
    return kept


def _fill_batches(
    n: int, rate: float, batch: Callable[[int], NDArray[np.int64]]
) -> NDArray[np.int64]:
    """Call ``batch(m)`` (yielding about ``rate·m`` samples) until ``n`` samples are made."""
    out = np.empty(n, dtype=np.int64)
    filled = 0
    while filled < n:
        need = n - filled
        m = min(int(need / rate * 1.03) + 32, _BATCH)
        got = batch(m)
        rate = max(got.size / m, 0.05)  # learn the real acceptance rate for the next batch
        k = min(got.size, need)
        out[filled : filled + k] = got[:k]
        filled += k
    return out


def discrete_laplace(draw: Draw, n: int, scale: Fraction) -> NDArray[np.int64]:
    """Return ``n`` exact discrete Laplace samples: ``P(Z = z) ∝ exp(-|z| / scale)``.

    CKS20 (arXiv:2004.00010) Algorithm 2, vectorised (the attempts run as a batch and the
    rejected ones are dropped; batches repeat until ``n`` are accepted).

    Parameters
    ----------
    draw
        The word source.
    n
        How many samples.
    scale
        ``t/s > 0`` with ``s, t <= 2**48`` (:data:`MAX_LAPLACE_TERM`).

    Returns
    -------
    numpy.ndarray
        ``int64`` array of shape ``(n,)``.

    Raises
    ------
    ParameterError
        If the numerator or denominator of ``scale`` exceeds ``2**48``.

    Examples
    --------
    >>> from fractions import Fraction
    >>> from privet.core.random import SecureRandom
    >>> discrete_laplace(SecureRandom.seeded(0).uint64, 3, Fraction(2)).dtype.name
    'int64'
    """
    t, s = scale.numerator, scale.denominator
    if t > MAX_LAPLACE_TERM or s > MAX_LAPLACE_TERM:
        raise ParameterError(
            f"scale {scale} has a numerator or denominator above 2**48; pass a scale with "
            "smaller terms, e.g. Fraction(scale).limit_denominator(10**9)"
        )
    # Acceptance per attempt: P(D = 1) = 1 - e^-1 (t large), times 1 - P(Y = 0)/2.
    rate = (1.0 - math.exp(-1.0)) * (1.0 - (1.0 - math.exp(-s / t)) / 2.0) * 0.98
    return _fill_batches(n, rate, lambda m: _laplace_batch(draw, m, s, t))


def _gaussian_params(sigma_squared: Fraction) -> tuple[int, int, int, int]:
    """Return ``(p, q, t, D)`` for σ² = p/q, ``t = floor(σ) + 1``, ``D = 2·p·q·t²``."""
    p, q = sigma_squared.numerator, sigma_squared.denominator
    t = math.isqrt(p // q) + 1  # floor(sqrt(x)) = isqrt(floor(x))
    den = 2 * p * q * t * t
    if den >= _MAX_GAUSS_DENOMINATOR:
        raise ParameterError(
            f"sigma_squared {sigma_squared} is too large or has too large terms for exact "
            f"64-bit sampling (2·p·q·t² = {den} >= 2**61 with σ² = p/q, t = floor(σ)+1); "
            "pass a σ² with a smaller numerator and denominator, e.g. an integer up to 10**9"
        )
    return p, q, t, den


def _exact_divmod_square(
    a: NDArray[np.int64], den: int
) -> tuple[NDArray[np.int64], NDArray[np.uint64]]:
    """Return ``(a² // den, a² % den)`` exactly.

    Valid for ``|a| < 2**62``, ``den < 2**61`` and ``a²/den < 2**50`` (the caller checks).
    The quotient is estimated in float64 (off by at most 1 in that range); the remainder is
    computed exactly modulo 2**64 (it lies in (-2·den, 2·den), so its int64 reading is
    exact); both are corrected until ``0 <= r < den``.
    """
    af = a.astype(np.float64)
    quo = np.floor(af * af / float(den)).astype(np.int64)
    au = a.view(np.uint64)
    rem = (au * au - quo.view(np.uint64) * np.uint64(den)).view(np.int64)
    d = np.int64(den)
    while True:
        low = rem < 0
        high = rem >= d
        if not (low.any() or high.any()):
            break
        quo += high.astype(np.int64) - low.astype(np.int64)
        rem += np.where(low, d, np.int64(0)) - np.where(high, d, np.int64(0))
    return quo, rem.view(np.uint64)


def _bernoulli_exp_big(draw: Draw, num: int, den: int) -> bool:
    """Exact Bernoulli(exp(-num/den)) for one γ with Python integers of any size."""
    whole, rem = divmod(num, den)
    out = bernoulli_exp(draw, whole, np.array([rem], dtype=np.uint64), den)
    return bool(out[0])


def _gaussian_batch(draw: Draw, m: int, p: int, q: int, t: int, den: int) -> NDArray[np.int64]:
    """Run about ``m`` attempts of CKS20 Algorithm 3; return the accepted samples."""
    # CKS20 (arXiv:2004.00010) Algorithm 3, σ² = p/q, t = floor(σ) + 1:
    y = _laplace_batch(draw, m, 1, t)  # Y ← discrete Laplace of scale t
    # C ← Bernoulli(exp(-(|Y| - σ²/t)² / (2σ²))), i.e. γ = (|Y|·q·t - p)² / (2·p·q·t²).
    c = q * t
    ay = np.abs(y)
    ylim = ((1 << 62) - p) // c
    a = ay * np.int64(min(c, _INT64_MAX)) - np.int64(p)  # only used where ay <= ylim
    safe = ay <= ylim
    af = np.where(safe, a, 0).astype(np.float64)
    safe &= af * af / float(den) < float(1 << 50)
    accept = np.zeros(y.size, dtype=np.bool_)
    idx = np.flatnonzero(safe)
    whole, rem = _exact_divmod_square(a[idx], den)
    accept[idx] = bernoulli_exp(draw, whole, rem, den)
    for i in np.flatnonzero(~safe).tolist():  # γ >= 2**50: astronomically rare; exact ints
        num = (abs(int(y[i])) * c - p) ** 2
        accept[i] = _bernoulli_exp_big(draw, num, den)
    return y[accept]


def discrete_gaussian(draw: Draw, n: int, sigma_squared: Fraction) -> NDArray[np.int64]:
    """Return ``n`` exact discrete Gaussian samples: ``P(Z = z) ∝ exp(-z² / (2σ²))``.

    CKS20 (arXiv:2004.00010) Algorithm 3, vectorised: discrete Laplace proposals of scale
    ``t = floor(σ) + 1`` (Algorithm 2), each kept with probability
    ``exp(-(|Y| - σ²/t)² / (2σ²))`` (Algorithm 1), all in exact integer arithmetic.

    Parameters
    ----------
    draw
        The word source.
    n
        How many samples.
    sigma_squared
        σ² = p/q > 0, with ``2·p·q·t² < 2**61`` (for an integer σ², up to about 10**9).

    Returns
    -------
    numpy.ndarray
        ``int64`` array of shape ``(n,)``.

    Raises
    ------
    ParameterError
        If σ² is outside the range above.

    Examples
    --------
    >>> from fractions import Fraction
    >>> from privet.core.random import SecureRandom
    >>> discrete_gaussian(SecureRandom.seeded(0).uint64, 3, Fraction(4)).shape
    (3,)
    """
    p, q, t, den = _gaussian_params(sigma_squared)
    # Acceptance per Laplace attempt ≈ 0.6 (Algorithm 2) × ≈ 0.6 (Algorithm 3, σ ≈ t).
    return _fill_batches(n, 0.3, lambda m: _gaussian_batch(draw, m, p, q, t, den))
