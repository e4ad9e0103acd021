"""`privet train` through typer's runner: a small CSV, a sweep plot, budgets and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from privet.cli.app import app
from privet.cli.train import encode_table
from privet.store import Ledger

runner = CliRunner()


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    gen = np.random.default_rng(1)
    n = 400
    age = gen.integers(18, 90, n)
    ward = gen.choice(["a", "b", "c"], n)
    sick = np.where((age > 55) | (ward == "c"), "yes", "no")
    path = tmp_path / "patients.csv"
    pd.DataFrame({"age": age, "ward": ward, "sick": sick}).to_csv(path, index=False)
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


BASE = ("--label", "sick", "--bounds", "age=0,100", "--categorical", "ward", "--epochs", "2")
FAST = ("--batch-size", "20", "--insecure-seed", "3")


def test_train_prints_epsilon_per_epoch_and_learns(csv: Path) -> None:
    code, out = invoke("train", str(csv), *BASE, *FAST, "--noise-multiplier", "2.0")
    assert code == 0, out
    assert "NOT private" in out  # the seeded run says so
    assert out.count("epoch ") == 2
    assert "ε =" in out
    assert "done" in out
    accuracy = float(out.split("test accuracy ")[-1].split(",")[0])
    assert accuracy > 0.7


def test_sweep_draws_a_png(csv: Path, tmp_path: Path) -> None:
    png = tmp_path / "sweep.png"
    code, out = invoke(
        "train", str(csv), *BASE, *FAST, "--sweep", "--epsilons", "2", "--plot", str(png)
    )
    assert code == 0, out
    assert "non-private" in out
    assert "spends ε = 2" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_budget_too_small_refuses_before_training(csv: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    with Ledger(ledger) as led:
        budget = led.budget("tiny", epsilon=0.1, delta=1e-5)
    code, out = invoke(
        "train", str(csv), *BASE, *FAST, "--noise-multiplier", "1.0",
        "--budget", "tiny", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 1
    assert "BudgetExceededError" in out
    assert "epoch 1" not in out
    with Ledger(ledger) as led:
        assert led.get("tiny").history() == []
    assert budget.name == "tiny"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--adult", "x.csv"), "exactly one"),
        (("x.parquet", "--noise-multiplier", "1"), "--label"),
        (("{csv}", "--label", "sick", "--bounds", "age=5", "--noise-multiplier", "1"), "--bounds"),
        (("{csv}", "--label", "nope", "--bounds", "age=0,100", "--noise-multiplier", "1"), "nope"),
        (("{csv}", "--label", "sick", "--bounds", "age=0,100"), "--epsilon"),
    ],
)
def test_bad_inputs_are_one_clear_line(csv: Path, args: tuple[str, ...], message: str) -> None:
    code, out = invoke("train", *(a.format(csv=csv) for a in args))
    assert code != 0
    assert message in out


def test_encoding_reads_no_statistic_of_the_data() -> None:
    # Rows encode the same whatever the other rows are: scaling by public bounds, hashing.
    a = pd.DataFrame({"age": [30, 60], "ward": ["a", "b"], "y": ["no", "yes"]})
    b = pd.concat([a, pd.DataFrame({"age": [999], "ward": ["z"], "y": ["no"]})])
    kw = {"label": "y", "bounds": {"age": (0.0, 100.0, False)}, "categorical": ["ward"]}
    xa, _, _ = encode_table(a, **kw)  # type: ignore[arg-type]
    xb, _, _ = encode_table(b, **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(xa, xb[:2])
    assert xb[2, 0] == 1.0  # clipped to the bound


@pytest.mark.slow
def test_demo_trains_adult_with_dp_quickly() -> None:
    from privet.cli.train import demo_train

    result = demo_train()
    assert result.epsilon <= 1.0
    assert result.accuracy > 0.80
    assert result.seconds < 60
