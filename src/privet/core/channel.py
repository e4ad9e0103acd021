"""The sans-I/O transport seam: the :class:`Channel` protocol and an in-memory network.

Protocol code (``privet.smpc``, secure aggregation in ``privet.fl``) never opens a socket. Each
participant holds a :class:`Channel` and exchanges *lists of numpy arrays*, each message tagged
with a short string. ``privet.transport`` implements the same protocol over mutual TLS;
:class:`InMemoryNetwork` implements it with thread-safe queues, so the very same protocol code
runs in threads of one process (tests, :class:`privet.smpc.InProcessCluster`).

Endpoint ids
------------
A network of ``parties`` computing parties and optional helpers numbers its endpoints::

    0 .. parties-1          the computing parties (they hold shares)
    parties                 the dealer ("crypto provider"), when the network has one
    parties (+1 if dealer)  … clients: input owners, a driver, the one who learns a result

:attr:`Channel.parties` is the number of computing parties, :attr:`Channel.dealer` the dealer's
id (or ``None``) and :attr:`Channel.endpoints` the number of ids in all.

Messages
--------
A message is a sequence of numpy arrays of a numeric or boolean dtype (``b i u f``): no object,
string or structured arrays, nothing that would need pickle on the wire. A message from ``i``
to ``j`` arrives in the order sent (per ordered pair, FIFO). ``recv`` names the sender and the
tag it expects: a different tag is a :class:`~privet.errors.ProtocolError`, so two protocol
steps can never be confused silently; :func:`expect_arrays` checks the count, shapes and dtypes
of what arrived (another ``ProtocolError``). Every wait has a timeout: ``recv(timeout=None)``
uses the channel's default (never infinite), and a silent peer raises
:class:`~privet.errors.PeerTimeoutError`.

Counting
--------
Each channel counts in a :class:`ChannelStats` the payload bytes (the arrays' ``nbytes``, no
framing) and messages it sent and received, and its **rounds**: a round starts with the first
send after a receive (or the first send ever), so a party that sends its masked values to every
peer and then waits for theirs spends one round. A transport adds its own framing bytes on top;
it records payload bytes here with :meth:`ChannelStats.record_send` / :meth:`record_recv`.

Examples
--------
>>> import numpy as np
>>> net = InMemoryNetwork(2)
>>> a, b = net.channel(0), net.channel(1)
>>> a.send(1, [np.arange(3, dtype=np.uint64)], tag="hello")
>>> b.recv(0, tag="hello")
[array([0, 1, 2], dtype=uint64)]
>>> a.stats.bytes_sent, a.stats.rounds, b.stats.bytes_received
(24, 1, 24)
>>> net.close()
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from privet.core.checks import check_int, check_timeout
from privet.core.errors import (
    ParameterError,
    ParameterTypeError,
    PeerTimeoutError,
    ProtocolError,
    TransportError,
)

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "Channel",
    "ChannelStats",
    "InMemoryChannel",
    "InMemoryNetwork",
    "check_message",
    "check_tag",
    "expect_arrays",
]

DEFAULT_TIMEOUT: Final = 60.0
"""Seconds a ``recv`` waits by default before raising :class:`PeerTimeoutError`."""

DEFAULT_IDLE_TIMEOUT: Final = 3600.0
"""Seconds an endpoint waits, when idle, for the next request (a party: the driver's next
instruction). Longer than :data:`DEFAULT_TIMEOUT`: between two operations the analyst may be
thinking. A driver that exits or crashes closes its links and its peers stop at once."""

MAX_TAG_LENGTH: Final = 200
_ALLOWED_KINDS: Final = frozenset("biuf")


@dataclass
class ChannelStats:
    """Counters of one channel: payload bytes, messages and rounds, in and out.

    ``rounds`` counts send phases: the first send after a receive (or the very first send)
    opens a new round. The counters are updated under a lock, so a transport may call
    :meth:`record_send` and :meth:`record_recv` from several threads.

    Examples
    --------
    >>> s = ChannelStats()
    >>> s.record_send(16); s.record_send(16); s.record_recv(16); s.record_send(8)
    >>> s.bytes_sent, s.messages_sent, s.rounds
    (40, 3, 2)
    """

    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    rounds: int = 0
    _received_since_send: bool = field(default=True, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_send(self, nbytes: int) -> None:
        """Count one message of ``nbytes`` payload bytes sent."""
        with self._lock:
            self.bytes_sent += nbytes
            self.messages_sent += 1
            if self._received_since_send:
                self.rounds += 1
                self._received_since_send = False

    def record_recv(self, nbytes: int) -> None:
        """Count one message of ``nbytes`` payload bytes received."""
        with self._lock:
            self.bytes_received += nbytes
            self.messages_received += 1
            self._received_since_send = True

    def snapshot(self) -> dict[str, int]:
        """Return the counters as a plain dict (a consistent copy).

        Returns
        -------
        dict
            ``bytes_sent``, ``bytes_received``, ``messages_sent``, ``messages_received``
            and ``rounds``.
        """
        with self._lock:
            return {
                "bytes_sent": self.bytes_sent,
                "bytes_received": self.bytes_received,
                "messages_sent": self.messages_sent,
                "messages_received": self.messages_received,
                "rounds": self.rounds,
            }


@runtime_checkable
class Channel(Protocol):
    """One endpoint's view of a network: tagged messages of numpy arrays, with timeouts.

    Implementations: :class:`InMemoryChannel` (threads of one process) and the mutual-TLS
    channel of ``privet.transport``. Protocol code takes a ``channel=`` argument and never
    does I/O of its own.
    """

    @property
    def party(self) -> int:
        """The id of this endpoint (see the module docstring for the numbering)."""
        ...

    @property
    def parties(self) -> int:
        """The number of computing parties (ids ``0 .. parties-1``)."""
        ...

    @property
    def dealer(self) -> int | None:
        """The dealer's id (``== parties``), or ``None`` when the network has no dealer."""
        ...

    @property
    def endpoints(self) -> int:
        """The number of endpoint ids: parties, the dealer if any, and clients."""
        ...

    @property
    def stats(self) -> ChannelStats:
        """The counters of bytes, messages and rounds of this endpoint."""
        ...

    def send(self, to: int, arrays: Sequence[NDArray[Any]], *, tag: str) -> None:
        """Send the arrays to endpoint ``to`` as one message labelled ``tag``."""
        ...

    def recv(self, frm: int, *, tag: str, timeout: float | None = None) -> list[NDArray[Any]]:
        """Receive the next message from ``frm``; it must carry ``tag``.

        Raises :class:`PeerTimeoutError` after ``timeout`` seconds (``None``: the channel's
        default) and :class:`ProtocolError` when the message has another tag.
        """
        ...

    def close(self) -> None:
        """Close this endpoint; peers waiting on it fail with a ``TransportError``."""
        ...


