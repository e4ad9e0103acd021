"""Which layers DP-SGD can train, and how each one's per-example gradient norm is found.

Per-example clipping needs, for every example ``i`` of a batch, the norm of the gradient of
its own loss. privet walks the module tree once (:func:`plan_layers`) and gives every
trainable parameter to one *unit*:

* ``linear``, ``conv``, ``embedding``, ``layer_norm``: an exact ``nn.Linear``, ``nn.Conv1d``,
  ``nn.Conv2d``, ``nn.Embedding`` or ``nn.LayerNorm``. Its norms come from the layer's input
  and output gradient alone, by ghost clipping (:mod:`privet.torch.ghost`), without
  materialising per-example gradients where that is cheaper.
* ``functional``: any other module that holds trainable parameters directly (``GroupNorm``,
  ``Conv3d``, ``MultiheadAttention``, a custom layer, a subclass of a ghost layer …). Its
  whole subtree is one unit whose per-example gradients come from ``torch.func``
  (:mod:`privet.torch.grad_sample`).

Layers that mix the examples of a batch make per-example gradients meaningless, so they are
refused, with the layer's path and the fix in the message (:func:`check_module`).

Examples
--------
>>> import torch.nn as nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.GroupNorm(2, 8), nn.Linear(8, 2))
>>> [(u.path, u.kind) for u in plan_layers(model)]
[('0', 'linear'), ('1', 'functional'), ('2', 'linear')]
>>> plan_layers(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8)))
Traceback (most recent call last):
...
privet.core.errors.ParameterError: layer '1' (BatchNorm1d) ...
"""

from __future__ import annotations

import dataclasses
from typing import Final

from torch import nn

from privet.core.errors import ParameterError, ParameterTypeError

__all__ = ["GHOST_LAYERS", "Unit", "check_module", "plan_layers"]

GHOST_LAYERS: Final[dict[type[nn.Module], str]] = {
    nn.Linear: "linear",
    nn.Conv1d: "conv",
    nn.Conv2d: "conv",
    nn.Embedding: "embedding",
    nn.LayerNorm: "layer_norm",
}
"""Exact layer types whose norms come from ghost clipping, and their unit kind."""

_BATCH_NORM_FIX: Final = (
    "it normalises with statistics of the whole batch, so one example's gradient depends on "
    "the others and cannot be clipped per example; replace it with nn.GroupNorm (images) or "
    "nn.LayerNorm (features, sequences)"
)


@dataclasses.dataclass(frozen=True)
class Unit:
    """A module whose trainable parameters are clipped together.

    Attributes
    ----------
    path : str
        The module's dotted name inside the model (``""`` for the model itself).
    module : torch.nn.Module
        The module.
    kind : str
        ``"linear"``, ``"conv"``, ``"embedding"``, ``"layer_norm"`` or ``"functional"``.
    params : tuple of (str, torch.nn.Parameter)
        The trainable parameters it owns, by name relative to ``module``.
    """

    path: str
    module: nn.Module
    kind: str
    params: tuple[tuple[str, nn.Parameter], ...]


def _name(path: str) -> str:
    return repr(path) if path else "the model itself"


def _refusal(path: str, module: nn.Module) -> str | None:
    """Return why ``module`` cannot be trained with per-example clipping, or None."""
    kind = type(module).__name__
    where = f"layer {_name(path)} ({kind})"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return f"{where} is not supported: {_BATCH_NORM_FIX}"
    if isinstance(module, nn.modules.instancenorm._InstanceNorm) and module.track_running_stats:
        return (
            f"{where} keeps running statistics of the training data in its buffers, which "
            "DP-SGD does not protect; pass track_running_stats=False, or use nn.GroupNorm"
        )
    if isinstance(module, nn.Embedding | nn.EmbeddingBag):
        if module.sparse:
            return f"{where} has sparse=True; DP-SGD adds dense noise, pass sparse=False"
        if module.scale_grad_by_freq:
            return (
                f"{where} has scale_grad_by_freq=True, which divides each gradient by counts "
                "over the whole batch (mixing examples); pass scale_grad_by_freq=False"
            )
    return None


def check_module(module: nn.Module) -> None:
    """Raise if any layer of ``module`` cannot be trained with per-example clipping.

    Parameters
    ----------
    module : torch.nn.Module
        The model.

    Raises
    ------
    ParameterTypeError
        If ``module`` is not a ``torch.nn.Module``.
    ParameterError
        Naming the first refused layer (BatchNorm, SyncBatchNorm, InstanceNorm with running
        statistics, sparse or frequency-scaled embeddings) and the fix.

    Examples
    --------
    >>> import torch.nn as nn
    >>> check_module(nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(4, 8)))
    """
    if not isinstance(module, nn.Module):
        raise ParameterTypeError(
            f"module must be a torch.nn.Module, got {type(module).__name__}; pass the model"
        )
    for path, sub in module.named_modules():
        why = _refusal(path, sub)
        if why is not None:
            raise ParameterError(why)


def _trainable(module: nn.Module, *, recurse: bool) -> tuple[tuple[str, nn.Parameter], ...]:
    return tuple((n, p) for n, p in module.named_parameters(recurse=recurse) if p.requires_grad)


def plan_layers(module: nn.Module) -> list[Unit]:
    """Assign every trainable parameter of ``module`` to one clipping unit.

    The tree is walked from the root: an exact ghost layer (:data:`GHOST_LAYERS`) with
    trainable parameters becomes a ghost unit; any other module holding trainable
    parameters directly becomes one ``functional`` unit with its whole subtree; a module
    without direct parameters is descended into. Frozen parameters
    (``requires_grad=False``) are left alone: they are neither clipped nor noised.

    Parameters
    ----------
    module : torch.nn.Module
        The model (checked with :func:`check_module` first).

    Returns
    -------
    list of Unit
        In module order.

    Raises
    ------
    ParameterError
        If a layer is refused (see :func:`check_module`), if the model has no trainable
        parameter, or if a parameter is shared between two units.
    """
    check_module(module)
    units: list[Unit] = []

    def walk(path: str, sub: nn.Module) -> None:
        own = _trainable(sub, recurse=False)
        kind = GHOST_LAYERS.get(type(sub))
        if own and kind is not None:
            units.append(Unit(path, sub, kind, own))
            return
        if own:
            units.append(Unit(path, sub, "functional", _trainable(sub, recurse=True)))
            return
        for name, child in sub.named_children():
            walk(f"{path}.{name}" if path else name, child)

    walk("", module)
    if not units:
        raise ParameterError(
            "the model has no trainable parameter (every requires_grad is False); "
            "unfreeze the layers to train"
        )
    seen: dict[int, str] = {}
    for unit in units:
        for name, p in unit.params:
            where = f"{unit.path}.{name}" if unit.path else name
            if id(p) in seen:
                raise ParameterError(
                    f"parameter {where!r} is shared with {seen[id(p)]!r} across layers; "
                    "per-example norms of tied weights are not supported: untie them, or "
                    "wrap both uses in one custom module"
                )
            seen[id(p)] = where
    return units
