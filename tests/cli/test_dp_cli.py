"""`privet dp describe` and `privet dp query` through typer's runner, on a small CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from privet.cli.app import app
from privet.store import Ledger

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame(
        {
            "patient": rng.integers(0, 150, n),
            "age": rng.integers(18, 90, n),
            "cost": rng.uniform(0, 1000, n).round(2),
            "ward": rng.choice(["a", "b", "c"], n),
        }
    )
    frame.loc[0, "cost"] = 987654.25  # an outlier that must never be printed
    csv = tmp_path / "visits.csv"
    frame.to_csv(csv, index=False)
    ledger = tmp_path / "ledger.sqlite"
    with Ledger(ledger) as led:
        led.budget("b", epsilon=10.0, delta=1e-5, filter="basic")
    return str(csv), str(ledger)


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_describe_lists_columns_and_never_data(files: tuple[str, str]) -> None:
    csv, _ = files
    code, out = invoke("dp", "describe", csv)
    assert code == 0, out
    for col in ("patient", "age", "cost", "ward"):
        assert col in out
    assert "bounds LO,HI" in out
    assert "public keys" in out
    assert "no minimum, maximum" in out
    assert "987654" not in out
    assert "400" not in out


def test_query_prints_values_and_charges(files: tuple[str, str]) -> None:
    csv, ledger = files
    code, out = invoke(
        "dp",
        "query",
        csv,
        "--unit",
        "patient",
        "--budget",
        "b",
        "--ledger",
        ledger,
        "-e",
        "0.5",
        "--count",
        "--sum",
        "cost",
        "--mean",
        "age",
        "--variance",
        "age",
        "--quantile",
        "age",
        "--bounds",
        "cost=0,1000",
        "--bounds",
        "age=0,100",
        "--max-rows",
        "3",
    )
    assert code == 0, out
    for word in ("count", "sum", "mean", "variance", "quantile", "±"):
        assert word in out
    with Ledger(ledger) as led:
        history = led.get("b").history()
    assert len(history) == 5
    assert history[1].label.startswith("dp.sum(cost")


def test_group_by_and_histogram(files: tuple[str, str]) -> None:
    csv, ledger = files
    code, out = invoke(
        "dp",
        "query",
        csv,
        "--unit",
        "patient",
        "--budget",
        "b",
        "--ledger",
        ledger,
        "-e",
        "1",
        "--count",
        "--mean",
        "cost",
        "--bounds",
        "0,1000",
        "--group-by",
        "ward",
        "--keys",
        "a,b,c",
    )
    assert code == 0, out
    assert "groupby.count" in out
    assert "groupby.mean" in out
    code, out = invoke(
        "dp",
        "query",
        csv,
        "--unit",
        "patient",
        "--budget",
        "b",
        "--ledger",
        ledger,
        "-e",
        "1",
        "--histogram",
        "ward",
        "--delta",
        "1e-7",
    )
    assert code == 0, out
    assert "histogram" in out


def test_errors_exit_1_with_one_line(files: tuple[str, str]) -> None:
    csv, ledger = files
    base = ("dp", "query", csv, "--unit", "patient", "--ledger", ledger, "-e", "1")
    code, out = invoke(*base, "--budget", "nope", "--count")
    assert code == 1
    assert "privet budget create nope" in out
    code, out = invoke(*base, "--budget", "b", "--sum", "cost")
    assert code == 1
    assert "needs bounds" in out
    code, out = invoke(*base, "--budget", "b", "--sum", "cost", "--bounds", "9,1")
    assert code == 1
    assert "reversed" in out
    code, out = invoke(*base, "--budget", "b")
    assert code == 1
    assert "no query asked" in out
    code, out = invoke(*base, "--budget", "b", "--count", "-e", "100")
    assert code == 1
    assert "BudgetExceededError" in out
    with Ledger(ledger) as led:
        assert led.get("b").history() == []
