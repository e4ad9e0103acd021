"""Bit planes, shared-factor AND triples, plane-layout dealer material, and exact comparison
and truncation at the edges of their documented ranges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smpc_harness import run_protocol

from privet.core import SecureRandom
from privet.core.channel import InMemoryNetwork
from privet.errors import ParameterError
from privet.smpc import reconstruct_additive, reconstruct_xor, share_additive, share_xor
from privet.smpc.bitplanes import from_plane, plane_words, to_planes
from privet.smpc.bits import (
    and_fan,
    less_than_plan,
    less_than_planes,
    less_than_public,
    plane_to_arith,
    plane_to_arith_plan,
)
from privet.smpc.dealer import Dealer, MaterialSource
from privet.smpc.recipes import dabits, fan_triples, wrap_masks
from privet.smpc.ring import from_signed, to_signed
from privet.smpc.truncation import (
    less_than_zero,
    less_than_zero_plan,
    truncate,
    truncate_relu,
    truncate_relu_plan,
    truncation_plan,
)

U64 = np.uint64


def _planes_reference(x: np.ndarray, planes: int) -> np.ndarray:
    """Bit i of element j -> bit (j mod 64) of word (i, j // 64), by explicit bit loops."""
    n = x.size
    out = np.zeros((planes, plane_words(n)), dtype=U64)
    for i in range(planes):
        bit = (x >> U64(i)) & U64(1)
        for j in range(64):
            col = bit[j::64]
            out[i, : col.size] |= col << U64(j)
    return out


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 1000])
@pytest.mark.parametrize("planes", [1, 7, 8, 9, 16, 62, 64])
def test_to_planes_matches_a_bit_by_bit_reference(n: int, planes: int) -> None:
    x = np.random.default_rng(n + planes).integers(0, 2**64, n, dtype=U64, endpoint=False)
    x[: min(n, 2)] = [0xFFFF_FFFF_FFFF_FFFF, 0][: min(n, 2)]
    got = to_planes(x, planes)
    assert got.dtype == U64
    assert got.flags.c_contiguous
    assert np.array_equal(got, _planes_reference(x, planes))
    for i in (0, planes - 1):
        if n:
            assert np.array_equal(from_plane(got[i], n), (x >> U64(i)) & U64(1))


def test_to_planes_across_chunk_boundaries() -> None:
    # 8 bytes kept per word: 1024 blocks per chunk; 3 planes: 8192 blocks per chunk
    n = 64 * 8192 * 2 + 77
    x = np.random.default_rng(1).integers(0, 2**64, n, dtype=U64, endpoint=False)
    for planes in (3, 64):
        got = to_planes(x, planes)
        for i in range(planes):
            assert np.array_equal(from_plane(got[i], n), (x >> U64(i)) & U64(1)), i


def test_to_planes_takes_any_shape_and_checks_planes() -> None:
    x = np.arange(12, dtype=U64).reshape(3, 4)
    assert np.array_equal(to_planes(x, 4), to_planes(x.reshape(-1), 4))
    for bad in (0, 65):
        with pytest.raises(ParameterError, match=r"planes must be in 1\.\.64"):
            to_planes(x, bad)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=200),
    planes=st.integers(1, 64),
    parties=st.integers(2, 4),
)
def test_planes_of_xor_shares_are_xor_shares_of_the_planes(
    values: list[int], planes: int, parties: int
) -> None:
    x = np.array(values, dtype=U64)
    shares = share_xor(x, parties=parties, rng=SecureRandom.seeded(len(values)))
    got = reconstruct_xor([to_planes(s, planes) for s in shares])
    assert np.array_equal(got, _planes_reference(x, planes))


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("fan", [1, 2, 3])
def test_and_fan_is_exact(n: int, fan: int) -> None:
    g = np.random.default_rng(fan)
    x = g.integers(0, 2**64, (5, 7), dtype=U64, endpoint=False)
    ys = g.integers(0, 2**64, (fan, 5, 7), dtype=U64, endpoint=False)
    sx = share_xor(x, parties=n, rng=SecureRandom.seeded(3))
    sy = share_xor(ys, parties=n, rng=SecureRandom.seeded(4))
    outs = run_protocol(
        n, lambda s, i, m: and_fan(s, sx[i], sy[i], m[0]), [fan_triples((5, 7), fan)]
    )
    assert np.array_equal(reconstruct_xor(outs), x[None] & ys)


