"""Non-linear functions by approximation: reciprocal, division, exp, sigmoid, tanh, softmax.

Each function lists its domain and its error; the tests check both on random inputs.
``ulp = 2^-f`` (1.5e-5 for ``f = 16``). Intermediate values are carried at a higher
precision ``F = max(f, min(f + 12, 28))`` fractional bits where the magnitude allows (with
``truncation="local"``, ``F = f``: large intermediates raise SecureML's failure probability).

:func:`reciprocal` — ``1/x`` for ``|x|`` in ``[lower, upper)`` (powers of two; default
    ``[2^-8, 2^16)``); the sign is taken out with one comparison and put back exactly,
    unless ``positive=True`` says there is none. Normalisation then Newton–Raphson, as in
    Catrina & Saxena 2010 ("Secure computation with fixed-point numbers", FC 2010, §3.4,
    AppRcr): the octave of ``x`` is found with one batch of comparisons ``[x ≥ 2^j]``, which
    gives the exact power of two ``s`` with ``m = x·s ∈ [1/2, 1)``; ``y0 = 48/17 - 32/17·m``
    (relative error ≤ 1/17), three Newton steps ``y ← y(2 - m·y)`` (error ≤ 17^-8), and
    ``1/x = y·s``.
    Error: ≤ 2 ulp + 2^-20 relative (measured; the tests assert ≤ 3 ulp + 1e-5 relative).
    Cost: ``log2(upper/lower) - 1`` comparisons and 9 products, plus one comparison and
    2 products for the sign.

:func:`exp` — ``e^x`` for ``x`` in ``[low, high]`` (default ``[-32, 12]``; outside, the input
    is clamped, so ``exp`` of a very negative value is ``≈ e^low ≈ 0`` and of a large one
    ``e^high``; both sides are tested in one batch of comparisons). Scaling and
    squaring (Moler & Van Loan 2003, "Nineteen dubious ways to compute the exponential of a
    matrix, twenty-five years later", SIAM Review 45(1), §3, method 3): ``t = x / 2^6`` is
    exact (a change of scale), ``e^t`` by a degree-5 Chebyshev interpolant on
    ``[low/64, high/64]``, then 6 squarings. Error: absolute ≤ 2e-4 on ``[-32, 0]`` (the
    softmax case; ≤ ``2e-4·e^x + 2`` ulp on ``[-8, 0]``); relative ≤ 5e-4 on ``[0, 12]``.

:func:`sigmoid` — ``1/(1 + e^-|x|)`` on ``|x|`` (denominator in ``(1, 2]``: no normalisation),
    mirrored for ``x < 0`` with one comparison. Error ≤ 2e-4 absolute, any finite input.

:func:`tanh` — ``2·sigmoid(2x) − 1`` (the identity ``tanh x = 2σ(2x) − 1``); doubling is
    exact, so the error is twice sigmoid's: ≤ 4e-4 absolute, any finite input.

:func:`softmax` — subtract the maximum (:func:`privet.smpc.max`), exponentiate (inputs
    ``≤ 0``), divide by the sum (in ``[1, K]``, so ``K < 2^f``). Error ≤ 2e-4 absolute per
    probability.

The absolute bounds are for ``f >= 16``; with fewer fractional bits the ulp takes over.
Measured over 40,000 inputs at ``f`` = 8, 12, 16 and 20, the largest errors were about 1.8
ulp for ``sigmoid`` and 3.7 ulp for ``tanh``; ``exp`` on ``[-20, 0]`` was within 1.2 ulp up
to ``f = 16`` and 5.4 ulp at ``f = 20`` (its absolute bound still holds). At ``f = 30``
``exp``'s default ``high`` is 0 (``e^(high/2) < 2^(30-f)``).

Examples
--------
>>> import numpy as np
>>> from privet.smpc import InProcessCluster
>>> with InProcessCluster(parties=2) as cluster:
...     x = cluster.share([0.5, -4.0, 100.0])
...     print(np.round(reciprocal(x).reveal(), 4))
[ 2.   -0.25  0.01]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

from privet.core.checks import check_finite
from privet.core.errors import ParameterError, ParameterTypeError
from privet.smpc.comparison import max as shared_max
from privet.smpc.comparison import maximum
from privet.smpc.driver import Driver
from privet.smpc.tensor import (
    SharedTensor,
    _add,
    _axes,
    _mul,
    _neg,
    _rescale,
    _rsub,
    _sub,
    ltz,
    mul_to,
    public,
    relabel,
    stack,
)

__all__ = ["divide", "exp", "reciprocal", "rsqrt", "sigmoid", "softmax", "sqrt", "tanh"]

NEWTON_STEPS: Final = 3
SQUARINGS: Final = 6
EXP_DEGREE: Final = 5


def _check(x: object, name: str = "x") -> SharedTensor:
    if not isinstance(x, SharedTensor):
        raise ParameterTypeError(f"{name} must be a SharedTensor, got {type(x).__name__}")
    return x


def _work_bits(d: Driver) -> int:
    """Fractional bits of intermediate values (see the module docstring).

    ``f + 12`` up to 28, and never below ``f`` (for ``f`` = 29, 30). The octave
    normalisations raise ``x`` to these bits before their first product (a product of two
    ``f``-bit values carries only ``2f``).
    """
    f = d.frac_bits
    return f if d.truncation == "local" else max(f, min(f + 12, 28))


def _bounds(d: Driver, lower: float | None, upper: float | None) -> tuple[float, float]:
    """Return the reciprocal's bounds: the given ones, or the default for the cluster's f.

    The default is ``[2^-8, 2^16)`` where ``f`` allows it, else the widest range it allows
    (:func:`_octaves`): ``[2^max(-8, f-31), 2^min(16, f))``.
    """
    f = d.frac_bits
    lo = 2.0 ** max(-8, f - 31) if lower is None else lower
    hi = 2.0 ** min(16, f) if upper is None else upper
    return lo, hi


def _to_frac(t: SharedTensor, frac: int) -> SharedTensor:
    """Bring ``t`` to ``frac`` bits: an exact local shift up, or a truncation down."""
    if t.frac_bits == frac:
        return t
    if t.frac_bits < frac:
        return _rescale(t, frac)
    return mul_to(t, 1, frac, b_frac=0)


def _power_of_two(value: float, name: str) -> int:
    v = check_finite(value, name=name)
    if v <= 0 or 2.0 ** round(math.log2(v)) != v:
        raise ParameterError(f"{name} must be a positive power of two, got {v!r}")
    return round(math.log2(v))


def _newton_reciprocal(m: SharedTensor, work: int) -> SharedTensor:
    """``1/m`` for ``m`` in ``[1/2, 1]`` at ``work`` bits (Catrina & Saxena 2010, §3.4)."""
    y = _add(mul_to(m, -32.0 / 17.0, work, b_frac=work), 48.0 / 17.0)
    y = _to_frac(y, work)
    for _ in range(NEWTON_STEPS):  # y <- y (2 - m y); the error squares each step
        e = _add(_neg(mul_to(m, y, work)), 2.0)
        y = mul_to(y, _to_frac(e, work), work)
    return y


def reciprocal(
    x: SharedTensor,
    *,
    lower: float | None = None,
    upper: float | None = None,
    positive: bool = False,
) -> SharedTensor:
    """Return ``1/x`` for ``|x|`` in ``[lower, upper)``, either sign (see the module docstring).

    Parameters
    ----------
    x
        Shared values.
    lower, upper
        Powers of two bounding ``|x|``: ``2^(f-31) <= lower < upper <= 2^f``; default
        ``[2^-8, 2^16)``, narrowed to those limits for ``f`` outside 16..23. Outside the
        range the result is wrong (it cannot be detected without revealing ``x``).
    positive
        Skip the sign test (one comparison, 8 rounds) when ``x`` is known to be positive;
        a negative ``x`` then gives a wrong result.

    Returns
    -------
    SharedTensor
        ``1/x`` at the cluster's precision.
    """
    x = _check(x)
    lower, upper = _bounds(x.driver, lower, upper)
    _octaves(x.driver, lower, upper)  # refuse bad bounds before any work
    with x.driver.op("reciprocal"):
        if positive:
            return _reciprocal_positive(x, lower, upper)
        # one sign test carries x·b and b (b = [x < 0]; the ring value 1 rides as x's
        # scale): |x| = x - 2·x·b with no product of its own, and 1/x = (1 - 2b)·1/|x|
        one = relabel(public(x, np.ones(x.shape), integer=True), x.frac_bits)
        both = ltz(x, times=stack([x, one]))
        sgn = _add(_mul(relabel(both[1], 0), -2), 1)  # ±1, an exact integer
        return _mul(_reciprocal_positive(_sub(x, _mul(both[0], 2)), lower, upper), sgn)


def _octaves(d: Driver, lower: float, upper: float) -> tuple[int, int]:
    """Return ``(log2 lower, log2 upper)``, checked against the cluster's precision."""
    jlo, jhi = _power_of_two(lower, "lower"), _power_of_two(upper, "upper")
    f = d.frac_bits
    if jhi <= jlo or jhi > f or -jlo - 1 > 30 - f:
        raise ParameterError(
            f"need lower < upper <= 2^{f} and lower >= 2^-{31 - f}, "
            f"got lower=2^{jlo}, upper=2^{jhi}"
        )
    return jlo, jhi


