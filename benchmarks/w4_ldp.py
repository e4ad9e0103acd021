"""W4: local-DP frequency oracles on privet: GRR, OUE, OLH, Hadamard response.

The same workload as ``shared/peers/w4_ldp.py`` (pure-ldp 1.2.0):

  grid   : n in {100,000, 1,000,000} users x d in {16, 1024} x {GRR, OUE, OLH, HR}, ε = 1
  data   : peers_data.w4_stream(d): default_rng(1000 + d), values 1..d with P(v) ∝ v^-1.1,
           mapped to 0..d-1; the n = 100,000 cells use the first 100,000 values
  protocol: users in chunks of 10,000: privatize the chunk (client, timed), aggregate its
           reports into a running tally (server, timed); then estimate once (timed)
  repeats: 3 timed runs after a 10,000-user warm-up for the n = 100,000 cells, 1 run for
           the n = 1,000,000 cells and for OLH at d = 1024 (the peer's rule); the median

privet's oracles draw every random bit from the AES-256-CTR ``SecureRandom`` (OS-keyed),
where pure-ldp uses Python's ``random`` and numpy's global Mersenne Twister. privet runs
every cell on all n users (the peer caps OLH at d = 1024, n = 10^6 to 200,000 users: compare
per-user times there). Per cell: client_s, aggregate_s, estimate_s, client_us_per_user,
aggregate_us_per_user, reports_per_s, mse (mean over the d values of (estimate - true
count)²), theory_var (the peer's formulas: GRR n(e^ε+d-2)/(e^ε-1)², OUE/OLH n·4e^ε/(e^ε-1)²,
HR n((e^ε+1)/(e^ε-1))²), mse_over_theory, expected_mse_exact (Wang et al. 2017 Theorem 2 with
the true counts and privet's exact p*, q*), mse_norm_sub (after free post-processing), and
mse_avg: the MSE averaged over extra untimed runs (a single run's MSE over 16 values is too
noisy to compare with theory).
For OLH, ``aggregate_peak_bytes`` is the traced peak memory (tracemalloc) of one
``aggregate`` call on all n reports at once, beside the n x d bytes a naive server needs.
The last stdout line is the JSON envelope of ``benchmarks/envelope.py``.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from envelope import emit, parse_args, versions  # benchmarks/ is on sys.path
from privet.core import SecureRandom
from privet.ldp import GRR, OLH, OUE, FrequencyOracle, HadamardResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "peers"))
from peers_data import W4_ZIPF_S, w4_stream

T0 = time.perf_counter()
args = parse_args(__doc__.splitlines()[0])

EPS = 1.0
CHUNK = 10_000
ORACLES: dict[str, type[FrequencyOracle]] = {
    "GRR": GRR,
    "OUE": OUE,
    "OLH": OLH,
    "HR": HadamardResponse,
}
if args.quick:
    NS, DS = [20_000], [16, 1024]
else:
    NS, DS = [100_000, 1_000_000], [16, 1024]
N_MAX = max(NS)


def repeats_for(name: str, d: int, n: int) -> tuple[int, int]:
    """The peer's rule: 3 repeats + 1 warm-up where cheap, else 1 and none."""
    if args.quick:
        return 1, 0
    if n <= 100_000 and not (name == "OLH" and d >= 1024):
        return 3, 1
    return 1, 0


def theory_var(name: str, n: int, d: int) -> float:
    e = math.exp(EPS)
    if name == "GRR":
        return n * (e + d - 2) / (e - 1) ** 2
    if name in ("OUE", "OLH"):
        return n * 4 * e / (e - 1) ** 2
    return n * ((e + 1) / (e - 1)) ** 2


def run_cell(oracle: FrequencyOracle, data: np.ndarray) -> dict[str, Any]:
    rng = SecureRandom()
    client_s = agg_s = 0.0
    tally = None
    for start in range(0, data.shape[0], CHUNK):
        chunk = data[start : start + CHUNK]
        t0 = time.perf_counter()
        reports = oracle.privatize(chunk, rng=rng)
        t1 = time.perf_counter()
        part = oracle.aggregate(reports)
        tally = part if tally is None else tally + part
        t2 = time.perf_counter()
        client_s += t1 - t0
        agg_s += t2 - t1
    t3 = time.perf_counter()
    est = oracle.estimate(tally)
    est_s = time.perf_counter() - t3
    true = np.bincount(data, minlength=oracle.domain_size).astype(np.float64)
    return {
        "client_s": client_s,
        "aggregate_s": agg_s,
        "estimate_s": est_s,
        "mse": float(np.mean((est.counts - true) ** 2)),
        "mse_norm_sub": float(np.mean((est.norm_sub() - true) ** 2)),
    }


def mse_runs_for(d: int, n: int) -> int:
    """Untimed extra runs for a precise MSE: one run's MSE over d = 16 values is ±35 %."""
    if args.quick:
        return 5
    if d <= 16:
        return 100 if n <= 100_000 else 40
    return 10 if n <= 100_000 else 6


