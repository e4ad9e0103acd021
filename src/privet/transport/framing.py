"""privet's wire format: versioned frames of raw array buffers (no pickle, ever).

A frame carries one :class:`~privet.core.channel.Channel` message: a kind, a printable-ASCII
tag and a list of numpy arrays, each sent as its raw little-endian buffer. Everything a
receiver needs to allocate is in a fixed 24-byte header and a small *meta* block that
follows it, and both are checked before a single payload byte is accepted::

    header (24 bytes, little-endian)
      0   4s  magic      b"PVTF"
      4   B   version    1
      5   B   kind       1 DATA, 2 HELLO, 3 ABORT, 4 BYE
      6   H   tag_len    1..200
      8   H   n_arrays   0..4096
      10  H   reserved   0
      12  I   meta_len   tag_len + Σ (4 + 8·ndim)     <= 1 MiB
      16  Q   data_len   Σ nbytes of the arrays       <= max_bytes
    meta
      tag (tag_len ASCII bytes), then per array: dtype code (B), ndim (B), 0 (H), ndim × Q dims
    data
      each array's bytes, C order, little-endian, back to back

A receiver allocates each array with ``numpy.empty`` from the validated descriptor and reads
the socket straight into it (:class:`FrameReader`), so there is no copy and no parsing of the
payload at all: a frame can describe only a plain numeric array. Anything else (a bad magic,
another version, an unknown kind or dtype, an absurd length, a sum that does not add up, a
truncated stream) is a :class:`~privet.errors.ProtocolError`. The transport is expected to run
inside TLS, which gives integrity; framing gives *shape*, so a malicious peer cannot make a
party allocate more than ``max_bytes`` or run any code.

Examples
--------
>>> import numpy as np
>>> parts = encode_frame("mul/1", [np.arange(3, dtype=np.uint64)])
>>> frame = decode_frame(b"".join(bytes(p) for p in parts))
>>> frame.tag, frame.arrays[0].tolist()
('mul/1', [0, 1, 2])
>>> decode_frame(b"XXXX" + bytes(20))
Traceback (most recent call last):
...
privet.core.errors.ProtocolError: bad frame magic b'XXXX' (expected b'PVTF'); ...
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.channel import check_message, check_tag
from privet.core.checks import check_int
from privet.core.errors import ParameterError, ProtocolError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "HEADER_SIZE",
    "MAGIC",
    "VERSION",
    "Frame",
    "FrameHeader",
    "FrameKind",
    "FrameReader",
    "decode_frame",
    "encode_frame",
    "parse_header",
]

MAGIC: Final = b"PVTF"
"""The four bytes every frame starts with."""

VERSION: Final = 1
"""The wire-format version this module speaks (a frame of another version is refused)."""

DEFAULT_MAX_BYTES: Final = 1 << 30
"""The default limit on one frame's payload (1 GiB); a larger frame is a ProtocolError."""

MAX_ARRAYS: Final = 4096
MAX_NDIM: Final = 32
MAX_META_BYTES: Final = 1 << 20
MAX_EMPTY_SPAN: Final = 1 << 31
"""The largest product of the non-zero sides of an empty array (numpy refuses huge sides)."""
FRAME_OVERHEAD: Final = 256
ARRAY_OVERHEAD: Final = 256
"""Memory a received frame and each of its arrays cost beyond the payload (Frame.footprint)."""
MAX_TAG_BYTES: Final = 200

_HEADER: Final = struct.Struct("<4sBBHHHIQ")
HEADER_SIZE: Final = _HEADER.size
"""The size in bytes of the fixed frame header (24)."""

_DESC: Final = struct.Struct("<BBH")