def _reciprocal_positive(x: SharedTensor, lower: float, upper: float) -> SharedTensor:
    """Return ``1/x`` for positive ``x`` in ``[lower, upper)``: AppRcr (module docstring)."""
    d = x.driver
    with d.op("reciprocal"):
        m, octave, octs = _normalised(x, lower, upper)
        y = _newton_reciprocal(m, _work_bits(d))
        return _times_octave(y, octave, lambda j: 2.0 ** -(j + 1.0), octs)  # 1/x = y·2^-(j+1)


RSQRT_INIT: Final = (1.78772748, 0.80998685)
"""``y0 = a - b·m`` for ``1/sqrt(m)`` on ``[1/2, 1)``: the linear fit of least maximum
relative error (2.23%; found by Nelder-Mead on a grid of 10^4 points, checked in the tests)."""


def rsqrt(
    x: SharedTensor, *, lower: float | None = None, upper: float | None = None
) -> SharedTensor:
    """Return ``1/sqrt(x)`` for positive ``x`` in ``[lower, upper)`` (module docstring).

    The octave of ``x`` is found as for :func:`reciprocal` (one batch of comparisons),
    which gives ``m = x·2^-(j+1)`` in ``[1/2, 1)`` and, from the same comparison bits with
    other public weights, ``2^-(j+1)/2`` (for an odd ``j + 1``, ``√2`` times a power of
    two, rounded at the work precision). Then ``y0`` (:data:`RSQRT_INIT`, relative error
    2.23%), three Newton steps ``y ← y·(3 - m·y²)/2`` (the relative error ``e`` becomes
    about ``1.5·e²``: 7.4e-4, 8.3e-7, 1e-12), and ``1/sqrt(x) = y·2^-(j+1)/2``. Error: 1 ulp
    measured, 3 ulp + 1e-5 relative asserted; outside ``[lower, upper)`` the result is
    wrong (undetectable without revealing ``x``).

    Parameters
    ----------
    x
        Positive shared values.
    lower, upper
        Powers of two bounding ``x``, as for :func:`reciprocal` (same default).

    Returns
    -------
    SharedTensor
        ``1/sqrt(x)``.
    """
    x = _check(x)
    with x.driver.op("rsqrt"):
        y, _, octave, octs = _root_parts(x, lower, upper)
        return _times_octave(y, octave, lambda j: 2.0 ** (-(j + 1.0) / 2), octs)


