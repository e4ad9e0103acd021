"""Secure noise per second: privet's float-safe ``laplace`` and exact ``discrete_laplace``.

Measures, in one process and one thread, on an array of 10^7 values (10^6 with ``--quick``):

* ``privet.laplace``: the whole float-safe mechanism (round to the grid, exact discrete
  Laplace noise from the AES-CTR CSPRNG, exact scale-back; no budget) on a float64 array;
* ``privet.gaussian``: the same with exact discrete Gaussian noise (vector, zCDP-calibrated);
* ``privet.discrete_laplace``: exact discrete Laplace noise added to an int64 array;

beside numpy's insecure, float ``Generator.laplace`` (PCG64), the floor: it is neither a
CSPRNG nor float-safe (Mironov 2012), so it is a speed reference, not a peer. ``ratio`` is
privet / numpy (> 1: privet faster). Target: >= 5e6 secure samples/s for ``laplace``.

The last stdout line is the JSON envelope of ``benchmarks/envelope.py``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from envelope import emit, parse_args, timed, versions  # benchmarks/ is on sys.path
from privet.core import SecureRandom
from privet.dp.discrete import discrete_laplace
from privet.dp.mechanisms import gaussian, laplace_release


def main() -> int:
    t_start = time.perf_counter()
    args = parse_args(__doc__.splitlines()[0])
    quick = args.quick
    repeats, warmup = (1, 1) if quick else (3, 1)
    n = 1_000_000 if quick else 10_000_000
    sensitivity, epsilon, delta = 1.0, 1.0, 1e-6

    rng = SecureRandom()
    pcg = np.random.default_rng()
    x = pcg.normal(100.0, 15.0, n)
    xi = pcg.integers(0, 1000, n, dtype=np.int64)

    def rate(fn: Any) -> dict[str, Any]:
        cpu0 = time.process_time()
        med, runs, _ = timed(fn, repeats=repeats, warmup=warmup)
        cpu = (time.process_time() - cpu0) / (repeats + warmup)
        return {
            "per_s": n / med,
            "time_s": med,
            "time_s_runs": runs,
            "cpu_s": cpu,  # process CPU time per run: robust to other load on the machine
            "per_cpu_s": n / cpu,
            "n": n,
        }

    privet: dict[str, Any] = {
        "laplace": rate(
            lambda: laplace_release(x, sensitivity=sensitivity, epsilon=epsilon, rng=rng)
        ),
        "gaussian": rate(
            lambda: gaussian(x, sensitivity=sensitivity, epsilon=epsilon, delta=delta, rng=rng)
        ),
        "discrete_laplace": rate(
            lambda: discrete_laplace(xi, sensitivity=1, epsilon=epsilon, rng=rng)
        ),
    }
    scale = sensitivity / epsilon
    numpy_: dict[str, Any] = {
        "laplace": rate(lambda: x + pcg.laplace(0.0, scale, n)),
        "laplace_noise_only": rate(lambda: pcg.laplace(0.0, scale, n)),
        "normal": rate(lambda: x + pcg.normal(0.0, 4.0, n)),
    }
    rel = laplace_release(x[:10], sensitivity=sensitivity, epsilon=epsilon, rng=rng)
    ratio = {
        "laplace": privet["laplace"]["per_s"] / numpy_["laplace"]["per_s"],
        "discrete_laplace_vs_numpy_laplace": (
            privet["discrete_laplace"]["per_s"] / numpy_["laplace"]["per_s"]
        ),
        "gaussian_vs_numpy_normal": privet["gaussian"]["per_s"] / numpy_["normal"]["per_s"],
    }
    target = 5e6
    ok = privet["laplace"]["per_s"] >= target
    notes = [
        "single thread; per_s = values released per wall-clock second (per_cpu_s: per "
        "second of this process's CPU time); ratio = privet / numpy (wall clock)",
        "numpy is the insecure float floor (PCG64 + float Laplace, Mironov-attackable): a "
        "speed reference, not a like-for-like peer",
        f"target: privet laplace >= {target:.0e} secure samples/s: {'met' if ok else 'MISSED'}",
        f"laplace grid γ = {rel.granularity!r} at Δ = 1, ε = 1 for 10 values (finer for more)",
    ]
    if quick:
        notes.append("quick mode: 10^6 values and one repeat; not comparable")
    emit(
        "dp_noise",
        args,
        versions_=versions("numpy", "cryptography"),
        params={"n": n, "sensitivity": sensitivity, "epsilon": epsilon, "delta": delta},
        results={"privet": privet, "numpy": numpy_, "ratio": ratio},
        repeats=repeats,
        warmup=warmup,
        notes=notes,
        t_start=t_start,
        ok=ok,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
