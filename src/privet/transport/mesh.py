"""The mutual-TLS :class:`~privet.core.channel.Channel`: every endpoint linked to every other.

:meth:`TlsChannel.open` builds the links of one endpoint (see
:class:`~privet.transport.config.NetworkConfig` for who connects to whom): it listens, connects
out with retries while the peers start, runs a TLS 1.3 handshake with a certificate required
on both sides, then exchanges ``HELLO`` frames that name the sender, the receiver, the
session and the network's shape. An accepted peer must hold a certificate whose
subjectAltName is the name of the id it claims; a peer that fails any check is refused (and
the refusal counted in :attr:`TlsChannel.refused`) while the real one may still connect.

After set-up every operation runs one *progress loop* in the calling thread: it waits on all
links at once, reads whatever arrives (so a peer that sends while we send never blocks) and
writes what is queued. Therefore

* every wait has a deadline: ``recv`` raises :class:`~privet.errors.PeerTimeoutError` after
  its timeout, ``send`` after the channel's timeout if a peer stops reading;
* a dead peer is noticed at once, whichever peer we were waiting for: the end of its stream
  (no ``BYE``) or an ``ABORT`` raises :class:`~privet.errors.TransportError`, and the channel
  stays broken, so every later call fails too. A party that fails sends ``ABORT`` to everyone
  (:meth:`TlsChannel.abort`), so the failure spreads to every endpoint within one wait. The
  exception are *optional* peers (``open(optional=...)``: clients on their own hosts): one
  that fails ends only its own link; what it sent before is still delivered, and only a
  later wait on it raises :class:`~privet.errors.TransportError`;
* a malformed frame raises :class:`~privet.errors.ProtocolError`; nothing is ever unpickled.

Examples
--------
Two endpoints in two threads of one process (the same code runs in separate processes or on
separate hosts)::

>>> import socket, tempfile, threading
>>> import numpy as np
>>> from privet.transport.certs import make_certificates
>>> creds = make_certificates(tempfile.mkdtemp() + "/c", ["party-0", "party-1"])
>>> listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
>>> ports = [s.getsockname()[1] for s in listeners]
>>> cfgs = [NetworkConfig.local(me=i, ports=ports, parties=2, dealer=False) for i in range(2)]
>>> chans = [None, None]
>>> def start(i):
...     chans[i] = TlsChannel.open(cfgs[i], creds[f"party-{i}"], listener=listeners[i])
>>> threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
>>> for t in threads: t.start()
>>> for t in threads: t.join()
>>> chans[1].send(0, [np.arange(3)], tag="x")
>>> chans[0].recv(1, tag="x")[0].tolist()
[0, 1, 2]
>>> for c in chans: c.close()
"""

from __future__ import annotations

import collections
import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.channel import ChannelStats, check_message, check_tag
from privet.core.checks import check_int, check_timeout
from privet.core.errors import (
    ParameterError,
    PeerTimeoutError,
    PrivetError,
    ProtocolError,
    SecurityError,
    TransportError,
)
from privet.transport.certs import Credentials
from privet.transport.config import NetworkConfig
from privet.transport.framing import VERSION, Frame, FrameKind, encode_frame
from privet.transport.peer import Link, read_frame, write_frame
from privet.transport.tls import check_peer_name, client_context, server_context

__all__ = ["TlsChannel"]

_HELLO_TAG: Final = "hello"
_HANDSHAKE_TIMEOUT: Final = 10.0
_MAX_PENDING: Final = 32
"""Incoming handshakes run at once during set-up; a new one beyond that cuts the oldest."""
_LINGER: Final = 2.0


def _ascii(text: str) -> str:
    """Return ``text`` as a valid tag: printable ASCII, 1..200 characters."""
    return "".join(c for c in text if c.isascii() and c.isprintable())[:200] or "aborted"


def _hello(config: NetworkConfig, to: int) -> list[memoryview]:
    """Encode the HELLO frame from this endpoint to ``to``."""
    shape = np.array(
        [VERSION, config.me, to, config.parties, int(config.dealer), len(config.endpoints)],
        dtype=np.int64,
    )
    session = np.frombuffer(config.session.encode("ascii"), dtype=np.uint8)
    return encode_frame(_HELLO_TAG, [shape, session], kind=FrameKind.HELLO)


