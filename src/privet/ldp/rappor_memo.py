"""Client-side memo of RAPPOR cohorts and permanent randomized responses.

RAPPOR's longitudinal guarantee (Erlingsson et al. 2014, Section 2 step 2 and Theorem 1)
holds only if a client draws its permanent randomized response ``B'`` for a value **once**
and reuses it for every later report on that value. A memo remembers, per collection (the
:attr:`~privet.ldp.Rappor.fingerprint` of its parameters) and per client:

* the client's cohort, drawn uniformly once;
* one ``B'`` per distinct value, drawn from the CSPRNG once.

:class:`MemoryPrrMemo` lives in memory (simulations, one process); :class:`SqlitePrrMemo`
persists to a SQLite file (WAL) so that a restarted client keeps its responses. Both run the
whole look-up, charge and draw of one call in one transaction, so two threads or processes
asking for the same (client, value) get the same ``B'``.

Values are stored only as keyed BLAKE2b digests (the key is random per memo and kept in it);
the file still holds the permanent responses, which reveal about as much as ε∞ allows, so
protect it like the values themselves (it is created with mode 0600).

Examples
--------
>>> from privet.core import SecureRandom
>>> from privet.ldp.rappor import Rappor
>>> r = Rappor(num_bloombits=16, num_hashes=2, num_cohorts=4, f=0.5, p=0.25, q=0.75)
>>> memo = MemoryPrrMemo()
>>> cohorts, prr = memo.resolve(r, ["alice"], [b"x"], rng=SecureRandom.seeded(3))
>>> again = memo.resolve(r, ["alice"], [b"x"], rng=SecureRandom.seeded(4))
>>> bool((prr == again[1]).all()) and int(cohorts[0]) == int(again[0][0])
True
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.checks import check_timeout
from privet.core.errors import ParameterError, ParameterTypeError
from privet.core.random import SecureRandom, resolve_rng
from privet.ldp.rappor import as_value_bytes

if TYPE_CHECKING:
    from privet.ldp.rappor import Rappor
    from privet.store import Budget

__all__ = ["MemoryPrrMemo", "PrrMemo", "SqlitePrrMemo", "check_client_ids"]

_MAX_ID: Final = 256
_IN_CHUNK: Final = 400


def check_client_ids(clients: object, *, n: int) -> list[str]:
    """Return ``n`` client ids as non-empty strings (``int`` ids are converted).

    Examples
    --------
    >>> check_client_ids([1, "b"], n=2)
    ['1', 'b']
    """
    if isinstance(clients, str | bytes) or not isinstance(clients, Sequence | np.ndarray):
        raise ParameterTypeError(
            f"clients must be a sequence of ids (one per value), got {type(clients).__name__}"
        )
    out: list[str] = []
    for i, c in enumerate(clients):
        if isinstance(c, bool) or not isinstance(c, str | int | np.integer):
            raise ParameterTypeError(f"clients[{i}] must be a str or int id")
        text = str(int(c)) if not isinstance(c, str) else c
        if not text or len(text) > _MAX_ID:
            raise ParameterError(f"clients[{i}] must be 1 to {_MAX_ID} characters long")
        out.append(text)
    if len(out) != n:
        raise ParameterError(f"clients must hold {n} ids (one per value), got {len(out)}")
    return out


def _unpack(rows: list[bytes], k: int) -> NDArray[np.uint8]:
    """Unpack equal-length packed rows into an ``(n, k)`` 0/1 matrix, in one numpy call."""
    if not rows:
        return np.zeros((0, k), dtype=np.uint8)
    packed = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), -1)
    return np.unpackbits(packed, axis=1)[:, :k]


class PrrMemo(abc.ABC):
    """A store of each client's cohort and memoised permanent randomized responses.

    Subclasses provide a transaction and four look-up/insert primitives; :meth:`resolve`
    is the one algorithm every memo shares.
    """

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def _digest(self, value: bytes) -> bytes:
        return hashlib.blake2b(value, key=self._salt, digest_size=16).digest()

    @abc.abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        """Hold the memo exclusively for one call."""

    @abc.abstractmethod
    def _get_cohorts(self, collection: str, clients: list[str]) -> dict[str, int]:
        """Return the known cohorts of ``clients``."""

    @abc.abstractmethod
    def _put_cohorts(self, collection: str, items: dict[str, int]) -> None:
        """Record new clients' cohorts."""

    @abc.abstractmethod
    def _get_prrs(self, collection: str, clients: list[str]) -> dict[tuple[str, bytes], bytes]:
        """Return every memoised (client, digest) → packed B' of ``clients``."""

    @abc.abstractmethod
    def _put_prrs(self, collection: str, items: dict[tuple[str, bytes], bytes]) -> None:
        """Record new packed permanent responses."""

    def resolve(
        self,
        rappor: Rappor,
        clients: Sequence[str | int],
        values: Sequence[str | bytes],
        *,
        rng: SecureRandom | None = None,
        budget: Budget | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
        """Return the cohorts and permanent responses ``B'`` of (client, value) pairs.

        Known pairs reuse their memoised ``B'``; new pairs (and new clients' cohorts) are
        drawn from ``rng`` once and memoised. If any pair is new and a ``budget`` is given,
        ``rappor.event`` (ε∞) is charged first; a refusal draws and stores nothing.

        Parameters
        ----------
        rappor
            The mechanism (its fingerprint names the collection in the memo).
        clients, values
            ``n`` client ids and ``n`` values.
        rng
            The generator (``None``: a fresh OS-keyed one).
        budget
            The client population's budget.

        Returns
        -------
        tuple of numpy.ndarray
            ``int64`` cohorts of shape ``(n,)`` and ``uint8`` ``B'`` of shape ``(n, k)``.
        """
        raw = as_value_bytes(values)
        ids = check_client_ids(clients, n=len(raw))
        gen = resolve_rng(rng)
        k = rappor.num_bloombits
        fp = rappor.fingerprint
        digests: dict[bytes, bytes] = {}
        for v in raw:
            if v not in digests:
                digests[v] = self._digest(v)
        pairs = [(c, digests[v]) for c, v in zip(ids, raw, strict=True)]
        uniq_clients = list(dict.fromkeys(ids))
        with self._transaction():
            cohorts = self._get_cohorts(fp, uniq_clients)
            prrs = self._get_prrs(fp, uniq_clients)
            new_pairs: dict[tuple[str, bytes], bytes] = {}
            for pair, v in zip(pairs, raw, strict=True):
                if pair not in prrs:
                    new_pairs.setdefault(pair, v)
            if new_pairs:
                if budget is not None:
                    budget.charge(
                        rappor.event,
                        label=f"rappor: {len(new_pairs)} new permanent responses",
                    )
                new_clients = [c for c in uniq_clients if c not in cohorts]
                if new_clients:
                    drawn = gen.integers(len(new_clients), low=0, high=rappor.num_cohorts)
                    fresh = dict(zip(new_clients, drawn.tolist(), strict=True))
                    self._put_cohorts(fp, fresh)
                    cohorts.update(fresh)
                keys = list(new_pairs)
                coh = np.array([cohorts[c] for c, _ in keys], dtype=np.int64)
                prr = rappor.permanent(rappor.bloom(list(new_pairs.values()), coh), rng=gen)
                packed = {
                    key: np.packbits(row).tobytes() for key, row in zip(keys, prr, strict=True)
                }
                self._put_prrs(fp, packed)
                prrs.update(packed)
        out_coh = np.array([cohorts[c] for c in ids], dtype=np.int64)
        return out_coh, _unpack([prrs[pair] for pair in pairs], k)

    def permanent(
        self, rappor: Rappor, clients: Sequence[str | int], values: Sequence[str | bytes]
    ) -> NDArray[np.uint8]:
        """Return the memoised ``B'`` of (client, value) pairs, drawing nothing.

        Raises
        ------
        ParameterError
            If some pair has no memoised response yet.
        """
        raw = as_value_bytes(values)
        ids = check_client_ids(clients, n=len(raw))
        with self._transaction():
            prrs = self._get_prrs(rappor.fingerprint, list(dict.fromkeys(ids)))
        rows = []
        for i, (c, v) in enumerate(zip(ids, raw, strict=True)):
            packed = prrs.get((c, self._digest(v)))
            if packed is None:
                raise ParameterError(f"no memoised response for clients[{i}] and its value")
            rows.append(packed)
        return _unpack(rows, rappor.num_bloombits)


class MemoryPrrMemo(PrrMemo):
    """A memo in memory: for simulations and for one process's lifetime.

    Examples
    --------
    >>> MemoryPrrMemo()
    MemoryPrrMemo(collections=0)
    """

    def __init__(self) -> None:
        super().__init__(SecureRandom().bytes(32))
        self._lock = threading.RLock()
        self._cohorts: dict[str, dict[str, int]] = {}
        self._prrs: dict[str, dict[str, dict[bytes, bytes]]] = {}

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            yield

    def _get_cohorts(self, collection: str, clients: list[str]) -> dict[str, int]:
        known = self._cohorts.get(collection, {})
        return {c: known[c] for c in clients if c in known}

    def _put_cohorts(self, collection: str, items: dict[str, int]) -> None:
        self._cohorts.setdefault(collection, {}).update(items)

    def _get_prrs(self, collection: str, clients: list[str]) -> dict[tuple[str, bytes], bytes]:
        known = self._prrs.get(collection, {})
        out: dict[tuple[str, bytes], bytes] = {}
        for c in clients:
            for d, b in known.get(c, {}).items():
                out[(c, d)] = b
        return out

    def _put_prrs(self, collection: str, items: dict[tuple[str, bytes], bytes]) -> None:
        store = self._prrs.setdefault(collection, {})
        for (c, d), b in items.items():
            store.setdefault(c, {})[d] = b

    def __repr__(self) -> str:
        return f"MemoryPrrMemo(collections={len(self._prrs)})"


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS memo_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS memo_cohort (
    collection TEXT NOT NULL, client TEXT NOT NULL, cohort INTEGER NOT NULL,
    PRIMARY KEY (collection, client));
CREATE TABLE IF NOT EXISTS memo_prr (
    collection TEXT NOT NULL, client TEXT NOT NULL, digest BLOB NOT NULL, prr BLOB NOT NULL,
    PRIMARY KEY (collection, client, digest));
"""


class SqlitePrrMemo(PrrMemo):
    """A memo persisted in a SQLite file (WAL), shared safely by threads and processes.

    Parameters
    ----------
    path
        The memo file; created (mode 0600) if missing.
    timeout
        Seconds to wait for another writer.

    Examples
    --------
    >>> import os, tempfile
    >>> from privet.ldp.rappor import Rappor
    >>> r = Rappor(num_bloombits=8, num_hashes=1, num_cohorts=2, f=0.5, p=0.25, q=0.75)
    >>> path = os.path.join(tempfile.mkdtemp(), "memo.sqlite")
    >>> with SqlitePrrMemo(path) as memo:
    ...     first = memo.resolve(r, ["c"], ["v"])[1]
    >>> with SqlitePrrMemo(path) as memo:
    ...     bool((memo.permanent(r, ["c"], ["v"]) == first).all())
    True
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        if not isinstance(path, str | os.PathLike):
            raise ParameterTypeError(f"path must be a str or a path, got {type(path).__name__}")
        self._path = Path(path)
        wait = check_timeout(timeout, name="timeout")
        if not self._path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self._path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        self._lock = threading.RLock()
        deadline = time.monotonic() + wait
        while True:
            try:
                conn, salt = self._open(wait)
                break
            except sqlite3.OperationalError as exc:
                # Several openers of a new file race for the WAL switch, which SQLite answers
                # with "locked" without waiting: retry until the timeout.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise ParameterError(
                        f"{self._path} is not a usable RAPPOR memo ({exc}); pass another path"
                    ) from None
                time.sleep(0.01)
            except sqlite3.DatabaseError as exc:
                raise ParameterError(
                    f"{self._path} is not a usable RAPPOR memo ({exc}); pass another path"
                ) from None
        super().__init__(salt)
        self._conn: sqlite3.Connection | None = conn

    def _open(self, wait: float) -> tuple[sqlite3.Connection, bytes]:
        """Connect, set up the schema and read (or create) the salt, in one transaction."""
        conn = sqlite3.connect(
            self._path, timeout=wait, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT value FROM memo_meta WHERE key='salt'").fetchone()
            if row is None:
                salt = SecureRandom().bytes(32)
                conn.execute("INSERT INTO memo_meta VALUES ('salt', ?)", (salt,))
            else:
                salt = bytes(row[0])
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return conn, salt

    @property
    def path(self) -> Path:
        """The memo file."""
        return self._path

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ParameterError("this memo is closed; open a new SqlitePrrMemo")
        return self._conn

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqlitePrrMemo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _chunks(self, clients: list[str]) -> Iterator[list[str]]:
        for lo in range(0, len(clients), _IN_CHUNK):
            yield clients[lo : lo + _IN_CHUNK]

    def _get_cohorts(self, collection: str, clients: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in self._chunks(clients):
            marks = ",".join("?" * len(chunk))
            rows = self._db().execute(
                "SELECT client, cohort FROM memo_cohort WHERE collection=? "  # noqa: S608
                f"AND client IN ({marks})",
                (collection, *chunk),
            )
            out.update({str(c): int(j) for c, j in rows})
        return out

    def _put_cohorts(self, collection: str, items: dict[str, int]) -> None:
        self._db().executemany(
            "INSERT INTO memo_cohort VALUES (?, ?, ?)",
            [(collection, c, j) for c, j in items.items()],
        )

    def _get_prrs(self, collection: str, clients: list[str]) -> dict[tuple[str, bytes], bytes]:
        out: dict[tuple[str, bytes], bytes] = {}
        for chunk in self._chunks(clients):
            marks = ",".join("?" * len(chunk))
            rows = self._db().execute(
                "SELECT client, digest, prr FROM memo_prr WHERE collection=? "  # noqa: S608
                f"AND client IN ({marks})",
                (collection, *chunk),
            )
            out.update({(str(c), bytes(d)): bytes(b) for c, d, b in rows})
        return out

    def _put_prrs(self, collection: str, items: dict[tuple[str, bytes], bytes]) -> None:
        self._db().executemany(
            "INSERT INTO memo_prr VALUES (?, ?, ?, ?)",
            [(collection, c, d, b) for (c, d), b in items.items()],
        )

    def __repr__(self) -> str:
        return f"SqlitePrrMemo({str(self._path)!r})"
