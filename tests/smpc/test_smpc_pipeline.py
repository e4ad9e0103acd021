"""Instructions are pipelined within one operation, or run in an offline then an online phase
(``preprocessing()``); results and errors are unchanged."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from privet.core.random import SecureRandom
from privet.errors import ParameterError, ProtocolError, TransportError
from privet.smpc import InProcessCluster
from privet.smpc import max as shared_max
from privet.smpc.program import Instruction


def _events(cluster: InProcessCluster) -> list[str]:
    """Record the driver's instruction sends and acknowledgement reads, in order."""
    ch: Any = cluster.driver._ch
    events: list[str] = []
    send, recv = ch.send, ch.recv

    def spy_send(to: int, arrays: Any, *, tag: str) -> None:
        if tag == "op":
            events.append("send")
        send(to, arrays, tag=tag)

    def spy_recv(frm: int, *, tag: str, timeout: float | None = None) -> Any:
        if tag == "ack":
            events.append("ack")
        return recv(frm, tag=tag, timeout=timeout)

    ch.send, ch.recv = spy_send, spy_recv
    return events


def test_an_operation_sends_all_its_instructions_before_reading_an_ack() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(1)) as cluster:
        x = cluster.share(np.array([-2.5, -0.25, 0.0, 0.5, 3.0]))
        events = _events(cluster)
        y = shared_max(x, method="tree")  # comparisons and local steps: many instructions
        sends = events.count("send")
        assert sends >= 9  # 3 levels, each a comparison to the dealer and both parties
        # then one sync to each of the 3 endpoints, and one acknowledgement from each
        assert events == ["send"] * sends + ["ack"] * 3
        assert y.reveal() == pytest.approx(3.0, abs=2**-15)
        assert cluster.cost_report()["max"].rounds == 3 * 8  # every instruction was counted


def test_a_failure_inside_a_pipelined_operation_raises_its_root_cause() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(2)) as cluster:
        x = cluster.share(np.array([1.0, -1.0, 0.5, 2.0]))
        party = cluster._parties[1]

        def broken(ins: Instruction) -> None:
            raise ProtocolError("injected failure in ltz")

        party._ops["ltz"] = broken
        with pytest.raises(ProtocolError, match="injected failure in ltz"):
            shared_max(x)  # the first of several instructions in flight fails
        with pytest.raises(ProtocolError, match="failed earlier"):
            x.reveal()


def _who(cluster: InProcessCluster) -> list[tuple[str, str]]:
    """Record (event, 'dealer' | 'party') for the driver's instruction sends and ack reads."""
    ch: Any = cluster.driver._ch
    dealer = ch.dealer
    events: list[tuple[str, str]] = []
    send, recv = ch.send, ch.recv

    def spy_send(to: int, arrays: Any, *, tag: str) -> None:
        if tag == "op":
            events.append(("send", "dealer" if to == dealer else "party"))
        send(to, arrays, tag=tag)

    def spy_recv(frm: int, *, tag: str, timeout: float | None = None) -> Any:
        if tag == "ack":
            events.append(("ack", "dealer" if frm == dealer else "party"))
        return recv(frm, tag=tag, timeout=timeout)

    ch.send, ch.recv = spy_send, spy_recv
    return events


def test_preprocessing_runs_the_dealer_first_then_the_parties() -> None:
    values = np.array([-2.5, -0.25, 0.0, 0.5, 3.0])
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(3)) as cluster:
        x = cluster.share(values)
        events = _who(cluster)
        with cluster.preprocessing():
            y = shared_max(x)  # a tree of comparisons and products: several dealer requests
        dealer_done = max(i for i, e in enumerate(events) if e == ("ack", "dealer"))
        first_party = min(i for i, e in enumerate(events) if e == ("send", "party"))
        assert dealer_done < first_party  # every piece of material exists before the online phase
        assert events.count(("send", "dealer")) >= 3  # requests, then the offline phase's sync
        assert events.count(("ack", "dealer")) == 1  # one acknowledgement ends that phase
        row = cluster.cost_report()["max"]
        assert 0 < row.offline_seconds < row.seconds
        assert row.online_seconds == pytest.approx(row.seconds - row.offline_seconds)
        z = shared_max(x)  # outside: overlapped, no offline phase of its own
        assert cluster.cost_report()["max"].offline_seconds == row.offline_seconds
        got, again = y.reveal(), z.reveal()
    assert got == pytest.approx(3.0, abs=2**-15)
    assert np.array_equal(got, again)


