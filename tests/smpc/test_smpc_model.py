"""Private inference with from_torch: the digits MLP (the seed's Bob) and a small CNN."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402

from privet.core import SecureRandom  # noqa: E402
from privet.errors import ParameterError, ParameterTypeError  # noqa: E402
from privet.smpc import InProcessCluster, argmax  # noqa: E402
from privet.smpc.examples import _train_mlp  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return np.asarray(x, dtype=np.float64) / 16.0, np.asarray(y)


@pytest.fixture(scope="module")
def mlp(digits: tuple[np.ndarray, np.ndarray]) -> Any:
    x, y = digits
    return _train_mlp(x, y, hidden=128, steps=100, seed=0)


def test_private_mlp_inference_matches_plaintext(
    mlp: Any, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = digits
    with torch.no_grad():
        plain = mlp.double()(torch.tensor(x)).numpy()
    assert np.mean(plain.argmax(1) == y) > 0.97  # a trained model
    with InProcessCluster(parties=2, clients=("hospital", "bob"), rng=SecureRandom.seeded(5)) as c:
        model = c.from_torch(mlp, owner="hospital")
        hospital_before = c.client_stats("hospital").bytes_received
        xs = c.share(x, owner="bob")
        c.reset_costs()
        logits = model(xs)
        # Beaver, then the truncation sent with the sign test (8), Beaver, truncation: 11
        assert c.cost_report()["inference"].rounds == 11
        pred = argmax(logits, axis=1).reveal(to="bob")
        got = logits.reveal(to="bob")
        assert c.client_stats("hospital").bytes_received == hospital_before  # nothing opened to it
    assert np.mean(pred == plain.argmax(1)) >= 0.999
    assert np.max(np.abs(got - plain)) <= 2e-3
    assert "Linear(64->128)" in repr(model)
    assert len(model) == 3


@pytest.mark.parametrize(("mode", "parties"), [("local", 2), ("exact", 3), ("dealer", 3)])
def test_every_truncation_mode_runs_the_mlp(
    mlp: Any, digits: tuple[np.ndarray, np.ndarray], mode: str, parties: int
) -> None:
    x, _ = digits
    with torch.no_grad():
        plain = mlp.double()(torch.tensor(x[:200])).numpy()
    with InProcessCluster(parties=parties, truncation=mode, rng=SecureRandom.seeded(7)) as c:
        got = c.from_torch(mlp)(c.share(x[:200])).reveal()
    assert np.max(np.abs(got - plain)) <= 2e-3


def test_layer_errors_are_reported(mlp: Any, digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = digits
    with InProcessCluster(parties=2) as c:
        model = c.from_torch(mlp)
        errors = model.layer_errors(c.share(x[:50]), x[:50])
    assert [e.name for e in errors] == ["Linear(64->128)", "ReLU", "Linear(128->10)"]
    assert errors[0].shape == (50, 128)
    assert all(e.max_abs_error < 2e-3 for e in errors)


def _cnn() -> Any:
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Sequential(nn.Flatten(), nn.Dropout(0.5)),
        nn.Linear(6, 8),
        nn.BatchNorm1d(8),
        nn.Identity(),
        nn.Linear(8, 10),
        nn.Softmax(dim=1),
    )
    with torch.no_grad():
        for bn in (net[1], net[9]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


def test_cnn_layers_match_torch(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = digits
    imgs = x[:16].reshape(16, 1, 8, 8)
    net = _cnn()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        ref = _cnn().double()(torch.tensor(imgs)).numpy()
    with InProcessCluster(parties=3, rng=SecureRandom.seeded(6)) as c:
        model = c.from_torch(net)
        got = model(c.share(imgs)).reveal()
        errors = model.layer_errors(c.share(imgs), imgs)
    assert np.max(np.abs(got - ref)) <= 2e-3
    names = [e.name for e in errors]
    assert names[0] == "Conv2d(1->4, k=(3, 3), BN folded)"
    assert "MaxPool2d" in names[2]
    assert "Linear(6->8, BN folded)" in names
    assert all(e.max_abs_error <= 2e-3 for e in errors)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the caller's model untouched


def test_standalone_batchnorm_is_a_shared_affine_map() -> None:
    net = nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)).eval()
    with torch.no_grad():
        net[1].running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        net[1].running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
        ref = net.double()(torch.tensor([[1.0, -2.0, 3.0]], dtype=torch.float64)).numpy()
    with InProcessCluster(parties=2) as c:
        got = c.from_torch(net)(c.share([[1.0, -2.0, 3.0]])).reveal()
    assert np.max(np.abs(got - ref)) <= 1e-4


def test_grouped_dilated_and_padded_layers_match_torch() -> None:
    """Kernels spelled out densely, 'same' padding, padded pools, tanh and sigmoid."""
    torch.manual_seed(5)
    net = nn.Sequential(
        nn.Conv2d(4, 6, 3, padding=1, groups=2),
        nn.Tanh(),
        nn.Conv2d(6, 6, 3, padding="same", dilation=2, groups=3, bias=False),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
        nn.AvgPool2d(2, divisor_override=3),
        nn.Conv2d(6, 4, 1, padding="valid"),
        nn.Sigmoid(),
        nn.AdaptiveAvgPool2d((1, None)),
        nn.Flatten(),
    ).eval()
    imgs = np.random.default_rng(8).uniform(-2.0, 2.0, size=(3, 4, 8, 8))
    with torch.no_grad():
        want = copy.deepcopy(net).double()(torch.tensor(imgs)).numpy()
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(9)) as c:
        model = c.from_torch(net)
        got = model(c.share(imgs)).reveal()
        names = [e.name for e in model.layer_errors(c.share(imgs), imgs)]
    assert got.shape == want.shape == (3, 8)
    assert np.max(np.abs(got - want)) <= 2e-3
    assert names[0] == "Conv2d(4->6, k=(3, 3), groups=2)"
    assert names[2] == "Conv2d(6->6, k=(3, 3), groups=3, dilation=(2, 2))"
    assert names[4] == "MaxPool2d(k=(3, 3), s=(2, 2), p=(1, 1))"


def test_max_pool_padding_loses_to_negative_inputs() -> None:
    """Padding stands for -inf: an all-negative window near the border keeps its maximum."""
    x = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4) * 1e3
    pool = nn.MaxPool2d(3, stride=1, padding=1)
    with InProcessCluster(parties=2) as c:
        got = c.from_torch(nn.Sequential(pool))(c.share(x)).reveal()
    assert np.array_equal(got, pool(torch.tensor(x)).numpy())


def test_unsupported_models_are_refused_clearly() -> None:
    with InProcessCluster(parties=2) as c:
        with pytest.raises(ParameterError, match="ELU is not supported"):
            c.from_torch(nn.Sequential(nn.Linear(2, 2), nn.ELU()))
        with pytest.raises(ParameterError, match="dilation=1"):
            c.from_torch(nn.Sequential(nn.MaxPool2d(2, dilation=2)))
        with pytest.raises(ParameterError, match="ceil_mode=False"):
            c.from_torch(nn.Sequential(nn.AvgPool2d(2, ceil_mode=True)))
        with pytest.raises(ParameterError, match="padding_mode='zeros'"):
            c.from_torch(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")))
        with pytest.raises(ParameterError, match="pads unevenly"):
            c.from_torch(nn.Sequential(nn.Conv2d(2, 2, 2, padding="same")))
        with pytest.raises(ParameterTypeError):
            c.from_torch("not a model")
        model = c.from_torch(nn.Sequential(nn.Linear(2, 2)))
        with pytest.raises(ParameterTypeError, match="share the input"):
            model(np.zeros((1, 2)))  # type: ignore[arg-type]


def test_softmax_without_dim_and_batchnorm1d_on_sequences_follow_torch() -> None:
    """nn.Softmax() takes torch's implicit axis (1 for 4-D); BatchNorm1d normalizes (N, C, L)."""
    torch.manual_seed(6)
    bn = nn.BatchNorm1d(3).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    cases = [
        (nn.Sequential(nn.Softmax()), np.random.default_rng(0).normal(size=(2, 3, 4, 4))),
        (nn.Sequential(nn.Softmax()), np.random.default_rng(1).normal(size=(3, 4, 5))),
        (nn.Sequential(bn), np.random.default_rng(2).normal(size=(2, 3, 5))),
    ]
    with InProcessCluster(parties=2) as c:
        for net, x in cases:
            with (
                torch.no_grad(),
                pytest.warns(UserWarning, match="Implicit dimension")
                if isinstance(net[0], nn.Softmax)
                else contextlib.nullcontext(),
            ):
                want = copy.deepcopy(net).double()(torch.tensor(x)).numpy()
            got = c.from_torch(net)(c.share(x)).reveal()
            assert np.max(np.abs(got - want)) <= 1e-3


