"""The Python client of an LDP collection service: randomize locally, then send.

:class:`LdpClient` reads the collection's mechanism from ``GET /config``, randomizes each
value **on the client** (the server only ever sees LDP reports), and posts them in batches
to ``POST /reports``. Every request has a timeout; responses are JSON (never unpickled).
For RAPPOR the client keeps a memo of permanent randomized responses
(:mod:`privet.ldp.rappor_memo`): in memory by default, or a :class:`SqlitePrrMemo` file so
that a restarted client reuses them (without it, a client that restarts draws a new
permanent response and its lifetime bound ε∞ no longer holds across restarts).

Examples
--------
>>> import os, tempfile
>>> from privet.core import SecureRandom
>>> from privet.ldp.rappor import Rappor
>>> from privet.ldp.service_collections import RapporCollection
>>> from privet.ldp.service import LdpService
>>> coll = RapporCollection(Rappor(num_bloombits=8, num_hashes=2, num_cohorts=2,
...                                f=0.5, p=0.25, q=0.75))
>>> db = os.path.join(tempfile.mkdtemp(), "reports.sqlite")
>>> with LdpService(coll, db, rounds=["r1"]) as svc:
...     client = LdpClient(svc.url)
...     result = client.submit(["a", "b"], clients=["u1", "u2"], round="r1",
...                            rng=SecureRandom.seeded(0))
...     result.accepted, client.stats()["accepted"]
(2, {'r1': 2})
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from privet.core.checks import check_int, check_timeout
from privet.core.errors import (
    ParameterError,
    PeerTimeoutError,
    ProtocolError,
    TransportError,
)
from privet.core.random import SecureRandom, resolve_rng
from privet.ldp.rappor_memo import MemoryPrrMemo, PrrMemo, check_client_ids
from privet.ldp.service_collections import Collection, collection_from_config

if TYPE_CHECKING:
    from privet.store import Budget

__all__ = ["LdpClient", "SubmitResult"]

_MAX_RESPONSE: Final = 8 << 20


@dataclasses.dataclass(frozen=True)
class SubmitResult:
    """What the service did with submitted reports.

    ``rejected`` lists ``(index, reason, message)`` for each refused report, ``index``
    counting from 0 over the whole submission.
    """

    accepted: int
    rejected: tuple[tuple[int, str, str], ...]


class LdpClient:
    """A client of a privet LDP collection service.

    Parameters
    ----------
    url
        The service's base URL (``http://`` or ``https://``).
    timeout
        Seconds each request may take (connect, send, receive).
    tls_ca
        A PEM CA file to verify the server with (default: the system's trust store).
    tls_cert, tls_key
        The client's certificate and key, for a service requiring mutual TLS.
    memo
        The RAPPOR memo (default: one in memory for this client's lifetime).
    batch_size
        Reports per request.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        memo: PrrMemo | None = None,
        batch_size: int = 1000,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ParameterError(
                f"url must look like http://host:port or https://host:port, got {url!r}"
            )
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._timeout = check_timeout(timeout, name="timeout")
        self._batch = check_int(batch_size, name="batch_size", minimum=1)
        self._memo = memo if memo is not None else MemoryPrrMemo()
        self._ctx: ssl.SSLContext | None = None
        if self._https:
            try:
                self._ctx = ssl.create_default_context(
                    cafile=os.fspath(tls_ca) if tls_ca is not None else None
                )
                if tls_cert is not None or tls_key is not None:
                    if tls_cert is None or tls_key is None:
                        raise ParameterError("mutual TLS needs both tls_cert and tls_key")
                    self._ctx.load_cert_chain(os.fspath(tls_cert), os.fspath(tls_key))
            except (OSError, ssl.SSLError) as exc:
                raise ParameterError(f"cannot load the TLS files: {exc}") from None
        elif tls_ca is not None or tls_cert is not None:
            raise ParameterError("TLS files were given for an http:// url; use https://")
        self._config: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"{'https' if self._https else 'http'}://{self._host}:{self._port}"

    def __repr__(self) -> str:
        return f"LdpClient({self.url!r})"

    # -- HTTP ------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """Send one request; return the status and the JSON response.

        Raises
        ------
        PeerTimeoutError
            If the service does not answer within the timeout.
        TransportError
            If the connection fails.
        ProtocolError
            If the response is not a JSON object.
        """
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._ctx
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read(_MAX_RESPONSE + 1)
            status = resp.status
        except TimeoutError:
            raise PeerTimeoutError(
                f"{self.url} did not answer {method} {path} within {self._timeout} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"{method} {self.url}{path} failed: {exc}") from None
        finally:
            conn.close()
        if len(raw) > _MAX_RESPONSE:
            raise ProtocolError(f"{self.url} sent a response over {_MAX_RESPONSE} bytes")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ProtocolError(f"{self.url}{path} answered {status} without JSON") from None
        if not isinstance(doc, dict):
            raise ProtocolError(f"{self.url}{path} answered {status} with a non-object")
        return status, doc

    def _ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, doc = self.request(method, path, body)
        if status != 200:
            raise ProtocolError(
                f"{method} {path} was refused ({status} {doc.get('error', '?')}): "
                f"{doc.get('message', '')}"
            )
        return doc

    # -- API -------------------------------------------------------------------------------

    def config(self, *, refresh: bool = False) -> dict[str, Any]:
        """Return the service's ``/config`` (cached; ``refresh=True`` asks again)."""
        if self._config is None or refresh:
            self._config = self._ok("GET", "/config")
        return self._config

    def collection(self) -> Collection:
        """Return the collection (mechanism and parameters) the service runs."""
        return collection_from_config(self.config()["collection"])

    def stats(self) -> dict[str, Any]:
        """Return the service's ``/stats``: accepted per round, rejected per reason."""
        return self._ok("GET", "/stats")

    def send(self, reports: Sequence[dict[str, Any]]) -> SubmitResult:
        """Post already-randomized wire reports (each with ``client`` and ``round``)."""
        accepted = 0
        rejected: list[tuple[int, str, str]] = []
        for lo in range(0, len(reports), self._batch):
            doc = self._ok("POST", "/reports", {"reports": list(reports[lo : lo + self._batch])})
            accepted += int(doc.get("accepted", 0))
            for r in doc.get("rejected", []):
                rejected.append((lo + int(r["index"]), str(r["error"]), str(r["message"])))
        return SubmitResult(accepted, tuple(rejected))

    def submit(
        self,
        values: Sequence[Any],
        *,
        clients: Sequence[str | int],
        round: str,
        rng: SecureRandom | None = None,
        budget: Budget | None = None,
    ) -> SubmitResult:
        """Randomize ``values`` locally with the service's mechanism, then send them.

        Parameters
        ----------
        values
            One value per client: strings for RAPPOR, integer codes in ``[0, d)`` for the
            frequency oracles.
        clients
            One id per value.
        round
            The collection round (it must be open on the service).
        rng
            The generator (``None``: a fresh OS-keyed one).
        budget
            A budget to charge before randomizing (see each mechanism's rule).

        Returns
        -------
        SubmitResult
            Accepted count and rejections.

        Raises
        ------
        ProtocolError
            If the round is not open (checked before anything is randomized or charged).
        """
        ids = check_client_ids(clients, n=len(values))
        if round not in self.config(refresh=True)["rounds"]:
            # Checked before randomizing: no privacy is spent on reports that would bounce.
            raise ProtocolError(
                f"round {round!r} is not open on {self.url}; open rounds: "
                f"{self.config()['rounds'][:10]}"
            )
        coll = self.collection()
        fields = coll.wire(
            values, clients=ids, memo=self._memo, rng=resolve_rng(rng), budget=budget
        )
        reports = [{"client": c, "round": round, **f} for c, f in zip(ids, fields, strict=True)]
        return self.send(reports)