def _check_hello(frame: Frame, config: NetworkConfig, *, frm: int | None, name: str) -> int:
    """Validate a HELLO; return the sender's id. ``frm``: the id we expect, if known."""
    if frame.kind is not FrameKind.HELLO or frame.tag != _HELLO_TAG or len(frame.arrays) != 2:
        raise ProtocolError(f"{name} did not open the link with a valid HELLO frame")
    shape, session = frame.arrays
    if shape.dtype != np.int64 or shape.shape != (6,) or session.dtype != np.uint8:
        raise ProtocolError(f"{name} sent a malformed HELLO frame")
    version, sender, receiver, parties, dealer, n = (int(v) for v in shape)
    if bytes(session.tobytes()) != config.session.encode("ascii"):
        raise SecurityError(
            f"{name} belongs to another session; refused (check 'session' in the configs)"
        )
    if (version, receiver, parties, dealer, n) != (
        VERSION,
        config.me,
        config.parties,
        int(config.dealer),
        len(config.endpoints),
    ):
        raise ProtocolError(
            f"{name} describes another network (version {version}, to {receiver}, "
            f"{parties} parties, dealer {bool(dealer)}, {n} endpoints); every endpoint must "
            "use the same configuration"
        )
    if frm is not None and sender != frm:
        raise SecurityError(f"{name} answered as endpoint {sender}, expected {frm}")
    return sender


