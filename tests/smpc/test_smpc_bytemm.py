"""The int8 byte-digit engine computes Z_2^64 matrix products exactly where it may run.

It may run where oneDNN's int8 GEMM sums exactly in int32 (AMX or VNNI kernels), which
``bytemm.int8_exact`` checks at the proof's extremes; the tests that compute with the engine
need that and are skipped on CPUs without it, where the engine refuses to run (tested here
with oneDNN capped at AVX2 in a subprocess).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from privet.core.errors import ParameterError
from privet.smpc import bytemm, ring

U64 = np.uint64
# bytes 0x00 and 0xff are the extreme digits -128 and +127; 0x80 is digit 0
EDGES = [0, 1, 2**64 - 1, 2**63, 2**63 - 1, 0x8080808080808080, 0x7F7F7F7F7F7F7F7F, 255, 2**56]
_words = st.one_of(st.sampled_from(EDGES), st.integers(0, 2**64 - 1))


needs_exact_int8 = pytest.mark.skipif(
    not bytemm.int8_exact(), reason="torch._int_mm is not exact on this CPU (no AMX/VNNI)"
)


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(a, b, dtype=U64)


@needs_exact_int8
@settings(max_examples=60, deadline=None)
@given(
    dims=st.tuples(st.integers(1, 20), st.integers(1, 300), st.integers(1, 20)),
    data=st.data(),
)
def test_byte_engine_matches_integer_matmul(
    dims: tuple[int, int, int], data: st.DataObject
) -> None:
    m, k, n = dims
    a = data.draw(hnp.arrays(U64, (m, k), elements=_words))
    b = data.draw(hnp.arrays(U64, (k, n), elements=_words))
    assert np.array_equal(bytemm.byte_matmul_sum([(a, b)]), _reference(a, b))


@needs_exact_int8
def test_fused_pairs_batched_rows_and_strided_operands() -> None:
    rng = np.random.default_rng(11)
    words = lambda *s: rng.integers(0, 2**64, size=s, dtype=U64, endpoint=False)  # noqa: E731
    a1 = words(3, 4, 150)[..., 20:120]  # sliced along k: last axis contiguous, rows not
    a2 = words(3, 4, 60)
    b1 = words(30, 100).T  # transposed: not C-contiguous
    b2 = words(60, 30)
    out = bytemm.byte_matmul_sum([(a1, b1), (a2, b2)])
    assert out.shape == (3, 4, 30)
    assert np.array_equal(out, _reference(a1, b1) + _reference(a2, b2))


@needs_exact_int8
def test_worst_case_digits_at_the_chunk_bound_are_exact() -> None:
    # a zero word has every digit at -128: the largest |term| 2^14 in every GEMM, and with
    # three chunks of K_MAX terms the largest int32 partial sums the proof allows
    k = 3 * bytemm.K_MAX
    a = np.zeros((2, k), dtype=U64)
    b = np.zeros((k, 3), dtype=U64)
    assert not bytemm.byte_matmul_sum([(a, b)]).any()
    ones = np.full((2, k), 2**64 - 1, dtype=U64)  # digits +127
    assert np.array_equal(bytemm.byte_matmul_sum([(ones, ones.T)]), _reference(ones, ones.T))


@needs_exact_int8
def test_the_int32_bound_matters(monkeypatch: pytest.MonkeyPatch) -> None:
    # the proof needs 8 K 2^14 < 2^31. Overflow of D_s is invisible mod 2^64 when s >= 4
    # (it is shifted by 8 s >= 32 bits), so 2^15 terms, where D_3 reaches 2^31, are the
    # first chunk size that must give a wrong answer
    assert 8 * bytemm.K_MAX * 2**14 < 2**31
    monkeypatch.setattr(bytemm, "K_MAX", 2**15)
    a = np.zeros((2, 2**15), dtype=U64)
    assert bytemm.byte_matmul_sum([(a, a.T)]).any()  # wrong: the real product is 0


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bytemm, "int8_exact", lambda: True)
    monkeypatch.setenv(bytemm.ENGINE_VARIABLE, "float64")
    assert not bytemm.enabled()
    monkeypatch.setenv(bytemm.ENGINE_VARIABLE, " INT8 ")
    assert bytemm.enabled()
    monkeypatch.setenv(bytemm.ENGINE_VARIABLE, "auto")
    assert bytemm.enabled() == bytemm._auto()
    monkeypatch.setenv(bytemm.ENGINE_VARIABLE, "gpu")
    with pytest.raises(ParameterError, match=r"PRIVET_SMPC_MATMUL='gpu'.*auto, int8 or float64"):
        bytemm.enabled()


@needs_exact_int8
def test_ring_matmul_sends_big_products_to_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    engine = bytemm.byte_matmul_sum

    def spy(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        calls.append(len(pairs))
        return engine(pairs)

    monkeypatch.setattr(bytemm, "byte_matmul_sum", spy)
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2**64, size=(256, 256), dtype=U64, endpoint=False)
    small = a[:8, :8]
    monkeypatch.setenv(bytemm.ENGINE_VARIABLE, "int8")
    assert np.array_equal(ring.matmul(a, a), _reference(a, a))
    assert np.array_equal(ring.matmul(small, small), _reference(small, small))
    assert calls == [1]  # the 8 x 8 product stays on numpy's loop
    monkeypatch.setenv(bytemm.ENGINE_VARIABLE, "float64")
    assert np.array_equal(ring.matmul(a, a), _reference(a, a))
    assert calls == [1]


def test_fits_needs_work_width_and_a_2d_right_operand() -> None:
    big = np.zeros((256, 256), dtype=U64)
    assert bytemm.fits([(big, big)])
    assert not bytemm.fits([(big, big[:, : bytemm.MIN_SIDE - 1])])  # narrow output
    assert not bytemm.fits([(big[: bytemm.MIN_SIDE - 1], np.zeros((256, 10**5), U64))])
    assert not bytemm.fits([(big[:16], big)])  # too little work
    assert not bytemm.fits([(big[np.newaxis], big[np.newaxis])])  # batched right operand


def test_bad_shapes_are_refused() -> None:
    a = np.zeros((4, 5), dtype=U64)
    with pytest.raises(ParameterError, match=r"\(4, 5\) @ \(4, 5\)"):
        bytemm.byte_matmul_sum([(a, a)])


def test_auto_imports_torch_only_once_the_limb_products_cost_as_much(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the rent-or-buy rule: an AMX host without torch loaded stays on the float64 limbs
    # until they have taken BREAK_EVEN_S; a host without AMX never switches
    monkeypatch.setenv(bytemm.ENGINE_VARIABLE, "auto")
    monkeypatch.setattr(bytemm, "_amx_tiles", lambda: True)
    monkeypatch.setattr(bytemm, "int8_exact", lambda: True)
    monkeypatch.setattr(bytemm, "has_amx", lambda: True)
    monkeypatch.setattr(bytemm, "_limb_seconds", 0.0)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert not bytemm.enabled()
    bytemm.record_limb_seconds(bytemm.BREAK_EVEN_S / 2)
    assert not bytemm.enabled()
    bytemm.record_limb_seconds(bytemm.BREAK_EVEN_S / 2)
    assert bytemm.enabled()
    monkeypatch.setattr(bytemm, "_limb_seconds", 0.0)
    monkeypatch.setitem(sys.modules, "torch", bytemm._torch())
    assert bytemm.enabled()  # torch is loaded already: nothing to pay
    monkeypatch.setattr(bytemm, "has_amx", lambda: False)
    bytemm.record_limb_seconds(10 * bytemm.BREAK_EVEN_S)
    assert not bytemm.enabled()


def test_ring_matmul_counts_the_limb_time_the_engine_could_have_saved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(bytemm.ENGINE_VARIABLE, "float64")
    monkeypatch.setattr(bytemm, "_limb_seconds", 0.0)
    a = np.ones((8, 8), dtype=U64)
    ring.matmul(a, a)  # too small for the engine: not counted
    assert bytemm._limb_seconds == 0.0
    big = np.ones((256, 256), dtype=U64)
    ring.matmul(big, big)
    assert bytemm._limb_seconds > 0.0


def test_an_inexact_int8_kernel_is_caught_before_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # a kernel that saturates its sums at int16, as oneDNN's pre-VNNI kernels may
    torch = bytemm._torch()

    def saturating(a: Any, b: Any) -> Any:
        exact = a.to(torch.int64) @ b.to(torch.int64)
        return exact.clamp(-(2**15), 2**15 - 1).to(torch.int32)

    fake = types.SimpleNamespace(_int_mm=saturating, from_numpy=torch.from_numpy)
    monkeypatch.setattr(bytemm, "_torch", lambda: fake)
    bytemm.int8_exact.cache_clear()
    try:
        assert not bytemm.int8_exact()
        monkeypatch.setenv(bytemm.ENGINE_VARIABLE, "int8")
        with pytest.raises(ParameterError, match=r"not sum int8 products exactly.*float64"):
            bytemm.enabled()
        monkeypatch.setattr(bytemm, "has_amx", lambda: True)
        monkeypatch.setattr(bytemm, "_amx_tiles", lambda: True)
        monkeypatch.setenv(bytemm.ENGINE_VARIABLE, "auto")
        monkeypatch.setitem(sys.modules, "torch", fake)
        assert not bytemm.enabled()  # auto falls back to the limbs
        with pytest.raises(ParameterError, match="not exact on this CPU"):
            bytemm.byte_matmul_sum([(np.ones((2, 2), U64), np.ones((2, 2), U64))])
    finally:
        bytemm.int8_exact.cache_clear()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="an x86 oneDNN cap")
def test_onednn_without_vnni_is_refused_not_trusted() -> None:
    # oneDNN capped at AVX2 has no VNNI/AMX int8 kernel: the check must fail, forced int8
    # must refuse, and auto must keep the exact float64 limbs
    code = (
        "import numpy as np, os\n"
        "from privet.smpc import bytemm, ring\n"
        "from privet.core.errors import ParameterError\n"
        "a = np.arange(128 * 256, dtype=np.uint64).reshape(128, 256) * np.uint64(2**40 + 7)\n"
        "assert not bytemm.int8_exact()\n"
        "os.environ[bytemm.ENGINE_VARIABLE] = 'int8'\n"
        "try:\n"
        "    ring.matmul(a, a.T)\n"
        "    raise SystemExit('forced int8 ran on an inexact kernel')\n"
        "except ParameterError:\n"
        "    pass\n"
        "os.environ[bytemm.ENGINE_VARIABLE] = 'auto'\n"
        "assert np.array_equal(ring.matmul(a, a.T), np.matmul(a, a.T, dtype=np.uint64))\n"
        "print('ok')\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
