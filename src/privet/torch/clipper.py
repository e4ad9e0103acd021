"""Per-example clipping in one backward pass: record, measure, reweight, sum.

A :class:`PerSampleClipper` attaches to a model. During a training forward pass it records
each unit's inputs (:mod:`privet.torch.layers`); during the ordinary ``loss.backward()`` it
records the gradient of the loss with respect to each unit's outputs. Meanwhile the
parameters do not require gradients inside the model's forward pass, so autograd computes
only activation gradients and no (unclipped) parameter gradient at all. Then
:meth:`~PerSampleClipper.clipped_sum`:

1. finds each example's gradient norm ``‖g_i‖`` over all parameters, unit by unit (ghost
   norms, :mod:`privet.torch.ghost`; ``torch.func``, :mod:`privet.torch.grad_sample`), as
   the root of the sum of the units' squares (Li et al. 2021, arXiv:2110.05679, Sect. 4.1);
2. sets ``c_i = min(1, C / ‖g_i‖)`` (Abadi et al. 2016, "Deep learning with differential
   privacy", arXiv:1607.00133, Algorithm 1, "clip gradient");
3. returns ``Σ_i c_i g_i`` per parameter by book-keeping (Bu et al. 2023,
   arXiv:2210.00038): the reweighted output gradients times the recorded inputs, with no
   second backward pass.

The loss may be a sum or a mean over the batch (``loss_reduction``); for a mean the
recorded gradients are ``g_i / B``, and are scaled back by the batch size B.

Examples
--------
>>> import torch
>>> model = torch.nn.Linear(2, 1)
>>> clipper = PerSampleClipper(model)
>>> loss = model(torch.tensor([[3.0, 4.0], [0.3, 0.4]])).sum()
>>> loss.backward()
>>> [round(float(v), 4) for v in clipper.per_sample_norms()]  # √(‖x‖² + 1)
[5.099, 1.118]
>>> sums = clipper.clipped_sum(max_grad_norm=1.0)
>>> [round(float(v), 4) for v in sums[model.weight].flatten()]
[0.8567, 1.1423]
>>> clipper.remove()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from privet.core.checks import check_positive
from privet.core.errors import ParameterError
from privet.torch.ghost import (
    Call,
    ConvParts,
    EmbeddingParts,
    LayerNormParts,
    LinearParts,
    Parts,
)
from privet.torch.grad_sample import FunctionalParts
from privet.torch.layers import Unit, plan_layers

__all__ = ["LOSS_REDUCTIONS", "PerSampleClipper"]

LOSS_REDUCTIONS = ("mean", "sum")

#: Relative margin on the computed norm, so that float rounding in the norm can never let a
#: clipped gradient exceed C.
_NORM_MARGIN = 1e-5


class _Tap(torch.autograd.Function):
    """Identity that records its output gradient and gives its output a gradient path.

    Inside the clipped forward pass the parameters do not require gradients, so a first
    layer's output would not either; the extra ``anchor`` input (a leaf requiring grad)
    makes autograd carry the gradient to here. No gradient is returned to ``anchor``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, anchor: Tensor, sink: Callable[[Tensor], None]) -> Tensor:
        ctx.sink = sink
        return x.clone()  # a copy, so that an in-place op after the layer stays legal

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        ctx.sink(grad)
        return grad, None, None


class _Record:
    """One call of a unit, filled in by the forward hook and then by the backward pass."""

    __slots__ = ("grads", "inputs", "kwargs")

    def __init__(self, inputs: tuple[Any, ...], kwargs: dict[str, Any], n_out: int) -> None:
        self.inputs = inputs
        self.kwargs = kwargs
        self.grads: list[Tensor | None] = [None] * n_out

    def sink(self, k: int) -> Callable[[Tensor], None]:
        def store(g: Tensor) -> None:
            old = self.grads[k]
            self.grads[k] = g.detach() if old is None else old + g.detach()

        return store