def mse_average(oracle: FrequencyOracle, data: np.ndarray, runs: int) -> list[float]:
    rng = SecureRandom()
    true = np.bincount(data, minlength=oracle.domain_size).astype(np.float64)
    return [
        float(np.mean((oracle.estimate(oracle.privatize(data, rng=rng)).counts - true) ** 2))
        for _ in range(runs)
    ]


def peak_aggregate_bytes(oracle: FrequencyOracle, data: np.ndarray) -> int:
    reports = oracle.privatize(data, rng=SecureRandom())
    tracemalloc.start()
    tracemalloc.reset_peak()
    oracle.aggregate(reports)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return int(peak)


results: dict[str, Any] = {}
notes: list[str] = []
streams = {d: w4_stream(d, N_MAX) - 1 for d in DS}  # values 1..d -> 0..d-1
for d in DS:
    for n in NS:
        for name, cls in ORACLES.items():
            key = f"{name}_d{d}_n{n}"
            oracle = cls(epsilon=EPS, domain_size=d)
            data = np.ascontiguousarray(streams[d][:n])
            reps, warm = repeats_for(name, d, n)
            try:
                for _ in range(warm):
                    run_cell(oracle, data[:CHUNK])
                runs = [run_cell(oracle, data) for _ in range(reps)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                tv = theory_var(name, n, d)
                counts = np.bincount(data, minlength=d)
                p, q = oracle.support_probabilities
                exact = float(
                    np.mean((counts * p * (1 - p) + (n - counts) * q * (1 - q)) / (p - q) ** 2)
                )
                res: dict[str, Any] = {
                    "n": n,
                    "n_used": n,
                    "capped": False,
                    "repeats": reps,
                    "warmup": warm,
                    **med,
                    "total_s": med["client_s"] + med["aggregate_s"] + med["estimate_s"],
                    "client_us_per_user": med["client_s"] / n * 1e6,
                    "aggregate_us_per_user": med["aggregate_s"] / n * 1e6,
                    "reports_per_s": n / med["client_s"],
                    "theory_var": tv,
                    "theory_var_privet": oracle.variance(n),
                    "mse_over_theory": med["mse"] / tv,
                    "expected_mse_exact": exact,
                    "mse_over_expected_exact": med["mse"] / exact,
                    "report_bits": oracle.report_bits,
                    "mse_runs": [r["mse"] for r in runs],
                }
                extra = mse_average(oracle, data, mse_runs_for(d, n))
                avg = statistics.fmean(extra)
                res["mse_avg"] = avg
                res["mse_avg_runs"] = len(extra)
                res["mse_avg_rel_se"] = statistics.stdev(extra) / avg / math.sqrt(len(extra))
                res["mse_avg_over_theory"] = avg / tv
                res["mse_avg_over_expected_exact"] = avg / exact
                if name == "OLH":
                    res["hash_range"] = oracle.hash_range  # type: ignore[attr-defined]
                    res["aggregate_peak_bytes"] = peak_aggregate_bytes(oracle, data)
                    res["naive_n_by_d_bytes"] = n * d
                results[key] = res
            except Exception as exc:  # a failed cell is reported, the others still run
                results[key] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                notes.append(f"{key} failed: {type(exc).__name__}")
            print(f"# {key}: {results[key]}", flush=True)

notes += [
    "GRR = privet.ldp.GRR; OUE = privet.ldp.OUE (bit-packed uint8 reports); OLH = "
    "privet.ldp.OLH (g = 4: a per-user GF(2)-linear hash, server by Walsh-Hadamard transform); "
    "HR = privet.ldp.HadamardResponse (the high-privacy scheme, K = next power of two above d)",
    "all randomness from privet's AES-256-CTR SecureRandom, OS-keyed (not seeded)",
    "no caps: every cell uses all n users (the peer caps OLH d=1024 n=1e6 at 200,000)",
    "mse is over the d raw estimated counts (no post-processing), as the peer's; mse_norm_sub "
    "after Norm-Sub (free post-processing)",
    "mse_avg: the mean MSE over mse_avg_runs extra untimed runs (all users at once), with its "
    "relative standard error: one run's MSE over d = 16 values varies by about ±35 %",
    "aggregate_peak_bytes: tracemalloc peak of one OLH aggregate() call on all n reports",
]

emit(
    "w4_ldp",
    args,
    versions_=versions("privet", "numpy", "cryptography"),
    params={
        "epsilon": EPS,
        "ns": NS,
        "ds": DS,
        "zipf_s": W4_ZIPF_S,
        "chunk": CHUNK,
        "oracles": list(ORACLES),
    },
    results={"privet": results},
    repeats=1,
    warmup=0,
    notes=notes,
    t_start=T0,
)