def check_tag(tag: object) -> str:
    """Return ``tag`` if it is a usable message tag: a non-empty printable ASCII ``str``.

    Parameters
    ----------
    tag
        The tag to check.

    Returns
    -------
    str
        The tag.

    Raises
    ------
    ParameterTypeError
        If ``tag`` is not a ``str``.
    ParameterError
        If it is empty, longer than 200 characters or not printable ASCII.

    Examples
    --------
    >>> check_tag("beaver/0")
    'beaver/0'
    """
    if not isinstance(tag, str):
        raise ParameterTypeError(f"tag must be a str, got {type(tag).__name__}")
    if not tag or len(tag) > MAX_TAG_LENGTH or not (tag.isascii() and tag.isprintable()):
        raise ParameterError(
            f"tag must be 1..{MAX_TAG_LENGTH} printable ASCII characters, got {tag[:40]!r}; "
            "use a short label such as 'mul/3'"
        )
    return tag


def check_message(arrays: object) -> list[NDArray[Any]]:
    """Validate an outgoing message: a sequence of numeric or boolean numpy arrays.

    Parameters
    ----------
    arrays
        The message: a list or tuple of ``numpy.ndarray``.

    Returns
    -------
    list of numpy.ndarray
        The arrays, unchanged.

    Raises
    ------
    ParameterTypeError
        If ``arrays`` is not a list/tuple of arrays, or an array has an object, string,
        complex or structured dtype (only ``bool``, ints, uints and floats travel).

    Examples
    --------
    >>> import numpy as np
    >>> len(check_message([np.zeros(2), np.ones(3, dtype=np.uint8)]))
    2
    """
    if not isinstance(arrays, list | tuple):
        raise ParameterTypeError(
            f"a message must be a list or tuple of numpy arrays, got {type(arrays).__name__}"
        )
    out: list[NDArray[Any]] = []
    for k, a in enumerate(arrays):
        if not isinstance(a, np.ndarray):
            raise ParameterTypeError(
                f"message item {k} must be a numpy.ndarray, got {type(a).__name__}; "
                "wrap numbers with np.asarray"
            )
        if a.dtype.kind not in _ALLOWED_KINDS or a.dtype.fields is not None:
            raise ParameterTypeError(
                f"message item {k} has dtype {a.dtype}; only bool, integer and float arrays "
                "travel (no object, string or structured arrays)"
            )
        out.append(a)
    return out


