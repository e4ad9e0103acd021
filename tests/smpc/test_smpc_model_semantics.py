"""A converted model computes what torch computes on it, or from_torch refuses it.

Subclasses with a forward of their own, in-place updates torch.fx cannot see, forward hooks
(pruning), and the diagnostics of layer_errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from privet.core.random import SecureRandom
from privet.errors import ParameterError, ParameterTypeError
from privet.smpc import InProcessCluster

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


@pytest.fixture(scope="module")
def cluster() -> Iterator[InProcessCluster]:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(21)) as c:
        yield c


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(3).uniform(-1, 1, (5, 6))  # test inputs only


def _check(cluster: InProcessCluster, net: Any, x: np.ndarray) -> None:
    net = net.eval()
    with torch.no_grad():
        want = net.double()(torch.tensor(x)).numpy()
    got = cluster.from_torch(net.float())(cluster.share(x)).reveal()
    assert np.max(np.abs(got - want)) < 1e-3


class ScaledLinear(nn.Linear):
    def forward(self, x: Any) -> Any:
        return 2 * super().forward(x)


class LeakyReLU(nn.ReLU):  # a subclass of a supported layer computing something else
    def forward(self, x: Any) -> Any:
        return F.relu(x) - 0.25 * F.relu(-x)


class Residual(nn.Sequential):
    def forward(self, x: Any) -> Any:
        return x + super().forward(x)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: Any) -> Any:
        return x + F.relu(self.fc(x))


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Sequential(ScaledLinear(6, 4), nn.ReLU()),
        lambda: nn.Sequential(nn.Linear(6, 6), LeakyReLU()),
        lambda: Residual(nn.Linear(6, 6), nn.ReLU()),
        lambda: nn.Sequential(Block(), Block(), nn.Linear(6, 3)),  # the ResNet "layer" pattern
        lambda: nn.Sequential(nn.Linear(6, 6), nn.Dropout1d(0.3), nn.ReLU(), nn.AlphaDropout(0.2)),
    ],
)
def test_a_forward_of_its_own_inside_a_sequential_is_followed(
    cluster: InProcessCluster, x: np.ndarray, make: Any
) -> None:
    torch.manual_seed(0)  # test model only
    _check(cluster, make(), x)


class InPlaceReadAgain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: Any) -> Any:
        y = self.fc(x)
        z = F.relu(y, inplace=True)  # torch: y is rectified too
        return y + z


class InPlaceForEffect(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Any) -> Any:
        y = self.fc(x)
        self.act(y)  # the result is dropped: only the in-place change counts
        return y


class AugmentedAlias(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: Any) -> Any:
        y = self.fc(x)
        z = y
        y += 1.0  # torch: z sees it; fx records y + 1 and keeps the old y for z
        return z * 2


class InPlaceThroughAView(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: Any) -> Any:
        y = self.fc(x)
        flat = y.view(-1)
        z = F.relu(flat, inplace=True)  # changes y through its view
        return y * 2 + z.sum()


class InPlaceThroughAnIndex(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: Any) -> Any:
        y = self.fc(x)
        z = F.relu(torch.flatten(y[:, :2], 0), inplace=True)  # changes part of y
        return y + z.sum()


class UnusedInPlaceFunction(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: Any) -> Any:
        y = self.fc(x)
        F.relu(y, inplace=True)
        return y


class DeadHead(nn.Module):
    """An auxiliary head nothing returns: harmless, it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.aux = nn.Linear(6, 2)

    def forward(self, x: Any) -> Any:
        h = self.fc(x)
        self.aux(h)
        return F.relu(h)


class MyLinear(nn.Linear):
    pass


def test_a_dead_head_runs_and_a_subclass_adding_nothing_chains(
    cluster: InProcessCluster, x: np.ndarray
) -> None:
    torch.manual_seed(12)  # test model only
    _check(cluster, DeadHead(), x)
    net = nn.Sequential(MyLinear(6, 4), nn.ReLU())
    model = cluster.from_torch(net)
    assert len(model) == 2  # a chain of two layers, not a traced graph of its parts
    sent = []
    for _ in range(2):
        cluster.reset_costs()
        model(cluster.share(x)).reveal()
        sent.append(cluster.cost_report()["inference"].bytes_sent)
    assert sent[1] < sent[0]  # its weight is masked once, as nn.Linear's


def test_a_forward_set_on_the_instance_is_refused(cluster: InProcessCluster) -> None:
    lin = nn.Linear(6, 4)
    lin.forward = lambda t: 2 * F.linear(t, lin.weight, lin.bias)  # type: ignore[method-assign]
    with pytest.raises(ParameterError, match="forward set on the instance"):
        cluster.from_torch(nn.Sequential(lin))


