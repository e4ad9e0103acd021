"""Fixed second operands (a model's weights): masked once, then only the input is opened."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

from privet.core.random import SecureRandom
from privet.errors import ProtocolError
from privet.smpc import InProcessCluster
from privet.smpc.program import Instruction, plan
from privet.smpc.tensor import _linear

torch = pytest.importorskip("torch")

ULP = 2.0**-16


def _mlp() -> Any:
    torch.manual_seed(0)  # test model only
    return torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    ).eval()


def _plain(net: Any, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = net.double()(torch.tensor(x)).numpy()
    return out


@pytest.mark.parametrize("parties", [2, 3])
def test_each_query_after_the_first_opens_only_its_input(parties: int) -> None:
    net = _mlp()
    weights = 64 * 32 + 32 * 10  # the two weight matrices (the biases are only added)
    rng = np.random.default_rng(0)  # test inputs only
    with InProcessCluster(parties=parties, rng=SecureRandom.seeded(3)) as cluster:
        model = cluster.from_torch(net)
        sent = []
        for _ in range(3):
            x = rng.uniform(0, 1, (2, 64))
            xs = cluster.share(x)
            cluster.reset_costs()
            logits = model(xs)
            cost = cluster.cost_report()["inference"]
            sent.append(cost.bytes_sent)
            assert np.max(np.abs(logits.reveal() - _plain(net, x))) < 2e-3
            assert cost.rounds == 11  # the same rounds: the input's opening carries them
        # every party sends its share of w - b to every other party, once
        assert sent[0] - sent[1] == weights * 8 * parties * (parties - 1)
        assert sent[1] == sent[2]


@pytest.mark.parametrize("mode", ["local", "dealer", "exact"])
@pytest.mark.parametrize(
    ("kind", "xs", "ys"),
    [
        ("matmul", (3, 5), (5, 4)),
        ("mul", (2, 3, 4), (3, 1)),
        ("conv2d", (2, 2, 5, 5), (3, 2, 3, 3)),
    ],
)
def test_fixed_products_match_fresh_ones(
    kind: str, xs: tuple[int, ...], ys: tuple[int, ...], mode: str
) -> None:
    rng = np.random.default_rng(1)  # test inputs only
    w = rng.uniform(-2, 2, ys)
    with InProcessCluster(parties=2, truncation=mode, rng=SecureRandom.seeded(4)) as cluster:
        wt = cluster.share(w)
        cluster.driver.fix_operand(wt)
        sent = []
        for _ in range(3):  # the first product masks w, the next two re-use the mask
            x = rng.uniform(-2, 2, xs)
            xt = cluster.share(x)
            cluster.reset_costs()
            if kind == "matmul":
                got, want = (xt @ wt).reveal(), x @ w
            elif kind == "mul":
                got, want = (xt * wt).reveal(), x * w
            else:
                params = {"stride": [1, 1], "padding": [1, 1]}
                with cluster.driver.op("conv2d"):  # charged like an operator's product
                    yt = _linear("conv2d", xt, wt, params)
                got = yt.reveal()
                want = torch.nn.functional.conv2d(
                    torch.tensor(x), torch.tensor(w), padding=1
                ).numpy()
            assert np.max(np.abs(got - want)) < 60 * ULP
            sent.append(sum(cluster.cost_report()[op].bytes_sent for op in cluster.cost_report()))
        assert sent[0] - sent[1] == w.size * 8 * 2  # w - b is opened by the first only
        assert sent[1] == sent[2]


def test_masks_are_dropped_with_their_register() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(5)) as cluster:
        dealer, parties = cluster._dealer.dealer, cluster._parties
        model = cluster.from_torch(_mlp())
        x = cluster.share(np.zeros((1, 64)))
        model(x).reveal()
        assert dealer.kept == 2
        assert all(len(p.fixed) == 2 for p in parties)
        del model
        gc.collect()
        y = x + x  # a local instruction: the frees reach the parties only
        assert all(not p.fixed for p in parties)
        assert dealer.kept == 2
        (y * y).reveal()  # the next instruction to the dealer carries them too
        assert dealer.kept == 0
        assert all(not p.fixed for p in parties)


def _bilinear_args(x: Any, w: Any, fixed: str) -> dict[str, Any]:
    return {
        "x": x.reg,
        "y": w.reg,
        "kind": "matmul",
        "params": {},
        "xs": list(x.shape),
        "ys": list(w.shape),
        "shape": [x.shape[0], w.shape[1]],
        "trunc": 0,
        "mode": "dealer",
        "fixed": fixed,
    }


@pytest.mark.parametrize("sequence", [["reuse"], ["new", "new"]])
def test_a_driver_cannot_reuse_a_missing_mask_or_mask_twice(sequence: list[str]) -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(6), timeout=5.0) as cluster:
        d = cluster.driver
        x, w = cluster.share(np.ones((2, 3))), cluster.share(np.ones((3, 2)))
        for fixed in sequence[:-1]:
            d.emit("bilinear", (2, 2), 32, _bilinear_args(x, w, fixed))
        with pytest.raises(ProtocolError, match="fixed-operand mask"):
            d.emit("bilinear", (2, 2), 32, _bilinear_args(x, w, sequence[-1]))


def test_a_reused_triple_draws_no_second_factor() -> None:
    args = {"x": 0, "y": 7, "kind": "matmul", "params": {}, "xs": [2, 3], "ys": [3, 4]}
    shape = {"shape": [2, 4], "trunc": 0, "mode": "dealer"}
    new = plan(Instruction(1, "bilinear", {**args, **shape, "fixed": "new"}))
    reuse = plan(Instruction(2, "bilinear", {**args, **shape, "fixed": "reuse"}))
    assert [f.name for f in new[0].fields] == ["a", "b", "c"]
    assert new[0].keep == (("b", 7),)
    assert [f.name for f in reuse[0].fields] == ["a", "c"]
    assert reuse[0].reads == (("b", 7),)
    with pytest.raises(ProtocolError, match="fixed"):
        plan(Instruction(3, "bilinear", {**args, **shape, "fixed": "always"}))


def test_the_weight_is_opened_once_and_each_input_under_a_fresh_mask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The privacy claim itself: ``w - b`` is opened by the first product only, and the same
    input multiplied twice is opened under two different masks (a fresh ``a`` each time)."""
    from privet.smpc.session import PartySession

    opened: list[tuple[str, list[np.ndarray]]] = []
    real_open = PartySession.open

    def spy(self: PartySession, shares: list[np.ndarray], *, step: str) -> list[np.ndarray]:
        out = real_open(self, shares, step=step)
        if self.party == 0 and step.startswith("beaver/"):
            opened.append((step, [o.copy() for o in out]))
        return out

    monkeypatch.setattr(PartySession, "open", spy)
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(9)) as cluster:
        w = cluster.share(np.random.default_rng(10).uniform(-1, 1, (4, 3)))  # test data only
        cluster.driver.fix_operand(w)
        x = cluster.share(np.random.default_rng(11).uniform(-1, 1, (2, 4)))
        for _ in range(3):
            (x @ w).reveal()
    steps = [step for step, _ in opened]
    assert steps == ["beaver/matmul", "beaver/matmul/fixed", "beaver/matmul/fixed"]
    assert len(opened[0][1]) == 2  # x - a and w - b, together, once
    assert all(len(values) == 1 for _, values in opened[1:])  # x - a alone afterwards
    first_d, second_d, third_d = (values[0] for _, values in opened)
    assert not np.array_equal(first_d, second_d)  # the same x, under fresh masks
    assert not np.array_equal(second_d, third_d)
