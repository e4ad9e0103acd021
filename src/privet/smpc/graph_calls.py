"""What a traced node computes on shared values: PyTorch's functions and tensor methods.

:mod:`privet.smpc.graph` maps each ``call_function`` node through :func:`functions` and each
``call_method`` node through :data:`METHODS`; the implementations here take shared tensors
(and public Python values: shapes and sizes are public) with torch's signatures, and refuse
what they cannot do with a :class:`~privet.core.errors.ParameterError`.

Examples
--------
>>> import operator
>>> functions()[operator.add][0]
'+'
>>> sorted(METHODS)[:3]
['add', 'chunk', 'dim']
"""

from __future__ import annotations

import builtins
import itertools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError
from privet.smpc.activations import gelu, hardtanh, layer_norm, leaky_relu, silu
from privet.smpc.layers import (
    adaptive_avg_pool_layer,
    conv_padding,
    flatten,
    implicit_softmax_dim,
    module_layer,
    pair,
)
from privet.smpc.nonlinear import exp, rsqrt, sigmoid, softmax, sqrt, tanh
from privet.smpc.tensor import (
    DIV_GUARD_BITS,
    SharedTensor,
    _axes,
    concatenate,
    mul_to,
    rectify,
    relabel,
    stack,
)
from privet.smpc.tensor import _linear as bilinear

__all__ = ["DIVISIONS", "FUNCTIONS", "METHODS", "Reciprocal", "Transposed", "functions"]


# -- what a node computes on shared values ------------------------------------------------


def _relu(x: SharedTensor, inplace: bool = False) -> SharedTensor:
    """ReLU; an untruncated product (a ``Linear``/``Conv2d`` read only here) is truncated too."""
    with x.driver.op("relu"):
        return rectify(x, truncate=True)


def _leaky_relu(
    x: SharedTensor, negative_slope: float = 0.01, inplace: bool = False
) -> SharedTensor:
    return leaky_relu(x, negative_slope)


