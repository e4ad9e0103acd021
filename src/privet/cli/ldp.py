"""``privet ldp``: run a local-DP collection service, report to it, and estimate.

* ``privet ldp serve --db reports.sqlite --mechanism rappor ...`` serves a collection on
  loopback (TLS with ``--tls-cert/--tls-key``, mutual TLS with ``--tls-ca``); it prints
  ``serving on URL`` and runs until interrupted (SIGINT or SIGTERM).
* ``privet ldp open-round --db ... --round NAME`` opens a round (charging ``--budget``).
* ``privet ldp report --url URL --round NAME --value V`` randomizes on this machine and
  sends; ``--file`` sends a CSV of ``client,value`` lines.
* ``privet ldp stats --url URL`` prints what the service accepted and rejected.
* ``privet ldp estimate --db ...`` prints estimates with error bars and writes a bar chart.
"""

from __future__ import annotations

import contextlib
import csv
import json
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from privet.cli.output import console, ledger_path, reported_errors
from privet.core.errors import ParameterError
from privet.ldp.client import LdpClient
from privet.ldp.rappor import DEFAULT_HASH_KEY
from privet.ldp.rappor_memo import SqlitePrrMemo
from privet.ldp.service import LdpService
from privet.ldp.service_collections import Collection, EstimateTable, collection_from_config
from privet.ldp.service_oracles import ORACLES
from privet.ldp.service_store import ReportStore
from privet.store import Ledger

__all__ = ["ldp_app"]

ldp_app = typer.Typer(
    help="Local DP collection: serve a collection, report to it, estimate from it.",
    no_args_is_help=True,
)

DB_OPT = typer.Option(..., "--db", help="The report database (SQLite).")
LEDGER_OPT = typer.Option(
    None, "--ledger", help="Ledger file (default: $PRIVET_LEDGER or ./privet-ledger.sqlite)."
)
BUDGET_OPT = typer.Option(
    None, "--budget", help="The client population's budget in the ledger, charged per round."
)


def _collection_config(
    mechanism: str,
    *,
    epsilon: float | None,
    domain_size: int | None,
    labels: str | None,
    bloombits: int,
    hashes: int,
    cohorts: int,
    f: float,
    p: float,
    q: float,
    hash_key: str | None,
) -> dict[str, Any]:
    if mechanism == "rappor":
        return {
            "mechanism": "rappor",
            "num_bloombits": bloombits,
            "num_hashes": hashes,
            "num_cohorts": cohorts,
            "f": f,
            "p": p,
            "q": q,
            "hash_key": (hash_key.encode() if hash_key else DEFAULT_HASH_KEY).hex(),
        }
    if mechanism not in ORACLES:
        raise ParameterError(
            f"unknown mechanism {mechanism!r}; choose one of {['rappor', *sorted(ORACLES)]}"
        )
    names = labels.split(",") if labels else None
    if domain_size is None:
        if names is None:
            raise ParameterError(f"--mechanism {mechanism} needs --domain-size or --labels")
        domain_size = len(names)
    if epsilon is None:
        raise ParameterError(f"--mechanism {mechanism} needs --epsilon")
    config: dict[str, Any] = {
        "mechanism": mechanism,
        "epsilon": epsilon,
        "domain_size": domain_size,
    }
    if names is not None:
        config["labels"] = names
    return config


def _budget(ledger: Path | None, budget: str | None) -> tuple[Ledger | None, Any]:
    if budget is None:
        return None, None
    led = Ledger(ledger_path(ledger))
    return led, led.get(budget)


