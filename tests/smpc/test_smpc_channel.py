"""The Channel contract (privet.core.channel), run against the in-memory network.

``ChannelContract`` is the abstract suite: a transport subclasses it and implements
``make_network(n)`` (return a list of n connected channels, plus a closer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from privet.core.channel import (
    Channel,
    ChannelStats,
    InMemoryNetwork,
    check_message,
    check_tag,
    expect_arrays,
)
from privet.errors import (
    ParameterError,
    ParameterTypeError,
    PeerTimeoutError,
    ProtocolError,
    TransportError,
)


class ChannelContract:
    """What every Channel implementation must do."""

    def make_network(self, n: int) -> tuple[list[Any], Callable[[], None]]:
        raise NotImplementedError

    def test_is_a_channel(self) -> None:
        chans, close = self.make_network(2)
        try:
            assert all(isinstance(c, Channel) for c in chans)
            assert [c.party for c in chans] == [0, 1]
            assert all(c.parties == 2 for c in chans)
        finally:
            close()

    def test_arrays_arrive_intact_and_in_order(self) -> None:
        chans, close = self.make_network(2)
        try:
            payloads = [
                [np.arange(5, dtype=np.uint64)],
                [np.zeros((2, 3), dtype=np.float32), np.array(7, dtype=np.int8)],
                [np.array([True, False])],
                [],
            ]
            for k, p in enumerate(payloads):
                chans[0].send(1, p, tag=f"m{k}")
            for k, p in enumerate(payloads):
                got = chans[1].recv(0, tag=f"m{k}", timeout=5)
                assert len(got) == len(p)
                for a, b in zip(got, p, strict=True):
                    assert a.dtype == b.dtype
                    assert a.shape == b.shape
                    assert np.array_equal(a, b)
        finally:
            close()

    def test_a_wrong_tag_is_a_protocol_error(self) -> None:
        chans, close = self.make_network(2)
        try:
            chans[0].send(1, [np.zeros(1)], tag="mul/1")
            with pytest.raises(ProtocolError, match="expected tag 'mul/2'"):
                chans[1].recv(0, tag="mul/2", timeout=5)
        finally:
            close()

    def test_silence_is_a_timeout(self) -> None:
        chans, close = self.make_network(2)
        try:
            t0 = time.perf_counter()
            with pytest.raises(PeerTimeoutError):
                chans[1].recv(0, tag="never", timeout=0.2)
            assert time.perf_counter() - t0 < 5
        finally:
            close()

    def test_object_arrays_are_refused(self) -> None:
        chans, close = self.make_network(2)
        try:
            with pytest.raises(ParameterTypeError, match="object"):
                chans[0].send(1, [np.array([{"a": 1}], dtype=object)], tag="x")
            with pytest.raises(ParameterTypeError):
                chans[0].send(1, [np.array(["text"])], tag="x")
        finally:
            close()

    def test_counts_bytes_and_rounds(self) -> None:
        chans, close = self.make_network(2)
        try:
            a, b = chans
            a.send(1, [np.zeros(4, dtype=np.uint64)], tag="r1")  # round 1 for a
            a.send(1, [np.zeros(2, dtype=np.uint64)], tag="r1b")  # same round
            b.recv(0, tag="r1", timeout=5)
            b.recv(0, tag="r1b", timeout=5)
            b.send(0, [np.zeros(1, dtype=np.uint64)], tag="r2")
            a.recv(1, tag="r2", timeout=5)
            a.send(1, [np.zeros(1, dtype=np.uint64)], tag="r3")  # after a receive: round 2
            s = a.stats.snapshot()
            assert s["bytes_sent"] == 8 * 7
            assert s["messages_sent"] == 3
            assert s["rounds"] == 2
            assert b.stats.snapshot()["bytes_received"] == 8 * 6
        finally:
            close()

    def test_threads_exchange_concurrently(self) -> None:
        n = 3
        chans, close = self.make_network(n)
        try:
            results: list[float] = [0.0] * n

            def party(i: int) -> None:
                for j in range(n):
                    if j != i:
                        chans[i].send(j, [np.full(1000, i, dtype=np.float64)], tag="x")
                total = float(i)
                for j in range(n):
                    if j != i:
                        total += float(chans[i].recv(j, tag="x", timeout=10)[0][0])
                results[i] = total

            threads = [threading.Thread(target=party, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            assert results == [3.0, 3.0, 3.0]
        finally:
            close()


class TestInMemoryChannel(ChannelContract):
    def make_network(self, n: int) -> tuple[list[Any], Callable[[], None]]:
        net = InMemoryNetwork(n)
        return [net.channel(i) for i in range(n)], net.close

    def test_a_closed_peer_fails_fast(self) -> None:
        net = InMemoryNetwork(2)
        net.channel(0).close()
        t0 = time.perf_counter()
        with pytest.raises(TransportError, match="closed"):
            net.channel(1).recv(0, tag="x", timeout=30)
        assert time.perf_counter() - t0 < 5
        with pytest.raises(TransportError):
            net.channel(0).send(1, [np.zeros(1)], tag="x")

    def test_sent_arrays_are_copies(self) -> None:
        net = InMemoryNetwork(2)
        buf = np.zeros(3)
        net.channel(0).send(1, [buf], tag="x")
        buf[:] = 9
        assert net.channel(1).recv(0, tag="x")[0].tolist() == [0.0, 0.0, 0.0]

    def test_endpoint_layout_with_dealer_and_clients(self) -> None:
        net = InMemoryNetwork(3, dealer=True, clients=2)
        assert net.endpoints == 6
        assert net.dealer == 3
        assert net.channel(5).dealer == 3
        assert net.channel(5).parties == 3
        with pytest.raises(ParameterError, match="endpoint id"):
            net.channel(6)
        assert InMemoryNetwork(2).dealer is None

    def test_repr_names_no_content(self) -> None:
        net = InMemoryNetwork(2)
        assert repr(net.channel(1)) == "InMemoryChannel(party=1, parties=2, dealer=None)"


def test_tags_are_short_printable_ascii() -> None:
    assert check_tag("beaver/3/d") == "beaver/3/d"
    for bad in ["", "x" * 201, "naïve", "a\nb"]:
        with pytest.raises(ParameterError):
            check_tag(bad)
    with pytest.raises(ParameterTypeError):
        check_tag(3)


def test_check_message_wants_a_list_of_arrays() -> None:
    with pytest.raises(ParameterTypeError, match="list or tuple"):
        check_message(np.zeros(2))
    with pytest.raises(ParameterTypeError, match="item 1"):
        check_message([np.zeros(1), 5])
    with pytest.raises(ParameterTypeError):
        check_message([np.zeros(1, dtype=[("a", "i4")])])
    with pytest.raises(ParameterTypeError):
        check_message([np.zeros(1, dtype=np.complex128)])


def test_expect_arrays_rejects_count_shape_and_dtype() -> None:
    good = [np.zeros((2, 2), dtype=np.uint64)]
    assert expect_arrays(good, shapes=[(2, 2)], dtype=np.uint64, frm=0, tag="t") == good
    with pytest.raises(ProtocolError, match="sent 1 arrays"):
        expect_arrays(good, shapes=[(2, 2), (1,)], dtype=np.uint64, frm=0, tag="t")
    with pytest.raises(ProtocolError, match="shape"):
        expect_arrays(good, shapes=[(4,)], dtype=np.uint64, frm=0, tag="t")
    with pytest.raises(ProtocolError, match="dtype"):
        expect_arrays(good, shapes=[(2, 2)], dtype=np.int64, frm=0, tag="t")


def test_stats_are_thread_safe() -> None:
    stats = ChannelStats()

    def bump() -> None:
        for _ in range(1000):
            stats.record_send(8)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.bytes_sent == 32000
    assert stats.messages_sent == 4000
