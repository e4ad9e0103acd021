"""TlsChannel over real loopback TLS sockets (one endpoint per thread)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from transport_helpers import open_mesh, run_threads

from privet.core.channel import Channel
from privet.errors import (
    ParameterError,
    PeerTimeoutError,
    ProtocolError,
    TransportError,
)
from privet.transport.certs import Credentials
from privet.transport.mesh import TlsChannel


def kill(chan: TlsChannel) -> None:
    """Drop every socket of ``chan`` without a goodbye, as a killed process would."""
    for link in chan._links.values():
        link.sock.close()


def test_implements_the_channel_protocol(mesh3: list[TlsChannel]) -> None:
    c = mesh3[0]
    assert isinstance(c, Channel)
    assert (c.party, c.parties, c.dealer, c.endpoints) == (0, 3, 3, 5)
    assert [m.party for m in mesh3] == [0, 1, 2, 3, 4]
    assert "TlsChannel(party=0" in repr(c)


def test_every_pair_exchanges_messages_in_order(mesh3: list[TlsChannel]) -> None:
    n = len(mesh3)

    def endpoint(i: int) -> dict[int, list[int]]:
        ch = mesh3[i]
        for j in range(n):
            if j != i and not (i == 4 and j == 4):
                for k in range(3):
                    ch.send(j, [np.array([i, j, k], dtype=np.int64)], tag=f"m{k}")
        got = {}
        for j in range(n):
            if j != i:
                got[j] = [int(ch.recv(j, tag=f"m{k}")[0][2]) for k in range(3)]
        return got

    results = run_threads(*[lambda i=i: endpoint(i) for i in range(n)])
    for i, res in enumerate(results):
        assert not isinstance(res, BaseException), res
        assert res == {j: [0, 1, 2] for j in range(n) if j != i}
    s = mesh3[0].stats
    assert (s.messages_sent, s.messages_received, s.bytes_sent) == (12, 12, 12 * 24)
    assert s.rounds == 1  # every send happens before the first receive
    sent, received = mesh3[0].wire_bytes
    assert sent > s.bytes_sent
    assert received > s.bytes_received


def test_large_simultaneous_sends_do_not_deadlock(creds: dict[str, Credentials]) -> None:
    a, b = open_mesh(creds, parties=2, timeout=30.0)
    x = np.arange(4_000_000, dtype=np.uint64)  # 32 MB each way, far above socket buffers

    def swap(me: TlsChannel, peer: int) -> int:
        me.send(peer, [x, x[:10]], tag="big")
        got = me.recv(peer, tag="big")
        return int(got[0].sum() == x.sum()) + int(got[1].tolist() == list(range(10)))

    assert run_threads(lambda: swap(a, 1), lambda: swap(b, 0)) == [2, 2]
    a.close()
    b.close()


def test_all_dtypes_travel(mesh3: list[TlsChannel]) -> None:
    arrays = [
        np.array(True),
        np.arange(5, dtype=np.int8),
        np.arange(6, dtype=np.uint16).reshape(2, 3),
        np.array([-(2**62)], dtype=np.int64),
        np.array([2**64 - 1], dtype=np.uint64),
        np.array([np.nan, -0.0, np.inf], dtype=np.float64),
        np.zeros((0, 4), dtype=np.float32),
        np.ones(3, dtype=np.float16),
    ]
    mesh3[1].send(2, arrays, tag="mix")
    got = mesh3[2].recv(1, tag="mix")
    for g, w in zip(got, arrays, strict=True):
        assert g.dtype == w.dtype
        assert g.shape == w.shape
        assert g.tobytes() == w.tobytes()


def test_send_to_self(mesh3: list[TlsChannel]) -> None:
    mesh3[0].send(0, [np.arange(2)], tag="me")
    assert mesh3[0].recv(0, tag="me")[0].tolist() == [0, 1]


def test_wrong_tag_is_a_protocol_error(mesh3: list[TlsChannel]) -> None:
    mesh3[0].send(1, [np.zeros(1)], tag="step/1")
    with pytest.raises(ProtocolError, match=r"expected tag 'step/2' from 0 but got 'step/1'"):
        mesh3[1].recv(0, tag="step/2")


def test_silence_times_out(mesh3: list[TlsChannel]) -> None:
    t = time.monotonic()
    with pytest.raises(PeerTimeoutError, match=r"timed out after 0.3 s"):
        mesh3[0].recv(1, tag="never", timeout=0.3)
    assert time.monotonic() - t < 5.0
    mesh3[1].send(0, [np.zeros(1)], tag="late")  # the channel still works after a timeout
    assert mesh3[0].recv(1, tag="late")[0].shape == (1,)


def test_clients_have_no_link_to_each_other(creds: dict[str, Credentials]) -> None:
    chans = open_mesh(creds, parties=2, clients=2, timeout=5.0)
    with pytest.raises(ParameterError, match=r"has no link to client-1"):
        chans[2].send(3, [np.zeros(1)], tag="x")
    with pytest.raises(ParameterError, match=r"endpoint id in 0..3"):
        chans[0].send(7, [np.zeros(1)], tag="x")
    for c in chans:
        c.close()


def test_closed_peer_fails_the_receiver(mesh3: list[TlsChannel]) -> None:
    mesh3[1].send(0, [np.zeros(1)], tag="last")
    mesh3[1].close()
    assert mesh3[0].recv(1, tag="last")[0].shape == (1,)  # delivered before the BYE
    with pytest.raises(TransportError, match=r"party-1 closed its channel before sending 'more'"):
        mesh3[0].recv(1, tag="more")
    with pytest.raises(TransportError, match=r"party-1 has closed its channel"):
        mesh3[0].send(1, [np.zeros(1)], tag="x")
    with pytest.raises(TransportError, match=r"closed"):
        mesh3[1].send(0, [np.zeros(1)], tag="x")
    mesh3[0].send(2, [np.zeros(1)], tag="ok")  # the others carry on
    assert mesh3[2].recv(0, tag="ok")[0].shape == (1,)


def test_abort_reaches_every_waiting_endpoint(mesh3: list[TlsChannel]) -> None:
    waiting = [lambda i=i: mesh3[i].recv(0, tag="never", timeout=30) for i in (1, 2, 3, 4)]

    def abort_soon() -> None:
        time.sleep(0.3)
        mesh3[2].abort("party-2 hit a bug")

    t = time.monotonic()
    # Everyone waits on party 0, which is alive; party 2's abort still stops them all.
    results = run_threads(*waiting[:1], *waiting[2:], abort_soon)
    assert time.monotonic() - t < 10
    for res in results[:3]:
        assert isinstance(res, TransportError), res
        assert "party-2 aborted the run: party-2 hit a bug" in str(res)
    with pytest.raises(TransportError, match=r"the network is broken"):
        mesh3[1].send(0, [np.zeros(1)], tag="x")


def test_a_dead_peer_fails_everyone_waiting(mesh3: list[TlsChannel]) -> None:
    waiting = [lambda i=i: mesh3[i].recv(1, tag="never", timeout=30) for i in (0, 3, 4)]

    def die_soon() -> None:
        time.sleep(0.3)
        kill(mesh3[2])  # party 2 vanishes while the others wait on party 1

    t = time.monotonic()
    results = run_threads(*waiting, die_soon)
    assert time.monotonic() - t < 10
    for res in results[:3]:
        assert isinstance(res, TransportError), res
        assert "party-2 closed the connection without saying goodbye" in str(res)


@pytest.mark.parametrize(
    ("garbage", "error", "message"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\n" + bytes(8), ProtocolError, "bad frame magic"),
        (b"PVTF\x07" + bytes(19), ProtocolError, "version 7 is not supported"),
        (
            b"PVTF\x01\x01\x01\x00\x01\x00\x00\x00\x0d\x00\x00\x00" + (2**60).to_bytes(8, "little"),
            ProtocolError,
            "refused before allocating",
        ),
        (b"PVTF\x01\x01", ProtocolError, "truncated"),  # then the sender dies
    ],
)
def test_malformed_frames_from_a_peer_are_protocol_errors(
    creds: dict[str, Credentials], garbage: bytes, error: type[Exception], message: str
) -> None:
    a, b = open_mesh(creds, parties=2, timeout=10.0)
    b._links[0].sock.sendall(garbage)  # a party with a valid certificate sends junk
    kill(b)
    with pytest.raises(error, match=message):
        a.recv(1, tag="x")
    with pytest.raises(TransportError, match=r"broken"):
        a.recv(1, tag="x")
    a.abort("done")


def test_messages_over_the_size_limit_are_refused(creds: dict[str, Credentials]) -> None:
    a, b = open_mesh(creds, parties=2, timeout=10.0, max_bytes=1000)
    with pytest.raises(ParameterError, match=r"exceeds the frame limit of 1000"):
        a.send(1, [np.zeros(200)], tag="big")
    a.send(1, [np.zeros(100)], tag="ok")
    assert b.recv(0, tag="ok")[0].shape == (100,)
    a.close()
    b.close()


def test_a_flooding_peer_is_a_protocol_error(creds: dict[str, Credentials]) -> None:
    a, b = open_mesh(creds, parties=2, timeout=10.0, max_bytes=1000)
    for k in range(3):  # 2400 bytes nobody asked for; a buffers at most 2 x 1000
        b.send(0, [np.zeros(100)], tag=f"f{k}")
    time.sleep(0.5)
    with pytest.raises(ProtocolError, match=r"nobody has asked for"):
        a.recv(1, tag="f0")
    a.abort("done")
    b.abort("done")


def test_a_flood_of_empty_arrays_counts_toward_the_cap(creds: dict[str, Credentials]) -> None:
    """Empty arrays carry no payload but cost memory: the cap counts each array's object."""
    a, b = open_mesh(creds, parties=2, timeout=10.0, max_bytes=1000)
    b.send(0, [np.empty((0,), dtype=np.uint64)] * 10, tag="f0")  # 0 payload bytes
    time.sleep(0.5)
    with pytest.raises(ProtocolError, match=r"nobody has asked for"):
        a.recv(1, tag="other")
    a.abort("done")
    b.abort("done")


