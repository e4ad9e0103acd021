"""Per-example gradients, norms and clipped sums equal a naive loop over examples (float64).

For every supported layer: torch.func per-example gradients equal one backward pass per
example; the clipper's per-example norms (ghost norms, or per-example gradients where the
mixed rule picks them) equal the naive norms; its clipped sums equal the naive
Σ_i min(1, C/‖g_i‖) g_i; and every clipped per-example gradient has norm ≤ C.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn
from torch_helpers import clipped_sum_of, naive_per_example_grads, norms_of

from privet.torch import PerSampleClipper, per_sample_gradients
from privet.torch.ghost import use_ghost_norm

B = 6


def _sum_ce(out: Tensor, y: Tensor) -> Tensor:
    return nn.functional.cross_entropy(out, y, reduction="sum")


class Pool(nn.Module):
    """Wrap a layer so that its output becomes logits of 2 classes (mean over positions)."""

    def __init__(self, layer: nn.Module, width: int, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.layer, self.head, self.dims = layer, nn.Linear(width, 2), dims

    def forward(self, x: Tensor) -> Tensor:
        h = torch.tanh(self.layer(x))
        return self.head(h.mean(self.dims) if self.dims else h)


def _channels_last(width: int) -> Callable[[nn.Module], nn.Module]:
    return lambda layer: Pool(layer, width, ())


# name -> (model factory, input factory); each model's first layer is the layer under test
CASES: dict[str, tuple[Callable[[], nn.Module], Callable[[], Tensor]]] = {
    "linear": (lambda: Pool(nn.Linear(5, 4), 4, ()), lambda: torch.randn(B, 5)),
    "linear_seq_ghost": (lambda: Pool(nn.Linear(8, 9), 9, (1,)), lambda: torch.randn(B, 3, 8)),
    "linear_seq_materialised": (
        lambda: Pool(nn.Linear(2, 3), 3, (1,)),
        lambda: torch.randn(B, 7, 2),
    ),
    "conv1d": (
        lambda: Pool(nn.Conv1d(3, 4, 3, stride=2, padding=1, dilation=1), 4, (2,)),
        lambda: torch.randn(B, 3, 9),
    ),
    "conv1d_same_reflect": (
        lambda: Pool(nn.Conv1d(2, 4, 4, padding="same", padding_mode="reflect"), 4, (2,)),
        lambda: torch.randn(B, 2, 8),
    ),
    "conv2d_materialised": (
        lambda: Pool(nn.Conv2d(2, 4, 3, padding=1), 4, (2, 3)),
        lambda: torch.randn(B, 2, 6, 6),
    ),
    "conv2d_ghost_groups": (
        lambda: Pool(nn.Conv2d(8, 16, 3, groups=2, stride=2, dilation=1), 16, (2, 3)),
        lambda: torch.randn(B, 8, 5, 5),
    ),
    "conv2d_circular_dilated": (
        lambda: Pool(nn.Conv2d(2, 3, 2, padding=2, dilation=2, padding_mode="circular"), 3, (2, 3)),
        lambda: torch.randn(B, 2, 5, 4),
    ),
    "embedding": (
        lambda: Pool(nn.Embedding(6, 4, padding_idx=0), 4, (1,)),
        lambda: torch.tensor(
            [[1, 2, 2, 0], [3, 3, 3, 3], [0, 0, 5, 1], [4, 1, 4, 2], [5, 5, 0, 1], [2, 3, 4, 5]]
        ),
    ),
    "embedding_single": (lambda: Pool(nn.Embedding(6, 4), 4, ()), lambda: torch.arange(B) % 6),
    "layer_norm": (lambda: Pool(nn.LayerNorm(5), 5, ()), lambda: torch.randn(B, 5)),
    "layer_norm_seq_2d_shape": (
        lambda: Pool(nn.LayerNorm((3, 4)), 4, (1, 2)),
        lambda: torch.randn(B, 2, 3, 4),
    ),
    "group_norm_functional": (
        lambda: Pool(nn.GroupNorm(2, 4), 4, (2,)),
        lambda: torch.randn(B, 4, 5),
    ),
}


def _data(name: str) -> tuple[nn.Module, Tensor, Tensor]:
    torch.manual_seed(sum(map(ord, name)))
    make_model, make_x = CASES[name]
    model = make_model().double()
    x = make_x()
    if x.is_floating_point():
        x = x.double() * 3.0  # large enough that some examples get clipped
    y = torch.randint(0, 2, (B,))
    return model, x, y


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_func_per_example_gradients_equal_naive_loop(name: str) -> None:
    model, x, y = _data(name)
    want = naive_per_example_grads(model, _sum_ce, x, y)
    got = per_sample_gradients(model, _sum_ce, x, y)
    assert set(got) == set(want)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_clipper_norms_and_clipped_sums_equal_naive(name: str, reduction: str) -> None:
    model, x, y = _data(name)
    want = naive_per_example_grads(model, _sum_ce, x, y)
    clipper = PerSampleClipper(model, loss_reduction=reduction)
    nn.functional.cross_entropy(model(x), y, reduction=reduction).backward()
    assert all(p.grad is None for p in model.parameters())  # no unclipped gradient computed
    norms = clipper.per_sample_norms()
    torch.testing.assert_close(norms, norms_of(want), rtol=1e-10, atol=1e-12)
    c = float(norms.median())  # about half the examples are clipped
    got = clipper.clipped_sum(max_grad_norm=c)
    expected = clipped_sum_of(want, c)
    params = dict(model.named_parameters())
    for key, value in expected.items():
        torch.testing.assert_close(got[params[key]], value, rtol=1e-9, atol=1e-12)
    clipper.remove()


def test_unit_kinds_follow_the_layer_types() -> None:
    kinds = {}
    for name in sorted(CASES):
        model, _, _ = _data(name)
        kinds[name] = PerSampleClipper(model).units[0].kind
    assert kinds["conv1d"] == kinds["conv2d_ghost_groups"] == "conv"
    assert kinds["embedding"] == "embedding"
    assert kinds["layer_norm"] == "layer_norm"
    assert kinds["group_norm_functional"] == "functional"
    # both branches of the mixed ghost rule are exercised by the cases above
    assert use_ghost_norm(3, 8, 9)
    assert not use_ghost_norm(7, 2, 3)
    assert use_ghost_norm(4, 36, 8)
    assert not use_ghost_norm(36, 18, 4)


def test_layer_called_twice_counts_both_calls() -> None:
    torch.manual_seed(3)

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin, self.head = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: Tensor) -> Tensor:
            return self.head(self.lin(torch.tanh(self.lin(x))))

    model, x, y = Twice().double(), torch.randn(B, 4).double(), torch.randint(0, 2, (B,))
    want = naive_per_example_grads(model, _sum_ce, x, y)
    clipper = PerSampleClipper(model)
    _sum_ce(model(x), y).backward()
    torch.testing.assert_close(clipper.per_sample_norms(), norms_of(want), rtol=1e-10, atol=0)


@pytest.mark.parametrize("c", [0.01, 0.3, 10.0])
def test_clipping_bounds_every_per_example_norm(c: float) -> None:
    # Clip with per-example weights, then measure each clipped gradient on its own.
    torch.manual_seed(11)
    model = nn.Sequential(nn.Conv1d(2, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(30, 2)).double()
    x, y = 4 * torch.randn(B, 2, 8).double(), torch.randint(0, 2, (B,))
    want = naive_per_example_grads(model, _sum_ce, x, y)
    for i in range(B):
        clipper = PerSampleClipper(model)
        _sum_ce(model(x[i : i + 1]), y[i : i + 1]).backward()
        alone = clipper.clipped_sum(max_grad_norm=c)
        clipper.remove()
        norm = torch.sqrt(sum(g.square().sum() for g in alone.values()))
        assert float(norm) <= c
        assert float(norm) == pytest.approx(min(c, float(norms_of(want)[i])), rel=2e-5)


def test_frozen_parameters_are_left_alone() -> None:
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    model[0].weight.requires_grad_(False)
    x, y = torch.randn(B, 3).double(), torch.randint(0, 2, (B,))
    want = naive_per_example_grads(model, _sum_ce, x, y)
    clipper = PerSampleClipper(model)
    _sum_ce(model(x), y).backward()
    torch.testing.assert_close(clipper.per_sample_norms(), norms_of(want), rtol=1e-10, atol=0)
    assert model[0].weight not in clipper.clipped_sum(max_grad_norm=1.0)
    assert not model[0].weight.requires_grad


def test_eval_and_no_grad_forwards_record_nothing() -> None:
    model = nn.Linear(3, 2)
    clipper = PerSampleClipper(model)
    with torch.no_grad():
        model(torch.randn(4, 3))
    model.eval()
    model(torch.randn(5, 3))
    assert clipper.batch_size() is None
    assert all(p.requires_grad for p in model.parameters())
