"""Per-example gradient norms and clipped gradient sums from a layer's inputs and output grads.

For a layer applied to example ``i``, let ``A_i`` (T × d) be its input rows and ``G_i``
(T × p) the gradient of example ``i``'s loss with respect to its output rows (T = 1 for a
feature vector, the sequence length or the number of convolution patches otherwise). The
example's weight gradient is ``G_iᵀ A_i`` and its bias gradient ``Σ_t G_i[t]``. Everything
here works from ``A`` and ``G``, which one ordinary backward pass provides:

* **Norms without per-example gradients.** For T = 1, ``‖G_iᵀA_i‖_F² = ‖A_i‖²‖G_i‖²``
  (Goodfellow 2015, "Efficient per-example gradient computations", arXiv:1510.01799). For
  T > 1, ghost clipping: ``‖G_iᵀA_i‖_F² = ⟨A_iA_iᵀ, G_iG_iᵀ⟩`` (Li, Tramèr, Liang, Hashimoto
  2021, "Large language models can be strong differentially private learners",
  arXiv:2110.05679, Sect. 4.2), costing O(T²(d + p)) instead of O(Tdp).
* **Mixed ghost clipping.** Convolutions are linear layers on unfolded patches (T = number
  of output positions). Per layer, the cheaper of the two is chosen: the ghost norm when
  ``2T² < p·d``, else the per-example gradients (Bu, Mao, Xu 2022, "Scalable and efficient
  training of large convolutional neural networks with differential privacy",
  arXiv:2205.10683, the layerwise "mixed ghost clipping" decision).
* **Book-keeping.** The clipped sum ``Σ_i c_i G_iᵀA_i`` is one matrix product of the
  reweighted output grads with the inputs, so no second backward pass is needed (Bu, Wang,
  Zha, Karypis 2023, "Differentially private optimization on large model at small cost",
  arXiv:2210.00038, the BK algorithm).

Embeddings (ghost norm over equal indices, Li et al. 2021 Sect. 4.2) and LayerNorm (its
per-example gradients are as small as one activation row, so they are formed directly)
complete the set. Each ``*Parts`` class takes the recorded calls of one layer and answers
``sq_norms()`` (shape ``(B,)``) and ``clipped_sum(weights)`` (``{param name: Σ_i w_i g_i}``).

Examples
--------
>>> import torch
>>> a, g = torch.tensor([[[3.0, 4.0]]]), torch.tensor([[[1.0, 0.0, 0.0]]])
>>> parts = LinearParts(torch.nn.Linear(2, 3), [Call((a,), (g,))], trainable={"weight"})
>>> parts.sq_norms()  # ‖a‖²‖g‖² = 25 · 1
tensor([25.])
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privet.core.errors import ParameterError

__all__ = [
    "Call",
    "ConvParts",
    "EmbeddingParts",
    "LayerNormParts",
    "LinearParts",
    "Parts",
    "use_ghost_norm",
]


@dataclasses.dataclass
class Call:
    """One recorded call of a layer: its positional inputs and its outputs' gradients.

    Attributes
    ----------
    inputs : tuple
        The positional arguments of the call (tensors detached).
    grads : tuple of (Tensor or None)
        The gradient of the summed loss with respect to each output tensor (None where the
        output did not reach the loss).
    kwargs : dict
        The keyword arguments of the call (non-tensors only).
    """

    inputs: tuple[Any, ...]
    grads: tuple[Tensor | None, ...]
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


class Parts(Protocol):
    """What a clipping unit answers once a batch's forward and backward passes are done."""

    def sq_norms(self) -> Tensor:
        """Return each example's squared gradient norm over the unit's parameters, (B,)."""
        ...

    def clipped_sum(self, weights: Tensor) -> dict[str, Tensor]:
        """Return ``Σ_i weights[i] · g_i`` for each trainable parameter, by name."""
        ...


def use_ghost_norm(t: int, d: int, p: int) -> bool:
    """Return True when the ghost norm is cheaper than per-example gradients.

    The ghost norm costs about ``2T²`` products per (d + p) pair against ``T·d·p`` for the
    per-example gradient: Bu, Mao, Xu 2022 (arXiv:2205.10683) choose the ghost norm iff
    ``2T² < p·d``.

    Parameters
    ----------
    t, d, p : int
        Rows per example, input width and output width.

    Returns
    -------
    bool
        Whether to use the ghost norm.

    Examples
    --------
    >>> use_ghost_norm(1, 91, 128), use_ghost_norm(1024, 27, 32)
    (True, False)
    """
    return 2 * t * t < p * d


