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

* a module call: the layers of :data:`~privet.smpc.layers.SUPPORTED_MODULES`. A batch norm
  whose input is a ``Linear``/``Conv2d`` read by nothing else is folded into it; a
  ``Linear``/``Conv2d`` read only by a ReLU leaves its product untruncated for it, as in a
  chain;
* a function or tensor method of :mod:`privet.smpc.graph_calls` (arithmetic, ``relu``,
  ``sigmoid``, ``exp``, ``softmax``, pooling, ``linear``/``conv2d`` on shared weights, shape
  changes, sums and means);
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

import copy
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError, PrivetError
from privet.smpc.graph_calls import DIVISIONS, FUNCTIONS, METHODS, Reciprocal, Transposed
from privet.smpc.graph_calls import functions as graph_functions
from privet.smpc.layers import (
    SharedLayer,
    Sharer,
    is_foldable,
    is_no_op,
    module_layer,
    runs_torch_forward,
)
from privet.smpc.model import SharedModel

__all__ = ["convert_graph"]


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
        except ParameterError as exc:  # privet's own refusals: said for this node
            raise ParameterError(f"node {node}: {exc}") from None
        except PrivetError:  # a protocol or transport failure: as it is
            raise
        except (TypeError, ValueError, ZeroDivisionError, IndexError, AttributeError) as exc:
            raise ParameterError(
                f"node {node} cannot run on shared tensors with these arguments "
                f"({type(exc).__name__}: {str(exc)[:200]}); see the supported calls in "
                "privet.smpc.graph_calls"
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
    import torch
    from torch import fx

    model = copy.deepcopy(module).eval()

    class Tracer(fx.Tracer):  # a layer whose forward is torch's is one step, as in a chain
        def is_leaf_module(self, m: Any, qualname: str) -> bool:
            return not isinstance(m, torch.nn.Sequential) and runs_torch_forward(type(m))

    try:
        tracer = Tracer()
        graph = tracer.trace(model, concrete_args=_defaults(model))
        gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
        return _drop_specialized(gm)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ParameterError(
            f"from_torch could not trace {type(module).__name__}.forward with torch.fx "
            f"({type(exc).__name__}: {first[:200]}); forward must not branch on tensor "
            "values or iterate over a traced value (x.shape[:2] unpacked with *: write "
            "x.size(0), x.size(1)). Change that code, or pass an nn.Sequential"
        ) from None


def _drop_specialized(gm: Any) -> Any:
    """Remove what fx adds for arguments fixed at their defaults: placeholders and asserts.

    Only the placeholders after the input (the ``concrete_args`` of :func:`_defaults`), the
    asserts that check them and the comparisons those asserts read are removed.
    """
    import torch
    from torch.fx import _symbolic_trace

    graph = gm.graph
    fixed = [n for n in graph.nodes if n.op == "placeholder"][1:]
    if not fixed:
        return gm
    checks = {torch._assert, getattr(_symbolic_trace, "_assert_is_none", None)}
    asserts = [
        n
        for n in graph.nodes
        if n.op == "call_function"
        and n.target in checks
        and not n.users
        and any(a in fixed or (isinstance(a, type(n)) and set(a.args) & set(fixed)) for a in n.args)
    ]
    compared = {a for n in asserts for a in n.args if isinstance(a, type(n)) and a not in fixed}
    for node in asserts:
        graph.erase_node(node)
    for node in compared:
        if not node.users and set(node.args) & set(fixed):
            graph.erase_node(node)
    for node in fixed:
        if not node.users:
            graph.erase_node(node)
    gm.recompile()
    return gm


def _defaults(model: Any) -> dict[str, Any]:
    """Return the defaulted arguments of ``forward`` after the input, at their defaults.

    ``forward(x, return_features=False)`` is traced as ``forward(x)`` would run it.
    """
    import inspect

    params = list(inspect.signature(model.forward).parameters.values())[1:]
    return {
        p.name: p.default
        for p in params
        if p.default is not inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


_ALIAS_METHODS: Final = frozenset({"contiguous", "float", "double", "clone", "detach"})
"""Tensor methods that leave a fixed-point value as it is."""


def _is_alias(node: Any, gm: Any) -> bool:
    """Whether ``node`` returns its first argument unchanged (eval-mode dropout, ...)."""
    import torch.nn.functional as F

    if not node.args or not isinstance(node.args[0], type(node)):
        return False
    if node.op == "call_module":
        return is_no_op(gm.get_submodule(node.target))
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


_IN_PLACE_OPERATORS: Final = frozenset(
    {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.imatmul}
)
_VIEWS: Final = frozenset(
    {
        "view",
        "reshape",
        "flatten",
        "transpose",
        "permute",
        "squeeze",
        "unsqueeze",
        "t",
        "expand",
        "chunk",
        "split",
    }
)
"""Tensor methods (and torch functions of these names) whose result may share memory with
their input; indexing (``y[:, :2]``) too."""


def _is_view(node: Any) -> bool:
    """Whether ``node`` may return a view of its first argument."""
    if node.op == "call_method":
        return node.target in _VIEWS
    if node.op == "call_function":
        name = str(getattr(node.target, "__name__", ""))
        return node.target is operator.getitem or (
            name in _VIEWS and str(getattr(node.target, "__module__", "")).startswith("torch")
        )
    return False


def _mutates(node: Any, gm: Any) -> bool:
    """Whether ``node`` writes into its first argument (``inplace=True``, ``+=``, ...)."""
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(node.target), "inplace", False))
    if node.op == "call_function":
        name = str(getattr(node.target, "__name__", ""))
        return (
            node.target in _IN_PLACE_OPERATORS
            or bool(node.kwargs.get("inplace", False))
            or (name.endswith("_") and not name.startswith("_"))
        )
    return False


