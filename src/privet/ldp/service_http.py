"""The HTTP side of the LDP collection service: the threaded server and its request handler.

:class:`~privet.ldp.service.LdpService` owns one ``_Server``. Each connection is served in
its own thread with a socket timeout and a lifetime (a reaper thread shuts down connections
older than ``max_connection_seconds``); at most ``max_connections`` run at once; TLS is
negotiated in the connection's own thread. The handler reads a body only after checking its
declared length, parses it as JSON (never anything else), hands reports to
:meth:`LdpService.accept <privet.ldp.service.LdpService.accept>`, and answers JSON. Any
unexpected failure answers 500 ``internal_error`` and the service keeps running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final

from privet.ldp.service_collections import Rejection

if TYPE_CHECKING:
    from privet.ldp.service import LdpService

__all__: list[str] = []  # internal: privet.ldp.service.LdpService is the API

log = logging.getLogger("privet.ldp.service")

_DRAIN_LIMIT: Final = 4 << 20


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON here")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, service: LdpService, address: tuple[str, int]) -> None:
        self.service = service
        self._slots = threading.BoundedSemaphore(service.max_connections)
        self._live: dict[int, tuple[float, Any]] = {}
        self._live_lock = threading.Lock()
        self.reaper_stop = threading.Event()
        super().__init__(address, _Handler)

    def _track(self, key: int, sock: Any, deadline: float) -> None:
        with self._live_lock:
            self._live[key] = (deadline, sock)

    def reap_forever(self) -> None:
        """Shut down connections older than ``max_connection_seconds`` (slow-loris guard)."""
        while not self.reaper_stop.wait(0.25):
            now = time.monotonic()
            with self._live_lock:
                expired = [sock for deadline, sock in self._live.values() if deadline < now]
            for sock in expired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(timeout=2 * self.service.timeout):
            log.warning("connection refused: %d connections busy", self.service.max_connections)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.service.timeout)
        key = id(request)
        deadline = time.monotonic() + self.service.max_connection_seconds
        self._track(key, request, deadline)
        try:
            ctx = self.service.ssl_context
            if ctx is None:
                self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]
                return
            try:
                tls = ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake failed: %s", type(exc).__name__)
                return
            self._track(key, tls, deadline)
            try:
                self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
            finally:
                tls.close()
        finally:
            with self._live_lock:
                self._live.pop(key, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("connection error", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "privet-ldp"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._send(code, {"error": "bad_request", "message": message or "bad request"})

    def _reject(self, rej: Rejection, *, status: int = 400) -> None:
        self.server.service.store.reject(rej.reason)
        self._send(status, {"error": rej.reason, "message": rej.message})

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except (TimeoutError, ConnectionError, ssl.SSLError):
            self.close_connection = True
        except Exception:
            log.exception("internal error while handling %s", self.path[:64])
            self.close_connection = True
            with contextlib.suppress(Exception):  # the connection may be gone already
                self._reject(
                    Rejection("internal_error", "the service failed; retry later"), status=500
                )

    def do_GET(self) -> None:
        self._guard(self._get)

    def do_POST(self) -> None:
        self._guard(self._post)

    def _get(self) -> None:
        svc = self.server.service
        if self.path == "/config":
            self._send(200, svc.public_config())
        elif self.path == "/stats":
            self._send(200, svc.store.stats())
        elif self.path == "/health":
            self._send(200, {"ok": True})
        else:
            self._reject(Rejection("unknown_endpoint", f"no GET {self.path[:64]}"), status=404)

    def _body(self) -> bytes | Rejection:
        svc = self.server.service
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return Rejection(
                "missing_length", "chunked bodies are not accepted; send Content-Length"
            )
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return Rejection("missing_length", "send a valid Content-Length header")
        if length > svc.max_body_bytes:
            self.close_connection = True
            if length <= _DRAIN_LIMIT:  # read it off the socket so the client sees our answer
                self.rfile.read(length)
            return Rejection(
                "body_too_large", f"the body has {length} bytes, the limit is {svc.max_body_bytes}"
            )
        return self.rfile.read(length)

    def _post(self) -> None:
        if self.path not in ("/report", "/reports"):
            self.close_connection = True
            self._reject(Rejection("unknown_endpoint", f"no POST {self.path[:64]}"), status=404)
            return
        body = self._body()
        if isinstance(body, Rejection):
            self._reject(body)
            return
        try:
            doc = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            self._reject(Rejection("malformed_json", "the body is not valid UTF-8 JSON"))
            return
        svc = self.server.service
        if self.path == "/report":
            accepted, rejected = svc.accept([doc])
            if rejected:
                _, rej = rejected[0]
                self._send(400, {"error": rej.reason, "message": rej.message})
            else:
                self._send(200, {"accepted": accepted})
            return
        items = doc.get("reports") if isinstance(doc, dict) else None
        if not isinstance(items, list) or len(items) > svc.max_batch:
            self._reject(
                Rejection(
                    "bad_envelope",
                    f'send {{"reports": [...]}} with at most {svc.max_batch} reports',
                )
            )
            return
        accepted, rejected = svc.accept(items)
        self._send(
            200,
            {
                "accepted": accepted,
                "rejected": [
                    {"index": i, "error": r.reason, "message": r.message} for i, r in rejected
                ],
            },
        )