def _grad(call: Call, what: str) -> Tensor:
    g = call.grads[0] if call.grads else None
    if g is None:
        raise ParameterError(
            f"no output gradient was recorded for a {what} layer; call loss.backward() "
            "before optimizer.step()"
        )
    return g


def _batched(x: Tensor, *, min_dim: int, what: str) -> Tensor:
    if x.dim() < min_dim:
        raise ParameterError(
            f"a {what} layer received an input of shape {tuple(x.shape)} without a batch "
            "dimension; DP-SGD needs batched inputs (batch first)"
        )
    return x


class LinearParts:
    """Norms and clipped sums of an ``nn.Linear`` (inputs of shape (B, …, d))."""

    def __init__(self, module: nn.Linear, calls: list[Call], *, trainable: set[str]) -> None:
        d, p = module.in_features, module.out_features
        xs = [_batched(c.inputs[0], min_dim=2, what="Linear") for c in calls]
        gs = [_grad(c, "Linear") for c in calls]
        self.weight = "weight" in trainable
        self.bias = "bias" in trainable and module.bias is not None
        self.per_example: Tensor | None = None
        self.rank_one = len(calls) == 1 and xs[0].dim() == 2
        if self.rank_one:  # one call on feature vectors (T = 1): keep (B, d) and (B, p)
            self.a, self.g = xs[0], gs[0]
            return
        b = xs[0].shape[0]
        # Several calls of one layer are one call on the rows stacked along T.
        self.a = torch.cat([x.reshape(b, -1, d) for x in xs], dim=1)
        self.g = torch.cat([g.reshape(b, -1, p) for g in gs], dim=1)
        t = self.a.shape[1]
        if self.weight and not use_ghost_norm(t, d, p):
            self.per_example = torch.einsum("btp,btd->bpd", self.g, self.a)

    def sq_norms(self) -> Tensor:
        """Return the per-example squared norms, (B,)."""
        if self.rank_one:  # Goodfellow 2015: ‖g aᵀ‖² = ‖a‖²‖g‖², and the bias adds ‖g‖²
            g2 = (self.g * self.g).sum(1)
            if not self.weight:
                return g2
            a2 = (self.a * self.a).sum(1)
            return g2 * (a2 + 1.0) if self.bias else g2 * a2
        out = torch.zeros(self.a.shape[0], dtype=self.g.dtype, device=self.g.device)
        if self.weight:
            if self.per_example is not None:
                out += self.per_example.square().sum((1, 2))
            else:  # Li et al. 2021 Sect. 4.2: ‖GᵀA‖_F² = ⟨AAᵀ, GGᵀ⟩
                aa = torch.bmm(self.a, self.a.transpose(1, 2))
                gg = torch.bmm(self.g, self.g.transpose(1, 2))
                out += (aa * gg).sum((1, 2))
        if self.bias:
            out += self.g.sum(1).square().sum(1)
        return out

    def clipped_sum(self, weights: Tensor) -> dict[str, Tensor]:
        """Return ``Σ_i w_i g_i`` for the trainable parameters (book-keeping, one matmul)."""
        out: dict[str, Tensor] = {}
        w = weights if weights.dtype == self.g.dtype else weights.to(self.g.dtype)
        if self.rank_one:  # Bu et al. 2023 (BK): Σ_i w_i g_i a_iᵀ = (w·G)ᵀA
            if self.weight:
                out["weight"] = (self.g.t() * w) @ self.a
            if self.bias:
                out["bias"] = self.g.t() @ w
            return out
        p, d = self.g.shape[2], self.a.shape[2]
        if self.weight:
            if self.per_example is not None:
                out["weight"] = torch.einsum("b,bpd->pd", w, self.per_example)
            else:  # Bu et al. 2023 (BK): Σ_i w_i G_iᵀA_i = (w·G)ᵀA
                wg3 = (self.g * w[:, None, None]).reshape(-1, p)
                out["weight"] = wg3.t() @ self.a.reshape(-1, d)
        if self.bias:
            out["bias"] = w @ self.g.sum(1)
        return out