_ARITHMETIC: Final = frozenset(
    {operator.add, operator.sub, operator.mul, operator.truediv, operator.matmul, operator.neg}
)


def _check_unused(node: Any, gm: Any) -> None:
    """Refuse arithmetic or an in-place call whose result nothing reads: an update fx missed.

    fx records ``y += 1`` as ``y + 1`` and keeps reading the old ``y`` (torch changes ``y``
    itself), and an in-place layer or function called for its effect (``self.act(y)``,
    ``F.relu(y, inplace=True)``) leaves a value that nothing reads. Either way the traced
    graph computes another model. (An unused out-of-place layer, a dead head, is harmless.)
    """
    if node.users or node.op not in ("call_function", "call_module"):
        return
    if _mutates(node, gm) or node.target in _ARITHMETIC:
        raise ParameterError(
            f"node {node.name}'s result is never used: if forward updates a tensor in place "
            "(y += ..., an inplace=True layer called for its effect), torch.fx cannot see it; "
            "write y = y + ... and use the result"
        )


def _check_in_place(node: Any, gm: Any) -> None:
    """Refuse an in-place step whose input (or what it views) is read elsewhere too.

    fx records ``F.relu(y, inplace=True)`` and ``y += 1`` as new values, while torch changes
    ``y`` itself: any other reader of ``y`` (or of the tensor ``y`` views) would see the
    old value here and the new one in torch. With no other reader the two agree.
    """
    if not _mutates(node, gm) or not node.args or not isinstance(node.args[0], type(node)):
        return
    chain = [node]
    target = node.args[0]
    while True:
        others = set(target.users) - set(chain)
        if others:
            raise ParameterError(
                f"node {node.name} changes {target.name} in place, which "
                f"{', '.join(sorted(u.name for u in others))} also read(s): torch.fx cannot "
                "follow the change; use the out-of-place form (inplace=False, y = y + ...)"
            )
        if not _is_view(target) or not target.args or not isinstance(target.args[0], type(node)):
            return
        chain.append(target)
        target = target.args[0]


def _only_divides(node: Any) -> bool:
    """Whether every reader of ``node`` divides a traced value by it (and by nothing else)."""

    def divides(user: Any) -> bool:
        name = str(getattr(user.target, "__name__", user.target))
        return (
            user.op in ("call_function", "call_method")
            and name in DIVISIONS
            and len(user.args) == 2
            and user.args[1] is node
            and user.args[0] is not node
            and isinstance(user.args[0], type(node))
            and user.kwargs.get("rounding_mode") is None
        )

    return bool(node.users) and all(divides(u) for u in node.users)


def _only_linear_weight(node: Any) -> bool:
    """Whether every reader of ``node`` is ``F.linear`` taking it as the weight (2-D)."""
    import torch.nn.functional as F

    def weighs(user: Any) -> bool:
        weight = user.args[1] if len(user.args) > 1 else user.kwargs.get("weight")
        first = user.args[0] if user.args else user.kwargs.get("input")
        return (
            user.op == "call_function"
            and user.target is F.linear
            and weight is node
            and (first is not node)
        )

    return bool(node.users) and all(weighs(u) for u in node.users)


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
    functions = graph_functions()
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
        _check_unused(node, gm)
        _check_in_place(node, gm)
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
            if value is None:
                shared = None
            elif _only_divides(node):  # the owner shares 1/c: x / c is one product
                shared = Reciprocal.share(value, share, str(node.target))
            elif _only_linear_weight(node):  # the owner shares w.T: one operand, masked once
                shared = Transposed.share(value, share)
            else:
                shared = share(value)
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
    try:
        layer = module_layer(m, share, bn=bn, exact=exact)
    except ParameterError as exc:
        raise ParameterError(f"node {node.name}: {exc}") from None
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