def test_an_optional_peer_that_fails_ends_only_its_own_link(
    creds: dict[str, Credentials],
) -> None:
    """Parties 0..2 and the dealer treat client 5 (the second client) as optional."""
    chans = open_mesh(
        creds, parties=3, dealer=True, clients=2, timeout=5.0, optional={i: [5] for i in range(4)}
    )
    try:
        client = chans[5]
        client.send(0, [np.arange(3)], tag="in/0")
        client._shutdown()  # dies: no goodbye
        # what it sent before it went is still delivered, then a wait on it fails fast
        assert chans[0].recv(5, tag="in/0")[0].tolist() == [0, 1, 2]
        with pytest.raises(TransportError, match="client-1 is gone"):
            chans[0].recv(5, tag="in/1", timeout=2.0)
        with pytest.raises(TransportError, match="client-1 is gone"):
            chans[1].recv(5, tag="in/0", timeout=2.0)  # party 1 notices too
        with pytest.raises(TransportError, match="client-1 is gone"):
            chans[1].send(5, [np.zeros(2)], tag="out/0")  # and sends to it fail at once
        # the run goes on between everyone else
        chans[1].send(0, [np.ones(2)], tag="x")
        assert chans[0].recv(1, tag="x")[0].tolist() == [1.0, 1.0]
        # an essential peer's failure still breaks the channel
        chans[2].abort("party-2 gives up")
        with pytest.raises(TransportError, match="party-2"):
            chans[0].recv(2, tag="y", timeout=2.0)
        with pytest.raises(TransportError, match="broken"):
            chans[0].send(1, [np.ones(1)], tag="z")
    finally:
        for c in chans:
            c.abort("test over")


def test_optional_peers_must_be_other_endpoints(creds: dict[str, Credentials]) -> None:
    with pytest.raises(ParameterError, match="optional peer 9"):
        open_mesh(creds, parties=2, dealer=False, optional={0: [9]})
