"""Files that are not (or no longer) privet ledgers are refused with a clear error."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from privet.accounting.events import LaplaceEvent
from privet.errors import LedgerCorruptError, LedgerError
from privet.store import Ledger

SECRET = b"patient 4711 has diagnosis C50.9"


def _message(exc: pytest.ExceptionInfo[BaseException]) -> str:
    return str(exc.value)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "random.sqlite"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(LedgerCorruptError) as info:
        Ledger(path)
    assert str(path) in _message(info)
    assert "not a SQLite database" in _message(info)


def test_text_file_content_is_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(SECRET * 10)
    with pytest.raises(LedgerCorruptError) as info:
        Ledger(path)
    assert "patient" not in _message(info)
    assert path.read_bytes() == SECRET * 10


def test_short_file(tmp_path: Path) -> None:
    path = tmp_path / "short.sqlite"
    path.write_bytes(b"SQLite format 3\x00")
    with pytest.raises(LedgerCorruptError):
        Ledger(path)


def test_foreign_sqlite_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, note TEXT)")
    conn.execute("INSERT INTO users (note) VALUES (?)", (SECRET.decode(),))
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(LedgerCorruptError) as info:
        Ledger(path)
    assert "another application" in _message(info)
    assert "patient" not in _message(info)
    assert path.read_bytes() == before  # not switched to WAL, nothing written
    assert not (tmp_path / "app.sqlite-wal").exists()


def test_foreign_database_with_another_application_id(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE budgets (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerCorruptError, match="0x4d2"):
        Ledger(path)


def test_empty_file_and_empty_database_become_ledgers(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with Ledger(empty) as led:
        led.budget("b", epsilon=1.0)
    blank = tmp_path / "blank.sqlite"
    sqlite3.connect(blank).close()
    with Ledger(blank) as led:
        assert led.budgets() == []


def test_newer_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="newer privet") as info:
        Ledger(path)
    assert not isinstance(info.value, LedgerCorruptError)


def test_missing_table(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER budgets_only_raise")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerCorruptError, match="budgets_only_raise"):
        Ledger(path)


def _filled_ledger(path: Path, charges: int = 400) -> None:
    with Ledger(path) as led:
        budget = led.budget("b", epsilon=1e6)
        for i in range(charges):
            budget.charge(LaplaceEvent(epsilon=0.01), label=f"query number {i} " + "x" * 200)
    assert not Path(str(path) + "-wal").exists()  # checkpointed into the main file on close


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_ledger(tmp_path: Path, fraction: float) -> None:
    path = tmp_path / "ledger.sqlite"
    _filled_ledger(path)
    size = path.stat().st_size
    assert size > 8 * 4096
    with path.open("r+b") as fh:
        fh.truncate(int(size * fraction) // 4096 * 4096 + 100)
    with pytest.raises(LedgerCorruptError) as info:
        Ledger(path)
    assert str(path) in _message(info)


def test_damaged_pages(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    _filled_ledger(path)
    with path.open("r+b") as fh:
        fh.seek(5 * 4096)
        fh.write(os.urandom(4096))
    with pytest.raises(LedgerCorruptError):
        Ledger(path)


def test_unreadable_charge_row(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.budget("b", epsilon=1.0).charge(LaplaceEvent(epsilon=0.1))
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO charges (budget_id, label, event, epsilon, delta, created_at) "
        "VALUES (1, '', '{\"type\": \"pickle\"}', 0.1, 0.0, '2024-01-01T00:00:00+00:00')"
    )
    conn.commit()
    conn.close()
    with Ledger(path) as led:
        budget = led.get("b")
        assert budget.spent()[0] == pytest.approx(0.2)  # numbers are fine
        with pytest.raises(LedgerCorruptError, match="charge 2"):
            budget.history()
