"""Instructions are pipelined within one operation; results and errors are unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from privet.core.random import SecureRandom
from privet.errors import ProtocolError
from privet.smpc import InProcessCluster, relu
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
        if tag.startswith("ack/"):
            events.append("ack")
        return recv(frm, tag=tag, timeout=timeout)

    ch.send, ch.recv = spy_send, spy_recv
    return events


def test_an_operation_sends_all_its_instructions_before_reading_an_ack() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(1)) as cluster:
        x = cluster.share(np.array([-2.5, -0.25, 0.0, 0.5, 3.0]))
        events = _events(cluster)
        y = relu(x)  # a comparison and a product: several instructions
        sends = events.count("send")
        assert sends >= 6  # >= 2 instructions to dealer and both parties
        assert events == ["send"] * sends + ["ack"] * sends
        assert np.allclose(y.reveal(), [0.0, 0.0, 0.0, 0.5, 3.0], atol=2**-15)
        assert cluster.cost_report()["relu"].rounds >= 8  # every instruction was counted


def test_a_failure_inside_a_pipelined_operation_raises_its_root_cause() -> None:
    with InProcessCluster(parties=2, rng=SecureRandom.seeded(2)) as cluster:
        x = cluster.share(np.array([1.0, -1.0]))
        party = cluster._parties[1]

        def broken(ins: Instruction) -> None:
            raise ProtocolError("injected failure in ltz")

        party._ops["ltz"] = broken
        with pytest.raises(ProtocolError, match="injected failure in ltz"):
            relu(x)
        with pytest.raises(ProtocolError, match="failed earlier"):
            x.reveal()
