"""``privet train``: train a classifier with DP-SGD on a CSV/Parquet file or on UCI Adult.

The features are encoded without reading any statistic off the data, so the ε printed
covers everything learned from it: numeric columns are scaled into [0, 1] by public bounds
(``--bounds``, as ``privet dp`` asks for) and clipped; categorical columns are one-hot
encoded by feature hashing (a fixed, unkeyed hash of ``column=value`` into
``--hash-buckets`` slots per column), so no list of levels is taken from the file. For the
bundled Adult the bounds are public domain knowledge (ages 17–90, 1–99 hours a week …).
Only the class labels are read from the data (they name the task, and are public).

``--sweep`` trains once per ε of ``--epsilons`` and draws test accuracy against ε, with a
non-private model as the reference line (PNG, matplotlib's Agg backend). Every model
trained is a release: a sweep on real data spends the sum of its ε's.

:func:`demo_train` is the DP-training step of ``privet demo``: an MLP on Adult at ε = 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from privet.accounting import Chargeable
from privet.cli.output import console, ledger_path, reported_errors
from privet.core.errors import DataError, ParameterError
from privet.core.random import SecureRandom
from privet.torch import EpochReport, StepReport, TrainResult, train_classifier
from privet.torch.trainer import accuracy

__all__ = ["ADULT_BOUNDS", "DemoResult", "demo_train", "encode_table", "train"]

ADULT_BOUNDS: Final[dict[str, tuple[float, float, bool]]] = {
    # column: (low, high, log scale) — public knowledge of the census questions, not data
    "age": (17.0, 90.0, False),
    "education_num": (1.0, 16.0, False),
    "capital_gain": (0.0, 99999.0, True),
    "capital_loss": (0.0, 4356.0, True),
    "hours_per_week": (1.0, 99.0, False),
}
"""Bounds of Adult's numeric features (``fnlwgt``, a sampling weight, is left out)."""

_ADULT_CATEGORICAL: Final = (
    "workclass",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
)