def sqrt(
    x: SharedTensor, *, lower: float | None = None, upper: float | None = None
) -> SharedTensor:
    """Return ``sqrt(x)`` for positive ``x`` in ``[lower, upper)``.

    As :func:`rsqrt`: ``sqrt(m) = m·y`` at the work precision, times ``2^(j+1)/2`` from the
    same comparison bits. Error: 1 ulp + 1e-5 relative (asserted by the tests).
    """
    x = _check(x)
    d = x.driver
    with d.op("sqrt"):
        y, m, octave, octs = _root_parts(x, lower, upper)
        root_m = mul_to(m, y, _work_bits(d))  # sqrt(m) = m / sqrt(m)
        return _times_octave(root_m, octave, lambda j: 2.0 ** ((j + 1.0) / 2), octs)


OctaveFn = Callable[[NDArray[np.float64]], NDArray[np.float64]]
"""A public function ``g`` of the octave ``j`` (an array of octaves in, values out)."""

Octave = Callable[[OctaveFn, int], "SharedTensor | float"]
"""``octave(g, bits)``: ``g(j)`` for ``x``'s octave ``j`` at ``bits`` fractional bits."""


def _root_parts(
    x: SharedTensor, lower: float | None, upper: float | None
) -> tuple[SharedTensor, SharedTensor, Octave, NDArray[np.float64]]:
    """Return ``(y, m, octave, octs)``: ``y ≈ 1/sqrt(m)`` for ``m`` of :func:`_normalised`."""
    m, octave, octs = _normalised(x, lower, upper)
    work = _work_bits(x.driver)
    a, b = RSQRT_INIT
    y = _to_frac(_add(mul_to(m, -b, work, b_frac=work), a), work)
    for _ in range(NEWTON_STEPS):  # y <- y (3 - m y^2) / 2: Newton on 1/y^2 - m
        my2 = mul_to(mul_to(y, y, work), m, work)
        # /2: truncate one bit further, then read the integer with one bit more
        y = relabel(mul_to(y, _to_frac(_add(_neg(my2), 3.0), work), work - 1), work)
    return y, m, octave, octs


