"""The LDP collection service in-process, over real sockets: validation, storage, TLS, fuzzing."""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privet.core import SecureRandom
from privet.errors import (
    BudgetExceededError,
    ParameterError,
    PeerTimeoutError,
    ProtocolError,
    SecurityError,
    TransportError,
)
from privet.ldp.client import LdpClient
from privet.ldp.rappor import Rappor
from privet.ldp.service import LdpService
from privet.ldp.service_collections import (
    REASONS,
    RapporCollection,
    Rejection,
    Row,
    collection_from_config,
)
from privet.ldp.service_store import ReportStore
from privet.store import Ledger

RAPPOR = Rappor(num_bloombits=8, num_hashes=2, num_cohorts=4, f=0.5, p=0.25, q=0.75)


def rappor_service(tmp_path: Path, **kw: Any) -> LdpService:
    return LdpService(RapporCollection(RAPPOR), tmp_path / "reports.sqlite", rounds=["r1"], **kw)


def raw_post(
    url: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def post(url: str, path: str, doc: Any) -> tuple[int, dict[str, Any]]:
    body = json.dumps(doc).encode()
    return raw_post(url, path, body, {"Content-Length": str(len(body))})


def report(client: str = "c1", round_: str = "r1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"client": client, "round": round_, "cohort": 1, "bits": [0] * 8}
    base.update(fields)
    return base


# -- collections: what is a valid report -------------------------------------------------------


def test_rappor_parse_reasons() -> None:
    c = RapporCollection(RAPPOR)
    assert c.parse({"cohort": 3, "bits": [1, 0] * 4}) == Row(cohort=3, bits=bytes([0b10101010]))
    cases = {
        "wrong_cohort": {"cohort": 4, "bits": [0] * 8},
        "wrong_length": {"cohort": 0, "bits": [0] * 7},
        "non_binary": {"cohort": 0, "bits": [0] * 7 + [True]},
        "missing_field": {"bits": [0] * 8},
        "unknown_field": {"cohort": 0, "bits": [0] * 8, "value": "x"},
        "bad_field": {"cohort": "1", "bits": [0] * 8},
    }
    for reason, item in cases.items():
        out = c.parse(item)
        assert isinstance(out, Rejection)
        assert out.reason == reason, (reason, out)
        assert out.reason in REASONS


@pytest.mark.parametrize(
    ("mechanism", "good", "bad"),
    [
        ("grr", {"value": 5}, {"value": 6}),
        ("sue", {"bits": [0, 1, 0, 0, 0, 1]}, {"bits": [0, 1, 0, 0, 0, 2]}),
        ("oue", {"bits": [0] * 6}, {"bits": [0] * 5}),
        ("hr", {"value": 7}, {"value": 8}),
    ],
)
def test_oracle_parse(mechanism: str, good: dict[str, Any], bad: dict[str, Any]) -> None:
    c = collection_from_config({"mechanism": mechanism, "epsilon": 1.0, "domain_size": 6})
    assert isinstance(c.parse(good), Row)
    assert isinstance(c.parse(bad), Rejection)


def test_olh_parse_checks_the_key_with_the_oracle() -> None:
    c = collection_from_config({"mechanism": "olh", "epsilon": 1.0, "domain_size": 16})
    wire = c.wire([3], clients=["a"], rng=SecureRandom.seeded(0))[0]
    row = c.parse(wire)
    assert isinstance(row, Row)
    assert row.seeds is not None
    bad_value = c.parse({**wire, "value": 4})  # g = 4 buckets at ε = 1
    assert isinstance(bad_value, Rejection)
    assert bad_value.reason == "out_of_range"
    too_short = c.parse({**wire, "seeds": wire["seeds"][:-1]})
    assert isinstance(too_short, Rejection)
    assert too_short.reason == "wrong_length"
    huge = c.parse({**wire, "seeds": [1 << 40] * len(wire["seeds"])})
    assert isinstance(huge, Rejection)
    assert huge.reason == "out_of_range"


def test_collection_config_errors() -> None:
    with pytest.raises(ParameterError, match="unknown mechanism"):
        collection_from_config({"mechanism": "magic"})
    with pytest.raises(ParameterError, match="unknown grr config keys"):
        collection_from_config({"mechanism": "grr", "epsilon": 1, "domain_size": 3, "x": 1})
    with pytest.raises(ParameterError, match="labels"):
        collection_from_config(
            {"mechanism": "grr", "epsilon": 1, "domain_size": 3, "labels": ["a"]}
        )
    with pytest.raises(ParameterError, match="memo"):
        RapporCollection(RAPPOR).wire(["a"], clients=["c"])


# -- storage --------------------------------------------------------------------------------


def test_store_durability_duplicates_and_config(tmp_path: Path) -> None:
    path = tmp_path / "reports.sqlite"
    config = RapporCollection(RAPPOR).config()
    with ReportStore(path, config=config) as store:
        assert store.open_round("r1")
        assert not store.open_round("r1")
        ok = store.insert(
            [
                ("r1", "alice", Row(cohort=0, bits=b"\x01")),
                ("r1", "bob", Row(cohort=1, bits=b"\x80")),
                ("r1", "alice", Row(cohort=2, bits=b"\x00")),
            ]
        )
        assert ok == [True, True, False]
        store.reject("malformed_json", 2)
    assert path.stat().st_mode & 0o077 == 0
    with ReportStore(path) as store:  # reopened: everything is still there
        assert store.config == config
        stats = store.stats()
        assert stats["accepted"] == {"r1": 2}
        assert stats["rejected"] == {"duplicate": 1, "malformed_json": 2}
        rows = store.load("r1", width=8)
        assert sorted(rows.cohort.tolist()) == [0, 1]
        assert sorted(rows.bits.sum(axis=1).tolist()) == [1, 1]
        # A client may report again in another round (tags differ per round).
        store.open_round("r2")
        assert store.insert([("r2", "alice", Row(cohort=0, bits=b"\x01"))]) == [True]
        # Client ids are not stored in clear.
        raw = path.read_bytes()
        assert b"alice" not in raw
    with pytest.raises(ParameterError, match="another collection"):
        ReportStore(path, config={"mechanism": "grr", "epsilon": 1.0, "domain_size": 2})
    with pytest.raises(ParameterError, match="no report database"):
        ReportStore(tmp_path / "missing.sqlite")


# -- the service over a real socket --------------------------------------------------------------


def test_every_rejection_is_a_json_400_and_counted(tmp_path: Path) -> None:
    with rappor_service(tmp_path, max_body_bytes=4096) as svc:
        url = svc.url
        assert post(url, "/report", report())[0] == 200
        expect = {
            "duplicate": post(url, "/report", report()),
            "wrong_cohort": post(url, "/report", report("c2", cohort=9)),
            "non_binary": post(url, "/report", report("c3", bits=[0] * 7 + [2])),
            "wrong_length": post(url, "/report", report("c4", bits=[0] * 9)),
            "unknown_round": post(url, "/report", report("c5", round_="r9")),
            "bad_client": post(url, "/report", report("")),
            "malformed_json": raw_post(url, "/report", b"{not json", {"Content-Length": "9"}),
            "bad_envelope": post(url, "/reports", {"reports": "nope"}),
            "missing_length": raw_post(url, "/report", b"", {}),
            "body_too_large": raw_post(url, "/report", b"x" * 5000, {"Content-Length": "5000"}),
        }
        for reason, (status, doc) in expect.items():
            assert status == 400, (reason, status, doc)
            assert doc["error"] == reason
            assert doc["message"]
        nan = raw_post(url, "/report", b'{"client": NaN}', {"Content-Length": "15"})
        assert nan[1]["error"] == "malformed_json"
        utf = raw_post(url, "/report", b'"\xff\xfe"', {"Content-Length": "4"})
        assert utf[1]["error"] == "malformed_json"
        chunked = raw_post(url, "/report", b"0\r\n\r\n", {"Transfer-Encoding": "chunked"})
        assert chunked[1]["error"] == "missing_length"
        status, doc = post(url, "/nowhere", {})
        assert (status, doc["error"]) == (404, "unknown_endpoint")
        stats = LdpClient(url).stats()
        assert stats["accepted"] == {"r1": 1}
        for reason in expect:
            assert stats["rejected"][reason] >= 1, reason
        assert stats["rejected"]["malformed_json"] == 3
        assert stats["rejected"]["missing_length"] == 2
        # Batches answer per report.
        status, doc = post(url, "/reports", {"reports": [report("b1"), report("b2", cohort=-1)]})
        assert status == 200
        assert doc["accepted"] == 1
        assert doc["rejected"] == [
            {"index": 1, "error": "wrong_cohort", "message": "cohort must lie in [0, 4), got -1"}
        ]


@pytest.mark.parametrize("mechanism", ["rappor", "grr", "sue", "oue", "olh", "hr"])
def test_end_to_end_in_process(mechanism: str, tmp_path: Path) -> None:
    if mechanism == "rappor":
        coll = RapporCollection(
            Rappor(num_bloombits=16, num_hashes=2, num_cohorts=4, f=0.5, p=0.25, q=0.75)
        )
        values: list[Any] = ["yes"] * 1500 + ["no"] * 500
        candidates: list[str] | None = ["yes", "no", "maybe"]
    else:
        coll = collection_from_config(
            {
                "mechanism": mechanism,
                "epsilon": 2.0,
                "domain_size": 3,
                "labels": ["yes", "no", "maybe"],
            }
        )
        values = [0] * 1500 + [1] * 500
        candidates = None
    with LdpService(coll, tmp_path / "r.sqlite", rounds=["r1"]) as svc:
        client = LdpClient(svc.url, batch_size=700)
        result = client.submit(
            values, clients=[f"u{i}" for i in range(2000)], round="r1", rng=SecureRandom.seeded(4)
        )
        assert (result.accepted, result.rejected) == (2000, ())
        again = client.submit(values[:3], clients=["u0", "u1", "u2"], round="r1")
        assert again.accepted == 0
        assert [r[1] for r in again.rejected] == ["duplicate"] * 3
        table = coll.estimate(
            svc.store.load("r1", width=coll.width), candidates=candidates, confidence=0.9999
        )
    assert table.num_reports == 2000
    assert table.labels[:2] == ("yes", "no")
    # The truth lies in the 99.99 % intervals (seeded).
    assert table.ci_low[0] <= 1500 <= table.ci_high[0]
    assert table.ci_low[1] <= 500 <= table.ci_high[1]
    assert table.estimates[0] > table.estimates[1]


def test_rounds_are_charged_when_opened(tmp_path: Path) -> None:
    coll = RapporCollection(RAPPOR)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        budget = ledger.budget("survey-population", epsilon=2.5 * RAPPOR.epsilon_inf)
        svc = LdpService(coll, tmp_path / "r.sqlite", rounds=["day1"], budget=budget)
        try:
            assert budget.spent()[0] == pytest.approx(RAPPOR.epsilon_inf)
            assert not svc.open_round("day1")  # already open: no charge
            assert svc.open_round("day2")
            assert budget.spent()[0] == pytest.approx(2 * RAPPOR.epsilon_inf)
            with pytest.raises(BudgetExceededError):
                svc.open_round("day3")
            assert svc.store.rounds() == ["day1", "day2"]
        finally:
            svc.shutdown()
        # A service that cannot afford its first round does not start.
        with pytest.raises(BudgetExceededError):
            LdpService(coll, tmp_path / "r.sqlite", rounds=["day3"], budget=budget)
        with ReportStore(tmp_path / "r.sqlite") as store:
            assert store.rounds() == ["day1", "day2"]


def test_plaintext_off_loopback_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecurityError, match="without TLS"):
        rappor_service(tmp_path, host="0.0.0.0")  # noqa: S104 (the refusal is the point)


def test_client_errors_and_timeouts(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="url"):
        LdpClient("ftp://example.org")
    with pytest.raises(ParameterError, match="https"):
        LdpClient("http://127.0.0.1:1", tls_ca=tmp_path / "ca.pem")
    # A listener that never answers: the client gives up after its timeout.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        port = silent.getsockname()[1]
        with pytest.raises(PeerTimeoutError):
            LdpClient(f"http://127.0.0.1:{port}", timeout=0.3).stats()
    finally:
        silent.close()
    with pytest.raises(TransportError):
        LdpClient(f"http://127.0.0.1:{port}", timeout=2).stats()
    with rappor_service(tmp_path) as svc:
        client = LdpClient(svc.url)
        assert client.config()["rounds"] == ["r1"]
        with pytest.raises(ProtocolError, match="not open"):
            client.submit(["a"], clients=["c"], round="nope")
        with pytest.raises(ProtocolError, match="unknown_round"):
            client._ok("POST", "/report", report(round_="nope"))


def test_server_socket_timeout_frees_slow_clients(tmp_path: Path) -> None:
    with rappor_service(tmp_path, timeout=0.5, max_connections=2) as svc:
        host, port = svc.address
        slow = [socket.create_connection((host, port), timeout=5) for _ in range(2)]
        try:
            for s in slow:
                s.sendall(b"POST /report HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")  # stalls
            # The stalled connections time out and free their slots: the service answers.
            assert LdpClient(svc.url, timeout=5).stats()["accepted"] == {"r1": 0}
        finally:
            for s in slow:
                s.close()


def test_trickling_clients_are_cut_off(tmp_path: Path) -> None:
    with rappor_service(tmp_path, timeout=1.0, max_connection_seconds=0.6) as svc:
        sock = socket.create_connection(svc.address, timeout=5)
        try:
            sock.sendall(b"POST /report HTTP/1.1\r\n")
            closed = False
            for _ in range(40):  # one header byte every 0.1 s: never a 1 s silence
                try:
                    sock.sendall(b"X")
                except OSError:
                    closed = True
                    break
                time.sleep(0.1)
            if not closed:
                closed = sock.recv(1024) == b""  # the service hung up
            assert closed
        finally:
            sock.close()


# -- fuzzing: the service never crashes and always answers JSON -------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=30,
)
near_reports = st.fixed_dictionaries(
    {"client": st.text(max_size=300) | st.integers(), "round": st.sampled_from(["r1", "r2", ""])},
    optional={
        "cohort": st.integers(-3, 6) | st.text(max_size=3) | st.none(),
        "bits": st.lists(st.integers(-1, 2) | st.booleans() | st.floats(), max_size=10),
        "extra": json_values,
    },
)
bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | near_reports.map(lambda v: json.dumps(v).encode())
    | st.lists(near_reports, max_size=5).map(lambda v: json.dumps({"reports": v}).encode())
)


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdpService]:
    with rappor_service(tmp_path_factory.mktemp("fuzz"), max_body_bytes=2048) as svc:
        yield svc


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, path=st.sampled_from(["/report", "/reports"]))
def test_fuzzed_bodies_never_crash_the_service(
    fuzz_service: LdpService, body: bytes, path: str
) -> None:
    before = fuzz_service.store.stats()
    status, doc = raw_post(fuzz_service.url, path, body, {"Content-Length": str(len(body))})
    assert status in (200, 400), (status, doc)
    after = fuzz_service.store.stats()
    if status == 400:
        assert doc["error"] in REASONS
        assert after["rejected_total"] == before["rejected_total"] + 1
    else:
        assert set(doc) >= {"accepted"}
        gained = after["accepted_total"] - before["accepted_total"]
        assert gained == doc["accepted"]
        rejected = len(doc.get("rejected", []))
        assert after["rejected_total"] == before["rejected_total"] + rejected
    assert LdpClient(fuzz_service.url).request("GET", "/health") == (200, {"ok": True})


