"""The layers of a shared model: one PyTorch module (or torch call) -> one step.

:func:`module_layer` converts a supported module, sharing its weights through a *sharer*
(the driver's ``share`` for an owner it hosts, ``share_from`` for a remote one, or a
recorder: :func:`privet.smpc.model.model_weights`). What each layer computes, and its cost,
is in :mod:`privet.smpc.model`'s docstring; the layers are used by the chain
(:func:`privet.smpc.model.convert`) and the traced graph (:mod:`privet.smpc.graph`).

Examples
--------
>>> import torch
>>> layer = module_layer(torch.nn.Flatten(), lambda a: None)
>>> layer.name
'Flatten'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError
from privet.smpc.activations import gelu, hardtanh, layer_norm, leaky_relu, silu
from privet.smpc.comparison import max as shared_max
from privet.smpc.nonlinear import sigmoid, softmax, tanh
from privet.smpc.ring import conv_geometry, im2col
from privet.smpc.tensor import SharedTensor, _add, _div_public, _linear, _mul, rectify

__all__ = [
    "MAXPOOL_PAD_BITS",
    "SUPPORTED_MODULES",
    "SharedLayer",
    "Sharer",
    "adaptive_avg_pool_layer",
    "conv_padding",
    "dense_kernel",
    "flatten",
    "implicit_softmax_dim",
    "is_foldable",
    "is_no_op",
    "module_layer",
    "pair",
    "runs_torch_forward",
    "unfold",
]


@dataclass
class SharedLayer:
    """One step of a model: a name, the function it applies, and where its inputs come from.

    Attributes
    ----------
    name
        A description (``"Linear(64->128)"``; in a traced model the graph node's name too).
    forward
        The function; it takes the values named by ``inputs``.
    inputs
        Indices of its arguments among the model's values: 0 is the model's input, ``k`` the
        output of step ``k - 1``. ``None``: the previous step's output (a chain).
    """

    name: str
    forward: Callable[..., Any]
    inputs: tuple[int, ...] | None = None

    def __call__(self, *args: Any) -> Any:
        """Apply the step."""
        return self.forward(*args)


def _fold_bn(
    weight: NDArray[np.float64], bias: NDArray[np.float64], bn: Any
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fold an eval-mode batch norm into the preceding affine map (per output channel)."""
    scale, shift = _bn_affine(bn)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    return weight * scale.reshape(shape), bias * scale + shift


def _bn_affine(bn: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if bn.running_mean is None or bn.running_var is None:
        raise ParameterError(
            "BatchNorm without running statistics cannot be evaluated; use track_running_stats=True"
        )
    mean = bn.running_mean.detach().double().numpy()
    var = bn.running_var.detach().double().numpy()
    gamma = bn.weight.detach().double().numpy() if bn.weight is not None else np.ones_like(mean)
    beta = bn.bias.detach().double().numpy() if bn.bias is not None else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + bn.eps)
    return scale, beta - mean * scale


def pair(v: Any) -> tuple[int, int]:
    """Return a PyTorch size argument (an int or a pair) as a pair of ints."""
    if isinstance(v, int):
        return (v, v)
    return (int(v[0]), int(v[1]))


def unfold(
    x: SharedTensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> SharedTensor:
    """Return the sliding windows of ``x`` (N, C, H, W) as (N, C, kh*kw, L) (local im2col)."""
    if x.ndim != 4:
        raise ParameterError(f"pooling needs an (N, C, H, W) input, got shape {x.shape}")
    _, _, _, (n, _, ho, wo) = conv_geometry(
        x.shape, (1, x.shape[1], *kernel), {"stride": stride, "padding": padding}
    )
    shape = (n, x.shape[1], kernel[0] * kernel[1], ho * wo)
    args = {"x": x.reg, "kernel": list(kernel), "stride": list(stride), "padding": list(padding)}
    return x.driver.emit("unfold", shape, x.frac_bits, args)


SUPPORTED_MODULES: Final = (
    "Linear, Conv2d, BatchNorm1d/2d, LayerNorm, ReLU, LeakyReLU, ReLU6, Hardtanh, Sigmoid, "
    "Tanh, SiLU, GELU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, Softmax, "
    "Dropout (any), Identity"
)
"""The layer types :func:`~privet.smpc.model.from_torch` converts (for messages and docs)."""


Sharer = Callable[[NDArray[np.float64]], Any]
"""Shares one weight array (from the owner) and returns its shared tensor."""


def is_foldable(m: Any, nxt: Any) -> bool:
    """Whether ``nxt`` is a batch norm that folds into the ``Linear``/``Conv2d`` ``m``."""
    from torch import nn

    if isinstance(m, nn.Linear) and isinstance(nxt, nn.BatchNorm1d):
        # on (N, features) only: on (N, L, F) BatchNorm1d normalizes L, not the features
        return bool(nxt.num_features == m.out_features)
    if isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
        return bool(nxt.num_features == m.out_channels)
    return False


def runs_torch_forward(cls: type) -> bool:
    """Whether the ``forward`` that ``cls`` runs is torch's own (a subclass may add nothing)."""
    owner = next((c for c in cls.__mro__ if "forward" in vars(c)), None)
    return owner is not None and owner.__module__.startswith("torch.nn.")


def is_no_op(m: Any) -> bool:
    """Whether module ``m`` returns its input in eval mode: any dropout, ``Identity``."""
    from torch import nn
    from torch.nn.modules.dropout import _DropoutNd

    return isinstance(m, _DropoutNd | nn.Identity)


def module_layer(
    m: Any,
    share: Sharer,
    *,
    bn: Any = None,
    exact: bool = False,
) -> SharedLayer:
    """Convert one supported module into a layer, sharing its weights with ``share``.

    ``bn``: a batch norm folded into ``m`` (a ``Linear``/``Conv2d``). ``exact``: leave the
    product untruncated (a ReLU follows and truncates it).

    Raises
    ------
    ParameterError
        For an unsupported module or setting.
    """
    from torch import nn

    if isinstance(m, nn.Linear | nn.Conv2d):
        w = m.weight.detach().double().numpy()
        b = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(w.shape[0])
        if bn is not None:
            w, b = _fold_bn(w, b, bn)
        if isinstance(m, nn.Linear):
            return _linear_layer(
                share(w.T.copy()), share(b), m.in_features, m.out_features, bn is not None, exact
            )
        return _conv_layer(share(dense_kernel(w, m)), share(b.reshape(-1, 1, 1)), m, bn, exact)
    if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
        scale, shift = _bn_affine(m)
        shape = (-1, 1, 1) if isinstance(m, nn.BatchNorm2d) else (-1,)
        return _affine_layer(
            share(scale.reshape(shape)), share(shift.reshape(shape)), type(m).__name__
        )
    if isinstance(m, nn.ReLU):
        return SharedLayer("ReLU", _relu_layer)
    if isinstance(m, nn.Sigmoid):
        return SharedLayer("Sigmoid", sigmoid)
    if isinstance(m, nn.Tanh):
        return SharedLayer("Tanh", tanh)
    activation = _activation_layer(m)
    if activation is not None:
        return activation
    if isinstance(m, nn.LayerNorm):
        return _layer_norm_layer(m, share)
    if isinstance(m, nn.MaxPool2d | nn.AvgPool2d):
        return _pool_layer(m)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return adaptive_avg_pool_layer(m.output_size)
    if isinstance(m, nn.Flatten):
        return _flatten_layer(m.start_dim, m.end_dim)
    if isinstance(m, nn.Softmax):
        return _softmax_layer(None if m.dim is None else int(m.dim))
    if is_no_op(m):
        return SharedLayer(type(m).__name__, _identity)
    raise ParameterError(
        f"layer {type(m).__name__} is not supported by from_torch; supported: {SUPPORTED_MODULES}"
    )


def _identity(x: Any) -> Any:
    return x


def _activation_layer(m: Any) -> SharedLayer | None:
    """Convert the activations of :mod:`privet.smpc.activations`; ``None`` for the others."""
    from torch import nn

    name = type(m).__name__
    if isinstance(m, nn.LeakyReLU):
        slope = float(m.negative_slope)
        return SharedLayer(f"LeakyReLU({slope:g})", lambda x: leaky_relu(x, slope))
    if isinstance(m, nn.Hardtanh):  # ReLU6 is Hardtanh(0, 6)
        lo, hi = float(m.min_val), float(m.max_val)
        return SharedLayer(f"{name}({lo:g}, {hi:g})", lambda x: hardtanh(x, lo, hi))
    if isinstance(m, nn.SiLU):
        return SharedLayer("SiLU", silu)
    if isinstance(m, nn.GELU):
        mode = str(m.approximate)
        return SharedLayer(f"GELU({mode})", lambda x: gelu(x, mode))
    return None


def _layer_norm_layer(m: Any, share: Sharer) -> SharedLayer:
    """``nn.LayerNorm``: its scale and shift are shared by the model owner."""
    shape = tuple(int(n) for n in m.normalized_shape)
    eps = float(m.eps)
    weight = share(m.weight.detach().double().numpy()) if m.weight is not None else None
    bias = share(m.bias.detach().double().numpy()) if m.bias is not None else None

    def forward(x: SharedTensor) -> SharedTensor:
        return layer_norm(x, shape, weight, bias, eps)

    return SharedLayer(f"LayerNorm{list(shape)}", forward)


def _relu_layer(x: SharedTensor) -> SharedTensor:
    """ReLU; an untruncated product from the layer before is truncated on the way."""
    with x.driver.op("relu"):
        return rectify(x, truncate=True)


def _linear_layer(
    w: SharedTensor, b: SharedTensor, n_in: int, n_out: int, folded: bool, exact: bool
) -> SharedLayer:
    name = f"Linear({n_in}->{n_out}{', BN folded' if folded else ''})"

    def forward(x: SharedTensor) -> SharedTensor:
        if folded and x.ndim != 2:
            raise ParameterError(
                f"{name} got a {x.ndim}-D input: the BatchNorm1d was folded per output feature, "
                "as it acts on (N, features); on (N, L, F) it normalizes L instead. Put the "
                "BatchNorm1d on a 2-D output, or transpose so that it normalizes the features"
            )
        return _add(_linear("matmul", x, w, {}, exact=exact), b)

    return SharedLayer(name, forward)


def dense_kernel(w: NDArray[np.float64], m: Any) -> NDArray[np.float64]:
    """Return the kernel of ``Conv2d`` ``m`` as a plain one: no groups, no dilation.

    The architecture is public, so the owner can spell it out before sharing: a grouped
    kernel ``(O, C/g, kh, kw)`` becomes block-diagonal ``(O, C, kh, kw)`` (zeros across
    groups; ``g`` times the multiply-adds), a dilated one gets ``d - 1`` zeros between its
    taps (a ``d(k-1)+1`` kernel). The output is the same convolution.
    """
    groups = int(m.groups)
    dh, dw = pair(m.dilation)
    out_c, in_g, kh, kw = w.shape
    dense = np.zeros((out_c, in_g * groups, (kh - 1) * dh + 1, (kw - 1) * dw + 1))
    per_group = out_c // groups
    for g in range(groups):
        rows = slice(g * per_group, (g + 1) * per_group)
        cols = slice(g * in_g, (g + 1) * in_g)
        dense[rows, cols, ::dh, ::dw] = w[rows]
    return dense


def _conv_padding(m: Any) -> tuple[int, int]:
    """Numeric zero padding of ``Conv2d`` ``m`` (``"valid"``, ``"same"`` for odd kernels)."""
    if m.padding_mode != "zeros":
        raise ParameterError(
            f"Conv2d(padding_mode={m.padding_mode!r}) is not supported; use padding_mode='zeros'"
        )
    return conv_padding(m.padding, m.kernel_size, m.dilation, name="Conv2d")


def conv_padding(padding: Any, kernel: Any, dilation: Any, *, name: str) -> tuple[int, int]:
    """Numeric zero padding for ``padding`` (a number, a pair, ``"valid"`` or ``"same"``).

    ``"same"`` pads each side by half the kernel's span, so it needs odd spans.
    """
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        span = [(k - 1) * d for k, d in zip(pair(kernel), pair(dilation), strict=True)]
        if any(s % 2 for s in span):
            raise ParameterError(
                f"{name}(padding='same') with kernel {kernel} and dilation {dilation} pads "
                "unevenly; use odd kernels or numeric padding"
            )
        return (span[0] // 2, span[1] // 2)
    return pair(padding)


def _conv_layer(w: SharedTensor, b: SharedTensor, m: Any, bn: Any, exact: bool) -> SharedLayer:
    params = {"stride": list(pair(m.stride)), "padding": list(_conv_padding(m))}
    notes = []
    if m.groups != 1:
        notes.append(f"groups={m.groups}")
    if pair(m.dilation) != (1, 1):
        notes.append(f"dilation={pair(m.dilation)}")
    if bn is not None:
        notes.append("BN folded")
    note = "".join(f", {n}" for n in notes)
    name = f"Conv2d({m.in_channels}->{m.out_channels}, k={pair(m.kernel_size)}{note})"

    def forward(x: SharedTensor) -> SharedTensor:
        return _add(_linear("conv2d", x, w, params, exact=exact), b)

    return SharedLayer(name, forward)


def _affine_layer(scale: SharedTensor, shift: SharedTensor, name: str) -> SharedLayer:
    def forward(x: SharedTensor) -> SharedTensor:
        s, t = scale, shift
        if scale.ndim == 1 and x.ndim == 3:  # BatchNorm1d on (N, C, L): per channel C
            s, t = scale.reshape((-1, 1)), shift.reshape((-1, 1))
        return _add(_mul(x, s), t)

    return SharedLayer(f"{name} (affine)", forward)


MAXPOOL_PAD_BITS: Final = 60
"""Padding cells of a max pool hold ``-2^(60-f)``: below every input of ``|x| < 2^(60-f)``,
and its differences with any stored value stay inside the comparison range ``2^(63-f)``."""


def _pool_layer(m: Any) -> SharedLayer:
    from torch import nn

    kernel = pair(m.kernel_size)
    stride = pair(m.stride if m.stride is not None else m.kernel_size)
    padding = pair(m.padding)
    if getattr(m, "ceil_mode", False):
        raise ParameterError("pooling with ceil_mode=True is not supported; use ceil_mode=False")
    if getattr(m, "return_indices", False):
        raise ParameterError(
            "MaxPool2d with return_indices=True is not supported (a shared model returns the "
            "values only); use return_indices=False"
        )
    is_max = isinstance(m, nn.MaxPool2d)
    if is_max and pair(m.dilation) != (1, 1):
        raise ParameterError("MaxPool2d with dilation is not supported; use dilation=1")
    divisor = None if is_max else m.divisor_override
    by_count = not is_max and not m.count_include_pad and padding != (0, 0) and divisor is None
    k = kernel[0] * kernel[1]

    def forward(x: SharedTensor) -> SharedTensor:
        cols = unfold(x, kernel, stride, padding)  # (N, C, k, L), zeros in the padding
        n, c = x.shape[0], x.shape[1]
        ho = (x.shape[2] + 2 * padding[0] - kernel[0]) // stride[0] + 1
        wo = (x.shape[3] + 2 * padding[1] - kernel[1]) // stride[1] + 1
        inside = _inside(x.shape, kernel, stride, padding)  # (k, L): 1 on the input, 0 on pads
        if is_max:
            if padding != (0, 0):  # pads must lose every comparison, as -inf does in torch
                low = -(1 << (MAXPOOL_PAD_BITS - x.frac_bits))  # exact: an integer constant
                cols = _add(cols, (1 - inside.astype(np.int64)) * low)
            pooled = shared_max(cols, axis=2)
        else:
            count = inside.sum(axis=0) if by_count else np.array(float(divisor or k))
            pooled = _div_public(cols.sum(axis=2), count)
        return pooled.reshape((n, c, ho, wo))

    kind = "MaxPool2d" if is_max else "AvgPool2d"
    pad = f", p={padding}" if padding != (0, 0) else ""
    return SharedLayer(f"{kind}(k={kernel}, s={stride}{pad})", forward)


def _inside(
    shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]
) -> NDArray[np.float64]:
    """Return a (k, L) map of the window cells that fall on the input (1) or padding (0)."""
    ones = np.ones((1, 1, *shape[2:]))
    return np.asarray(im2col(ones, kernel, stride, pad)[0, 0], dtype=np.float64)


def _softmax_layer(dim: int | None) -> SharedLayer:
    def forward(x: SharedTensor) -> SharedTensor:
        return softmax(x, axis=implicit_softmax_dim(x.ndim) if dim is None else dim)

    return SharedLayer(f"Softmax(dim={dim})", forward)


def implicit_softmax_dim(ndim: int) -> int:
    """Return the axis torch's softmax takes when given none: 0 for 0-, 1- and 3-D, else 1."""
    return 0 if ndim in (0, 1, 3) else 1


def flatten(x: SharedTensor, start: int = 0, end: int = -1) -> SharedTensor:
    """Merge the axes ``start..end`` into one (local), as ``torch.flatten``.

    Raises
    ------
    ParameterError
        If ``start`` or ``end`` is not an axis of ``x``.
    """
    nd = x.ndim
    if not (-nd <= start < nd and -nd <= end < nd):
        raise ParameterError(
            f"flatten(start_dim={start}, end_dim={end}) does not fit a {nd}-D input"
        )
    s, e = start % nd, end % nd
    return x.reshape((*x.shape[:s], math.prod(x.shape[s : e + 1]), *x.shape[e + 1 :]))


def _flatten_layer(start: int, end: int) -> SharedLayer:
    def forward(x: SharedTensor) -> SharedTensor:
        return flatten(x, start, end)

    return SharedLayer("Flatten", forward)


def adaptive_avg_pool_layer(output_size: Any) -> SharedLayer:
    """``AdaptiveAvgPool2d(output_size)`` where it is a plain average pool.

    At run time the input's height and width must be multiples of the output's: the
    windows are then disjoint blocks of ``(H/oh, W/ow)``, summed locally and scaled by the
    public ``1/k`` (one truncation), as PyTorch computes them. ``None`` keeps a side.
    """
    out = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)

    def forward(x: SharedTensor) -> SharedTensor:
        if x.ndim != 4:
            raise ParameterError(f"AdaptiveAvgPool2d needs an (N, C, H, W) input, got {x.shape}")
        n, c, h, w = x.shape
        oh = h if out[0] is None else int(out[0])
        ow = w if out[1] is None else int(out[1])
        if oh < 1 or ow < 1 or h % oh or w % ow:
            raise ParameterError(
                f"AdaptiveAvgPool2d({output_size}) on a {h}x{w} input has unequal windows; "
                "the input's height and width must be multiples of the output size"
            )
        kh, kw = h // oh, w // ow
        if kh * kw == 1:
            return x
        blocks = x.reshape((n, c, oh, kh, ow, kw)).sum(axis=(3, 5))
        return _div_public(blocks, np.array(float(kh * kw)))

    return SharedLayer(f"AdaptiveAvgPool2d({output_size})", forward)