def expect_arrays(
    arrays: Sequence[NDArray[Any]],
    *,
    shapes: Sequence[tuple[int, ...]],
    dtype: Any,
    frm: int,
    tag: str,
) -> list[NDArray[Any]]:
    """Check a received message: its count, each array's shape and dtype.

    Parameters
    ----------
    arrays
        The received arrays.
    shapes
        The shape each array must have (one per expected array).
    dtype
        The dtype every array must have, or a sequence of one dtype per array.
    frm, tag
        The sender and the tag, for the message.

    Returns
    -------
    list of numpy.ndarray
        The arrays.

    Raises
    ------
    ProtocolError
        If the count, a shape or a dtype differs.

    Examples
    --------
    >>> import numpy as np
    >>> expect_arrays([np.zeros(2)], shapes=[(3,)], dtype=np.float64, frm=1, tag="x")
    Traceback (most recent call last):
    ...
    privet.core.errors.ProtocolError: party 1 sent array 0 of shape (2,) under tag 'x'; ...
    """
    wants = (
        [np.dtype(d) for d in dtype]
        if isinstance(dtype, list | tuple)
        else [np.dtype(dtype)] * len(shapes)
    )
    if len(wants) != len(shapes):
        raise ParameterError(f"{len(wants)} dtypes given for {len(shapes)} expected arrays")
    if len(arrays) != len(shapes):
        raise ProtocolError(
            f"party {frm} sent {len(arrays)} arrays under tag {tag!r}; the protocol expects "
            f"{len(shapes)}: the peers run different protocol versions or steps"
        )
    out: list[NDArray[Any]] = []
    for k, (a, shape, want) in enumerate(zip(arrays, shapes, wants, strict=True)):
        if not isinstance(a, np.ndarray) or a.dtype != want:
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise ProtocolError(
                f"party {frm} sent array {k} of dtype {got} under tag {tag!r}; the protocol "
                f"expects {want}"
            )
        if tuple(a.shape) != tuple(shape):
            raise ProtocolError(
                f"party {frm} sent array {k} of shape {tuple(a.shape)} under tag {tag!r}; "
                f"the protocol expects {tuple(shape)}"
            )
        out.append(a)
    return out


class _Closed:
    """Sentinel queued to peers when an endpoint closes."""


_CLOSED: Final = _Closed()