def test_batchnorm1d_after_a_linear_folds_only_on_features() -> None:
    """On (N, L, F) BatchNorm1d normalizes L: a fold per feature would be wrong."""
    torch.manual_seed(7)
    folded = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).eval()
    apart = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(5)).eval()
    for net in (folded, apart):
        with torch.no_grad():
            net[1].running_mean.uniform_(-1.0, 1.0)
            net[1].running_var.uniform_(0.5, 2.0)
    x2 = np.random.default_rng(3).normal(size=(6, 4))
    x3 = np.random.default_rng(4).normal(size=(2, 5, 4))
    with InProcessCluster(parties=2) as c:
        with torch.no_grad():
            want2 = copy.deepcopy(folded).double()(torch.tensor(x2)).numpy()
            want3 = copy.deepcopy(apart).double()(torch.tensor(x3)).numpy()
        model = c.from_torch(folded)
        assert "BN folded" in repr(model)
        assert np.max(np.abs(model(c.share(x2)).reveal() - want2)) <= 1e-3
        with pytest.raises(ParameterError, match="3-D input"):
            model(c.share(x3[:, :4, :]))
        assert np.max(np.abs(c.from_torch(apart)(c.share(x3)).reveal() - want3)) <= 1e-3


def test_0d_values_with_exact_truncation_and_padded_pools_on_integers() -> None:
    from privet.smpc import sigmoid, tanh

    with InProcessCluster(parties=3, truncation="exact") as c:
        z = c.share(np.float64(-0.75))
        assert (z * z).reveal() == 0.5625
        assert (z * 0.5).reveal() == -0.375
        assert abs(float(tanh(z).reveal()) - np.tanh(-0.75)) <= 4e-4
        assert abs(float(sigmoid(z).reveal()) - 1 / (1 + np.exp(0.75))) <= 2e-4
        pool = nn.MaxPool2d(3, stride=1, padding=1)
        x = -np.arange(16).reshape(1, 1, 4, 4)
        got = c.from_torch(nn.Sequential(pool))(c.share(x, integer=True)).reveal()
        assert np.array_equal(got, pool(torch.tensor(x, dtype=torch.float64)).numpy())
