"""The op-code program and the runtimes: malformed instructions are protocol errors, and
a runtime driven by hand over the in-memory network behaves as the driver expects."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pytest

import privet.smpc as smpc
from privet.core.channel import InMemoryNetwork
from privet.errors import ProtocolError
from privet.smpc.program import decode, encode, plan
from privet.smpc.runtime import DealerRuntime, PartyRuntime, decode_index, encode_index


def test_instructions_roundtrip() -> None:
    const = np.arange(3, dtype=np.uint64)
    ins = decode(encode(7, "add_const", {"out": 2, "x": 1}, [const], free=[0]))
    assert (ins.seq, ins.op, ins.free) == (7, "add_const", (0,))
    assert ins.reg("x") == 1
    assert np.array_equal(ins.consts[0], const)


@pytest.mark.parametrize(
    "msg",
    [
        [],
        [np.zeros(3, dtype=np.float64)],
        [np.frombuffer(b"\xff\xfe", dtype=np.uint8)],
        [np.frombuffer(b"[1, 2]", dtype=np.uint8)],
        [
            np.frombuffer(
                json.dumps({"v": 1, "seq": 1, "op": "add", "args": {}}).encode(), dtype=np.uint8
            )
        ],
        [
            np.frombuffer(
                json.dumps({"v": 2, "seq": -1, "op": "add", "args": {}}).encode(), dtype=np.uint8
            )
        ],
        [
            np.frombuffer(
                json.dumps({"v": 2, "seq": 1, "op": 3, "args": {}}).encode(), dtype=np.uint8
            )
        ],
    ],
)
def test_malformed_instructions_are_protocol_errors(msg: list[np.ndarray]) -> None:
    with pytest.raises(ProtocolError):
        decode(msg)


def test_bad_fields_are_protocol_errors() -> None:
    ins = decode(encode(1, "bilinear", {"kind": "pow", "xs": [2], "ys": [2], "trunc": 0}))
    with pytest.raises(ProtocolError, match="'kind' must be one of"):
        plan(ins)
    ins = decode(encode(1, "trunc", {"shape": [2], "bits": 70, "mode": "dealer"}))
    with pytest.raises(ProtocolError, match="'bits' must be <= 62"):
        plan(ins)
    ins = decode(encode(1, "ltz", {"shape": "big"}))
    with pytest.raises(ProtocolError, match="shape"):
        plan(ins)


def test_index_specs_roundtrip_and_reject_fancy_indexing() -> None:
    idx = (slice(1, None, 2), None, Ellipsis, -1)
    assert decode_index(encode_index(idx)) == idx
    with pytest.raises(ProtocolError, match="basic indexing"):
        encode_index(np.array([0, 1]))
    with pytest.raises(ProtocolError):
        decode_index([["s", 1]])
    with pytest.raises(ProtocolError):
        decode_index([["i", True]])


def _two_party_runtimes() -> tuple[Any, list[threading.Thread]]:
    """Two party runtimes on threads (no dealer needed for local ops); the driver's channel."""
    net = InMemoryNetwork(2, dealer=True, clients=1, timeout=5)
    runtimes = [PartyRuntime(net.channel(i), None, driver=3, timeout=5) for i in range(2)]
    threads = [threading.Thread(target=r.serve, daemon=True) for r in runtimes]
    for t in threads:
        t.start()
    return net.channel(3), threads


def test_a_runtime_reports_a_bad_instruction_and_stops() -> None:
    driver, threads = _two_party_runtimes()
    for i in range(2):
        driver.send(i, encode(1, "zeros", {"out": 0, "shape": [2]}), tag="op")
    acks = [json.loads(driver.recv(i, tag="ack/1")[0].tobytes()) for i in range(2)]
    assert all(a["ok"] and a["sent"] == 0 and a["rounds"] == 0 for a in acks)
    for i in range(2):
        driver.send(i, encode(2, "frobnicate", {}), tag="op")
    acks = [json.loads(driver.recv(i, tag="ack/2")[0].tobytes()) for i in range(2)]
    assert all(not a["ok"] and a["error"] == "ProtocolError" for a in acks)
    assert "unknown instruction 'frobnicate'" in acks[0]["message"]
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)  # both stopped after the error


def test_a_take_outside_the_register_is_refused() -> None:
    driver, threads = _two_party_runtimes()
    for i in range(2):
        driver.send(i, encode(1, "zeros", {"out": 0, "shape": [2, 3]}), tag="op")
        driver.send(i, encode(2, "take", {"out": 1, "x": 0, "indices": [2, 3]}), tag="op")
    for i in range(2):
        assert json.loads(driver.recv(i, tag="ack/1")[0].tobytes())["ok"]
    acks = [json.loads(driver.recv(i, tag="ack/2")[0].tobytes()) for i in range(2)]
    assert all(not a["ok"] and a["error"] == "ProtocolError" for a in acks)
    assert "out of range" in acks[0]["message"]
    for t in threads:
        t.join(5)


def test_a_garbage_instruction_stops_the_runtime() -> None:
    net = InMemoryNetwork(2, dealer=True, clients=1, timeout=5)
    rt = DealerRuntime(net.channel(2), None, driver=3)
    t = threading.Thread(target=rt.serve, daemon=True)
    t.start()
    net.channel(3).send(2, [np.zeros(4)], tag="op")
    t.join(5)
    assert not t.is_alive()


def test_public_api_is_pinned() -> None:
    assert sorted(smpc.__all__) == sorted(
        [
            "CostReport",
            "DealerRuntime",
            "Driver",
            "FixedPoint",
            "InProcessCluster",
            "InferenceReport",
            "LayerError",
            "LocalCluster",
            "OpCost",
            "PartyRuntime",
            "RemoteCluster",
            "SeedExample",
            "SharedModel",
            "SharedTensor",
            "abs",
            "argmax",
            "concatenate",
            "demo_private_inference",
            "demo_seed_example",
            "divide",
            "equal",
            "exp",
            "max",
            "maximum",
            "reciprocal",
            "reconstruct_additive",
            "reconstruct_xor",
            "relu",
            "share_additive",
            "share_xor",
            "sigmoid",
            "sign",
            "softmax",
            "stack",
            "tanh",
            "where",
        ]
    )
    for name in smpc.__all__:
        obj = getattr(smpc, name)
        assert obj.__doc__, name
