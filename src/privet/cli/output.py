"""Printing for the CLI: one rich console, error reporting and the ledger's tables."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from privet.core.errors import PrivetError

__all__ = [
    "DEFAULT_LEDGER",
    "budget_table",
    "console",
    "history_table",
    "ledger_path",
    "reported_errors",
]

# Wide enough for the ledger's tables when output is piped (rich assumes 80 columns then).
_WIDTH = max(shutil.get_terminal_size((120, 24)).columns, 100)
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)

DEFAULT_LEDGER = "privet-ledger.sqlite"


def ledger_path(path: Path | None) -> Path:
    """Return the ledger file: ``--ledger``, else ``$PRIVET_LEDGER``, else the default."""
    if path is not None:
        return path
    return Path(os.environ.get("PRIVET_LEDGER", DEFAULT_LEDGER))


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a PrivetError into one red line on stderr and exit status 1 (no traceback)."""
    try:
        yield
    except PrivetError as exc:
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(code=1) from None


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.6g}"


def budget_table(budgets: Sequence[Any], title: str = "Privacy budgets") -> Table:
    """Build a table of budgets: limits, spent, remaining, filter and number of charges."""
    table = Table(title=title)
    for col in (
        "budget",
        "filter",
        "ε limit",
        "ε spent",
        "ε left",
        "δ limit",
        "δ spent",
        "charges",
    ):
        table.add_column(col, justify="left" if col in ("budget", "filter") else "right")
    for b in budgets:
        eps_limit, delta_limit = b.limit()
        eps_spent, delta_spent = b.spent()
        eps_left, _ = b.remaining()
        table.add_row(
            b.name,
            b.filter,
            _fmt(eps_limit),
            _fmt(eps_spent),
            _fmt(eps_left),
            _fmt(delta_limit),
            _fmt(delta_spent),
            str(len(b.history())),
        )
    return table


def history_table(budget: Any) -> Table:
    """Build a table of one budget's charges, oldest first."""
    table = Table(title=f"Charges to {budget.name!r}")
    for col in ("#", "when (UTC)", "label", "event", "ε", "δ"):
        table.add_column(col, justify="right" if col in ("#", "ε", "δ") else "left")
    for c in budget.history():
        table.add_row(
            str(c.id),
            c.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            c.label,
            c.event.kind,
            _fmt(c.epsilon),
            _fmt(c.delta),
        )
    return table