class TlsChannel:
    """One endpoint of a mutual-TLS network (it implements :class:`~privet.core.channel.Channel`).

    Build it with :meth:`open`. Messages are framed raw array buffers
    (:mod:`privet.transport.framing`), sent without copying and received straight into fresh
    arrays. The channel is meant for one thread at a time (calls are serialised by a lock).

    Attributes
    ----------
    refused
        How many incoming connections were refused during set-up (bad certificate, wrong
        name, wrong session, garbage).
    """

    def __init__(
        self, config: NetworkConfig, links: dict[int, Link], *, optional: Iterable[int] = ()
    ) -> None:
        self._config = config
        self._links = links
        self._optional = _check_optional(config, optional)
        self._gone: dict[int, str] = {}  # optional peers that failed, with the reason
        self._names = [e.name for e in config.endpoints]
        self._stats = ChannelStats()
        self._self_inbox: collections.deque[tuple[str, list[NDArray[Any]]]] = collections.deque()
        self._broken: str | None = None
        self._closed = False
        self._lock = threading.RLock()
        self._sel = selectors.DefaultSelector()
        self._events: dict[int, int] = {}
        for peer, link in links.items():
            self._sel.register(link.sock, selectors.EVENT_READ, link)
            self._events[peer] = selectors.EVENT_READ
        self.refused = 0

    # -- set-up ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        config: NetworkConfig,
        credentials: Credentials,
        *,
        listener: socket.socket | None = None,
        optional: Iterable[int] = (),
    ) -> TlsChannel:
        """Connect this endpoint to every peer and return its channel.

        Parameters
        ----------
        config
            The network as this endpoint sees it.
        credentials
            This endpoint's certificate (its subjectAltName must be its endpoint name), key
            and the CA every peer must chain to.
        listener
            A bound, listening TCP socket to accept on (for example one made on port 0
            whose port was handed to the peers); by default one is created on the
            endpoint's address (``config.bind`` or its host). It is closed after set-up.
        optional
            Peers whose failure (a stream that ends without goodbye, an ``ABORT``, a broken
            frame) ends only their own link: a wait on them raises
            :class:`~privet.errors.TransportError`, and the channel goes on serving the
            others (input owners and recipients on their own hosts). They must connect at
            set-up like everyone else.

        Returns
        -------
        TlsChannel
            The channel, with every link up.

        Raises
        ------
        TransportError
            If a peer cannot be reached or does not connect within
            ``config.connect_timeout`` (the message lists them).
        SecurityError
            If a peer's certificate does not match its name.
        """
        if credentials.name != config.me_endpoint.name:
            raise ParameterError(
                f"credentials are for {credentials.name!r} but this endpoint is "
                f"{config.me_endpoint.name!r} (id {config.me}); pass its own certificate"
            )
        inbound = config.accepts_from()
        targets = config.connects_to()
        try:
            optional = _check_optional(config, optional)  # before any connection is made
            # Contexts first: a bad certificate or key fails here, with its file named.
            server_ctx = server_context(credentials) if inbound else None
            client_ctx = client_context(credentials) if targets else None
        except PrivetError:
            if listener is not None:
                listener.close()
            raise
        if server_ctx is not None and listener is None:
            me = config.me_endpoint
            try:
                listener = socket.create_server((config.bind or me.host or "", me.port or 0))
            except OSError as exc:
                raise TransportError(
                    f"cannot listen on {config.bind or me.host}:{me.port} ({exc.strerror}); "
                    "is the port in use?"
                ) from None
        deadline = time.monotonic() + config.connect_timeout
        setup = _SetUp(config, deadline, inbound)
        links, lock, stop = setup.links, setup.lock, setup.stop
        errors: list[PrivetError] = []
        acceptor = None
        try:
            if server_ctx is not None and listener is not None:
                acceptor = threading.Thread(
                    target=_accept_loop,
                    args=(setup, server_ctx, listener),
                    name=f"privet-accept-{config.me}",
                    daemon=True,
                )
                acceptor.start()
            if client_ctx is not None:
                for j in targets:
                    link = _connect(config, client_ctx, j, deadline)
                    with lock:
                        links[j] = link
        except PrivetError as exc:
            errors.append(exc)
            stop.set()  # no point waiting for the others: this endpoint cannot join
        finally:
            if acceptor is not None:
                acceptor.join(max(0.0, deadline - time.monotonic()) + 1.0)
            stop.set()
            if listener is not None:
                listener.close()
        with lock:
            missing = [j for j in inbound if j not in links]
            if errors or missing:
                for link in links.values():
                    link.close()
                links.clear()
        if errors:
            raise errors[0]
        if missing:
            who = ", ".join(
                f"{config.endpoints[j].name} ({config.endpoints[j].address()})" for j in missing
            )
            raise TransportError(
                f"{config.me_endpoint.name}: no valid connection from {who} within "
                f"{config.connect_timeout:g} s ({setup.refused} refused); start every endpoint "
                "with the same session and certificates from the same CA"
            )
        chan = cls(config, links, optional=optional)
        chan.refused = setup.refused
        return chan

    # -- Channel protocol ------------------------------------------------------------------

    @property
    def party(self) -> int:
        """The id of this endpoint."""
        return self._config.me

    @property
    def parties(self) -> int:
        """The number of computing parties."""
        return self._config.parties

    @property
    def dealer(self) -> int | None:
        """The dealer's id, or ``None``."""
        return self._config.dealer_id

    @property
    def endpoints(self) -> int:
        """The number of endpoint ids."""
        return len(self._config.endpoints)

    @property
    def stats(self) -> ChannelStats:
        """Payload bytes, messages and rounds of this endpoint."""
        return self._stats

    @property
    def config(self) -> NetworkConfig:
        """The network config this channel was opened with."""
        return self._config

    @property
    def closed(self) -> bool:
        """Whether the channel has been closed (by :meth:`close` or :meth:`abort`)."""
        return self._closed

    @property
    def broken(self) -> str | None:
        """Why the network failed (a peer died, aborted or misbehaved), or ``None``."""
        return self._broken

    @property
    def wire_bytes(self) -> tuple[int, int]:
        """Bytes of frames (headers included, TLS excluded) sent and received."""
        links = self._links.values()
        return sum(k.wire_sent for k in links), sum(k.wire_received for k in links)

    def send(self, to: int, arrays: Sequence[NDArray[Any]], *, tag: str) -> None:
        """Send ``arrays`` to endpoint ``to`` as one message labelled ``tag``.

        Returns once the message is handed to the operating system (the arrays may then be
        reused); meanwhile it keeps reading from every peer.

        Raises
        ------
        PeerTimeoutError
            If the peer does not read within the channel's timeout.
        TransportError
            If the channel is closed or broken, or a peer failed.
        ParameterError, ParameterTypeError
            For a bad id, tag or message.
        """
        check_tag(tag)
        msg = check_message(arrays)
        with self._lock:
            dst = self._check_peer(to, name="to")
            self._check_open()
            nbytes = sum(int(a.nbytes) for a in msg)
            if dst == self._config.me:
                self._self_inbox.append((tag, [np.array(a, copy=True, order="C") for a in msg]))
                self._stats.record_send(nbytes)
                return
            link = self._link(dst, f"send {tag!r}")
            link.queue(encode_frame(tag, msg, max_bytes=self._config.max_bytes))
            self._pump(
                lambda: not link.wants_write or dst in self._gone,
                self._config.timeout,
                f"sending {tag!r} to",
                dst,
            )
            if dst in self._gone:
                raise TransportError(f"{link.name} is gone ({self._gone[dst]}); {tag!r} is lost")
            self._stats.record_send(nbytes)

    def recv(self, frm: int, *, tag: str, timeout: float | None = None) -> list[NDArray[Any]]:
        """Receive the next message from ``frm``; it must carry ``tag``.

        Raises
        ------
        PeerTimeoutError
            If nothing arrives within ``timeout`` seconds (``None``: the channel's default).
        ProtocolError
            If the next message carries another tag (it is consumed), or a frame is
            malformed.
        TransportError
            If the channel is closed or broken, or a peer failed.
        """
        check_tag(tag)
        wait = self._config.timeout if timeout is None else check_timeout(timeout, name="timeout")
        with self._lock:
            src = self._check_peer(frm, name="frm")
            self._check_open()
            if src == self._config.me:
                if not self._self_inbox:
                    raise PeerTimeoutError(f"endpoint {src} waited for {tag!r} from itself")
                got, arrays = self._self_inbox.popleft()
            else:
                link = self._link(src, f"receive {tag!r}")
                self._pump(
                    lambda: bool(link.inbox) or link.said_bye or src in self._gone,
                    wait,
                    f"waiting for {tag!r} from",
                    src,
                )
                if not link.inbox:
                    if src in self._gone:
                        raise TransportError(
                            f"{link.name} is gone before sending {tag!r} ({self._gone[src]})"
                        )
                    raise TransportError(f"{link.name} closed its channel before sending {tag!r}")
                frame = link.take()
                got, arrays = frame.tag, list(frame.arrays)
            if got != tag:
                raise ProtocolError(
                    f"endpoint {self._config.me} expected tag {tag!r} from {src} but got "
                    f"{got!r}; the parties are out of step"
                )
            self._stats.record_recv(sum(int(a.nbytes) for a in arrays))
            return arrays

    def close(self) -> None:
        """Say goodbye to every peer and close the links (idempotent).

        Queued messages are flushed first, for at most a couple of seconds. A broken
        channel instead passes the cause on to the peers in an ``ABORT`` frame, so the
        first failure reaches every endpoint with its reason.
        """
        with self._lock:
            if self._closed:
                return
            if self._broken is not None:
                self._send_aborts(self._broken)
            else:
                for link in self._links.values():
                    if not link.at_eof:
                        link.queue(encode_frame("bye", kind=FrameKind.BYE))
                with contextlib.suppress(PrivetError):
                    self._pump(self._flushed, _LINGER, "saying goodbye to", None)
            self._shutdown()

    def abort(self, reason: str) -> None:
        """Tell every peer this endpoint gives up, then close (idempotent, never raises).

        Parameters
        ----------
        reason
            A short reason without secrets (it is sent to the peers); truncated to 200
            printable ASCII characters. When the network had already failed, the original
            cause is sent instead.
        """
        with self._lock:
            if self._closed:
                return
            if self._broken is None:
                self._broken = f"this endpoint aborted: {reason}"
                self._send_aborts(reason)
            else:
                self._send_aborts(self._broken)
            self._shutdown()

    def _send_aborts(self, reason: str) -> None:
        """Queue an ``ABORT`` to every live link and push it out for up to a second."""
        frame = encode_frame(_ascii(reason), kind=FrameKind.ABORT)
        live = [k for k in self._links.values() if not k.at_eof]
        for link in live:
            link.queue(frame)
        deadline = time.monotonic() + 1.0
        for link in live:
            try:
                while link.wants_write and time.monotonic() < deadline:
                    if not link.push():
                        time.sleep(0.002)
            except PrivetError:
                continue

    def __enter__(self) -> TlsChannel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(f"{self._names[self._config.me]} failed: {type(exc).__name__}")

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("broken" if self._broken else "open")
        return (
            f"TlsChannel(party={self.party}, name={self._names[self.party]!r}, "
            f"links={len(self._links)}, {state})"
        )

    # -- internals -------------------------------------------------------------------------

    def _check_peer(self, value: object, *, name: str) -> int:
        i = check_int(value, name=name)
        if i >= self.endpoints:
            raise ParameterError(
                f"{name} must be an endpoint id in 0..{self.endpoints - 1}, got {i}"
            )
        return i

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"{self._names[self.party]}'s channel is closed; open a new one")
        if self._broken is not None:
            raise TransportError(f"the network is broken: {self._broken}")

    def _link(self, peer: int, what: str) -> Link:
        link = self._links.get(peer)
        if link is None:
            raise ParameterError(
                f"{self._names[self.party]} has no link to {self._names[peer]} (neither "
                f"listens), so it cannot {what}; route the message through a party"
            )
        if peer in self._gone and (what.startswith("send") or not link.inbox):
            # what it sent before it went is still delivered
            raise TransportError(f"{link.name} is gone ({self._gone[peer]}); cannot {what}")
        if link.said_bye and what.startswith("send"):
            raise TransportError(f"{link.name} has closed its channel; cannot {what}")
        return link

    def _flushed(self) -> bool:
        return not any(link.wants_write for link in self._links.values())

    def _pump(self, done: Callable[[], bool], timeout: float, what: str, peer: int | None) -> None:
        """Read and write on every link until ``done()``; raise on timeout or failure."""
        deadline = time.monotonic() + timeout
        links = self._links
        # Links whose last pull stopped at its budget: bytes may wait inside the TLS layer,
        # where the selector cannot see them, so they are read again without waiting.
        backlog: list[Link] = []
        try:
            # Opportunistic first pass: most small sends complete without waiting.
            for link in links.values():
                if link.wants_write:
                    self._serve(link, link.push)
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    who = "" if peer is None else f" {self._names[peer]}"
                    raise PeerTimeoutError(
                        f"{self._names[self.party]} timed out after {timeout:g} s {what}{who}; "
                        "the peer is down or the protocol is stuck (raise the timeout if "
                        "the computation is slow)"
                    )
                self._update_interest()
                events = self._sel.select(0 if backlog else min(left, 1.0))
                readable, backlog = backlog, []
                for key, mask in events:
                    link = key.data
                    if mask & selectors.EVENT_WRITE:
                        self._serve(link, link.push)
                    if mask & selectors.EVENT_READ and link not in readable:
                        readable.append(link)
                for link in readable:
                    if self._serve(link, link.pull):
                        backlog.append(link)
        except PeerTimeoutError:
            raise
        except (TransportError, ProtocolError, SecurityError) as exc:
            self._broken = str(exc)
            raise

    def _serve(self, link: Link, step: Callable[[], bool]) -> bool:
        """Run ``link.push`` or ``link.pull``; an optional peer's failure ends its link only."""
        if link.peer in self._gone:
            return False
        try:
            return step()
        except (TransportError, ProtocolError, SecurityError) as exc:
            if link.peer not in self._optional:
                raise
            self._gone[link.peer] = str(exc)
            link.at_eof = True  # no more reading or writing
            link.drop_output()
            if self._events.get(link.peer):
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._sel.unregister(link.sock)
                self._events[link.peer] = 0
            link.close()
            return False

    def _update_interest(self) -> None:
        for peer, link in self._links.items():
            want = 0 if link.at_eof else selectors.EVENT_READ
            if link.wants_write and peer not in self._gone:
                want |= selectors.EVENT_WRITE
            have = self._events.get(peer, 0)
            if want == have:
                continue
            if have and want:
                self._sel.modify(link.sock, want, link)
            elif want:
                self._sel.register(link.sock, want, link)
            else:
                self._sel.unregister(link.sock)
            self._events[peer] = want

    def _shutdown(self) -> None:
        self._closed = True
        self._sel.close()
        for link in self._links.values():
            link.close()