def test_preprocessing_keeps_inputs_outputs_and_nesting_rules() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(4)) as cluster:
        with cluster.preprocessing():
            x = cluster.share(np.array([1.0, -3.0]))  # client I/O runs at once
            y = (x * x).sum()
            assert y.reveal() == pytest.approx(10.0, abs=1e-3)
        with (
            cluster.driver.op("outer"),
            pytest.raises(ParameterError, match="outside"),
            cluster.preprocessing(),
        ):
            pass


def test_a_failure_in_the_online_phase_of_a_preprocessed_operation_is_its_root_cause() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(5)) as cluster:
        x = cluster.share(np.array([1.0, -1.0]))

        def broken(ins: Instruction) -> None:
            raise ProtocolError("injected failure in ltz")

        cluster._parties[0]._ops["ltz"] = broken
        with cluster.preprocessing(), pytest.raises(ProtocolError, match="injected failure"):
            shared_max(x)


def test_an_operation_of_one_instruction_needs_no_sync() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(4)) as cluster:
        x = cluster.share(np.array([1.5, -2.0]))
        events = _events(cluster)
        y = x * x  # one instruction to the dealer and both parties, which asks for the ack
        assert events == ["send"] * 3 + ["ack"] * 3
        assert y.reveal() == pytest.approx([2.25, 4.0], abs=2**-14)


def test_instructions_held_when_user_code_fails_still_run() -> None:
    """The last instruction of an operation is held back; an exception must not lose it."""
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(5)) as cluster:
        x = cluster.share(np.array([1.5, -2.0]))
        box: list[Any] = []

        def user_code() -> None:
            with cluster.driver.op("mine"):
                box.append(x * x)
                raise RuntimeError("user code failed after a product")

        with pytest.raises(RuntimeError, match="user code"):
            user_code()
        y = box[0]
        assert y.reveal() == pytest.approx([2.25, 4.0], abs=2**-14)
        assert (y + x).reveal() == pytest.approx([3.75, 2.0], abs=2**-14)


def test_a_long_operation_reports_progress_within_each_timeout() -> None:
    """The timeout bounds each wait, as per instruction before, not a whole operation."""
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(6), timeout=0.25) as cluster:
        x = cluster.share(np.ones((200, 200)))
        y = x
        t = time.monotonic()
        with cluster.driver.op("chain"):
            while time.monotonic() - t < 0.8:  # keeps the parties busy past the timeout
                y = y + x
        assert float(y.reveal()[0, 0]) > 2.0
        assert time.monotonic() - t > 3 * 0.25


def test_a_send_that_fails_mid_operation_raises_its_own_cause() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(7), timeout=1.0) as cluster:
        x = cluster.share(np.array([1.0, -2.0, 3.0, 0.5]))
        ch: Any = cluster.driver._ch
        send, count = ch.send, [0]

        def failing(to: int, arrays: Any, *, tag: str) -> None:
            count[0] += 1
            if tag == "op" and to == 1 and count[0] > 4:
                raise TransportError("injected send failure")
            send(to, arrays, tag=tag)

        ch.send = failing
        with pytest.raises(TransportError, match="injected send failure"):
            shared_max(x)


def test_a_preprocessed_operation_that_user_code_breaks_still_runs_its_steps() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(8)) as cluster:
        x = cluster.share(np.array([1.5, -2.0]))
        box: list[Any] = []

        def user_code() -> None:
            with cluster.preprocessing(), cluster.driver.op("mine"):
                box.append(x + x)  # a local instruction, deferred
                raise RuntimeError("user code")

        with pytest.raises(RuntimeError, match="user code"):
            user_code()
        assert box[0].reveal() == pytest.approx([3.0, -4.0], abs=2**-14)
