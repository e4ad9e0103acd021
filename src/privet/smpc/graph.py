"""Private inference of any traceable PyTorch model, through its ``torch.fx`` graph.

:func:`~privet.smpc.model.from_torch` hands every model that is not an ``nn.Sequential``
here. ``torch.fx.symbolic_trace`` records ``forward`` as a graph of module calls,
functions and tensor methods (Reed et al., "torch.fx: Practical Program Capture and
Transformation for Deep Learning in Python", MLSys 2022); each node becomes one step of a
:class:`~privet.smpc.model.SharedModel`, whose inputs are the values of the nodes it reads.
So residual connections (``x + block(x)``), ``torch.cat`` of branches, ``F.relu``,
``x.view(x.size(0), -1)`` and ``AdaptiveAvgPool2d`` work as written; the weights are shared
by the model owner, as for a chain.

What a node may be:

* a module call: the layers of :data:`~privet.smpc.model.SUPPORTED_MODULES`. A batch norm
  whose input is a ``Linear``/``Conv2d`` read by nothing else is folded into it; a
  ``Linear``/``Conv2d`` read only by a ReLU leaves its product untruncated for it, as in a
  chain;
* a function or tensor method from :data:`FUNCTIONS` / :data:`METHODS` (arithmetic,
  ``relu``, ``sigmoid``, ``exp``, ``softmax``, pooling, ``linear``/``conv2d`` on shared
  weights, shape changes, sums and means);
* an attribute of the model (a parameter or buffer), shared by the owner like a weight.

Tracing needs a ``forward`` without data-dependent control flow (fx's rule); such models,
and nodes outside these lists, get a :class:`~privet.core.errors.ParameterError` that names
them. Shapes and ``size()`` are known to every party (they are public), so shape arithmetic
runs in the clear.

Examples
--------
>>> import torch
>>> import torch.nn.functional as F
>>> from privet.smpc import InProcessCluster
>>> class Residual(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc = torch.nn.Linear(2, 2)
...     def forward(self, x):
...         return x + F.relu(self.fc(x))
>>> net = Residual()
>>> with torch.no_grad():
...     _ = net.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
...     _ = net.fc.bias.zero_()
>>> with InProcessCluster(parties=2) as cluster:
...     model = cluster.from_torch(net)
...     model(cluster.share([[1.0, 2.0]])).reveal()
array([[2., 2.]])
"""

from __future__ import annotations

import builtins
import copy
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError, PrivetError
from privet.smpc.model import (
    SharedLayer,
    SharedModel,
    Sharer,
    _pair,
    adaptive_avg_pool_layer,
    implicit_softmax_dim,
    is_foldable,
    module_layer,
)
from privet.smpc.nonlinear import exp, sigmoid, softmax, tanh
from privet.smpc.tensor import SharedTensor, concatenate, rectify, stack
from privet.smpc.tensor import _linear as bilinear

__all__ = ["FUNCTIONS", "METHODS", "convert_graph"]


# -- what a node computes on shared values ------------------------------------------------


def _relu(x: SharedTensor, inplace: bool = False) -> SharedTensor:
    """ReLU; an untruncated product (a ``Linear``/``Conv2d`` read only here) is truncated too."""
    with x.driver.op("relu"):
        return rectify(x, truncate=True)


def _axis(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, list) else dim


def _sum(x: SharedTensor, dim: Any = None, keepdim: bool = False) -> SharedTensor:
    return x.sum(axis=_axis(dim), keepdims=keepdim)


def _mean(x: SharedTensor, dim: Any = None, keepdim: bool = False) -> SharedTensor:
    return x.mean(axis=_axis(dim), keepdims=keepdim)


def _flatten(x: SharedTensor, start_dim: int = 0, end_dim: int = -1) -> SharedTensor:
    if x.ndim == 0:
        return x.reshape((1,))
    s, e = _dim(x, start_dim), _dim(x, end_dim)
    return x.reshape((*x.shape[:s], math.prod(x.shape[s : e + 1]), *x.shape[e + 1 :]))


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
    """Check a dim as torch does (``-n-extra <= d < n+extra``) and make it non-negative."""
    n = x.ndim + extra
    if not isinstance(d, int) or not -max(n, 1) <= d < max(n, 1):
        raise ParameterError(f"dim {d!r} is out of range for a {x.ndim}-D tensor")
    return d % max(n, 1)


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


def _cat(tensors: Any, dim: int = 0) -> SharedTensor:
    return concatenate(list(tensors), axis=dim)