def _check_optional(config: NetworkConfig, optional: Iterable[int]) -> frozenset[int]:
    ids = frozenset(optional)
    for peer in ids:
        if not 0 <= peer < len(config.endpoints) or peer == config.me:
            raise ParameterError(
                f"optional peer {peer} is not another endpoint of this network "
                f"(ids 0..{len(config.endpoints) - 1}, this one is {config.me})"
            )
    return ids


def _connect(config: NetworkConfig, ctx: ssl.SSLContext, j: int, deadline: float) -> Link:
    """Connect to endpoint ``j`` (retrying while it starts), handshake and exchange hellos.

    A handshake cut short (the peer busy with others, or restarting) is tried again until
    the deadline; a certificate the peer refuses, or that fails here, ends at once.
    """
    peer = config.endpoints[j]
    host, port = peer.host, peer.port
    if host is None or port is None:  # pragma: no cover - connects_to() lists listeners only
        raise ParameterError(f"{peer.name} does not listen")
    last = "no attempt"
    delay = 0.02
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransportError(
                f"{config.me_endpoint.name} could not connect to {peer.name} at "
                f"{peer.address()} within {config.connect_timeout:g} s (last error: {last}); "
                "is it running and reachable?"
            )
        try:
            raw = socket.create_connection((host, port), timeout=min(left, 5.0))
        except OSError as exc:
            last = exc.strerror or type(exc).__name__
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)
            continue
        sock = _handshake(config, ctx, raw, j, deadline)
        if sock is not None:
            return Link(j, peer.name, sock, max_bytes=config.max_bytes)
        last = "handshake cut short"
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.5)


