"""The LDP collection service: an HTTP(S) server that validates and stores reports.

Endpoints (JSON bodies both ways; nothing is ever unpickled):

* ``GET /config``: the collection's mechanism and parameters, the open rounds and limits;
* ``POST /report``: one report → 200 ``{"accepted": 1}`` or 400
  ``{"error": reason, "message": ...}``;
* ``POST /reports``: ``{"reports": [...]}`` → 200 ``{"accepted": n, "rejected": [{"index",
  "error", "message"}]}`` (400 if the envelope itself is bad);
* ``GET /stats``: accepted reports per round, rejections per reason;
* ``GET /health``.

Robustness: every connection has a socket timeout (``timeout``) and a lifetime
(``max_connection_seconds``); at most ``max_connections`` are served at once; a body must
declare its ``Content-Length`` and stay under ``max_body_bytes``; any unexpected failure
answers 500 ``internal_error`` and the service keeps running. TLS (``tls_cert`` +
``tls_key``) is negotiated in the connection's own thread, so a slow handshake blocks nobody
else; ``tls_ca`` requires client certificates signed by that CA (mutual TLS). Binding to a
non-loopback address without TLS is refused unless ``allow_plaintext=True``.

Rounds are opened before clients report (:meth:`LdpService.open_round`); a round's
``collection.event`` is charged to the population's budget when it is opened, before any
client of that round randomizes (charge before noise). Reports for rounds that are not open
are refused.

Examples
--------
>>> import os, tempfile, json, urllib.request
>>> from privet.ldp.rappor import Rappor
>>> from privet.ldp.service_collections import RapporCollection
>>> coll = RapporCollection(Rappor(num_bloombits=4, num_hashes=1, num_cohorts=2,
...                                f=0.5, p=0.25, q=0.75))
>>> db = os.path.join(tempfile.mkdtemp(), "reports.sqlite")
>>> with LdpService(coll, db, rounds=["r1"]) as svc:
...     with urllib.request.urlopen(svc.url + "/config", timeout=10) as resp:
...         json.load(resp)["rounds"]
['r1']
"""

from __future__ import annotations

import os
import ssl
import threading
from collections import Counter
from collections.abc import Sequence
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any, Final

from privet.core.checks import check_int, check_positive, check_timeout
from privet.core.errors import ParameterError, ParameterTypeError, SecurityError, TransportError
from privet.ldp.service_collections import Collection, Rejection, Row
from privet.ldp.service_http import _Server
from privet.ldp.service_store import ReportStore, check_round

if TYPE_CHECKING:
    from privet.store import Budget

__all__ = ["LdpService"]


_MAX_CLIENT: Final = 256


