"""Additive sharing over Z_2^64 and XOR (binary) sharing of bit words.

**Additive.** A secret ``x`` in Z_2^64 is split among ``n`` parties as ``x_0, …, x_{n-1}``
with ``x_0 … x_{n-2}`` uniform and independent (drawn from
:class:`~privet.core.random.SecureRandom`) and ``x_{n-1} = x - Σ x_i``. Any ``n-1`` shares
are then uniform and independent of ``x`` (each set of ``n-1`` shares determines the last
one only together with ``x``): perfect secrecy against ``n-1`` colluding parties.

**XOR.** The same over (Z_2)^64, word-wise: ``x = x_0 ⊕ … ⊕ x_{n-1}``; a ``uint64`` word
holds 64 independent bits.

Examples
--------
>>> import numpy as np
>>> from privet.core.random import SecureRandom
>>> shares = share_additive(np.array([8], dtype=np.uint64), parties=3, rng=SecureRandom())
>>> len(shares), reconstruct_additive(shares).tolist()
(3, [8])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privet.core.checks import check_int
from privet.core.errors import ParameterError, ParameterTypeError
from privet.core.random import SecureRandom, resolve_rng
from privet.smpc.ring import Ring, sub, sum_axis, xor_all

__all__ = ["reconstruct_additive", "reconstruct_xor", "share_additive", "share_xor"]


def _check(x: object, parties: object) -> tuple[Ring, int]:
    if not isinstance(x, np.ndarray) or x.dtype != np.uint64:
        raise ParameterTypeError(
            "the secret must be a numpy uint64 array of ring elements; encode reals first "
            "with FixedPoint.encode"
        )
    n = check_int(parties, name="parties", minimum=1)
    return x, n


def share_additive(x: Ring, *, parties: int, rng: SecureRandom | None = None) -> list[Ring]:
    """Split ring elements into ``parties`` additive shares.

    Parameters
    ----------
    x
        ``uint64`` ring elements (the secret).
    parties
        The number of shares ``n`` (>= 1).
    rng
        The generator for the ``n-1`` uniform shares (``None``: a fresh OS-keyed one).

    Returns
    -------
    list of numpy.ndarray
        ``n`` ``uint64`` arrays of ``x``'s shape, summing to ``x`` mod 2^64.

    Examples
    --------
    >>> import numpy as np
    >>> s = share_additive(np.array([5], dtype=np.uint64), parties=2)
    >>> int(reconstruct_additive(s)[0])
    5
    """
    secret, n = _check(x, parties)
    gen = resolve_rng(rng)
    shares = [gen.uint64(secret.shape) for _ in range(n - 1)]
    last = secret
    for s in shares:
        last = sub(last, s)
    return [*shares, np.array(last, dtype=np.uint64)]


def reconstruct_additive(shares: Sequence[Ring]) -> Ring:
    """Return the secret: the sum of the shares mod 2^64.

    Raises
    ------
    ParameterError
        If there are no shares or their shapes differ.
    """
    if not shares:
        raise ParameterError("reconstruct needs at least one share, got none")
    if len({np.shape(s) for s in shares}) != 1:
        raise ParameterError("all shares must have the same shape; they come from one sharing")
    return sum_axis(np.stack([np.asarray(s, dtype=np.uint64) for s in shares]), axis=0)


def share_xor(x: Ring, *, parties: int, rng: SecureRandom | None = None) -> list[Ring]:
    """Split ``uint64`` bit words into ``parties`` XOR shares.

    Parameters
    ----------
    x
        ``uint64`` words (64 bits each).
    parties
        The number of shares (>= 1).
    rng
        The generator (``None``: a fresh OS-keyed one).

    Returns
    -------
    list of numpy.ndarray
        ``n`` ``uint64`` arrays whose XOR is ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> s = share_xor(np.array([0b1011], dtype=np.uint64), parties=3)
    >>> int(reconstruct_xor(s)[0])
    11
    """
    secret, n = _check(x, parties)
    gen = resolve_rng(rng)
    shares = [gen.uint64(secret.shape) for _ in range(n - 1)]
    last = xor_all([secret, *shares]) if shares else np.array(secret, copy=True)
    return [*shares, last]


def reconstruct_xor(shares: Sequence[Ring]) -> Ring:
    """Return the XOR of the shares.

    Raises
    ------
    ParameterError
        If there are no shares or their shapes differ.
    """
    if not shares:
        raise ParameterError("reconstruct needs at least one share, got none")
    if len({np.shape(s) for s in shares}) != 1:
        raise ParameterError("all shares must have the same shape; they come from one sharing")
    return xor_all([np.asarray(s, dtype=np.uint64) for s in shares])