class ConvParts:
    """Norms and clipped sums of an ``nn.Conv1d`` / ``nn.Conv2d``, on unfolded patches.

    A convolution is a linear map from each patch of the (padded) input to one output
    position, so with ``A_i`` the unfolded patches (d = C_in/groups · kernel size, T =
    output positions) and ``G_i`` the output gradient, the linear-layer formulas apply per
    group (Bu, Mao, Xu 2022, arXiv:2205.10683).
    """

    def __init__(
        self, module: nn.Conv1d | nn.Conv2d, calls: list[Call], *, trainable: set[str]
    ) -> None:
        one_d = isinstance(module, nn.Conv1d)
        nd = 3 if one_d else 4
        groups = module.groups
        self.shape = tuple(module.weight.shape)
        p = module.out_channels // groups
        a_parts, g_parts = [], []
        for c in calls:
            x = _batched(c.inputs[0], min_dim=nd, what=type(module).__name__)
            g = _grad(c, type(module).__name__)
            if x.dim() != nd:
                raise ParameterError(
                    f"a {type(module).__name__} layer received an input of shape "
                    f"{tuple(x.shape)}; pass batched inputs of {nd} dimensions"
                )
            pad = tuple(module._reversed_padding_repeated_twice)
            if any(pad):
                mode = "constant" if module.padding_mode == "zeros" else module.padding_mode
                x = F.pad(x, pad, mode=mode)
            if one_d:
                x, g = x.unsqueeze(2), g.unsqueeze(2)
                kernel, dil, stride = (
                    (1, module.kernel_size[0]),
                    (1, module.dilation[0]),
                    (1, module.stride[0]),
                )
            else:
                kernel = (module.kernel_size[0], module.kernel_size[1])
                dil = (module.dilation[0], module.dilation[1])
                stride = (module.stride[0], module.stride[1])
            cols = F.unfold(x, kernel_size=kernel, dilation=dil, stride=stride)
            b = x.shape[0]
            a_parts.append(cols.reshape(b, groups, -1, cols.shape[-1]))
            g_parts.append(g.reshape(b, groups, p, -1))
        self.a = torch.cat(a_parts, dim=3)  # (B, groups, d, T)
        self.g = torch.cat(g_parts, dim=3)  # (B, groups, p, T)
        self.weight = "weight" in trainable
        self.bias = "bias" in trainable and module.bias is not None
        t, d = self.a.shape[3], self.a.shape[2]
        self.per_example: Tensor | None = None
        if self.weight and not use_ghost_norm(t, d, p):
            self.per_example = torch.einsum("bgpt,bgdt->bgpd", self.g, self.a)

    def sq_norms(self) -> Tensor:
        """Return the per-example squared norms, (B,)."""
        out = torch.zeros(self.a.shape[0], dtype=self.g.dtype, device=self.g.device)
        if self.weight:
            if self.per_example is not None:
                out += self.per_example.square().sum((1, 2, 3))
            else:  # ghost norm per group: ⟨AᵀA, GᵀG⟩ over output positions
                aa = self.a.transpose(2, 3) @ self.a
                gg = self.g.transpose(2, 3) @ self.g
                out += (aa * gg).sum((1, 2, 3))
        if self.bias:
            out += self.g.sum(3).square().sum((1, 2))
        return out

    def clipped_sum(self, weights: Tensor) -> dict[str, Tensor]:
        """Return ``Σ_i w_i g_i`` for the trainable parameters."""
        out: dict[str, Tensor] = {}
        w = weights.to(self.g.dtype)
        if self.weight:
            if self.per_example is not None:
                summed = torch.einsum("b,bgpd->gpd", w, self.per_example)
            else:
                summed = torch.einsum("bgpt,bgdt->gpd", self.g * w[:, None, None, None], self.a)
            out["weight"] = summed.reshape(self.shape)
        if self.bias:
            out["bias"] = (w @ self.g.sum(3).flatten(1)).reshape(-1)
        return out