@pytest.mark.parametrize(
    ("net", "message"),
    [
        (InPlaceReadAgain, "changes fc in place, which add also read"),
        (InPlaceForEffect, "never used"),
        (AugmentedAlias, "never used"),
        (InPlaceThroughAView, "changes fc in place, which mul also read"),
        (InPlaceThroughAnIndex, "changes fc in place"),
        (UnusedInPlaceFunction, "never used"),
    ],
)
def test_in_place_updates_fx_cannot_follow_are_refused(
    cluster: InProcessCluster, net: Any, message: str
) -> None:
    with pytest.raises(ParameterError, match=message):
        cluster.from_torch(net())


class ResidualInPlace(nn.Module):
    """In place where nothing else reads the input: the same as out of place."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Any) -> Any:
        out = self.act(self.fc(x))
        out += x
        return F.relu(out, inplace=True)


def test_in_place_updates_nobody_else_reads_run(cluster: InProcessCluster, x: np.ndarray) -> None:
    torch.manual_seed(1)  # test model only
    _check(cluster, ResidualInPlace(), x)


def test_forward_hooks_are_refused(cluster: InProcessCluster) -> None:
    from torch.nn.utils import prune

    torch.manual_seed(2)  # test model only
    pruned = nn.Sequential(nn.Linear(6, 4), nn.ReLU())
    prune.l1_unstructured(pruned[0], "weight", amount=0.5)
    with pytest.raises(ParameterError, match=r"'0' \(Linear\) has forward hooks"):
        cluster.from_torch(pruned)
    prune.remove(pruned[0], "weight")  # permanent: now it converts
    cluster.from_torch(pruned)
    hooked = nn.Sequential(nn.Linear(6, 4))
    hooked[0].register_forward_hook(lambda m, i, o: o * 3)
    with pytest.raises(ParameterError, match="forward hooks"):
        cluster.from_torch(hooked)


def test_max_pool_with_indices_is_refused(cluster: InProcessCluster) -> None:
    net = nn.Sequential(nn.MaxPool2d(2, return_indices=True))
    with pytest.raises(ParameterError, match="return_indices"):
        cluster.from_torch(net)


def test_layer_errors_survive_in_place_relus(cluster: InProcessCluster) -> None:
    torch.manual_seed(4)  # test model only
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(inplace=True), nn.Linear(8, 3)).eval()
    x = np.random.default_rng(5).uniform(-1, 1, (4, 6))  # test inputs only
    model = cluster.from_torch(net)
    errors = model.layer_errors(cluster.share(x), x)
    assert len(errors) == 3
    assert max(e.max_abs_error for e in errors) < 1e-3  # the Linear's output, not its ReLU's


def test_layer_errors_checks_its_inputs(cluster: InProcessCluster) -> None:
    net = nn.Sequential(nn.Linear(6, 3))
    model = cluster.from_torch(net)
    x = np.random.default_rng(6).uniform(-1, 1, (4, 6))  # test inputs only
    with pytest.raises(ParameterError, match=r"plain_input has shape \(4, 6\), the shared"):
        model.layer_errors(cluster.share(x[:1]), x)
    with pytest.raises(ParameterTypeError, match="shared input first"):
        model.layer_errors(x, x)  # type: ignore[arg-type]
    flipped = x[::-1]  # a negative-stride view works as any array
    errors = model.layer_errors(cluster.share(flipped), flipped)
    assert errors[0].max_abs_error < 1e-3


class Normalize(nn.Module):
    def __init__(self, std: float, method: bool = False) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((6,), 0.25))
        self.register_buffer("std", torch.full((6,), std))
        self.fc = nn.Linear(6, 3)
        self.method = method

    def forward(self, x: Any) -> Any:
        z = x.div(self.std) if self.method else (x - self.mean) / self.std
        return self.fc(z)


@pytest.mark.parametrize("std", [1e-3, 0.5, -2.0, 1e5])
@pytest.mark.parametrize("method", [False, True])
def test_dividing_by_a_model_constant_is_one_product(
    cluster: InProcessCluster, std: float, method: bool
) -> None:
    """Outside [2^-8, 2^16) a secret reciprocal would be wrong; the owner's 1/c is not."""
    torch.manual_seed(7)  # test model only
    net = Normalize(std, method).eval()
    x = np.random.default_rng(8).uniform(-1, 1, (4, 6)) * max(1.0, abs(std)) / 2
    with torch.no_grad():
        want = net.double()(torch.tensor(x)).numpy()
    cluster.reset_costs()
    got = cluster.from_torch(net.float())(cluster.share(x)).reveal()
    assert np.max(np.abs(got - want)) <= 2e-3 * np.max(np.abs(want))
    assert cluster.cost_report()["inference"].rounds <= 4  # no Newton iterations


