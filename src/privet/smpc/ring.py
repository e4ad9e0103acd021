"""Arithmetic in the ring Z_2^64 on numpy ``uint64`` arrays (wrapping, vectorised).

numpy's unsigned 64-bit array arithmetic wraps modulo 2^64, which is exactly the ring of
additive secret sharing. Python operators on numpy *scalars* warn on overflow, so every
function here goes through ufuncs and returns an ``ndarray`` (0-d for scalars), and protocol
code uses these functions rather than ``+`` on values that may be 0-d.

The bilinear maps a Beaver triple can serve (:data:`BILINEAR`) are defined here once, so that
the dealer computes ``c = op(a, b)`` with exactly the map the parties evaluate:

* ``mul``: broadcasting elementwise product;
* ``matmul``: ``numpy.matmul`` semantics (batched, broadcasting);
* ``conv2d``: a 2-D cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, C, kh, kw), with
  ``stride`` and zero ``padding`` (PyTorch's ``conv2d`` without groups or dilation), computed
  as im2col + matmul.

Examples
--------
>>> import numpy as np
>>> a = np.array([2**63, 5], dtype=np.uint64)
>>> add(a, a).tolist()
[0, 10]
>>> to_signed(neg(np.array([3], dtype=np.uint64))).tolist()
[-3]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError
from privet.smpc import bytemm
from privet.smpc.limbs import SMALL_MATMUL, Pair, demote, limb_matmul_sum, promote, work

__all__ = [
    "BILINEAR",
    "RING_BITS",
    "Ring",
    "RingLike",
    "add",
    "bilinear",
    "bilinear_sum",
    "conv2d",
    "from_signed",
    "im2col",
    "matmul",
    "matmul_sum",
    "mul",
    "neg",
    "output_shape",
    "sub",
    "sum_axis",
    "to_signed",
    "xor_all",
]

RING_BITS: Final = 64
"""The ring is Z_2^RING_BITS, stored as ``numpy.uint64``."""

Ring = NDArray[np.uint64]
"""An array of ring elements."""

RingLike = NDArray[np.uint64] | np.uint64
"""A ring array or a single ring element."""

U64: Final = np.uint64


def add(a: RingLike, b: RingLike) -> Ring:
    """Return ``a + b`` mod 2^64 (broadcasting)."""
    return np.asarray(np.add(a, b, dtype=U64))


def sub(a: RingLike, b: RingLike) -> Ring:
    """Return ``a - b`` mod 2^64 (broadcasting)."""
    return np.asarray(np.subtract(a, b, dtype=U64))


def neg(a: RingLike) -> Ring:
    """Return ``-a`` mod 2^64."""
    return np.asarray(np.subtract(U64(0), a, dtype=U64))


def mul(a: RingLike, b: RingLike) -> Ring:
    """Return ``a * b`` mod 2^64 (elementwise, broadcasting)."""
    return np.asarray(np.multiply(a, b, dtype=U64))


def _exact_sum(pairs: list[Pair]) -> Ring:
    """Return ``Σ a @ b`` mod 2^64 by the int8 engine where it is on and pays, else limbs."""
    if not bytemm.fits(pairs):
        return limb_matmul_sum(pairs)
    if bytemm.enabled():
        return bytemm.byte_matmul_sum(pairs)
    start = time.perf_counter()
    out = limb_matmul_sum(pairs)
    bytemm.record_limb_seconds(time.perf_counter() - start)  # feeds the engine's auto rule
    return out


def matmul(a: Ring, b: Ring) -> Ring:
    """Return ``a @ b`` mod 2^64 (``numpy.matmul`` semantics), exactly.

    numpy's integer ``matmul`` has no BLAS path; large products are instead computed from
    five float64 BLAS products of 21/22-bit limbs (:mod:`privet.smpc.limbs`) or, on CPUs with
    AMX, from int8 GEMMs of byte digits (:mod:`privet.smpc.bytemm`), every one exact (the
    bounds are in those modules), and recombined mod 2^64. The result is bit-for-bit numpy's
    ``uint64`` matmul, batched and broadcast shapes and 1-D operands included.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.full((2, 300), 2**64 - 1, dtype=np.uint64)
    >>> matmul(a, a.T)[0, 0] == np.uint64(300)
    np.True_
    """
    a = np.asarray(a, dtype=U64)
    b = np.asarray(b, dtype=U64)
    if a.ndim == 0 or b.ndim == 0:
        raise ParameterError("matmul needs at least 1-D operands")
    if work(a, b) < SMALL_MATMUL:
        return np.asarray(np.matmul(a, b, dtype=U64))
    a2, b2 = promote(a, b)
    return demote(_exact_sum([(a2, b2)]), a.ndim, b.ndim)


def matmul_sum(pairs: Sequence[tuple[Ring, Ring]]) -> Ring:
    """Return ``Σ a_i @ b_i`` mod 2^64 for products with one output shape, exactly.

    When every ``a_i`` has the same shape but the last axis, and every ``b_i`` the same
    shape but the inner axis (1-D alike), the products are fused into one limb product over
    the concatenated inner dimension (``[a_1 | a_2] @ [b_1; b_2]``): one set of BLAS calls
    and one recombination instead of one per pair, exact by the same bounds as
    :func:`matmul`. Otherwise it is the sum of :func:`matmul` calls.

    Parameters
    ----------
    pairs
        A non-empty sequence of ``(a, b)`` ring arrays.

    Returns
    -------
    numpy.ndarray
        ``uint64``, of the products' common shape.

    Raises
    ------
    ParameterError
        If ``pairs`` is empty, or a pair does not fit ``matmul``, or the products' shapes
        differ.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.full((2, 3), 2**64 - 1, dtype=np.uint64)
    >>> matmul_sum([(a, a.T), (a, a.T)]).tolist()
    [[6, 6], [6, 6]]
    """
    items = [(np.asarray(a, dtype=U64), np.asarray(b, dtype=U64)) for a, b in pairs]
    if not items:
        raise ParameterError("matmul_sum needs at least one (a, b) pair")
    shapes = [output_shape("matmul", a.shape, b.shape, {}) for a, b in items]
    if any(s != shapes[0] for s in shapes):
        raise ParameterError(
            f"matmul_sum needs products of one shape, got {shapes}; check the operands"
        )
    a_nd, b_nd = items[0][0].ndim, items[0][1].ndim
    live = [promote(a, b) for a, b in items if a.shape[-1] > 0]
    a_lead = {a.shape[:-1] for a, _ in live}
    b_lead = {(*b.shape[:-2], b.shape[-1]) for _, b in live}
    same_ndim = all(a.ndim == a_nd and b.ndim == b_nd for a, b in items)
    total = sum(work(a, b) for a, b in live)
    if len(live) > 1 and same_ndim and len(a_lead) == len(b_lead) == 1 and total >= SMALL_MATMUL:
        return demote(_exact_sum(live), a_nd, b_nd)
    out = np.zeros(shapes[0], dtype=U64)
    for a, b in items:
        np.add(out, matmul(a, b), out=out)
    return out


def sum_axis(a: Ring, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Ring:
    """Return the sum over ``axis`` mod 2^64, as an array (0-d when everything is summed)."""
    if keepdims:
        return np.asarray(np.add.reduce(a, axis=axis, dtype=U64, keepdims=True))
    return np.asarray(np.add.reduce(a, axis=axis, dtype=U64))


def xor_all(parts: list[NDArray[Any]]) -> NDArray[Any]:
    """Return the XOR of equally shaped integer arrays."""
    out = np.array(parts[0], copy=True)
    for p in parts[1:]:
        np.bitwise_xor(out, p, out=out)
    return out


def to_signed(a: Ring) -> NDArray[np.int64]:
    """Reinterpret ring elements as two's-complement ``int64`` (no copy)."""
    return np.asarray(a, dtype=U64).view(np.int64)


