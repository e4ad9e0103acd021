"""``privet demo``: the seed's scenario, played with the parts that exist so far.

Today it shows the foundation: a persisted ledger, budgets under fully adaptive filters,
charges, an overspend refused before anything is released, and the privacy of a DP-SGD run
fixed in advance. Each later room adds its step of the seed's scenario here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import typer
from rich.panel import Panel
from rich.table import Table

from privet.accounting import LaplaceEvent, dpsgd_epsilon
from privet.cli.output import budget_table, console, reported_errors
from privet.cli.train import demo_train
from privet.core import SecureRandom
from privet.core.errors import BudgetExceededError
from privet.datasets import load_breast_cancer
from privet.dp import Session
from privet.ldp import RandomizedResponse, best_oracle
from privet.smpc import demo_private_inference, demo_seed_example
from privet.store import Ledger

__all__ = ["demo"]


def _step(title: str, text: str) -> None:
    console.print()
    console.print(Panel(text, title=title, title_align="left", expand=False))


def _patient_survey(led: Ledger) -> None:
    _step(
        "Seed step 1 · a sensitive survey question under local DP",
        "10,000 patients answer 'have you ever smoked?' with the seed's two coin flips\n"
        "(truthful with probability 3/4, ε = ln 3), then report one of 32 age bands with the\n"
        "frequency oracle privet picks for ε = 1. The service sees only randomized reports.",
    )
    rng = SecureRandom()
    n = 10_000
    population = led.budget("patients", epsilon=3.0)
    smoked = rng.random(n) < 0.3  # the truth, never sent anywhere
    coin = RandomizedResponse.coin_flips()
    reports = coin.privatize(smoked, budget=population, label="smoking question")
    est = coin.estimate(reports)
    lo, hi = est.confidence_interval()
    console.print(
        f"  true share {smoked.mean():.3f}; estimated {est.proportion:.3f} "
        f"(95% interval [{lo:.3f}, {hi:.3f}]), from {int(est.yes)} 'yes' reports of {n}"
    )
    bands = np.minimum(rng.integers(n, low=0, high=16) + rng.integers(n, low=0, high=17), 31)
    oracle = best_oracle(1.0, 32)
    freq = oracle.estimate(oracle.privatize(bands, budget=population, label="age band"))
    true = np.bincount(bands, minlength=32)
    err = float(np.sqrt(np.mean((freq.counts - true) ** 2)))
    console.print(
        f"  {type(oracle).__name__} estimated 32 age-band counts: RMSE {err:.0f} "
        f"against a predicted {float(np.sqrt(freq.variance)):.0f} (Wang et al. 2017)"
    )
    spent, _ = population.spent()
    console.print(f"  the population's budget has spent ε = {spent:.3f} of 3.0")


def _hospital_statistics(led: Ledger) -> None:
    _step(
        "Seed step 2 · hospital statistics under a privacy budget",
        "A hospital's breast-cancer table (569 patients, scikit-learn) may leak ε = 1.0 in\n"
        "total. Each release is charged to the ledger [bold]before[/] any noise is drawn.",
    )
    table = load_breast_cancer()
    led.budget("hospital-stats", epsilon=1.0)
    session = Session(table, privacy_unit="patient_id", ledger=led, budget="hospital-stats")
    releases = [
        ("patients", session.count(epsilon=0.3)),
        ("malignant tumours", session.sum("malignant", bounds=(0, 1), epsilon=0.3)),
        ("mean tumour radius", session.mean("mean radius", bounds=(5.0, 30.0), epsilon=0.3)),
    ]
    table_out = Table(title="Released (noisy) statistics")
    for col in ("statistic", "value", "95% interval", "ε charged"):
        table_out.add_column(col)
    for name, result in releases:
        ci = f"[{result.ci[0]:.2f}, {result.ci[1]:.2f}]" if result.ci is not None else "-"
        charged = f"{result.charge.epsilon:g}" if result.charge is not None else "0 (cached)"
        table_out.add_row(name, f"{result.value:.2f}", ci, charged)
    console.print(table_out)
    repeat = session.count(epsilon=0.3)
    console.print(
        f"  the same count asked again comes from the cache: {repeat.value:.0f} "
        f"(free: {repeat.from_cache})"
    )
    try:
        session.mean("mean area", bounds=(100.0, 2500.0), epsilon=0.3)
    except BudgetExceededError as exc:
        console.print(f"  [bold red]refused[/]: {exc}")


def _adaptive_filters(led: Ledger) -> None:
    _step(
        "Budgets for analysts who pick each query after seeing the last",
        "Interactive queries compose adaptively, so the ledger uses privacy filters.\n"
        "How many Laplace(ε = 0.1) queries fit in ε = 10, δ = 1e-6?\n"
        "basic: Rogers et al. 2016; advanced: Whitehouse et al. 2023; rdp: Feldman & Zrnic 2021.",
    )
    for name, filt in [
        ("analyst-basic", "basic"),
        ("analyst-advanced", "advanced"),
        ("analyst-rdp", "rdp"),
    ]:
        budget = led.budget(name, epsilon=10.0, delta=1e-6, filter=filt)
        admitted = 0
        while True:
            try:
                budget.charge(LaplaceEvent(epsilon=0.1), label=f"query {admitted + 1}")
            except BudgetExceededError:
                break
            admitted += 1
        console.print(f"  {filt:9s} filter admitted {admitted} queries")


def _dp_training(led: Ledger) -> None:
    _step(
        "Seed step 3 · training the prognosis model with DP-SGD",
        "An MLP on UCI Adult (32,561 people) with Poisson batches, per-example clipping and\n"
        "CSPRNG Gaussian noise, calibrated to ε ≤ 1 at δ = 1e-5. The whole run is fixed in\n"
        "advance, so it is charged as one event before the first noise is drawn.",
    )
    q, steps, delta = 256 / 60_000, 14_062, 1e-5
    eps_pld = dpsgd_epsilon(noise_multiplier=1.1, sample_rate=q, steps=steps, delta=delta)
    eps_rdp = dpsgd_epsilon(
        noise_multiplier=1.1, sample_rate=q, steps=steps, delta=delta, method="rdp"
    )
    console.print(
        f"  accounting: MNIST-like DP-SGD (σ = 1.1, 14,062 steps) costs ε = {eps_pld:.4f} "
        f"by PLD vs {eps_rdp:.4f} by RDP"
    )
    training = led.budget("model-training", epsilon=3.0, delta=delta, filter="basic")
    result = demo_train(target_epsilon=1.0, delta=delta, budget=training)
    console.print(
        f"  trained in {result.seconds:.1f} s: test accuracy {result.accuracy:.3f} at "
        f"ε = {result.epsilon:.3f}, δ = {result.delta:g} (σ = {result.noise_multiplier:.3f}, "
        f"{result.steps} steps)"
    )
    spent, _ = training.spent()
    console.print(f"  the training budget ({training.filter} filter) has spent ε = {spent:.3f}")


def _private_inference() -> None:
    _step(
        "Seed step 4 · Bob's prediction through secure multi-party computation",
        "The seed's own example first, done right: shares drawn uniformly from a CSPRNG.\n"
        "Then Bob's digit images and the hospital's model are secret-shared between two\n"
        "parties and a dealer, each an OS process talking mutual TLS; only Bob opens the result.",
    )
    for line in demo_seed_example().lines():
        console.print(f"  {line}")
    report = demo_private_inference(processes=True)
    for line in report.lines():
        console.print(f"  {line}")


def demo(
    ledger: Path | None = typer.Option(
        None, "--ledger", help="Keep the demo's ledger in this file (default: a temporary one)."
    ),
) -> None:
    """Play the seed's scenario with the parts privet has so far."""
    console.print("[bold]privet demo[/]: learning from sensitive data without seeing it")
    with reported_errors(), tempfile.TemporaryDirectory(prefix="privet-demo-") as tmp:
        path = ledger if ledger is not None else Path(tmp) / "ledger.sqlite"
        with Ledger(path) as led:
            _patient_survey(led)
            _hospital_statistics(led)
            _adaptive_filters(led)
            _dp_training(led)
            _private_inference()
            console.print()
            console.print(budget_table(led.budgets(), title=f"Ledger {path}"))
    console.print("\n[bold green]demo finished[/]")