@ldp_app.command("serve")
def serve(
    db: Path = DB_OPT,
    mechanism: str | None = typer.Option(
        None,
        "--mechanism",
        "-m",
        help="rappor, grr, sue, oue, olh or hr (default: the one stored in --db).",
    ),
    epsilon: float | None = typer.Option(None, "--epsilon", "-e", help="ε of an oracle."),
    domain_size: int | None = typer.Option(None, "--domain-size", "-d", help="d of an oracle."),
    labels: str | None = typer.Option(None, "--labels", help="Comma-separated value names."),
    bloombits: int = typer.Option(128, "--bloombits", help="RAPPOR k."),
    hashes: int = typer.Option(2, "--hashes", help="RAPPOR h."),
    cohorts: int = typer.Option(64, "--cohorts", help="RAPPOR m."),
    f: float = typer.Option(0.5, "--f", help="RAPPOR f."),
    p: float = typer.Option(0.25, "--p", help="RAPPOR p."),
    q: float = typer.Option(0.75, "--q", help="RAPPOR q."),
    hash_key: str | None = typer.Option(None, "--hash-key", help="RAPPOR's public hash key."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8750, "--port", help="Port (0: any free port)."),
    rounds: list[str] = typer.Option(
        [], "--round", help="Round(s) to open (default: 'default' if none is open yet)."
    ),
    ledger: Path | None = LEDGER_OPT,
    budget: str | None = BUDGET_OPT,
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Server certificate (PEM)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="Server key (PEM)."),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="Require client certs of this CA."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow plain HTTP off loopback."),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", help="Largest request body."),
    timeout: float = typer.Option(10.0, "--timeout", help="Socket timeout, seconds."),
) -> None:
    """Serve a collection until interrupted; reports are stored durably in --db."""
    with reported_errors():
        existing: list[str] = []
        if mechanism is None:
            with ReportStore(db) as store:
                config, existing = store.config, store.rounds()
        else:
            config = _collection_config(
                mechanism,
                epsilon=epsilon,
                domain_size=domain_size,
                labels=labels,
                bloombits=bloombits,
                hashes=hashes,
                cohorts=cohorts,
                f=f,
                p=p,
                q=q,
                hash_key=hash_key,
            )
        collection = collection_from_config(config)
        led, bud = _budget(ledger, budget)
        service = LdpService(
            collection,
            db,
            host=host,
            port=port,
            rounds=rounds or ([] if existing else ["default"]),
            budget=bud,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_ca=tls_ca,
            allow_plaintext=insecure,
            max_body_bytes=max_body_bytes,
            timeout=timeout,
        )
        stop = threading.Event()

        def _on_signal(signum: int, frame: object) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, _on_signal)
        service.start()
        console.print(f"serving on {service.url}", soft_wrap=True)
        console.file.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            service.shutdown()
            if led is not None:
                led.close()
        console.print("stopped")


@ldp_app.command("open-round")
def open_round(
    db: Path = DB_OPT,
    round_name: str = typer.Option(..., "--round", help="The round to open."),
    ledger: Path | None = LEDGER_OPT,
    budget: str | None = BUDGET_OPT,
) -> None:
    """Open a collection round (a running service sees it at once)."""
    with reported_errors(), ReportStore(db) as store:
        led, bud = _budget(ledger, budget)
        try:
            if store.is_open(round_name):
                console.print(f"round {round_name!r} was open already")
                return
            coll = collection_from_config(store.config)
            if bud is not None:
                bud.charge(coll.event, label=f"ldp round {round_name!r}")
            store.open_round(round_name)
            console.print(f"round {round_name!r} is open")
        finally:
            if led is not None:
                led.close()


def _parse_values(coll: Collection, raw: Sequence[str]) -> list[Any]:
    config = coll.config()
    if config["mechanism"] == "rappor":
        return list(raw)
    labels = {name: i for i, name in enumerate(config.get("labels") or [])}
    out: list[Any] = []
    for i, text in enumerate(raw):
        if text in labels:
            out.append(labels[text])
            continue
        try:
            out.append(int(text))
        except ValueError:
            raise ParameterError(
                f"value #{i + 1} is neither a label nor an integer code; use one of "
                f"{sorted(labels)[:10]} or 0..{config['domain_size'] - 1}"
            ) from None
    return out


def _read_csv(path: Path) -> tuple[list[str], list[str]]:
    clients: list[str] = []
    values: list[str] = []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            for lineno, row in enumerate(csv.reader(fh), start=1):
                if not row or (lineno == 1 and row[:2] == ["client", "value"]):
                    continue
                if len(row) != 2:
                    raise ParameterError(f"{path}:{lineno}: expected 'client,value'")
                clients.append(row[0])
                values.append(row[1])
    except OSError as exc:
        raise ParameterError(f"cannot read {path}: {exc.strerror}") from None
    return clients, values


@ldp_app.command("report")
def report(
    url: str = typer.Option(..., "--url", help="The service, e.g. http://127.0.0.1:8750."),
    round_name: str = typer.Option("default", "--round", help="The round to report to."),
    client: str | None = typer.Option(None, "--client", help="This client's id."),
    value: str | None = typer.Option(None, "--value", help="This client's value."),
    file: Path | None = typer.Option(None, "--file", help="CSV of client,value lines."),
    memo: Path = typer.Option(
        Path("privet-rappor-memo.sqlite"),
        "--memo",
        help="RAPPOR memo file: keeps permanent responses across runs (keep it private).",
    ),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA to verify the server."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Client certificate."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="Client key."),
    timeout: float = typer.Option(10.0, "--timeout", help="Request timeout, seconds."),
    ledger: Path | None = LEDGER_OPT,
    budget: str | None = typer.Option(None, "--budget", help="Budget to charge before."),
) -> None:
    """Randomize values on this machine and send the reports (one per client)."""
    with reported_errors():
        if file is not None:
            if client is not None or value is not None:
                raise ParameterError("pass either --file or --client/--value, not both")
            ids, raw = _read_csv(file)
        elif client is not None and value is not None:
            ids, raw = [client], [value]
        else:
            raise ParameterError("pass --client and --value, or --file")
        coll = LdpClient(
            url, timeout=timeout, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key
        ).collection()
        values = _parse_values(coll, raw)
        with contextlib.ExitStack() as stack:
            # Only RAPPOR clients keep a memo (their permanent responses) on disk.
            store = stack.enter_context(SqlitePrrMemo(memo)) if coll.name == "rappor" else None
            api = LdpClient(
                url,
                timeout=timeout,
                tls_ca=tls_ca,
                tls_cert=tls_cert,
                tls_key=tls_key,
                memo=store,
            )
            led, bud = _budget(ledger, budget)
            if led is not None:
                stack.enter_context(led)
            result = api.submit(values, clients=ids, round=round_name, budget=bud)
        console.print(f"accepted {result.accepted} of {len(ids)} reports")
        for index, reason, message in result.rejected[:20]:
            console.print(f"  #{index + 1} rejected ({reason}): {message}")
        if result.rejected:
            raise typer.Exit(code=1)


