"""Throughput of privet's CSPRNG (AES-256-CTR) beside numpy's PCG64, the floor.

Measures, in one process and one thread:

* uniform bytes delivered into numpy memory (MB/s, 1 MB = 1e6 bytes), by ``fill`` and
  ``uint64``, requested in 1 MiB and 64 MiB chunks;
* float64 uniforms/s (``random``), normals/s (``normal``);
* exact discrete Laplace and discrete Gaussian samples/s (CKS20, arXiv:2004.00010);

and the same for ``np.random.default_rng()`` (PCG64): ``bytes`` / ``integers`` (uint64) /
``random`` / ``standard_normal`` / ``laplace`` (continuous, float: not an exact discrete sampler,
but the nearest numpy has). ``ratio`` is privet / numpy (> 1: privet faster).

The last stdout line is the JSON envelope of ``benchmarks/envelope.py``. ``--quick`` is a smoke
run (small sizes, one repeat; not comparable).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from envelope import emit, parse_args, timed, versions  # benchmarks/ is on sys.path
from privet.core import SecureRandom

MIB = 1 << 20


def main() -> int:
    t_start = time.perf_counter()
    args = parse_args(__doc__.splitlines()[0])
    quick = args.quick
    repeats, warmup = (1, 0) if quick else (3, 1)
    total_bytes = (8 if quick else 256) * MIB  # per timed run, for the byte workloads
    n_samples = 200_000 if quick else 4_000_000  # per timed run, for the samplers
    laplace_scale = Fraction(10)
    gaussian_sigma2 = Fraction(100)

    rng = SecureRandom()
    pcg = np.random.default_rng()
    privet: dict[str, Any] = {}
    numpy_: dict[str, Any] = {}

    def rate(fn: Callable[[], Any], amount: float) -> tuple[float, list[float]]:
        med, runs, _ = timed(fn, repeats=repeats, warmup=warmup)
        return amount / med, runs

    # -- bytes into numpy memory, in 1 MiB and 64 MiB requests --------------------------------
    for chunk_name, chunk in (("1MiB", MIB), ("64MiB", 64 * MIB)):
        calls = max(1, total_bytes // chunk)
        nbytes = calls * chunk
        buf = np.empty(chunk, dtype=np.uint8)

        def fill(buf: np.ndarray = buf, calls: int = calls) -> None:
            for _ in range(calls):
                rng.fill(buf)

        def words(chunk: int = chunk, calls: int = calls) -> None:
            for _ in range(calls):
                rng.uint64(chunk // 8)

        def np_bytes(chunk: int = chunk, calls: int = calls) -> None:
            for _ in range(calls):
                np.frombuffer(pcg.bytes(chunk), dtype=np.uint8)

        def np_words(chunk: int = chunk, calls: int = calls) -> None:
            for _ in range(calls):
                pcg.integers(0, 2**64, size=chunk // 8, dtype=np.uint64, endpoint=False)

        for name, fn, sink in (
            (f"fill_{chunk_name}", fill, privet),
            (f"uint64_{chunk_name}", words, privet),
            (f"bytes_{chunk_name}", np_bytes, numpy_),
            (f"uint64_{chunk_name}", np_words, numpy_),
        ):
            r, runs = rate(fn, nbytes / 1e6)
            sink[name] = {"mb_per_s": r, "time_s_runs": runs, "bytes_per_run": nbytes}

    # -- floats and samplers ------------------------------------------------------------------
    n = n_samples
    cells: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("random", lambda: rng.random(n), lambda: pcg.random(n)),
        ("normal", lambda: rng.normal(n), lambda: pcg.standard_normal(n)),
        (
            "discrete_laplace",
            lambda: rng.discrete_laplace(n, scale=laplace_scale),
            lambda: pcg.laplace(0.0, float(laplace_scale), n),
        ),
        (
            "discrete_gaussian",
            lambda: rng.discrete_gaussian(n, sigma_squared=gaussian_sigma2),
            lambda: pcg.normal(0.0, float(gaussian_sigma2) ** 0.5, n),
        ),
    ]
    for name, mine, theirs in cells:
        r, runs = rate(mine, n)
        privet[name] = {"per_s": r, "time_s_runs": runs, "n": n}
        r, runs = rate(theirs, n)
        numpy_[name] = {"per_s": r, "time_s_runs": runs, "n": n}

    # discrete Laplace at other scales (the cost depends a little on scale's terms)
    for label, scale in (("scale_1", Fraction(1)), ("scale_7_3", Fraction(7, 3))):
        r, runs = rate(lambda scale=scale: rng.discrete_laplace(n, scale=scale), n)
        privet[f"discrete_laplace_{label}"] = {"per_s": r, "time_s_runs": runs, "n": n}

    ratio: dict[str, float] = {}
    for chunk_name in ("1MiB", "64MiB"):
        base = numpy_[f"bytes_{chunk_name}"]["mb_per_s"]
        ratio[f"fill_{chunk_name}_vs_bytes"] = privet[f"fill_{chunk_name}"]["mb_per_s"] / base
        ratio[f"uint64_{chunk_name}"] = (
            privet[f"uint64_{chunk_name}"]["mb_per_s"] / numpy_[f"uint64_{chunk_name}"]["mb_per_s"]
        )
    for name, _, _ in cells:
        ratio[name] = privet[name]["per_s"] / numpy_[name]["per_s"]

    notes = [
        "single thread; MB = 1e6 bytes; ratio = privet / numpy (> 1 means privet is faster)",
        "numpy_pcg64.discrete_laplace is Generator.laplace (continuous float64) and "
        "numpy_pcg64.discrete_gaussian is Generator.normal: numpy has no exact discrete "
        "samplers, so these are floors, not like-for-like",
        f"discrete_laplace scale={laplace_scale}, discrete_gaussian sigma_squared="
        f"{gaussian_sigma2} (exact, CKS20 Algorithms 2 and 3)",
        "targets: >= 200 MB/s of bytes into numpy; >= 5e6 discrete Laplace samples/s on 2 cores",
    ]
    if quick:
        notes.append("quick mode: small sizes and one repeat; not comparable")
    emit(
        "rng_throughput",
        args,
        versions_=versions("numpy", "cryptography"),
        params={
            "bytes_per_run": total_bytes,
            "samples_per_run": n_samples,
            "chunks": ["1MiB", "64MiB"],
            "laplace_scale": str(laplace_scale),
            "gaussian_sigma_squared": str(gaussian_sigma2),
        },
        results={"privet": privet, "numpy_pcg64": numpy_, "ratio": ratio},
        repeats=repeats,
        warmup=warmup,
        notes=notes,
        t_start=t_start,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
