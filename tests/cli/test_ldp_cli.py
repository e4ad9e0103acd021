"""`privet ldp …` through typer's CliRunner, against an in-process service on a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privet.cli.app import app
from privet.ldp.rappor import Rappor
from privet.ldp.service import LdpService
from privet.ldp.service_collections import RapporCollection, collection_from_config
from privet.ldp.service_store import ReportStore
from privet.store import Ledger

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def grr_service(tmp_path: Path) -> Iterator[LdpService]:
    coll = collection_from_config(
        {"mechanism": "grr", "epsilon": 3.0, "domain_size": 3, "labels": ["yes", "no", "unsure"]}
    )
    with LdpService(coll, tmp_path / "grr.sqlite", rounds=["default"]) as svc:
        yield svc


def test_report_stats_estimate_and_chart(grr_service: LdpService, tmp_path: Path) -> None:
    lines = ["client,value"] + [f"p{i},{'yes' if i % 4 else 'no'}" for i in range(400)]
    (tmp_path / "answers.csv").write_text("\n".join(lines) + "\n")
    code, out = invoke(
        "ldp", "report", "--url", grr_service.url, "--file", str(tmp_path / "answers.csv"),
        "--memo", str(tmp_path / "memo.sqlite"),
    )  # fmt: skip
    assert code == 0, out
    assert "accepted 400 of 400" in out
    assert not (tmp_path / "memo.sqlite").exists()  # only RAPPOR clients keep a memo
    code, out = invoke(
        "ldp", "report", "--url", grr_service.url, "--client", "p1", "--value", "no",
        "--memo", str(tmp_path / "memo.sqlite"),
    )  # fmt: skip
    assert code == 1
    assert "duplicate" in out
    code, out = invoke("ldp", "stats", "--url", grr_service.url)
    assert code == 0, out
    assert "accepted" in out
    assert "400" in out
    assert "duplicate" in out
    png = tmp_path / "chart.png"
    code, out = invoke("ldp", "estimate", "--db", str(grr_service.store.path), "--png", str(png))
    assert code == 0, out
    assert "grr estimates from 400 reports" in out
    assert "yes" in out
    assert "unsure" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the clients' randomness is unseeded (a CSPRNG): a 1 - 1e-6 interval keeps the false
    # alarm rate of this coverage check tiny (a 95% one failed about one run in twenty)
    code, out = invoke(
        "ldp", "estimate", "--db", str(grr_service.store.path), "--json",
        "--confidence", "0.999999",
    )  # fmt: skip
    assert code == 0, out
    rows = {r["label"]: r for r in json.loads(out)["rows"]}
    assert rows["yes"]["ci_low"] <= 300 <= rows["yes"]["ci_high"]


def test_bad_values_and_arguments(grr_service: LdpService, tmp_path: Path) -> None:
    memo = str(tmp_path / "memo.sqlite")
    code, out = invoke(
        "ldp", "report", "--url", grr_service.url, "--client", "a", "--value", "perhaps",
        "--memo", memo,
    )  # fmt: skip
    assert code == 1
    assert "neither a label nor an integer" in out
    assert "perhaps" not in out  # the raw value is not echoed
    code, out = invoke("ldp", "report", "--url", grr_service.url, "--memo", memo)
    assert code == 1
    assert "--client and --value" in out
    code, out = invoke(
        "ldp", "report", "--url", grr_service.url, "--round", "closed", "--client", "a",
        "--value", "yes", "--memo", memo,
    )  # fmt: skip
    assert code == 1
    assert "not open" in out
    code, out = invoke("ldp", "estimate", "--db", str(tmp_path / "none.sqlite"))
    assert code == 1
    assert "no report database" in out


def test_open_round_charges_the_budget(tmp_path: Path) -> None:
    rappor = Rappor(num_bloombits=8, num_hashes=1, num_cohorts=2, f=0.5, p=0.25, q=0.75)
    db = tmp_path / "r.sqlite"
    ReportStore(db, config=RapporCollection(rappor).config()).close()
    led = tmp_path / "ledger.sqlite"
    with Ledger(led) as ledger:
        ledger.budget("population", epsilon=rappor.epsilon_inf * 1.5)
    args = ["ldp", "open-round", "--db", str(db), "--ledger", str(led), "--budget", "population"]
    code, out = invoke(*args, "--round", "w1")
    assert code == 0, out
    assert "is open" in out
    code, out = invoke(*args, "--round", "w1")
    assert "open already" in out
    code, out = invoke(*args, "--round", "w2")
    assert code == 1
    assert "BudgetExceededError" in out
    with Ledger(led) as ledger:
        assert ledger.get("population").spent()[0] == pytest.approx(rappor.epsilon_inf)
    with ReportStore(db) as store:
        assert store.rounds() == ["w1"]


def test_rappor_estimate_needs_candidates(tmp_path: Path) -> None:
    rappor = Rappor(num_bloombits=8, num_hashes=1, num_cohorts=2, f=0.5, p=0.25, q=0.75)
    with LdpService(RapporCollection(rappor), tmp_path / "r.sqlite", rounds=["default"]) as svc:
        code, out = invoke(
            "ldp", "report", "--url", svc.url, "--client", "c", "--value", "v",
            "--memo", str(tmp_path / "memo.sqlite"),
        )  # fmt: skip
        assert code == 0, out
    assert (tmp_path / "memo.sqlite").stat().st_mode & 0o077 == 0
    code, out = invoke("ldp", "estimate", "--db", str(tmp_path / "r.sqlite"))
    assert code == 1
    assert "candidate strings" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mechanism", "nope"], "unknown mechanism"),
        (["--mechanism", "grr"], "needs --domain-size"),
        (["--mechanism", "grr", "--domain-size", "3"], "needs --epsilon"),
        (["--mechanism", "rappor", "--host", "0.0.0.0"], "without TLS"),  # noqa: S104
        (["--mechanism", "rappor", "--tls-cert", "x.pem"], "both tls_cert and tls_key"),
    ],
)
def test_serve_refuses_bad_configs(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = invoke("ldp", "serve", "--db", str(tmp_path / "r.sqlite"), "--port", "0", *args)
    assert code == 1
    assert message in out
    assert "Traceback" not in out
