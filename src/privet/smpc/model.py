"""Private inference: a trained PyTorch model, secret-shared by its owner.

:func:`from_torch` shares every weight from the model owner's client; the result, a
:class:`SharedModel`, is called on a shared input (shared by its own owner, e.g. Bob). The
parties see neither the weights nor the input; the prediction is opened to one client only
(``argmax(model(x)).reveal(to="bob")``). An ``nn.Sequential`` (nested ones are flattened)
becomes a chain of layers; any other module is traced with ``torch.fx`` and becomes a graph
of steps (:mod:`privet.smpc.graph`: residual connections, ``torch.cat``, ``F.relu``, ...).

Supported layers (evaluation mode):

* ``Linear`` (Beaver matmul), ``Conv2d`` (Beaver conv2d; a grouped or dilated kernel is
  spelled out as a plain one by the owner before sharing, ``padding="same"`` for odd spans);
* ``BatchNorm1d``/``BatchNorm2d`` folded into the preceding ``Linear``/``Conv2d``
  (``w' = w·γ/σ``, ``b' = (b - μ)·γ/σ + β``, ``σ = sqrt(var + eps)``); elsewhere, as a shared
  affine map;
* ``ReLU`` (exact, :func:`privet.smpc.relu`; after a ``Linear``/``Conv2d`` that layer's
  product is left untruncated and the ReLU truncates it with the sign test's opening,
  :func:`privet.smpc.truncation.truncate_relu`: one round fewer), ``Sigmoid``
  (:func:`privet.smpc.sigmoid`), ``Tanh`` (:func:`privet.smpc.tanh`), ``MaxPool2d`` (a tree of
  comparisons over each window; padding cells hold ``-2^(60-f)``, so inputs must stay above
  it), ``AvgPool2d`` (window sum divided by the public ``k``, or by each window's count of
  input cells with ``count_include_pad=False``), ``AdaptiveAvgPool2d``
  (where the input's sides are multiples of the output's: then it is an average pool),
  ``Flatten``, ``Softmax`` (:func:`privet.smpc.softmax`), ``Dropout`` and ``Identity``
  (no-ops).

The weights are fixed-point encoded (error ≤ 2^-(f+1) each); :meth:`SharedModel.layer_errors`
measures each layer's error against the plaintext model on data the caller may reveal.

Examples
--------
>>> import torch
>>> from privet.smpc import InProcessCluster
>>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
>>> with torch.no_grad():
...     _ = net[0].weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 0.5]]))
...     _ = net[0].bias.zero_()
>>> with InProcessCluster(parties=2) as cluster:
...     model = cluster.from_torch(net)
...     model(cluster.share([[1.0, 1.0]])).reveal()
array([[3., 0.]])
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError, ParameterTypeError
from privet.smpc.comparison import max as shared_max
from privet.smpc.driver import Driver
from privet.smpc.nonlinear import sigmoid, softmax, tanh
from privet.smpc.ring import conv_geometry, im2col
from privet.smpc.tensor import SharedTensor, _add, _div_public, _linear, _mul, rectify

__all__ = [
    "SUPPORTED_MODULES",
    "LayerError",
    "SharedLayer",
    "SharedModel",
    "Sharer",
    "adaptive_avg_pool_layer",
    "convert",
    "from_torch",
    "implicit_softmax_dim",
    "is_foldable",
    "model_weights",
    "module_layer",
]


@dataclass(frozen=True)
class LayerError:
    """One layer's error against the plaintext model.

    Attributes
    ----------
    name
        The layer's description (``"Linear(64->128)"``).
    shape
        Its output shape.
    max_abs_error
        ``max |shared - plaintext|`` over the batch.
    """

    name: str
    shape: tuple[int, ...]
    max_abs_error: float


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


class SharedModel:
    """A secret-shared model: steps (:class:`SharedLayer`) over shared values.

    A chain for an ``nn.Sequential``, a graph for a traced model (see :func:`from_torch`).
    Call it on a :class:`~privet.smpc.SharedTensor`; the output stays shared.
    """

    def __init__(
        self,
        layers: Sequence[SharedLayer],
        *,
        plain: Sequence[Callable[..., Any]] | None = None,
        output: int | None = None,
    ) -> None:
        self.layers = list(layers)
        self._plain = None if plain is None else list(plain)
        self._inputs = [
            (k,) if layer.inputs is None else tuple(layer.inputs)
            for k, layer in enumerate(self.layers)
        ]
        self._output = len(self.layers) if output is None else output
        for k, refs in enumerate(self._inputs):
            if any(not 0 <= i <= k for i in refs):
                raise ParameterError(f"step {k} ({self.layers[k].name}) reads a later value")
        if not 0 <= self._output <= len(self.layers):
            raise ParameterError(f"the output index {self._output} names no value")

    def __call__(self, x: SharedTensor) -> SharedTensor:
        """Run the model on a shared input; the output stays shared."""
        if not isinstance(x, SharedTensor):
            raise ParameterTypeError(
                f"a shared model takes a SharedTensor, got {type(x).__name__}; "
                "share the input first"
            )
        with x.driver.op("inference"):
            out: SharedTensor = _execute(self.layers, self._inputs, self._output, x)
            return out

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return f"SharedModel([{', '.join(layer.name for layer in self.layers)}])"

    def layer_errors(self, x: SharedTensor, plain_input: NDArray[Any]) -> list[LayerError]:
        """Compare each step's output with the plaintext model's.

        A diagnostic: the model runs step by step and each output is revealed to the
        driver, so use data the driver may see. Steps whose value is not a tensor (a
        ``size()`` in a traced model) are left out.

        Parameters
        ----------
        x
            The shared input.
        plain_input
            The same input in the clear (float array).

        Returns
        -------
        list of LayerError
            One entry per step that yields a tensor.
        """
        import torch

        if self._plain is None:
            raise ParameterError(
                "this model keeps no plaintext reference (its weights came from a remote "
                "owner, or it was not built by from_torch); compare on the owner's host"
            )
        refs: list[Any] = []
        with torch.no_grad():
            _execute(
                self._plain,
                self._inputs,
                self._output,
                torch.as_tensor(np.asarray(plain_input), dtype=torch.float64),
                record=refs,
            )
        got: list[Any] = []
        _execute(self.layers, self._inputs, self._output, x, record=got)
        out = []
        for layer, value, ref in zip(self.layers, got, refs, strict=True):
            if not isinstance(value, SharedTensor):
                continue
            opened = value.reveal()
            want = np.asarray(ref.detach().numpy(), dtype=np.float64)
            err = float(np.max(np.abs(opened - want))) if opened.size else 0.0
            out.append(LayerError(layer.name, value.shape, err))
        return out


def _execute(
    steps: Sequence[Callable[..., Any]],
    inputs: Sequence[tuple[int, ...]],
    output: int,
    x: Any,
    *,
    record: list[Any] | None = None,
) -> Any:
    """Run ``steps`` on ``x``; a value is dropped after its last reader (registers freed).

    With ``record`` every step's output is appended to it and kept.
    """
    last = [0] * (len(steps) + 1)
    for k, refs in enumerate(inputs):
        for i in refs:
            last[i] = k
    last[output] = len(steps)
    values: list[Any] = [x]
    for k, (step, refs) in enumerate(zip(steps, inputs, strict=True)):
        values.append(step(*(values[i] for i in refs)))
        if record is not None:
            record.append(values[-1])
        for i in refs:
            if last[i] == k and i != output:
                values[i] = None
    return values[output]


def _flatten_sequential(module: Any) -> list[Any]:
    import torch

    if isinstance(module, torch.nn.Sequential):
        out: list[Any] = []
        for child in module:
            out.extend(_flatten_sequential(child))
        return out
    return [module]


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


def _pair(v: Any) -> tuple[int, int]:
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
    "Linear, Conv2d, BatchNorm1d/2d, ReLU, Sigmoid, Tanh, MaxPool2d, AvgPool2d, "
    "AdaptiveAvgPool2d, Flatten, Softmax, Dropout, Identity"
)
"""The layer types :func:`from_torch` converts (for error messages and docs)."""


Sharer = Callable[[NDArray[np.float64]], Any]
"""Shares one weight array (from the owner) and returns its shared tensor."""


def from_torch(driver: Driver, module: Any, *, owner: str | None = None) -> SharedModel:
    """Secret-share a trained PyTorch model from client ``owner``.

    An ``nn.Sequential`` (nested ones are flattened) becomes a chain of layers; any other
    module is traced with ``torch.fx`` and becomes a graph (:mod:`privet.smpc.graph`). A
    remote owner (:class:`~privet.smpc.RemoteClient`) sends the weights itself
    (:meth:`~privet.smpc.RemoteClient.share_model`): then ``module`` here only needs the
    same architecture (any weights), and the model keeps no plaintext reference.

    Parameters
    ----------
    driver
        The cluster's driver.
    module
        An ``nn.Sequential`` of the supported layers (module docstring), or a module whose
        ``forward`` ``torch.fx`` can trace.
    owner
        The client that owns the model (default: the driver).

    Returns
    -------
    SharedModel
        The shared model.

    Raises
    ------
    ParameterError
        For an unsupported layer, function or setting (the message names it and what is
        supported), or a ``forward`` that cannot be traced.
    """
    remote = owner is not None and owner in driver.remote_clients
    name = owner or ""

    def share(a: NDArray[np.float64]) -> SharedTensor:
        if remote:
            return driver.share_from(name, a.shape)
        return driver.share(a, owner=owner)

    with driver.op("from_torch"):
        return convert(module, share, reference=not remote)


def model_weights(module: Any) -> list[NDArray[np.float64]]:
    """Return the arrays :func:`from_torch` shares for ``module``, in its order.

    What a remote model owner sends (:meth:`~privet.smpc.RemoteClient.share_model`): the
    weights as the conversion prepares them (batch norms folded, kernels spelled out).

    Examples
    --------
    >>> import torch
    >>> [a.shape for a in model_weights(torch.nn.Sequential(torch.nn.Linear(3, 2)))]
    [(3, 2), (2,)]
    """
    arrays: list[NDArray[np.float64]] = []

    def record(a: NDArray[np.float64]) -> None:
        arrays.append(np.array(a, dtype=np.float64))

    convert(module, record)
    return arrays


def convert(module: Any, share: Sharer, *, reference: bool = True) -> SharedModel:
    """Convert ``module`` into a shared model, each weight through ``share`` (see above).

    ``reference``: keep a float64 copy of the model for :meth:`SharedModel.layer_errors`.
    """
    from torch import nn

    if not isinstance(module, nn.Module):
        raise ParameterTypeError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(module, nn.Sequential):
        from privet.smpc.graph import convert_graph

        return convert_graph(module, share, reference=reference)
    ref = (
        copy.deepcopy(module).double().eval()
    )  # the float64 reference; the caller's model is untouched
    pairs = [
        (m, r)
        for m, r in zip(_flatten_sequential(module), _flatten_sequential(ref), strict=True)
        if not isinstance(m, nn.Dropout | nn.Identity)
    ]
    mods = [m for m, _ in pairs]
    refs = [r for _, r in pairs]
    layers: list[SharedLayer] = []
    plain: list[Callable[[Any], Any]] = []
    i = 0
    while i < len(mods):
        m = mods[i]
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        bn = nxt if is_foldable(m, nxt) else None
        seq = [refs[i]] if bn is None else [refs[i], refs[i + 1]]
        i += len(seq)
        # before a ReLU the product stays untruncated: the ReLU truncates it with one
        # round fewer (truncation.truncate_relu)
        exact = i < len(mods) and isinstance(mods[i], nn.ReLU)
        layers.append(module_layer(m, share, bn=bn, exact=exact))
        plain.append(_seq(seq))
    return SharedModel(layers, plain=plain if reference else None)


def is_foldable(m: Any, nxt: Any) -> bool:
    """Whether ``nxt`` is a batch norm that folds into the ``Linear``/``Conv2d`` ``m``."""
    from torch import nn

    if isinstance(m, nn.Linear) and isinstance(nxt, nn.BatchNorm1d):
        # on (N, features) only: on (N, L, F) BatchNorm1d normalizes L, not the features
        return bool(nxt.num_features == m.out_features)
    if isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
        return bool(nxt.num_features == m.out_channels)
    return False


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
    if isinstance(m, nn.MaxPool2d | nn.AvgPool2d):
        return _pool_layer(m)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return adaptive_avg_pool_layer(m.output_size)
    if isinstance(m, nn.Flatten):
        return _flatten_layer(m.start_dim, m.end_dim)
    if isinstance(m, nn.Softmax):
        return _softmax_layer(None if m.dim is None else int(m.dim))
    if isinstance(m, nn.Dropout | nn.Identity):
        return SharedLayer(type(m).__name__, _identity)
    raise ParameterError(
        f"layer {type(m).__name__} is not supported by from_torch; supported: {SUPPORTED_MODULES}"
    )


def _identity(x: Any) -> Any:
    return x


def _seq(mods: list[Any]) -> Callable[[Any], Any]:
    def run(x: Any) -> Any:
        for m in mods:
            x = m(x)
        return x

    return run


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
    dh, dw = _pair(m.dilation)
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
    if m.padding == "valid":
        return (0, 0)
    if m.padding == "same":
        span = [(k - 1) * d for k, d in zip(_pair(m.kernel_size), _pair(m.dilation), strict=True)]
        if any(s % 2 for s in span):
            raise ParameterError(
                f"Conv2d(padding='same') with kernel {m.kernel_size} and dilation {m.dilation} "
                "pads unevenly; use odd kernels or numeric padding"
            )
        return (span[0] // 2, span[1] // 2)
    return _pair(m.padding)


def _conv_layer(w: SharedTensor, b: SharedTensor, m: Any, bn: Any, exact: bool) -> SharedLayer:
    params = {"stride": list(_pair(m.stride)), "padding": list(_conv_padding(m))}
    notes = []
    if m.groups != 1:
        notes.append(f"groups={m.groups}")
    if _pair(m.dilation) != (1, 1):
        notes.append(f"dilation={_pair(m.dilation)}")
    if bn is not None:
        notes.append("BN folded")
    note = "".join(f", {n}" for n in notes)
    name = f"Conv2d({m.in_channels}->{m.out_channels}, k={_pair(m.kernel_size)}{note})"

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
and its differences with them stay inside the comparison range ``2^(62-f)``."""


def _pool_layer(m: Any) -> SharedLayer:
    from torch import nn

    kernel = _pair(m.kernel_size)
    stride = _pair(m.stride if m.stride is not None else m.kernel_size)
    padding = _pair(m.padding)
    if getattr(m, "ceil_mode", False):
        raise ParameterError("pooling with ceil_mode=True is not supported; use ceil_mode=False")
    is_max = isinstance(m, nn.MaxPool2d)
    if is_max and _pair(m.dilation) != (1, 1):
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


def _flatten_layer(start: int, end: int) -> SharedLayer:
    def forward(x: SharedTensor) -> SharedTensor:
        nd = x.ndim
        if not (-nd <= start < nd and -nd <= end < nd):
            raise ParameterError(
                f"Flatten(start_dim={start}, end_dim={end}) does not fit a {nd}-D input"
            )
        s, e = start % nd, end % nd
        shape = (*x.shape[:s], math.prod(x.shape[s : e + 1]), *x.shape[e + 1 :])
        return x.reshape(shape)

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