def _material(parties: int, plan: list) -> list[list]:  # type: ignore[type-arg]
    net = InMemoryNetwork(parties, dealer=True, clients=1)
    dealer = Dealer(net.channel(parties), SecureRandom.seeded(21))
    sources = [MaterialSource(net.channel(i), timeout=5.0) for i in range(parties)]
    dealer.setup()
    for s in sources:
        s.setup()
    dealer.serve(1, plan)
    return [s.fetch(1, plan) for s in sources]


@pytest.mark.parametrize("parties", [2, 3])
@pytest.mark.parametrize("bits", [1, 16, 62])
def test_plane_layout_dealer_material_is_tied_to_the_mask(parties: int, bits: int) -> None:
    n = 1000
    mats = _material(
        parties,
        [wrap_masks((n,), bits, with_low_bits=True, planes=True), dabits((n,), packed=True)],
    )
    r = reconstruct_additive([m[0]["r"] for m in mats])
    r_lo = reconstruct_xor([m[0]["r_lo"] for m in mats])
    assert r_lo.shape == (bits, plane_words(n))
    assert np.array_equal(r_lo, to_planes(r & U64((1 << bits) - 1), bits))
    assert np.array_equal(reconstruct_additive([m[0]["r_hi"] for m in mats]), r >> U64(bits))
    bx = reconstruct_xor([m[1]["bx"] for m in mats])
    assert bx.shape == (plane_words(n),)
    assert np.array_equal(reconstruct_additive([m[1]["ba"] for m in mats]), from_plane(bx, n))


def test_less_than_planes_checks_the_plane_shape() -> None:
    def body(s, i, m):  # type: ignore[no-untyped-def]
        return less_than_planes(
            s, np.zeros(10, dtype=U64), np.zeros((16, 2), dtype=U64), bits=16, material=m
        )

    with pytest.raises(ParameterError, match=r"r_planes must have shape \(16, 1\)"):
        run_protocol(2, body, less_than_plan((10,), bits=16))


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("bits", [1, 2, 5, 32, 62, 64])
def test_less_than_public_at_the_range_edges(n: int, bits: int) -> None:
    top = (1 << bits) - 1
    edge = [0, 1, top, top - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1]
    pairs = np.array([(a, b) for a in edge for b in edge], dtype=np.uint64).T
    g = np.random.default_rng(bits)
    rand = g.integers(0, top, (2, 131), dtype=U64, endpoint=True)
    c, r = np.concatenate([pairs, rand], axis=1)
    sr = share_xor(r, parties=n, rng=SecureRandom.seeded(9))
    outs = run_protocol(
        n,
        lambda s, i, m: less_than_public(s, c, sr[i], bits=bits, material=m),
        less_than_plan(c.shape, bits=bits),
    )
    assert np.array_equal(reconstruct_xor(outs), (c < r).astype(U64))


@pytest.mark.parametrize("size", [1, 64, 65])
def test_plane_to_arith_converts_every_element(size: int) -> None:
    b = np.random.default_rng(size).integers(0, 2, size, dtype=U64)
    b[0] = 1
    plane = to_planes(b, 1)[0]
    sp = share_xor(plane, parties=2, rng=SecureRandom.seeded(2))
    outs = run_protocol(
        2, lambda s, i, m: plane_to_arith(s, sp[i], (size,), m[0]), plane_to_arith_plan((size,))
    )
    assert np.array_equal(reconstruct_additive(outs), b)


def _share(x: np.ndarray, n: int) -> list[np.ndarray]:
    return share_additive(from_signed(x.astype(np.int64)), parties=n, rng=SecureRandom.seeded(5))