class EmbeddingParts:
    """Norms and clipped sums of an ``nn.Embedding`` (index inputs of shape (B, …)).

    Example ``i``'s gradient puts ``Σ_{t: x_it = v} G_i[t]`` in row ``v``, so its squared
    norm is ``Σ_v ‖Σ_{t: x_it = v} G_i[t]‖²`` (Li et al. 2021, Sect. 4.2): rows of equal
    index are summed first (one ``index_add`` over the distinct (example, index) pairs),
    in O(B·T·dim), never forming the (vocabulary × dim) gradient of an example.
    """

    def __init__(self, module: nn.Embedding, calls: list[Call], *, trainable: set[str]) -> None:
        self.vocab, self.dim = module.num_embeddings, module.embedding_dim
        idx = [_batched(c.inputs[0], min_dim=1, what="Embedding") for c in calls]
        b = idx[0].shape[0]
        self.idx = torch.cat([i.reshape(b, -1) for i in idx], dim=1).long()
        self.g = torch.cat([_grad(c, "Embedding").reshape(b, -1, self.dim) for c in calls], 1)
        if module.padding_idx is not None:  # the padding row receives no gradient
            self.g = self.g * (self.idx != module.padding_idx).unsqueeze(2).to(self.g.dtype)
        self.weight = "weight" in trainable

    def sq_norms(self) -> Tensor:
        """Return the per-example squared norms, (B,)."""
        b, t = self.idx.shape
        out = torch.zeros(b, dtype=self.g.dtype, device=self.g.device)
        if not self.weight:
            return out
        if t == 1:
            return out + self.g.square().sum((1, 2))
        rows = torch.arange(b, device=self.idx.device).unsqueeze(1)
        keys = (rows * self.vocab + self.idx).reshape(-1)
        uniq, inverse = torch.unique(keys, return_inverse=True)
        sums = torch.zeros(uniq.numel(), self.dim, dtype=self.g.dtype, device=self.g.device)
        sums.index_add_(0, inverse, self.g.reshape(-1, self.dim))
        return out.index_add_(0, uniq // self.vocab, sums.square().sum(1))

    def clipped_sum(self, weights: Tensor) -> dict[str, Tensor]:
        """Return ``Σ_i w_i g_i`` for the embedding table."""
        if not self.weight:
            return {}
        w = weights.to(self.g.dtype)
        table = torch.zeros(self.vocab, self.dim, dtype=self.g.dtype, device=self.g.device)
        src = (self.g * w[:, None, None]).reshape(-1, self.dim)
        return {"weight": table.index_add_(0, self.idx.reshape(-1), src)}


class LayerNormParts:
    """Norms and clipped sums of an ``nn.LayerNorm``.

    Example ``i``'s gradients are ``Σ_t x̂_i[t] ⊙ G_i[t]`` (weight) and ``Σ_t G_i[t]``
    (bias), with ``x̂`` the normalised input: as small as one activation row, so they are
    formed directly (Li et al. 2021 treat LayerNorm the same way).
    """

    def __init__(self, module: nn.LayerNorm, calls: list[Call], *, trainable: set[str]) -> None:
        shape = tuple(module.normalized_shape)
        k = len(shape)
        self.weight = "weight" in trainable and module.weight is not None
        self.bias = "bias" in trainable and module.bias is not None
        gw: Tensor | None = None
        gb: Tensor | None = None
        for c in calls:
            x = _batched(c.inputs[0], min_dim=k + 1, what="LayerNorm")
            g = _grad(c, "LayerNorm")
            middle = tuple(range(1, x.dim() - k))
            if self.weight:
                xhat = F.layer_norm(x, shape, None, None, module.eps)
                part = (xhat * g).sum(middle) if middle else xhat * g
                gw = part if gw is None else gw + part
            if self.bias:
                part = g.sum(middle) if middle else g
                gb = part if gb is None else gb + part
        self.gw, self.gb = gw, gb
        first = calls[0].inputs[0]
        self.batch = first.shape[0]
        self.dtype, self.device = _grad(calls[0], "LayerNorm").dtype, first.device

    def sq_norms(self) -> Tensor:
        """Return the per-example squared norms, (B,)."""
        out = torch.zeros(self.batch, dtype=self.dtype, device=self.device)
        for part in (self.gw, self.gb):
            if part is not None:
                out += part.flatten(1).square().sum(1)
        return out

    def clipped_sum(self, weights: Tensor) -> dict[str, Tensor]:
        """Return ``Σ_i w_i g_i`` for the trainable parameters."""
        w = weights.to(self.dtype)
        out: dict[str, Tensor] = {}
        if self.gw is not None:
            out["weight"] = torch.tensordot(w, self.gw, dims=1)
        if self.gb is not None:
            out["bias"] = torch.tensordot(w, self.gb, dims=1)
        return out
