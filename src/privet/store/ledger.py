"""The persisted privacy ledger: named budgets, each charged before any noise is drawn.

A :class:`Ledger` is one SQLite file (see :mod:`privet.store.schema`). A :class:`Budget` in
it has an (ε, δ) limit and a privacy filter (:mod:`privet.accounting.filters`) that stays
valid when each query is chosen after seeing the last. :meth:`Budget.charge` prices one
event as one adaptive step and, in one ``BEGIN IMMEDIATE`` transaction, reads every earlier
charge, asks the filter, and records the charge, or raises
:class:`~privet.errors.BudgetExceededError` and records nothing. Threads and processes may
share a ledger file: nothing is cached between calls, every check reads the database inside
the write transaction.

The only way to change a budget is :meth:`Budget.raise_limit`: explicit, upward, recorded
with its reason. Charges are never edited or deleted (the schema's triggers refuse it).

Examples
--------
>>> import os, tempfile
>>> from privet.accounting.events import LaplaceEvent
>>> path = os.path.join(tempfile.mkdtemp(), "ledger.sqlite")
>>> with Ledger(path) as ledger:
...     stats = ledger.budget("hospital-stats", epsilon=1.0)
...     charge = stats.charge(LaplaceEvent(epsilon=0.4), label="count of patients")
...     stats.spent(), stats.remaining()
((0.4, 0.0), (0.6, 0.0))
>>> with Ledger(path) as ledger:
...     ledger.get("hospital-stats").charge(LaplaceEvent(epsilon=0.7))
Traceback (most recent call last):
...
privet.core.errors.BudgetExceededError: budget 'hospital-stats': cannot afford this charge: ...
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from privet.accounting.filters import default_filter, make_filter
from privet.core.checks import check_delta, check_epsilon, check_timeout
from privet.core.closeable import Closeable
from privet.core.errors import (
    BudgetConflictError,
    BudgetNotFoundError,
    LedgerCorruptError,
    LedgerError,
    ParameterError,
    ParameterTypeError,
)
from privet.store import schema
from privet.store.budget import Budget
from privet.store.records import check_text, now

__all__ = ["Ledger"]

T = TypeVar("T")


class Ledger(Closeable):
    """A privacy ledger: one SQLite file of budgets and their charges.

    Parameters
    ----------
    path : str or os.PathLike
        The ledger file; created if missing.
    timeout : float, default 30.0
        The most seconds an operation waits for another writer before raising
        :class:`~privet.errors.LedgerError`.
    check_pages : bool, default True
        Check every page of the file when opening it (SQLite ``quick_check``).

    Raises
    ------
    LedgerCorruptError
        For a file that is not a privet ledger, or a damaged one.
    LedgerError
        When the file cannot be opened.

    Examples
    --------
    >>> import os, tempfile
    >>> with Ledger(os.path.join(tempfile.mkdtemp(), "l.sqlite")) as ledger:
    ...     ledger.budget("analyst", epsilon=2.0, delta=1e-6)
    Budget(name='analyst', filter='rdp')
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 30.0, check_pages: bool = True
    ) -> None:
        if not isinstance(path, str | os.PathLike):
            raise ParameterTypeError(f"path must be a str or a path, got {type(path).__name__}")
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ParameterError(f"a ledger must be a file path, got {str(path)!r}")
        self._path = Path(path)
        self._timeout = check_timeout(timeout, name="timeout")
        self._lock = threading.RLock()
        self._pid = os.getpid()
        # Test-only: called inside each charge's write transaction, just before COMMIT.
        self._test_hook: Callable[[], None] | None = None
        self._conn: sqlite3.Connection | None = schema.connect(
            self._path, timeout=self._timeout, check_pages=check_pages
        )

    @property
    def path(self) -> Path:
        """The ledger file."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._conn is None

    def close(self) -> None:
        """Close the ledger's connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                if os.getpid() == self._pid:
                    conn.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"Ledger({str(self._path)!r}, {state})"

    # -- transactions ----------------------------------------------------------------

    def _run(self, body: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        # One transaction at a time per connection; threads sharing this Ledger queue here,
        # for at most the timeout (then the database's own wait, again bounded by it).
        start = time.monotonic()
        if not self._lock.acquire(timeout=self._timeout):
            raise LedgerError(
                f"ledger {self._path}: other threads of this process kept it busy for "
                f"{self._timeout:g} s; nothing was recorded. Retry later, or give each "
                "thread its own Ledger(path)"
            )
        try:
            conn = self._conn
            if conn is None:
                raise LedgerError(f"ledger {self._path} is closed; open a new Ledger(path)")
            if os.getpid() != self._pid:
                raise LedgerError(
                    f"ledger {self._path} was opened in another process; open a new "
                    "Ledger(path) in each process"
                )
            left = max(self._timeout - (time.monotonic() - start), 0.0)
            return schema.transaction(
                conn, self._path, lambda: body(conn), write=write, timeout=left
            )
        finally:
            self._lock.release()

    def _corrupt(self, what: str) -> LedgerCorruptError:
        return schema.corrupt(self._path, what)

    # -- budgets ---------------------------------------------------------------------

    def budget(
        self,
        name: str,
        *,
        epsilon: float,
        delta: float = 0.0,
        filter: str | None = None,
    ) -> Budget:
        """Create the budget ``name``, or return it if it exists with these limits.

        Parameters
        ----------
        name : str
            1 to 200 characters, no control characters.
        epsilon : float
            The ε limit, > 0.
        delta : float, default 0.0
            The δ limit, in [0, 1).
        filter : {"basic", "advanced", "rdp"} or None
            The privacy filter; None means ``basic`` for δ = 0 and ``rdp`` for δ > 0
            (:func:`privet.accounting.filters.default_filter` says why).

        Returns
        -------
        Budget
            The budget.

        Raises
        ------
        BudgetConflictError
            If the budget exists with another filter or other limits.
        """
        name = check_text(name, name="name", allow_empty=False)
        eps = check_epsilon(epsilon)
        dlt = check_delta(delta)
        if filter is not None and not isinstance(filter, str):
            raise ParameterTypeError(f"filter must be a str or None, got {type(filter).__name__}")
        filter_name = default_filter(dlt) if filter is None else filter
        params = make_filter(filter_name, epsilon=eps, delta=dlt).params()

        def body(conn: sqlite3.Connection) -> Budget:
            row = conn.execute(
                "SELECT id, filter, epsilon, delta, params FROM budgets WHERE name = ?", (name,)
            ).fetchone()
            if row is not None:
                if (row[1], row[2], row[3]) != (filter_name, eps, dlt):
                    raise BudgetConflictError(
                        f"budget {name!r} exists with filter {row[1]!r}, ε={row[2]:g}, "
                        f"δ={row[3]:g}, not filter {filter_name!r}, ε={eps:g}, δ={dlt:g}. "
                        f"A budget is never changed by re-creating it: use "
                        f"ledger.get({name!r}) to use it as it is, or its "
                        "raise_limit(epsilon=..., delta=..., reason=...) to raise its limit"
                    )
                return self._budget(row[0], name, row[1], row[4])
            cursor = conn.execute(
                "INSERT INTO budgets (name, filter, epsilon, delta, params, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, filter_name, eps, dlt, json.dumps(params), now().isoformat()),
            )
            return self._budget(int(cursor.lastrowid or 0), name, filter_name, json.dumps(params))

        return self._run(body, write=True)

    def _budget(self, budget_id: int, name: str, filter_name: str, params: str) -> Budget:
        try:
            decoded = json.loads(params)
            if not isinstance(decoded, dict):
                raise TypeError
        except (TypeError, ValueError):
            raise self._corrupt(f"budget {name!r} has unreadable filter parameters") from None
        return Budget(self, budget_id, name, filter_name, decoded)

    def get(self, name: str) -> Budget:
        """Return the existing budget ``name``.

        Raises
        ------
        BudgetNotFoundError
            If there is none; create it with :meth:`budget`.
        """
        name = check_text(name, name="name", allow_empty=False)

        def body(conn: sqlite3.Connection) -> Budget:
            row = conn.execute(
                "SELECT id, filter, params FROM budgets WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise BudgetNotFoundError(
                    f"no budget named {name!r} in ledger {self._path}; create it with "
                    f"ledger.budget({name!r}, epsilon=..., delta=...)"
                )
            return self._budget(row[0], name, row[1], row[2])

        return self._run(body, write=False)

    def budgets(self) -> list[Budget]:
        """Return every budget in the ledger, oldest first."""

        def body(conn: sqlite3.Connection) -> list[Budget]:
            rows = conn.execute("SELECT id, name, filter, params FROM budgets ORDER BY id")
            return [self._budget(r[0], r[1], r[2], r[3]) for r in rows.fetchall()]

        return self._run(body, write=False)
