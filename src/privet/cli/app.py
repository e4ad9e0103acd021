"""The ``privet`` command: one entry point for every room.

The full command tree (:mod:`privet.cli.root`) loads every room, and with them torch,
pandas and dp_accounting: about 6 s on a small machine. ``privet smpc ...`` (a party
process on a real host, or a local cluster) needs none of that, so :func:`main` serves it
from a tree that holds only the SMPC commands; ``app`` (the full tree) is built on first use.

Examples
--------
>>> from typer.testing import CliRunner
>>> from privet.cli.app import app
>>> result = CliRunner().invoke(app, ["--version"])
>>> result.output.startswith("privet ")
True
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from privet import __version__

__all__ = ["app", "main", "new_app"]  # noqa: F822 - app is built on first use (__getattr__)

HELP = (
    "privet: learn from sensitive data without seeing it. Privacy budgets in a persisted "
    "ledger, DP accounting, central and local DP, SMPC, DP training and audits."
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"privet {__version__}")
        raise typer.Exit()


def new_app() -> typer.Typer:
    """Return the bare ``privet`` command (``--version``, no sub-commands yet)."""
    root = typer.Typer(
        name="privet",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @root.callback()
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

    return root


def _smpc_only() -> typer.Typer:
    from privet.cli.smpc import smpc_app

    root = new_app()
    root.add_typer(smpc_app, name="smpc")
    return root


def __getattr__(name: str) -> Any:
    if name == "app":  # the full tree, built (and its rooms imported) on first use
        from privet.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Run the ``privet`` command line (the console-script entry point)."""
    if sys.argv[1:2] == ["smpc"]:
        _smpc_only()()
        return
    if sys.argv[1:] == ["--version"]:
        new_app()()
        return
    from privet.cli.root import app

    app()
