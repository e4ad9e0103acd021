"""A process killed with SIGKILL while charging never leaves a damaged or partial ledger."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import random
import select
import signal
import sqlite3
import time
from pathlib import Path

import ledger_workers
import pytest

from privet.store import Ledger


def _read(fd: int, until: bytes, *, after: int, timeout: float = 30.0) -> bytes:
    """Read markers until ``until`` arrives after at least ``after`` b"C" markers."""
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
        if seen.count(b"C") >= after and seen.endswith(until):
            return seen
    raise AssertionError(f"child stopped before the expected marker ({seen[-20:]!r})")


def _drain(fd: int) -> bytes:
    rest = b""
    while chunk := os.read(fd, 4096):
        rest += chunk
    return rest


def _verify(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT id, budget_id, label, event, epsilon, delta, created_at FROM charges"
        ).fetchall()
        assert all(all(v is not None for v in row) for row in rows)
    finally:
        conn.close()
    with Ledger(path) as led:  # opens: header, schema and quick_check
        budget = led.get("crash")
        history = budget.history()
        spent = budget.spent()
    assert len(history) == len(rows)
    assert all(c.label.startswith("charge ") and c.epsilon == 0.001 for c in history)
    assert spent == (math.fsum(c.epsilon for c in history), 0.0)
    return len(history)


def _kill_round(path: Path, *, mid_transaction: bool, rng: random.Random) -> tuple[int, bytes]:
    ctx = mp.get_context("fork")
    read_fd, write_fd = os.pipe()
    hold = 0.2 if mid_transaction else 0.0
    proc = ctx.Process(
        target=ledger_workers.charge_until_killed, args=(str(path), "crash", write_fd, hold)
    )
    proc.start()
    os.close(write_fd)
    try:
        if mid_transaction:
            # Kill right after the child says it is inside a transaction (it then sleeps
            # 0.2 s between its INSERT and COMMIT).
            seen = _read(read_fd, b"T", after=rng.randint(0, 3))
        else:
            seen = _read(read_fd, b"C", after=rng.randint(1, 20))
            time.sleep(rng.uniform(0.0, 0.05))  # then anywhere in the charge loop
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=30)
        assert proc.exitcode == -signal.SIGKILL
        seen += _drain(read_fd)
    finally:
        os.close(read_fd)
        proc.close()
    return seen.count(b"C"), seen


@pytest.mark.parametrize("rounds", [6])
def test_sigkill_at_random_moments_leaves_a_sound_ledger(tmp_path: Path, rounds: int) -> None:
    rng = random.Random(20240611)
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.budget("crash", epsilon=1e6)
    total = 0
    mid_transaction_kills = 0
    for i in range(rounds):
        mid = i % 2 == 0
        committed, seen = _kill_round(path, mid_transaction=mid, rng=rng)
        count = _verify(path)
        if mid and seen.endswith(b"T"):
            # Killed between INSERT and COMMIT: that charge is gone, every other is there.
            mid_transaction_kills += 1
            assert count == total + committed
        else:
            # Killed anywhere: a charge whose COMMIT finished may not have said so yet.
            assert count in (total + committed, total + committed + 1)
        total = count
    assert mid_transaction_kills >= rounds // 2
    assert total > 0


@pytest.mark.slow
def test_many_sigkills(tmp_path: Path) -> None:
    test_sigkill_at_random_moments_leaves_a_sound_ledger(tmp_path, rounds=40)
