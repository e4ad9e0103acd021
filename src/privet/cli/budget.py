"""``privet budget``: create, inspect and raise the privacy budgets in a ledger."""

from __future__ import annotations

from pathlib import Path

import typer

from privet.cli.output import budget_table, console, history_table, ledger_path, reported_errors
from privet.store import Ledger

__all__ = ["budget_app"]

budget_app = typer.Typer(
    help="Privacy budgets in a ledger (a SQLite file): create, show, history, list, raise.",
    no_args_is_help=True,
)

LEDGER_OPT = typer.Option(
    None, "--ledger", help="Ledger file (default: $PRIVET_LEDGER or ./privet-ledger.sqlite)."
)


@budget_app.command("create")
def create(
    name: str = typer.Argument(..., help="Budget name, e.g. 'hospital-a'."),
    epsilon: float = typer.Option(..., "--epsilon", "-e", help="Total ε the budget allows."),
    delta: float = typer.Option(0.0, "--delta", "-d", help="Total δ the budget allows."),
    filter_: str | None = typer.Option(
        None,
        "--filter",
        help="Composition filter: basic, advanced or rdp (default: basic for δ=0, else rdp).",
    ),
    ledger: Path | None = LEDGER_OPT,
) -> None:
    """Create a budget (idempotent with the same limits; other limits are refused)."""
    with reported_errors(), Ledger(ledger_path(ledger)) as led:
        b = led.budget(name, epsilon=epsilon, delta=delta, filter=filter_)
        console.print(budget_table([b], title="Budget ready"))


@budget_app.command("show")
def show(
    name: str = typer.Argument(..., help="Budget name."),
    ledger: Path | None = LEDGER_OPT,
) -> None:
    """Show one budget: limits, spent and remaining."""
    with reported_errors(), Ledger(ledger_path(ledger)) as led:
        console.print(budget_table([led.get(name)], title=f"Budget {name!r}"))


@budget_app.command("history")
def history(
    name: str = typer.Argument(..., help="Budget name."),
    ledger: Path | None = LEDGER_OPT,
) -> None:
    """List every charge to a budget, and every raise of its limit."""
    with reported_errors(), Ledger(ledger_path(ledger)) as led:
        b = led.get(name)
        console.print(history_table(b))
        changes = b.limit_history()
        if changes:
            console.print("Limit changes:")
            for ch in changes:
                console.print(f"  {ch}")


@budget_app.command("list")
def list_(ledger: Path | None = LEDGER_OPT) -> None:
    """List every budget in the ledger."""
    with reported_errors(), Ledger(ledger_path(ledger)) as led:
        console.print(budget_table(led.budgets()))


@budget_app.command("raise")
def raise_(
    name: str = typer.Argument(..., help="Budget name."),
    reason: str = typer.Option(..., "--reason", help="Why the limit goes up (recorded)."),
    epsilon: float | None = typer.Option(None, "--epsilon", "-e", help="New, higher ε limit."),
    delta: float | None = typer.Option(None, "--delta", "-d", help="New, higher δ limit."),
    ledger: Path | None = LEDGER_OPT,
) -> None:
    """Raise a budget's limit: explicit, upward only, and recorded with its reason."""
    with reported_errors(), Ledger(ledger_path(ledger)) as led:
        b = led.get(name)
        b.raise_limit(epsilon=epsilon, delta=delta, reason=reason)
        console.print(budget_table([b], title=f"Budget {name!r} raised"))
