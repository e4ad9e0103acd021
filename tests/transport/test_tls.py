"""Certificates and mutual TLS: only certificates of the cluster's CA, naming the right endpoint."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from transport_helpers import listeners

from privet.errors import ParameterError, PrivetError, TransportError
from privet.transport.certs import Credentials, load_credentials, make_certificates
from privet.transport.config import NetworkConfig
from privet.transport.mesh import _MAX_PENDING, TlsChannel
from privet.transport.tls import client_context, peer_names, server_context


def self_signed(folder: Path, name: str) -> Credentials:
    """A certificate for ``name`` signed by its own key (no CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Credentials(name, folder / f"{name}.pem", folder / f"{name}.key", folder / f"{name}.pem")


# -- certificates ---------------------------------------------------------------------------


def test_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    creds = make_certificates(out, ["party-0", "client-0"])
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert sorted(f.name for f in out.iterdir()) == [
        "ca.pem",
        "client-0.key",
        "client-0.pem",
        "party-0.key",
        "party-0.pem",
    ]  # the CA's key is not kept
    with pytest.raises(ParameterError, match=r"exists already"):
        make_certificates(out, ["party-0"])
    cert = x509.load_pem_x509_certificate(creds["party-0"].cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["party-0"]
    assert load_credentials(out, "client-0") == creds["client-0"]


def test_keep_ca_key_writes_it_private(tmp_path: Path) -> None:
    make_certificates(tmp_path / "c", ["party-0"], keep_ca_key=True)
    assert stat.S_IMODE((tmp_path / "c" / "ca.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("bad", ["Party-0", "", "a_b", "-x", "x" * 64, "ca"])
def test_bad_names_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ParameterError, match=r"DNS label|distinct"):
        make_certificates(tmp_path / "c", [bad])


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"party-0.pem' does not exist"):
        load_credentials(tmp_path, "party-0")


def test_contexts_allow_tls13_only_and_require_certificates(
    creds: dict[str, Credentials],
) -> None:
    for ctx in (server_context(creds["party-0"]), client_context(creds["party-0"])):
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
        assert ctx.maximum_version == ssl.TLSVersion.TLSv1_3
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.verify_flags & ssl.VERIFY_X509_STRICT
    assert client_context(creds["party-0"]).check_hostname


def test_mismatched_key_is_a_clear_error(creds: dict[str, Credentials]) -> None:
    c = creds["party-0"]
    wrong = Credentials("party-0", c.cert, creds["party-1"].key, c.ca)
    with pytest.raises(ParameterError, match=r"check that the key matches the certificate"):
        server_context(wrong)


# -- refusals during set-up -------------------------------------------------------------------


class Server:
    """party-0 of a 2-party network, waiting in a thread for party-1."""

    def __init__(self, creds: Credentials, *, connect_timeout: float = 30.0) -> None:
        self.sock = listeners(1)[0]
        self.port = self.sock.getsockname()[1]
        self.cfg = NetworkConfig.local(
            me=0, ports=[self.port, 1], parties=2, dealer=False, connect_timeout=connect_timeout
        )
        self.result: Any = None
        self.thread = threading.Thread(target=self._run)
        self.creds = creds
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = TlsChannel.open(self.cfg, self.creds, listener=self.sock)
        except PrivetError as exc:
            self.result = exc

    def client_config(self, **kw: Any) -> NetworkConfig:
        return NetworkConfig.local(
            me=1, ports=[self.port, 1], parties=2, dealer=False, connect_timeout=10.0, **kw
        )

    def join(self) -> Any:
        self.thread.join(60)
        return self.result


def test_only_certificates_of_the_cluster_ca_naming_the_claimed_endpoint_get_in(
    tmp_path: Path, creds: dict[str, Credentials], other_ca: dict[str, Credentials]
) -> None:
    server = Server(creds["party-0"])
    cfg = server.client_config()
    rogue = self_signed(tmp_path / "rogue", "party-1")
    impostor = Credentials(  # a valid certificate of the CA, but for client-0
        "party-1", creds["client-0"].cert, creds["client-0"].key, creds["client-0"].ca
    )
    for bad in (rogue, other_ca["party-1"], impostor):
        with pytest.raises(TransportError):
            TlsChannel.open(cfg, bad)
    # Plain TCP with junk: the server answers at most a TLS alert, then hangs up.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\n\r\n")
        raw.settimeout(5)
        try:
            reply = raw.recv(100)
        except ConnectionResetError:
            reply = b""
        assert reply == b"" or reply[0] == 0x15  # 0x15: a TLS alert record
    # A TLS client without any certificate gets the "certificate required" alert.
    anon = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anon.load_verify_locations(cafile=str(creds["party-1"].ca))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.settimeout(5)
        with anon.wrap_socket(raw, server_hostname="party-0") as tls:
            data = b""
            try:  # the alert shows up here, or a reset or a bare end of stream
                tls.sendall(b"x")
                data = tls.recv(1)
            except (ssl.SSLError, OSError):
                pass
            assert data == b""
    # The real party-1 still gets in, and the refusals were counted.
    good = TlsChannel.open(cfg, creds["party-1"])
    chan = server.join()
    assert isinstance(chan, TlsChannel), chan
    assert chan.refused == 5
    assert peer_names(good._links[0].sock) == frozenset({"party-0"})
    good.close()
    chan.close()


def test_a_server_with_a_foreign_certificate_is_refused(
    creds: dict[str, Credentials], other_ca: dict[str, Credentials]
) -> None:
    server = Server(other_ca["party-0"], connect_timeout=1.5)
    with pytest.raises(TransportError, match=r"TLS handshake with party-0 .* failed"):
        TlsChannel.open(server.client_config(), creds["party-1"])
    assert isinstance(server.join(), TransportError)


def test_a_server_whose_certificate_names_someone_else_is_refused(
    creds: dict[str, Credentials],
) -> None:
    # A valid certificate of the CA, but for party-2, answering at party-0's address.
    wrong = Credentials("party-0", creds["party-2"].cert, creds["party-2"].key, creds["party-2"].ca)
    server = Server(wrong, connect_timeout=1.5)
    with pytest.raises(TransportError, match=r"TLS handshake with party-0"):
        TlsChannel.open(server.client_config(), creds["party-1"])
    server.join()


def test_another_session_is_refused(creds: dict[str, Credentials]) -> None:
    server = Server(creds["party-0"], connect_timeout=1.5)
    with pytest.raises(TransportError, match=r"refused the link: refused: .*another session"):
        TlsChannel.open(server.client_config(session="other-run"), creds["party-1"])
    res = server.join()
    assert isinstance(res, TransportError)
    assert "1 refused" in str(res)


def test_an_absent_peer_is_reported_by_name(creds: dict[str, Credentials]) -> None:
    sock = listeners(1)[0]
    cfg = NetworkConfig.local(
        me=0, ports=[sock.getsockname()[1], 1], parties=2, dealer=False, connect_timeout=0.5
    )
    t = time.monotonic()
    with pytest.raises(TransportError, match=r"no valid connection from party-1 \(127.0.0.1:1\)"):
        TlsChannel.open(cfg, creds["party-0"], listener=sock)
    assert time.monotonic() - t < 5
    cfg1 = NetworkConfig.local(
        me=1, ports=[1, 2], parties=2, dealer=False, connect_timeout=0.5
    )  # nobody listens on port 1
    with pytest.raises(TransportError, match=r"could not connect to party-0 at 127.0.0.1:1"):
        TlsChannel.open(cfg1, creds["party-1"])


def test_silent_connections_do_not_hold_up_set_up(creds: dict[str, Credentials]) -> None:
    """Anyone can open a TCP connection to a listening port and say nothing: each incoming
    handshake runs on its own thread, so the real peer still gets in at once."""
    socks = listeners(2)
    ports = [s.getsockname()[1] for s in socks]
    # more than the handshakes admitted at once: the oldest silent ones are cut short
    silent = [socket.create_connection(("127.0.0.1", ports[0])) for _ in range(_MAX_PENDING + 8)]
    out: dict[int, Any] = {}

    def start(i: int) -> None:
        cfg = NetworkConfig.local(me=i, ports=ports, parties=2, dealer=False, connect_timeout=20)
        try:
            out[i] = TlsChannel.open(cfg, creds[f"party-{i}"], listener=socks[i])
        except PrivetError as exc:  # reported below
            out[i] = exc

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(40)
    for s in silent:
        s.close()
    # one at a time, the silent ones would hold party-0's acceptor for 10 s each
    assert all(isinstance(out[i], TlsChannel) for i in range(2)), out
    for i in range(2):
        out[i].close()


def test_credentials_must_match_the_endpoint(creds: dict[str, Credentials]) -> None:
    cfg = NetworkConfig.local(me=1, ports=[1, 2], parties=2, dealer=False)
    with pytest.raises(ParameterError, match=r"credentials are for 'party-0'"):
        TlsChannel.open(cfg, creds["party-0"])


def test_a_failed_connection_ends_set_up_at_once(
    creds: dict[str, Credentials], other_ca: dict[str, Credentials]
) -> None:
    # party-1 of 3 connects to party-0 (foreign certificate: refused) and waits for party-2;
    # it gives up at the refusal instead of waiting out its 30 s connect timeout.
    socks = listeners(2)
    ports = [s.getsockname()[1] for s in socks] + [1]

    def foreign_party_0() -> None:
        cfg0 = NetworkConfig.local(me=0, ports=ports, parties=3, dealer=False, connect_timeout=1.5)
        with contextlib.suppress(PrivetError):
            TlsChannel.open(cfg0, other_ca["party-0"], listener=socks[0])

    bad = threading.Thread(target=foreign_party_0)
    bad.start()
    cfg = NetworkConfig.local(me=1, ports=ports, parties=3, dealer=False, connect_timeout=30)
    t = time.monotonic()
    with pytest.raises(TransportError, match=r"TLS handshake with party-0"):
        TlsChannel.open(cfg, creds["party-1"], listener=socks[1])
    assert time.monotonic() - t < 10
    bad.join(10)
