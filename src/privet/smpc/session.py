"""A computing party's protocol context: its channel, its randomness, and opening values.

Every protocol function in this room takes a :class:`PartySession` and the party's shares,
and does its communication through :meth:`PartySession.open` / :meth:`open_xor` (send one's
share to every other party, receive theirs, combine). Each message is tagged with the
instruction's sequence number and a step name, and what arrives is checked for count, shape
and dtype (:func:`~privet.core.channel.expect_arrays`): a malformed or out-of-step message is a
:class:`~privet.errors.ProtocolError`, never a silently wrong result.

Examples
--------
>>> import threading
>>> import numpy as np
>>> from privet.core.channel import InMemoryNetwork
>>> net = InMemoryNetwork(2)
>>> sessions = [PartySession(net.channel(i)) for i in range(2)]
>>> out = [None, None]
>>> def run(i):
...     out[i] = sessions[i].open([np.array([i + 1], dtype=np.uint64)], step="demo")[0]
>>> threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
>>> for t in threads: t.start()
>>> for t in threads: t.join()
>>> [int(o[0]) for o in out]
[3, 3]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privet.core.channel import Channel, expect_arrays
from privet.core.errors import ParameterError
from privet.core.random import SecureRandom, resolve_rng
from privet.smpc.dealer import MaterialSource
from privet.smpc.recipes import Recipe
from privet.smpc.ring import Ring

__all__ = ["PartySession"]


class PartySession:
    """One computing party's view of the protocol.

    Parameters
    ----------
    channel
        The party's channel; ``channel.party`` must be a computing party.
    rng
        The party's generator (``None``: a fresh OS-keyed one).
    timeout
        Seconds each receive waits (``None``: the channel's default).
    """

    def __init__(
        self, channel: Channel, rng: SecureRandom | None = None, *, timeout: float | None = None
    ) -> None:
        if not 0 <= channel.party < channel.parties:
            raise ParameterError(
                f"endpoint {channel.party} is not a computing party (ids 0..{channel.parties - 1})"
            )
        self.channel = channel
        self.rng = resolve_rng(rng)
        self.timeout = timeout
        self.material = MaterialSource(channel, timeout=timeout)
        self.seq = 0
        self._step = 0

    @property
    def party(self) -> int:
        """The id of this party."""
        return self.channel.party

    @property
    def parties(self) -> int:
        """The number of computing parties."""
        return self.channel.parties

    @property
    def leader(self) -> bool:
        """Whether this is party 0, which adds public constants."""
        return self.channel.party == 0

    def begin(self, seq: int) -> None:
        """Start instruction ``seq``: tags and dealer nonces follow it."""
        self.seq = seq
        self._step = 0

    def fetch(self, plan: Sequence[Recipe]) -> list[Mapping[str, Ring]]:
        """Return this party's correlated randomness for ``plan`` (see :mod:`.dealer`).

        The receiver's derived fields arrive when first read (read them as late as the
        protocol allows); :meth:`end` receives whatever is still owed.
        """
        return self.material.fetch(self.seq, plan)

    def end(self) -> None:
        """Finish the current instruction: receive any correction still owed."""
        self.material.drain()

    def _exchange(self, arrays: list[NDArray[Any]], step: str) -> list[list[NDArray[Any]]]:
        self._step += 1
        tag = f"{self.seq}/{self._step}/{step}"
        me = self.party
        for peer in range(self.parties):
            if peer != me:
                self.channel.send(peer, arrays, tag=tag)
        got: list[list[NDArray[Any]]] = []
        for peer in range(self.parties):
            if peer == me:
                got.append(arrays)
                continue
            msg = self.channel.recv(peer, tag=tag, timeout=self.timeout)
            got.append(
                expect_arrays(
                    msg,
                    shapes=[a.shape for a in arrays],
                    dtype=arrays[0].dtype if arrays else np.uint64,
                    frm=peer,
                    tag=tag,
                )
            )
        return got

    def open(self, shares: list[Ring], *, step: str) -> list[Ring]:
        """Reveal additively shared values to every party (one round).

        Parameters
        ----------
        shares
            This party's shares (``uint64`` arrays).
        step
            A name for the step, part of the message tag.

        Returns
        -------
        list of numpy.ndarray
            The opened values.
        """
        return self.open_both(shares, [], step=step)[0]

    def open_both(
        self, shares: list[Ring], xor_shares: list[Ring], *, step: str
    ) -> tuple[list[Ring], list[Ring]]:
        """Reveal additively shared and XOR-shared ``uint64`` arrays together (one round)."""
        arrays = [np.require(s, dtype=np.uint64, requirements="C") for s in shares + xor_shares]
        got = self._exchange(arrays, step)
        # accumulate into the arrays just received (fresh, ours): no new allocation
        acc = got[1 if self.party == 0 else 0]
        k = len(shares)
        for other in got:
            if other is not acc:
                for i, (a, b) in enumerate(zip(acc, other, strict=True)):
                    (np.add if i < k else np.bitwise_xor)(a, b, out=a)
        return list(acc[:k]), list(acc[k:])

    def open_xor(self, shares: list[NDArray[Any]], *, step: str) -> list[NDArray[Any]]:
        """Reveal XOR-shared words (any one unsigned dtype) to every party (one round)."""
        arrays = [np.require(s, requirements="C") for s in shares]
        got = self._exchange(arrays, step)
        out = [np.array(a, copy=True) for a in got[0]]
        for other in got[1:]:
            for a, b in zip(out, other, strict=True):
                np.bitwise_xor(a, b, out=a)
        return out
