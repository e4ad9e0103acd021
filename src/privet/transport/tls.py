"""Mutual-TLS contexts: TLS 1.3 only, a certificate required on both sides, names checked.

Both ends of every link present a certificate signed by the cluster's CA and verify the
other's (``CERT_REQUIRED`` both ways). Only the CA named in the credentials is trusted, never
the system store: a certificate from a public CA, a self-signed one or one from another
cluster's CA is refused during the handshake. Names are identities: the connecting side asks
for the peer's *endpoint name* as the TLS server name (``check_hostname``, so the server's
subjectAltName must contain it), and the accepting side checks the client's subjectAltName
against the endpoint id it claims with :func:`check_peer_name`. X.509 strict mode is on, TLS
compression and session tickets are off.

Examples
--------
>>> import tempfile
>>> from privet.transport.certs import make_certificates
>>> creds = make_certificates(tempfile.mkdtemp() + "/c", ["party-0"])["party-0"]
>>> ctx = client_context(creds)
>>> ctx.minimum_version.name, ctx.maximum_version.name, ctx.verify_mode.name, ctx.check_hostname
('TLSv1_3', 'TLSv1_3', 'CERT_REQUIRED', True)
>>> server_context(creds).verify_mode.name
'CERT_REQUIRED'
"""

from __future__ import annotations

import ssl
from typing import Any

from privet.core.errors import ParameterError, SecurityError
from privet.transport.certs import Credentials

__all__ = ["check_peer_name", "client_context", "peer_names", "server_context"]


def _harden(ctx: ssl.SSLContext, creds: Credentials) -> ssl.SSLContext:
    """Apply the settings both sides share and load the credentials."""
    creds.check_files()
    # TLS 1.3 only (RFC 8446): forward-secret (EC)DHE key exchange and AEAD record protection.
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    # Both sides authenticate: the server sends CertificateRequest (RFC 8446 §4.3.2) and the
    # handshake fails unless the peer's Certificate/CertificateVerify (§4.4.2-4.4.3) verify.
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET
    try:
        ctx.load_cert_chain(certfile=str(creds.cert), keyfile=str(creds.key))
    except (ssl.SSLError, OSError) as exc:
        raise ParameterError(
            f"{creds.name}: cannot load certificate {str(creds.cert)!r} with key "
            f"{str(creds.key)!r} ({type(exc).__name__}); check that the key matches the "
            "certificate and both are PEM"
        ) from None
    try:
        ctx.load_verify_locations(cafile=str(creds.ca))
    except (ssl.SSLError, OSError) as exc:
        raise ParameterError(
            f"{creds.name}: cannot load CA file {str(creds.ca)!r} ({type(exc).__name__}); "
            "pass the PEM certificate of the cluster's CA"
        ) from None
    return ctx


def server_context(creds: Credentials) -> ssl.SSLContext:
    """Return the context of the accepting side of a link.

    Parameters
    ----------
    creds
        This endpoint's certificate, key and the CA every client must chain to.

    Returns
    -------
    ssl.SSLContext
        TLS 1.3 only, client certificate required, no session tickets.

    Raises
    ------
    ParameterError
        If a file is missing or cannot be loaded.
    """
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), creds)
    ctx.num_tickets = 0
    return ctx


def client_context(creds: Credentials) -> ssl.SSLContext:
    """Return the context of the connecting side of a link.

    Parameters
    ----------
    creds
        This endpoint's certificate, key and the CA every server must chain to.

    Returns
    -------
    ssl.SSLContext
        TLS 1.3 only, server certificate required, server name checked against the
        peer's endpoint name (pass it as ``server_hostname``).

    Raises
    ------
    ParameterError
        If a file is missing or cannot be loaded.
    """
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), creds)
    ctx.check_hostname = True
    return ctx


def peer_names(sock: ssl.SSLSocket | ssl.SSLObject) -> frozenset[str]:
    """Return the DNS names in the verified peer certificate's subjectAltName.

    Parameters
    ----------
    sock
        A TLS socket after its handshake.

    Returns
    -------
    frozenset of str
        The names (empty when the peer sent no certificate).
    """
    # Identities are subjectAltName dNSName entries (RFC 5280 §4.2.1.6), matched exactly
    # (no wildcards), as the service identity of RFC 9525.
    cert: dict[str, Any] | None = sock.getpeercert()
    if not cert:
        return frozenset()
    return frozenset(v for k, v in cert.get("subjectAltName", ()) if k == "DNS")


def check_peer_name(sock: ssl.SSLSocket | ssl.SSLObject, expected: str) -> None:
    """Raise unless the verified peer certificate names ``expected`` in its subjectAltName.

    Parameters
    ----------
    sock
        A TLS socket after its handshake.
    expected
        The endpoint name the peer claims to be.

    Raises
    ------
    SecurityError
        If the certificate does not name ``expected`` (a valid certificate of another
        endpoint trying to impersonate this one).
    """
    names = peer_names(sock)
    if expected not in names:
        raise SecurityError(
            f"the peer claims to be {expected!r} but its certificate names "
            f"{sorted(names) or 'nothing'}; refused (each endpoint must use its own certificate)"
        )