_LIMIT = 2**62


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("bits", [1, 16, 31, 62])
@pytest.mark.parametrize("mode", ["dealer", "exact"])
def test_truncation_at_the_range_limit(n: int, bits: int, mode: str) -> None:
    g = np.random.default_rng(bits)
    s = 1 << bits
    edge = [0, -1, 1, _LIMIT - 1, -_LIMIT, -_LIMIT + 1, s, -s, s - 1, -s + 1, s + 1, -s - 1]
    x = np.concatenate([edge, g.integers(-_LIMIT, _LIMIT, 500)]).astype(np.int64)
    sx = _share(x, n)
    outs = run_protocol(
        n,
        lambda ss, i, m: truncate(ss, sx[i], bits=bits, mode=mode, material=m),  # type: ignore[arg-type]
        truncation_plan(x.shape, bits=bits, mode=mode),  # type: ignore[arg-type]
    )
    err = to_signed(reconstruct_additive(outs)) - (x >> bits)
    assert np.all(err == 0) if mode == "exact" else set(np.unique(err)) <= {0, 1}


def test_local_truncation_of_small_values_near_edges() -> None:
    x = np.array([0, -1, 1, 2**20, -(2**20), 2**16 - 1, -(2**16) + 1], dtype=np.int64)
    sx = _share(x, 2)
    outs = run_protocol(
        2, lambda s, i, m: truncate(s, sx[i], bits=16, mode="local", material=m), []
    )
    assert set(np.unique(to_signed(reconstruct_additive(outs)) - (x >> 16))) <= {0, 1}


@settings(max_examples=15, deadline=None)
@given(
    values=st.lists(st.integers(-_LIMIT, _LIMIT - 1), min_size=1, max_size=70),
    bits=st.integers(1, 62),
    n=st.integers(2, 3),
)
def test_exact_truncation_is_the_floor(values: list[int], bits: int, n: int) -> None:
    x = np.array(values, dtype=np.int64)
    sx = _share(x, n)
    outs = run_protocol(
        n,
        lambda s, i, m: truncate(s, sx[i], bits=bits, mode="exact", material=m),
        truncation_plan(x.shape, bits=bits, mode="exact"),
    )
    assert np.array_equal(to_signed(reconstruct_additive(outs)), x >> bits)


