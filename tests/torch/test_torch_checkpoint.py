"""Checkpoints: resuming keeps the privacy spent; writes are atomic; loads are safe."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
import torch_helpers  # noqa: F401  (two threads at most)
from torch import nn
from torch.utils.data import TensorDataset

from privet.errors import DataError, ParameterError
from privet.store import Ledger
from privet.torch import DPOptimizer, load_checkpoint, make_private, save_checkpoint

DATA = TensorDataset(torch.randn(100, 3), torch.randint(0, 2, (100,)))


def _run(**kw: Any) -> tuple[nn.Module, DPOptimizer, Any]:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    kw.setdefault("noise_multiplier", 2.0)
    return make_private(model, opt, DATA, max_grad_norm=1.0, batch_size=5, **kw)


def _epoch(model: nn.Module, opt: DPOptimizer, loader: Any) -> None:
    for x, y in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def test_resuming_keeps_epsilon_model_and_optimizer_state(tmp_path: Path) -> None:
    model, opt, loader = _run()
    _epoch(model, opt, loader)
    path = tmp_path / "run.pt"
    save_checkpoint(path, model, opt)
    model2, opt2, loader2 = _run()
    load_checkpoint(path, model2, opt2)
    assert opt2.steps == opt.steps == 20
    assert opt2.epsilon(1e-5) == opt.epsilon(1e-5) > 0
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()  # momentum
    _epoch(model2, opt2, loader2)  # training continues from the spent privacy
    assert opt2.steps == 40
    assert [f.name for f in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left


def test_resuming_does_not_charge_the_budget_again(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("run", epsilon=20.0, delta=1e-5)
        model, opt, loader = _run(budget=budget, epochs=2)
        _epoch(model, opt, loader)
        save_checkpoint(tmp_path / "run.pt", model, opt)
        model2, opt2, loader2 = _run(budget=budget, epochs=2)
        load_checkpoint(tmp_path / "run.pt", model2, opt2)
        _epoch(model2, opt2, loader2)
        assert len(budget.history()) == 1
        assert opt2.steps == 40


def test_a_different_mechanism_is_refused(tmp_path: Path) -> None:
    model, opt, _ = _run()
    save_checkpoint(tmp_path / "run.pt", model, opt)
    model2, opt2, _ = _run(noise_multiplier=1.0)
    with pytest.raises(ParameterError, match="noise_multiplier"):
        load_checkpoint(tmp_path / "run.pt", model2, opt2)


def test_a_failed_write_leaves_the_old_checkpoint(tmp_path: Path, monkeypatch: Any) -> None:
    model, opt, loader = _run()
    path = tmp_path / "run.pt"
    save_checkpoint(path, model, opt)
    before = path.read_bytes()
    _epoch(model, opt, loader)

    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, opt)
    assert path.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["run.pt"]


def test_foreign_and_pickled_files_are_refused(tmp_path: Path) -> None:
    model, opt, _ = _run()
    other = tmp_path / "other.pt"
    torch.save({"model": model.state_dict()}, other)
    with pytest.raises(DataError, match=r"not a privet\.torch checkpoint"):
        load_checkpoint(other, model, opt)

    class Evil:
        def __reduce__(self) -> Any:
            return (os.system, ("echo pwned",))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"format": Evil()}, protocol=2))
    with pytest.raises(DataError, match="cannot read"):
        load_checkpoint(bad, model, opt)


def test_no_checkpoint_in_the_middle_of_a_logical_batch(tmp_path: Path) -> None:
    model, opt, loader = _run(max_physical_batch_size=2)
    it = iter(loader)
    while True:
        x, y = next(it)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if opt._sums is not None:  # a chunk summed, the logical step not done yet
            break
    with pytest.raises(ParameterError, match="between logical steps"):
        save_checkpoint(tmp_path / "run.pt", model, opt)
