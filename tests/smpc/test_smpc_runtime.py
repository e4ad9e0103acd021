"""The op-code program and the runtimes: malformed instructions are protocol errors, and
a runtime driven by hand over the in-memory network behaves as the driver expects."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pytest

import privet.smpc as smpc
from privet.core import SecureRandom
from privet.core.channel import InMemoryNetwork
from privet.errors import ParameterError, ParameterTypeError, ProtocolError
from privet.smpc import Driver
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
        driver.send(i, encode(1, "zeros", {"out": 0, "shape": [2], "ack": True}), tag="op")
    acks = [json.loads(driver.recv(i, tag="ack")[0].tobytes()) for i in range(2)]
    assert all(a["ok"] and a["sent"] == 0 and a["rounds"] == 0 for a in acks)
    for i in range(2):
        driver.send(i, encode(2, "frobnicate", {}), tag="op")
    acks = [json.loads(driver.recv(i, tag="ack")[0].tobytes()) for i in range(2)]
    assert all(not a["ok"] and a["error"] == "ProtocolError" for a in acks)
    assert "unknown instruction 'frobnicate'" in acks[0]["message"]
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)  # both stopped after the error


def test_a_take_outside_the_register_is_refused() -> None:
    driver, threads = _two_party_runtimes()
    for i in range(2):
        driver.send(i, encode(1, "zeros", {"out": 0, "shape": [2, 3], "ack": True}), tag="op")
        driver.send(i, encode(2, "take", {"out": 1, "x": 0, "indices": [2, 3]}), tag="op")
    for i in range(2):
        assert json.loads(driver.recv(i, tag="ack")[0].tobytes())["ok"]
    acks = [json.loads(driver.recv(i, tag="ack")[0].tobytes()) for i in range(2)]
    assert all(not a["ok"] and a["error"] == "ProtocolError" for a in acks)
    assert "out of range" in acks[0]["message"]
    for t in threads:
        t.join(5)


@pytest.mark.parametrize("who", [1, 2])
def test_a_value_is_opened_to_clients_only(who: int) -> None:
    """Party 0 must not send its share to party 1 (which holds the other) or the dealer."""
    driver, threads = _two_party_runtimes()
    for i in range(2):
        driver.send(i, encode(1, "zeros", {"out": 0, "shape": [2], "ack": True}), tag="op")
        driver.send(i, encode(2, "output", {"x": 0, "dst": who, "k": 0, "frac": 16}), tag="op")
    for i in range(2):
        assert json.loads(driver.recv(i, tag="ack")[0].tobytes())["ok"]
    acks = [json.loads(driver.recv(i, tag="ack")[0].tobytes()) for i in range(2)]
    assert all(not a["ok"] and a["error"] == "ProtocolError" for a in acks)
    assert "results are opened to clients only" in acks[0]["message"]
    for t in threads:
        t.join(5)


def test_an_input_comes_from_a_client_only() -> None:
    driver, threads = _two_party_runtimes()
    args = {"out": 0, "src": 1, "k": 0, "shape": [2], "frac": 16}
    for i in range(2):
        driver.send(i, encode(1, "input", args), tag="op")
    acks = [json.loads(driver.recv(i, tag="ack")[0].tobytes()) for i in range(2)]
    assert all(not a["ok"] and "inputs come from clients" in a["message"] for a in acks)
    for t in threads:
        t.join(5)


def test_an_instruction_number_that_comes_back_is_refused() -> None:
    """A replayed seq would expand the same masks: two openings would reveal a difference."""
    with smpc.InProcessCluster(parties=2, rng=SecureRandom.seeded(8), timeout=5.0) as cluster:
        d = cluster.driver
        x, z = cluster.share(np.array([3.25, -2.0])), cluster.share(np.zeros(2))

        def trunc(t: Any) -> None:
            d.emit("trunc", t.shape, 16, {"x": t.reg, "shape": [2], "bits": 16, "mode": "dealer"})

        trunc(x)
        d._seq -= 1  # a driver out of step: the next instruction repeats the last number
        with pytest.raises(ProtocolError, match=r"does not follow instruction \d+: its masks"):
            trunc(z)


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
            "RemoteClient",
            "RemoteCluster",
            "SeedExample",
            "SharedModel",
            "SharedTensor",
            "abs",
            "argmax",
            "argmin",
            "concatenate",
            "demo_private_inference",
            "demo_seed_example",
            "divide",
            "equal",
            "exp",
            "gelu",
            "hardtanh",
            "layer_norm",
            "leaky_relu",
            "max",
            "maximum",
            "min",
            "minimum",
            "reciprocal",
            "reconstruct_additive",
            "reconstruct_xor",
            "relu",
            "rsqrt",
            "share_additive",
            "share_xor",
            "sigmoid",
            "sign",
            "silu",
            "softmax",
            "sqrt",
            "stack",
            "tanh",
            "where",
        ]
    )
    for name in smpc.__all__:
        obj = getattr(smpc, name)
        assert obj.__doc__, name


def _remote_bob() -> tuple[Driver, Any, list[threading.Thread]]:
    """Two party runtimes; a driver (3) and a client 'bob' (4) whose channel the test holds."""
    net = InMemoryNetwork(2, dealer=True, clients=2, timeout=5)
    runtimes = [PartyRuntime(net.channel(i), None, driver=3, timeout=5) for i in range(2)]
    threads = [threading.Thread(target=r.serve, daemon=True) for r in runtimes]
    for t in threads:
        t.start()
    driver = Driver(net.channel(3), remote={"bob": 4}, timeout=5)
    return driver, net.channel(4), threads


def test_a_remote_client_shares_and_receives_by_its_own_numbering() -> None:
    from privet.smpc.client import encode_input, receive_shares, send_shares

    driver, bob, _ = _remote_bob()
    assert driver.clients == ("driver", "bob")
    rng = SecureRandom.seeded(4)
    for k, values in enumerate(([1.5, -2.0], [4.0, 0.25])):
        enc, frac = encode_input(driver.codec, values)
        send_shares(bob, enc, frac, k=k, parties=2, rng=rng)
    first = driver.share_from("bob", (2,))
    second = driver.share_from("bob", (2,))
    driver.send(first + second, to="bob")
    total, frac = receive_shares(bob, k=0, parties=2, timeout=5)
    assert frac == 16
    assert driver.codec.decode(total, frac_bits=frac).tolist() == [5.5, -1.75]
    with pytest.raises(ParameterError, match="on another host"):
        driver.share([1.0], owner="bob")
    with pytest.raises(ParameterError, match="not a remote client"):
        driver.share_from("driver", (1,))


@pytest.mark.parametrize(
    ("frac", "shape", "match"),
    [(12, (2,), r"12 fractional bits \(0: integers\), the driver expects 16"), (16, (3,), "shape")],
)
def test_a_remote_input_of_another_encoding_or_shape_is_refused(
    frac: int, shape: tuple[int, ...], match: str
) -> None:
    from privet.smpc.client import send_shares
    from privet.smpc.fixed_point import FixedPoint

    driver, bob, _ = _remote_bob()
    enc = FixedPoint(frac).encode(np.ones(shape))
    send_shares(bob, enc, frac, k=0, parties=2, rng=SecureRandom.seeded(5))
    with pytest.raises(ProtocolError, match=match):
        driver.share_from("bob", (2,))


def test_send_checks_its_argument_before_numbering_the_result() -> None:
    from privet.smpc.client import receive_shares

    driver, bob, _ = _remote_bob()
    with pytest.raises(ParameterTypeError, match="expected a SharedTensor"):
        driver.send(np.ones(2), to="bob")  # type: ignore[arg-type]
    t = driver._new((1,), 16)  # a register that exists: zeros
    driver._exec("zeros", {"out": t.reg, "shape": [1]})
    driver.send(t, to="bob")
    total, frac = receive_shares(bob, k=0, parties=2, timeout=5)  # numbered 0, not 1
    assert frac == 16
    assert int(total[0]) == 0


def test_a_result_can_be_received_again_after_a_timeout() -> None:
    from privet.errors import PeerTimeoutError
    from privet.smpc.client import receive_shares
    from privet.smpc.sharing import share_additive

    net = InMemoryNetwork(2, dealer=False, clients=1, timeout=5)
    shares = share_additive(
        np.array([7, 8], dtype=np.uint64), parties=2, rng=SecureRandom.seeded(6)
    )
    meta = np.array([0], dtype=np.uint64)
    net.channel(0).send(2, [shares[0], meta], tag="out/0")
    got: dict[int, Any] = {}
    with pytest.raises(PeerTimeoutError):
        receive_shares(net.channel(2), k=0, parties=2, timeout=0.05, got=got)
    assert list(got) == [0]  # party 0's share is kept
    net.channel(1).send(2, [shares[1], meta], tag="out/0")
    total, frac = receive_shares(net.channel(2), k=0, parties=2, timeout=5, got=got)
    assert total.tolist() == [7, 8]
    assert frac == 0


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda doc: {**doc, "sent": "lots"},
        lambda doc: {**doc, "rounds": 1e400},
        lambda doc: {**doc, "messages": [1]},
        lambda doc: {**doc, "sent": -5},
        lambda doc: {**doc, "seq": True},
        lambda doc: "[" * 5000 + "]" * 5000,  # nesting deeper than json's recursion limit
    ],
)
def test_a_malformed_acknowledgement_is_a_protocol_error(
    corrupt: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A party whose acknowledgement carries a non-count (or JSON nested past the recursion
    limit) made the driver raise ValueError, OverflowError, TypeError or RecursionError."""
    with smpc.InProcessCluster(parties=2, timeout=5.0) as cluster:
        x = cluster.share([1.0, 2.0])
        sent_ack = PartyRuntime._ack

        def bad_ack(self: PartyRuntime, seq: int, doc: dict[str, Any]) -> None:
            if self.channel.party != 1:
                return sent_ack(self, seq, doc)
            body = corrupt({**doc, "seq": seq})
            text = body if isinstance(body, str) else json.dumps(body)
            arr = np.frombuffer(text.encode(), dtype=np.uint8)
            self.channel.send(self.driver, [arr], tag="ack")

        monkeypatch.setattr(PartyRuntime, "_ack", bad_ack)
        with pytest.raises(ProtocolError, match="acknowledgement"):
            (x * x).reveal()