def _parts(unit: Unit, calls: list[Call]) -> Parts:
    trainable = {name for name, _ in unit.params}
    m = unit.module
    if unit.kind == "linear" and isinstance(m, nn.Linear):
        return LinearParts(m, calls, trainable=trainable)
    if unit.kind == "conv" and isinstance(m, nn.Conv1d | nn.Conv2d):
        return ConvParts(m, calls, trainable=trainable)
    if unit.kind == "embedding" and isinstance(m, nn.Embedding):
        return EmbeddingParts(m, calls, trainable=trainable)
    if unit.kind == "layer_norm" and isinstance(m, nn.LayerNorm):
        return LayerNormParts(m, calls, trainable=trainable)
    return FunctionalParts(m, calls, trainable=trainable)


class PerSampleClipper:
    """Record a model's per-example gradient information and return clipped sums.

    Parameters
    ----------
    module : torch.nn.Module
        The model; its layers are checked and planned (:func:`~privet.torch.layers.plan_layers`).
        Inputs are batch-first.
    loss_reduction : {"mean", "sum"}, default "sum"
        How the training loss combines the examples of a batch.

    Raises
    ------
    ParameterError
        For a refused layer (BatchNorm …), a model without trainable parameters, or a bad
        ``loss_reduction``.
    """

    def __init__(self, module: nn.Module, *, loss_reduction: str = "sum") -> None:
        if loss_reduction not in LOSS_REDUCTIONS:
            raise ParameterError(
                f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}; pass the "
                "reduction of your loss (nn.CrossEntropyLoss() is 'mean')"
            )
        self.units = plan_layers(module)
        self.module = module
        self.loss_reduction = loss_reduction
        self.params: list[nn.Parameter] = [p for u in self.units for _, p in u.params]
        self._records: dict[int, list[_Record]] = {i: [] for i in range(len(self.units))}
        self._anchor = torch.zeros((), requires_grad=True)
        self._depth = 0
        self._paused = False  # True while torch.func re-runs layers for their gradients
        self._handles: list[RemovableHandle] = [
            module.register_forward_pre_hook(self._enter),
            module.register_forward_hook(self._leave, always_call=True),
        ]
        for i, unit in enumerate(self.units):
            self._handles.append(
                unit.module.register_forward_hook(self._recorder(i), with_kwargs=True)
            )

    # -- hooks ---------------------------------------------------------------------------

    def _active(self) -> bool:
        return not self._paused and torch.is_grad_enabled() and self.module.training

    def _enter(self, module: nn.Module, args: Any) -> None:
        if self._depth == 0 and self._active():
            for p in self.params:  # no unclipped parameter gradient inside the forward
                p.requires_grad_(False)
        self._depth += 1

    def _leave(self, module: nn.Module, args: Any, output: Any) -> None:
        self._depth -= 1
        if self._depth == 0:
            for p in self.params:
                p.requires_grad_(True)

    def _recorder(self, index: int) -> Callable[..., Any]:
        records = self._records[index]
        anchor = self._anchor

        def hook(mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Any:
            if self._paused or not (torch.is_grad_enabled() and mod.training):
                return None
            inputs = tuple(a.detach() if isinstance(a, Tensor) else a for a in args)
            single = isinstance(out, Tensor)
            outs = (out,) if single else out
            if not isinstance(outs, tuple | list) or not all(isinstance(o, Tensor) for o in outs):
                raise ParameterError(
                    f"layer {type(mod).__name__} returned {type(out).__name__}; a layer with "
                    "trainable parameters must return a tensor or a tuple of tensors"
                )
            rec = _Record(inputs, dict(kwargs), len(outs))
            records.append(rec)
            tapped = []
            for k, o in enumerate(outs):
                if not o.is_floating_point():
                    tapped.append(o)
                elif o.requires_grad:
                    o.register_hook(rec.sink(k))
                    tapped.append(o)
                else:
                    tapped.append(_Tap.apply(o, anchor, rec.sink(k)))  # type: ignore[no-untyped-call]
            if single:
                return tapped[0]
            return type(out)(tapped) if isinstance(out, tuple) else tapped

        return hook

    # -- results -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything recorded (done after each step and before each batch)."""
        for records in self._records.values():
            records.clear()

    def remove(self) -> None:
        """Detach the hooks from the model and forget what was recorded."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self.reset()

    def batch_size(self) -> int | None:
        """Return the batch size seen by every recorded call, or None if nothing was recorded.

        Raises
        ------
        ParameterError
            If calls saw different batch sizes.
        """
        sizes = set()
        for records in self._records.values():
            for rec in records:
                first = next((x for x in rec.inputs if isinstance(x, Tensor)), None)
                if first is None or first.dim() == 0:
                    raise ParameterError("a layer was called without a batched tensor input")
                sizes.add(int(first.shape[0]))
        if len(sizes) > 1:
            raise ParameterError(
                f"the layers saw batches of different sizes {sorted(sizes)} since the last "
                "step; run one forward and backward pass per batch, batch first"
            )
        return sizes.pop() if sizes else None

    def _parts(self) -> list[tuple[Unit, Parts]]:
        out = []
        self._paused = True
        try:
            for i, unit in enumerate(self.units):
                # A call whose outputs never reached the loss contributes nothing.
                calls = [
                    Call(r.inputs, tuple(r.grads), r.kwargs)
                    for r in self._records[i]
                    if any(g is not None for g in r.grads)
                ]
                if calls:
                    out.append((unit, _parts(unit, calls)))
        finally:
            self._paused = False
        return out

    def _scale(self, batch: int) -> float:
        return float(batch) if self.loss_reduction == "mean" else 1.0

    def per_sample_norms(self) -> Tensor:
        """Return each example's gradient norm over all trainable parameters, (B,).

        Returns
        -------
        Tensor
            Norms of the per-example gradients of the loss (scaled back by B for a mean).
        """
        batch = self.batch_size() or 0
        if batch == 0:
            return torch.zeros(0, dtype=torch.float64)
        return self._norms(self._parts(), batch).sqrt() * self._scale(batch)

    def _norms(self, parts: list[tuple[Unit, Parts]], batch: int) -> Tensor:
        """Return the recorded per-example squared norms summed over units (unscaled)."""
        total: Tensor | None = None
        for _, part in parts:
            sq = part.sq_norms()
            total = sq if total is None else total + sq.to(total.dtype)
        if total is None:
            return torch.zeros(batch, dtype=torch.float64)
        return total

    def clipped_sum(
        self, *, max_grad_norm: float, scale: float = 1.0
    ) -> dict[nn.Parameter, Tensor]:
        """Return ``scale · Σ_i min(1, C/‖g_i‖) g_i`` for every trainable parameter.

        Parameters
        ----------
        max_grad_norm : float
            The clipping norm C > 0.
        scale : float, default 1.0
            A factor applied to the sum (folded into the per-example weights).

        Returns
        -------
        dict of Parameter to Tensor
            The clipped sum for every trainable parameter (zeros for an empty batch or a
            unit the loss did not reach).

        Raises
        ------
        ParameterError
            If activations were recorded but no gradient (``backward`` not called), or the
            layers saw different batch sizes.
        """
        c_norm = check_positive(max_grad_norm, name="max_grad_norm")
        batch = self.batch_size() or 0
        out: dict[nn.Parameter, Tensor] = {}
        if batch > 0:
            parts = self._parts()
            if not parts:
                raise ParameterError(
                    "activations were recorded but no gradient reached them; call "
                    "loss.backward() before optimizer.step()"
                )
            sq = self._norms(parts, batch)
            # Abadi et al. 2016, Algorithm 1: g_i · min(1, C/‖g_i‖), as a weight on g_i. The
            # recorded gradients are g_i / s (s = B for a mean loss), so ‖g_i‖ = s·√sq_i and
            # the weight on a recorded gradient is min(1, C / (s √sq_i)) · s · scale
            # (rsqrt(0) = inf clamps to 1: a zero gradient is left as it is).
            s_b = self._scale(batch)
            weights = (sq.rsqrt().mul_(c_norm / (s_b * (1.0 + _NORM_MARGIN))).clamp_(max=1.0)).mul_(
                s_b * scale
            )
            for unit, part in parts:
                sums = part.clipped_sum(weights)
                for name, p in unit.params:
                    if name in sums:
                        s = sums[name]
                        out[p] = (s if s.dtype == p.dtype else s.to(p.dtype)).view(p.shape)
        for p in self.params:  # a unit the loss did not reach, or an empty batch
            if p not in out:
                out[p] = torch.zeros_like(p, memory_format=torch.contiguous_format)
        return out