def _hardtanh(
    x: SharedTensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> SharedTensor:
    return hardtanh(x, min_val, max_val)


def _relu6(x: SharedTensor, inplace: bool = False) -> SharedTensor:
    return hardtanh(x, 0.0, 6.0)


def _silu(x: SharedTensor, inplace: bool = False) -> SharedTensor:
    return silu(x)


def _gelu(x: SharedTensor, approximate: str = "none") -> SharedTensor:
    return gelu(x, approximate)


def _layer_norm(
    x: SharedTensor, normalized_shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5
) -> SharedTensor:
    return layer_norm(x, tuple(normalized_shape), weight, bias, eps)


def _axis(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, list) else dim


def _sum(x: SharedTensor, dim: Any = None, keepdim: bool = False) -> SharedTensor:
    return x.sum(axis=_axis(dim), keepdims=keepdim)


def _mean(x: SharedTensor, dim: Any = None, keepdim: bool = False) -> SharedTensor:
    return x.mean(axis=_axis(dim), keepdims=keepdim)


def _flatten(x: SharedTensor, start_dim: int = 0, end_dim: int = -1) -> SharedTensor:
    if x.ndim == 0:  # torch.flatten of a scalar is a 1-element vector
        return x.reshape((1,))
    return flatten(x, start_dim, end_dim)


def _shape_args(shape: tuple[Any, ...]) -> tuple[int, ...]:
    target = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape
    return tuple(int(v) for v in target)


def _view(x: SharedTensor, *shape: Any, **kwargs: Any) -> SharedTensor:
    if "shape" in kwargs:  # torch.reshape(x, shape=...)
        shape = (kwargs.pop("shape"),)
    if kwargs:
        raise ParameterError(f"reshape/view take no {sorted(kwargs)}")
    return x.reshape(_shape_args(shape))


def _dim(x: SharedTensor, d: Any, *, extra: int = 0) -> int:
    """Check a dim as torch does (one of ``x.ndim + extra`` axes) and make it non-negative."""
    return _axes(d, x.ndim + extra)[0]


def _size(x: SharedTensor, dim: int | None = None) -> Any:
    return tuple(x.shape) if dim is None else x.shape[dim]


def _permute(x: SharedTensor, *dims: Any, **kwargs: Any) -> SharedTensor:
    if "dims" in kwargs:  # x.permute(dims=(...)) / torch.permute(x, dims=...)
        dims = (kwargs.pop("dims"),)
    if kwargs:
        raise ParameterError(f"permute takes no {sorted(kwargs)}")
    return x.transpose(*_shape_args(dims))


def _transpose(x: SharedTensor, dim0: int, dim1: int) -> SharedTensor:
    perm = list(range(x.ndim))
    a, b = _dim(x, dim0), _dim(x, dim1)
    perm[a], perm[b] = perm[b], perm[a]
    return x.transpose(*perm)


def _pieces(x: SharedTensor, sizes: list[int], dim: int) -> tuple[SharedTensor, ...]:
    """Slice ``x`` along ``dim`` into consecutive pieces of ``sizes`` (local views)."""
    d = _dim(x, dim)
    lead = (slice(None),) * d
    starts = np.cumsum([0, *sizes])
    return tuple(x[(*lead, slice(int(a), int(b)))] for a, b in itertools.pairwise(starts))


def _chunk(x: SharedTensor, chunks: int, dim: int = 0) -> tuple[SharedTensor, ...]:
    """As ``torch.chunk``: pieces of ``ceil(n / chunks)`` (the last may be smaller)."""
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise ParameterError(f"chunk needs a positive number of chunks, got {chunks!r}")
    n = x.shape[_dim(x, dim)]
    size = -(-n // chunks) if n else 0
    sizes = [min(size, n - i) for i in range(0, n, size)] if size else [0]
    return _pieces(x, sizes, dim)


def _split(
    x: SharedTensor, split_size_or_sections: Any = None, dim: int = 0, **kwargs: Any
) -> tuple[SharedTensor, ...]:
    """As ``torch.split``: pieces of one size (the last may be smaller) or of given sizes."""
    if "split_size" in kwargs:  # Tensor.split's own keyword
        split_size_or_sections = kwargs.pop("split_size")
    if kwargs or split_size_or_sections is None:
        raise ParameterError(f"split takes a size or a list of sizes and dim, got {kwargs}")
    n = x.shape[_dim(x, dim)]
    if isinstance(split_size_or_sections, int) and not isinstance(split_size_or_sections, bool):
        size = split_size_or_sections
        if size < 1:
            raise ParameterError(f"split needs a positive size, got {size}")
        return _pieces(x, [min(size, n - i) for i in range(0, n, size)] or [0], dim)
    sizes = [int(s) for s in split_size_or_sections]
    if sum(sizes) != n or any(s < 0 for s in sizes):
        raise ParameterError(f"split sizes {sizes} do not add up to the axis's {n}")
    return _pieces(x, sizes, dim)


def _unsqueeze(x: SharedTensor, dim: int) -> SharedTensor:
    d = _dim(x, dim, extra=1)
    return x.reshape((*x.shape[:d], 1, *x.shape[d:]))


def _squeeze(x: SharedTensor, dim: int | tuple[int, ...] | None = None) -> SharedTensor:
    if x.ndim == 0:
        return x
    if dim is None:
        drop = {d for d, s in enumerate(x.shape) if s == 1}
    else:
        dims = [_dim(x, d) for d in (dim if isinstance(dim, tuple | list) else (dim,))]
        if len(set(dims)) != len(dims):
            raise ParameterError(f"squeeze: dim {dim!r} repeats a dimension")
        drop = {d for d in dims if x.shape[d] == 1}
    return x.reshape(tuple(s for d, s in enumerate(x.shape) if d not in drop))


def _softmax(x: SharedTensor, dim: int | None = None, **kwargs: Any) -> SharedTensor:
    if dim is None:  # torch's deprecated implicit choice, which the model was run with
        dim = implicit_softmax_dim(x.ndim)
    if kwargs.get("dtype") is not None:
        raise ParameterError("softmax(dtype=...) is not supported; drop the dtype")
    return softmax(x, axis=dim)


CAUSAL_MASK: Final = -(2.0**30)
"""Added to the scores a mask hides (torch's ``-inf``): any visible score within ``2^30 - 32``
of it wins, softmax's exp clamps below -32 (``e^-32`` is 0 at 16 fractional bits), and the
scores stay inside the storage range ``2^(62-f)`` for every ``f`` up to 30."""


def _attention(
    q: SharedTensor,
    k: SharedTensor,
    v: SharedTensor,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> SharedTensor:
    """As ``F.scaled_dot_product_attention`` in eval mode: ``softmax(q kᵀ·scale + mask) v``.

    ``attn_mask``: an additive float mask, public or shared (a model's buffer is shared by
    its owner: use a large negative number there, not ``-inf``, which has no fixed-point
    encoding); a public mask's ``-inf`` becomes :data:`CAUSAL_MASK`. ``is_causal`` hides the
    future (top-left aligned, as torch's). Boolean masks cannot reach here: from_torch
    refuses boolean model attributes and comparisons in ``forward``.
    """
    if dropout_p:
        raise ParameterError("scaled_dot_product_attention with dropout_p > 0 is training only")
    if enable_gqa:
        raise ParameterError("scaled_dot_product_attention(enable_gqa=True) is not supported")
    e = q.shape[-1]
    factor = 1.0 / math.sqrt(e) if scale is None else float(scale)
    scores = (q @ _transpose(k, -2, -1)) * factor
    n, m = scores.shape[-2], scores.shape[-1]
    if is_causal:
        scores = scores + np.where(np.tril(np.ones((n, m), dtype=bool)), 0.0, CAUSAL_MASK)
    if isinstance(attn_mask, SharedTensor):
        scores = scores + attn_mask
    elif attn_mask is not None:
        raw = attn_mask.detach().cpu().numpy() if hasattr(attn_mask, "detach") else attn_mask
        mask = np.asarray(raw, dtype=np.float64)
        scores = scores + np.where(np.isneginf(mask), CAUSAL_MASK, mask)
    return softmax(scores, axis=-1) @ v


def _cat(tensors: Any, dim: int = 0) -> SharedTensor:
    return concatenate(list(tensors), axis=dim)


def _stack(tensors: Any, dim: int = 0) -> SharedTensor:
    return stack(list(tensors), axis=dim)


def _add(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return a + (b if alpha == 1 else b * alpha)


def _sub(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return a - (b if alpha == 1 else b * alpha)


@dataclass(frozen=True)
class Reciprocal:
    """A model constant read only as a divisor: its owner shares ``1/c`` instead of ``c``.

    ``inverse`` holds ``1/c`` with :data:`~privet.smpc.tensor.DIV_GUARD_BITS` more
    fractional bits (shared as ``2^8/c``, read with ``f + 8`` bits), so ``x / c`` is one
    product truncated back to ``f`` bits, as a division by a public value is: one round,
    instead of a secret Newton reciprocal whose domain is ``[2^-8, 2^16)``. ``1/c`` is
    rounded to the nearest ``2^-(f+8)`` by the owner's encoding (the driver cannot choose a
    scale by ``|c|`` as a public division does: that would show it the magnitude), a
    relative error of at most ``2^-(f+9)·|c|``; rounded up it may double the product, so
    the quotient needs ``|x / c| < 2^(62-2f-9)``, half the range of a public divisor.
    With ``"local"`` truncation the guard bits are dropped, as in
    :func:`~privet.smpc.tensor._div_public` (SecureML's failure probability grows with them).
    """

    inverse: SharedTensor

    @classmethod
    def share(cls, value: NDArray[np.float64], share: Callable[[Any], Any], name: str) -> Any:
        """Share ``1/value`` (with the guard bits) through the owner's ``share``."""
        if not np.all(value != 0):
            raise ParameterError(f"model attribute {name!r} is a divisor and holds a zero")
        t = share((2.0**DIV_GUARD_BITS) / value)
        if not isinstance(t, SharedTensor):  # the weight recorder of model_weights
            return t
        inverse = relabel(t, t.frac_bits + DIV_GUARD_BITS)
        if inverse.driver.truncation == "local":  # as _div_public: no guard bits there,
            inverse = mul_to(inverse, 1, t.frac_bits, b_frac=0)  # SecureML's risk grows
        inverse.driver.fix_operand(inverse)  # masked once, as the weights are
        return cls(inverse)


def _div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Any:
    if rounding_mode is not None:
        raise ParameterError(f"division with rounding_mode={rounding_mode!r} is not supported")
    if isinstance(b, Reciprocal):
        if not isinstance(a, SharedTensor):  # a public size over a model constant
            return b.inverse * a
        return mul_to(a, b.inverse, a.driver.frac_bits)  # x · (1/c): reals, as torch
    return a / b


@dataclass(frozen=True)
class Transposed:
    """A model weight read only by ``F.linear``: its owner shares ``w.T``, once.

    ``F.linear(x, w)`` is ``x @ w.T``; sharing the transpose keeps one register for every
    call, so the product's mask is kept (the weight is masked once, as an ``nn.Linear``'s),
    where a transpose per call would be a new operand each time.
    """

    t: SharedTensor

    @classmethod
    def share(cls, value: NDArray[np.float64], share: Callable[[Any], Any]) -> Any:
        """Share ``value.T`` through the owner's ``share``."""
        t = share(np.ascontiguousarray(value.T))
        return cls(t) if isinstance(t, SharedTensor) else t


def _linear(x: SharedTensor, weight: Any, bias: Any = None) -> Any:
    out = x @ (weight.t if isinstance(weight, Transposed) else weight.T)
    return out if bias is None else out + bias


def _conv2d(
    x: SharedTensor,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Any:
    if groups != 1 or pair(dilation) != (1, 1):
        raise ParameterError("F.conv2d needs groups=1 and dilation=1 (nn.Conv2d takes both)")
    if not isinstance(weight, SharedTensor):
        raise ParameterError("conv2d's weight must be a model parameter (shared by its owner)")
    if padding == "same" and pair(stride) != (1, 1):
        raise ParameterError("F.conv2d(padding='same') takes stride 1 only, as in torch")
    padding = conv_padding(padding, weight.shape[2:], 1, name="F.conv2d")
    params = {"stride": list(pair(stride)), "padding": list(padding)}
    out = bilinear("conv2d", x, weight, params)
    return out if bias is None else out + bias.reshape((-1, 1, 1))


def _max_pool2d(
    x: SharedTensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    from torch import nn

    if return_indices:
        raise ParameterError("max_pool2d(return_indices=True) is not supported")
    pool = nn.MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)
    return module_layer(pool, _no_weights)(x)


def _avg_pool2d(x: SharedTensor, *args: Any, **kwargs: Any) -> Any:
    from torch import nn

    return module_layer(nn.AvgPool2d(*args, **kwargs), _no_weights)(x)


def _adaptive_avg_pool2d(x: SharedTensor, output_size: Any) -> Any:
    return adaptive_avg_pool_layer(output_size)(x)


def _no_weights(a: NDArray[np.float64]) -> SharedTensor:  # pragma: no cover - pools share none
    raise ParameterError("this layer has no weights")


def _getattr(obj: Any, name: str) -> Any:
    if isinstance(obj, SharedTensor):
        if name == "shape":
            return tuple(obj.shape)
        if name == "ndim":
            return obj.ndim
        raise ParameterError(f"tensor attribute {name!r} is not supported in a traced model")
    return getattr(obj, name)


def _public(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` on public values only (shape arithmetic: ``x.size(1) // 2``)."""

    def run(*args: Any) -> Any:
        if any(isinstance(a, SharedTensor) for a in args):
            raise ParameterError(
                f"{name} takes public values (sizes, shapes) here, not a shared tensor"
            )
        return fn(*args)

    return run


def functions() -> dict[Any, tuple[str, Callable[..., Any]]]:
    """Return the supported functions: fx target -> (display name, shared implementation)."""
    import torch
    import torch.nn.functional as F

    table: list[tuple[Any, str, Callable[..., Any]]] = [
        (operator.add, "+", _add),
        (operator.sub, "-", _sub),
        (operator.mul, "*", operator.mul),
        (operator.truediv, "/", _div),
        (operator.neg, "neg", operator.neg),
        (operator.floordiv, "//", _public("//", operator.floordiv)),
        (operator.mod, "%", _public("%", operator.mod)),
        (math.sqrt, "math.sqrt", _public("math.sqrt", math.sqrt)),
        (math.floor, "math.floor", _public("math.floor", math.floor)),
        (math.ceil, "math.ceil", _public("math.ceil", math.ceil)),
        (operator.matmul, "@", operator.matmul),
        (operator.getitem, "[]", operator.getitem),
        (builtins.getattr, "getattr", _getattr),
        (torch.add, "torch.add", _add),
        (torch.sub, "torch.sub", _sub),
        (torch.mul, "torch.mul", operator.mul),
        (torch.div, "torch.div", _div),
        (torch.neg, "torch.neg", operator.neg),
        (torch.matmul, "torch.matmul", operator.matmul),
        (torch.relu, "torch.relu", _relu),
        (F.relu, "F.relu", _relu),
        (torch.sigmoid, "torch.sigmoid", sigmoid),
        (F.sigmoid, "F.sigmoid", sigmoid),
        (torch.tanh, "torch.tanh", tanh),
        (F.tanh, "F.tanh", tanh),
        (torch.exp, "torch.exp", exp),
        (torch.sqrt, "torch.sqrt", sqrt),
        (torch.rsqrt, "torch.rsqrt", rsqrt),
        (F.leaky_relu, "F.leaky_relu", _leaky_relu),
        (F.hardtanh, "F.hardtanh", _hardtanh),
        (F.relu6, "F.relu6", _relu6),
        (F.silu, "F.silu", _silu),
        (F.gelu, "F.gelu", _gelu),
        (F.layer_norm, "F.layer_norm", _layer_norm),
        (F.scaled_dot_product_attention, "F.scaled_dot_product_attention", _attention),
        (torch.softmax, "torch.softmax", _softmax),
        (F.softmax, "F.softmax", _softmax),
        (torch.flatten, "torch.flatten", _flatten),
        (torch.reshape, "torch.reshape", _view),
        (torch.cat, "torch.cat", _cat),
        (torch.concat, "torch.concat", _cat),
        (torch.stack, "torch.stack", _stack),
        (torch.sum, "torch.sum", _sum),
        (torch.mean, "torch.mean", _mean),
        (torch.permute, "torch.permute", _permute),
        (torch.transpose, "torch.transpose", _transpose),
        (torch.unsqueeze, "torch.unsqueeze", _unsqueeze),
        (torch.chunk, "torch.chunk", _chunk),
        (torch.split, "torch.split", _split),
        (torch.squeeze, "torch.squeeze", _squeeze),
        (F.linear, "F.linear", _linear),
        (F.conv2d, "F.conv2d", _conv2d),
        (F.max_pool2d, "F.max_pool2d", _max_pool2d),
        (F.avg_pool2d, "F.avg_pool2d", _avg_pool2d),
        (F.adaptive_avg_pool2d, "F.adaptive_avg_pool2d", _adaptive_avg_pool2d),
    ]
    return {target: (name, fn) for target, name, fn in table}


METHODS: Final[Mapping[str, Callable[..., Any]]] = {
    "add": _add,
    "sub": _sub,
    "mul": operator.mul,
    "div": _div,
    "neg": operator.neg,
    "matmul": operator.matmul,
    "relu": _relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "exp": exp,
    "sqrt": sqrt,
    "rsqrt": rsqrt,
    "softmax": _softmax,
    "sum": _sum,
    "mean": _mean,
    "view": _view,
    "reshape": _view,
    "flatten": _flatten,
    "size": _size,
    "dim": lambda x: x.ndim,
    "permute": _permute,
    "transpose": _transpose,
    "unsqueeze": _unsqueeze,
    "chunk": _chunk,
    "split": _split,
    "squeeze": _squeeze,
}
"""Tensor methods a traced model may call, by name (and the no-ops of ``_ALIAS_METHODS``)."""

DIVISIONS: Final = ("truediv", "div", "true_divide")
"""Names of the true divisions (operator, torch function or tensor method), for Reciprocal."""

FUNCTIONS: Final = (
    "+ - * / @ unary -, x[...], x.shape, // % math.sqrt/floor/ceil on sizes; "
    "torch.add/sub/mul/div/neg/matmul/relu/sigmoid/tanh/"
    "exp/sqrt/rsqrt/softmax/flatten/reshape/cat/concat/stack/sum/mean/permute/transpose/"
    "unsqueeze/squeeze/chunk/split; F.relu/leaky_relu/relu6/hardtanh/sigmoid/tanh/silu/gelu/"
    "softmax/layer_norm/scaled_dot_product_attention/linear/conv2d/max_pool2d/avg_pool2d/"
    "adaptive_avg_pool2d/dropout"
)
"""The functions a traced model may call (for error messages and docs)."""