# dtype code <-> little-endian dtype. Codes are part of the wire format: never renumber.
_CODES: Final[dict[int, np.dtype[Any]]] = {
    1: np.dtype("?"),
    2: np.dtype("<i1"),
    3: np.dtype("<u1"),
    4: np.dtype("<i2"),
    5: np.dtype("<u2"),
    6: np.dtype("<i4"),
    7: np.dtype("<u4"),
    8: np.dtype("<i8"),
    9: np.dtype("<u8"),
    10: np.dtype("<f2"),
    11: np.dtype("<f4"),
    12: np.dtype("<f8"),
}
_CODE_OF: Final[dict[str, int]] = {dt.str: code for code, dt in _CODES.items()}
_CODE_OF["|b1"] = 1
_CODE_OF["|i1"] = 2
_CODE_OF["|u1"] = 3


class FrameKind(enum.IntEnum):
    """What a frame is for.

    ``DATA`` carries a channel message; ``HELLO`` opens a link (the sender's id and the
    session); ``ABORT`` says the sender gave up (its tag is a short, secret-free reason);
    ``BYE`` closes a link cleanly.
    """

    DATA = 1
    HELLO = 2
    ABORT = 3
    BYE = 4


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The validated fixed header of a frame.

    Attributes
    ----------
    kind
        The :class:`FrameKind`.
    tag_len, n_arrays, meta_len, data_len
        The lengths announced by the sender (already checked against the limits).
    """

    kind: FrameKind
    tag_len: int
    n_arrays: int
    meta_len: int
    data_len: int


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame: its kind, its tag and its arrays.

    Attributes
    ----------
    kind
        The :class:`FrameKind`.
    tag
        The tag (1..200 printable ASCII characters).
    arrays
        The arrays, each a fresh C-contiguous array in native byte order.
    """

    kind: FrameKind
    tag: str
    arrays: tuple[NDArray[Any], ...]

    @property
    def nbytes(self) -> int:
        """The payload bytes (Σ ``nbytes`` of the arrays)."""
        return sum(int(a.nbytes) for a in self.arrays)

    @property
    def footprint(self) -> int:
        """Bytes it holds in memory, about: the payload plus each array's object.

        A receiver's cap on unread frames counts this, not :attr:`nbytes`: thousands of
        empty arrays cost no payload but a few hundred bytes each.
        """
        return self.nbytes + FRAME_OVERHEAD + ARRAY_OVERHEAD * len(self.arrays)

    def __repr__(self) -> str:  # never the payload: it may be a share
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"Frame({self.kind.name}, tag={self.tag!r}, arrays=[{shapes}])"


def _wire_array(a: NDArray[Any]) -> NDArray[Any]:
    """Return ``a`` as a C-contiguous little-endian array (a view when it already is)."""
    dt = a.dtype
    if dt.byteorder == ">" or (dt.byteorder == "=" and not np.little_endian):
        dt = dt.newbyteorder("<")
    if a.flags.c_contiguous and a.dtype == dt:
        return a
    return np.array(a, dtype=dt, order="C")  # keeps 0-d arrays 0-d (ascontiguousarray does not)


