"""The ledger's file: SQLite schema version 1, opening, checking and transactions.

A ledger is a SQLite database whose header says so: ``application_id`` = 0x70727674
("prvt") and ``user_version`` = 1. It runs in WAL mode with ``synchronous=FULL`` (a charge
that returned is on disk) and foreign keys on. Its tables are append-only, enforced by
triggers: charges and limit changes can never be updated or deleted, budgets never deleted,
and a budget row may only have its limits raised.

Every read runs in one transaction (a consistent snapshot) and every write in one
``BEGIN IMMEDIATE`` transaction. A busy database is retried with backoff up to a bounded
total wait, then :class:`~privet.errors.LedgerError` is raised rather than hanging.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ledger.sqlite")
>>> conn = connect(path, timeout=5.0)
>>> conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
True
>>> conn.close()
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from privet.core.errors import LedgerCorruptError, LedgerError

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "connect", "transaction"]

T = TypeVar("T")

#: Marks a SQLite file as a privet ledger ("prvt").
APPLICATION_ID = 0x70727674
#: The schema version this privet reads and writes.
SCHEMA_VERSION = 1

_MAGIC = b"SQLite format 3\x00"
_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED (primary codes)
_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_ATTEMPT_WAIT = 0.2  # seconds SQLite's own busy handler waits before we retry

_APPEND_ONLY = "SELECT RAISE(ABORT, 'privet ledger: {what}')"

_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE budgets (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
        filter TEXT NOT NULL CHECK (filter IN ('basic', 'advanced', 'rdp')),
        epsilon REAL NOT NULL CHECK (typeof(epsilon) = 'real' AND epsilon > 0),
        delta REAL NOT NULL CHECK (typeof(delta) = 'real' AND delta >= 0 AND delta < 1),
        params TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE charges (
        id INTEGER PRIMARY KEY,
        budget_id INTEGER NOT NULL REFERENCES budgets (id),
        label TEXT NOT NULL CHECK (length(label) <= 1000),
        event TEXT NOT NULL CHECK (length(event) > 0),
        epsilon REAL NOT NULL CHECK (typeof(epsilon) = 'real' AND epsilon >= 0),
        delta REAL NOT NULL CHECK (typeof(delta) = 'real' AND delta >= 0 AND delta < 1),
        rdp TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX charges_by_budget ON charges (budget_id, id)",
    """CREATE TABLE limit_changes (
        id INTEGER PRIMARY KEY,
        budget_id INTEGER NOT NULL REFERENCES budgets (id),
        old_epsilon REAL NOT NULL,
        old_delta REAL NOT NULL,
        new_epsilon REAL NOT NULL,
        new_delta REAL NOT NULL,
        reason TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
        created_at TEXT NOT NULL,
        CHECK (new_epsilon >= old_epsilon AND new_delta >= old_delta)
    )""",
    "CREATE INDEX limit_changes_by_budget ON limit_changes (budget_id, id)",
    f"""CREATE TRIGGER charges_no_update BEFORE UPDATE ON charges
        BEGIN {_APPEND_ONLY.format(what="charges are append-only")}; END""",
    f"""CREATE TRIGGER charges_no_delete BEFORE DELETE ON charges
        BEGIN {_APPEND_ONLY.format(what="charges are append-only")}; END""",
    f"""CREATE TRIGGER limit_changes_no_update BEFORE UPDATE ON limit_changes
        BEGIN {_APPEND_ONLY.format(what="limit changes are append-only")}; END""",
    f"""CREATE TRIGGER limit_changes_no_delete BEFORE DELETE ON limit_changes
        BEGIN {_APPEND_ONLY.format(what="limit changes are append-only")}; END""",
    f"""CREATE TRIGGER budgets_no_delete BEFORE DELETE ON budgets
        BEGIN {_APPEND_ONLY.format(what="budgets cannot be deleted")}; END""",
    f"""CREATE TRIGGER budgets_only_raise BEFORE UPDATE ON budgets
        WHEN NEW.id IS NOT OLD.id OR NEW.name IS NOT OLD.name
          OR NEW.filter IS NOT OLD.filter OR NEW.params IS NOT OLD.params
          OR NEW.created_at IS NOT OLD.created_at
          OR NEW.epsilon < OLD.epsilon OR NEW.delta < OLD.delta
        BEGIN {_APPEND_ONLY.format(what="a budget can only have its limits raised")}; END""",
)

_OBJECTS = frozenset(
    {
        ("table", "budgets"),
        ("table", "charges"),
        ("table", "limit_changes"),
        ("index", "charges_by_budget"),
        ("index", "limit_changes_by_budget"),
        ("trigger", "charges_no_update"),
        ("trigger", "charges_no_delete"),
        ("trigger", "limit_changes_no_update"),
        ("trigger", "limit_changes_no_delete"),
        ("trigger", "budgets_no_delete"),
        ("trigger", "budgets_only_raise"),
    }
)


def corrupt(path: Path | str, what: str) -> LedgerCorruptError:
    """Return the error for a damaged or foreign file (names the path, never its content)."""
    return LedgerCorruptError(
        f"{path} is not a usable privet ledger: {what}. Restore it from a backup, or open "
        "another path (a new path creates a new ledger)"
    )


def translate(exc: sqlite3.Error, path: Path | str) -> LedgerError:
    """Map a sqlite3 error to privet's :class:`LedgerError` tree."""
    code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
    name = getattr(exc, "sqlite_errorname", type(exc).__name__)
    if code in _CORRUPT_CODES:
        return corrupt(path, f"SQLite reports {name} ({exc})")
    return LedgerError(f"ledger {path}: SQLite error {name} ({exc})")


