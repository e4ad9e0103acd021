"""Bulk transfers over TlsChannel: both directions at once, the read budget, dead peers."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
from transport_helpers import open_mesh, run_threads

from privet.errors import ProtocolError, TransportError
from privet.transport import peer
from privet.transport.certs import Credentials
from privet.transport.framing import encode_frame
from privet.transport.mesh import KEEPALIVE_IDLE_S, KEEPALIVE_PROBES, TlsChannel


def kill(chan: TlsChannel) -> None:
    """Drop every socket of ``chan`` without a goodbye, as a killed process would."""
    for link in chan._links.values():
        link.sock.close()


def messages(seed: int) -> list[list[np.ndarray]]:
    """Messages of many sizes: tiny ones, some over the read budget, odd lengths."""
    rng = np.random.default_rng(seed)
    sizes = [1, 3, 17, 2049, 300_001, 5, 1_000_003, 0, 65_536, 2_500_000]
    return [
        [rng.integers(0, 2**63, n, dtype=np.uint64), rng.random(n % 97).astype(np.float32)]
        for n in sizes
    ]


def swap_all(me: TlsChannel, other: int, seed: int) -> list[list[np.ndarray]]:
    """Send every message to ``other`` (no reads in between), then read its messages."""
    for k, msg in enumerate(messages(seed)):
        me.send(other, msg, tag=f"m{k}")
    return [me.recv(other, tag=f"m{k}") for k in range(len(messages(0)))]


def check_same(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert len(g) == len(w)
        for a, b in zip(g, w, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_both_directions_at_once_deliver_every_byte(creds: dict[str, Credentials]) -> None:
    a, b = open_mesh(creds, parties=2, timeout=30.0)
    got = run_threads(lambda: swap_all(a, 1, seed=1), lambda: swap_all(b, 0, seed=2))
    for res in got:
        assert not isinstance(res, BaseException), res
    check_same(got[0], messages(2))
    check_same(got[1], messages(1))
    assert a.wire_bytes[0] == b.wire_bytes[1]
    assert a.wire_bytes[1] == b.wire_bytes[0]
    a.close()
    b.close()


def test_a_tiny_budget_still_delivers_everything(
    creds: dict[str, Credentials], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One read per pull: a frame's header, meta block and first bytes share a TLS record,
    # so most pulls stop with bytes waiting inside OpenSSL where no selector sees them.
    # Without reading those again at once, every receive below would time out.
    monkeypatch.setattr(peer, "_BUDGET", 1)
    a, b = open_mesh(creds, parties=2, timeout=5.0)
    for k in range(20):
        a.send(1, [np.array([k], dtype=np.int64), np.arange(k, dtype=np.uint8)], tag="s")
    for k in range(20):
        got = b.recv(0, tag="s", timeout=2.0)
        assert got[0].tolist() == [k]
        assert got[1].tolist() == list(range(k))
    got = run_threads(lambda: swap_all(a, 1, seed=3), lambda: swap_all(b, 0, seed=4))
    check_same(got[0], messages(4))
    check_same(got[1], messages(3))
    a.close()
    b.close()


def test_many_small_rounds_after_a_bulk_transfer(creds: dict[str, Credentials]) -> None:
    a, b = open_mesh(creds, parties=2, timeout=10.0)
    x = np.arange(3_000_000, dtype=np.uint64)

    def side(me: TlsChannel, other: int) -> int:
        me.send(other, [x], tag="bulk")
        total = int(me.recv(other, tag="bulk")[0][-1])
        for k in range(200):  # ping-pong rounds, as the protocols run them
            me.send(other, [np.array([k])], tag=f"r{k}")
            total += int(me.recv(other, tag=f"r{k}")[0][0])
        return total

    want = 2_999_999 + sum(range(200))
    assert run_threads(lambda: side(a, 1), lambda: side(b, 0)) == [want, want]
    a.close()
    b.close()


def test_a_peer_killed_while_we_send_fails_the_sender(creds: dict[str, Credentials]) -> None:
    a, b = open_mesh(creds, parties=2, timeout=30.0)
    x = np.zeros(16_000_000, dtype=np.uint64)  # 128 MB: far more than the socket buffers

    def die_soon() -> None:
        time.sleep(0.3)
        kill(b)  # b never reads; its process is gone with our bytes unread

    t = time.monotonic()
    res = run_threads(lambda: a.send(1, [x], tag="big"), die_soon)
    assert time.monotonic() - t < 10  # well before the 30 s timeout
    assert isinstance(res[0], TransportError), res[0]
    assert "party-1" in str(res[0])
    with pytest.raises(TransportError, match=r"the network is broken"):
        a.recv(1, tag="x")
    a.abort("done")


def test_a_peer_killed_mid_frame_fails_the_receiver(creds: dict[str, Credentials]) -> None:
    a, b = open_mesh(creds, parties=2, timeout=30.0)
    parts = encode_frame("big", [np.zeros(4_000_000, dtype=np.uint64)])

    def die_mid_frame() -> None:
        sock = b._links[0].sock
        sock.setblocking(True)
        sock.settimeout(20)
        sock.sendall(parts[0])
        sock.sendall(parts[1][:5_000_000])  # 5 of the announced 32 MB, then it dies
        time.sleep(0.2)
        kill(b)

    t = time.monotonic()
    res = run_threads(lambda: a.recv(1, tag="big"), die_mid_frame)
    assert time.monotonic() - t < 10
    assert isinstance(res[0], ProtocolError), res[0]
    assert "truncated" in str(res[0])
    a.abort("done")


def test_every_link_has_tcp_keepalive(creds: dict[str, Credentials]) -> None:
    """A peer whose host vanishes sends nothing, not even a reset: keepalive probes find it."""
    a, b = open_mesh(creds, parties=2, timeout=30.0)
    try:
        for chan in (a, b):  # the connecting side and the accepting side
            for link in chan._links.values():
                assert link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                if hasattr(socket, "TCP_KEEPIDLE"):
                    idle = link.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
                    count = link.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
                    assert (idle, count) == (KEEPALIVE_IDLE_S, KEEPALIVE_PROBES[1])
    finally:
        a.close()
        b.close()
