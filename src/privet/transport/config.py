"""Who is in a network and where: endpoints, the network's shape, and config files.

A network numbers its endpoints as :mod:`privet.core.channel` does: computing parties
``0 .. parties-1``, then the dealer (when there is one), then clients. Each endpoint has a
*name* (``party-0``, ``dealer``, ``client-0`` by default) that its TLS certificate must carry,
and, if it accepts connections, a host and port. Every pair of endpoints of which at least one
listens gets a link; the endpoint with the larger id connects to the smaller one when both
listen, and an endpoint that does not listen (a client behind a firewall) connects to all.

One party on a real host is described by a TOML (or JSON) file for ``privet smpc party
--config FILE``; relative paths are relative to the file::

    session = "study-7"          # the same on every endpoint of the run
    me = 0                       # this endpoint's id
    parties = 2
    dealer = true
    timeout = 60                 # seconds any receive may wait
    bind = "0.0.0.0"             # optional: the address to listen on (default: its host)

    [credentials]
    cert = "party-0.pem"
    key = "party-0.key"
    ca = "ca.pem"

    [[endpoints]]                # one per id, in id order
    name = "party-0"
    host = "10.0.0.1"
    port = 7000
    # ... party-1, dealer ...
    [[endpoints]]
    name = "client-0"            # no host: it connects to the others

Examples
--------
>>> cfg = NetworkConfig.local(me=1, ports=[7000, 7001], parties=2, dealer=False, clients=1)
>>> [e.name for e in cfg.endpoints], cfg.endpoints[1].port
(['party-0', 'party-1', 'client-0'], 7001)
>>> cfg.connects_to(), cfg.accepts_from()
([0], [2])
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privet.core.channel import DEFAULT_IDLE_TIMEOUT, DEFAULT_TIMEOUT
from privet.core.checks import check_int, check_timeout
from privet.core.errors import ParameterError, ParameterTypeError
from privet.transport.certs import Credentials, check_name
from privet.transport.framing import DEFAULT_MAX_BYTES

__all__ = ["Endpoint", "NetworkConfig", "default_names", "load_config"]


def default_names(parties: int, *, dealer: bool, clients: int) -> list[str]:
    """Return the default endpoint names: ``party-i``, ``dealer``, ``client-k``.

    Parameters
    ----------
    parties
        The number of computing parties.
    dealer
        Whether there is a dealer.
    clients
        The number of clients.

    Returns
    -------
    list of str
        One name per endpoint id.

    Examples
    --------
    >>> default_names(2, dealer=True, clients=1)
    ['party-0', 'party-1', 'dealer', 'client-0']
    """
    names = [f"party-{i}" for i in range(parties)]
    names += ["dealer"] if dealer else []
    return names + [f"client-{k}" for k in range(clients)]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint of a network: its name, and its address if it accepts connections.

    Attributes
    ----------
    name
        The endpoint's name, which its certificate's subjectAltName must contain.
    host, port
        Where it listens; both ``None`` for an endpoint that only connects out.

    Examples
    --------
    >>> Endpoint("party-0", "127.0.0.1", 7000).listens
    True
    """

    name: str
    host: str | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        if (self.host is None) != (self.port is None):
            raise ParameterError(
                f"endpoint {self.name!r} needs both host and port, or neither (a client)"
            )
        if self.port is not None:
            port = check_int(self.port, name=f"port of {self.name!r}", minimum=0)
            if port > 65535:
                raise ParameterError(f"port of {self.name!r} must be <= 65535, got {port}")

    @property
    def listens(self) -> bool:
        """Whether the endpoint accepts connections."""
        return self.host is not None

    def address(self) -> str:
        """Return ``host:port`` for messages (``"(connects out)"`` for a client)."""
        return f"{self.host}:{self.port}" if self.listens else "(connects out)"


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """The shape of a network as one endpoint sees it.

    Attributes
    ----------
    me
        This endpoint's id.
    parties
        The number of computing parties.
    dealer
        Whether id ``parties`` is a dealer.
    endpoints
        One :class:`Endpoint` per id (parties, then the dealer, then clients).
    session
        A label shared by every endpoint of one run (printable ASCII, <= 64 characters);
        links from another run are refused.
    timeout
        Default seconds a receive waits (and a send waits for a peer to drain).
    connect_timeout
        Seconds the whole set-up (connect, handshakes, hellos) may take.
    idle_timeout
        Seconds a party waits for the driver's next instruction (an hour by default: the
        analyst may pause between operations; the dealer, which gets only the instructions
        needing its material, waits at least an hour, and stops when a party aborts). A
        driver that exits or crashes closes its links and the runtimes stop at once; a
        driver's host that drops off the network is noticed by TCP keepalive within about
        two minutes (Linux); only a driver that hangs while its host stays up keeps them
        waiting this long.
    max_bytes
        The largest message payload accepted.
    bind
        The address to listen on, if not the endpoint's own host (e.g. ``0.0.0.0``).
    """

    me: int
    parties: int
    dealer: bool
    endpoints: tuple[Endpoint, ...]
    session: str = "privet"
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = 30.0
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    bind: str | None = field(default=None)

    def __post_init__(self) -> None:
        n = len(self.endpoints)
        check_int(self.parties, name="parties", minimum=1)
        if not isinstance(self.dealer, bool):
            raise ParameterTypeError(f"dealer must be a bool, got {type(self.dealer).__name__}")
        if n < self.parties + int(self.dealer):
            raise ParameterError(
                f"{n} endpoints listed, but {self.parties} parties"
                f"{' and a dealer' if self.dealer else ''} need at least "
                f"{self.parties + int(self.dealer)}; list every endpoint in id order"
            )
        me = check_int(self.me, name="me")
        if me >= n:
            raise ParameterError(f"me must be an endpoint id in 0..{n - 1}, got {me}")
        names = [e.name for e in self.endpoints]
        if len(set(names)) != n:
            raise ParameterError(f"endpoint names must be distinct, got {names}")
        for i in range(self.parties + int(self.dealer)):
            if not self.endpoints[i].listens:
                raise ParameterError(
                    f"endpoint {i} ({names[i]!r}) is a party or the dealer and needs a host "
                    "and port; only clients may connect out without listening"
                )
        if not (
            isinstance(self.session, str)
            and 0 < len(self.session) <= 64
            and self.session.isascii()
            and self.session.isprintable()
        ):
            raise ParameterError(
                "session must be 1..64 printable ASCII characters, such as 'study-7'"
            )
        check_timeout(self.timeout, name="timeout")
        check_timeout(self.connect_timeout, name="connect_timeout")
        check_timeout(self.idle_timeout, name="idle_timeout")
        check_int(self.max_bytes, name="max_bytes", minimum=1)

    @classmethod
    def local(
        cls,
        *,
        me: int,
        ports: Sequence[int],
        parties: int,
        dealer: bool,
        clients: int = 0,
        host: str = "127.0.0.1",
        **options: Any,
    ) -> NetworkConfig:
        """Return the config of a network on one host: listeners first, then clients.

        Parameters
        ----------
        me
            This endpoint's id.
        ports
            The port of each listening endpoint (parties, then the dealer).
        parties, dealer, clients
            The network's shape.
        host
            The host every listener uses.
        **options
            Other fields (``session``, ``timeout`` …).

        Returns
        -------
        NetworkConfig
            The config, with the default endpoint names.
        """
        names = default_names(parties, dealer=dealer, clients=clients)
        listeners = parties + int(dealer)
        if len(ports) != listeners:
            raise ParameterError(
                f"pass one port per party and dealer ({listeners}), got {len(ports)}"
            )
        eps = [Endpoint(names[i], host, int(ports[i])) for i in range(listeners)]
        eps += [Endpoint(n) for n in names[listeners:]]
        return cls(me=me, parties=parties, dealer=dealer, endpoints=tuple(eps), **options)

    @property
    def me_endpoint(self) -> Endpoint:
        """The endpoint of id ``me``."""
        return self.endpoints[self.me]

    @property
    def dealer_id(self) -> int | None:
        """The dealer's id, or ``None``."""
        return self.parties if self.dealer else None

    def connects_to(self) -> list[int]:
        """Return the ids this endpoint opens a connection to."""
        mine = self.me_endpoint
        return [
            j
            for j, e in enumerate(self.endpoints)
            if j != self.me and e.listens and (not mine.listens or j < self.me)
        ]

    def accepts_from(self) -> list[int]:
        """Return the ids that open a connection to this endpoint."""
        mine = self.me_endpoint
        if not mine.listens:
            return []
        return [
            j
            for j, e in enumerate(self.endpoints)
            if j != self.me and (not e.listens or j > self.me)
        ]


