"""LocalCluster: parties and the dealer as real OS processes over mutual TLS on loopback.

One cluster is shared by the module (process start-up is the slow part).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privet.errors import ParameterError
from privet.smpc.local_cluster import LocalCluster
from privet.transport import TlsChannel

pytestmark = pytest.mark.timeout(180)

ULP = 2.0**-16


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(parties=2, clients=("bob",), timeout=30.0) as c:
        yield c
    assert all(code == 0 for code in c.exit_codes().values()), c.exit_codes()


@pytest.fixture
def data() -> np.random.Generator:
    return np.random.default_rng(12345)  # test inputs only; shares use SecureRandom


def test_parties_are_separate_processes_linked_by_tls(cluster: LocalCluster) -> None:
    procs = cluster.processes
    assert sorted(procs) == ["dealer", "party-0", "party-1"]
    pids = {p.pid for p in procs.values()}
    assert len(pids) == 3
    assert os.getpid() not in pids
    assert all(code is None for code in cluster.exit_codes().values())  # still running
    assert isinstance(cluster._client_channels["driver"], TlsChannel)
    assert cluster.parties == 2
    assert cluster.clients == ("driver", "bob")
    assert "LocalCluster(parties=2, processes=3" in repr(cluster)


def test_each_process_gets_only_its_own_key(cluster: LocalCluster) -> None:
    root = Path(cluster._tmp.name)
    for name in cluster.processes:
        own = root / f"certs-{name}"
        assert sorted(p.name for p in own.iterdir()) == sorted(
            ["ca.pem", f"{name}.key", f"{name}.pem"]
        )
        assert own.stat().st_mode & 0o077 == 0
        assert not (root / "certs" / f"{name}.key").exists()


def test_mul_and_matmul_are_correct(cluster: LocalCluster, data: np.random.Generator) -> None:
    x = data.uniform(-10, 10, 5000)
    y = data.uniform(-10, 10, 5000)
    a = data.uniform(-1, 1, (16, 24))
    b = data.uniform(-1, 1, (24, 8))
    sx, sy, sa, sb = cluster.share(x), cluster.share(y), cluster.share(a), cluster.share(b)
    # Inputs are rounded to 2^-16 and the product truncated once: a few ulps of error.
    assert np.max(np.abs((sx * sy).reveal() - x * y)) < 40 * ULP
    assert np.max(np.abs((sa @ sb).reveal() - a @ b)) < 40 * ULP
    assert np.max(np.abs((sx + sy - 2.5).reveal() - (x + y - 2.5))) <= 2 * ULP


def test_preprocessed_operations_split_offline_and_online_time(
    cluster: LocalCluster, data: np.random.Generator
) -> None:
    x, y = data.uniform(-10, 10, 20000), data.uniform(-10, 10, 20000)
    sx, sy = cluster.share(x), cluster.share(y)
    cluster.reset_costs()
    with cluster.preprocessing():  # the corrections wait at the party, received, over TLS
        z = sx * sy
        lt = sx < sy
    for op in ("mul", "lt"):
        row = cluster.cost_report()[op]
        assert 0 < row.offline_seconds < row.seconds
    assert np.max(np.abs(z.reveal() - x * y)) < 40 * ULP
    assert np.array_equal(lt.reveal(), (x < y).astype(float))


def test_compare_is_exact(cluster: LocalCluster, data: np.random.Generator) -> None:
    x = data.uniform(-100, 100, 4000)
    y = np.concatenate([data.uniform(-100, 100, 3998), [-100.0, 100.0]])
    x[:10] = y[:10]  # ties: x < y is False
    got = (cluster.share(x) < cluster.share(y)).reveal()
    assert got.dtype == np.int64
    assert np.array_equal(got, (x < y).astype(np.int64))


def test_inputs_and_outputs_stay_with_their_client(
    cluster: LocalCluster, data: np.random.Generator
) -> None:
    x = data.uniform(-5, 5, 1000)
    driver_before = cluster.client_stats("driver").snapshot()
    bob_before = cluster.client_stats("bob").snapshot()
    sx = cluster.share(x, owner="bob")
    out = (sx * 2.0).reveal(to="bob")
    assert np.max(np.abs(out - 2 * x)) < 4 * ULP
    driver_after = cluster.client_stats("driver").snapshot()
    bob_after = cluster.client_stats("bob").snapshot()
    # Bob sent one share per party and received one per party (each with its 8-byte
    # encoding word); the driver got no share.
    assert bob_after["bytes_sent"] - bob_before["bytes_sent"] == 2 * (8 * 1000 + 8)
    assert bob_after["bytes_received"] - bob_before["bytes_received"] == 2 * (8 * 1000 + 8)
    assert driver_after["bytes_received"] - driver_before["bytes_received"] < 1000
    with pytest.raises(ParameterError, match=r"unknown client 'eve'"):
        sx.reveal(to="eve")


def test_an_input_that_would_overflow_is_refused_clearly(cluster: LocalCluster) -> None:
    with pytest.raises(ParameterError, match=r"range|overflow"):
        cluster.share([1.0, 1e18])
    x = cluster.share([1.0])  # the cluster still works afterwards
    assert float((x + 1).reveal()[0]) == 2.0


def test_costs_are_accounted_per_operation(cluster: LocalCluster) -> None:
    cluster.reset_costs()
    x = cluster.share(np.ones(100))
    _ = x * x
    _ = x < 0.5
    report = cluster.cost_report()
    assert {"share", "mul", "lt"} <= set(report)
    assert report["mul"].bytes_sent > 0
    assert report["mul"].rounds >= 1
    assert report["lt"].rounds > report["mul"].rounds
    assert report["mul"].seconds > 0
    assert report["mul"].elements == 100


def test_relu_is_exact_up_to_the_encoding(cluster: LocalCluster, data: np.random.Generator) -> None:
    from privet.smpc.comparison import relu

    x = data.uniform(-10, 10, 3000)
    got = relu(cluster.share(x)).reveal()
    assert np.max(np.abs(got - np.maximum(x, 0.0))) <= ULP  # the input's rounding only
    assert np.all(got[x < -ULP] == 0.0)


def test_private_inference_matches_the_plaintext_model(cluster: LocalCluster) -> None:
    torch = pytest.importorskip("torch")
    from sklearn.datasets import load_digits

    xs, _ = load_digits(return_X_y=True)
    xs = xs[:300] / 16.0
    torch.manual_seed(0)  # test model only
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    ).eval()
    with torch.no_grad():
        plain = net(torch.tensor(xs, dtype=torch.float64).float()).double().numpy()
    model = cluster.from_torch(net)  # shared by the driver, the model's owner here
    logits = model(cluster.share(xs, owner="bob")).reveal(to="bob")
    err = np.max(np.abs(logits - plain))
    assert err < 2e-3
    top2 = np.sort(plain, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2 * err  # where rounding cannot flip the argmax
    assert clear.mean() > 0.9
    assert np.array_equal(logits.argmax(1)[clear], plain.argmax(1)[clear])


def test_a_second_query_opens_only_its_input_over_tls(
    cluster: LocalCluster, data: np.random.Generator
) -> None:
    """The weights' masks are kept by the party and dealer processes between queries."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)  # test model only
    net = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model = cluster.from_torch(net.eval())
    sent = []
    for _ in range(2):
        x = data.uniform(-1, 1, (4, 16))
        cluster.reset_costs()
        got = model(cluster.share(x, owner="bob")).reveal(to="bob")
        sent.append(cluster.cost_report()["inference"].bytes_sent)
        with torch.no_grad():
            want = net.double()(torch.tensor(x)).numpy()
        assert np.max(np.abs(got - want)) < 2e-3
    assert sent[0] - sent[1] == (16 * 8 + 8 * 3) * 8 * 2  # w - b, once, by both parties


def test_a_traced_model_runs_over_tls(cluster: LocalCluster, data: np.random.Generator) -> None:
    """A model with its own forward() (residual add, F.relu, view): a torch.fx graph."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    class Residual(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 2, 3, padding=1)
            self.fc = torch.nn.Linear(2 * 4 * 4, 3)

        def forward(self, x: Any) -> Any:
            x = F.relu(x + self.conv(x))
            return self.fc(x.view(x.size(0), -1))

    torch.manual_seed(2)  # test model only
    net = Residual().eval()
    imgs = data.uniform(-1.0, 1.0, size=(6, 2, 4, 4))
    with torch.no_grad():
        plain = net.double()(torch.tensor(imgs)).numpy()
    got = cluster.from_torch(net.float())(cluster.share(imgs, owner="bob")).reveal(to="bob")
    assert np.max(np.abs(got - plain)) < 2e-3
