"""The wire format: every dtype and shape round-trips; every malformed frame is a ProtocolError."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from privet.errors import ParameterError, ParameterTypeError, ProtocolError
from privet.transport.framing import (
    ARRAY_OVERHEAD,
    FRAME_OVERHEAD,
    HEADER_SIZE,
    MAGIC,
    VERSION,
    FrameKind,
    FrameReader,
    decode_frame,
    encode_frame,
    parse_header,
)

DTYPES = [
    np.bool_,
    np.int8,
    np.uint8,
    np.int16,
    np.uint16,
    np.int32,
    np.uint32,
    np.int64,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
]


def wire(tag: str, arrays: list[np.ndarray], **kw: object) -> bytes:
    return b"".join(bytes(p) for p in encode_frame(tag, arrays, **kw))  # type: ignore[arg-type]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_zero_dimensional_arrays_stay_zero_dimensional() -> None:
    (got,) = decode_frame(wire("s", [np.array(7, dtype=np.int16)])).arrays
    assert got.shape == ()
    assert int(got) == 7


arrays_strategy = st.lists(
    st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(
            dt,
            hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
            elements=None,
        )
    ),
    max_size=5,
)
tag_strategy = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=200
)


@settings(max_examples=150, deadline=None)
@given(arrays=arrays_strategy, tag=tag_strategy)
def test_every_dtype_and_shape_round_trips(arrays: list[np.ndarray], tag: str) -> None:
    frame = decode_frame(wire(tag, arrays))
    assert frame.kind is FrameKind.DATA
    assert frame.tag == tag
    assert len(frame.arrays) == len(arrays)
    for got, want in zip(frame.arrays, arrays, strict=True):
        assert same(got, want)  # bit-exact (NaN payloads, -0.0), same shape (0-d stays 0-d)
        assert got.flags.c_contiguous
        assert got.flags.writeable


@settings(max_examples=60, deadline=None)
@given(arrays=arrays_strategy, chunk=st.integers(min_value=1, max_value=64))
def test_incremental_reader_accepts_any_chunking(arrays: list[np.ndarray], chunk: int) -> None:
    data = wire("t", arrays) * 2  # two frames back to back
    reader = FrameReader()
    frames, pos = [], 0
    while pos < len(data):
        view = reader.buffer()
        n = min(len(view), chunk, len(data) - pos)
        view[:n] = data[pos : pos + n]
        pos += n
        frame = reader.advance(n)
        if frame is not None:
            frames.append(frame)
    assert len(frames) == 2
    assert reader.idle
    for frame in frames:
        for got, want in zip(frame.arrays, arrays, strict=True):
            assert same(got, want)


@pytest.mark.parametrize("dtype", [">u8", ">i4", ">f8", ">f2"])
def test_big_endian_and_strided_inputs_arrive_native(dtype: str) -> None:
    a = np.arange(12).astype(dtype).reshape(3, 4)[:, ::2]  # non-contiguous, big-endian
    (got,) = decode_frame(wire("be", [a])).arrays
    assert got.dtype == a.dtype.newbyteorder("=")
    assert got.tolist() == a.tolist()


def test_encode_does_not_copy_contiguous_arrays() -> None:
    a = np.arange(1000, dtype=np.uint64)
    parts = encode_frame("x", [a])
    a[0] = 99  # the frame's buffer is a view of the array
    assert np.frombuffer(parts[1], dtype=np.uint64)[0] == 99


def test_header_layout_matches_the_documented_format() -> None:
    data = wire("ab", [np.zeros((2, 3), dtype=np.int32)])
    magic, version, kind, tag_len, n, reserved, meta_len, data_len = struct.unpack(
        "<4sBBHHHIQ", data[:HEADER_SIZE]
    )
    assert (magic, version, kind, tag_len, n, reserved) == (MAGIC, VERSION, 1, 2, 1, 0)
    assert meta_len == 2 + 4 + 2 * 8
    assert data_len == 24
    assert data[HEADER_SIZE : HEADER_SIZE + 2] == b"ab"
    assert data[HEADER_SIZE + 2] == 6  # dtype code of <i4


def test_control_kinds_round_trip() -> None:
    for kind in FrameKind:
        frame = decode_frame(wire("why", [], kind=kind))
        assert frame.kind is kind
        assert frame.arrays == ()


def test_repr_never_shows_the_payload() -> None:
    secret = np.array([123456789], dtype=np.uint64)
    frame = decode_frame(wire("s", [secret]))
    assert "123456789" not in repr(frame)
    assert "uint64[1]" in repr(frame)


# -- refusals on the sending side ---------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [np.array(["a"]), np.array([object()]), np.array([1 + 2j]), np.zeros(2, dtype="i4,i4")],
)
def test_encode_refuses_non_numeric_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ParameterTypeError, match=r"dtype"):
        encode_frame("t", [bad])


def test_encode_refuses_bad_tags_and_oversized_messages() -> None:
    with pytest.raises(ParameterError, match=r"tag"):
        encode_frame("", [])
    with pytest.raises(ParameterError, match=r"tag"):
        encode_frame("é", [])
    with pytest.raises(ParameterError, match=r"exceeds the frame limit of 100 bytes"):
        encode_frame("t", [np.zeros(20)], max_bytes=100)


# -- malformed frames on the receiving side -----------------------------------------------

GOOD = wire("mul/1", [np.arange(6, dtype=np.uint64).reshape(2, 3), np.ones(2, dtype=bool)])


def patch(data: bytes, offset: int, fmt: str, value: int | bytes) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (patch(GOOD, 0, "<4s", b"HTTP"), "bad frame magic"),
        (patch(GOOD, 4, "<B", 2), "version 2 is not supported"),
        (patch(GOOD, 4, "<B", 0), "version 0 is not supported"),
        (patch(GOOD, 5, "<B", 9), "unknown frame kind 9"),
        (patch(GOOD, 6, "<H", 0), "tag length 0"),
        (patch(GOOD, 6, "<H", 5000), "tag length 5000"),
        (patch(GOOD, 8, "<H", 60000), "announces 60000 arrays"),
        (patch(GOOD, 10, "<H", 1), "reserved field"),
        (patch(GOOD, 12, "<I", 1 << 30), "meta length"),
        (patch(GOOD, 16, "<Q", 1 << 62), "over the limit"),  # absurd length
        (patch(GOOD, 16, "<Q", 2**64 - 1), "over the limit"),
        (patch(GOOD, 16, "<Q", 10), "need more bytes than the 10 announced"),
        (patch(GOOD, HEADER_SIZE + 5, "<B", 77), "unknown dtype code 77"),
        (patch(GOOD, HEADER_SIZE + 6, "<B", 200), "descriptor is invalid"),
        (patch(GOOD, HEADER_SIZE + 9, "<Q", 2**63), "need more bytes"),  # absurd shape
        (patch(GOOD, HEADER_SIZE, "<B", 0xFF), "not ASCII"),
        (patch(GOOD, HEADER_SIZE, "<B", 0x07), "not printable"),
        (GOOD + b"\x00", "1 bytes follow the frame"),
        (b"", "frame truncated"),
    ],
)
def test_malformed_frames_raise_protocol_error(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_frame(data)


def test_every_truncation_raises_protocol_error() -> None:
    for cut in range(len(GOOD)):
        with pytest.raises(ProtocolError):
            decode_frame(GOOD[:cut])


def test_meta_longer_than_descriptors_is_refused() -> None:
    b = bytearray(GOOD)
    meta_len = struct.unpack_from("<I", b, 12)[0]
    struct.pack_into("<I", b, 12, meta_len + 8)
    b[HEADER_SIZE + meta_len : HEADER_SIZE + meta_len] = bytes(8)
    with pytest.raises(ProtocolError, match=r"trailing bytes"):
        decode_frame(bytes(b))


def test_a_huge_announcement_is_refused_before_any_allocation() -> None:
    header = struct.pack("<4sBBHHHIQ", MAGIC, VERSION, 1, 1, 1, 0, 1 + 4 + 8, 8 * 10**12)
    with pytest.raises(ProtocolError, match=r"refused before allocating"):
        parse_header(header)
    # The same with a limit the caller lowered.
    with pytest.raises(ProtocolError, match=r"over the limit of 16"):
        decode_frame(wire("t", [np.zeros(3)]), max_bytes=16)


def test_random_garbage_never_crashes() -> None:
    rng = np.random.default_rng(0)  # test data only
    for _ in range(2000):
        n = int(rng.integers(0, 80))
        junk = MAGIC + bytes([VERSION]) + rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        try:
            decode_frame(junk)
        except ProtocolError:
            continue


def _empty_frame(shape: tuple[int, ...]) -> bytes:
    """A frame of one empty uint64 array of ``shape`` (0 payload bytes), built by hand."""
    good = wire("in/0", [np.empty((0,) * len(shape), dtype=np.uint64)])
    b = bytearray(good)
    struct.pack_into(f"<{len(shape)}Q", b, HEADER_SIZE + len("in/0") + 4, *shape)
    return bytes(b)


@pytest.mark.parametrize("shape", [(0, 2**63), (0, 2**31, 2**31, 2**31), (2**40, 0)])
def test_an_empty_array_with_absurd_sides_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ProtocolError, match=r"empty but its other sides"):
        decode_frame(_empty_frame(shape))


def test_a_legitimate_empty_array_still_arrives() -> None:
    (a,) = decode_frame(_empty_frame((0, 4096))).arrays
    assert a.shape == (0, 4096)


def test_a_frame_of_empty_arrays_counts_their_memory() -> None:
    frame = decode_frame(wire("t", [np.empty((0,), dtype=np.uint64)] * 100))
    assert frame.nbytes == 0
    assert frame.footprint == FRAME_OVERHEAD + 100 * ARRAY_OVERHEAD