def test_less_than_zero_sends_31_and_5_8_bytes_per_element_in_8_rounds() -> None:
    m = 6400  # a multiple of 64: c (8 B), the tree (188 planes: 23.5 B), the daBit (1/8 B)
    x = np.arange(-m // 2, m // 2, dtype=np.int64)
    sx = _share(x, 2)
    sent: list[dict[str, int]] = [{}, {}]

    def body(s, i, mat):  # type: ignore[no-untyped-def]
        before = s.channel.stats.snapshot()
        out = less_than_zero(s, sx[i], material=mat)
        s.end()
        after = s.channel.stats.snapshot()
        sent[i] = {k: after[k] - before[k] for k in after}
        return out

    outs = run_protocol(2, body, less_than_zero_plan(x.shape))
    assert np.array_equal(to_signed(reconstruct_additive(outs)), (x < 0).astype(np.int64))
    for i in range(2):
        assert sent[i]["bytes_sent"] == m * 8 + 188 * (m // 64) * 8 + m // 8
        assert sent[i]["rounds"] == 8


@pytest.mark.parametrize("n", [2, 3])
def test_the_sign_test_covers_the_whole_ring(n: int) -> None:
    """[x < 0] is the top bit of x in two's complement, for every x in [-2^63, 2^63): it
    used to read bit 62 of x + 2^62, which is right only for |x| < 2^62."""
    g = np.random.default_rng(29)
    i64 = np.iinfo(np.int64)
    edges = [0, -1, 1, i64.min, i64.max, i64.min + 1, i64.max - 1, 2**62, -(2**62) - 1]
    edges += [2**62 - 1, -(2**62), 3 * 2**61, -3 * 2**61]
    x = np.concatenate([edges, g.integers(i64.min, i64.max, 700, endpoint=True)])
    sx = _share(x.astype(np.int64), n)
    outs = run_protocol(
        n,
        lambda s, i, m: less_than_zero(s, sx[i], material=m),
        less_than_zero_plan(x.shape),
    )
    assert np.array_equal(to_signed(reconstruct_additive(outs)), (x < 0).astype(np.int64))


@pytest.mark.parametrize("n", [2, 3])
def test_the_sign_test_times_a_value_costs_one_opening_more_of_8_bytes(n: int) -> None:
    m = 6400
    g = np.random.default_rng(17)
    x = np.concatenate([[0, -1, 1, -(2**62), 2**62 - 1], g.integers(-(2**62), 2**62, m - 5)])
    y = g.integers(-(2**40), 2**40, m)  # any ring values: the product is exact mod 2^64
    sx, sy = _share(x.astype(np.int64), n), _share(y.astype(np.int64), n)
    sent: list[dict[str, int]] = [{} for _ in range(n)]

    def body(s, i, mat):  # type: ignore[no-untyped-def]
        before = s.channel.stats.snapshot()
        out = less_than_zero(s, sx[i], material=mat, times=sy[i])
        s.end()
        after = s.channel.stats.snapshot()
        sent[i] = {k: after[k] - before[k] for k in after}
        return out

    outs = run_protocol(n, body, less_than_zero_plan(x.shape, product=x.shape))
    assert np.array_equal(to_signed(reconstruct_additive(outs)), np.where(x < 0, y, 0))
    for i in range(n):  # to each of the n - 1 others: the sign test's bytes, plus d = y - a
        per_peer = m * 8 + 188 * (m // 64) * 8 + m // 8 + m * 8
        assert sent[i]["bytes_sent"] == (n - 1) * per_peer
        assert sent[i]["rounds"] == 8


def test_the_sign_test_times_a_stack_of_values() -> None:
    g = np.random.default_rng(19)
    x = g.integers(-(2**62), 2**62, 300)
    y = g.integers(-(2**50), 2**50, (2, 300))  # two values ride on each comparison
    sx, sy = _share(x.astype(np.int64), 2), _share(y.astype(np.int64), 2)
    outs = run_protocol(
        2,
        lambda s, i, m: less_than_zero(s, sx[i], material=m, times=sy[i]),
        less_than_zero_plan(x.shape, product=y.shape),
    )
    assert np.array_equal(to_signed(reconstruct_additive(outs)), np.where(x < 0, y, 0))
    with pytest.raises(ParameterError, match="needs y of shape"):
        less_than_zero_plan(x.shape, product=(2, 299))


def test_truncate_then_relu_costs_the_rounds_of_one_sign_test() -> None:
    m = 6400
    g = np.random.default_rng(23)
    edges = [0, -1, 1, -(2**16), 2**16 - 1, -(2**40)]
    x = np.concatenate([edges, g.integers(-(2**45), 2**45, m - len(edges))])
    sx = _share(x.astype(np.int64), 2)
    sent: list[dict[str, int]] = [{}, {}]

    def body(s, i, mat):  # type: ignore[no-untyped-def]
        before = s.channel.stats.snapshot()
        out = truncate_relu(s, sx[i], bits=16, mode="dealer", material=mat)
        s.end()
        after = s.channel.stats.snapshot()
        sent[i] = {k: after[k] - before[k] for k in after}
        return out

    outs = run_protocol(2, body, truncate_relu_plan(x.shape, bits=16, mode="dealer"))
    got = to_signed(reconstruct_additive(outs))
    want = np.maximum(x >> 16, 0)
    assert np.all((got - want >= 0) & (got - want <= 1))  # the dealer truncation: +0 or +1 ulp
    assert np.all(got[x < 0] == 0)  # exactly 0 wherever x < 0
    for i in range(2):  # the truncation's opening rides with the sign test's: no round of its own
        assert sent[i]["rounds"] == 8
        assert sent[i]["bytes_sent"] == m * 8 + (m * 8 + 188 * (m // 64) * 8 + m // 8 + m * 8)
