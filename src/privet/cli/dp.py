"""``privet dp``: DP queries over a CSV/Parquet file, each charged to a ledger budget.

``privet dp describe FILE`` lists the columns, their types and what each query needs
(bounds for numbers, keys for categories); it never prints values read from the data.
``privet dp query FILE --unit COL --budget NAME`` runs the queries asked for by its flags
(each at ``--epsilon``) through :class:`privet.dp.Session` and prints one table.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from pathlib import Path

import typer
from rich.table import Table as RichTable

from privet.cli.output import console, ledger_path, reported_errors
from privet.core.errors import ParameterError
from privet.dp import QueryResult, Session
from privet.dp.table import Table
from privet.store import Ledger

__all__ = ["dp_app"]

dp_app = typer.Typer(
    help="Central DP queries over a table (CSV or Parquet), charged to a privacy budget.",
    no_args_is_help=True,
)

_NEEDS = {
    "numeric": "bounds LO,HI (sum, mean, variance, quantile); or keys, as a group-by key",
    "boolean": "bounds 0,1 (sum, mean); or keys true,false",
    "categorical": "public keys (histogram / --group-by), or δ for partition selection",
    "other": "not queryable (convert it first)",
}


@dp_app.command("describe")
def describe(
    file: Path = typer.Argument(..., help="A .csv or .parquet file."),
) -> None:
    """List the columns, their types, and what DP queries need from you for each."""
    with reported_errors():
        table = Table(file)
        out = RichTable(title=f"Columns of {file.name}")
        for col in ("column", "type", "kind", "you must supply"):
            out.add_column(col)
        for name in table.columns:
            kind = table.kind(name)
            out.add_row(name, str(table.dtype(name)), kind, _NEEDS[kind])
        console.print(out)
        console.print(
            "privet prints no minimum, maximum, distinct values or row count: read off the "
            "data, they would leak it. Choose bounds and keys from what you know of the "
            "data's domain (a survey's scale, a code list), not from the file."
        )


def _parse_bounds(specs: list[str], columns: list[str]) -> dict[str, tuple[float, float]]:
    """``LO,HI`` for every column, or ``COL=LO,HI`` for one."""
    out: dict[str, tuple[float, float]] = {}
    default: tuple[float, float] | None = None
    for spec in specs:
        name, _, rng = spec.rpartition("=")
        parts = rng.split(",")
        if len(parts) != 2:
            raise ParameterError(f"--bounds takes LO,HI or COL=LO,HI, got {spec!r}")
        try:
            pair = (float(parts[0]), float(parts[1]))
        except ValueError:
            raise ParameterError(f"--bounds takes numbers, got {spec!r}") from None
        if name:
            out[name] = pair
        else:
            default = pair
    for col in columns:
        if col not in out:
            if default is None:
                raise ParameterError(
                    f"column {col!r} needs bounds: pass --bounds LO,HI (or {col}=LO,HI) from "
                    "what you know of its range, never from the data"
                )
            out[col] = default
    return out


def _parse_keys(text: str | None, session: Session, column: str) -> list[Hashable] | None:
    if text is None:
        return None
    raw = [k.strip() for k in text.split(",") if k.strip()]
    if session.column_kind(column) != "numeric":
        return list(raw)
    keys: list[Hashable] = []
    for k in raw:
        try:
            keys.append(int(k))
        except ValueError:
            try:
                keys.append(float(k))
            except ValueError:
                raise ParameterError(
                    f"column {column!r} is numeric: --keys must be numbers, got {k!r}"
                ) from None
    return keys


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:,.6g}" if abs(x) < 1e15 else f"{x:.6g}"


def _rows(result: QueryResult, column: str) -> list[tuple[str, ...]]:
    eps = f"{result.epsilon:g}" + (f" / δ={result.delta:g}" if result.delta else "")
    if isinstance(result.value, dict):
        ci = result.ci if isinstance(result.ci, dict) else {}
        rows: list[tuple[str, ...]] = []
        for key, value in result.value.items():
            lo, hi = ci.get(key, (math.nan, math.nan))
            half = max(value - lo, hi - value)
            rows.append((result.query, column, str(key), _fmt(value), f"± {_fmt(half)}", eps))
        if not rows:
            rows.append((result.query, column, "(no key passed selection)", "", "", eps))
        return rows
    error = result.error
    if isinstance(error, float):
        shown = f"± {_fmt(error)}"
    else:
        shown = f"n/a (rank scale {_fmt(result.noise_scale)})"
    return [(result.query, column, "", _fmt(float(result.value)), shown, eps)]


@dp_app.command("query")
def query(
    file: Path = typer.Argument(..., help="A .csv or .parquet file."),
    unit: str = typer.Option(
        ..., "--unit", help="The privacy-unit column (the person); 'ROW' if each row is one."
    ),
    budget: str = typer.Option(..., "--budget", help="The budget to charge (must exist)."),
    ledger: Path | None = typer.Option(
        None, "--ledger", help="Ledger file (default: $PRIVET_LEDGER or ./privet-ledger.sqlite)."
    ),
    epsilon: float = typer.Option(..., "--epsilon", "-e", help="ε of EACH query."),
    delta: float | None = typer.Option(
        None, "--delta", "-d", help="δ of each partition selection (keys not given)."
    ),
    count: bool = typer.Option(False, "--count", help="Count rows (or rows per group)."),
    sum_: list[str] = typer.Option([], "--sum", help="Sum of a numeric column (repeatable)."),
    mean: list[str] = typer.Option([], "--mean", help="Mean of a numeric column (repeatable)."),
    variance: list[str] = typer.Option([], "--variance", help="Variance of a numeric column."),
    quantile: list[str] = typer.Option([], "--quantile", help="Quantile of a numeric column."),
    q: float = typer.Option(0.5, "--q", help="Which quantile (0.5: the median)."),
    histogram: list[str] = typer.Option([], "--histogram", help="Counts per value of a column."),
    group_by: str | None = typer.Option(
        None, "--group-by", help="Group --count/--sum/--mean by this column."
    ),
    keys: str | None = typer.Option(
        None, "--keys", help="Public keys, comma-separated (histogram / group-by)."
    ),
    bounds: list[str] = typer.Option(
        [], "--bounds", help="LO,HI for every numeric column, or COL=LO,HI (repeatable)."
    ),
    max_rows: int = typer.Option(1, "--max-rows", help="Rows one unit contributes (bound)."),
    max_groups: int = typer.Option(1, "--max-groups", help="Groups one unit contributes to."),
    max_rows_per_group: int = typer.Option(1, "--max-rows-per-group", help="Rows per group."),
    truncation: str = typer.Option("random", "--truncation", help="random or first."),
) -> None:
    """Run DP queries on FILE; each is charged to the budget before its noise is drawn."""
    with reported_errors(), Ledger(ledger_path(ledger)) as led:
        session = Session(
            file,
            privacy_unit=None if unit == "ROW" else unit,
            ledger=led,
            budget=budget,
            max_rows_per_unit=max_rows,
            truncation=truncation,
        )
        numeric_cols = [*sum_, *mean, *variance, *quantile]
        bnds = _parse_bounds(bounds, numeric_cols)
        if not (count or numeric_cols or histogram):
            raise ParameterError(
                "no query asked: pass --count, --sum COL, --mean COL, --variance COL, "
                "--quantile COL or --histogram COL"
            )
        results: list[tuple[QueryResult, str]] = []
        if group_by is not None:
            if variance or quantile:
                raise ParameterError("--group-by supports --count, --sum and --mean")
            grouped = session.groupby(
                group_by,
                keys=_parse_keys(keys, session, group_by),
                max_groups_per_unit=max_groups,
                max_rows_per_group=max_rows_per_group,
            )
            if count:
                results.append((grouped.count(epsilon=epsilon, delta=delta), group_by))
            for col in sum_:
                r = grouped.sum(col, bounds=bnds[col], epsilon=epsilon, delta=delta)
                results.append((r, f"{col} by {group_by}"))
            for col in mean:
                r = grouped.mean(col, bounds=bnds[col], epsilon=epsilon, delta=delta)
                results.append((r, f"{col} by {group_by}"))
        else:
            if count:
                results.append((session.count(epsilon=epsilon), ""))
            for col in sum_:
                results.append((session.sum(col, bounds=bnds[col], epsilon=epsilon), col))
            for col in mean:
                results.append((session.mean(col, bounds=bnds[col], epsilon=epsilon), col))
            for col in variance:
                results.append((session.variance(col, bounds=bnds[col], epsilon=epsilon), col))
            for col in quantile:
                r = session.quantile(col, q, bounds=bnds[col], epsilon=epsilon)
                results.append((r, f"{col} (q={q:g})"))
        for col in histogram:
            r = session.histogram(
                col, epsilon=epsilon, keys=_parse_keys(keys, session, col), delta=delta
            )
            results.append((r, col))
        out = RichTable(title=f"DP answers (budget {budget!r}, confidence 95 %)")
        for name in ("query", "column", "key", "noisy value", "error (95 %)", "ε"):
            out.add_column(name, justify="right" if name in ("noisy value", "ε") else "left")
        for result, column in results:
            for row in _rows(result, column):
                out.add_row(*row)
        console.print(out)
        charged = led.get(budget)
        eps_spent, delta_spent = charged.spent()
        eps_limit, delta_limit = charged.limit()
        console.print(
            f"budget {budget!r}: ε spent {eps_spent:.6g} of {eps_limit:g}, "
            f"δ spent {delta_spent:.3g} of {delta_limit:g}. The error bars cover the noise "
            "only, not the clamping to bounds or the rows dropped by contribution bounds."
        )
