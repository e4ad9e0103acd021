"""The full ``privet`` command tree: every room's sub-commands (see :mod:`privet.cli.app`)."""

from __future__ import annotations

from privet.cli.app import new_app
from privet.cli.budget import budget_app
from privet.cli.demo import demo
from privet.cli.dp import dp_app
from privet.cli.ldp import ldp_app
from privet.cli.smpc import smpc_app
from privet.cli.train import train

__all__ = ["app"]

app = new_app()
app.add_typer(budget_app, name="budget")
app.add_typer(dp_app, name="dp")
app.add_typer(ldp_app, name="ldp")
app.add_typer(smpc_app, name="smpc")
app.command("demo")(demo)
app.command("train")(train)
