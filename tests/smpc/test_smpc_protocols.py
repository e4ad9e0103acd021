"""Party-level protocols in threads over the in-memory network: exact results in the ring,
stated error bounds, communication counts, and malformed messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from smpc_harness import run_protocol

from privet.core import SecureRandom
from privet.errors import ParameterError, ProtocolError
from privet.smpc import reconstruct_additive, share_additive, share_xor
from privet.smpc.beaver import (
    beaver_bilinear,
    beaver_square,
    bilinear_plan,
    square_plan,
)
from privet.smpc.bits import bit_to_arith, bit_to_arith_plan, less_than_plan, less_than_public
from privet.smpc.dealer import SeedPRG
from privet.smpc.ring import bilinear, from_signed, to_signed
from privet.smpc.truncation import (
    check_mode,
    less_than_zero,
    less_than_zero_plan,
    truncate,
    truncation_plan,
)


def _share(x: np.ndarray, n: int, seed: int = 5) -> list[np.ndarray]:
    return share_additive(
        from_signed(np.asarray(x, dtype=np.int64)), parties=n, rng=SecureRandom.seeded(seed)
    )


def _open(outs: list[np.ndarray]) -> np.ndarray:
    return to_signed(reconstruct_additive(outs))


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize(
    ("kind", "xs", "ys", "params"),
    [
        ("mul", (50,), (50,), {}),
        ("mul", (4, 1), (1, 5), {}),
        ("matmul", (6, 7), (7, 3), {}),
        ("matmul", (2, 6, 7), (7,), {}),
        ("conv2d", (2, 3, 6, 5), (4, 3, 3, 3), {"stride": 1, "padding": 1}),
        ("conv2d", (1, 2, 7, 7), (2, 2, 3, 3), {"stride": 2, "padding": 0}),
    ],
)
def test_beaver_products_are_exact_in_the_ring(
    n: int, kind: str, xs: tuple[int, ...], ys: tuple[int, ...], params: dict[str, object]
) -> None:
    g = np.random.default_rng(1)
    x, y = g.integers(-(2**40), 2**40, xs), g.integers(-(2**20), 2**20, ys)
    sx, sy = _share(x, n, 1), _share(y, n, 2)
    outs = run_protocol(
        n,
        lambda s, i, m: beaver_bilinear(s, kind, sx[i], sy[i], params, m[0]),
        bilinear_plan(kind, xs, ys, params),
    )
    expect = bilinear(kind, from_signed(x), from_signed(y), params)
    assert np.array_equal(reconstruct_additive(outs), expect)


@settings(max_examples=15, deadline=None)
@given(values=st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=30), n=st.integers(2, 4))
def test_square_is_exact(values: list[int], n: int) -> None:
    x = np.array(values, dtype=np.int64)
    sx = _share(x, n)
    outs = run_protocol(n, lambda s, i, m: beaver_square(s, sx[i], m[0]), square_plan(x.shape))
    assert np.array_equal(reconstruct_additive(outs), from_signed(x) * from_signed(x))


def test_beaver_mul_sends_four_ring_elements_per_product_for_two_parties() -> None:
    m = 1000
    sx, sy = _share(np.arange(m), 2, 1), _share(np.arange(m), 2, 2)
    sent: list[dict[str, int]] = [{}, {}]

    def body(s, i, mat):  # type: ignore[no-untyped-def]
        before = s.channel.stats.snapshot()
        out = beaver_bilinear(s, "mul", sx[i], sy[i], {}, mat[0])
        after = s.channel.stats.snapshot()
        sent[i] = {k: after[k] - before[k] for k in after}
        return out

    run_protocol(2, body, bilinear_plan("mul", (m,), (m,), {}))
    total = sent[0]["bytes_sent"] + sent[1]["bytes_sent"]
    assert total == 4 * 8 * m  # d and e from each of the 2 parties
    assert sent[0]["rounds"] == sent[1]["rounds"] == 1


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("bits", [1, 2, 3, 16, 33, 62])
def test_bitwise_less_than_public_is_exact(n: int, bits: int) -> None:
    g = np.random.default_rng(bits)
    size = 300
    c = g.integers(0, 2**bits, size, dtype=np.uint64)
    r = g.integers(0, 2**bits, size, dtype=np.uint64)
    r[:50] = c[:50]  # ties
    r[50] = 2**bits - 1
    c[51] = 2**bits - 1
    sr = share_xor(r, parties=n, rng=SecureRandom.seeded(9))
    plan = less_than_plan((size,), bits=bits) + bit_to_arith_plan((size,))

    def body(s, i, m):  # type: ignore[no-untyped-def]
        b = less_than_public(s, c, sr[i], bits=bits, material=m[:-1])
        return bit_to_arith(s, b, m[-1])

    got = reconstruct_additive(run_protocol(n, body, plan))
    assert np.array_equal(got, (c < r).astype(np.uint64))


def _trunc(x: np.ndarray, n: int, bits: int, mode: str) -> np.ndarray:
    sx = _share(x, n)
    plan = truncation_plan(x.shape, bits=bits, mode=mode)  # type: ignore[arg-type]
    outs = run_protocol(
        n, lambda s, i, m: truncate(s, sx[i], bits=bits, mode=mode, material=m), plan
    )  # type: ignore[arg-type]
    return _open(outs)


@pytest.mark.parametrize(
    ("n", "mode"), [(2, "local"), (2, "dealer"), (3, "dealer"), (2, "exact"), (3, "exact")]
)
def test_truncation_error_bounds(n: int, mode: str) -> None:
    g = np.random.default_rng(11)
    # |x| < 2^40: SecureML fails with probability <= 2^(41-64) per element (tiny here)
    x = g.integers(-(2**40), 2**40, 20_000)
    x[:4] = [0, -1, 2**16 - 1, -(2**16)]
    err = _trunc(x, n, 16, mode) - (x >> 16)
    if mode == "exact":
        assert np.all(err == 0)
    else:
        assert set(np.unique(err)) <= {0, 1}  # floor, or one ulp above


def test_dealer_truncation_near_the_range_limit_never_fails() -> None:
    # |x| close to 2^62: SecureML's local truncation would fail often; the dealer's never does.
    g = np.random.default_rng(12)
    x = g.integers(-(2**62) + 1, 2**62 - 1, 20_000)
    err = _trunc(x, 2, 16, "dealer") - (x >> 16)
    assert set(np.unique(err)) <= {0, 1}
    local = _trunc(x, 2, 16, "local") - (x >> 16)
    assert np.abs(local).max() > 2**40  # the documented failure mode exists


def test_dealer_truncation_rounds_stochastically_without_bias() -> None:
    # x = k + 1/4 ulp-units: rounds up with probability exactly 1/4 (Catrina & de Hoogh TruncPr)
    m = 40_000
    x = np.full(m, (123 << 16) + (1 << 14), dtype=np.int64)
    ups = int(np.sum(_trunc(x, 2, 16, "dealer") - 123))
    assert stats.binomtest(ups, m, 0.25).pvalue > 1e-6


def test_local_truncation_needs_two_parties() -> None:
    with pytest.raises(ParameterError, match="2 parties only"):
        check_mode("local", 3)
    with pytest.raises(ParameterError, match="must be one of"):
        check_mode("round", 2)


@pytest.mark.parametrize("n", [2, 3])
def test_less_than_zero_is_exact_over_the_whole_range(n: int) -> None:
    g = np.random.default_rng(13)
    edge = [0, -1, 1, 2**62 - 1, -(2**62) + 1, -(2**62), 2**40, -(2**40)]
    x = np.concatenate([edge, g.integers(-(2**62), 2**62, 3000)]).astype(np.int64)
    sx = _share(x, n)
    outs = run_protocol(
        n, lambda s, i, m: less_than_zero(s, sx[i], material=m), less_than_zero_plan(x.shape)
    )
    assert np.array_equal(_open(outs), (x < 0).astype(np.int64))


def test_a_malformed_message_is_a_protocol_error() -> None:
    # Party 1 sends d, e of the wrong shape under the right tag: party 0 refuses them.
    sx, sy = _share(np.arange(4), 2, 1), _share(np.arange(4), 2, 2)

    def body(s, i, m):  # type: ignore[no-untyped-def]
        if i == 1:
            s._step += 1
            bad = [np.zeros(3, dtype=np.uint64), np.zeros(4, dtype=np.uint64)]
            s.channel.send(0, bad, tag=f"{s.seq}/{s._step}/beaver/mul")
            return None
        return beaver_bilinear(s, "mul", sx[i], sy[i], {}, m[0])

    with pytest.raises(ProtocolError, match=r"shape \(3,\)"):
        run_protocol(2, body, bilinear_plan("mul", (4,), (4,), {}))


def test_an_out_of_step_message_is_a_protocol_error() -> None:
    def body(s, i, m):  # type: ignore[no-untyped-def]
        if i == 1:
            s.channel.send(0, [np.zeros(1, dtype=np.uint64)], tag="99/1/other")
            return None
        return s.open([np.zeros(1, dtype=np.uint64)], step="x")

    with pytest.raises(ProtocolError, match="out of step"):
        run_protocol(2, body, [])


def test_seed_prg_streams_are_reproducible_and_distinct() -> None:
    seed = SecureRandom.seeded(1).bytes(16)
    a, b = SeedPRG(seed), SeedPRG(seed)
    assert np.array_equal(a.words(5, (100,)), b.words(5, (100,)))
    assert not np.array_equal(a.words(5, (100,)), a.words(6, (100,)))
    w = a.words(7, (200_000,))
    counts = np.bincount(w.view(np.uint8), minlength=256)
    assert stats.chisquare(counts).pvalue > 1e-6
    assert "seed" in repr(a)
    assert seed.hex() not in repr(a)
    with pytest.raises(ParameterError):
        SeedPRG(b"short")


def test_tree_depth_is_logarithmic() -> None:
    assert len(less_than_plan((10,), bits=62)) == math.ceil(math.log2(62))
    assert len(less_than_plan((10,), bits=16)) == 4
