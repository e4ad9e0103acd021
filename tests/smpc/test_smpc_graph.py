"""from_torch on models with their own forward(): torch.fx graphs, secret-shared."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402

from privet.core import SecureRandom  # noqa: E402
from privet.errors import ParameterError  # noqa: E402
from privet.smpc import InProcessCluster, argmax  # noqa: E402
from privet.smpc.examples import _train_mlp  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    x, _ = load_digits(return_X_y=True)
    return (np.asarray(x[:24], dtype=np.float64) / 16.0).reshape(24, 1, 8, 8)


def _randomize_bn(net: nn.Module) -> None:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


class Block(nn.Module):
    """A residual block: conv-BN, added to its input, then ReLU."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: Any) -> Any:
        return F.relu(x + self.bn(self.conv(x)))


class ResNetLike(nn.Module):
    """Stem, residual block, two pooled branches joined by torch.cat, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.block = Block(4)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(4 * 2 * 2 + 4, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: Any) -> Any:
        x = F.relu(self.bn(self.stem(x)))
        x = self.block(x)
        local = self.pool(F.max_pool2d(x, kernel_size=2))
        glob = torch.mean(x, dim=(2, 3))
        x = torch.cat([local.view(local.size(0), -1), glob], dim=1)
        return self.head(self.drop(x))


def test_a_residual_cnn_matches_torch(images: np.ndarray) -> None:
    torch.manual_seed(3)
    net = ResNetLike()
    _randomize_bn(net)
    net.train()  # the caller's mode: from_torch evaluates an eval-mode copy
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        ref = ResNetLike().double()
        ref.load_state_dict(net.state_dict())
        want = ref.eval()(torch.tensor(images)).numpy()
    with InProcessCluster(parties=3, rng=SecureRandom.seeded(11)) as c:
        model = c.from_torch(net)
        got = model(c.share(images)).reveal()
        errors = model.layer_errors(c.share(images), images)
    assert np.max(np.abs(got - want)) <= 2e-3
    assert np.all(got.argmax(1) == want.argmax(1))
    names = [e.name for e in errors]
    # the stem's and the block's batch norms are folded into their convolutions
    assert names[0] == "stem: Conv2d(1->4, k=(3, 3), BN folded)"
    assert "block_conv: Conv2d(4->4, k=(3, 3), BN folded)" in names
    assert not any(n.startswith(("bn:", "block_bn:", "drop:")) for n in names)
    assert "add: +" in names
    assert "cat: torch.cat" in names
    assert "pool: AdaptiveAvgPool2d(2)" in names
    assert all(e.max_abs_error <= 2e-3 for e in errors)
    assert errors[-1].shape == (24, 10)
    assert net.training  # the caller's model untouched: mode and weights
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


class Functional(nn.Module):
    """Weights used through F.linear/F.conv2d, and tensor methods and operators."""

    def __init__(self) -> None:
        super().__init__()
        self.w_conv = nn.Parameter(torch.randn(3, 1, 3, 3) * 0.5)
        self.b_conv = nn.Parameter(torch.randn(3) * 0.1)
        self.w = nn.Parameter(torch.randn(5, 12) * 0.3)
        self.register_buffer("offset", torch.linspace(-1.0, 1.0, 5))

    def forward(self, x: Any) -> Any:
        h = F.conv2d(x, self.w_conv, self.b_conv, stride=2, padding=1)  # (N, 3, 4, 4)
        h = F.avg_pool2d(h, 2)  # (N, 3, 2, 2)
        h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # (N, 12)
        z = F.linear(h, self.w) + self.offset
        z = torch.sigmoid(z) * 2 - z / 4
        z = z.unsqueeze(1).squeeze(1)[:, :4]
        z = torch.transpose(torch.stack([z, -z], dim=2), 1, 2).sum(dim=1)
        return F.softmax(torch.flatten(z.unsqueeze(-1), 1), dim=1)


def test_functional_code_matches_torch(images: np.ndarray) -> None:
    torch.manual_seed(4)
    net = Functional()
    with torch.no_grad():
        want = net.double()(torch.tensor(images)).numpy()
    net.float()
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(12)) as c:
        got = c.from_torch(net)(c.share(images)).reveal()
    # sigmoid's error is ≤ 2e-4 (docs/smpc.md); the softmax's stays below 1e-2 here
    assert np.max(np.abs(got - want)) <= 1e-2
    assert got.shape == (24, 4)


class MLP(nn.Module):
    """The digits MLP, written as a class."""

    def __init__(self, seq: nn.Sequential) -> None:
        super().__init__()
        self.fc1, self.fc2 = seq[0], seq[2]

    def forward(self, x: Any) -> Any:
        return self.fc2(torch.relu(self.fc1(x)))


def test_a_traced_mlp_costs_what_the_chain_costs() -> None:
    """The Linear read only by a ReLU keeps its product for the ReLU to truncate."""
    x, y = load_digits(return_X_y=True)
    x = np.asarray(x, dtype=np.float64)[:300] / 16.0
    seq = _train_mlp(x, np.asarray(y)[:300], hidden=32, steps=60, seed=0)
    costs = []
    preds = []
    for net in (seq, MLP(seq)):
        with InProcessCluster(parties=2, rng=SecureRandom.seeded(13)) as c:
            model = c.from_torch(net)
            xs = c.share(x)
            c.reset_costs()
            logits = model(xs)
            report = c.cost_report()["inference"]
            costs.append((report.rounds, report.bytes_sent))
            preds.append(argmax(logits, axis=1).reveal())
    assert costs[0] == costs[1]
    assert costs[0][0] == 11
    assert np.array_equal(preds[0], preds[1])


def test_untraceable_or_unsupported_models_are_refused_clearly() -> None:
    class Branchy(nn.Module):
        def forward(self, x: Any) -> Any:
            return x if x.sum() > 0 else -x

    class Elu(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.ELU()

        def forward(self, x: Any) -> Any:
            return self.act(x)

    class ErfFn(nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.erf(x)

    class CosMethod(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.cos()

    class TwoInputs(nn.Module):
        def forward(self, x: Any, y: Any) -> Any:
            return x + y

    class TwoOutputs(nn.Module):
        def forward(self, x: Any) -> Any:
            return x, -x

    class Adaptive(nn.Module):
        def forward(self, x: Any) -> Any:
            return F.adaptive_avg_pool2d(x, 3)

    with InProcessCluster(parties=2) as c:
        with pytest.raises(ParameterError, match=r"could not trace Branchy\.forward"):
            c.from_torch(Branchy())
        with pytest.raises(ParameterError, match="ELU is not supported"):
            c.from_torch(Elu())
        with pytest.raises(ParameterError, match=r"calls torch\.erf"):
            c.from_torch(ErfFn())
        with pytest.raises(ParameterError, match="tensor method 'cos'"):
            c.from_torch(CosMethod())
        with pytest.raises(ParameterError, match=r"one input; TwoInputs\.forward takes 2"):
            c.from_torch(TwoInputs())
        with pytest.raises(ParameterError, match="return one tensor"):
            c.from_torch(TwoOutputs())
        model = c.from_torch(Adaptive())
        with pytest.raises(ParameterError, match="multiples of the output size"):
            model(c.share(np.zeros((1, 1, 8, 8))))
        got = model(c.share(np.arange(81.0).reshape(1, 1, 9, 9))).reveal()
        want = F.adaptive_avg_pool2d(torch.arange(81.0).reshape(1, 1, 9, 9), 3).numpy()
        assert np.max(np.abs(got - want)) <= 2e-3


def test_a_remote_owners_weights_fit_the_drivers_skeleton(images: np.ndarray) -> None:
    """model_weights (the owner's side) and convert on a skeleton (the driver's) agree."""
    from privet.smpc.model import convert, model_weights

    torch.manual_seed(3)
    net = ResNetLike()
    _randomize_bn(net)
    net.eval()
    torch.manual_seed(4)
    skeleton = ResNetLike()  # same architecture, other weights (and BN statistics)
    weights = model_weights(net)
    assert len(weights) == 6  # stem (BN folded) w, b; block conv w, b; head w, b
    with torch.no_grad():
        want = copy.deepcopy(net).double()(torch.tensor(images)).numpy()
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(14)) as c:
        it = iter(weights)

        def share(a: np.ndarray) -> Any:
            w = next(it)
            assert w.shape == a.shape
            return c.share(w)

        model = convert(skeleton, share, reference=False)
        got = model(c.share(images)).reveal()
    assert next(it, None) is None
    assert np.max(np.abs(got - want)) <= 2e-3


class Layout(nn.Module):
    """Keyword tensors, permute(dims=), squeeze of a tuple, .contiguous().view()."""

    def forward(self, x: Any) -> Any:
        h = torch.relu(input=x).permute(dims=(0, 2, 3, 1)).contiguous()
        h = h.view(h.size(0), -1, 1, 1).squeeze((2, 3))
        return torch.sum(input=h, dim=1, keepdim=True) + h.mean(dim=1).unsqueeze(1)


def test_keyword_tensors_and_layout_calls_match_torch(images: np.ndarray) -> None:
    net = Layout()
    with torch.no_grad():
        want = net(torch.tensor(images)).numpy()
    with InProcessCluster(parties=2) as c:
        model = c.from_torch(net)
        got = model(c.share(images)).reveal()
        errors = model.layer_errors(c.share(images), images)  # the reference views too
    assert np.max(np.abs(got - want)) <= 1e-3
    assert all(e.max_abs_error <= 1e-3 for e in errors)


def test_a_call_that_cannot_run_on_shared_values_is_a_parameter_error() -> None:
    class Bad(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.sum(dim=1, keepdim=True, dtype=torch.float64)

    with InProcessCluster(parties=2) as c:
        model = c.from_torch(Bad())
        with pytest.raises(ParameterError, match=r"node sum\w* cannot run on shared tensors"):
            model(c.share(np.ones((2, 3))))
        flat = c.from_torch(nn.Sequential(nn.Flatten()))
        with pytest.raises(ParameterError, match="does not fit a 0-D input"):
            flat(c.share(np.float64(1.0)))


def test_dims_and_keywords_follow_torch() -> None:
    class Keywords(nn.Module):
        def forward(self, x: Any) -> Any:
            y = torch.reshape(x, shape=(x.size(0), -1))
            return torch.mul(torch.add(y, other=1.0), other=2.0)

    class FlattenTooFar(nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.flatten(x, 3)

    class FoldedOn3D(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.bn = nn.Linear(4, 4), nn.BatchNorm1d(4)

        def forward(self, x: Any) -> Any:
            return self.bn(self.fc(x))

    x = np.arange(8.0).reshape(2, 2, 2)
    with InProcessCluster(parties=2) as c:
        got = c.from_torch(Keywords())(c.share(x)).reveal()
        assert np.array_equal(got, (x.reshape(2, -1) + 1) * 2)
        with pytest.raises(ParameterError, match=r"start_dim=3.* does not fit a 3-D input"):
            c.from_torch(FlattenTooFar())(c.share(x))
        # privet's own refusal comes through whole, not as a generic message
        with pytest.raises(ParameterError, match="got a 3-D input: the BatchNorm1d was folded"):
            c.from_torch(FoldedOn3D().eval())(c.share(np.ones((2, 4, 4))))
        s = c.share(np.float64(2.5))
        assert s.max().reveal() == 2.5
        assert s.min().reveal() == 2.5
