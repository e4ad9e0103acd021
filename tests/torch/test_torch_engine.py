"""make_private end to end: accounting, budgets, virtual steps, refusals and bad inputs."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torch_helpers  # noqa: F401  (two threads at most)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from privet.accounting import (
    GaussianEvent,
    PoissonSampledEvent,
    SelfComposedEvent,
    calibrate_noise_multiplier,
    dpsgd_epsilon,
)
from privet.core.random import SecureRandom
from privet.errors import (
    BudgetExceededError,
    DataError,
    InsecureRandomWarning,
    ParameterError,
    ParameterTypeError,
)
from privet.store import Ledger
from privet.torch import DPOptimizer, make_private, make_private_with_epsilon

N = 200


def _data(n: int = N) -> TensorDataset:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=gen)
    return TensorDataset(x, (x[:, 0] > 0).long())


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def _private(**kw: Any) -> tuple[nn.Module, DPOptimizer, Any]:
    model = _model()
    kw.setdefault("noise_multiplier", 2.0)  # σ = 2 keeps PLD accounting fast
    kw.setdefault("max_grad_norm", 1.0)
    if "sample_rate" not in kw:
        kw.setdefault("batch_size", 20)
    data = kw.pop("data", _data())
    return make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data, **kw)


def _epoch(model: nn.Module, opt: DPOptimizer, loader: Any) -> None:
    for x, y in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def test_epsilon_equals_dpsgd_epsilon_for_the_steps_taken() -> None:
    model, opt, loader = _private(batch_size=10)
    assert opt.epsilon(1e-5) == 0.0
    _epoch(model, opt, loader)
    _epoch(model, opt, loader)
    assert opt.steps == 2 * len(loader) == 40
    want = dpsgd_epsilon(
        noise_multiplier=2.0, sample_rate=10 / N, steps=40, delta=1e-5, method="pld"
    )
    assert opt.epsilon(1e-5) == want
    assert opt.privacy_event() == SelfComposedEvent(
        event=PoissonSampledEvent(
            sampling_probability=0.05, event=GaussianEvent(noise_multiplier=2.0)
        ),
        count=40,
    )


def test_training_learns_and_leaves_parameters_trainable() -> None:
    model, opt, loader = _private(noise_multiplier=0.3, batch_size=50)
    x, y = _data().tensors
    with torch.no_grad():
        before = float(nn.functional.cross_entropy(model(x), y))
        for _ in range(5):
            with torch.enable_grad():
                _epoch(model, opt, loader)
        assert float(nn.functional.cross_entropy(model(x), y)) < before
    assert all(p.requires_grad for p in model.parameters())


def test_make_private_with_epsilon_meets_the_target() -> None:
    model = _model()
    _, opt, _loader = make_private_with_epsilon(
        model, torch.optim.SGD(model.parameters(), lr=0.1), _data(), target_epsilon=1.0,
        target_delta=1e-5, epochs=2, max_grad_norm=1.0, sample_rate=0.05,
    )  # fmt: skip
    sigma = calibrate_noise_multiplier(
        target_epsilon=1.0, delta=1e-5, sample_rate=0.05, steps=40, method="pld"
    )
    assert opt.noise_multiplier == sigma
    assert opt.planned_steps == 40
    opt.steps = 40  # the planned run, as if trained
    assert opt.epsilon(1e-5) <= 1.0


def test_a_dataloader_is_accepted_for_its_dataset() -> None:
    _, opt, loader = _private(data=DataLoader(_data(), batch_size=7), batch_size=20)
    assert loader.n == N
    assert opt.sample_rate == 0.1


def test_empty_batches_still_take_a_noisy_step() -> None:
    data = _data(3)
    model, opt, loader = _private(data=data, sample_rate=1e-9, rng=SecureRandom.seeded(0))
    before = [p.detach().clone() for p in model.parameters()]
    for batches, (x, y) in enumerate(loader, start=1):
        assert x.shape == (0, 4)
        assert y.shape == (0,)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
        opt.step()
        if batches == 3:
            break
    assert opt.steps == 3
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_step_without_forward_on_an_empty_batch_is_allowed() -> None:
    _, opt, loader = _private(data=_data(3), sample_rate=1e-9, rng=SecureRandom.seeded(1))
    next(iter(loader))
    opt.step()
    assert opt.steps == 1


def test_virtual_steps_match_one_big_batch() -> None:
    # Same seeded generator: same batches, same noise; chunks only change memory use.
    results = []
    for cap in (None, 7):
        model, opt, loader = _private(
            batch_size=40, max_physical_batch_size=cap, rng=SecureRandom.seeded(3)
        )
        chunks = 0
        for x, y in loader:
            assert cap is None or len(y) <= cap
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
            opt.step()
            chunks += 1
        results.append((opt.steps, chunks, [p.detach().clone() for p in model.parameters()]))
    (steps_a, chunks_a, params_a), (steps_b, chunks_b, params_b) = results
    assert steps_a == steps_b == 5
    assert chunks_a == 5
    assert chunks_b > 5
    for a, b in zip(params_a, params_b, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_ledger_budget_is_charged_once_for_a_planned_run(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("training", epsilon=10.0, delta=1e-5)
        model, opt, loader = _private(budget=budget, epochs=2, batch_size=20)
        assert budget.history() == []  # charged when training starts, not before
        _epoch(model, opt, loader)
        _epoch(model, opt, loader)
        (charge,) = budget.history()
        assert charge.event == opt.privacy_event()  # 20 steps, one event
        with pytest.raises(BudgetExceededError, match="planned run"):
            next(iter(loader))  # a third epoch was not planned (nor paid)
        assert len(budget.history()) == 1


def test_a_planned_run_is_charged_at_its_calibration_delta_on_a_basic_budget(
    tmp_path: Path,
) -> None:
    # make_private_with_epsilon calibrates σ for (ε, δ); a basic-filter budget must be charged
    # the PLD ε of the whole run at that same δ, not at a smaller default share of its δ pool.
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("training", epsilon=3.0, delta=1e-5, filter="basic")
        model = _model()
        model, opt, loader = make_private_with_epsilon(
            model, torch.optim.SGD(model.parameters(), lr=0.1), _data(), target_epsilon=1.0,
            target_delta=1e-5, epochs=1, max_grad_norm=1.0, sample_rate=0.05, budget=budget,
        )  # fmt: skip
        _epoch(model, opt, loader)
        (charge,) = budget.history()
        assert charge.delta == 1e-5
        want = dpsgd_epsilon(
            noise_multiplier=opt.noise_multiplier, sample_rate=0.05, steps=20, delta=1e-5
        )
        assert charge.epsilon == pytest.approx(want, rel=1e-9)
        assert charge.epsilon <= 1.0


def test_a_budget_that_cannot_afford_the_run_refuses_before_training(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("small", epsilon=0.5, delta=1e-5)
        model, opt, loader = _private(budget=budget, epochs=3, batch_size=20)
        before = [p.detach().clone() for p in model.parameters()]
        with pytest.raises(BudgetExceededError):
            next(iter(loader))
        assert budget.history() == []
        assert opt.steps == 0
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_without_epochs_each_epoch_is_charged_as_it_starts(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("epochs", epsilon=10.0, delta=1e-5)
        model, opt, loader = _private(budget=budget, batch_size=20)
        _epoch(model, opt, loader)
        _epoch(model, opt, loader)
        assert [c.event.count for c in budget.history()] == [10, 10]  # type: ignore[attr-defined]


def test_noise_is_never_drawn_unpaid() -> None:
    class Ledgerless:
        def charge(self, event: Any, *, label: str = "", delta: float | None = None) -> None:
            raise BudgetExceededError("no budget left")

    _, opt, loader = _private(budget=Ledgerless(), epochs=1)
    with pytest.raises(BudgetExceededError):
        next(iter(loader))
    opt._begin_chunk(0, last=True)  # pretend an (empty) batch was handed out anyway
    with pytest.raises(BudgetExceededError, match="not paid"):
        opt.step()
    assert opt.steps == 0


def test_batch_norm_is_refused_with_the_layer_named() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    with pytest.raises(ParameterError, match=r"layer '1' \(BatchNorm1d\).*GroupNorm"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), _data(),
                     noise_multiplier=1.0, max_grad_norm=1.0, batch_size=10)  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"noise_multiplier": 0.0}, ParameterError, "noise_multiplier"),
        ({"noise_multiplier": -1.0}, ParameterError, "noise_multiplier"),
        ({"max_grad_norm": 0.0}, ParameterError, "max_grad_norm"),
        ({"max_grad_norm": float("nan")}, ParameterError, "max_grad_norm"),
        ({"sample_rate": 0.0, "batch_size": None}, ParameterError, "sample_rate"),
        ({"sample_rate": 1.5, "batch_size": None}, ParameterError, "sample_rate"),
        ({"sample_rate": 0.1, "batch_size": 20}, ParameterError, "not both"),
        ({"batch_size": None}, ParameterError, "pass batch_size"),
        ({"batch_size": 0}, ParameterError, "batch_size"),
        ({"batch_size": N + 1}, ParameterError, "at most"),
        ({"data": TensorDataset(torch.zeros(0, 4), torch.zeros(0))}, DataError, "empty"),
        ({"data": [1, 2, 3]}, ParameterTypeError, "Dataset"),
        ({"loss_reduction": "max"}, ParameterError, "loss_reduction"),
        ({"epochs": 0}, ParameterError, "epochs"),
        ({"max_physical_batch_size": 0}, ParameterError, "max_physical_batch_size"),
        ({"rng": 42}, ParameterTypeError, "SecureRandom"),
        ({"budget": 3.0}, ParameterTypeError, "budget must be"),
    ],
)
def test_bad_inputs_give_clear_errors(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        _private(**kwargs)


def test_a_seeded_generator_says_the_run_is_not_private() -> None:
    with pytest.warns(InsecureRandomWarning, match="NOT differentially private"):
        _, opt, _ = _private(rng=SecureRandom.seeded(0))
    assert not opt.is_secure
    assert "INSECURE" in repr(opt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, secure, _ = _private()
    assert secure.is_secure
    assert "INSECURE" not in repr(secure)


def test_steps_must_follow_the_private_loader() -> None:
    model, opt, loader = _private(batch_size=20, rng=SecureRandom.seeded(5))
    with pytest.raises(ParameterError, match="needs a batch drawn"):
        opt.step()
    it = iter(loader)
    next(it)
    with pytest.raises(ParameterError, match="nothing was recorded"):
        opt.step()
    next(iter(loader))  # a new epoch discards the half-done step
    xs, ys = _data().tensors
    nn.functional.cross_entropy(model(xs), ys).backward()  # not the loader's batch
    with pytest.raises(ParameterError, match="loader's batch has"):
        opt.step()
    it = iter(loader)
    next(it)
    with pytest.raises(ParameterError, match="was not called for the previous batch"):
        next(it)


def test_gradients_from_outside_the_forward_pass_are_refused() -> None:
    model, opt, loader = _private(batch_size=20)
    x, y = next(iter(loader))
    loss = nn.functional.cross_entropy(model(x), y) + model[0].weight.square().sum()
    loss.backward()
    with pytest.raises(ParameterError, match="outside the model's forward pass"):
        opt.step()


def test_an_optimizer_over_other_parameters_is_refused() -> None:
    model = _model()
    stray = nn.Parameter(torch.zeros(3))
    with pytest.raises(ParameterError, match="not in the model"):
        make_private(model, torch.optim.SGD([*model.parameters(), stray], lr=0.1), _data(),
                     noise_multiplier=1.0, max_grad_norm=1.0, batch_size=10)  # fmt: skip
    _, opt, _ = _private()
    with pytest.raises(ParameterError, match="cannot be added"):
        opt.add_param_group({"params": [stray]})