@ldp_app.command("stats")
def stats(
    url: str = typer.Option(..., "--url", help="The service."),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA to verify the server."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Client certificate."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="Client key."),
) -> None:
    """Print the reports a service accepted (per round) and rejected (per reason)."""
    with reported_errors():
        doc = LdpClient(url, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key).stats()
        table = Table(title="LDP collection")
        table.add_column("kind")
        table.add_column("round / reason")
        table.add_column("reports", justify="right")
        for name, n in sorted(doc["accepted"].items()):
            table.add_row("accepted", name, str(n))
        for name, n in sorted(doc["rejected"].items()):
            table.add_row("rejected", name, str(n))
        console.print(table)


def _plot(table: EstimateTable, path: Path) -> None:
    """Write a bar chart with the intervals as error bars (Agg canvas: no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = list(table.labels)
    x = np.arange(len(labels))
    fig = Figure(figsize=(max(6.0, 0.45 * len(labels) + 2), 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    finite = np.isfinite(table.ci_high) & np.isfinite(table.ci_low)
    lower = np.where(finite, table.estimates - table.ci_low, 0.0)
    upper = np.where(finite, table.ci_high - table.estimates, 0.0)
    shown = table.detected if table.detected is not None else np.ones(len(labels), dtype=bool)
    colors = ["tab:blue" if d else "tab:gray" for d in shown.tolist()]
    ax.bar(x, table.estimates, yerr=np.vstack([lower, upper]), color=colors, capsize=3)
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_ylabel("estimated count")
    ax.set_title(
        f"{table.mechanism}: {table.num_reports} reports, {table.confidence:.0%} intervals"
    )
    ax.axhline(0, color="black", linewidth=0.8)
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise ParameterError(f"cannot write {path}: {exc.strerror}") from None


@ldp_app.command("estimate")
def estimate(
    db: Path = DB_OPT,
    round_name: str | None = typer.Option(None, "--round", help="One round (default: all)."),
    candidates: Path | None = typer.Option(
        None, "--candidates", help="RAPPOR: a file of candidate strings, one per line."
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="Interval coverage."),
    png: Path | None = typer.Option(None, "--png", help="Write a bar chart here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Estimate from the stored reports, with error bars; optionally plot them."""
    with reported_errors(), ReportStore(db) as store:
        coll = collection_from_config(store.config)
        names: list[str] | None = None
        if candidates is not None:
            try:
                text = candidates.read_text(encoding="utf-8")
            except OSError as exc:
                raise ParameterError(f"cannot read {candidates}: {exc.strerror}") from None
            names = list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
        rows = store.load(round_name, width=coll.width)
        table = coll.estimate(rows, candidates=names, confidence=confidence)
        if as_json:
            console.print_json(json.dumps({"num_reports": table.num_reports, "rows": table.rows()}))
        else:
            out = Table(title=f"{table.mechanism} estimates from {table.num_reports} reports")
            for col in ("value", "estimate", "std. error", f"{confidence:.0%} interval"):
                out.add_column(col, justify="left" if col == "value" else "right")
            if table.detected is not None:
                out.add_column("detected")
            for row in table.rows():
                cells = [
                    row["label"],
                    f"{row['estimate']:.1f}",
                    f"{row['std_error']:.1f}",
                    f"[{row['ci_low']:.1f}, {row['ci_high']:.1f}]",
                ]
                if table.detected is not None:
                    cells.append("yes" if row["detected"] else "")
                out.add_row(*cells)
            console.print(out)
        if png is not None:
            _plot(table, png)
            console.print(f"chart written to {png}")


if __name__ == "__main__":  # `python -m privet.cli.ldp …`: the sub-app alone, a faster start
    ldp_app()