def _bucket(column: str, value: object, buckets: int) -> int:
    digest = hashlib.blake2b(f"{column}={value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


def encode_table(
    frame: pd.DataFrame,
    *,
    label: str,
    bounds: dict[str, tuple[float, float, bool]],
    categorical: list[str],
    buckets: int = 32,
    classes: list[Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Encode a table with public bounds and feature hashing (no statistic of the data).

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows.
    label : str
        The label column.
    bounds : dict of str to (low, high, log)
        Numeric feature columns: scaled to [0, 1] (after ``log1p`` when ``log``), clipped.
    categorical : list of str
        Categorical feature columns, hashed into ``buckets`` one-hot slots each.
    buckets : int, default 32
        Slots per categorical column.
    classes : list or None
        The label classes, in order (None: the sorted labels found).

    Returns
    -------
    tuple
        ``(features float32 n × d, labels int64, classes)``.

    Raises
    ------
    DataError
        For a missing column, missing numeric values or labels, or an unknown label.

    Examples
    --------
    >>> frame = pd.DataFrame({"age": [20, 95], "sex": ["F", "M"], "y": ["no", "yes"]})
    >>> x, y, classes = encode_table(frame, label="y", bounds={"age": (0, 100, False)},
    ...     categorical=["sex"], buckets=4)
    >>> x.shape, y.tolist(), classes, x[:, 0].tolist()
    ((2, 5), [0, 1], ['no', 'yes'], [0.20000000298023224, 0.949999988079071])
    """
    missing = [c for c in [label, *bounds, *categorical] if c not in frame.columns]
    if missing:
        raise DataError(
            f"unknown column(s) {missing}; the file has {list(map(str, frame.columns))}"
        )
    parts = []
    for col, (lo, hi, log) in bounds.items():
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(values).any():
            raise DataError(
                f"column {col!r} has missing or non-numeric values; impute or drop them first"
            )
        if log:
            values, lo, hi = np.log1p(np.maximum(values, 0)), math.log1p(lo), math.log1p(hi)
        parts.append(np.clip((values - lo) / (hi - lo), 0.0, 1.0)[:, None])
    for col in categorical:
        values = frame[col].astype("object").where(frame[col].notna(), "missing").astype(str)
        codes = {v: _bucket(col, v, buckets) for v in pd.unique(values)}
        onehot = np.zeros((len(frame), buckets))
        onehot[np.arange(len(frame)), values.map(codes).to_numpy(dtype=np.int64)] = 1.0
        parts.append(onehot)
    if not parts:
        raise DataError("no feature column: pass --bounds for numeric ones or --categorical")
    labels = frame[label]
    if labels.isna().any():
        raise DataError(f"the label column {label!r} has missing values; drop those rows")
    found = sorted(pd.unique(labels.astype(str)))
    classes = found if classes is None else classes
    index = {str(c): i for i, c in enumerate(classes)}
    unknown = [c for c in found if c not in index]
    if unknown:
        raise DataError(f"label(s) {unknown} are not among the classes {classes}")
    y = labels.astype(str).map(index).to_numpy(dtype=np.int64)
    return np.concatenate(parts, axis=1).astype(np.float32), y, classes


def _adult(buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from privet.datasets import load_adult

    kw: dict[str, Any] = {
        "label": "income",
        "bounds": ADULT_BOUNDS,
        "categorical": list(_ADULT_CATEGORICAL),
        "buckets": buckets,
        "classes": ["<=50K", ">50K"],
    }
    x, y, _ = encode_table(load_adult("train"), **kw)
    xt, yt, _ = encode_table(load_adult("test"), **kw)
    return x, y, xt, yt


def _parse_bounds(specs: list[str]) -> dict[str, tuple[float, float, bool]]:
    out: dict[str, tuple[float, float, bool]] = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        log = rest.endswith(":log")
        parts = rest.removesuffix(":log").split(",")
        try:
            lo, hi = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            raise ParameterError(
                f"--bounds takes COL=LO,HI (or COL=LO,HI:log), got {spec!r}"
            ) from None
        if not sep or len(parts) != 2 or not hi > lo:
            raise ParameterError(f"--bounds takes COL=LO,HI with LO < HI, got {spec!r}")
        out[name] = (lo, hi, log)
    return out


def _read(file: Path) -> pd.DataFrame:
    suffix = file.suffix.lower()
    if not file.exists():
        raise DataError(f"no file {str(file)!r}")
    if suffix == ".csv":
        return pd.read_csv(file)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(file)
    raise DataError(f"{file.name!r}: pass a .csv or .parquet file")


def _split(
    x: np.ndarray, y: np.ndarray, fraction: float, rng: SecureRandom
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not 0.0 < fraction < 1.0:
        raise ParameterError(f"--test-fraction must lie in (0, 1), got {fraction!r}")
    order = np.argsort(rng.uint64(len(y)))  # a secure random permutation
    n_test = max(1, round(fraction * len(y)))
    test, tr = order[:n_test], order[n_test:]
    if tr.size == 0:
        raise DataError("too few rows to keep a test split; lower --test-fraction")
    return x[tr], y[tr], x[test], y[test]


def _non_private(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, **kw: Any) -> float:
    """Test accuracy of the same model trained WITHOUT privacy (the sweep's reference)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from privet.torch import make_model

    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    model = make_model(
        kw["model"], in_features=x.shape[1], n_classes=max(2, int(y.max()) + 1), seed=0
    )
    opt = torch.optim.SGD(model.parameters(), lr=kw["lr"])
    loader = DataLoader(
        TensorDataset(xs, ys),
        batch_size=kw["batch_size"],
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    for _ in range(kw["epochs"]):
        for xb, yb in loader:
            opt.zero_grad()
            torch.nn.CrossEntropyLoss()(model(xb), yb).backward()
            opt.step()
    return accuracy(model, torch.from_numpy(xt), torch.from_numpy(yt))


def _sweep_plot(rows: list[tuple[float, float]], baseline: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        eps = [r[0] for r in rows]
        ax.plot(eps, [r[1] for r in rows], "o-", label="DP-SGD (privet)")
        ax.axhline(baseline, color="grey", linestyle="--", label="non-private")
        ax.set_xscale("log")
        ax.set_xlabel("ε (δ fixed)")
        ax.set_ylabel("test accuracy")
        ax.set_title("Privacy / utility")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def train(
    file: Path | None = typer.Argument(None, help="A .csv or .parquet file (or --adult)."),
    adult: bool = typer.Option(False, "--adult", help="Train on the bundled UCI Adult."),
    label: str | None = typer.Option(None, "--label", help="The label column (files)."),
    bounds: list[str] = typer.Option(
        [], "--bounds", help="Numeric feature COL=LO,HI[:log], public bounds (repeatable)."
    ),
    categorical: list[str] = typer.Option(
        [], "--categorical", help="Categorical feature column, hashed (repeatable)."
    ),
    hash_buckets: int = typer.Option(32, "--hash-buckets", help="One-hot slots per category."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Held-out rows (files)."),
    model: str = typer.Option("mlp", "--model", help="logistic or mlp (128-64)."),
    epochs: int = typer.Option(3, "--epochs"),
    batch_size: int = typer.Option(256, "--batch-size", help="Expected Poisson batch size."),
    lr: float = typer.Option(0.5, "--lr", help="SGD learning rate."),
    epsilon: float | None = typer.Option(
        None, "--epsilon", "-e", help="Target ε of the run (σ is calibrated)."
    ),
    noise_multiplier: float | None = typer.Option(None, "--noise-multiplier", help="σ."),
    delta: float = typer.Option(1e-5, "--delta", help="δ."),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm", help="Clipping norm C."),
    budget: str | None = typer.Option(None, "--budget", help="Charge this ledger budget."),
    ledger: Path | None = typer.Option(None, "--ledger", help="Ledger file."),
    sweep: bool = typer.Option(False, "--sweep", help="Accuracy vs ε over --epsilons."),
    epsilons: str = typer.Option("0.5,1,2,4,8", "--epsilons", help="ε values of --sweep."),
    plot: Path = typer.Option(Path("privet-sweep.png"), "--plot", help="PNG of --sweep."),
    insecure_seed: int | None = typer.Option(
        None, "--insecure-seed", help="Seeded, predictable randomness: NOT private (tests)."
    ),
) -> None:
    """Train a logistic regression or an MLP with DP-SGD and print ε as it goes."""
    with reported_errors():
        if adult == (file is not None):
            raise ParameterError("pass a FILE or --adult (exactly one)")
        rng = SecureRandom() if insecure_seed is None else SecureRandom.seeded(insecure_seed)
        if not rng.is_secure:
            console.print("[bold red]--insecure-seed: predictable randomness, NOT private[/]")
        if file is not None:
            if label is None:
                raise ParameterError("pass --label COL: the column to predict")
            frame = _read(file)
            x, y, _ = encode_table(
                frame,
                label=label,
                bounds=_parse_bounds(bounds),
                categorical=categorical,
                buckets=hash_buckets,
            )
            x, y, xt, yt = _split(x, y, test_fraction, rng)
        else:
            x, y, xt, yt = _adult(hash_buckets)
        common: dict[str, Any] = {
            "model": model, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        }  # fmt: skip
        if sweep:
            _run_sweep(x, y, xt, yt, epsilons, plot, delta, max_grad_norm, rng, common)
            return
        if (epsilon is None) == (noise_multiplier is None):
            raise ParameterError("pass --epsilon (target ε) or --noise-multiplier (exactly one)")
        with contextlib.ExitStack() as stack:
            charged = None
            if budget is not None:
                from privet.store import Ledger

                charged = stack.enter_context(Ledger(ledger_path(ledger))).get(budget)
            result = _run_one(
                x, y, xt, yt, epsilon, noise_multiplier, delta, max_grad_norm, charged, rng,
                common,
            )  # fmt: skip
        console.print(
            f"[bold]done[/]: test accuracy {result.accuracy:.4f}, (ε = {result.epsilon:.4g}, "
            f"δ = {delta:g})-DP, σ = {result.noise_multiplier:.4g}, {result.steps} steps"
        )


def _run_one(
    x: np.ndarray,
    y: np.ndarray,
    xt: np.ndarray,
    yt: np.ndarray,
    epsilon: float | None,
    sigma: float | None,
    delta: float,
    max_grad_norm: float,
    budget: Any,
    rng: SecureRandom,
    common: dict[str, Any],
) -> TrainResult:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("DP-SGD", total=None)

        def on_step(report: StepReport) -> None:
            progress.update(task, total=report.total, completed=report.step)

        def on_epoch(report: EpochReport) -> None:
            progress.console.print(
                f"epoch {report.epoch}: ε = {report.epsilon or 0.0:.4g} (δ = {report.delta:g}), "
                f"test accuracy {report.accuracy:.4f}, {report.steps} steps"
            )

        return train_classifier(
            x, y, x_test=xt, y_test=yt, target_epsilon=epsilon, noise_multiplier=sigma,
            delta=delta, max_grad_norm=max_grad_norm, budget=budget, rng=rng,
            on_step=on_step, on_epoch=on_epoch, **common,
        )  # fmt: skip


def _run_sweep(
    x: np.ndarray,
    y: np.ndarray,
    xt: np.ndarray,
    yt: np.ndarray,
    epsilons: str,
    plot: Path,
    delta: float,
    max_grad_norm: float,
    rng: SecureRandom,
    common: dict[str, Any],
) -> None:
    try:
        targets = sorted({float(e) for e in epsilons.split(",") if e.strip()})
    except ValueError:
        raise ParameterError(
            f"--epsilons takes numbers such as 0.5,1,2, got {epsilons!r}"
        ) from None
    if not targets or min(targets) <= 0:
        raise ParameterError(f"--epsilons needs positive values, got {epsilons!r}")
    console.print(
        f"a sweep releases {len(targets)} models: on real data it spends "
        f"ε = {sum(targets):g} in all"
    )
    rows = []
    table = RichTable(title="Privacy / utility")
    for col in ("target ε", "ε spent", "σ", "test accuracy"):
        table.add_column(col, justify="right")
    for target in targets:
        result = train_classifier(
            x, y, x_test=xt, y_test=yt, target_epsilon=target, delta=delta,
            max_grad_norm=max_grad_norm, rng=rng, **common,
        )  # fmt: skip
        accuracy_ = result.accuracy or 0.0
        rows.append((result.epsilon, accuracy_))
        table.add_row(
            f"{target:g}", f"{result.epsilon:.4g}", f"{result.noise_multiplier:.4g}",
            f"{accuracy_:.4f}",
        )  # fmt: skip
        console.print(f"ε ≤ {target:g}: test accuracy {accuracy_:.4f}")
    baseline = _non_private(x, y, xt, yt, **common)
    table.add_row("∞ (non-private)", "∞", "0", f"{baseline:.4f}")
    console.print(table)
    _sweep_plot(rows, baseline, plot)
    console.print(f"plot written to {plot}")


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What :func:`demo_train` returns: accuracy, (ε, δ), σ, steps and seconds."""

    accuracy: float
    epsilon: float
    delta: float
    noise_multiplier: float
    steps: int
    seconds: float


def demo_train(
    *,
    target_epsilon: float = 1.0,
    delta: float = 1e-5,
    epochs: int = 3,
    rng: SecureRandom | None = None,
    budget: Chargeable | None = None,
) -> DemoResult:
    """Train the demo's model with DP: an MLP on UCI Adult at ``target_epsilon`` (≈ 10 s).

    Parameters
    ----------
    target_epsilon : float, default 1.0
        ε of the whole run.
    delta : float, default 1e-5
        δ (Adult has 32,561 training rows).
    epochs : int, default 3
        Epochs (batch 256, SGD lr 0.5, C = 1).
    rng : SecureRandom, optional
        None: OS-keyed (private). A seeded one is reproducible and NOT private.
    budget : Chargeable, optional
        A ledger budget, charged for the whole run before the first noise is drawn.

    Returns
    -------
    DemoResult
        Test accuracy on adult.test and the privacy spent.
    """
    start = time.perf_counter()
    x, y, xt, yt = _adult(32)
    result = train_classifier(
        x, y, x_test=xt, y_test=yt, model="mlp", epochs=epochs, lr=0.5, batch_size=256,
        target_epsilon=target_epsilon, delta=delta, max_grad_norm=1.0, rng=rng, budget=budget,
    )  # fmt: skip
    return DemoResult(
        accuracy=result.accuracy or 0.0,
        epsilon=result.epsilon,
        delta=delta,
        noise_multiplier=result.noise_multiplier,
        steps=result.steps,
        seconds=time.perf_counter() - start,
    )