class InMemoryNetwork:
    """A network of endpoints in one process, joined by thread-safe FIFO queues.

    Parameters
    ----------
    parties
        The number of computing parties (>= 1).
    dealer
        Whether id ``parties`` is a dealer.
    clients
        How many client endpoints follow (input owners, a driver).
    timeout
        Default seconds a ``recv`` waits (> 0).

    Examples
    --------
    >>> net = InMemoryNetwork(3, dealer=True, clients=1)
    >>> net.endpoints, net.dealer
    (5, 3)
    >>> net.channel(4).party
    4
    """

    def __init__(
        self,
        parties: int,
        *,
        dealer: bool = False,
        clients: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._parties = check_int(parties, name="parties", minimum=1)
        self._dealer = self._parties if dealer else None
        n_clients = check_int(clients, name="clients", minimum=0)
        self._endpoints = self._parties + (1 if dealer else 0) + n_clients
        self._timeout = check_timeout(timeout, name="timeout")
        n = self._endpoints
        self._queues: list[list[queue.SimpleQueue[Any]]] = [
            [queue.SimpleQueue() for _ in range(n)] for _ in range(n)
        ]
        self._channels = [InMemoryChannel(self, i) for i in range(n)]

    @property
    def parties(self) -> int:
        """The number of computing parties."""
        return self._parties

    @property
    def dealer(self) -> int | None:
        """The dealer's id, or ``None``."""
        return self._dealer

    @property
    def endpoints(self) -> int:
        """The number of endpoint ids."""
        return self._endpoints

    @property
    def timeout(self) -> float:
        """The default receive timeout, in seconds."""
        return self._timeout

    def channel(self, party: int) -> InMemoryChannel:
        """Return the channel of endpoint ``party``.

        Parameters
        ----------
        party
            An endpoint id in ``0 .. endpoints-1``.

        Returns
        -------
        InMemoryChannel
            Its channel (the same object on every call).
        """
        return self._channels[self._check_id(party, name="party")]

    def close(self) -> None:
        """Close every endpoint."""
        for ch in self._channels:
            ch.close()

    def _check_id(self, value: object, *, name: str) -> int:
        i = check_int(value, name=name)
        if i >= self._endpoints:
            raise ParameterError(
                f"{name} must be an endpoint id in 0..{self._endpoints - 1}, got {i}"
            )
        return i

    def __repr__(self) -> str:
        return (
            f"InMemoryNetwork(parties={self._parties}, dealer={self._dealer is not None}, "
            f"endpoints={self._endpoints})"
        )


class InMemoryChannel:
    """One endpoint of an :class:`InMemoryNetwork` (it implements :class:`Channel`).

    Arrays are copied on send, so a sender may reuse its buffers; what arrives is a fresh,
    C-contiguous array, as it would be after a real wire.
    """

    def __init__(self, network: InMemoryNetwork, party: int) -> None:
        self._net = network
        self._party = party
        self._stats = ChannelStats()
        self._closed = False

    @property
    def party(self) -> int:
        """The id of this endpoint."""
        return self._party

    @property
    def parties(self) -> int:
        """The number of computing parties."""
        return self._net.parties

    @property
    def dealer(self) -> int | None:
        """The dealer's id, or ``None``."""
        return self._net.dealer

    @property
    def endpoints(self) -> int:
        """The number of endpoint ids."""
        return self._net.endpoints

    @property
    def stats(self) -> ChannelStats:
        """The counters of this endpoint."""
        return self._stats

    def send(self, to: int, arrays: Sequence[NDArray[Any]], *, tag: str) -> None:
        """Send ``arrays`` to endpoint ``to`` under ``tag`` (copies the arrays).

        Raises
        ------
        TransportError
            If this endpoint is closed.
        ParameterError, ParameterTypeError
            For a bad id, tag or message.
        """
        dst = self._net._check_id(to, name="to")
        check_tag(tag)
        msg = [np.array(a, copy=True, order="C") for a in check_message(arrays)]
        if self._closed:
            raise TransportError(f"endpoint {self._party} is closed; open a new network")
        self._net._queues[self._party][dst].put((tag, msg))
        self._stats.record_send(sum(int(a.nbytes) for a in msg))

    def recv(self, frm: int, *, tag: str, timeout: float | None = None) -> list[NDArray[Any]]:
        """Receive the next message from ``frm``, which must carry ``tag``.

        Raises
        ------
        PeerTimeoutError
            If nothing arrives within ``timeout`` seconds (``None``: the network's default).
        ProtocolError
            If the next message carries another tag (it is consumed).
        TransportError
            If the sender closed its endpoint, or this one is closed.
        """
        src = self._net._check_id(frm, name="frm")
        check_tag(tag)
        wait = self._net.timeout if timeout is None else check_timeout(timeout, name="timeout")
        if self._closed:
            raise TransportError(f"endpoint {self._party} is closed; open a new network")
        try:
            item = self._net._queues[src][self._party].get(timeout=wait)
        except queue.Empty:
            raise PeerTimeoutError(
                f"endpoint {self._party} waited {wait:g} s for {tag!r} from {src} and got "
                "nothing; the peer is down or the protocol is stuck (raise timeout= if slow)"
            ) from None
        if item is _CLOSED:
            self._net._queues[src][self._party].put(_CLOSED)  # stays closed for later calls
            raise TransportError(f"endpoint {src} closed before sending {tag!r}")
        got_tag, msg = item
        if got_tag != tag:
            raise ProtocolError(
                f"endpoint {self._party} expected tag {tag!r} from {src} but got {got_tag!r}; "
                "the parties are out of step"
            )
        self._stats.record_recv(sum(int(a.nbytes) for a in msg))
        return list(msg)

    def close(self) -> None:
        """Close this endpoint; a peer waiting on it gets a :class:`TransportError`."""
        if self._closed:
            return
        self._closed = True
        for dst in range(self._net.endpoints):
            if dst != self._party:
                self._net._queues[self._party][dst].put(_CLOSED)

    def __repr__(self) -> str:
        return f"InMemoryChannel(party={self._party}, parties={self.parties}, dealer={self.dealer})"
