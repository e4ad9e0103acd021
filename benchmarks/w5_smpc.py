"""W5: two-party secure computation on privet, parties as OS processes over mutual TLS.

The workload of ``shared/peers/w5_smpc.py`` (CrypTen 0.4.1), on privet's ``LocalCluster``:
two computing parties and the dealer are three separate processes, linked by TLS 1.3 on
loopback; this process is the driver and two input owners ("alice" holds x, A and the
model, "bob" holds y, B and the digits). Arithmetic sharing over Z_2^64, 16 fractional bits.

Inputs (torch.Generator seeded 0, exactly the peer's): x, y = 1,000,000 values U[-10, 10);
A, B = 256 x 256 U[-1, 1). Ops (result stays shared, no reveal inside the timing): x*y, x<y,
A@B, relu(x). Private inference: the peer's MLP 64-128-ReLU-10 (trained in plaintext, seed 0,
Adam lr 1e-2, 300 full-batch steps on all 1,797 digits / 16), shared by alice with
``from_torch``; the 1797 x 64 input shared by bob; one batched forward.

Timing: ``time_s`` is the driver's wall clock for the op, **dealer counted**: privet's dealer
is a separate process that produces each op's correlated randomness on demand (when the op
starts) and sends its corrections to the last party, which reads them only when the
protocol needs them (after its own work on the opened values), so
the dealer's work overlaps the online round.
``dealer_time_s`` is the dealer's wall clock for the op (including the time its corrections
wait to be read), ``dealer_cpu_s`` its CPU time (its own work). ``online_time_s`` is the online
phase alone, measured: the op runs again REPEATS times inside ``cluster.preprocessing()``,
where the dealer first produces all its material (``offline_time_s``) and only then do the
parties start; ``online_time_s_estimate`` = ``time_s - dealer_cpu_s`` (CrypTen's TFP numbers are
online-only). Median of 3 after 1 warm-up (quick: 1, none).

Communication: privet's cost report. ``bytes_sent`` is the payload the parties sent (summed
over both), ``total_bytes`` = ``bytes_party`` = that / 2 (the peer's convention, sum over
parties / 2), ``dealer_bytes`` what the dealer sent, ``rounds_party`` the rounds.
Errors: revealed result vs a float64 plaintext computation on the same inputs.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from envelope import emit, parse_args, versions  # benchmarks/ is on sys.path
from privet.smpc import bytemm
from privet.smpc.comparison import relu
from privet.smpc.local_cluster import LocalCluster

T0 = time.perf_counter()
args = parse_args(__doc__.splitlines()[0])
N_ELEM = 100_000 if args.quick else 1_000_000
MAT = 256
REPEATS, WARMUP = (1, 0) if args.quick else (3, 1)
torch.set_num_threads(1)


def peer_inputs() -> tuple[np.ndarray, ...]:
    g = torch.Generator().manual_seed(0)  # the peer's generator and draw order
    x = torch.rand(N_ELEM, generator=g) * 20 - 10
    y = torch.rand(N_ELEM, generator=g) * 20 - 10
    a = torch.rand(MAT, MAT, generator=g) * 2 - 1
    b = torch.rand(MAT, MAT, generator=g) * 2 - 1
    return tuple(t.double().numpy() for t in (x, y, a, b))


def peer_model() -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
    xs, ys = load_digits(return_X_y=True)
    x_all = torch.tensor(xs / 16.0, dtype=torch.float32)
    y_all = torch.tensor(ys)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x_all), y_all).backward()
        opt.step()
    model.eval()
    return model, xs / 16.0, ys


def bench(
    cluster: LocalCluster, name: str, fn: Callable[[], Any], elements: int
) -> tuple[dict[str, Any], Any]:
    for _ in range(WARMUP):
        fn()
    totals, online, dealer, dealer_cpu, out = [], [], [], [], None
    for _ in range(REPEATS):
        cluster.reset_costs()
        d0, c0 = cluster.dealer_seconds, cluster.dealer_cpu_seconds
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        dd = cluster.dealer_seconds - d0
        dc = cluster.dealer_cpu_seconds - c0
        totals.append(dt)
        dealer.append(dd)
        dealer_cpu.append(dc)
        online.append(max(0.0, dt - dc))
    report = cluster.cost_report()
    rows = [report[op] for op in report]
    sent = sum(r.bytes_sent for r in rows)
    # the online phase alone, measured: the dealer first makes all the op's material
    online_runs, offline_runs = [], []
    for _ in range(REPEATS):
        cluster.reset_costs()
        with cluster.preprocessing():
            fn()
        row = cluster.cost_report()[name]
        online_runs.append(row.online_seconds)
        offline_runs.append(row.offline_seconds)
    cell = {
        "time_s": statistics.median(totals),
        "time_s_runs": totals,
        "online_time_s": statistics.median(online_runs),
        "online_time_s_runs": online_runs,
        "offline_time_s": statistics.median(offline_runs),
        "online_time_s_estimate": statistics.median(online),
        "dealer_time_s": statistics.median(dealer),
        "dealer_cpu_s": statistics.median(dealer_cpu),
        "bytes_sent": sent,
        "bytes_party": sent / 2,
        "total_bytes": sent / 2,
        "dealer_bytes": sum(r.dealer_bytes for r in rows),
        "rounds_party": sum(r.rounds for r in rows),
        "elements_per_s": elements / statistics.median(totals),
    }
    return cell, out


def run_suite(truncation: str, ops: tuple[str, ...]) -> dict[str, Any]:
    """Run the workload's ops on a fresh LocalCluster with one truncation mode."""
    x_pt, y_pt, a_pt, b_pt = peer_inputs()
    model, digits, labels = peer_model()
    with torch.no_grad():
        plain_logits = model(torch.tensor(digits, dtype=torch.float32)).double().numpy()
    results: dict[str, Any] = {}
    t = time.perf_counter()
    with LocalCluster(
        parties=2, clients=("alice", "bob"), truncation=truncation, timeout=120.0
    ) as cluster:
        start_s = time.perf_counter() - t
        t = time.perf_counter()
        x, a = cluster.share(x_pt, owner="alice"), cluster.share(a_pt, owner="alice")
        y, b = cluster.share(y_pt, owner="bob"), cluster.share(b_pt, owner="bob")
        share_s = time.perf_counter() - t

        if "mul" in ops:
            cell, z = bench(cluster, "mul", lambda: x * y, N_ELEM)
            cell["max_abs_err"] = float(np.max(np.abs(z.reveal() - x_pt * y_pt)))
            results["mul"] = cell
        if "lt" in ops:
            cell, z = bench(cluster, "lt", lambda: x < y, N_ELEM)
            cell["mismatches"] = int(np.sum(z.reveal() != (x_pt < y_pt)))
            results["lt"] = cell
        if "matmul" in ops:
            cell, z = bench(cluster, "matmul", lambda: a @ b, MAT**3)
            cell["max_abs_err"] = float(np.max(np.abs(z.reveal() - a_pt @ b_pt)))
            del cell["elements_per_s"]
            results["matmul"] = cell
        if "relu" in ops:
            cell, z = bench(cluster, "relu", lambda: relu(x), N_ELEM)
            cell["max_abs_err"] = float(np.max(np.abs(z.reveal() - np.maximum(x_pt, 0.0))))
            results["relu"] = cell
        if "inference" in ops:
            t = time.perf_counter()
            shared_model = cluster.from_torch(model, owner="alice")
            encrypt_model_s = time.perf_counter() - t
            t = time.perf_counter()
            xin = cluster.share(digits, owner="bob")
            encrypt_input_s = time.perf_counter() - t
            cell, logits_sh = bench(cluster, "inference", lambda: shared_model(xin), len(digits))
            t = time.perf_counter()
            logits = logits_sh.reveal(to="bob")
            decrypt_s = time.perf_counter() - t
            pred, pred_plain = logits.argmax(1), plain_logits.argmax(1)
            inference = {
                "n_samples": len(digits),
                "encrypt_model_s": encrypt_model_s,
                "encrypt_input_s": encrypt_input_s,
                "forward_s": cell.pop("time_s"),
                "forward_s_runs": cell.pop("time_s_runs"),
                "forward_online_s": cell.pop("online_time_s"),
                "forward_offline_s": cell.pop("offline_time_s"),
                "decrypt_s": decrypt_s,
                "samples_per_s": cell.pop("elements_per_s"),
                "max_abs_logit_err": float(np.max(np.abs(logits - plain_logits))),
                "argmax_agreement": float(np.mean(pred == pred_plain)),
                "acc_private": float(np.mean(pred == labels)),
                "acc_plaintext": float(np.mean(pred_plain == labels)),
            }
            inference.update(cell)
            results["inference"] = inference
        results["cluster_start_s"] = start_s
        results["share_inputs_s"] = share_s
        results["truncation"] = cluster.truncation
    results["exit_codes"] = cluster.exit_codes()
    return results


