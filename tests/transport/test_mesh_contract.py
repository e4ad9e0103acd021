"""TlsChannel passes the Channel contract suite (tests/smpc/test_smpc_channel.py)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transport_helpers import open_mesh

from privet.transport.certs import Credentials, make_certificates
from privet.transport.config import default_names

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smpc"))
from test_smpc_channel import ChannelContract

_CREDS: dict[str, Credentials] = {}


def _creds() -> dict[str, Credentials]:
    if not _CREDS:
        folder = Path(tempfile.mkdtemp(prefix="privet-contract-")) / "certs"
        _CREDS.update(make_certificates(folder, default_names(3, dealer=False, clients=0)))
    return _CREDS


class TestTlsChannelContract(ChannelContract):
    def make_network(self, n: int) -> tuple[list[Any], Callable[[], None]]:
        chans = open_mesh(_creds(), parties=n, timeout=10.0)

        def close() -> None:
            for c in chans:
                c.close()

        return chans, close