def _common(item: Any) -> tuple[str, str] | Rejection:
    """Check a report's ``client`` and ``round`` fields."""
    if not isinstance(item, dict):
        return Rejection("bad_envelope", "a report must be a JSON object")
    client = item.get("client")
    if not isinstance(client, str) or not 1 <= len(client) <= _MAX_CLIENT:
        return Rejection("bad_client", f"'client' must be a string of 1 to {_MAX_CLIENT} chars")
    rnd = item.get("round")
    if not isinstance(rnd, str):
        return Rejection("missing_field", "the report lacks a string 'round'")
    return client, rnd


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class LdpService:
    """An LDP collection served over HTTP(S), stored durably in SQLite.

    Parameters
    ----------
    collection
        The mechanism and its parameters (:class:`~privet.ldp.service_collections.Collection`).
    db
        The report database (:class:`~privet.ldp.service_store.ReportStore`); reopening it
        after a restart keeps every acknowledged report.
    host, port
        Where to listen; loopback and an ephemeral port by default.
    rounds
        Rounds to open at start (charged to ``budget`` if new).
    budget
        The client population's budget (:class:`privet.store.Budget`), charged
        ``collection.event`` for each newly opened round.
    max_body_bytes, max_batch, max_connections
        Limits on one body, on reports per batch, and on simultaneous connections.
    timeout
        Seconds every socket operation may wait.
    max_connection_seconds
        The longest a connection may stay open (it is then shut down): a client trickling
        bytes cannot hold a slot forever.
    tls_cert, tls_key, tls_ca
        PEM files: the server's certificate and key (TLS), and a CA whose client
        certificates are required (mutual TLS).
    allow_plaintext
        Allow a non-loopback ``host`` without TLS.
    """

    def __init__(
        self,
        collection: Collection,
        db: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rounds: Sequence[str] = (),
        budget: Budget | None = None,
        max_body_bytes: int = 1 << 20,
        max_batch: int = 10_000,
        max_connections: int = 64,
        timeout: float = 10.0,
        max_connection_seconds: float = 120.0,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        allow_plaintext: bool = False,
    ) -> None:
        if not isinstance(collection, Collection):
            raise ParameterTypeError(
                f"collection must be a privet.ldp Collection, got {type(collection).__name__}"
            )
        self.collection = collection
        self.max_body_bytes = check_int(max_body_bytes, name="max_body_bytes", minimum=64)
        self.max_batch = check_int(max_batch, name="max_batch", minimum=1)
        self.max_connections = check_int(max_connections, name="max_connections", minimum=1)
        self.timeout = check_timeout(timeout, name="timeout")
        self.max_connection_seconds = check_positive(
            max_connection_seconds, name="max_connection_seconds"
        )
        self.ssl_context = self._tls(tls_cert, tls_key, tls_ca)
        if self.ssl_context is None and not _is_loopback(host) and not allow_plaintext:
            raise SecurityError(
                f"serving on {host!r} without TLS would send reports in clear; pass "
                "tls_cert/tls_key (--tls-cert/--tls-key), or allow_plaintext=True (--insecure)"
            )
        self._budget = budget
        names = [check_round(r) for r in rounds]
        self.store = ReportStore(db, config=collection.config())
        try:
            self._server = _Server(self, (host, check_int(port, name="port")))
        except OSError as exc:
            self.store.close()
            raise TransportError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self._thread: threading.Thread | None = None
        try:  # rounds are opened (and charged) only once the service can listen
            for name in names:
                self.open_round(name)
        except BaseException:
            self._server.server_close()
            self.store.close()
            raise

    @staticmethod
    def _tls(
        cert: str | os.PathLike[str] | None,
        key: str | os.PathLike[str] | None,
        ca: str | os.PathLike[str] | None,
    ) -> ssl.SSLContext | None:
        if cert is None and key is None:
            if ca is not None:
                raise ParameterError("tls_ca needs tls_cert and tls_key (mutual TLS is TLS)")
            return None
        if cert is None or key is None:
            raise ParameterError("TLS needs both tls_cert and tls_key")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(os.fspath(cert), os.fspath(key))
            if ca is not None:
                ctx.load_verify_locations(cafile=os.fspath(ca))
                ctx.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise ParameterError(f"cannot load the TLS files: {exc}") from None
        return ctx

    # -- rounds and reports ----------------------------------------------------------------

    def open_round(self, name: str) -> bool:
        """Open round ``name``, charging ``collection.event`` first; False if already open.

        Raises
        ------
        BudgetExceededError
            If the budget cannot afford another round (the round stays closed).
        """
        rnd = check_round(name)
        if self.store.is_open(rnd):
            return False
        if self._budget is not None:
            self._budget.charge(self.collection.event, label=f"ldp round {rnd!r}")
        return self.store.open_round(rnd)

    def public_config(self) -> dict[str, Any]:
        """Return what ``GET /config`` serves."""
        return {
            "collection": self.collection.config(),
            "rounds": self.store.rounds(),
            "max_body_bytes": self.max_body_bytes,
            "max_batch": self.max_batch,
        }

    def accept(self, items: Sequence[Any]) -> tuple[int, list[tuple[int, Rejection]]]:
        """Validate and store reports; return the accepted count and the rejections.

        Rejections are counted by reason (``/stats``). Never raises for bad reports.
        """
        rejected: list[tuple[int, Rejection]] = []
        good: list[tuple[int, tuple[str, str, Row]]] = []
        open_rounds = set(self.store.rounds())
        for i, item in enumerate(items):
            common = _common(item)
            if isinstance(common, Rejection):
                rejected.append((i, common))
                continue
            client, rnd = common
            if rnd not in open_rounds:
                rejected.append((i, Rejection("unknown_round", "that round is not open")))
                continue
            parsed = self.collection.parse(item)
            if isinstance(parsed, Rejection):
                rejected.append((i, parsed))
                continue
            good.append((i, (rnd, client, parsed)))
        counts = Counter(r.reason for _, r in rejected)
        for reason, n in counts.items():
            self.store.reject(reason, n)
        stored = self.store.insert([row for _, row in good]) if good else []
        for (i, _), ok in zip(good, stored, strict=True):
            if not ok:  # counted by the store
                rejected.append(
                    (i, Rejection("duplicate", "this client already reported in this round"))
                )
        rejected.sort(key=lambda x: x[0])
        return stored.count(True), rejected

    # -- lifetime --------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The service's base URL, e.g. ``http://127.0.0.1:8080``."""
        host, port = self.address
        scheme = "https" if self.ssl_context is not None else "http"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (from another thread) or KeyboardInterrupt."""
        reaper = threading.Thread(
            target=self._server.reap_forever, name="privet-ldp-reaper", daemon=True
        )
        reaper.start()
        try:
            self._server.serve_forever(poll_interval=0.25)
        finally:
            self._server.reaper_stop.set()
            reaper.join(timeout=self.timeout)

    def start(self) -> LdpService:
        """Serve in a background thread; return self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever, name="privet-ldp-service", daemon=True
            )
            self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving, close the socket and the database (idempotent)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=self.timeout)
            self._thread = None
        self._server.server_close()
        self.store.close()

    def __enter__(self) -> LdpService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"LdpService({self.collection.name!r}, url={self.url!r})"
