"""`privet budget …`, `privet --version` and `privet demo`, in-process and as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privet import __version__
from privet.accounting import LaplaceEvent
from privet.cli.app import app
from privet.store import Ledger

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_version() -> None:
    code, out = invoke("--version")
    assert code == 0
    assert out.strip() == f"privet {__version__}"


def test_create_show_list_history(tmp_path: Path) -> None:
    led = str(tmp_path / "l.sqlite")
    code, out = invoke("budget", "create", "hospital-a", "--epsilon", "1.5", "--ledger", led)
    assert code == 0, out
    assert "hospital-a" in out
    assert "1.5" in out
    # Charges made through the Python API show up in the CLI's history.
    with Ledger(led) as ledger:
        ledger.get("hospital-a").charge(LaplaceEvent(epsilon=0.25), label="count of patients")
    code, out = invoke("budget", "history", "hospital-a", "--ledger", led)
    assert code == 0, out
    assert "count of patients" in out
    assert "0.25" in out
    code, out = invoke("budget", "show", "hospital-a", "--ledger", led)
    assert code == 0
    assert "1.25" in out  # ε left
    code, out = invoke("budget", "create", "hospital-b", "-e", "2", "-d", "1e-6", "--ledger", led)
    assert code == 0, out
    code, out = invoke("budget", "list", "--ledger", led)
    assert code == 0
    assert "hospital-a" in out
    assert "hospital-b" in out


def test_ledger_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVET_LEDGER", str(tmp_path / "env.sqlite"))
    code, out = invoke("budget", "create", "b", "--epsilon", "1")
    assert code == 0, out
    assert (tmp_path / "env.sqlite").exists()


def test_conflicting_create_is_a_clear_error(tmp_path: Path) -> None:
    led = str(tmp_path / "l.sqlite")
    assert invoke("budget", "create", "b", "--epsilon", "1", "--ledger", led)[0] == 0
    code, out = invoke("budget", "create", "b", "--epsilon", "2", "--ledger", led)
    assert code == 1
    assert "BudgetConflictError" in out
    assert "Traceback" not in out


def test_raise_is_recorded(tmp_path: Path) -> None:
    led = str(tmp_path / "l.sqlite")
    assert invoke("budget", "create", "b", "--epsilon", "1", "--ledger", led)[0] == 0
    code, out = invoke(
        "budget", "raise", "b", "--epsilon", "2", "--reason", "board approval", "--ledger", led
    )
    assert code == 0, out
    code, out = invoke("budget", "history", "b", "--ledger", led)
    assert "board approval" in out
    code, out = invoke(
        "budget", "raise", "b", "--epsilon", "0.5", "--reason", "lower", "--ledger", led
    )
    assert code == 1
    assert "ParameterError" in out


@pytest.mark.parametrize(
    "args",
    [
        ["budget", "create", "b", "--epsilon", "-1"],
        ["budget", "create", "b", "--epsilon", "nan"],
        ["budget", "create", "b", "--epsilon", "1", "--delta", "1.5"],
        ["budget", "create", "b", "--epsilon", "1", "--filter", "magic"],
        ["budget", "show", "missing"],
    ],
)
def test_bad_input_exits_1_with_a_message(tmp_path: Path, args: list[str]) -> None:
    code, out = invoke(*args, "--ledger", str(tmp_path / "l.sqlite"))
    assert code == 1
    assert "error:" in out
    assert "Traceback" not in out


def test_corrupt_ledger_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    code, out = invoke("budget", "list", "--ledger", str(bad))
    assert code == 1
    assert "LedgerCorruptError" in out


def test_demo_runs_as_a_real_process(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "privet"
    led = tmp_path / "demo.sqlite"
    proc = subprocess.run(
        [str(exe), "demo", "--ledger", str(led)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused" in proc.stdout
    assert "demo finished" in proc.stdout
    with Ledger(led) as ledger:
        stats = ledger.get("hospital-stats")
        eps, _ = stats.spent()
        assert eps <= 1.0
        assert len(stats.history()) == 3  # the refused query left no trace


def test_help_lists_commands() -> None:
    code, out = invoke("--help")
    assert code == 0
    for word in ("budget", "demo"):
        assert word in out