def _normalised(
    x: SharedTensor, lower: float | None, upper: float | None
) -> tuple[SharedTensor, Octave, NDArray[np.float64]]:
    """Return ``(m, octave, octs)``: ``m = x·2^-(j+1)`` in ``[1/2, 1)`` at the work precision.

    ``j`` is ``x``'s octave, found with one batch of comparisons ``[x < 2^j]`` (Catrina &
    Saxena 2010, §3.4); ``octave(g, bits)`` gives ``g(j)`` for any public ``g`` from the same
    bits, and ``octs`` lists the octaves ``[log2 lower, log2 upper)``.
    """
    d = x.driver
    lower, upper = _bounds(d, lower, upper)
    jlo, jhi = _octaves(d, lower, upper)
    f, work = d.frac_bits, _work_bits(d)
    xf = _to_frac(x, min(max(x.frac_bits, f), work))  # more bits in (a variance): kept
    js = np.arange(jlo + 1, jhi)
    octs = np.arange(jlo, jhi, dtype=np.float64)  # the octaves j = jlo .. jhi - 1
    below: SharedTensor | None = None
    if js.size:
        thresholds = (2.0**js).reshape((-1,) + (1,) * xf.ndim)
        below = ltz(_sub(xf[None], thresholds))  # [x < 2^j] for each octave boundary

    def octave(g: OctaveFn, bits: int) -> SharedTensor | float:
        # g(j*) = g(jhi - 1) + Σ_{j > j*} (g(j - 1) - g(j)): telescoping over the bits
        vals = g(octs)
        if below is None:
            return float(vals[-1])
        steps = (vals[:-1] - vals[1:]).reshape((-1,) + (1,) * xf.ndim)
        part = mul_to(below, steps, bits, b_frac=bits).sum(axis=0)  # integers: no truncation
        return _add(part, float(vals[-1]))

    s = octave(lambda j: 2.0 ** -(j + 1.0), f)  # 2^-(j*+1): exact at f bits (jlo >= f - 31)
    if isinstance(s, SharedTensor):
        m = mul_to(_to_frac(xf, work), s, work)
    else:
        m = mul_to(_to_frac(xf, work), s, work, b_frac=max(f, jhi + 1))
    return m, octave, octs


def _times_octave(
    y: SharedTensor, octave: Octave, g: OctaveFn, octs: NDArray[np.float64]
) -> SharedTensor:
    """Return ``y · g(j)`` at the cluster's precision (``y`` below 2, at the work precision).

    The product of ``y`` (``work`` bits) and ``g(j)`` (``bits``) must stay below 2^61:
    ``g`` gets ``59 - work - log2 max|g|`` bits, at most ``work``; where that is fewer than
    ``f`` (a large ``g`` at a high ``f``), ``g`` gets ``f`` and ``y`` is cut to the room left.
    """
    d = y.driver
    f, work = d.frac_bits, _work_bits(d)
    top = math.ceil(math.log2(float(np.max(np.abs(g(octs))))))
    bits = min(work, 59 - work - top)
    if bits < f:
        bits = f
        y = _to_frac(y, max(1, 59 - top - f))
    factor = octave(g, bits)
    if isinstance(factor, SharedTensor):
        return mul_to(y, factor, f)
    return mul_to(y, factor, f, b_frac=bits)


