"""Fixtures: certificates of one cluster (and of a foreign CA), and a 5-endpoint mesh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from transport_helpers import open_mesh

from privet.transport.certs import Credentials, make_certificates
from privet.transport.config import default_names
from privet.transport.mesh import TlsChannel


@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Credentials]:
    names = default_names(3, dealer=True, clients=2)
    return make_certificates(tmp_path_factory.mktemp("pki") / "certs", names)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Credentials]:
    """Certificates with the same names, from an unrelated CA."""
    names = default_names(3, dealer=True, clients=2)
    return make_certificates(tmp_path_factory.mktemp("pki2") / "certs", names)


@pytest.fixture
def mesh3(creds: dict[str, Credentials]) -> Iterator[list[TlsChannel]]:
    """Three parties, a dealer and one client, with a 5 s default timeout."""
    chans = open_mesh(creds, parties=3, dealer=True, clients=1, timeout=5.0)
    yield chans
    for c in chans:
        c.abort("test over")
