"""``privet smpc``: certificates, one party on a real host, and a local cluster of processes.

* ``privet smpc certs --out DIR --parties N`` makes a fresh CA and one certificate per
  endpoint (``party-0`` …, ``dealer``, ``client-0``), files 0600; with ``--hosts`` it also
  writes one config file per endpoint for ``privet smpc party --config``.
* ``privet smpc party --config FILE`` runs one party (or the dealer) on this host until the
  driver stops it (see :mod:`privet.smpc.party_main`).
* ``privet smpc cluster --parties 3`` spawns a :class:`~privet.smpc.local_cluster.LocalCluster`
  on loopback, runs a self-check (share, multiply, matrix product, compare, reveal) against
  the plaintext, and prints the cost of each operation.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from privet.cli.output import console, reported_errors
from privet.core.errors import ParameterError
from privet.core.random import SecureRandom
from privet.smpc import party_main
from privet.smpc.client import RemoteClient, encode_input
from privet.smpc.fixed_point import FixedPoint
from privet.smpc.local_cluster import LocalCluster
from privet.transport import default_names, make_certificates

__all__ = ["smpc_app"]

smpc_app = typer.Typer(
    help="Secure multi-party computation: parties as processes or hosts, over mutual TLS.",
    no_args_is_help=True,
)


def _hosts(spec: str, count: int) -> list[tuple[str, int]]:
    out = []
    for item in spec.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ParameterError(
                f"--hosts item {item!r} is not HOST:PORT; pass e.g. 10.0.0.1:7000,10.0.0.2:7000"
            )
        out.append((host, int(port)))
    if len(out) != count:
        raise ParameterError(
            f"--hosts lists {len(out)} addresses; pass one per party and the dealer ({count})"
        )
    return out


def _toml(value: object) -> str:
    return json.dumps(value)  # JSON strings, numbers and booleans are valid TOML values


@smpc_app.command("certs")
def certs(
    out: Path = typer.Option(..., "--out", help="New directory for the CA and certificates."),
    parties: int = typer.Option(2, "--parties", min=2, help="Number of computing parties."),
    dealer: bool = typer.Option(True, "--dealer/--no-dealer", help="Make a dealer certificate."),
    clients: int = typer.Option(1, "--clients", min=0, help="Client certificates (driver first)."),
    days: int = typer.Option(30, "--days", min=1, help="Validity in days."),
    hosts: str | None = typer.Option(
        None,
        "--hosts",
        help="HOST:PORT of each party then the dealer, comma-separated: also write configs.",
    ),
    session: str | None = typer.Option(
        None, "--session", help="Session label for the configs (default: a fresh random one)."
    ),
) -> None:
    """Create a CA and one certificate per endpoint (keys 0600; the CA key is not kept)."""
    with reported_errors():
        names = default_names(parties, dealer=dealer, clients=clients)
        addresses = _hosts(hosts, parties + int(dealer)) if hosts else None
        made = make_certificates(out, names, days=days)
        label = session or f"run-{secrets.token_hex(4)}"  # every endpoint of this set: one label
        table = Table(title=f"Certificates in {out}")
        for col in ("id", "endpoint", "certificate", "key", "config"):
            table.add_column(col)
        for i, name in enumerate(names):
            config = ""
            if addresses is not None:
                config = f"{name}.toml"
                _write_config(out / config, i, names, addresses, parties, dealer, label)
            table.add_row(str(i), name, made[name].cert.name, made[name].key.name, config)
        console.print(table)
        console.print(
            "Give each host ca.pem and only its own certificate, key"
            + (" and config." if addresses else ".")
        )


def _write_config(
    path: Path,
    me: int,
    names: list[str],
    addresses: list[tuple[str, int]],
    parties: int,
    dealer: bool,
    session: str,
) -> None:
    lines = [
        f"session = {_toml(session)}",
        f"me = {me}",
        f"parties = {parties}",
        f"dealer = {_toml(dealer)}",
        "timeout = 60",
        "",
        "[credentials]",
        f"cert = {_toml(names[me] + '.pem')}",
        f"key = {_toml(names[me] + '.key')}",
        'ca = "ca.pem"',
    ]
    for i, name in enumerate(names):
        lines += ["", "[[endpoints]]", f"name = {_toml(name)}"]
        if i < len(addresses):
            lines += [f"host = {_toml(addresses[i][0])}", f"port = {addresses[i][1]}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)


@smpc_app.command("party")
def party(
    config: Path = typer.Option(..., "--config", help="This endpoint's TOML/JSON config."),
) -> None:
    """Run one party (or the dealer) on this host until the driver stops it."""
    code = party_main.main(["--config", str(config)])
    raise typer.Exit(code=code)


@smpc_app.command("client")
def client(
    config: Path = typer.Option(..., "--config", help="This client's TOML/JSON config."),
    inputs: list[Path] = typer.Option(
        [], "--input", help="A .npy array to share (repeat, in the driver's order)."
    ),
    integer: bool = typer.Option(
        False, "--integer", help="Share whole numbers as integers (the driver must ask so)."
    ),
    receive: int = typer.Option(
        0, "--receive", min=0, help="How many results opened to this client to wait for."
    ),
    out: Path = typer.Option(
        Path("."), "--out", help="Folder for the results (result-0.npy, result-1.npy, ...)."
    ),
    frac_bits: int = typer.Option(16, "--frac-bits", min=0, help="The cluster's fractional bits."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.1, help="Seconds to wait for each result (default: config's)."
    ),
) -> None:
    """Share this host's arrays with the parties, then receive the results opened to it.

    Each array is split here, one share per party: its plaintext never leaves this host.
    """
    with reported_errors():
        codec = FixedPoint(frac_bits)
        arrays = []
        for path in inputs:  # every input is read and checked before anything is sent
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ParameterError(f"cannot read {path} as a .npy array ({exc})") from None
            if not isinstance(arr, np.ndarray):
                raise ParameterError(f"{path} holds several arrays; save one array per file")
            encode_input(codec, arr, integer=integer)
            arrays.append(arr)
        out.mkdir(parents=True, exist_ok=True)
        with RemoteClient(config, frac_bits=frac_bits) as me:
            for path, arr in zip(inputs, arrays, strict=True):
                me.share(arr, integer=integer)
                console.print(f"shared {path.name}: shape {arr.shape}")
            for k in range(receive):
                result = me.receive(timeout=timeout)
                np.save(out / f"result-{k}.npy", result, allow_pickle=False)
                console.print(f"received result-{k}.npy: shape {result.shape}")


@smpc_app.command("cluster")
def cluster(
    parties: int = typer.Option(3, "--parties", min=2, help="Number of party processes."),
    size: int = typer.Option(10_000, "--size", min=1, help="Elements per test vector."),
    timeout: float = typer.Option(60.0, "--timeout", min=1.0, help="Seconds any wait may take."),
) -> None:
    """Spawn parties and a dealer as processes over TLS on loopback and run a self-check."""
    with reported_errors():
        rng = SecureRandom()
        x = rng.random(size) * 20 - 10
        y = rng.random(size) * 20 - 10
        a = rng.random((16, 16)) * 2 - 1
        b = rng.random((16, 16)) * 2 - 1
        t0 = time.perf_counter()
        with LocalCluster(parties=parties, timeout=timeout) as c:
            started = time.perf_counter() - t0
            pids = {name: p.pid for name, p in c.processes.items()}
            sx, sy, sa, sb = c.share(x), c.share(y), c.share(a), c.share(b)
            checks = {
                "x*y": float(np.max(np.abs((sx * sy).reveal() - x * y))),
                "A@B": float(np.max(np.abs((sa @ sb).reveal() - a @ b))),
                "x<y": float(np.sum((sx < sy).reveal() != (x < y))),
            }
            report = c.cost_report()
        table = Table(title=f"LocalCluster: {parties} parties + dealer over TLS (loopback)")
        for col in ("op", "calls", "bytes", "rounds", "dealer bytes", "seconds"):
            table.add_column(col, justify="left" if col == "op" else "right")
        for op in report:
            r = report[op]
            table.add_row(
                op,
                str(r.calls),
                str(r.bytes_sent),
                str(r.rounds),
                str(r.dealer_bytes),
                f"{r.seconds:.4f}",
            )
        console.print(f"started {len(pids)} processes in {started:.2f} s: {pids}")
        console.print(table)
        ok = checks["x*y"] < 1e-2 and checks["A@B"] < 1e-2 and checks["x<y"] == 0
        console.print(
            f"max |x*y error| = {checks['x*y']:.2e}, max |A@B error| = {checks['A@B']:.2e}, "
            f"x<y mismatches = {int(checks['x<y'])}: {'OK' if ok else 'FAILED'}"
        )
        if not ok:
            raise typer.Exit(code=1)
