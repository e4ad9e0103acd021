"""Input owners and result recipients: how a client's arrays reach the parties and come back.

A *client* endpoint shares its own arrays: it encodes them in fixed point, splits each into
one additive share per party with its own CSPRNG, and sends party ``i`` share ``i``, so the
plaintext never leaves the client. A result opened to a client arrives as one share from
every party and is added up there alone. Both directions are numbered per client (``in/k``,
``out/k``, ``k = 0, 1, ...``), so a client on another host needs no word from the driver
beyond the order agreed with its analyst, and every message carries the fractional bits it
was encoded with, which the receiver checks.

The driver hosts its own clients (:class:`~privet.smpc.Driver`, with ``clients=`` in
:class:`~privet.smpc.LocalCluster`); :class:`RemoteClient` is a client on its own host, next
to a :class:`~privet.smpc.RemoteCluster` driver that asks for its input with
:meth:`~privet.smpc.RemoteCluster.share_from` and opens results to it with
:meth:`~privet.smpc.RemoteCluster.send`.

Examples
--------
The helpers on an in-memory network (party ids 0 and 1, the client 2):

>>> from privet.core import SecureRandom
>>> from privet.core.channel import InMemoryNetwork
>>> from privet.smpc.fixed_point import FixedPoint
>>> net = InMemoryNetwork(2, dealer=False, clients=1, timeout=5)
>>> enc, frac = encode_input(FixedPoint(16), [1.5, -2.0])
>>> send_shares(net.channel(2), enc, frac, k=0, parties=2, rng=SecureRandom.seeded(1))
>>> [len(net.channel(i).recv(2, tag="in/0")) for i in range(2)]
[2, 2]
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privet.core.channel import Channel, expect_arrays
from privet.core.closeable import Closeable
from privet.core.errors import ParameterError, PeerTimeoutError, ProtocolError
from privet.core.random import SecureRandom, resolve_rng
from privet.smpc.fixed_point import FixedPoint
from privet.smpc.ring import Ring
from privet.smpc.sharing import reconstruct_additive, share_additive

__all__ = ["RemoteClient", "encode_input", "receive_shares", "send_shares"]

U64 = np.uint64


def encode_input(codec: FixedPoint, x: Any, *, integer: bool = False) -> tuple[Ring, int]:
    """Encode a client's array: fixed point (or integers), range-checked.

    Parameters
    ----------
    codec
        The cluster's fixed-point codec.
    x
        Array-like of reals; a torch tensor is detached first.
    integer
        Encode whole numbers with 0 fractional bits.

    Returns
    -------
    tuple
        The ring elements and their fractional bits.

    Raises
    ------
    ParameterError
        If a value is NaN, infinite, out of range, or (``integer``) not a whole number.
    """
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor, maybe with grad
        x = x.detach().cpu().numpy()
    frac = 0 if integer else codec.frac_bits
    if integer:
        arr = np.asarray(x)
        if arr.dtype.kind == "f":
            fractional = int(np.count_nonzero(np.isfinite(arr) & (arr != np.rint(arr))))
            if fractional:
                raise ParameterError(
                    f"share(integer=True) needs whole numbers; {fractional} value(s) have a "
                    "fractional part (values not shown); round them or share as reals"
                )
    return codec.encode(x, frac_bits=frac), frac


def send_shares(
    channel: Channel, enc: Ring, frac: int, *, k: int, parties: int, rng: SecureRandom
) -> None:
    """Split ``enc`` into additive shares (CSPRNG ``rng``) and send party ``i`` share ``i``."""
    meta = np.array([frac], dtype=U64)
    for i, share in enumerate(share_additive(enc, parties=parties, rng=rng)):
        channel.send(i, [share, meta], tag=f"in/{k}")


def receive_shares(
    channel: Channel,
    *,
    k: int,
    parties: int,
    shape: tuple[int, ...] | None = None,
    timeout: float | None = None,
    got: dict[int, tuple[Ring, int]] | None = None,
) -> tuple[Ring, int]:
    """Receive result ``k`` from every party; return the sum of the shares and its frac bits.

    ``got`` keeps the shares read so far (party -> (share, frac)): after a timeout, a call
    with the same dictionary goes on where the last one stopped.

    Raises
    ------
    ProtocolError
        If a message is malformed, or the parties disagree on the shape or the encoding.
    PeerTimeoutError
        If a party does not send within ``timeout``.
    """
    tag = f"out/{k}"
    got = {} if got is None else got
    for i in range(parties):
        if i in got:
            continue
        msg = channel.recv(i, tag=tag, timeout=timeout)
        first = next(iter(got.values()), None)
        if first is not None and shape is not None and first[0].shape != tuple(shape):
            raise ProtocolError(f"result {k} has shape {first[0].shape}, expected {shape}")
        want = shape if shape is not None else (first[0].shape if first else None)
        if want is None:
            if len(msg) != 2:
                raise ProtocolError(f"party {i} sent {len(msg)} arrays for {tag!r}; expected 2")
            want = tuple(msg[0].shape)
        share, meta = expect_arrays(msg, shapes=[want, (1,)], dtype=U64, frm=i, tag=tag)
        if first is not None and int(meta[0]) != first[1]:
            raise ProtocolError(f"the parties disagree on the encoding of result {k}")
        got[i] = (share, int(meta[0]))
    frac = got[0][1]
    if frac > 62:
        raise ProtocolError(f"result {k} carries an impossible encoding ({frac} fractional bits)")
    return reconstruct_additive([got[i][0] for i in range(parties)]), frac


class RemoteClient(Closeable):
    """A client on its own host: it shares its arrays and receives the results opened to it.

    Its config is one of ``privet smpc certs --clients N``'s client files other than the
    driver's (``client-1.toml`` …); like every endpoint it must start within the network's
    ``connect_timeout``. Inputs and results are taken in the order the driver's program
    asks for them (:meth:`~privet.smpc.RemoteCluster.share_from`,
    :meth:`~privet.smpc.RemoteCluster.send`); the parties check each input's shape and
    encoding against the driver's instruction.

    Parameters
    ----------
    config
        This client's TOML/JSON config (:func:`privet.transport.load_config`).
    frac_bits
        The cluster's fixed-point fractional bits (16 by default).
    rng
        The generator that splits the inputs (``None``: a fresh OS-keyed one; a seed is for
        tests only).

    Raises
    ------
    ParameterError
        If the config is not a client's, or is the driver's.
    TransportError
        If the parties cannot be reached within the config's ``connect_timeout``.
    """

    def __init__(
        self,
        config: str | os.PathLike[str],
        *,
        frac_bits: int = 16,
        rng: SecureRandom | None = None,
    ) -> None:
        from privet.smpc.party_main import default_driver
        from privet.transport import TlsChannel, load_config

        cfg, creds = load_config(config)
        driver = default_driver(cfg)
        if cfg.me <= driver:
            role = "the driver" if cfg.me == driver else "a party or the dealer"
            raise ParameterError(
                f"{os.fspath(config)!r} is the config of {cfg.me_endpoint.name} ({role}); "
                "a RemoteClient takes another client's config (client-1, client-2, ...)"
            )
        self.name = cfg.me_endpoint.name
        self.codec = FixedPoint(frac_bits)
        self._rng = resolve_rng(rng)
        self._parties = cfg.parties
        self._timeout = cfg.timeout
        self._channel = TlsChannel.open(cfg, creds)
        self._inputs = 0
        self._outputs = 0
        self._partial: dict[int, tuple[Ring, int]] = {}

    def share(self, x: ArrayLike, *, integer: bool = False) -> None:
        """Encode ``x``, split it and send one share to each party (input number ``k``).

        Parameters
        ----------
        x
            Array-like of reals (or whole numbers with ``integer=True``).
        integer
            Share as integers (0 fractional bits).
        """
        enc, frac = encode_input(self.codec, x, integer=integer)
        send_shares(self._channel, enc, frac, k=self._inputs, parties=self._parties, rng=self._rng)
        self._inputs += 1

    def share_model(self, module: Any) -> int:
        """Share a trained PyTorch model's weights, for the driver's ``from_torch``.

        The weights are prepared exactly as :func:`~privet.smpc.model.from_torch` prepares
        them (batch norms folded, kernels spelled out) and shared in its order, one input
        each; the driver calls ``from_torch(same_architecture, owner=<this client>)``, with
        any weights of its own. The weights never leave this host.

        Returns
        -------
        int
            How many arrays were shared.
        """
        from privet.smpc.model import model_weights

        arrays = model_weights(module)
        for a in arrays:
            self.share(a)
        return len(arrays)

    def receive(
        self, *, shape: tuple[int, ...] | None = None, timeout: float | None = None
    ) -> NDArray[Any]:
        """Wait for the next result opened to this client and decode it.

        After a :class:`~privet.errors.PeerTimeoutError`, call it again: the shares that
        did arrive are kept.

        Parameters
        ----------
        shape
            The result's expected shape (default: whatever the first party sends; the
            others must agree).
        timeout
            Seconds to wait for each party's share (default: the config's timeout).

        Returns
        -------
        numpy.ndarray
            The result (``float64``, or ``int64`` for integer results).
        """
        try:
            total, frac = receive_shares(
                self._channel,
                k=self._outputs,
                parties=self._parties,
                shape=None if shape is None else tuple(shape),
                timeout=self._timeout if timeout is None else timeout,
                got=self._partial,  # kept across a timeout: call receive() again to go on
            )
        except PeerTimeoutError:
            raise
        except BaseException:
            self._partial = {}  # anything but a timeout: nothing to resume
            raise
        self._partial = {}
        self._outputs += 1
        return self.codec.decode(total, frac_bits=frac)

    def close(self) -> None:
        """Close the links to the parties (idempotent)."""
        self._channel.close()

    def __repr__(self) -> str:
        return (
            f"RemoteClient({self.name!r}, parties={self._parties}, inputs={self._inputs}, "
            f"results={self._outputs})"
        )
