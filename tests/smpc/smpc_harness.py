"""Helpers for the SMPC tests: run party-side protocol code in threads; quantize inputs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from privet.core import SecureRandom
from privet.core.channel import InMemoryNetwork
from privet.smpc.dealer import Dealer
from privet.smpc.recipes import Recipe
from privet.smpc.session import PartySession

SEQ = 1


def run_protocol(
    parties: int,
    body: Callable[[PartySession, int, list[dict[str, Any]]], Any],
    plan: Sequence[Recipe],
    *,
    seed: int = 0,
    timeout: float = 20.0,
) -> list[Any]:
    """Run ``body(session, party, material)`` in one thread per party, with a dealer thread.

    Returns each party's result; re-raises the first exception of any thread.
    """
    net = InMemoryNetwork(parties, dealer=True, timeout=timeout)
    dealer = Dealer(net.channel(parties), SecureRandom.seeded(seed))
    sessions = [
        PartySession(net.channel(i), SecureRandom.seeded(seed + 100 + i)) for i in range(parties)
    ]
    out: list[Any] = [None] * parties
    errors: list[BaseException] = []

    def deal() -> None:
        try:
            dealer.setup()
            dealer.serve(SEQ, plan)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def party(i: int) -> None:
        try:
            s = sessions[i]
            s.material.setup()
            s.begin(SEQ)
            out[i] = body(s, i, s.fetch(plan))
        except BaseException as exc:
            errors.append(exc)
            net.channel(i).close()

    threads = [threading.Thread(target=deal)] + [
        threading.Thread(target=party, args=(i,)) for i in range(parties)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    net.close()
    if errors:
        raise errors[0]
    return out


def quantize(x: np.ndarray, f: int = 16) -> np.ndarray:
    """The value the fixed-point encoding stores for ``x``."""
    return np.rint(np.asarray(x, dtype=np.float64) * 2.0**f) / 2.0**f
