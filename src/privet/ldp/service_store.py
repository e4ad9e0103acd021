"""Durable storage of an LDP collection's reports: one SQLite file in WAL mode.

Tables: ``meta`` (the collection's config and the client-tag key), ``rounds`` (the open
rounds, each charged to the ledger when opened), ``reports`` (one row per accepted report,
primary key (round, client tag) so a second report of a client in a round is refused), and
``rejections`` (counts by reason). Every write is one transaction committed with
``synchronous=FULL`` before the service answers, so an acknowledged report survives a crash
or a restart.

Client ids are not stored: a report is keyed by ``tag = HMAC-SHA256(key, round ‖ client)``
with a random key kept in the file, enough to refuse duplicates within a round without
linking one client's reports across rounds in the table (whoever holds the file and guesses
an id can still recompute its tag).

Examples
--------
>>> import os, tempfile
>>> from privet.ldp.service_collections import Row
>>> path = os.path.join(tempfile.mkdtemp(), "reports.sqlite")
>>> with ReportStore(path, config={"mechanism": "grr", "epsilon": 1.0, "domain_size": 4}) as s:
...     _ = s.open_round("r1")
...     s.insert([("r1", "alice", Row(value=2)), ("r1", "alice", Row(value=3))])
[True, False]
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from privet.core.checks import check_timeout
from privet.core.errors import ParameterError, ParameterTypeError
from privet.core.random import SecureRandom
from privet.ldp.service_collections import REASONS, Row, StoredRows

__all__ = ["ReportStore"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (name TEXT PRIMARY KEY, opened REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
    round TEXT NOT NULL, tag BLOB NOT NULL, cohort INTEGER, value INTEGER, seeds BLOB,
    bits BLOB, received REAL NOT NULL, PRIMARY KEY (round, tag)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejections (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""
_MAX_ROUND: Final = 64


def check_round(name: object) -> str:
    """Return a round name: 1 to 64 printable characters."""
    if not isinstance(name, str) or not 1 <= len(name) <= _MAX_ROUND or not name.isprintable():
        raise ParameterError(f"a round name must be 1 to {_MAX_ROUND} printable characters")
    return name


class ReportStore:
    """The reports of one collection, in a SQLite file shared by the service's threads.

    Parameters
    ----------
    path
        The file; created (mode 0600) if missing.
    config
        The collection's config. A new file records it; an existing file must hold the
        same one (or pass ``None`` to use the stored one).
    timeout
        Seconds to wait for another writer.

    Raises
    ------
    ParameterError
        If the file holds another collection, or no collection when ``config`` is None.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        config: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not isinstance(path, str | os.PathLike):
            raise ParameterTypeError(f"path must be a str or a path, got {type(path).__name__}")
        self._path = Path(path)
        wait = check_timeout(timeout, name="timeout")
        if not self._path.exists() and config is not None:
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self._path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        elif not self._path.exists():
            raise ParameterError(f"no report database at {self._path}; check the --db path")
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(
                self._path, timeout=wait, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if "config" not in stored:
                if config is None:
                    conn.execute("ROLLBACK")
                    raise ParameterError(f"{self._path} holds no collection; serve one first")
                conn.execute(
                    "INSERT INTO meta VALUES ('config', ?)",
                    (json.dumps(dict(config), sort_keys=True),),
                )
                conn.execute(
                    "INSERT INTO meta VALUES ('tag_key', ?)", (SecureRandom().bytes(32).hex(),)
                )
                stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise ParameterError(
                f"{self._path} is not a usable report database ({exc}); pass another --db"
            ) from None
        self._config: dict[str, Any] = json.loads(stored["config"])
        if config is not None and json.loads(json.dumps(dict(config))) != self._config:
            conn.close()
            raise ParameterError(
                f"{self._path} holds another collection ({self._config.get('mechanism')!r} "
                "with other parameters); use a new --db per collection"
            )
        self._key = bytes.fromhex(stored["tag_key"])
        self._conn: sqlite3.Connection | None = conn

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def config(self) -> dict[str, Any]:
        """The collection's config, as stored."""
        return dict(self._config)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ParameterError("this report store is closed")
        return self._conn

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ReportStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _tag(self, round_name: str, client: str) -> bytes:
        msg = round_name.encode() + b"\x00" + client.encode()
        return hmac.new(self._key, msg, hashlib.sha256).digest()[:16]

    # -- rounds ----------------------------------------------------------------------------

    def open_round(self, name: str) -> bool:
        """Open a round; return False if it was open already (nothing is charged here)."""
        rnd = check_round(name)
        with self._write() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO rounds VALUES (?, ?)", (rnd, time.time()))
            return cur.rowcount == 1

    def rounds(self) -> list[str]:
        """Return the open rounds, oldest first."""
        with self._lock:
            rows = self._db().execute("SELECT name FROM rounds ORDER BY opened, name")
            return [str(r[0]) for r in rows]

    def is_open(self, name: str) -> bool:
        """Whether round ``name`` is open."""
        with self._lock:
            row = self._db().execute("SELECT 1 FROM rounds WHERE name=?", (name,)).fetchone()
            return row is not None

    # -- reports ---------------------------------------------------------------------------

    def insert(self, items: Sequence[tuple[str, str, Row]]) -> list[bool]:
        """Store (round, client, row) reports in one transaction; False marks a duplicate.

        A client reporting twice in one round (already stored, or twice in ``items``) keeps
        its first report; each duplicate is counted as a rejection.
        """
        now = time.time()
        out: list[bool] = []
        with self._write() as conn:
            for round_name, client, row in items:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        round_name,
                        self._tag(round_name, client),
                        row.cohort,
                        row.value,
                        None if row.seeds is None else np.array(row.seeds, "<i8").tobytes(),
                        row.bits,
                        now,
                    ),
                )
                out.append(cur.rowcount == 1)
            dupes = out.count(False)
            if dupes:
                self._count(conn, "duplicate", dupes)
        return out

    def reject(self, reason: str, count: int = 1) -> None:
        """Count ``count`` rejections for ``reason``.

        Committed without an fsync (``synchronous=NORMAL``: it survives a crash of the
        service, not a power cut), so that a flood of bad requests cannot make the disk the
        bottleneck; accepted reports are always fsynced.
        """
        if reason not in REASONS:
            raise ParameterError(f"unknown rejection reason {reason!r}")
        with self._lock:
            conn = self._db()
            conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._write() as tx:
                    self._count(tx, reason, count)
            finally:
                conn.execute("PRAGMA synchronous=FULL")

    @staticmethod
    def _count(conn: sqlite3.Connection, reason: str, count: int) -> None:
        conn.execute(
            "INSERT INTO rejections VALUES (?, ?) "
            "ON CONFLICT(reason) DO UPDATE SET count = count + excluded.count",
            (reason, count),
        )

    def stats(self) -> dict[str, Any]:
        """Return the accepted reports per round and the rejections per reason."""
        with self._lock:
            db = self._db()
            accepted = {
                str(r): int(n)
                for r, n in db.execute("SELECT round, COUNT(*) FROM reports GROUP BY round")
            }
            rejected = {
                str(r): int(n) for r, n in db.execute("SELECT reason, count FROM rejections")
            }
        for name in self.rounds():
            accepted.setdefault(name, 0)
        return {
            "accepted": accepted,
            "accepted_total": sum(accepted.values()),
            "rejected": rejected,
            "rejected_total": sum(rejected.values()),
        }

    def load(self, round_name: str | None = None, *, width: int = 0) -> StoredRows:
        """Return the stored reports of one round (or all) as arrays.

        Parameters
        ----------
        round_name
            The round (``None``: every round).
        width
            Bits per report (to unpack ``bits``; 0 when reports carry none).
        """
        sql = "SELECT cohort, value, seeds, bits FROM reports"
        args: tuple[str, ...] = ()
        if round_name is not None:
            sql += " WHERE round=?"
            args = (round_name,)
        with self._lock:
            rows = self._db().execute(sql, args).fetchall()
        n = len(rows)
        cohort = np.array([-1 if r[0] is None else r[0] for r in rows], dtype=np.int64)
        value = np.array([-1 if r[1] is None else r[1] for r in rows], dtype=np.int64)
        blobs = [bytes(r[2]) for r in rows if r[2] is not None]
        if blobs and len(blobs) != n:
            raise ParameterError("some stored reports lack seeds; the database is damaged")
        seeds = np.zeros((n, 0), dtype=np.int64)
        if blobs:
            seeds = np.frombuffer(b"".join(blobs), dtype="<i8").astype(np.int64).reshape(n, -1)
        bits = np.zeros((n, width), dtype=np.uint8)
        if width and n:
            packed = np.frombuffer(b"".join(bytes(r[3]) for r in rows), dtype=np.uint8)
            bits = np.unpackbits(packed.reshape(n, -1), axis=1)[:, :width]
        return StoredRows(cohort.reshape(n), value.reshape(n), seeds, bits)

    def __repr__(self) -> str:
        return f"ReportStore({str(self._path)!r}, mechanism={self._config.get('mechanism')!r})"
