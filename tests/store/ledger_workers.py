"""Child-process bodies for the ledger's concurrency and crash tests (importable for spawn)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from privet.accounting.events import LaplaceEvent
from privet.errors import BudgetExceededError
from privet.store import Ledger

#: A worker's exit status is this plus the number of charges it got through.
EXIT_BASE = 100


def charge_many(path: str, name: str, attempts: int, epsilon: float, barrier: Any) -> None:
    """Wait for every worker, try ``attempts`` charges, exit with EXIT_BASE + successes."""
    successes = 0
    with Ledger(path) as ledger:
        budget = ledger.get(name)
        barrier.wait(timeout=60)
        for i in range(attempts):
            try:
                budget.charge(LaplaceEvent(epsilon=epsilon), label=f"pid {os.getpid()} #{i}")
            except BudgetExceededError:
                continue
            successes += 1
    sys.exit(EXIT_BASE + successes)


def charge_until_killed(path: str, name: str, fd: int, hold: float) -> None:
    """Charge forever, writing b"T" inside each transaction and b"C" after each commit.

    ``hold`` seconds are slept inside the write transaction, after the INSERT and before
    COMMIT (the ledger's test-only hook), so a kill that follows a b"T" lands mid-transaction.
    """
    ledger = Ledger(path)
    budget = ledger.get(name)

    def inside() -> None:
        os.write(fd, b"T")
        if hold:
            time.sleep(hold)

    ledger._test_hook = inside
    i = 0
    while True:
        budget.charge(LaplaceEvent(epsilon=0.001), label=f"charge {i}")
        os.write(fd, b"C")
        i += 1


def create_and_charge(path: str, barrier: Any) -> None:
    """Open a ledger that may not exist yet, create one budget, charge it once."""
    barrier.wait(timeout=60)
    with Ledger(path) as ledger:
        ledger.budget("created", epsilon=1.0).charge(LaplaceEvent(epsilon=0.1))
    sys.exit(EXIT_BASE)
