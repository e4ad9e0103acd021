"""Helpers for the transport tests: a mutual-TLS network of real loopback sockets."""

from __future__ import annotations

import socket
import threading
from typing import Any

from privet.transport.certs import Credentials
from privet.transport.config import NetworkConfig, default_names
from privet.transport.mesh import TlsChannel


def listeners(n: int) -> list[socket.socket]:
    return [socket.create_server(("127.0.0.1", 0)) for _ in range(n)]


def open_mesh(
    creds: dict[str, Credentials],
    *,
    parties: int,
    dealer: bool = False,
    clients: int = 0,
    optional: dict[int, list[int]] | None = None,
    **options: Any,
) -> list[TlsChannel]:
    """Open every endpoint's channel concurrently (one thread each) and return them.

    ``optional``: endpoint id -> the peers it opens as optional.
    """
    n_listen = parties + int(dealer)
    socks = listeners(n_listen)
    ports = [s.getsockname()[1] for s in socks]
    names = default_names(parties, dealer=dealer, clients=clients)
    out: list[Any] = [None] * len(names)

    def start(i: int) -> None:
        cfg = NetworkConfig.local(
            me=i, ports=ports, parties=parties, dealer=dealer, clients=clients, **options
        )
        try:
            out[i] = TlsChannel.open(
                cfg,
                creds[names[i]],
                listener=socks[i] if i < n_listen else None,
                optional=(optional or {}).get(i, ()),
            )
        except Exception as exc:  # reported below
            out[i] = exc

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    errors = [c for c in out if isinstance(c, BaseException)]
    if errors:
        for c in out:
            if isinstance(c, TlsChannel):
                c.abort("test set-up failed")
        raise errors[0]
    return out


def run_threads(*fns: Any, timeout: float = 60.0) -> list[Any]:
    """Run each callable in its own thread; return results, re-raising the first error."""
    out: list[Any] = [None] * len(fns)

    def call(k: int) -> None:
        try:
            out[k] = fns[k]()
        except BaseException as exc:
            out[k] = exc

    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return out