def encode_frame(
    tag: str,
    arrays: Sequence[NDArray[Any]] = (),
    *,
    kind: FrameKind = FrameKind.DATA,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[memoryview]:
    """Encode one frame as buffers to write back to back (header+meta, then each array).

    The arrays are not copied when they are already C-contiguous and little-endian: the
    returned memoryviews point into them, so keep them unchanged until written.

    Parameters
    ----------
    tag
        The message tag: 1..200 printable ASCII characters.
    arrays
        The arrays: numeric or boolean dtypes only, at most 4096, each at most 32-d.
    kind
        The frame kind.
    max_bytes
        The largest payload allowed (the receiver's limit should match).

    Returns
    -------
    list of memoryview
        The header and meta block first, then one buffer per non-empty array.

    Raises
    ------
    ParameterError, ParameterTypeError
        For a bad tag, a bad dtype, too many arrays or dimensions, or too many bytes.

    Examples
    --------
    >>> import numpy as np
    >>> parts = encode_frame("x", [np.zeros((2, 3), dtype=np.float32)])
    >>> [len(p) for p in parts]
    [45, 24]
    """
    kind = FrameKind(kind)
    tag_b = check_tag(tag).encode("ascii")
    items = [_wire_array(a) for a in check_message(list(arrays))]
    if len(items) > MAX_ARRAYS:
        raise ParameterError(
            f"a frame carries at most {MAX_ARRAYS} arrays, got {len(items)}; "
            "concatenate them into fewer arrays"
        )
    meta = bytearray(tag_b)
    data_len = 0
    for k, a in enumerate(items):
        if a.ndim > MAX_NDIM:
            raise ParameterError(
                f"array {k} has {a.ndim} dimensions; a frame allows at most {MAX_NDIM}"
            )
        meta += _DESC.pack(_CODE_OF[a.dtype.str], a.ndim, 0)
        meta += struct.pack(f"<{a.ndim}Q", *a.shape)
        data_len += int(a.nbytes)
    limit = check_int(max_bytes, name="max_bytes", minimum=1)
    if data_len > limit:
        raise ParameterError(
            f"message of {data_len} bytes exceeds the frame limit of {limit} bytes; split it "
            "or raise max_bytes on both ends"
        )
    header = _HEADER.pack(MAGIC, VERSION, int(kind), len(tag_b), len(items), 0, len(meta), data_len)
    parts = [memoryview(header + bytes(meta))]
    parts += [a.reshape(-1).view(np.uint8).data for a in items if a.nbytes]
    return parts


def parse_header(
    buf: bytes | bytearray | memoryview, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> FrameHeader:
    """Validate and decode the 24-byte frame header.

    Parameters
    ----------
    buf
        Exactly :data:`HEADER_SIZE` bytes.
    max_bytes
        The largest payload accepted.

    Returns
    -------
    FrameHeader
        The header.

    Raises
    ------
    ProtocolError
        For a wrong size, magic, version, kind, reserved field, or a length over a limit.

    Examples
    --------
    >>> import numpy as np
    >>> head = bytes(encode_frame("t", [np.zeros(4)])[0])[:HEADER_SIZE]
    >>> parse_header(head).data_len
    32
    """
    if len(buf) != HEADER_SIZE:
        raise ProtocolError(f"frame header must be {HEADER_SIZE} bytes, got {len(buf)}")
    magic, version, kind, tag_len, n_arrays, reserved, meta_len, data_len = _HEADER.unpack(buf)
    if magic != MAGIC:
        raise ProtocolError(
            f"bad frame magic {bytes(magic)!r} (expected {MAGIC!r}); the peer is not a privet "
            "transport or the stream is out of sync"
        )
    if version != VERSION:
        raise ProtocolError(
            f"frame version {version} is not supported (this side speaks {VERSION}); run the "
            "same privet version on every party"
        )
    try:
        fkind = FrameKind(kind)
    except ValueError:
        raise ProtocolError(
            f"unknown frame kind {kind}; the peer speaks another protocol"
        ) from None
    if reserved != 0:
        raise ProtocolError(f"frame reserved field is {reserved}, must be 0")
    if not 1 <= tag_len <= MAX_TAG_BYTES:
        raise ProtocolError(f"frame tag length {tag_len} is outside 1..{MAX_TAG_BYTES}")
    if n_arrays > MAX_ARRAYS:
        raise ProtocolError(f"frame announces {n_arrays} arrays; at most {MAX_ARRAYS} allowed")
    if meta_len > MAX_META_BYTES or meta_len < tag_len + _DESC.size * n_arrays:
        raise ProtocolError(
            f"frame meta length {meta_len} is inconsistent with {n_arrays} arrays and a tag "
            f"of {tag_len} bytes (limit {MAX_META_BYTES})"
        )
    if data_len > max_bytes:
        raise ProtocolError(
            f"frame announces {data_len} payload bytes, over the limit of {max_bytes}; "
            "refused before allocating (raise max_bytes on both ends if this is legitimate)"
        )
    return FrameHeader(fkind, tag_len, n_arrays, meta_len, data_len)


def _parse_meta(
    header: FrameHeader, meta: bytes | bytearray | memoryview
) -> tuple[str, list[tuple[np.dtype[Any], tuple[int, ...]]]]:
    """Decode and check the tag and the array descriptors against the header."""
    raw_tag = bytes(meta[: header.tag_len])
    try:
        tag = raw_tag.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("frame tag is not ASCII") from None
    if not tag.isprintable():
        raise ProtocolError("frame tag is not printable ASCII")
    specs: list[tuple[np.dtype[Any], tuple[int, ...]]] = []
    off = header.tag_len
    total = 0
    for k in range(header.n_arrays):
        if off + _DESC.size > len(meta):
            raise ProtocolError(f"frame meta block ends inside the descriptor of array {k}")
        code, ndim, pad = _DESC.unpack_from(meta, off)
        off += _DESC.size
        dtype = _CODES.get(code)
        if dtype is None:
            raise ProtocolError(f"array {k} has unknown dtype code {code}")
        if ndim > MAX_NDIM or pad != 0:
            raise ProtocolError(f"array {k} descriptor is invalid (ndim {ndim}, pad {pad})")
        if off + 8 * ndim > len(meta):
            raise ProtocolError(f"frame meta block ends inside the shape of array {k}")
        shape = struct.unpack_from(f"<{ndim}Q", meta, off)
        off += 8 * ndim
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if nbytes == 0 and math.prod(d for d in shape if d) > MAX_EMPTY_SPAN:
            raise ProtocolError(
                f"array {k} is empty but its other sides multiply to more than "
                f"{MAX_EMPTY_SPAN}; refused before allocating"
            )
        total += nbytes
        if total > header.data_len:
            raise ProtocolError(
                f"frame arrays need more bytes than the {header.data_len} announced"
            )
        specs.append((dtype, tuple(int(s) for s in shape)))
    if off != len(meta):
        raise ProtocolError(f"frame meta block has {len(meta) - off} trailing bytes")
    if total != header.data_len:
        raise ProtocolError(
            f"frame announces {header.data_len} payload bytes but its arrays hold {total}"
        )
    return tag, specs


def _native(a: NDArray[Any]) -> NDArray[Any]:
    """Return a received little-endian array in native byte order."""
    if a.dtype.byteorder == "<" and not np.little_endian:  # pragma: no cover - big-endian hosts
        return a.byteswap().view(a.dtype.newbyteorder("="))
    return a


class FrameReader:
    """An incremental, sans-I/O frame decoder that reads straight into the arrays.

    The I/O layer asks for :meth:`buffer` (a writable view where the next bytes belong),
    reads into it, and reports how many bytes arrived with :meth:`advance`, which returns a
    :class:`Frame` once one is complete. Payload bytes land directly in freshly allocated
    arrays, so a frame costs no copy.

    Parameters
    ----------
    max_bytes
        The largest payload accepted; a larger announcement is a ProtocolError before any
        allocation.

    Examples
    --------
    >>> import numpy as np
    >>> wire = b"".join(bytes(p) for p in encode_frame("a", [np.arange(4, dtype=np.int32)]))
    >>> reader, frame, pos = FrameReader(), None, 0
    >>> while frame is None:
    ...     view = reader.buffer()
    ...     n = min(len(view), 5, len(wire) - pos)  # any chunking works
    ...     view[:n] = wire[pos : pos + n]
    ...     pos += n
    ...     frame = reader.advance(n)
    >>> frame.arrays[0].tolist(), reader.idle
    ([0, 1, 2, 3], True)
    """

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = check_int(max_bytes, name="max_bytes", minimum=1)
        self._reset()

    def _reset(self) -> None:
        self._stage = 0  # 0 header, 1 meta, 2 data
        self._buf: bytearray = bytearray(HEADER_SIZE)
        self._view: memoryview = memoryview(self._buf)
        self._filled = 0
        self._header: FrameHeader | None = None
        self._tag = ""
        self._arrays: list[NDArray[Any]] = []
        self._index = 0

    @property
    def idle(self) -> bool:
        """``True`` between frames (a stream may end here without being truncated)."""
        return self._stage == 0 and self._filled == 0

    def buffer(self) -> memoryview:
        """Return the writable view the next incoming bytes must be written to (non-empty)."""
        return self._view[self._filled :]

    def advance(self, n: int) -> Frame | None:
        """Account for ``n`` bytes written into :meth:`buffer`; return a finished frame.

        Parameters
        ----------
        n
            How many bytes were written (at most ``len(buffer())``).

        Returns
        -------
        Frame or None
            The frame, once its last byte has arrived.

        Raises
        ------
        ProtocolError
            If the header or the meta block is invalid.
        """
        if n < 0 or self._filled + n > len(self._view):
            raise ParameterError(f"advance({n}) is outside the buffer handed out")
        self._filled += n
        while self._filled == len(self._view):
            frame = self._step()
            if frame is not None:
                return frame
        return None

    def _step(self) -> Frame | None:
        """Move to the next stage once the current buffer is full."""
        if self._stage == 0:
            self._header = parse_header(self._buf, max_bytes=self._max_bytes)
            self._stage = 1
            self._buf = bytearray(self._header.meta_len)
            self._view = memoryview(self._buf)
            self._filled = 0
            return None
        header = self._header
        if header is None:  # pragma: no cover - stage 1/2 always has a header
            raise ProtocolError("frame reader lost its header")
        if self._stage == 1:
            self._tag, specs = _parse_meta(header, self._buf)
            try:
                self._arrays = [np.empty(shape, dtype=dt) for dt, shape in specs]
            except (ValueError, MemoryError) as exc:  # a shape numpy cannot hold
                raise ProtocolError(
                    f"frame {self._tag!r} describes an array this host cannot allocate "
                    f"({type(exc).__name__})"
                ) from None
            self._stage = 2
            self._index = -1
        # stage 2: move to the next array that still needs bytes
        self._index += 1
        while self._index < len(self._arrays) and self._arrays[self._index].nbytes == 0:
            self._index += 1
        if self._index < len(self._arrays):
            self._view = self._arrays[self._index].reshape(-1).view(np.uint8).data
            self._filled = 0
            return None
        frame = Frame(header.kind, self._tag, tuple(_native(a) for a in self._arrays))
        self._reset()
        return frame


def decode_frame(
    data: bytes | bytearray | memoryview, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Frame:
    """Decode exactly one whole frame from ``data``.

    Parameters
    ----------
    data
        The frame's bytes, nothing before or after.
    max_bytes
        The largest payload accepted.

    Returns
    -------
    Frame
        The frame.

    Raises
    ------
    ProtocolError
        If the bytes are not exactly one valid frame (truncated, trailing bytes, bad header
        or meta block).

    Examples
    --------
    >>> import numpy as np
    >>> wire = b"".join(bytes(p) for p in encode_frame("t", [np.ones(2, dtype=bool)]))
    >>> decode_frame(wire[:-1])
    Traceback (most recent call last):
    ...
    privet.core.errors.ProtocolError: frame truncated: ...
    """
    mv = memoryview(bytes(data)) if not isinstance(data, bytes) else memoryview(data)
    reader = FrameReader(max_bytes=max_bytes)
    pos = 0
    while True:
        view = reader.buffer()
        n = min(len(view), len(mv) - pos)
        if n == 0:
            raise ProtocolError(f"frame truncated: {len(mv)} bytes end before the frame does")
        view[:n] = mv[pos : pos + n]
        pos += n
        frame = reader.advance(n)
        if frame is not None:
            break
    if pos != len(mv):
        raise ProtocolError(f"{len(mv) - pos} bytes follow the frame; expected exactly one frame")
    return frame