def divide(
    a: SharedTensor,
    b: SharedTensor,
    *,
    lower: float | None = None,
    upper: float | None = None,
    positive: bool = False,
) -> SharedTensor:
    """Return ``a / b`` for shared ``b`` with ``|b|`` in ``[lower, upper)``.

    Parameters
    ----------
    a, b
        Shared tensors (broadcasting).
    lower, upper
        Bounds of ``|b|`` (powers of two), as for :func:`reciprocal` (same default).
    positive
        Skip the sign test when ``b`` is known to be positive.

    Returns
    -------
    SharedTensor
        The quotient (error: that of :func:`reciprocal` times ``|a|``, plus 2 ulp).
    """
    a, b = _check(a, "a"), _check(b, "b")
    with a.driver.op("div"):
        return _mul(a, reciprocal(b, lower=lower, upper=upper, positive=positive))


@lru_cache(maxsize=32)
def _exp_coefficients(lo: float, hi: float) -> tuple[float, ...]:
    """Monomial coefficients (low to high) of the Chebyshev interpolant of e^t on [lo, hi]."""
    cheb = np.polynomial.Chebyshev.interpolate(np.exp, EXP_DEGREE, domain=[lo, hi])
    mono = cheb.convert(kind=np.polynomial.Polynomial, domain=[-1, 1], window=[-1, 1])
    return tuple(float(c) for c in mono.coef)


def _highest(f: int) -> float:
    """Return the largest ``high`` of :func:`exp` at ``f`` fractional bits: ``2 ln 2 (30 - f)``.

    The last squaring multiplies ``e^(high/2)`` by itself with ``f`` bits each: the product,
    ``2^(2f) e^high``, must stay below ``2^62`` minus a bit of headroom, so
    ``e^(high/2) <= 2^(30-f)`` (:func:`_stage_bits`).
    """
    return 2.0 * math.log(2.0) * (30 - f)


def _stage_bits(d: Driver, high: float) -> list[int]:
    """Fractional bits after each squaring: as many as the magnitude allows, ``f`` last."""
    f, work = d.frac_bits, _work_bits(d)
    out = []
    for k in range(1, SQUARINGS + 1):
        vmax = math.exp(max(high, 0.0) / 2 ** (SQUARINGS - k))
        room = 30 - max(0, math.ceil(math.log2(vmax) - 1e-12))  # (2^F v)^2 < 2^62 next step
        bits = f if k == SQUARINGS else min(work, room)
        if bits < f:
            raise ParameterError(
                f"exp(high={high}) exceeds the multiplication range at {f} fractional bits: "
                f"e^(high/2) must stay below 2^(30-f), so high <= {_highest(f):.2f}; lower "
                "high or use fewer fractional bits"
            )
        out.append(bits)
    return out


def exp(x: SharedTensor, *, low: float = -32.0, high: float | None = None) -> SharedTensor:
    """Return ``e^x`` for ``x`` in ``[low, high]``, clamped to it (module docstring).

    Parameters
    ----------
    x
        A shared tensor.
    low, high
        The domain (``low < 0 <= high``); ``e^(high/2)`` must stay below ``2^(30-f)``
        (``high <= 2 ln 2 (30 - f)``: 19.4 for ``f = 16``). ``high`` defaults to 12, or
        to that limit where it is lower (``f >= 22``). Inputs outside are clamped:
        ``e^x`` saturates at ``e^low`` and ``e^high``. The clamps compare ``x`` with
        ``low`` and ``high``: right for any ``x`` inside the storage range.

    Returns
    -------
    SharedTensor
        ``e^x``.
    """
    if high is None:
        high = min(12.0, math.floor(_highest(_check(x).driver.frac_bits) * 100) / 100)
    return _exp(x, low=low, high=high, clamp_high=True)


def _exp(x: SharedTensor, *, low: float, high: float, clamp_high: bool) -> SharedTensor:
    """``exp``; ``clamp_high=False`` where the caller knows ``x <= high`` (softmax, sigmoid)."""
    x = _check(x)
    d = x.driver
    lo, hi = check_finite(low, name="low"), check_finite(high, name="high")
    if not lo < 0 <= hi:
        raise ParameterError(f"exp needs low < 0 <= high, got low={lo}, high={hi}")
    f = d.frac_bits
    stages = _stage_bits(d, hi)
    with d.op("exp"):
        xf = _to_frac(x, f)
        if clamp_high:
            # both sides in one batch of comparisons, each select riding on its own:
            # x + (lo - x)·[x - lo < 0] - (x - hi)·[hi - x < 0]
            a = stack([_sub(xf, lo), _rsub(xf, hi)])
            r = ltz(a, times=stack([_rsub(xf, lo), _sub(xf, hi)]))
            xc = _sub(_add(xf, r[0]), r[1])
        else:
            xc = maximum(xf, lo)
        t = relabel(xc, f + SQUARINGS)  # t = x / 2^6, exactly
        work = max(_work_bits(d), f)
        t = _to_frac(t, work)
        coef = _exp_coefficients(lo / 2**SQUARINGS, hi / 2**SQUARINGS)
        p = _add(mul_to(t, coef[-1], work, b_frac=work), coef[-2])  # Horner
        for c in reversed(coef[:-2]):
            p = _add(mul_to(p, t, work), c)
        v = p
        for bits in stages:  # e^x = (e^t)^(2^6)
            v = mul_to(v, v, bits)
        return v


