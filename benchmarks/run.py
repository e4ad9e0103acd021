"""Run privet's benchmarks and the peers' same workloads back to back, and compare.

``make bench`` calls this. For each workload it runs ``benchmarks/<workload>.py`` with this
interpreter, then (when a peer script of the same name exists in ``../shared/peers`` and a
peers' interpreter is given) the peer's script, one after the other, never at once. It
prints each JSON line, then one comparison line per workload::

    {"workload": "w1_accounting", "comparison": [{"cell": "dpsgd_mnist.pld.time_s",
      "privet": 0.21, "peer": 0.25, "peer_cell": "dpsgd_mnist.dp_accounting_pld.time_s",
      "ratio_privet_over_peer": 0.84}, ...]}

and a table on stderr. ``--quick`` passes ``--quick`` to every script.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# workload -> list of (privet cell under results.privet, peer cell under results)
COMPARISONS: dict[str, list[tuple[str, str]]] = {
    "w1_accounting": [
        ("dpsgd_mnist.pld.eps", "dpsgd_mnist.dp_accounting_pld.eps"),
        ("dpsgd_mnist.pld.time_s", "dpsgd_mnist.dp_accounting_pld.time_s"),
        ("dpsgd_mnist.rdp.eps", "dpsgd_mnist.dp_accounting_rdp.eps"),
        ("dpsgd_mnist.rdp.time_s", "dpsgd_mnist.dp_accounting_rdp.time_s"),
        ("abadi.pld.eps", "abadi.dp_accounting_pld.eps"),
        ("abadi.pld.time_s", "abadi.dp_accounting_pld.time_s"),
        ("abadi.rdp.eps", "abadi.dp_accounting_rdp.eps"),
        ("abadi.rdp.time_s", "abadi.dp_accounting_rdp.time_s"),
        ("laplace_100.pld.eps", "laplace_100.dp_accounting_pld.eps"),
        ("laplace_100.pld.time_s", "laplace_100.dp_accounting_pld.time_s"),
    ],
    # privet's W2 figures live under results.privet.{non_private,dpsgd}; Opacus's under
    # results.{non_private,opacus_hooks,opacus_ghost} (shared/peers/w2_dpsgd.py).
    "w2_dpsgd": [
        ("dpsgd.samples_per_s", "opacus_ghost.samples_per_s"),
        ("dpsgd.samples_per_s", "opacus_hooks.samples_per_s"),
        ("dpsgd.samples_per_s_excl_loading", "opacus_ghost.samples_per_s_excl_loading"),
        ("dpsgd.test_acc", "opacus_ghost.test_acc"),
        ("dpsgd.eps_rdp", "opacus_ghost.eps_rdp"),
        ("dpsgd.eps_pld", "opacus_ghost.eps_prv"),
        ("dpsgd.slowdown_vs_non_private", "opacus_ghost.slowdown_vs_non_private"),
        ("non_private.samples_per_s", "non_private.samples_per_s"),
        ("non_private.test_acc", "non_private.test_acc"),
    ],
    "w3_dp_queries": [
        ("sum.time_s", "opendp.sum.time_s"),
        ("sum.error_median.abs_err", "opendp.sum.error_median.abs_err"),
        ("sum.error_median.rel_err", "opendp.sum.error_median.rel_err"),
        ("mean.time_s", "opendp.mean.time_s"),
        ("mean.error_median.abs_err", "opendp.mean.error_median.abs_err"),
        ("mean.error_median.rel_err", "opendp.mean.error_median.rel_err"),
        ("count_by_category.time_s", "opendp.count_by_category.time_s"),
        ("count_by_category.error_median.mae", "opendp.count_by_category.error_median.mae"),
        ("count_by_category.error_median.rmse", "opendp.count_by_category.error_median.rmse"),
        (
            "count_by_category.error_median.max_abs_err",
            "opendp.count_by_category.error_median.max_abs_err",
        ),
        ("sum.time_s", "non_private.polars_sum_with_truncation.time_s"),
        ("count_by_category.time_s", "non_private.polars_count_by_category.time_s"),
    ],
    "w4_ldp": [
        (f"{o}_d{d}_n{n}.{k}", f"{o}_d{d}_n{n}.{k}")
        for o in ("GRR", "OUE", "OLH", "HR")
        for d in (16, 1024)
        for n in (20_000, 100_000, 1_000_000)
        for k in (
            "client_us_per_user",
            "aggregate_us_per_user",
            "estimate_s",
            "mse",
            "mse_over_theory",
        )
    ],
    "w5_smpc": [
        *[
            (f"{op}.{k}", f"{op}.{k}")
            for op in ("mul", "lt", "matmul", "relu")
            for k in ("time_s", "total_bytes", "rounds_party")
        ],
        # privet's online phase alone (measured under preprocessing()) and its SecureML
        # truncation, the one CrypTen uses, against CrypTen's TFP times (online only)
        *[(f"{op}.online_time_s", f"{op}.time_s") for op in ("mul", "lt", "matmul", "relu")],
        *[
            (f"local_truncation.{op}.{k}", f"{op}.time_s")
            for op in ("mul", "matmul")
            for k in ("time_s", "online_time_s")
        ],
        ("inference.forward_online_s", "inference.forward_s"),
        # the ring-matmul engine forced to AMX int8 GEMMs (present on AMX hosts only)
        *[(f"int8_matmul.matmul.{k}", "matmul.time_s") for k in ("time_s", "online_time_s")],
        ("int8_matmul.inference.forward_s", "inference.forward_s"),
        ("mul.max_abs_err", "mul.max_abs_err"),
        ("lt.mismatches", "lt.mismatches"),
        ("matmul.max_abs_err", "matmul.max_abs_err"),
        ("relu.max_abs_err", "relu.max_abs_err"),
        *[
            (f"inference.{k}", f"inference.{k}")
            for k in (
                "forward_s",
                "total_bytes",
                "rounds_party",
                "max_abs_logit_err",
                "argmax_agreement",
                "acc_private",
            )
        ],
    ],
    # No peer script for these two: their floor (numpy PCG64) is measured in-process.
    "rng_throughput": [],
    "dp_noise": [],
}


def _get(tree: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _run(cmd: list[str], cwd: Path) -> dict[str, Any] | None:
    print(f"# running: {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-2000:]
        print(f"# failed ({proc.returncode}): {tail}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--peers-python", default=None, help="the peers' venv python")
    ap.add_argument("--no-peers", action="store_true", help="run privet's side only")
    ap.add_argument("--shared", default=str(HERE.parent.parent / "shared"))
    ap.add_argument("workloads", nargs="*", help="subset of workloads (default: all)")
    args = ap.parse_args()
    peers_dir = Path(args.shared) / "peers"
    names = args.workloads or list(COMPARISONS)
    failed = 0
    for name in names:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"# no benchmark {script}", file=sys.stderr)
            failed += 1
            continue
        extra = ["--quick"] if args.quick else []
        mine = _run([sys.executable, str(script), *extra], HERE.parent)
        print(json.dumps(mine, separators=(",", ":")), flush=True)
        peer_script = peers_dir / f"{name}.py"
        peer = None
        if peer_script.exists() and not args.no_peers and args.peers_python:
            peer = _run([args.peers_python, str(peer_script), *extra], peers_dir)
            print(json.dumps(peer, separators=(",", ":")), flush=True)
        if mine is None:
            failed += 1
            continue
        rows = []
        for cell, peer_cell in COMPARISONS.get(name, []):
            a = _get(mine, f"results.privet.{cell}")
            b = _get(peer, f"results.{peer_cell}") if peer else None
            ratio = (
                a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else None
            )
            rows.append(
                {
                    "cell": cell,
                    "privet": a,
                    "peer": b,
                    "peer_cell": peer_cell,
                    "ratio_privet_over_peer": None if ratio is None else round(ratio, 4),
                }
            )
        print(json.dumps({"workload": name, "comparison": rows}, separators=(",", ":")))
        for row in rows:
            print(
                f"{name:16s} {row['cell']:34s} privet={row['privet']!s:12.12s} "
                f"peer={row['peer']!s:12.12s} ratio={row['ratio_privet_over_peer']}",
                file=sys.stderr,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
