"""Shared helpers of the privet.torch tests: naive per-example loops in float64."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def naive_per_example_grads(
    model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor
) -> dict[str, Tensor]:
    """Each example's gradient by its own forward and backward pass (the reference)."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    out: dict[str, list[Tensor]] = {n: [] for n in names}
    for i in range(x.shape[0]):
        model.zero_grad(set_to_none=True)
        loss_fn(model(x[i : i + 1]), y[i : i + 1]).backward()
        params = dict(model.named_parameters())
        for n in names:
            g = params[n].grad
            out[n].append(torch.zeros_like(params[n]) if g is None else g.detach().clone())
    model.zero_grad(set_to_none=True)
    return {n: torch.stack(v) for n, v in out.items()}


def norms_of(grads: dict[str, Tensor]) -> Tensor:
    """Per-example L2 norms over all parameters."""
    return torch.stack([g.flatten(1).square().sum(1) for g in grads.values()]).sum(0).sqrt()


def clipped_sum_of(grads: dict[str, Tensor], c: float, margin: float = 1e-5) -> dict[str, Tensor]:
    """Σ_i min(1, C/‖g_i‖) g_i, naively (with the clipper's relative margin on the norm)."""
    factors = torch.clamp(c / (norms_of(grads) * (1 + margin)).clamp_min(1e-30), max=1.0)
    return {n: torch.tensordot(factors.to(g.dtype), g, dims=1) for n, g in grads.items()}


torch.set_num_threads(min(2, torch.get_num_threads()))