def from_signed(a: NDArray[np.integer[Any]]) -> Ring:
    """Return ``int64`` values as ring elements (two's complement)."""
    return np.asarray(a, dtype=np.int64).view(U64)


def _pair(value: object, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise ParameterError(f"{name} must be an int or a pair of ints, got {value!r}")


def im2col(
    x: NDArray[Any], kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> NDArray[Any]:
    """Unfold the sliding windows of ``x`` (N, C, H, W) into (N, C, kh*kw, L).

    ``L = Ho * Wo`` windows, zero-padded by ``padding``; the window axis is ordered row-major
    (``kh`` then ``kw``), as PyTorch flattens a kernel. Works for any dtype (shares too: the
    map is linear and local).

    Parameters
    ----------
    x
        The input, of shape (N, C, H, W).
    kernel, stride, padding
        Pairs of ints.

    Returns
    -------
    numpy.ndarray
        The unfolded windows, shape (N, C, kh*kw, Ho*Wo).

    Examples
    --------
    >>> import numpy as np
    >>> im2col(np.arange(16).reshape(1, 1, 4, 4), (2, 2), (2, 2), (0, 0))[0, 0]
    array([[ 0,  2,  8, 10],
           [ 1,  3,  9, 11],
           [ 4,  6, 12, 14],
           [ 5,  7, 13, 15]])
    """
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, w = x.shape
    if h < kh or w < kw:
        raise ParameterError(
            f"the kernel {kernel} is larger than the padded input ({h}, {w}); "
            "use a smaller kernel or more padding"
        )
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    win = win[:, :, ::sh, ::sw]  # (N, C, Ho, Wo, kh, kw)
    ho, wo = win.shape[2], win.shape[3]
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3)).reshape(n, c, kh * kw, ho * wo)