# -- TLS and mutual TLS -------------------------------------------------------------------------


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    *,
    ca: bool = False,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("privet test CA", ca_key, None, None, ca=True)
    _write(d / "ca", ca, None)
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(d / name, _cert(name, key, ca, ca_key), key)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    _write(d / "rogue", _cert("rogue", rogue_key, None, None), rogue_key)
    return d


def test_tls_and_mutual_tls(pki: Path, tmp_path: Path) -> None:
    tls = {"tls_cert": pki / "server.crt", "tls_key": pki / "server.key"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with rappor_service(tmp_path / "a", **tls) as svc:
        assert svc.url.startswith("https://127.0.0.1:")
        ok = LdpClient(svc.url, tls_ca=pki / "ca.crt")
        res = ok.submit(["x"], clients=["c"], round="r1", rng=SecureRandom.seeded(1))
        assert res.accepted == 1
        with pytest.raises(TransportError):  # the system trust store does not know our CA
            LdpClient(svc.url).stats()
        plain = LdpClient(svc.url.replace("https", "http"), timeout=3)
        with pytest.raises((TransportError, ProtocolError)):
            plain.stats()
    mtls = {**tls, "tls_ca": pki / "ca.crt"}
    with rappor_service(tmp_path / "b", **mtls) as svc:
        good = LdpClient(
            svc.url,
            tls_ca=pki / "ca.crt",
            tls_cert=pki / "client.crt",
            tls_key=pki / "client.key",
        )
        assert good.stats()["accepted"] == {"r1": 0}
        for cert in (None, "rogue"):
            extra = (
                {}
                if cert is None
                else {"tls_cert": pki / "rogue.crt", "tls_key": pki / "rogue.key"}
            )
            with pytest.raises(TransportError):
                LdpClient(svc.url, tls_ca=pki / "ca.crt", **extra).stats()  # type: ignore[arg-type]
        # The service is still serving after refused handshakes.
        assert good.request("GET", "/health") == (200, {"ok": True})
    with pytest.raises(ParameterError, match="both"):
        rappor_service(tmp_path / "b", tls_cert=pki / "server.crt")


def test_concurrent_clients(tmp_path: Path) -> None:
    with rappor_service(tmp_path) as svc:
        errors: list[BaseException] = []

        def work(k: int) -> None:
            try:
                c = LdpClient(svc.url, batch_size=50)
                res = c.submit(
                    [f"v{i % 3}" for i in range(100)],
                    clients=[f"t{k}-{i}" for i in range(100)],
                    round="r1",
                    rng=SecureRandom.seeded(k),
                )
                assert res.accepted == 100
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert svc.store.stats()["accepted"] == {"r1": 600}
        rows = svc.store.load("r1", width=8)
        assert rows.bits.shape == (600, 8)
        assert np.isin(rows.cohort, np.arange(4)).all()