def _is_busy(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", -1) & 0xFF) in _BUSY_CODES


def transaction(
    conn: sqlite3.Connection,
    path: Path | str,
    body: Callable[[], T],
    *,
    write: bool,
    timeout: float,
) -> T:
    """Run ``body`` in one transaction; retry the whole of it while the database is busy.

    A write transaction starts with ``BEGIN IMMEDIATE``, so it holds the write lock from
    its first read: whatever ``body`` checks is still true when it commits. An exception
    from ``body`` rolls everything back. ``body`` must read all it needs inside (it may
    run more than once).

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection in autocommit mode (``isolation_level=None``).
    path : Path or str
        The ledger's path, for messages.
    body : callable
        What to do inside the transaction.
    write : bool
        ``BEGIN IMMEDIATE`` if true, else a read transaction.
    timeout : float
        The most seconds to keep retrying a busy database.

    Returns
    -------
    object
        What ``body`` returned.

    Raises
    ------
    LedgerError
        If the database stays busy for ``timeout`` seconds, or SQLite fails.
    """
    deadline = time.monotonic() + timeout
    backoff = 0.002
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = body()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return result
        except sqlite3.Error as exc:
            if not _is_busy(exc):
                raise translate(exc, path) from None
            now = time.monotonic()
            if now >= deadline:
                raise LedgerError(
                    f"ledger {path} stayed locked by another process or thread for "
                    f"{timeout:g} s; nothing was recorded. Retry later, or open the ledger "
                    "with a longer timeout (Ledger(path, timeout=...))"
                ) from None
            jitter = 0.5 + secrets.randbelow(1000) / 1000.0
            time.sleep(min(backoff * jitter, deadline - now))
            backoff = min(backoff * 2.0, 0.1)


def _header(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(100)
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger file {path}: {exc.strerror}") from None


def _create_file(path: Path) -> None:
    try:  # owner-only permissions; SQLite gives its -wal and -shm files the same
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise LedgerError(f"cannot create the ledger file {path}: {exc.strerror}") from None
    os.close(fd)


def _identity(conn: sqlite3.Connection) -> tuple[int, int, set[tuple[str, str]]]:
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    rows = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
    return app_id, version, {(str(t), str(n)) for t, n in rows}


def _initialise(conn: sqlite3.Connection, path: Path, timeout: float) -> None:
    def body() -> None:
        app_id, version, objects = _identity(conn)
        if app_id != 0 or version != 0 or objects:
            return  # another process initialised it first (or it is foreign: checked next)
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    transaction(conn, path, body, write=True, timeout=timeout)


def _verify(conn: sqlite3.Connection, path: Path, *, check_pages: bool) -> None:
    app_id, version, objects = _identity(conn)
    if app_id != APPLICATION_ID:
        raise corrupt(path, f"it is a SQLite database of another application (id {app_id:#x})")
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"ledger {path} has schema version {version}, written by a newer privet; this "
            f"privet reads version {SCHEMA_VERSION}. Upgrade privet to open it"
        )
    if version != SCHEMA_VERSION:
        raise corrupt(path, f"its schema version is {version}, expected {SCHEMA_VERSION}")
    missing = _OBJECTS - objects
    if missing:
        names = ", ".join(sorted(name for _, name in missing))
        raise corrupt(path, f"its schema lacks {names}")
    if check_pages:
        rows = conn.execute("PRAGMA quick_check").fetchall()
        if [tuple(r) for r in rows] != [("ok",)]:
            raise corrupt(path, f"SQLite's quick_check found {len(rows)} problem(s)")


def connect(path: Path | str, *, timeout: float, check_pages: bool = True) -> sqlite3.Connection:
    """Open (or create) the ledger file at ``path`` and return a checked connection.

    Parameters
    ----------
    path : Path or str
        The file. It is created (mode 0600) if missing; an empty file becomes a ledger.
    timeout : float
        The most seconds to wait for a busy database.
    check_pages : bool, default True
        Run SQLite's ``quick_check`` over every page (finds truncated or damaged files;
        linear in the file's size).

    Returns
    -------
    sqlite3.Connection
        In autocommit mode, WAL, ``synchronous=FULL``, foreign keys on.

    Raises
    ------
    LedgerCorruptError
        For a non-SQLite file, a foreign SQLite database or a damaged ledger.
    LedgerError
        When the file cannot be opened or stays busy.
    """
    path = Path(path)
    if path.is_dir():
        raise LedgerError(f"ledger path {path} is a directory; pass a file path")
    if not path.parent.is_dir():
        raise LedgerError(f"cannot create ledger {path}: directory {path.parent} does not exist")
    if path.exists() and path.stat().st_size > 0:
        header = _header(path)
        if len(header) < 100 or not header.startswith(_MAGIC):
            raise corrupt(path, "it is not a SQLite database")
    else:
        _create_file(path)
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=min(_ATTEMPT_WAIT, timeout),
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise translate(exc, path) from None
    try:
        _open(conn, path, timeout=timeout, check_pages=check_pages)
    except BaseException:
        conn.close()
        raise
    return conn


def _open(conn: sqlite3.Connection, path: Path, *, timeout: float, check_pages: bool) -> None:
    # Identify the file before changing anything: a foreign database stays untouched.
    app_id, version, objects = transaction(
        conn, path, lambda: _identity(conn), write=False, timeout=timeout
    )
    fresh = app_id == 0 and version == 0 and not objects
    if not fresh and app_id != APPLICATION_ID:
        raise corrupt(path, f"it is a SQLite database of another application (id {app_id:#x})")

    def journal() -> None:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise LedgerError(
                f"ledger {path}: SQLite cannot use WAL mode here (got {mode!r}); keep the "
                "ledger on a local file system"
            )

    _outside_transaction(conn, path, journal, timeout=timeout)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    if fresh:
        _initialise(conn, path, timeout)
    transaction(
        conn,
        path,
        lambda: _verify(conn, path, check_pages=check_pages),
        write=False,
        timeout=timeout,
    )


def _outside_transaction(
    conn: sqlite3.Connection, path: Path, body: Callable[[], None], *, timeout: float
) -> None:
    # PRAGMA journal_mode cannot run inside a transaction; retry it while busy.
    deadline = time.monotonic() + timeout
    while True:
        try:
            body()
            return
        except sqlite3.Error as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise translate(exc, path) from None
            time.sleep(0.01)