def conv_geometry(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], params: Mapping[str, Any]
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """Validate a conv2d and return (kernel, stride, padding, output shape)."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ParameterError(
            f"conv2d takes x of shape (N, C, H, W) and w of shape (O, C, kh, kw), got "
            f"{x_shape} and {w_shape}"
        )
    if x_shape[1] != w_shape[1]:
        raise ParameterError(
            f"conv2d channels differ: x has {x_shape[1]}, the kernel expects {w_shape[1]}; "
            "check the model's input shape (a Conv2d with groups is spelled out by from_torch)"
        )
    stride = _pair(params.get("stride", 1), "stride")
    padding = _pair(params.get("padding", 0), "padding")
    if min(stride) < 1 or min(padding) < 0:
        raise ParameterError(f"stride must be >= 1 and padding >= 0, got {stride}, {padding}")
    kh, kw = int(w_shape[2]), int(w_shape[3])
    ho = (x_shape[2] + 2 * padding[0] - kh) // stride[0] + 1
    wo = (x_shape[3] + 2 * padding[1] - kw) // stride[1] + 1
    if ho < 1 or wo < 1:
        raise ParameterError(
            f"conv2d kernel ({kh}, {kw}) does not fit the input {x_shape[2:]} with padding "
            f"{padding}; use a smaller kernel or more padding"
        )
    return (kh, kw), stride, padding, (int(x_shape[0]), int(w_shape[0]), ho, wo)


def conv2d(x: Ring, w: Ring, params: Mapping[str, Any]) -> Ring:
    """Return the 2-D cross-correlation of ``x`` with ``w`` mod 2^64 (see the module doc)."""
    kernel, stride, padding, out_shape = conv_geometry(x.shape, w.shape, params)
    cols = im2col(x, kernel, stride, padding)  # (N, C, k, L)
    n, c, k, length = cols.shape
    wm = w.reshape(w.shape[0], c * k)
    out = matmul(wm, cols.reshape(n, c * k, length))  # (N, O, L)
    return out.reshape(out_shape)


def _mul_op(a: Ring, b: Ring, params: Mapping[str, Any]) -> Ring:
    return mul(a, b)


def _matmul_op(a: Ring, b: Ring, params: Mapping[str, Any]) -> Ring:
    return matmul(a, b)


BILINEAR: Final[dict[str, Callable[[Ring, Ring, Mapping[str, Any]], Ring]]] = {
    "mul": _mul_op,
    "matmul": _matmul_op,
    "conv2d": conv2d,
}
"""The bilinear maps a Beaver triple can serve: name -> ``f(a, b, params)``."""


def bilinear(kind: str, a: Ring, b: Ring, params: Mapping[str, Any] | None = None) -> Ring:
    """Apply the bilinear map ``kind`` (``mul``, ``matmul`` or ``conv2d``) mod 2^64.

    Parameters
    ----------
    kind
        The map's name (a key of :data:`BILINEAR`).
    a, b
        Ring arrays.
    params
        The map's parameters (``stride``, ``padding`` for ``conv2d``).

    Returns
    -------
    numpy.ndarray
        ``uint64`` result.

    Examples
    --------
    >>> import numpy as np
    >>> bilinear("matmul", np.eye(2, dtype=np.uint64), np.ones((2, 1), dtype=np.uint64))
    array([[1],
           [1]], dtype=uint64)
    """
    fn = BILINEAR.get(kind)
    if fn is None:
        raise ParameterError(f"unknown bilinear map {kind!r}; use one of {sorted(BILINEAR)}")
    return fn(a, b, params or {})


def bilinear_sum(
    kind: str, pairs: Sequence[tuple[Ring, Ring]], params: Mapping[str, Any] | None = None
) -> Ring:
    """Return ``Σ f(a_i, b_i)`` mod 2^64 for the bilinear map ``kind``, fused when it can be.

    ``matmul`` goes through :func:`matmul_sum`; ``conv2d`` is ``W @ im2col(x)`` per pair, so
    its pairs fuse the same way (one set of limb products over the concatenated inner
    dimension); ``mul`` adds elementwise products.

    Examples
    --------
    >>> import numpy as np
    >>> one = np.ones((2, 2), dtype=np.uint64)
    >>> bilinear_sum("matmul", [(one, one), (one, one)]).tolist()
    [[4, 4], [4, 4]]
    """
    if kind not in BILINEAR:
        raise ParameterError(f"unknown bilinear map {kind!r}; use one of {sorted(BILINEAR)}")
    if not pairs:
        raise ParameterError("bilinear_sum needs at least one (a, b) pair")
    params = params or {}
    if kind == "matmul":
        return matmul_sum(pairs)
    if kind == "conv2d":
        out_shape = conv_geometry(pairs[0][0].shape, pairs[0][1].shape, params)[3]
        mats = []
        for x, w in pairs:
            kernel, stride, padding, shape = conv_geometry(x.shape, w.shape, params)
            if shape != out_shape:
                raise ParameterError(f"conv2d products of different shapes: {shape}, {out_shape}")
            cols = im2col(x, kernel, stride, padding)  # (N, C, k, L)
            n, c, k, length = cols.shape
            mats.append((w.reshape(w.shape[0], c * k), cols.reshape(n, c * k, length)))
        return matmul_sum(mats).reshape(out_shape)
    total = mul(*pairs[0])
    for a, b in pairs[1:]:
        np.add(total, mul(a, b), out=total)
    return total


def _matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Return ``numpy.matmul``'s output shape; raise ``ValueError`` when it does not fit."""
    if not a or not b:
        raise ValueError("matmul needs at least 1-D operands")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError("inner dimensions differ")
    batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    out = (*batch, a2[-2], b2[-1])
    if len(b) == 1:
        out = out[:-1]
    if len(a) == 1:
        out = (*out[:-2], out[-1]) if len(b) > 1 else out[:-1]
    return tuple(int(v) for v in out)


def output_shape(
    kind: str, a_shape: tuple[int, ...], b_shape: tuple[int, ...], params: Mapping[str, Any]
) -> tuple[int, ...]:
    """Return the shape of ``bilinear(kind, a, b)`` without computing it.

    Raises
    ------
    ParameterError
        If the shapes do not fit the map (the message names both shapes).

    Examples
    --------
    >>> output_shape("matmul", (5, 3), (3, 2), {})
    (5, 2)
    """
    try:
        if kind == "mul":
            return tuple(np.broadcast_shapes(a_shape, b_shape))
        if kind == "matmul":
            return _matmul_shape(a_shape, b_shape)
    except ValueError:
        raise ParameterError(
            f"shapes {a_shape} and {b_shape} do not fit {kind}; check the operands' shapes"
        ) from None
    if kind == "conv2d":
        return conv_geometry(a_shape, b_shape, params)[3]
    raise ParameterError(f"unknown bilinear map {kind!r}; use one of {sorted(BILINEAR)}")
