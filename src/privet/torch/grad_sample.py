"""Per-example gradients with ``torch.func``: the general path, for any per-example layer.

Layers without a ghost-clipping formula (``GroupNorm``, ``Conv3d``, attention, custom
modules …) get their per-example gradients by vectorising a vector-Jacobian product over
the batch: for example ``i`` with input ``x_i`` and output gradient ``G_i`` (recorded in the
ordinary backward pass), ``g_i = vjp(θ ↦ layer(θ, x_i), θ)(G_i)``, computed for all ``i`` at
once with ``torch.func.vmap``. This needs the layer to treat examples independently (no
batch statistics) and to be deterministic (a dropout inside such a layer is refused by
``vmap``). The whole-model counterpart, :func:`per_sample_gradients`, is the reference the
tests compare every fast path against.

Examples
--------
>>> import torch
>>> model = torch.nn.Linear(3, 1, bias=False)
>>> x, y = torch.eye(3), torch.zeros(3, 1)
>>> grads = per_sample_gradients(model, torch.nn.functional.mse_loss, x, y)
>>> grads["weight"].shape
torch.Size([3, 1, 3])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vjp, vmap

from privet.core.errors import ParameterError, ParameterTypeError
from privet.torch.ghost import Call

__all__ = ["FunctionalParts", "per_sample_gradients"]


def _outputs(out: Any) -> tuple[Tensor, ...]:
    if isinstance(out, Tensor):
        return (out,)
    if isinstance(out, tuple | list) and all(isinstance(o, Tensor) for o in out):
        return tuple(out)
    raise ParameterTypeError(
        f"a layer clipped through torch.func returned {type(out).__name__}; it must return "
        "a tensor or a tuple of tensors"
    )


class FunctionalParts:
    """Per-example gradients of a module's subtree, by ``vmap`` over a ``vjp``.

    Parameters
    ----------
    module : torch.nn.Module
        The unit's module.
    calls : list of Call
        Its recorded calls (tensor positional inputs are batched along dim 0).
    trainable : set of str
        The names (relative to ``module``) of the parameters to differentiate.
    """

    def __init__(self, module: nn.Module, calls: list[Call], *, trainable: set[str]) -> None:
        named = dict(module.named_parameters())
        params = {n: named[n].detach() for n in trainable}
        frozen = {n: p.detach() for n, p in named.items() if n not in trainable}
        buffers = {n: b.detach() for n, b in module.named_buffers()}
        total: dict[str, Tensor] | None = None
        for call in calls:
            grads = self._per_example(module, call, params, {**frozen, **buffers})
            total = grads if total is None else {n: total[n] + grads[n] for n in total}
        if total is None:
            raise ParameterError("no call of the layer was recorded")
        self.grads = total

    @staticmethod
    def _per_example(
        module: nn.Module,
        call: Call,
        params: dict[str, Tensor],
        fixed: dict[str, Tensor],
    ) -> dict[str, Tensor]:
        if any(isinstance(v, Tensor) for v in call.kwargs.values()):
            raise ParameterError(
                f"{type(module).__name__} was called with tensor keyword arguments; pass "
                "tensors positionally so that they are split by example"
            )
        in_dims = tuple(0 if isinstance(x, Tensor) else None for x in call.inputs)
        if 0 not in in_dims:
            raise ParameterError(f"{type(module).__name__} was called without a tensor input")
        cotangents = call.grads

        def one(*args: Any) -> dict[str, Tensor]:
            xs, gs = args[: len(call.inputs)], args[len(call.inputs) :]
            single = tuple(x.unsqueeze(0) if isinstance(x, Tensor) else x for x in xs)

            def f(p: dict[str, Tensor]) -> tuple[Tensor, ...]:
                out = functional_call(module, {**p, **fixed}, single, call.kwargs)
                return _outputs(out)

            outs, pull = vjp(f, params)[:2]
            cot = tuple(
                torch.zeros_like(o) if gi is None else gi.unsqueeze(0)
                for o, gi in zip(outs, gs, strict=True)
            )
            result: dict[str, Tensor] = pull(cot)[0]
            return result

        grad_dims = tuple(None if g is None else 0 for g in cotangents)
        batched = vmap(one, in_dims=in_dims + grad_dims)
        out: dict[str, Tensor] = batched(*call.inputs, *cotangents)
        return out

    def sq_norms(self) -> Tensor:
        """Return the per-example squared norms, (B,)."""
        return torch.stack([g.flatten(1).square().sum(1) for g in self.grads.values()]).sum(0)

    def clipped_sum(self, weights: Tensor) -> dict[str, Tensor]:
        """Return ``Σ_i w_i g_i`` for each trainable parameter."""
        return {n: torch.tensordot(weights.to(g.dtype), g, dims=1) for n, g in self.grads.items()}


def per_sample_gradients(
    module: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    inputs: Tensor,
    targets: Tensor,
) -> dict[str, Tensor]:
    """Return every example's gradient of ``loss_fn(module(x_i), y_i)``, by ``torch.func``.

    Parameters
    ----------
    module : torch.nn.Module
        A model that treats the examples of a batch independently.
    loss_fn : callable
        ``loss_fn(output, target)`` for a batch of one example; returns a scalar.
    inputs : Tensor
        The batch, examples along dim 0.
    targets : Tensor
        Their targets, along dim 0.

    Returns
    -------
    dict of str to Tensor
        For each trainable parameter (by name), a tensor of shape ``(B, *param.shape)``.

    Raises
    ------
    ParameterError
        If ``inputs`` and ``targets`` differ in length.

    Examples
    --------
    >>> import torch
    >>> lin = torch.nn.Linear(2, 1)
    >>> g = per_sample_gradients(lin, lambda o, t: (o - t).sum(), torch.ones(4, 2),
    ...     torch.zeros(4, 1))
    >>> g["bias"].squeeze().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    if inputs.shape[0] != targets.shape[0]:
        raise ParameterError(
            f"inputs has {inputs.shape[0]} examples but targets has {targets.shape[0]}; "
            "pass one target per example"
        )
    params = {n: p.detach() for n, p in module.named_parameters() if p.requires_grad}
    fixed = {n: p.detach() for n, p in module.named_parameters() if not p.requires_grad}
    fixed.update({n: b.detach() for n, b in module.named_buffers()})

    def loss(p: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        out = functional_call(module, {**p, **fixed}, (x.unsqueeze(0),))
        value: Tensor = loss_fn(out, y.unsqueeze(0))
        return value

    result: dict[str, Tensor] = vmap(grad(loss), in_dims=(None, 0, 0))(params, inputs, targets)
    return result
