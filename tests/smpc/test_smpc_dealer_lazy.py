"""The receiver's corrections arrive lazily, and the material is still right and uniform."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from privet.core.channel import InMemoryNetwork
from privet.core.errors import ProtocolError
from privet.core.random import SecureRandom
from privet.smpc import InProcessCluster
from privet.smpc.dealer import Dealer, MaterialSource, receiver
from privet.smpc.recipes import dabits, fan_triples, square_pairs, triples, wrap_masks

U64 = np.uint64


def _setup(parties: int) -> tuple[Dealer, list[MaterialSource]]:
    net = InMemoryNetwork(parties, dealer=True, clients=1)
    dealer = Dealer(net.channel(parties), SecureRandom.seeded(11))
    sources = [MaterialSource(net.channel(i), timeout=5.0) for i in range(parties)]
    dealer.setup()
    for s in sources:
        s.setup()
    return dealer, sources


def _plan(n: int) -> list:
    return [
        triples("mul", (n,), (n,), {}),
        wrap_masks((n,), 16, with_low_bits=True),
        fan_triples((2, n), 2),
        dabits((n,)),
        square_pairs((n,)),
    ]


def _sum(values: list[np.ndarray]) -> np.ndarray:
    out = np.zeros_like(values[0])
    for v in values:
        out = np.add(out, v, dtype=U64)
    return out


def _xor(values: list[np.ndarray]) -> np.ndarray:
    out = np.zeros_like(values[0])
    for v in values:
        out = np.bitwise_xor(out, v)
    return out


@pytest.mark.parametrize("parties", [2, 3])
def test_lazy_corrections_in_any_reading_order(parties: int) -> None:
    dealer, sources = _setup(parties)
    n = 4096
    plan = _plan(n)
    for seq in (1, 2):
        dealer.serve(seq, plan)
        mats = [s.fetch(seq, plan) for s in sources]
        # read the last recipe's derived field first: earlier ones are received on the way
        sq = [m[4]["c"] for m in mats]
        sq_a = _sum([m[4]["a"] for m in mats])
        assert np.array_equal(_sum(sq), np.multiply(sq_a, sq_a, dtype=U64))
        a = _sum([m[0]["a"] for m in mats])
        b = _sum([m[0]["b"] for m in mats])
        assert np.array_equal(_sum([m[0]["c"] for m in mats]), np.multiply(a, b, dtype=U64))
        r = _sum([m[1]["r"] for m in mats])
        assert np.array_equal(_sum([m[1]["r_hi"] for m in mats]), r >> U64(16))
        # r_msb is shared mod 2^16 only (it is used times 2^48)
        r_msb = np.bitwise_and(_sum([m[1]["r_msb"] for m in mats]), U64(0xFFFF))
        assert np.array_equal(r_msb, r >> U64(63))
        assert np.array_equal(_xor([m[1]["r_lo"] for m in mats]), r & U64(0xFFFF))
        ax = _xor([m[2]["a"] for m in mats])
        bx = _xor([m[2]["b"] for m in mats])
        assert np.array_equal(_xor([m[2]["c"] for m in mats]), ax[None] & bx)  # c_j = a ∧ b_j
        bit = _xor([m[3]["bx"] for m in mats]) & U64(1)
        assert np.array_equal(_sum([m[3]["ba"] for m in mats]), bit)
        assert sorted(mats[-1][1]) == ["r", "r_hi", "r_lo", "r_msb"]
        assert len(mats[-1][1]) == 4


def test_unread_corrections_are_drained_before_the_next_fetch() -> None:
    dealer, sources = _setup(2)
    plan = [triples("mul", (8,), (8,), {})]
    dealer.serve(1, plan)
    for s in sources:
        s.fetch(1, plan)  # nobody reads c
    dealer.serve(2, plan)
    mats = [s.fetch(2, plan) for s in sources]
    a = _sum([m[0]["a"] for m in mats])
    b = _sum([m[0]["b"] for m in mats])
    assert np.array_equal(_sum([m[0]["c"] for m in mats]), np.multiply(a, b, dtype=U64))
    sources[1].drain()  # nothing owed: a no-op


def test_an_out_of_step_correction_is_a_protocol_error_when_read() -> None:
    dealer, sources = _setup(2)
    plan = [triples("mul", (8,), (8,), {})]
    dealer.serve(2, plan)  # the dealer serves another instruction
    mats = sources[1].fetch(1, plan)
    assert np.asarray(mats[0]["a"]).shape == (8,)  # own fields need no message
    with pytest.raises(ProtocolError):
        mats[0]["c"]


def test_the_receivers_shares_look_uniform() -> None:
    dealer, sources = _setup(2)
    n = 1 << 14
    plan = [triples("mul", (n,), (n,), {})]
    dealer.serve(1, plan)
    mats = [s.fetch(1, plan) for s in sources]
    c1 = np.asarray(mats[1][0]["c"])
    # each of the 64 bits is set in about half the words: |count - n/2| < 6 sigma
    counts = np.array([np.count_nonzero((c1 >> U64(k)) & U64(1)) for k in range(64)])
    sigma = np.sqrt(n / 4)
    assert np.all(np.abs(counts - n / 2) < 6 * sigma)
    assert not np.array_equal(c1, np.asarray(mats[0][0]["c"]))


def test_products_with_broadcasting_shapes() -> None:
    x = np.arange(3.0).reshape(3, 1) - 1
    y = np.arange(4.0).reshape(1, 4) / 2
    with InProcessCluster(parties=2) as cluster:
        z = (cluster.share(x) * cluster.share(y)).reveal()
        w = (cluster.share(y) * cluster.share(x)).reveal()
    assert np.allclose(z, x * y, atol=1e-4)
    assert np.allclose(w, x * y, atol=1e-4)


def test_tune_allocator_runs_in_a_fresh_process() -> None:
    code = "from privet.smpc.party_main import tune_allocator; print(tune_allocator())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    expected = "True" if sys.platform.startswith("linux") else "False"
    assert out.stdout.strip() in (expected, "False")


def test_corrections_go_to_the_last_party_and_narrow_fields_are_short() -> None:
    assert receiver(2) == 1
    assert receiver(3) == 2
    n = 1000
    with InProcessCluster(parties=2, truncation="dealer") as cluster:
        x, y = cluster.share(np.linspace(-3, 3, n)), cluster.share(np.linspace(2, -2, n))
        cluster.reset_costs()
        z = x * y
        cost = cluster.cost_report()["mul"]
        got = z.reveal()
    # c and r >> 16 in full words; r's top bit is used times 2^48, so 2 bytes suffice
    assert cost.dealer_bytes == (8 + 8 + 2) * n
    assert np.allclose(got, np.linspace(-3, 3, n) * np.linspace(2, -2, n), atol=2e-4)


def test_the_sign_test_takes_31_6_dealer_bytes_per_element() -> None:
    n = 6400  # a multiple of 64
    with InProcessCluster(parties=2) as cluster:
        x = cluster.share(np.linspace(-3, 3, n))
        cluster.reset_costs()
        below = x < 0.25
        cost = cluster.cost_report()["lt"]
        got = below.reveal()
    # every bit of the mask as planes (64 bits: 0..62 for the borrow, 63 the sign), the AND
    # tree's products (125 planes of n/64 words: 2·(32+16+8+4+2) + 1), the daBit's additive
    # half (8 B); no r >> m, no wrap
    assert cost.dealer_bytes == 64 * n // 8 + 125 * (n // 64) * 8 + 8 * n
    assert np.array_equal(got, np.round(np.linspace(-3, 3, n) * 2**16) < 2**14)  # 0.25 = 2^14
