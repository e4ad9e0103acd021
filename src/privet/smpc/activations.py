"""The activations and the normalisation of current networks, on shared tensors.

Each is built from the exact comparisons of :mod:`privet.smpc.comparison` and the
approximations of :mod:`privet.smpc.nonlinear`; the error is stated and tested.

:func:`leaky_relu` — ``x`` for ``x >= 0``, ``slope·x`` below: ``slope·x + (1 - slope)·relu(x)``.
    One comparison (8 rounds); error: one truncation of ``slope·x`` (1 ulp) and the
    encoding of ``slope`` (``|x|·2^-(f+1)``).

:func:`hardtanh` — ``x`` clamped to ``[low, high]`` (``relu6`` is ``[0, 6]``):
    ``low + relu(x - low) - relu(x - high)``, both comparisons in one batch (8 rounds).
    Exact.

:func:`silu` — ``x·sigmoid(x)`` (SiLU, also called swish). Error: ``|x|`` times
    :func:`~privet.smpc.sigmoid`'s, plus 1 ulp.

:func:`gelu` — ``x·Φ(x)``, ``Φ`` the standard normal CDF (torch's ``nn.GELU()``), or with
    ``approximate="tanh"`` torch's ``0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))``. Both are
    ``x·sigmoid(a·x + b·x³)``: the tanh form is exactly that with ``a = 2√(2/π)``,
    ``b = 0.044715·a`` (``(1 + tanh z)/2 = sigmoid(2z)``); for ``Φ`` the coefficients
    :data:`GELU_ERF` fit ``x·Φ(x)`` with the least maximum error over ``[-12, 12]``, 2.7e-4
    (beyond, both saturate). Error against torch: that, plus ``|x|`` times sigmoid's error.
    Needs ``|x| < 2^((62-2f)/3)`` (1024 for ``f = 16``): ``x³`` is a product.

:func:`layer_norm` — ``(x - mean)·rsqrt(var + eps)``, then ``·weight + bias``, over the last
    axes (torch's ``nn.LayerNorm``). The squares of the centred values keep ``v = min(8,
    24 - f)`` more fractional bits (a row of standard deviation 0.01 has a variance of 6.5
    ulp at ``f = 16``: at ``f`` bits its inverse square root was off by 15%), and
    :func:`~privet.smpc.rsqrt` reads them. ``var + eps`` is clamped to rsqrt's widest domain
    ``[2^(f-31), U)`` with ``U = 2^min(f, 54-2f-v)``, the range of a mean of ``f + v``-bit
    values: a row's standard deviation must lie in ``[0.0055, 128)`` at ``f = 16`` (below,
    the row is normalised as if it had the lower value; above, the result is wrong),
    ``[3.5e-4, 16)`` at ``f = 8``, ``[1.4e-3, 64)`` at 12, ``[0.022, 32)`` at 20 and
    ``[0.088, 8)`` at 24; the row's mean is a division by the row length, with its range
    (``|mean| < 2^(62-2f-8)``: 64 at ``f = 24``); and each centred value is squared, so
    ``|x - mean| < 2^(31-f)`` (128 at ``f = 24``, 2048 at 20). The mean is computed at ``f``
    bits: its error, about ``|mean|·2^-20`` plus an ulp, divided by the row's standard
    deviation, adds to the output's (0.025 for a row of mean 1000 and std 0.01 at ``f =
    16``; 0.1 at the lower std bound at ``f = 12``). Measured at ``f = 16`` on rows of mean
    0.3: 5e-4 at std 0.01, 3e-5 at 1, 2e-3 at 100 (one ulp of ``rsqrt``, relative to a
    small value).

Examples
--------
>>> import numpy as np
>>> from privet.smpc import InProcessCluster
>>> with InProcessCluster(parties=2) as cluster:
...     x = cluster.share([-2.0, 0.5, 7.0])
...     print(hardtanh(x, 0.0, 6.0).reveal(), leaky_relu(x, 0.25).reveal())
[0.  0.5 6. ] [-0.5  0.5  7. ]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from privet.core.checks import check_finite
from privet.core.errors import ParameterError
from privet.smpc.comparison import maximum, relu
from privet.smpc.nonlinear import _check, rsqrt, sigmoid
from privet.smpc.tensor import SharedTensor, _add, _axes, _mul, _sub, mul_to, stack

__all__ = ["GELU_ERF", "gelu", "hardtanh", "layer_norm", "leaky_relu", "silu"]

GELU_ERF: Final = (1.60031416, 0.06940179)
"""``Φ(x) ≈ sigmoid(a·x + b·x³)``: the fit of least maximum error of ``x·Φ(x)`` (2.7e-4) over
a grid of 400,001 points on ``[-12, 12]`` (Nelder-Mead from the tanh form's coefficients)."""

GELU_TANH: Final = (2.0 * math.sqrt(2.0 / math.pi), 2.0 * math.sqrt(2.0 / math.pi) * 0.044715)
"""torch's ``approximate="tanh"`` as a sigmoid: ``2√(2/π)`` and ``0.044715`` times that."""


def leaky_relu(x: SharedTensor, negative_slope: float = 0.01) -> SharedTensor:
    """Return ``x`` where ``x >= 0``, else ``negative_slope·x`` (see the module docstring)."""
    x = _check(x)
    slope = check_finite(negative_slope, name="negative_slope")
    with x.driver.op("leaky_relu"):
        return _add(_mul(x, slope), _mul(relu(x), 1.0 - slope))


def hardtanh(x: SharedTensor, low: float = -1.0, high: float = 1.0) -> SharedTensor:
    """Return ``x`` clamped to ``[low, high]``, exactly (one batch of two comparisons)."""
    x = _check(x)
    lo, hi = check_finite(low, name="low"), check_finite(high, name="high")
    if not lo < hi:
        raise ParameterError(f"hardtanh needs low < high, got low={lo}, high={hi}")
    with x.driver.op("hardtanh"):
        both = relu(stack([_sub(x, lo), _sub(x, hi)]))  # relu(x - low), relu(x - high)
        return _add(_sub(both[0], both[1]), lo)


def silu(x: SharedTensor) -> SharedTensor:
    """Return ``x·sigmoid(x)`` (SiLU / swish; see the module docstring)."""
    x = _check(x)
    with x.driver.op("silu"):
        return _mul(x, sigmoid(x))


def gelu(x: SharedTensor, approximate: str = "none") -> SharedTensor:
    """Return GELU(x): ``approximate="none"`` (``x·Φ(x)``) or ``"tanh"``, as torch's."""
    x = _check(x)
    if approximate not in ("none", "tanh"):
        raise ParameterError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    a, b = GELU_ERF if approximate == "none" else GELU_TANH
    with x.driver.op("gelu"):
        cube = _mul(_mul(x, x), x)
        return _mul(x, sigmoid(_add(_mul(x, a), _mul(cube, b))))


def layer_norm(
    x: SharedTensor,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> SharedTensor:
    """Normalise over the last ``len(normalized_shape)`` axes, as ``torch.nn.LayerNorm``.

    Parameters
    ----------
    x
        A shared tensor whose trailing axes are ``normalized_shape``.
    normalized_shape
        The normalised axes' sizes.
    weight, bias
        The affine scale and shift (shared or public, of ``normalized_shape``), or ``None``.
    eps
        Added to the variance (torch's default ``1e-5``; see the module docstring).

    Returns
    -------
    SharedTensor
        The normalised values.
    """
    x = _check(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k :] != shape:
        raise ParameterError(
            f"layer_norm over {shape} needs an input ending in those sizes, got {x.shape}"
        )
    e = check_finite(eps, name="eps")
    if e < 0:
        raise ParameterError(f"eps must be >= 0, got {e}")
    for name, p in (("weight", weight), ("bias", bias)):
        if (
            p is not None
            and tuple(np.shape(p) if not isinstance(p, SharedTensor) else p.shape) != shape
        ):
            raise ParameterError(
                f"layer_norm's {name} must have the shape {shape}, got {np.shape(p)}"
            )
    d = x.driver
    f = d.frac_bits
    extra = max(0, min(8, 24 - f))  # the squares' extra fractional bits
    lower, upper = 2.0 ** (f - 31), 2.0 ** min(f, 54 - 2 * f - extra)
    with d.op("layer_norm"):
        axes = _axes(tuple(range(x.ndim - k, x.ndim)), x.ndim)
        centred = _sub(x, x.mean(axis=axes, keepdims=True))
        squares = mul_to(centred, centred, f + extra).sum(axis=axes, keepdims=True)
        count = int(np.prod(shape))  # the mean keeps the squares' extra bits (x.mean would not)
        var = mul_to(squares, 1.0 / count, f + extra, b_frac=f + 8)
        r = rsqrt(maximum(_add(var, e), lower), lower=lower, upper=upper)
        out = _mul(centred, r)
        if weight is not None:
            out = _mul(out, weight if isinstance(weight, SharedTensor) else np.asarray(weight))
        if bias is not None:
            out = _add(out, bias if isinstance(bias, SharedTensor) else np.asarray(bias))
        return out
