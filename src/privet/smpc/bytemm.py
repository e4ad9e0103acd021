"""Exact products of Z_2^64 matrices from int8 GEMMs of byte digits, for CPUs with AMX.

An Intel AMX tile unit multiplies int8 matrices into int32 sums some ten times faster than
the float64 FMA units behind :mod:`privet.smpc.limbs`. Each ``uint64`` word is read as its
8 bytes (no arithmetic, just a view), each byte ``u`` as the signed digit ``u - 128``, and
the product mod 2^64 needs the 36 digit products ``S_i @ T_j`` with ``i + j <= 7``, summed
per diagonal in 8 GEMMs (:func:`byte_matmul_sum`). oneDNN runs them, through PyTorch's
``torch._int_mm``; torch is imported on first use only.

:func:`enabled` says whether :func:`privet.smpc.ring.matmul` uses this engine. By default
("auto") only where the CPU has AMX-INT8 and the host is little-endian, and only once torch
is loaded: at once in a process that has imported torch already, else after the process has
spent ``BREAK_EVEN_S`` seconds on float64 limb products this engine would have taken, which
is about what importing torch costs. That is the break-even rule of the rent-or-buy problem
(Karlin, Manasse, Rudolph & Sleator 1988, "Competitive snoopy caching", Algorithmica 3, §3):
a short job (a demo, one inference) never pays the import, and a long one never spends more
than twice the time it would have with perfect foresight. The environment variable
``PRIVET_SMPC_MATMUL`` set to ``int8`` or ``float64`` forces one engine (both are exact, so
the choice changes speed only).

Examples
--------
>>> import numpy as np
>>> a = np.full((4, 300), 2**64 - 1, dtype=np.uint64)
>>> int(byte_matmul_sum([(a, a.T)])[0, 0])
300
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError
from privet.smpc.limbs import Pair, sum_chunks

__all__ = [
    "BREAK_EVEN_S",
    "ENGINE_VARIABLE",
    "byte_matmul_sum",
    "enabled",
    "fits",
    "has_amx",
    "int8_exact",
    "record_limb_seconds",
]

Ring = NDArray[np.uint64]
U64: Final = np.uint64

ENGINE_VARIABLE: Final = "PRIVET_SMPC_MATMUL"
"""Environment variable choosing the ring matmul engine: ``auto``, ``int8`` or ``float64``."""

DIGITS: Final = 8
"""Bytes per ``uint64`` word, hence digits per operand."""

K_MAX: Final = 8192
"""Inner-dimension terms per chunk; the int32 bound in :func:`_chunk` needs ``K_MAX < 2^14``."""

KAPPA: Final = U64(sum(128 << (8 * i) for i in range(DIGITS)))
"""``Σ 128·256^i``: a word minus KAPPA has the signed digits ``byte - 128`` (mod 2^64)."""

MIN_WORK: Final = 1 << 22
"""Below this many multiply-adds the float64 limbs win (torch's call overhead)."""

MIN_SIDE: Final = 48
"""With fewer output rows or columns the digit extraction outweighs the faster GEMMs."""

BREAK_EVEN_S: Final = 2.0
"""Seconds of limb products after which ``auto`` imports torch (about the import's cost)."""

_limb_seconds = 0.0
_limb_lock = threading.Lock()


def record_limb_seconds(seconds: float) -> None:
    """Add ``seconds`` spent on a float64 limb product that :func:`fits` this engine."""
    global _limb_seconds
    with _limb_lock:
        _limb_seconds += seconds


def _cpu_has_amx() -> bool:
    """Return True when Linux reports the AMX-INT8 flag (no torch import needed to ask)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return " amx_int8" in flags


@functools.cache
def _torch() -> Any:
    """Import torch (about 2 s, once per process) and check ``_int_mm`` is there."""
    import torch

    if not hasattr(torch, "_int_mm"):  # pragma: no cover - pinned torch has it
        raise ParameterError(
            f"{ENGINE_VARIABLE}=int8 needs torch._int_mm, which torch {torch.__version__} "
            f"lacks; set {ENGINE_VARIABLE}=float64"
        )
    return torch


@functools.cache
def has_amx() -> bool:
    """Return True on a little-endian host whose CPU reports AMX-INT8."""
    return sys.byteorder == "little" and _cpu_has_amx()


@functools.cache
def _amx_tiles() -> bool:
    """Return True when torch (imported here if need be) can use the AMX tiles."""
    try:
        return bool(_torch().cpu._is_amx_tile_supported())
    except (ImportError, AttributeError, ParameterError):  # pragma: no cover - no usable torch
        return False


@functools.cache
def int8_exact() -> bool:
    """Return True when ``torch._int_mm`` sums int8 products exactly in int32 here.

    oneDNN's AMX and VNNI kernels do; its older int8 kernels (CPUs without VNNI, such as
    Skylake-SP or AMD Zen 2/3) may saturate intermediate 16-bit sums, which would make the
    engine silently wrong. So before any use, one product at the proof's extremes is
    checked against numpy: digits ``127`` and ``-128`` over ``8·K_MAX`` terms, partial
    sums up to the ``2^30`` the proof allows, both signs. Cached per process.
    """
    try:
        torch = _torch()
    except (ImportError, ParameterError):  # pragma: no cover - torch is a dependency
        return False
    k = DIGITS * K_MAX
    a = np.empty((4, k), dtype=np.int8)
    a[0], a[1], a[2] = 127, -128, 1
    a[3, 0::2], a[3, 1::2] = 127, -128
    b = np.ascontiguousarray(a.T)
    want = a.astype(np.int64) @ b.astype(np.int64)
    got = torch._int_mm(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    return bool(np.array_equal(got.astype(np.int64), want))


def _auto() -> bool:
    """Return the ``auto`` choice (the rule is in the module docstring)."""
    if not has_amx():
        return False
    if "torch" not in sys.modules and _limb_seconds < BREAK_EVEN_S:
        return False  # importing torch would cost more than the limb products have so far
    return _amx_tiles() and int8_exact()


def enabled() -> bool:
    """Return True when ring matmuls go to this engine (see the module docstring).

    Raises
    ------
    ParameterError
        If ``PRIVET_SMPC_MATMUL`` holds anything but ``auto``, ``int8`` or ``float64``,
        or asks for ``int8`` on a big-endian host or where :func:`int8_exact` fails.
    """
    choice = os.environ.get(ENGINE_VARIABLE, "auto").strip().lower()
    if choice == "auto":
        return _auto()
    if choice == "float64":
        return False
    if choice == "int8":
        if sys.byteorder != "little":  # pragma: no cover - no big-endian CI
            raise ParameterError(f"{ENGINE_VARIABLE}=int8 needs a little-endian host")
        if not int8_exact():
            raise ParameterError(
                f"{ENGINE_VARIABLE}=int8: torch._int_mm does not sum int8 products exactly "
                f"on this CPU (no AMX or VNNI int8 kernels); set {ENGINE_VARIABLE}=float64"
            )
        return True
    raise ParameterError(
        f"{ENGINE_VARIABLE}={choice!r} is not an engine; use auto, int8 or float64"
    )


def fits(pairs: list[Pair]) -> bool:
    """Return True when the fused product is big and wide enough to gain from int8 GEMMs.

    The pairs must be 2-D ``b`` operands (``a`` may carry batch axes, folded into rows) with
    at least ``MIN_SIDE`` output rows and columns and ``MIN_WORK`` multiply-adds in all.
    Measured on the 2-vCPU Sapphire Rapids host, one thread: int8 takes 0.6 of the float64
    time at 256 x 512 x 256 and 0.8 at 64 x 576 x 1024, but 1.15–1.25 when one output side
    is 8–32 wide (the digits of the long operand cost more than the GEMMs save).
    """
    if any(b.ndim != 2 for _, b in pairs):
        return False
    rows = pairs[0][0].size // max(pairs[0][0].shape[-1], 1)
    n = pairs[0][1].shape[-1]
    k_all = sum(a.shape[-1] for a, _ in pairs)
    return bool(min(rows, n) >= MIN_SIDE and rows * k_all * n >= MIN_WORK)


def _digits_a(pairs: list[Pair], rows: int, k_all: int) -> NDArray[np.int8]:
    """Return ``[S_0 | ... | S_7]`` laid out ``(rows, 8, k_all)``: byte i of each word, as int8."""
    out = np.empty((rows, DIGITS, k_all), dtype=np.uint8)
    pos = 0
    for a, _ in pairs:
        k = a.shape[-1]
        words = a if a.strides[-1] == a.itemsize else np.ascontiguousarray(a)
        digits = words.view(np.uint8).reshape(rows, k, DIGITS)
        np.copyto(out[:, :, pos : pos + k], digits.swapaxes(1, 2))
        pos += k
    np.bitwise_xor(out, np.uint8(0x80), out=out)  # u ^ 0x80 read as int8 is u - 128
    return out.view(np.int8)


def _digits_b(pairs: list[Pair], k_all: int, n: int) -> NDArray[np.int8]:
    """Return ``[T_7; ...; T_0]`` laid out ``(8, k_all, n)``: digits in reverse order."""
    out = np.empty((DIGITS, k_all, n), dtype=np.uint8)
    pos = 0
    for _, b in pairs:
        k = b.shape[0]
        words = b if b.strides[-1] == b.itemsize else np.ascontiguousarray(b)
        digits = words.view(np.uint8).reshape(k, n, DIGITS)
        np.copyto(out[:, pos : pos + k, :], digits.transpose(2, 0, 1)[::-1])
        pos += k
    np.bitwise_xor(out, np.uint8(0x80), out=out)
    return out.view(np.int8)


def _chunk(pairs: list[Pair], rows: int, n: int) -> Ring:
    """Return ``Σ a @ b`` mod 2^64 over pairs with at most ``K_MAX`` inner terms in all.

    With ``a = Σ_i (s_i + 128) 256^i`` for the bytes ``s_i + 128`` of ``a`` (little-endian)
    and ``a' = Σ_i s_i 256^i = a - KAPPA`` (mod 2^64), likewise ``b'``,

        ``a @ b = a' @ b' + KAPPA·rowsum(a') + KAPPA·colsum(b)   (mod 2^64)``

    (``a @ b = a' @ b + KAPPA·J @ b`` and ``a' @ b = a' @ b' + a' @ KAPPA·J``, ``J`` all
    ones), and ``a' @ b' = Σ_s 256^s D_s`` with ``D_s = Σ_{i+j=s} S_i @ T_j`` for
    ``s <= 7``; the terms with ``i + j >= 8`` are multiples of 2^64. ``D_s`` is one int8 GEMM
    over ``(s + 1) K`` terms, ``[S_0 | ... | S_s] @ [T_s; ...; T_0]``. Each term is a
    product of two digits in ``[-128, 127]``, so ``|term| <= 2^14``, and every partial sum of
    ``D_s`` (in whatever order oneDNN adds) is at most ``8 K 2^14 <= 2^30`` for
    ``K <= K_MAX = 2^13``: exact in the int32 accumulator. The ``D_s`` are then combined by
    Horner's rule in int64, whose wrap-around is arithmetic mod 2^64.
    """
    torch = _torch()
    if not int8_exact():
        raise ParameterError(
            "torch._int_mm is not exact on this CPU (no AMX or VNNI int8 kernels); "
            f"use the float64 limbs ({ENGINE_VARIABLE}=float64)"
        )
    k_all = sum(a.shape[-1] for a, _ in pairs)
    s_dig = torch.from_numpy(_digits_a(pairs, rows, k_all).reshape(rows, DIGITS * k_all))
    t_dig = torch.from_numpy(_digits_b(pairs, k_all, n).reshape(DIGITS * k_all, n))
    acc = np.zeros((rows, n), dtype=np.int64)
    for s in range(DIGITS - 1, -1, -1):  # Horner: acc = Σ 256^s D_s
        d_s = torch._int_mm(s_dig[:, : (s + 1) * k_all], t_dig[(DIGITS - 1 - s) * k_all :])
        np.multiply(acc, 256, out=acc)  # wraps mod 2^64 (numpy integer arithmetic)
        np.add(acc, d_s.numpy(), out=acc)
    out: Ring = acc.view(U64)
    row_sum = np.zeros(rows, dtype=U64)
    col_sum = np.zeros(n, dtype=U64)
    for a, b in pairs:
        np.add(row_sum, a.reshape(rows, a.shape[-1]).sum(axis=1, dtype=U64), out=row_sum)
        np.add(col_sum, b.sum(axis=0, dtype=U64), out=col_sum)
    row_sum -= U64(int(KAPPA) * k_all % (1 << 64))  # rowsum(a') = rowsum(a) - K·KAPPA
    out += (KAPPA * row_sum)[:, np.newaxis]
    out += (KAPPA * col_sum)[np.newaxis, :]
    return out


def byte_matmul_sum(pairs: list[Pair]) -> Ring:
    """Return ``Σ a @ b`` mod 2^64, exactly, for 2-D ``b`` and ``a`` of shape ``(..., m, k)``.

    The pairs share ``a.shape[:-1]`` and ``b.shape[-1]``; they are fused along the inner
    dimension, cut by :func:`~privet.smpc.limbs.sum_chunks` into chunks of at most ``K_MAX``
    terms (each computed by ``_chunk``) whose results are added mod 2^64.

    Raises
    ------
    ParameterError
        If a ``b`` is not 2-D, the shapes do not chain or the inner dimension is empty.
    """
    lead = pairs[0][0].shape[:-1]
    n = pairs[0][1].shape[-1]
    for a, b in pairs:
        if b.ndim != 2 or a.shape[:-1] != lead or b.shape != (a.shape[-1], n):
            raise ParameterError(
                f"byte_matmul_sum needs 2-D b and chaining shapes; got {a.shape} @ {b.shape}"
            )
    rows = int(np.prod(lead, dtype=np.int64))
    out = sum_chunks(pairs, K_MAX, lambda chunk: _chunk(chunk, rows, n))
    return out.reshape(*lead, n)