KEEPALIVE_IDLE_S: Final = 60
"""Seconds a link may be silent before TCP keepalive starts probing the peer's host."""

KEEPALIVE_PROBES: Final = (10, 6)
"""Seconds between probes, and unanswered probes after which the link is dead."""


def _tune(raw: socket.socket) -> None:
    """Set a link's socket options: no Nagle delay, and TCP keepalive.

    A peer whose host drops off the network sends nothing more, not even a reset; keepalive
    probes it after ``KEEPALIVE_IDLE_S`` seconds of silence, and the link fails about two
    minutes after the host went away, even while the endpoint waits out a long idle timeout.
    """
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    interval, count = KEEPALIVE_PROBES
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
    ):
        option = getattr(socket, name, None)  # Linux; others keep their system defaults
        if option is not None:
            with contextlib.suppress(OSError):
                raw.setsockopt(socket.IPPROTO_TCP, option, value)


def _handshake(
    config: NetworkConfig, ctx: ssl.SSLContext, raw: socket.socket, j: int, deadline: float
) -> ssl.SSLSocket | None:
    """Run TLS and the hellos on a fresh connection to ``j``; ``None``: cut short, try again."""
    peer = config.endpoints[j]
    _tune(raw)
    hs_deadline = min(deadline, time.monotonic() + _HANDSHAKE_TIMEOUT)
    try:
        raw.settimeout(max(0.01, hs_deadline - time.monotonic()))
        sock = ctx.wrap_socket(raw, server_hostname=peer.name)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        raise TransportError(
            f"TLS handshake with {peer.name} at {peer.address()} failed: "
            f"{exc.reason or type(exc).__name__}; both sides need certificates from the same "
            "CA, and the peer's must name it"
        ) from None
    except (TimeoutError, ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
        raw.close()
        if time.monotonic() >= deadline:
            raise PeerTimeoutError(f"TLS handshake with {peer.name} timed out") from None
        return None  # the peer dropped it (busy with other connections): try again
    except (ssl.SSLError, OSError) as exc:
        raw.close()
        raise TransportError(
            f"TLS handshake with {peer.name} at {peer.address()} failed: "
            f"{getattr(exc, 'reason', None) or type(exc).__name__}; both sides need "
            "certificates from the same CA, and the peer's must name it"
        ) from None
    try:
        write_frame(sock, _hello(config, j), deadline=hs_deadline, name=peer.name)
        frame = read_frame(sock, deadline=hs_deadline, name=peer.name)
        _check_hello(frame, config, frm=j, name=peer.name)
    except PrivetError:
        sock.close()
        raise
    return sock


@dataclass
class _SetUp:
    """One endpoint's set-up: the links so far, shared by the acceptor's threads."""

    config: NetworkConfig
    deadline: float
    expected: list[int]  # the peers that connect to this endpoint
    links: dict[int, Link] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    refused: int = 0

    def complete(self) -> bool:
        """Whether every expected peer has a link."""
        with self.lock:
            return all(j in self.links for j in self.expected)

    def refuse(self) -> None:
        """Count one refused connection."""
        with self.lock:
            self.refused += 1


def _accept_loop(setup: _SetUp, ctx: ssl.SSLContext, listener: socket.socket) -> None:
    """Accept until every expected peer has a valid link, ``stop`` is set or time is up.

    Each connection is admitted on its own thread, so a connection that never completes
    its handshake (anyone can open one to a listening port) holds up nobody else; at most
    ``_MAX_PENDING`` handshakes run at once, and a new connection beyond that cuts the
    oldest one short (a real peer whose handshake is cut tries again, :func:`_connect`).
    """
    wake_r, wake_w = socket.socketpair()  # an admitted link wakes the loop at once
    pending: list[tuple[threading.Thread, socket.socket]] = []
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(listener, selectors.EVENT_READ)
            sel.register(wake_r, selectors.EVENT_READ)
            while time.monotonic() < setup.deadline and not setup.stop.is_set():
                if setup.complete():
                    return
                ready = [key.fileobj for key, _ in sel.select(0.2)]
                if wake_r in ready:
                    with contextlib.suppress(OSError):
                        wake_r.recv(4096)
                if listener not in ready:
                    continue
                try:
                    raw, _addr = listener.accept()
                except (BlockingIOError, TimeoutError):
                    continue
                except OSError:
                    return
                pending = [(t, r) for t, r in pending if t.is_alive()]
                if len(pending) >= _MAX_PENDING:  # the oldest silent one makes way
                    with contextlib.suppress(OSError):
                        pending.pop(0)[1].shutdown(socket.SHUT_RDWR)
                t = threading.Thread(
                    target=_admit_one,
                    args=(setup, ctx, raw, wake_w),
                    name=f"privet-admit-{setup.config.me}",
                    daemon=True,
                )
                t.start()
                pending.append((t, raw))
    finally:  # a handshake still running ends by its own deadline and adds no link late
        wake_r.close()
        wake_w.close()  # (a closed socket object refuses send: no stray byte elsewhere)


def _admit_one(setup: _SetUp, ctx: ssl.SSLContext, raw: socket.socket, wake: socket.socket) -> None:
    """Admit one incoming connection (a thread of :func:`_accept_loop`)."""
    try:
        link = _admit(setup, ctx, raw)
    except (PrivetError, OSError):
        setup.refuse()
        raw.close()
        return
    with setup.lock:  # too late once set-up is over, or when a twin won the race
        late = setup.stop.is_set() or link.peer in setup.links
        if not late:
            setup.links[link.peer] = link
    if late:
        link.close()
    with contextlib.suppress(OSError):
        wake.send(b"!")


def _admit(setup: _SetUp, ctx: ssl.SSLContext, raw: socket.socket) -> Link:
    """Handshake with one incoming connection and check who it is; raise to refuse it."""
    config = setup.config
    hs_deadline = min(setup.deadline, time.monotonic() + _HANDSHAKE_TIMEOUT)
    _tune(raw)
    raw.settimeout(max(0.01, hs_deadline - time.monotonic()))
    try:
        sock = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError) as exc:
        raise TransportError(f"refused a TLS handshake ({type(exc).__name__})") from None
    try:
        frame = read_frame(sock, deadline=hs_deadline, name="an incoming peer")
        sender = _check_hello(frame, config, frm=None, name="an incoming peer")
        with setup.lock:
            taken = sender in setup.links
        if sender not in setup.expected or taken:
            raise SecurityError(f"endpoint {sender} may not connect here (or is connected)")
        name = config.endpoints[sender].name
        check_peer_name(sock, name)
        write_frame(sock, _hello(config, sender), deadline=hs_deadline, name=name)
    except PrivetError as exc:
        with contextlib.suppress(PrivetError):
            write_frame(
                sock,
                encode_frame(_ascii("refused: " + str(exc)), kind=FrameKind.ABORT),
                deadline=min(hs_deadline, time.monotonic() + 0.5),
                name="an incoming peer",
            )
        sock.close()
        raise
    return Link(sender, name, sock, max_bytes=config.max_bytes)
