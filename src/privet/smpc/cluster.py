"""In-process secure computation: the parties and the dealer run as threads of this process.

:class:`InProcessCluster` wires an :class:`~privet.core.channel.InMemoryNetwork`, starts one
:class:`~privet.smpc.runtime.PartyRuntime` thread per computing party and one
:class:`~privet.smpc.runtime.DealerRuntime` thread, and drives them with a
:class:`~privet.smpc.driver.Driver`. It runs exactly the protocol code a deployment over TLS
runs (only the channels differ), so it is the place to test, to measure communication and to
demonstrate; it does not protect anything from this process's own memory.

Endpoints: parties ``0..n-1``, the dealer ``n``, the driver ``n+1``, then the named clients.

Examples
--------
>>> with InProcessCluster(parties=3) as cluster:
...     x = cluster.share([8.0])
...     float((x + 2).reveal()[0])
10.0
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from privet.core.channel import DEFAULT_TIMEOUT, ChannelStats, InMemoryNetwork
from privet.core.checks import check_int, check_timeout
from privet.core.errors import InsecureRandomWarning, ParameterError
from privet.core.random import SecureRandom
from privet.smpc.driver import DRIVER, Driver
from privet.smpc.facade import DriverFacade
from privet.smpc.runtime import DealerRuntime, PartyRuntime

if TYPE_CHECKING:
    pass

__all__ = ["InProcessCluster"]


class InProcessCluster(DriverFacade):
    """``parties`` computing parties and a dealer, as threads, behind one driver.

    Parameters
    ----------
    parties
        The number of computing parties (>= 2).
    clients
        Names of extra client endpoints (input owners and result recipients, e.g.
        ``("owner", "bob")``); the driver itself is the client ``"driver"``.
    frac_bits
        Fixed-point fractional bits (16 by default).
    truncation
        ``"dealer"`` (default: never more than 1 ulp off, no failure probability),
        ``"exact"`` or ``"local"`` (SecureML, 2 parties; see :mod:`privet.smpc.truncation`).
    rng
        ``None`` (default): every endpoint draws from its own OS-keyed generator. A seeded
        generator (tests only) makes the whole run reproducible: each endpoint gets a
        generator seeded from it.
    timeout
        Seconds any receive waits before :class:`~privet.errors.PeerTimeoutError`.

    Examples
    --------
    >>> with InProcessCluster(parties=2, clients=("bob",)) as cluster:
    ...     x = cluster.share([3.0, -1.0], owner="bob")
    ...     (x * x).reveal(to="bob")
    array([9., 1.])
    """

    def __init__(
        self,
        *,
        parties: int = 2,
        clients: Sequence[str] = (),
        frac_bits: int = 16,
        truncation: str = "dealer",
        rng: SecureRandom | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        n = check_int(parties, name="parties", minimum=2)
        names = list(clients)
        if (
            len(set(names)) != len(names)
            or DRIVER in names
            or not all(isinstance(c, str) and c for c in names)
        ):
            raise ParameterError(
                f"clients must be distinct non-empty names other than {DRIVER!r}, got {names}"
            )
        wait = check_timeout(timeout, name="timeout")
        self._net = InMemoryNetwork(n, dealer=True, clients=1 + len(names), timeout=wait)
        rngs = _endpoint_rngs(rng, n + 2 + len(names))
        driver_id = n + 1
        self._parties = [
            PartyRuntime(self._net.channel(i), rngs[i], driver=driver_id, timeout=wait)
            for i in range(n)
        ]
        self._dealer = DealerRuntime(self._net.channel(n), rngs[n], driver=driver_id)
        client_ids = {name: n + 2 + k for k, name in enumerate(names)}
        self._client_ids = {DRIVER: driver_id, **client_ids}
        self._driver = Driver(
            self._net.channel(driver_id),
            clients={name: self._net.channel(i) for name, i in client_ids.items()},
            client_rngs={
                DRIVER: rngs[driver_id],
                **{name: rngs[i] for name, i in client_ids.items()},
            },
            frac_bits=frac_bits,
            truncation=truncation,
            timeout=wait,
        )
        self._threads = [
            threading.Thread(target=rt.serve, name=f"privet-smpc-{i}", daemon=True)
            for i, rt in enumerate([*self._parties, self._dealer])
        ]
        for t in self._threads:
            t.start()
        self._closed = False
        try:
            self._driver.start()
        except BaseException:
            self.close()
            raise

    # -- life cycle (the with-block comes from DriverFacade) -------------------------------

    def close(self) -> None:
        """Stop the runtimes and close the network (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.driver.stop()
        self._net.close()
        for t in self._threads:
            t.join(timeout=10.0)

    # -- the user API --------------------------------------------------------------------

    def client_stats(self, name: str) -> ChannelStats:
        """Return the channel counters of client ``name`` (who received what)."""
        try:
            return self._net.channel(self._client_ids[name]).stats
        except KeyError:
            raise ParameterError(
                f"unknown client {name!r}; clients are {list(self._client_ids)}"
            ) from None

    def __repr__(self) -> str:
        return (
            f"InProcessCluster(parties={self.parties}, frac_bits={self.frac_bits}, "
            f"truncation={self.truncation!r}, clients={list(self.clients)})"
        )


def _endpoint_rngs(rng: SecureRandom | None, count: int) -> list[SecureRandom]:
    """One generator per endpoint: OS-keyed, or seeded from ``rng`` when it is seeded."""
    if rng is None or rng.is_secure:
        return [SecureRandom() for _ in range(count)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRandomWarning)  # the caller was warned already
        return [SecureRandom.seeded(rng.bytes(32)) for _ in range(count)]