def test_a_zero_divisor_in_the_model_is_refused(cluster: InProcessCluster) -> None:
    net = Normalize(1.0)
    with torch.no_grad():
        net.std[2] = 0.0
    with pytest.raises(ParameterError, match="'std' is a divisor and holds a zero"):
        cluster.from_torch(net)


def test_a_remote_owner_sends_the_reciprocal_too() -> None:
    """RemoteClient.share_model sends what from_torch shares: 2^8/c for a divisor."""
    from privet.smpc.model import model_weights

    arrays = model_weights(Normalize(4.0))
    assert any(a.shape == (6,) and np.all(a == 2.0**8 / 4.0) for a in arrays)
    assert not any(a.shape == (6,) and np.all(a == 4.0) for a in arrays)


class OptionalArguments(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 4)

    def forward(self, x: Any, return_features: bool = False, scale: Any = None) -> Any:
        y = self.fc(x)
        if return_features:
            return x
        if scale is not None:
            y = y * scale
        return y


class ShapeArithmetic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x: Any) -> Any:
        half = x.size(1) // 2 + x.size(1) % 2 - 0
        import math

        return self.fc(x[:, :half] * (1.0 / math.sqrt(x.size(-1))))


@pytest.mark.parametrize("make", [OptionalArguments, ShapeArithmetic])
def test_defaulted_arguments_and_public_shape_arithmetic_trace(
    cluster: InProcessCluster, x: np.ndarray, make: Any
) -> None:
    torch.manual_seed(9)  # test model only
    _check(cluster, make(), x)


class FunctionalSame(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 1, 3, 3) / 3)

    def forward(self, x: Any) -> Any:
        return F.conv2d(x, self.w, padding="same").flatten(1)


def test_functional_conv_takes_same_padding(cluster: InProcessCluster) -> None:
    torch.manual_seed(10)  # test model only
    images = np.random.default_rng(11).uniform(0, 1, (2, 1, 5, 5))  # test inputs only
    _check(cluster, FunctionalSame(), images)


def test_a_refusal_inside_a_traced_model_names_its_node(cluster: InProcessCluster) -> None:
    class Pooled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.MaxPool2d(2, ceil_mode=True)

        def forward(self, x: Any) -> Any:
            return self.pool(x).flatten(1)

    with pytest.raises(ParameterError, match=r"^node pool: pooling with ceil_mode=True"):
        cluster.from_torch(Pooled())


class SizeOverStd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("std", torch.full((6,), 4.0))
        self.fc = nn.Linear(6, 2)

    def forward(self, x: Any) -> Any:
        return self.fc(x * (x.size(1) / self.std))  # a public size over a model constant


def test_a_divisor_serves_integers_sizes_and_local_truncation(x: np.ndarray) -> None:
    torch.manual_seed(13)  # test model only
    net = Normalize(3.0).eval()
    ints = np.array([[1, 2, 4, 7, 10, -5]])
    with torch.no_grad():
        want = net.double()(torch.tensor(ints, dtype=torch.float64)).numpy()
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(14)) as c:
        got = c.from_torch(net.float())(c.share(ints, integer=True)).reveal()
        assert np.max(np.abs(got - want)) < 1e-3  # reals, not integers: x / 3 is fractional
        _check(c, SizeOverStd(), x)
    with InProcessCluster(parties=2, truncation="local", rng=SecureRandom.seeded(15)) as c:
        _check(c, Normalize(0.75), x)


def test_same_padding_with_a_stride_is_refused_as_in_torch(cluster: InProcessCluster) -> None:
    class Strided(FunctionalSame):
        def forward(self, x: Any) -> Any:
            return F.conv2d(x, self.w, stride=2, padding="same").flatten(1)

    with pytest.raises(ParameterError, match="stride 1 only"):
        cluster.from_torch(Strided())(cluster.share(np.zeros((1, 1, 5, 5))))


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 6) / 3)
        self.b = nn.Parameter(torch.randn(4) / 3)

    def forward(self, x: Any) -> Any:
        return F.relu(F.linear(x, self.w, self.b))


def test_a_functional_linear_weight_is_masked_once(
    cluster: InProcessCluster, x: np.ndarray
) -> None:
    from privet.smpc.model import model_weights

    torch.manual_seed(16)  # test model only
    net = Functional().eval()
    _check(cluster, net, x)
    model = cluster.from_torch(net)
    sent = []
    for _ in range(3):
        cluster.reset_costs()
        model(cluster.share(x)).reveal()
        sent.append(cluster.cost_report()["inference"].bytes_sent)
    assert sent[0] - sent[1] == 4 * 6 * 8 * 2  # w.T - b opened by the first query only
    assert sent[1] == sent[2]
    assert [a.shape for a in model_weights(net)] == [(6, 4), (4,)]  # what a remote owner sends
