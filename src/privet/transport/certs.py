"""A local certificate authority and per-endpoint certificates for mutual TLS.

For a cluster on one machine (or a test), :func:`make_certificates` creates a fresh CA and one
certificate per endpoint name (``party-0``, ``party-1``, ``dealer``, ``client-0`` …), each name
in the certificate's subjectAltName, usable both as a TLS server and a TLS client. Keys are
ECDSA P-256 from the operating system's generator (``cryptography``). Every file is written
``0600`` in a directory that is ``0700``, never over an existing file, and the CA's private
key is *not* written at all unless asked: nobody can later mint a certificate for this
cluster. Real deployments bring their own CA and certificates; :class:`Credentials` just
names the three files an endpoint needs.

The layout of a directory is ``ca.pem``, and per endpoint ``<name>.pem`` (certificate) and
``<name>.key`` (private key, PKCS#8 PEM).

Examples
--------
>>> import tempfile
>>> creds = make_certificates(tempfile.mkdtemp() + "/certs", ["party-0", "party-1"])
>>> sorted(creds), creds["party-0"].cert.name
(['party-0', 'party-1'], 'party-0.pem')
>>> oct(creds["party-0"].key.stat().st_mode & 0o777)
'0o600'
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from privet.core.checks import check_int
from privet.core.errors import ParameterError, ParameterTypeError

__all__ = ["Credentials", "check_name", "load_credentials", "make_certificates"]

_NAME: Final = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SKEW: Final = dt.timedelta(minutes=5)


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid endpoint name (a DNS label such as ``party-0``).

    Parameters
    ----------
    name
        The name to check: 1..63 lowercase letters, digits and inner hyphens.

    Returns
    -------
    str
        The name.

    Raises
    ------
    ParameterTypeError
        If ``name`` is not a ``str``.
    ParameterError
        If it is not a lowercase DNS label.

    Examples
    --------
    >>> check_name("party-0")
    'party-0'
    """
    if not isinstance(name, str):
        raise ParameterTypeError(f"an endpoint name must be a str, got {type(name).__name__}")
    if not _NAME.match(name):
        raise ParameterError(
            f"endpoint name {name[:70]!r} is not a DNS label; use 1..63 lowercase letters, "
            "digits and inner hyphens, such as 'party-0'"
        )
    return name


@dataclass(frozen=True, slots=True)
class Credentials:
    """The TLS files of one endpoint: its name, certificate, private key and trusted CA.

    The certificate's subjectAltName must contain ``DNS:<name>``: that is how peers check
    who they talk to.

    Attributes
    ----------
    name
        The endpoint's name (``party-0``, ``dealer``, ``client-0`` …).
    cert
        PEM certificate (optionally followed by its intermediate chain).
    key
        PEM private key of the certificate.
    ca
        PEM certificate(s) of the CA that every peer's certificate must chain to.

    Examples
    --------
    >>> Credentials("party-0", Path("p0.pem"), Path("p0.key"), Path("ca.pem")).name
    'party-0'
    """

    name: str
    cert: Path
    key: Path
    ca: Path

    def check_files(self) -> Credentials:
        """Return ``self`` after checking that the three files exist.

        Raises
        ------
        ParameterError
            If a file is missing (the message names it).
        """
        for label, path in (("certificate", self.cert), ("key", self.key), ("CA", self.ca)):
            if not Path(path).is_file():
                raise ParameterError(
                    f"{self.name}: {label} file {str(path)!r} does not exist; run "
                    "'privet smpc certs --out DIR --parties N' or point the config at your files"
                )
        return self

    def __repr__(self) -> str:
        return f"Credentials({self.name!r}, cert={str(self.cert)!r}, ca={str(self.ca)!r})"


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file with mode 0600 (refuse to overwrite)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ParameterError(
            f"{str(path)!r} exists already; choose an empty directory for new certificates"
        ) from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(
    out: str | os.PathLike[str],
    names: Iterable[str],
    *,
    days: int = 30,
    ca_name: str = "privet local CA",
    keep_ca_key: bool = False,
) -> dict[str, Credentials]:
    """Create a fresh CA and one certificate per endpoint name in directory ``out``.

    Parameters
    ----------
    out
        The directory (created with mode 0700 if missing; the files must not exist yet).
    names
        The endpoint names, each a DNS label (see :func:`check_name`), no duplicates.
    days
        How long the certificates stay valid (>= 1).
    ca_name
        The CA's common name.
    keep_ca_key
        Also write ``ca.key`` (0600). Off by default: without it nobody can add a
        certificate to this cluster later.

    Returns
    -------
    dict of str to Credentials
        The credentials of each name.

    Raises
    ------
    ParameterError
        For a bad or duplicate name, ``days < 1``, or a file that exists already.

    Examples
    --------
    >>> import tempfile
    >>> creds = make_certificates(tempfile.mkdtemp() + "/c", ["dealer"])
    >>> creds["dealer"].ca.name
    'ca.pem'
    """
    valid_days = check_int(days, name="days", minimum=1)
    wanted = [check_name(n) for n in names]
    if not wanted:
        raise ParameterError("names is empty; pass at least one endpoint name such as 'party-0'")
    if len(set(wanted)) != len(wanted) or "ca" in wanted:
        raise ParameterError(f"endpoint names must be distinct and not 'ca', got {wanted}")
    folder = Path(out)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for f in ["ca.pem", "ca.key", *(f"{n}{x}" for n in wanted for x in (".pem", ".key"))]:
        if (folder / f).exists():
            raise ParameterError(f"{str(folder / f)!r} exists already; choose an empty directory")
    now = dt.datetime.now(dt.UTC)
    start, end = now - _SKEW, now + dt.timedelta(days=valid_days)

    ca_key = _key()
    ca_subject = _name(ca_name)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_subject)
        .issuer_name(ca_subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = folder / "ca.pem"
    _write_private(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    if keep_ca_key:
        _write_private(
            folder / "ca.key",
            ca_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    out_creds: dict[str, Credentials] = {}
    for n in wanted:
        key = _key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(n))
            .issuer_name(ca_subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n)]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = folder / f"{n}.pem", folder / f"{n}.key"
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        _write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        out_creds[n] = Credentials(n, cert_path, key_path, ca_path)
    return out_creds


def load_credentials(folder: str | os.PathLike[str], name: str) -> Credentials:
    """Return the credentials of ``name`` in a directory made by :func:`make_certificates`.

    Parameters
    ----------
    folder
        The directory holding ``ca.pem``, ``<name>.pem`` and ``<name>.key``.
    name
        The endpoint name.

    Returns
    -------
    Credentials
        The three paths (checked to exist).

    Raises
    ------
    ParameterError
        If a file is missing.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp() + "/c"
    >>> _ = make_certificates(d, ["party-0"])
    >>> load_credentials(d, "party-0").key.name
    'party-0.key'
    """
    base = Path(folder)
    n = check_name(name)
    return Credentials(n, base / f"{n}.pem", base / f"{n}.key", base / "ca.pem").check_files()