def main() -> None:
    results = run_suite("dealer", ("mul", "lt", "matmul", "relu", "inference"))
    # CrypTen truncates 2-party products locally (SecureML); the same option, for reference.
    results["local_truncation"] = run_suite("local", ("mul", "matmul", "relu", "inference"))
    if bytemm.has_amx() and bytemm.int8_exact():  # the int8 engine forced (smpc.bytemm)
        os.environ[bytemm.ENGINE_VARIABLE] = "int8"  # the parties inherit it
        try:
            results["int8_matmul"] = run_suite("dealer", ("matmul", "inference"))
        finally:
            del os.environ[bytemm.ENGINE_VARIABLE]
    notes = [
        "parties and dealer are 3 OS processes (python -m privet.smpc.party_main), linked by "
        "mutual TLS 1.3 on loopback; the driver and the input owners run in this process",
        "time_s counts the dealer (on-demand correlated randomness, overlapping the parties' "
        "work); online_time_s is measured in separate runs inside cluster.preprocessing(), "
        "where the dealer makes all the op's material first (offline_time_s) and the parties "
        "start only then; dealer_time_s is the dealer's wall clock for the op",
        "bytes_sent sums the payload both parties sent; total_bytes = bytes_party = "
        "bytes_sent / 2 (the peer's 'sum over parties / 2'); TLS and framing not counted",
        "errors decode the revealed fixed-point value in float64 and compare with a float64 "
        "plaintext result on the same inputs (the peer's inputs: torch seed 0)",
        "top-level cells use privet's default truncation ('dealer': exact up to 1 ulp, one more "
        "round); local_truncation repeats the ops with 2-party SecureML truncation (no round, "
        "a tiny failure probability), the truncation CrypTen uses",
        "ring matmuls: the default engine 'auto' uses float64 limbs here, since it imports "
        "torch for the AMX int8 engine only after 2 s of limb products per process, which this "
        "short workload never reaches; int8_matmul (on AMX hosts only) repeats matmul and "
        "inference with PRIVET_SMPC_MATMUL=int8",
    ]
    emit(
        "w5_smpc",
        args,
        versions_=versions("numpy", "torch", "cryptography", "scikit-learn"),
        params={
            "n_elements": N_ELEM,
            "matmul": [MAT, MAT, MAT],
            "parties": 2,
            "fixed_point_bits": 16,
            "mlp": "64-128-ReLU-10",
            "inference_samples": 1797,
            "transport": "TLS 1.3 loopback, one process per party and for the dealer",
        },
        results={"privet": results},
        repeats=REPEATS,
        warmup=WARMUP,
        notes=notes,
        t_start=T0,
    )


if __name__ == "__main__":
    main()
