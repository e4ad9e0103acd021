"""Bit-plane layout: ``uint64`` words transposed so that one word holds one bit of 64 elements.

Plane ``i`` of ``n`` elements is ``⌈n/64⌉`` words; bit ``j`` of its word ``w`` is bit ``i`` of
element ``64 w + j`` (zero past ``n``). A transposition is a fixed bit permutation, so it maps
XOR shares to XOR shares: each party transposes its own share and the planes are shared.

The transposition of each 64x64 bit block is done in two byte-level moves and one in-word
step, all on contiguous arrays: (1) gather byte ``J`` of rows ``8I..8I+7`` into one word,
an 8x8 bit matrix (a single transpose-copy of the bytes); (2) transpose the 8x8 bit matrix
inside each word with three masked swaps ("Hacker's Delight", Warren, 2nd ed., §7-3,
``transpose8``); (3) scatter the bytes to their plane (a second transpose-copy). The blocks
are processed in chunks that stay in the L2 cache.

Examples
--------
>>> import numpy as np
>>> to_planes(np.array([1, 2, 3], dtype=np.uint64), 2).tolist()
[[5], [6]]
>>> from_plane(np.array([5], dtype=np.uint64), 3).tolist()
[1, 0, 1]
"""

from __future__ import annotations

from typing import Final

import numpy as np

from privet.core.errors import ParameterError
from privet.smpc.ring import Ring

__all__ = ["from_plane", "plane_words", "to_planes"]

U64: Final = np.uint64
_SWAPS8: Final = (
    (U64(7), U64(0x00AA_00AA_00AA_00AA)),
    (U64(14), U64(0x0000_CCCC_0000_CCCC)),
    (U64(28), U64(0x0000_0000_F0F0_F0F0)),
)
_CHUNK_BYTES: Final = 1 << 19  # the working set of one chunk: half a MiB


def plane_words(n: int) -> int:
    """Return the number of words of one plane of ``n`` elements, ``⌈n/64⌉``."""
    return -(-n // 64)


def _transpose8(x: Ring, tmp: Ring) -> None:
    """Transpose, in place, the 8x8 bit matrix in each word of ``x`` (byte = row, bit = column)."""
    for s, m in _SWAPS8:
        np.right_shift(x, s, out=tmp)
        np.bitwise_xor(tmp, x, out=tmp)
        np.bitwise_and(tmp, m, out=tmp)
        np.bitwise_xor(x, tmp, out=x)
        np.left_shift(tmp, s, out=tmp)
        np.bitwise_xor(x, tmp, out=x)


def to_planes(x: Ring, planes: int) -> Ring:
    """Transpose words into bit planes: row ``i`` holds bit ``i`` of every element.

    Parameters
    ----------
    x
        ``uint64`` words (any shape; flattened in C order).
    planes
        How many low bits to keep, in 1..64.

    Returns
    -------
    numpy.ndarray
        ``uint64``, shape ``(planes, ⌈n/64⌉)``.

    Examples
    --------
    >>> import numpy as np
    >>> to_planes(np.array([3, 1], dtype=np.uint64), 2).tolist()
    [[3], [1]]
    """
    if not 1 <= planes <= 64:
        raise ParameterError(f"planes must be in 1..64, got {planes}")
    flat = np.ascontiguousarray(x, dtype=U64).reshape(-1)
    pad = (-flat.size) % 64
    if pad:
        flat = np.concatenate([flat, np.zeros(pad, dtype=U64)])
    blocks = flat.size // 64
    nb = -(-planes // 8)  # bytes of each word that are kept
    # a8[b, I, i', J] = byte J of row 8I + i' of block b (little-endian words)
    a8 = flat.view(np.uint8).reshape(blocks, 8, 8, 8)
    out = np.empty((nb, 8, blocks, 8), dtype=np.uint8)  # [J, j', b, I]
    step = max(1, _CHUNK_BYTES // (64 * nb))
    for lo in range(0, blocks, step):
        hi = min(lo + step, blocks)
        # w[J, b, I, i']: one word per (J, b, I), its byte i' from row 8I + i'
        w = np.ascontiguousarray(a8[lo:hi, :, :, :nb].transpose(3, 0, 1, 2))
        words = w.reshape(-1).view(U64)
        _transpose8(words, np.empty_like(words))  # now byte j', bit i' of each word
        np.copyto(out[:, :, lo:hi, :], w.transpose(0, 3, 1, 2))
    return out.reshape(nb * 8, blocks * 8).view(U64)[:planes]


def from_plane(plane: Ring, n: int) -> Ring:
    """Return bit ``j`` of a single plane as element ``j`` (``uint64`` 0/1), ``n`` of them.

    Examples
    --------
    >>> import numpy as np
    >>> from_plane(np.array([6], dtype=np.uint64), 4).tolist()
    [0, 1, 1, 0]
    """
    bits = np.unpackbits(np.ascontiguousarray(plane, dtype=U64).view(np.uint8), bitorder="little")
    return bits[:n].astype(U64)
