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
  ``Flatten``, ``Softmax`` (:func:`privet.smpc.softmax`), any dropout and ``Identity``
  (no-ops).

The weights are fixed-point encoded (error ≤ 2^-(f+1) each); :meth:`SharedModel.layer_errors`
measures each layer's error against the plaintext model on data the caller may reveal.

Each weight a layer multiplies by (``Linear``, ``Conv2d``, a batch norm's scale, a divisor) is
masked once: its first product opens ``w - b`` and the parties and the dealer keep that mask,
so every later call opens only its own input's masked values (fixed-operand triples,
:func:`privet.smpc.recipes.fixed_triples`). A query of one input to a large model then moves
the input's bytes, not the weights' (a traced ``F.linear`` weight is shared transposed, so it
is one operand too).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError, ParameterTypeError
from privet.smpc.driver import Driver
from privet.smpc.layers import (
    SharedLayer,
    Sharer,
    is_foldable,
    is_no_op,
    module_layer,
    runs_torch_forward,
)
from privet.smpc.tensor import SharedTensor

__all__ = [
    "LayerError",
    "SharedLayer",
    "SharedModel",
    "convert",
    "from_torch",
    "model_weights",
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
        if not isinstance(x, SharedTensor):
            raise ParameterTypeError(
                f"layer_errors takes the shared input first, got {type(x).__name__}; "
                "share it, then pass the same values in the clear as plain_input"
            )
        plain = np.array(plain_input, dtype=np.float64)  # a copy: any layout, any strides
        if plain.shape != x.shape:
            raise ParameterError(
                f"plain_input has shape {plain.shape}, the shared input {x.shape}; pass the "
                "same values in the clear"
            )
        refs: list[Any] = []
        with torch.no_grad():
            _execute(
                self._plain,
                self._inputs,
                self._output,
                torch.from_numpy(plain),
                record=refs,
                snapshot=lambda v: v.clone() if isinstance(v, torch.Tensor) else v,
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
    snapshot: Callable[[Any], Any] | None = None,
) -> Any:
    """Run ``steps`` on ``x``; a value is dropped after its last reader (registers freed).

    With ``record`` every step's output is appended to it and kept (through ``snapshot``:
    a copy, where a later in-place step, a ``ReLU(inplace=True)``, would change it).
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
            record.append(values[-1] if snapshot is None else snapshot(values[-1]))
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
        t = driver.share_from(name, a.shape) if remote else driver.share(a, owner=owner)
        driver.fix_operand(t)  # masked once: each query opens only its own input
        return t

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
    _check_hooks(module)
    if not _runs_as_chain(module):  # a forward of its own somewhere: trace it
        from privet.smpc.graph import convert_graph

        return convert_graph(module, share, reference=reference)
    ref = (
        copy.deepcopy(module).double().eval()
    )  # the float64 reference; the caller's model is untouched
    pairs = [
        (m, r)
        for m, r in zip(_flatten_sequential(module), _flatten_sequential(ref), strict=True)
        if not is_no_op(m)
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


def _runs_as_chain(module: Any) -> bool:
    """Whether ``module`` is Sequentials of torch's own layers, every ``forward`` torch's.

    A subclass with a ``forward`` of its own (a ``Sequential`` adding a residual, a
    ``Linear`` scaling its output) must be traced: matched by its base class it would
    compute the base's ``forward``.
    """
    from torch import nn

    for m in module.modules():
        if "forward" in vars(m):
            raise ParameterError(
                f"{type(m).__name__} has a forward set on the instance, which neither the "
                "chain nor torch.fx follows; define forward in a class"
            )
        if isinstance(m, nn.Sequential):
            if type(m).forward is not nn.Sequential.forward:
                return False
        elif not runs_torch_forward(type(m)):
            return False
    return isinstance(module, nn.Sequential)


def _check_hooks(module: Any) -> None:
    """Refuse a model whose modules have forward hooks: they change what it computes.

    Pruning (``torch.nn.utils.prune``) and the old ``weight_norm`` recompute the weight in a
    pre-hook, and a forward hook may rescale an output; from_torch reads the weights and
    runs the layers itself, so it would silently compute another model.
    """
    from torch.nn.modules import module as torch_module

    if torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks:
        raise ParameterError(
            "global forward hooks are registered (torch.nn.modules.module."
            "register_module_forward_hook); remove them before from_torch"
        )
    for name, m in module.named_modules():
        if m._forward_hooks or m._forward_pre_hooks:
            where = name or type(module).__name__
            raise ParameterError(
                f"module {where!r} ({type(m).__name__}) has forward hooks, which from_torch "
                "would ignore; make pruning or weight norm permanent "
                "(torch.nn.utils.prune.remove, torch.nn.utils.remove_weight_norm) or remove "
                "the hooks first"
            )


def _seq(mods: list[Any]) -> Callable[[Any], Any]:
    def run(x: Any) -> Any:
        for m in mods:
            x = m(x)
        return x

    return run