def sigmoid(x: SharedTensor) -> SharedTensor:
    """Return ``1 / (1 + e^-x)`` (module docstring: error ≤ 2e-4 absolute).

    Parameters
    ----------
    x
        A shared tensor.

    Returns
    -------
    SharedTensor
        Values within 2e-4 of ``σ(x)``, so within 2e-4 of ``[0, 1]``: the last
        truncation may land an ulp outside it (2 to 6 per 100,000 inputs, measured);
        clamp with :func:`~privet.smpc.maximum`/:func:`~privet.smpc.minimum` if an exact
        range matters more than 8 rounds.
    """
    x = _check(x)
    d = x.driver
    f, work = d.frac_bits, _work_bits(d)
    with d.op("sigmoid"):
        neg = ltz(x)
        a = _mul(_to_frac(x, f), _add(_mul(neg, -2), 1))  # |x|
        e = _exp(_neg(a), low=-32.0, high=0.0, clamp_high=False)
        m = relabel(_add(e, 1.0), f + 1)  # (1 + e^-|x|) / 2, in (1/2, 1]
        y = _newton_reciprocal(_to_frac(m, work), work)  # 2 / (1 + e^-|x|)
        r = _to_frac(relabel(y, work + 1), f)  # 1 / (1 + e^-|x|)
        return _add(_mul(_add(_mul(r, -2), 1.0), neg), r)  # mirrored where x < 0


def tanh(x: SharedTensor) -> SharedTensor:
    """Return ``tanh(x) = 2·sigmoid(2x) − 1`` (module docstring: error ≤ 4e-4 absolute).

    Parameters
    ----------
    x
        A shared tensor (``|2x|`` must stay in the storage range).

    Returns
    -------
    SharedTensor
        Values within 4e-4 of ``tanh(x)``; like :func:`sigmoid`'s, up to 2 ulp outside
        ``[-1, 1]``.
    """
    x = _check(x)
    with x.driver.op("tanh"):
        return _add(_mul(sigmoid(_mul(x, 2)), 2), -1.0)


def softmax(x: SharedTensor, axis: int | None = -1) -> SharedTensor:
    """Return ``exp(x) / sum(exp(x))`` over ``axis`` (module docstring).

    Parameters
    ----------
    x
        A shared tensor.
    axis
        The axis of the classes (``None``: all elements).

    Returns
    -------
    SharedTensor
        Probabilities along ``axis``.
    """
    x = _check(x)
    d = x.driver
    if x.ndim == 0 and axis in (-1, 0):  # a 0-d tensor's own axis, as torch allows
        axis = None
    if axis is None:  # over every element, as scipy.special.softmax(axis=None)
        with d.op("softmax"):
            return softmax(x.reshape((-1,)), axis=0).reshape(x.shape)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise ParameterError(f"softmax takes one axis or None, got {axis!r}")
    axis = _axes(int(axis), x.ndim)[0]
    with d.op("softmax"):
        m = shared_max(x, axis=axis, keepdims=True)
        e = _exp(_sub(x, m), low=-32.0, high=0.0, clamp_high=False)
        k = x.shape[axis] if x.ndim else 1
        total = e.sum(axis=axis, keepdims=True)
        upper = 2.0 ** max(1, math.ceil(math.log2(k + 1)))
        if upper > 2.0**d.frac_bits:  # the sum of the exponentials, up to k, is inverted
            raise ParameterError(
                f"softmax over {k} entries needs k < 2^{d.frac_bits} at {d.frac_bits} "
                "fractional bits (it inverts their sum, up to k); use more fractional bits "
                "or a smaller axis"
            )
        return _mul(e, reciprocal(total, lower=0.5, upper=upper, positive=True))
