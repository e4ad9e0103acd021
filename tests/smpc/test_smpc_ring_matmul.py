"""The exact ring matmul equals numpy's uint64 matmul, bit for bit, under either engine.

Every test runs twice: with the float64 limbs forced and with the int8 byte-digit engine
allowed (it takes the products big enough for it; :mod:`test_smpc_bytemm` tests it alone).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from privet.core.errors import ParameterError
from privet.smpc import bytemm, limbs, ring

U64 = np.uint64
EDGES = [0, 1, 2, 2**21 - 1, 2**21, 2**22 - 1, 2**22, 2**43, 2**63 - 1, 2**63, 2**64 - 1]


@pytest.fixture(autouse=True, params=["float64", "int8"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "int8" and not bytemm.int8_exact():
        pytest.skip("torch._int_mm is not exact on this CPU (no AMX/VNNI): int8 refuses to run")
    monkeypatch.setenv(bytemm.ENGINE_VARIABLE, request.param)
    return str(request.param)


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(a, b, dtype=U64)


_words = st.one_of(st.sampled_from(EDGES), st.integers(0, 2**64 - 1))


@settings(max_examples=60, deadline=None)
@given(
    dims=st.tuples(st.integers(1, 24), st.integers(1, 700), st.integers(1, 24)),
    data=st.data(),
)
def test_limb_matmul_matches_integer_matmul(
    dims: tuple[int, int, int], data: st.DataObject
) -> None:
    m, k, n = dims
    a = data.draw(hnp.arrays(U64, (m, k), elements=_words))
    b = data.draw(hnp.arrays(U64, (k, n), elements=_words))
    assert np.array_equal(ring.matmul(a, b), _reference(a, b))


@pytest.mark.parametrize("k", [1, 255, 256, 512, 513, 1797, 4096])
def test_all_ones_worst_case_is_exact(k: int) -> None:
    # every limb at its maximum: the largest partial sums the float64 products can see
    a = np.full((3, k), 2**64 - 1, dtype=U64)
    b = np.full((k, 70), 2**64 - 1, dtype=U64)
    out = ring.matmul(a, b)
    assert np.array_equal(out, _reference(a, b))
    assert int(out[0, 0]) == k % 2**64  # (-1)·(-1)·k


@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        ((256, 256), (256, 256)),
        ((300,), (300, 40)),
        ((40, 300), (300,)),
        ((300,), (300,)),
        ((2, 1, 20, 600), (3, 600, 30)),
        ((64, 1797), (1797, 128)),
        ((5, 0), (0, 4)),
    ],
)
def test_shapes_and_broadcasting(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2**64, size=sa, dtype=U64, endpoint=False)
    b = rng.integers(0, 2**64, size=sb, dtype=U64, endpoint=False)
    out = ring.matmul(a, b)
    ref = _reference(a, b)
    assert out.shape == ref.shape
    assert out.dtype == U64
    assert np.array_equal(out, ref)


def test_long_inner_dimension_is_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limbs, "_LIMB_K_MAX", 100)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**64, size=(9, 1001), dtype=U64, endpoint=False)
    b = rng.integers(0, 2**64, size=(1001, 11), dtype=U64, endpoint=False)
    assert np.array_equal(ring.matmul(a, b), _reference(a, b))


def test_chunk_bounds_fit_float64() -> None:
    # the bounds proved in limbs._limb_chunk / _limb_chunk_narrow, from the module's constants
    k = limbs._LIMB_K_MAX
    lo, mid = 2**limbs._O1 - 1, 2 ** (limbs._O2 - limbs._O1) - 1
    top = 2 ** (64 - limbs._O2 - 1)  # |signed top limb| <= 2^20
    assert limbs._O1 + limbs._O2 >= 64  # P12, P21, P22 vanish mod 2^64
    assert 2 * limbs._O1 == limbs._O2 + 1  # P11 sits at shift 44 = 43 + 1
    bounds = {
        "P00": k * lo * lo,
        "D": k * max(lo, mid) ** 2,
        "P01+P10": 2 * k * lo * mid,
        "D+P00": max(2 * k * lo * mid, k * mid * mid),  # = P01 + P10 - P11
        "Q": 2 * k * lo * top,
        "Q+2P11": 2 * k * lo * top + 2 * k * mid * mid,
    }
    for name, bound in bounds.items():
        assert bound <= 2**53, name


_EXTREME = [
    2**64 - 1,
    2**22 - 1,  # low limb full, the rest zero: the largest |a0 - a1|
    (2**21 - 1) << 22,  # middle limb full only
    2**63,  # the most negative top limb
    2**63 | (2**22 - 1),
    (2**64 - 1) ^ ((2**21 - 1) << 22),  # low and top full, middle zero
    2**43 - 1,
]


@pytest.mark.parametrize("n", [3, 40])  # the narrow and the Karatsuba chunk
@pytest.mark.parametrize("x", _EXTREME)
def test_extreme_words_at_the_largest_chunk(x: int, n: int) -> None:
    k = limbs._LIMB_K_MAX
    a = np.full((5, k), x, dtype=U64)
    a[1] = 2**63  # mixed rows: the signed top limb against every other pattern
    a[2] = 2**22 - 1
    for y in _EXTREME:
        b = np.full((k, n), y, dtype=U64)
        b[:, 0] = (2**21 - 1) << 22
        out = ring.matmul(a, b)
        assert np.array_equal(out, _reference(a, b)), (x, y)
        assert int(out[0, 1]) == k * x * y % 2**64


@pytest.mark.parametrize(
    ("m", "k", "n"),
    [(256, 256, 256), (1797, 64, 128), (1797, 128, 10), (256, 512, 256), (7, 2048, 9)],
)
def test_the_shapes_that_matter(m: int, k: int, n: int) -> None:
    rng = np.random.default_rng(m * k + n)
    a = rng.integers(0, 2**64, size=(m, k), dtype=U64, endpoint=False)
    b = rng.integers(0, 2**64, size=(k, n), dtype=U64, endpoint=False)
    assert np.array_equal(ring.matmul(a, b), _reference(a, b))


def _boundary_ks() -> list[int]:
    ks = {2**j + d for j in range(1, 12) for d in (-1, 0, 1)}
    return sorted(ks | {limbs._LIMB_K_MAX * 2 + 1, limbs._LIMB_K_MAX * 3 - 1})


@pytest.mark.parametrize("k", _boundary_ks())
def test_inner_sizes_around_every_power_of_two(k: int) -> None:
    rng = np.random.default_rng(k)
    words = np.array(EDGES, dtype=U64)
    for m, n in ((4, 33), (33, 5)):  # both chunk kinds, across the small-product cutoff
        a = rng.integers(0, 2**64, size=(m, k), dtype=U64, endpoint=False)
        b = rng.integers(0, 2**64, size=(k, n), dtype=U64, endpoint=False)
        a[:, ::3] = rng.choice(words, size=a[:, ::3].shape)
        b[::2] = rng.choice(words, size=b[::2].shape)
        assert np.array_equal(ring.matmul(a, b), _reference(a, b)), (m, k, n)


@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        ((3, 40, 70), (70, 20)),
        ((3, 40, 70), (70, 9)),
        ((40, 70), (3, 70, 20)),
        ((2, 3, 8, 600), (3, 600, 12)),
        ((5000,), (5000,)),
        ((5000,), (5000, 3)),
        ((6, 5000), (5000,)),
        ((600,), (2, 600, 30)),
    ],
)
def test_batched_and_one_dimensional_operands(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    rng = np.random.default_rng(11)
    a = rng.integers(0, 2**64, size=sa, dtype=U64, endpoint=False)
    b = rng.integers(0, 2**64, size=sb, dtype=U64, endpoint=False)
    out = ring.matmul(a, b)
    ref = _reference(a, b)
    assert out.shape == np.shape(ref)
    assert np.array_equal(out, ref)


def test_non_contiguous_operands() -> None:
    rng = np.random.default_rng(12)
    a = rng.integers(0, 2**64, size=(300, 80), dtype=U64, endpoint=False)
    b = rng.integers(0, 2**64, size=(50, 600), dtype=U64, endpoint=False)
    assert np.array_equal(ring.matmul(a.T, b[:, ::2].T), _reference(a.T, b[:, ::2].T))


def _reference_sum(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    out = _reference(*pairs[0])
    for a, b in pairs[1:]:
        out = np.add(out, _reference(a, b), dtype=U64)
    return out


@settings(max_examples=40, deadline=None)
@given(
    mn=st.tuples(st.integers(1, 20), st.integers(1, 40)),
    ks=st.lists(st.integers(0, 600), min_size=1, max_size=3),
    data=st.data(),
)
def test_matmul_sum_matches_the_sum_of_products(
    mn: tuple[int, int], ks: list[int], data: st.DataObject
) -> None:
    m, n = mn
    pairs = [
        (
            data.draw(hnp.arrays(U64, (m, k), elements=_words)),
            data.draw(hnp.arrays(U64, (k, n), elements=_words)),
        )
        for k in ks
    ]
    assert np.array_equal(ring.matmul_sum(pairs), _reference_sum(pairs))


def test_matmul_sum_beaver_shape_and_straddled_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(13)
    pairs = [
        (
            rng.integers(0, 2**64, size=(256, 256), dtype=U64, endpoint=False),
            rng.integers(0, 2**64, size=(256, 256), dtype=U64, endpoint=False),
        )
        for _ in range(2)
    ]
    assert np.array_equal(ring.matmul_sum(pairs), _reference_sum(pairs))
    monkeypatch.setattr(limbs, "_LIMB_K_MAX", 100)  # chunks of 86 straddle the two pairs
    small = [(a[:40, :300], b[:300, :50]) for a, b in pairs]
    assert np.array_equal(ring.matmul_sum(small), _reference_sum(small))


@pytest.mark.parametrize(
    "shapes",
    [
        [((3, 40, 70), (70, 20)), ((40, 30), (3, 30, 20))],  # same output, not fusable
        [((3, 40, 70), (70, 20)), ((3, 40, 90), (90, 20))],  # batched, fused
        [((5000,), (5000,)), ((300,), (300,))],  # 1-D: a 0-d result
        [((600,), (600, 8)), ((6,), (6, 8)), ((0,), (0, 8))],
        [((30, 0), (0, 4))],
    ],
)
def test_matmul_sum_shapes(shapes: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> None:
    rng = np.random.default_rng(14)
    pairs = [
        (
            rng.integers(0, 2**64, size=sa, dtype=U64, endpoint=False),
            rng.integers(0, 2**64, size=sb, dtype=U64, endpoint=False),
        )
        for sa, sb in shapes
    ]
    out = ring.matmul_sum(pairs)
    ref = _reference_sum(pairs)
    assert out.shape == np.shape(ref)
    assert out.dtype == U64
    assert np.array_equal(out, ref)


def test_matmul_sum_rejects_bad_input() -> None:
    a = np.ones((4, 5), dtype=U64)
    with pytest.raises(ParameterError, match="at least one"):
        ring.matmul_sum([])
    with pytest.raises(ParameterError, match="one shape"):
        ring.matmul_sum([(a, a.T), (a.T, a)])
    with pytest.raises(ParameterError, match="do not fit"):
        ring.matmul_sum([(a, a)])


def test_conv2d_uses_the_exact_product() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2**64, size=(2, 3, 9, 9), dtype=U64, endpoint=False)
    w = rng.integers(0, 2**64, size=(4, 3, 3, 3), dtype=U64, endpoint=False)
    params = {"stride": 1, "padding": 1}
    cols = ring.im2col(x, (3, 3), (1, 1), (1, 1)).reshape(2, 27, 81)
    ref = np.matmul(w.reshape(4, 27), cols, dtype=U64).reshape(2, 4, 9, 9)
    assert np.array_equal(ring.conv2d(x, w, params), ref)


@pytest.mark.parametrize(
    ("kind", "x_shape", "y_shape", "params"),
    [
        ("mul", (5, 7), (5, 7), {}),
        ("matmul", (40, 70), (70, 20), {}),
        ("conv2d", (2, 3, 9, 9), (4, 3, 3, 3), {"stride": 2, "padding": 1}),
        ("conv2d", (1, 16, 12, 12), (8, 16, 3, 3), {"stride": 1, "padding": 0}),
    ],
)
def test_bilinear_sum_equals_the_sum_of_the_maps(
    kind: str, x_shape: tuple[int, ...], y_shape: tuple[int, ...], params: dict[str, int]
) -> None:
    rng = np.random.default_rng(11)
    words = [rng.integers(0, 2**64, s, dtype=np.uint64) for s in (x_shape, y_shape) * 2]
    pairs = [(words[0], words[1]), (words[2], words[3])]
    expected = ring.add(*(ring.bilinear(kind, a, b, params) for a, b in pairs))
    assert np.array_equal(ring.bilinear_sum(kind, pairs, params), expected)


def test_bilinear_sum_rejects_bad_requests() -> None:
    one = np.ones((2, 2), dtype=np.uint64)
    with pytest.raises(ParameterError, match="unknown bilinear map"):
        ring.bilinear_sum("pow", [(one, one)])
    with pytest.raises(ParameterError, match="at least one"):
        ring.bilinear_sum("conv2d", [])
