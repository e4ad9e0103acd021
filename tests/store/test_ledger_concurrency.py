"""Atomic check-and-charge across OS processes and threads: the budget is never overspent."""

from __future__ import annotations

import math
import multiprocessing as mp
import sqlite3
import threading
import time
from pathlib import Path

import ledger_workers
import pytest

from privet.accounting.events import LaplaceEvent
from privet.errors import BudgetExceededError, LedgerError
from privet.store import Ledger

PROCESSES = 8
ATTEMPTS = 20
COST = 0.1
LIMIT = 5.0
EXPECTED = math.floor(LIMIT / COST + 1e-9)  # 50


def _check_totals(path: Path, name: str, expected: int, limit: float) -> None:
    with Ledger(path) as led:
        budget = led.get(name)
        history = budget.history()
        spent_eps, spent_delta = budget.spent()
    assert len(history) == expected
    assert len({c.id for c in history}) == expected
    assert spent_eps <= limit * (1 + 1e-12)
    if budget.filter == "basic":
        assert spent_eps == math.fsum(c.epsilon for c in history)
        assert spent_delta == math.fsum(c.delta for c in history) == 0.0


def _run_processes(path: Path, name: str, method: str) -> list[int]:
    ctx = mp.get_context(method)
    barrier = ctx.Barrier(PROCESSES)
    procs = [
        ctx.Process(
            target=ledger_workers.charge_many,
            args=(str(path), name, ATTEMPTS, COST, barrier),
        )
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    codes = [p.exitcode for p in procs]
    for p in procs:
        p.close()
    assert all(code is not None and code >= ledger_workers.EXIT_BASE for code in codes), codes
    return [code - ledger_workers.EXIT_BASE for code in codes if code is not None]


@pytest.mark.parametrize(
    ("filter_name", "delta", "expected"),
    [("basic", 0.0, EXPECTED), ("advanced", 1e-6, 73)],  # 73: see test_filters LAPLACE_COUNTS
)
def test_processes_never_overspend(
    tmp_path: Path, filter_name: str, delta: float, expected: int
) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.budget("shared", epsilon=LIMIT, delta=delta, filter=filter_name)
    attempts = PROCESSES * ATTEMPTS
    assert attempts > expected  # every worker competes for a budget too small for all
    successes = _run_processes(path, "shared", "fork")
    assert sum(successes) == expected
    _check_totals(path, "shared", expected, LIMIT)


@pytest.mark.slow
def test_spawned_processes_never_overspend(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.budget("shared", epsilon=LIMIT)
    assert sum(_run_processes(path, "shared", "spawn")) == EXPECTED
    _check_totals(path, "shared", EXPECTED, LIMIT)


def _thread_charges(budget_getter: object, results: list[int], barrier: threading.Barrier) -> None:
    budget = budget_getter()  # type: ignore[operator]
    barrier.wait(timeout=60)
    n = 0
    for _ in range(ATTEMPTS):
        try:
            budget.charge(LaplaceEvent(epsilon=COST))
        except BudgetExceededError:
            continue
        n += 1
    results.append(n)


@pytest.mark.parametrize("shared_ledger", [True, False])
def test_threads_never_overspend(tmp_path: Path, shared_ledger: bool) -> None:
    path = tmp_path / "ledger.sqlite"
    results: list[int] = []
    barrier = threading.Barrier(PROCESSES)
    own: list[Ledger] = []
    with Ledger(path) as led:
        led.budget("shared", epsilon=LIMIT)

        def getter() -> object:
            if shared_ledger:
                return led.get("shared")
            mine = Ledger(path)
            own.append(mine)
            return mine.get("shared")

        threads = [
            threading.Thread(target=_thread_charges, args=(getter, results, barrier))
            for _ in range(PROCESSES)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        for mine in own:
            mine.close()
    assert len(results) == PROCESSES
    assert sum(results) == EXPECTED
    _check_totals(path, "shared", EXPECTED, LIMIT)


def test_a_locked_ledger_raises_after_a_bounded_wait(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.budget("b", epsilon=1.0)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        with Ledger(path, timeout=0.5) as led:
            budget = led.get("b")  # reads are not blocked in WAL mode
            start = time.monotonic()
            with pytest.raises(LedgerError, match="stayed locked"):
                budget.charge(LaplaceEvent(epsilon=0.1))
            waited = time.monotonic() - start
            assert 0.4 < waited < 3.0
            blocker.execute("ROLLBACK")
            assert budget.history() == []
            budget.charge(LaplaceEvent(epsilon=0.1))  # free again
            assert len(budget.history()) == 1
    finally:
        blocker.close()


def test_a_ledger_is_not_used_across_fork(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "ledger.sqlite")
    try:
        led._pid = -1  # pretend it was opened in the parent of this process
        with pytest.raises(LedgerError, match="another process"):
            led.budget("b", epsilon=1.0)
    finally:
        led._pid = __import__("os").getpid()
        led.close()


def test_processes_creating_one_new_ledger_at_once(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    procs = [
        ctx.Process(target=ledger_workers.create_and_charge, args=(str(path), barrier))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    codes = [p.exitcode for p in procs]
    for p in procs:
        p.close()
    assert codes == [ledger_workers.EXIT_BASE] * PROCESSES
    with Ledger(path) as led:
        assert [b.name for b in led.budgets()] == ["created"]
        assert len(led.get("created").history()) == PROCESSES