def _get(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise ParameterError(f"{where}: missing key {key!r}")
    value = table[key]
    if kind is int and isinstance(value, bool):
        raise ParameterTypeError(f"{where}: {key!r} must be an integer, got a bool")
    if not isinstance(value, kind):
        raise ParameterTypeError(
            f"{where}: {key!r} must be a {kind.__name__}, got {type(value).__name__}"
        )
    return value


def load_config(path: str | os.PathLike[str]) -> tuple[NetworkConfig, Credentials]:
    """Read one endpoint's network config and credentials from a TOML or JSON file.

    Parameters
    ----------
    path
        A ``.toml`` or ``.json`` file (format in the module docstring); relative credential
        paths are resolved against the file's directory.

    Returns
    -------
    tuple of (NetworkConfig, Credentials)
        The network as this endpoint sees it, and its TLS files.

    Raises
    ------
    ParameterError, ParameterTypeError
        For an unreadable file, a missing key or a bad value (the message names it).
    """
    p = Path(path)
    where = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"cannot read config {where!r}: {exc.strerror}") from None
    try:
        raw: dict[str, Any] = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ParameterError(
            f"config {where!r} is not valid {p.suffix[1:] or 'TOML'}: {exc}"
        ) from None
    eps_raw = _get(raw, "endpoints", list, where)
    endpoints = []
    for k, e in enumerate(eps_raw):
        if not isinstance(e, dict):
            raise ParameterTypeError(f"{where}: endpoints[{k}] must be a table")
        endpoints.append(Endpoint(_get(e, "name", str, where), e.get("host"), e.get("port")))
    creds_raw = _get(raw, "credentials", dict, where)
    base = p.parent
    me = _get(raw, "me", int, where)
    if not 0 <= me < len(endpoints):
        raise ParameterError(f"{where}: me = {me} is not an id of the {len(endpoints)} endpoints")
    creds = Credentials(
        endpoints[me].name,
        base / _get(creds_raw, "cert", str, where),
        base / _get(creds_raw, "key", str, where),
        base / _get(creds_raw, "ca", str, where),
    ).check_files()
    options: dict[str, Any] = {}
    for key in ("session", "bind"):
        if key in raw:
            options[key] = _get(raw, key, str, where)
    for key in ("timeout", "connect_timeout", "idle_timeout"):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParameterTypeError(f"{where}: {key!r} must be a number of seconds")
            options[key] = float(value)
    if "max_bytes" in raw:
        options["max_bytes"] = _get(raw, "max_bytes", int, where)
    config = NetworkConfig(
        me=me,
        parties=_get(raw, "parties", int, where),
        dealer=_get(raw, "dealer", bool, where),
        endpoints=tuple(endpoints),
        **options,
    )
    return config, creds
