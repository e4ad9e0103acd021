"""The exact ring matmul over float64 limbs equals numpy's uint64 matmul, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from privet.smpc import ring

U64 = np.uint64
EDGES = [0, 1, 2, 2**21 - 1, 2**21, 2**22 - 1, 2**22, 2**43, 2**63 - 1, 2**63, 2**64 - 1]


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
    monkeypatch.setattr(ring, "_LIMB_K_MAX", 100)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**64, size=(9, 1001), dtype=U64, endpoint=False)
    b = rng.integers(0, 2**64, size=(1001, 11), dtype=U64, endpoint=False)
    assert np.array_equal(ring.matmul(a, b), _reference(a, b))


@pytest.mark.parametrize("k", [1, 2, 256, 512, 513, 4096, 2**20])
def test_limb_widths_keep_every_sum_below_2_53(k: int) -> None:
    widths = ring._limb_widths(k)
    assert sum(widths) == 64
    offsets = [sum(widths[:i]) for i in range(len(widths))]
    for i, wa in enumerate(widths):
        for j, wb in enumerate(widths):
            if offsets[i] + offsets[j] < 64:
                assert k * (2**wa - 1) * (2**wb - 1) < 2**53


def test_conv2d_uses_the_exact_product() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2**64, size=(2, 3, 9, 9), dtype=U64, endpoint=False)
    w = rng.integers(0, 2**64, size=(4, 3, 3, 3), dtype=U64, endpoint=False)
    params = {"stride": 1, "padding": 1}
    cols = ring.im2col(x, (3, 3), (1, 1), (1, 1)).reshape(2, 27, 81)
    ref = np.matmul(w.reshape(4, 27), cols, dtype=U64).reshape(2, 4, 9, 9)
    assert np.array_equal(ring.conv2d(x, w, params), ref)