def _stack(tensors: Any, dim: int = 0) -> SharedTensor:
    return stack(list(tensors), axis=dim)


def _add(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return a + (b if alpha == 1 else b * alpha)


def _sub(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return a - (b if alpha == 1 else b * alpha)


def _div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Any:
    if rounding_mode is not None:
        raise ParameterError(f"division with rounding_mode={rounding_mode!r} is not supported")
    return a / b


def _linear(x: SharedTensor, weight: Any, bias: Any = None) -> Any:
    out = x @ weight.T
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
    if groups != 1 or _pair(dilation) != (1, 1) or isinstance(padding, str):
        raise ParameterError("conv2d needs groups=1, dilation=1 and numeric padding")
    if not isinstance(weight, SharedTensor):
        raise ParameterError("conv2d's weight must be a model parameter (shared by its owner)")
    params = {"stride": list(_pair(stride)), "padding": list(_pair(padding))}
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


def _identity(x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


def _getattr(obj: Any, name: str) -> Any:
    if isinstance(obj, SharedTensor):
        if name == "shape":
            return tuple(obj.shape)
        if name == "ndim":
            return obj.ndim
        raise ParameterError(f"tensor attribute {name!r} is not supported in a traced model")
    return getattr(obj, name)


def _functions() -> dict[Any, tuple[str, Callable[..., Any]]]:
    """Return the supported functions: fx target -> (display name, shared implementation)."""
    import torch
    import torch.nn.functional as F

    table: list[tuple[Any, str, Callable[..., Any]]] = [
        (operator.add, "+", _add),
        (operator.sub, "-", _sub),
        (operator.mul, "*", operator.mul),
        (operator.truediv, "/", _div),
        (operator.neg, "neg", operator.neg),
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
    "squeeze": _squeeze,
}
"""Tensor methods a traced model may call, by name (and the no-ops of ``_ALIAS_METHODS``)."""

FUNCTIONS: Final = (
    "+ - * / @ unary -, x[...], x.shape; torch.add/sub/mul/div/neg/matmul/relu/sigmoid/tanh/"
    "exp/softmax/flatten/reshape/cat/concat/stack/sum/mean/permute/transpose/unsqueeze/"
    "squeeze; F.relu/sigmoid/tanh/softmax/linear/conv2d/max_pool2d/avg_pool2d/"
    "adaptive_avg_pool2d/dropout"
)
"""The functions a traced model may call (for error messages and docs)."""


# -- the conversion ---------------------------------------------------------------------------


class _Ref:
    """A placeholder for the value of node number ``index`` inside a node's arguments."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def _refs(value: Any, index: Mapping[Any, int], used: list[int]) -> Any:
    """Replace every fx node in ``value`` (nested tuples, lists, dicts) by a :class:`_Ref`."""
    from torch import fx

    if isinstance(value, fx.Node):
        if value not in index:
            raise ParameterError(f"node {value.name} is read before it is computed")
        i = index[value]
        if i not in used:
            used.append(i)
        return _Ref(i)
    if isinstance(value, tuple | list):
        return type(value)(_refs(v, index, used) for v in value)
    if isinstance(value, dict):
        return {k: _refs(v, index, used) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(*(_refs(v, index, used) for v in (value.start, value.stop, value.step)))
    return value


def _fill(value: Any, env: Mapping[int, Any]) -> Any:
    if isinstance(value, _Ref):
        return env[value.index]
    if isinstance(value, tuple | list):
        return type(value)(_fill(v, env) for v in value)
    if isinstance(value, dict):
        return {k: _fill(v, env) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(*(_fill(v, env) for v in (value.start, value.stop, value.step)))
    return value


def _bind(
    fn: Callable[..., Any], args: Any, kwargs: Any, inputs: tuple[int, ...]
) -> Callable[..., Any]:
    """Return ``f(*values)`` calling ``fn`` with ``args``/``kwargs`` filled from ``values``."""

    def run(*values: Any) -> Any:
        env = dict(zip(inputs, values, strict=True))
        pos, kw = _fill(args, env), _fill(kwargs, env)
        if not pos and "input" in kw:  # torch.relu(input=x): the tensor by keyword
            pos = (kw.pop("input"),)
        if len(pos) == 1 and "other" in kw:  # torch.add(x, other=y)
            pos = (*pos, kw.pop("other"))
        return fn(*pos, **kw)

    return run


def _guarded(node: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a step; a call it cannot make on shared values becomes a ParameterError."""

    def run(*values: Any) -> Any:
        try:
            return fn(*values)
        except PrivetError:  # privet's own refusals say what is wrong already
            raise
        except (TypeError, ValueError, ZeroDivisionError, IndexError) as exc:
            raise ParameterError(
                f"node {node} cannot run on shared tensors with these arguments "
                f"({type(exc).__name__}: {str(exc)[:200]}); see the supported calls in "
                "privet.smpc.graph"
            ) from None

    return run


def _call_method(name: str) -> Callable[..., Any]:
    def run(obj: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(obj, name)(*args, **kwargs)

    return run


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _trace(module: Any) -> Any:
    """Trace an eval-mode copy of ``module`` with torch.fx (the caller's model is untouched)."""
    from torch import fx

    model = copy.deepcopy(module).eval()
    try:
        return fx.symbolic_trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ParameterError(
            f"from_torch could not trace {type(module).__name__}.forward with torch.fx "
            f"({type(exc).__name__}: {first[:200]}); forward must not branch on tensor "
            "values. Remove the data-dependent control flow, or pass an nn.Sequential"
        ) from None


_ALIAS_METHODS: Final = frozenset({"contiguous", "float", "double", "clone", "detach"})
"""Tensor methods that leave a fixed-point value as it is."""


def _is_alias(node: Any, gm: Any) -> bool:
    """Whether ``node`` returns its first argument unchanged (eval-mode dropout, ...)."""
    import torch
    import torch.nn.functional as F

    if not node.args or not isinstance(node.args[0], type(node)):
        return False
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), torch.nn.Dropout | torch.nn.Identity)
    if node.op == "call_method":
        return node.target in _ALIAS_METHODS and len(node.args) == 1 and not node.kwargs
    if node.op == "call_function" and node.target is F.dropout:
        training = node.kwargs.get("training", node.args[2] if len(node.args) > 2 else True)
        if training:
            raise ParameterError(
                f"node {node.name} applies dropout in training mode (random); call "
                "F.dropout(x, p, training=self.training) and let from_torch evaluate in eval mode"
            )
        return True
    return node.op == "call_function" and node.target is operator.pos


def _is_relu(node: Any) -> bool:
    import torch
    import torch.nn.functional as F

    if node.op == "call_module":
        return isinstance(node.graph.owning_module.get_submodule(node.target), torch.nn.ReLU)
    if node.op == "call_function":
        return node.target is torch.relu or node.target is F.relu
    return bool(node.op == "call_method" and node.target == "relu")


def convert_graph(module: Any, share: Sharer, *, reference: bool = True) -> SharedModel:
    """Convert a traceable PyTorch model into a graph of steps (module docstring).

    Parameters
    ----------
    module
        A ``torch.nn.Module`` with one tensor input and one tensor output.
    share
        Shares one weight array from the model's owner (see
        :func:`~privet.smpc.model.from_torch`).
    reference
        Keep a float64 copy for :meth:`~privet.smpc.model.SharedModel.layer_errors`.

    Returns
    -------
    SharedModel
        The shared model; :meth:`~privet.smpc.model.SharedModel.layer_errors` reports each
        node's error.

    Raises
    ------
    ParameterError
        If ``forward`` cannot be traced, takes other than one input, returns other than one
        tensor, or uses a layer, function or method outside the supported lists.
    """
    gm = _trace(module)
    ref = copy.deepcopy(gm).double()  # the float64 reference
    nodes = list(gm.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise ParameterError(
            f"from_torch takes models with one input; {type(module).__name__}.forward takes "
            f"{len(inputs)} ({', '.join(n.name for n in inputs)})"
        )
    functions = _functions()
    index: dict[Any, int] = {inputs[0]: 0}
    layers: list[SharedLayer] = []
    plain: list[Callable[..., Any]] = []
    folded: set[Any] = set()
    output: int | None = None

    def add(node: Any, name: str, fn: Callable[..., Any], plain_fn: Callable[..., Any]) -> None:
        used: list[int] = []
        args = _refs(node.args, index, used)
        kwargs = _refs(dict(node.kwargs), index, used)
        refs = tuple(used)
        step = _guarded(node.name, _bind(fn, args, kwargs, refs))
        layers.append(SharedLayer(f"{node.name}: {name}", step, refs))
        plain.append(_bind(plain_fn, args, kwargs, refs))
        index[node] = len(layers)

    for node in nodes:
        if node.op == "placeholder" or node in folded:
            continue
        if node.op == "output":
            result = node.args[0]
            if not isinstance(result, type(node)) or result not in index:
                raise ParameterError(
                    f"from_torch takes models that return one tensor; "
                    f"{type(module).__name__}.forward returns {type(result).__name__}"
                )
            output = index[result]
        elif node.op == "get_attr":
            value = _attribute(gm, node.target)
            shared = share(value) if value is not None else None
            ref_value = _ref_attribute(ref, node.target)
            layers.append(SharedLayer(node.name, _constant(shared), ()))
            plain.append(_constant(ref_value))
            index[node] = len(layers)
        elif _is_alias(node, gm):
            # no-ops (Dropout in eval mode, Identity, .contiguous(), ...): the input's value
            index[node] = index[node.args[0]]
        elif node.op == "call_module":
            _add_module(node, gm, ref, share, add, folded, index)
        elif node.op == "call_function":
            entry = functions.get(node.target)
            if entry is None:
                raise ParameterError(
                    f"node {node.name} calls {_qualname(node.target)}, which a shared model "
                    f"cannot run; supported: {FUNCTIONS}"
                )
            add(node, entry[0], entry[1], node.target)
        elif node.op == "call_method":
            fn = METHODS.get(str(node.target))
            if fn is None:
                raise ParameterError(
                    f"node {node.name} calls the tensor method {node.target!r}, which a "
                    f"shared model cannot run; supported: {', '.join(sorted(METHODS))}"
                )
            # the reference reshapes where the code views: after a no-op .contiguous()
            # (dropped above) a view of a permuted tensor would fail in torch
            method = "reshape" if node.target == "view" else str(node.target)
            add(node, f".{node.target}()", fn, _call_method(method))
        else:  # pragma: no cover - fx has no other node kinds
            raise ParameterError(f"unknown fx node kind {node.op!r}")
    if output is None:  # pragma: no cover - every fx graph ends in an output node
        raise ParameterError("the traced graph has no output")
    return SharedModel(layers, plain=plain if reference else None, output=output)


def _add_module(
    node: Any,
    gm: Any,
    ref: Any,
    share: Sharer,
    add: Callable[[Any, str, Callable[..., Any], Callable[..., Any]], None],
    folded: set[Any],
    index: dict[Any, int],
) -> None:
    """Add a module call; fold a batch norm that reads only it; keep a product for a ReLU."""
    m = gm.get_submodule(node.target)
    user = next(iter(node.users)) if len(node.users) == 1 else None
    bn_node = None
    if (
        user is not None
        and user.op == "call_module"
        and len(user.args) == 1
        and is_foldable(m, gm.get_submodule(user.target))
    ):
        bn_node = user
    last = node if bn_node is None else bn_node
    exact = len(last.users) == 1 and _is_relu(next(iter(last.users)))
    bn = None if bn_node is None else gm.get_submodule(bn_node.target)
    layer = module_layer(m, share, bn=bn, exact=exact)
    plain_mod = ref.get_submodule(node.target)
    plain_bn = None if bn_node is None else ref.get_submodule(bn_node.target)
    if bn_node is not None:
        folded.add(bn_node)

    def plain_fn(x: Any, *args: Any, **kwargs: Any) -> Any:
        y = plain_mod(x, *args, **kwargs)
        return y if plain_bn is None else plain_bn(y)

    add(node, layer.name, layer.forward, plain_fn)
    if bn_node is not None:
        index[bn_node] = index[node]


def _attribute(gm: Any, target: str) -> NDArray[np.float64] | None:
    import torch

    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    if obj is None:
        return None
    if not isinstance(obj, torch.Tensor):
        raise ParameterError(f"model attribute {target!r} is a {type(obj).__name__}, not a tensor")
    if not (obj.is_floating_point() or obj.dtype in (torch.int32, torch.int64, torch.int16)):
        raise ParameterError(f"model attribute {target!r} has dtype {obj.dtype}; use a float one")
    return np.asarray(obj.detach().double().numpy())


def _ref_attribute(ref: Any, target: str) -> Any:
    obj: Any = ref
    for part in target.split("."):
        obj = getattr(obj, part)
    return None if obj is None else obj.detach().double()


def _qualname(target: Any) -> str:
    """Name a function as a user wrote it: ``torch.tanh``, ``F.gelu``, ``operator.mod``."""
    name = str(getattr(target, "__name__", repr(target)))
    module = str(getattr(target, "__module__", None) or "")
    qual = str(getattr(target, "__qualname__", ""))
    if module in ("_operator", "operator", "builtins"):
        return f"operator.{name}" if module != "builtins" else name
    if module == "torch" or qual.startswith("_VariableFunctionsClass"):
        return f"torch.{name}"
    if module == "torch.nn.functional":
        return f"F.{name}"
    return f"{module}.{name}" if module else name
