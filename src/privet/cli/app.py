"""The ``privet`` command: one entry point for every room.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["--version"])
>>> result.output.startswith("privet ")
True
"""

from __future__ import annotations

import typer

from privet import __version__
from privet.cli.budget import budget_app
from privet.cli.demo import demo
from privet.cli.dp import dp_app
from privet.cli.ldp import ldp_app
from privet.cli.smpc import smpc_app
from privet.cli.train import train

__all__ = ["app", "main"]

app = typer.Typer(
    name="privet",
    help=(
        "privet: learn from sensitive data without seeing it. Privacy budgets in a "
        "persisted ledger, DP accounting, and (as the project grows) central and local DP, "
        "SMPC, DP training, federated learning and audits."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(budget_app, name="budget")
app.add_typer(dp_app, name="dp")
app.add_typer(ldp_app, name="ldp")
app.add_typer(smpc_app, name="smpc")
app.command("demo")(demo)
app.command("train")(train)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"privet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print privet's version and exit.",
    ),
) -> None:
    """privet: learn from sensitive data without seeing it."""


def main() -> None:
    """Run the ``privet`` command line (the console-script entry point)."""
    app()
