"""RAPPOR's encoding: values as bytes, the keyed hash family, Bloom filters, report arrays.

**Hash family.** The ``h`` Bloom positions of value ``v`` in cohort ``j`` are the first
``h`` little-endian 32-bit words of ``BLAKE2b(key=hash_key, person="privet-rappor",
data=j as 4 bytes big-endian ‖ UTF-8(v))``, each reduced modulo ``k`` (a bias below
``k / 2**32``, far under the sampling noise). ``hash_key`` picks the member of the family:
it is public (the server needs it to decode) and only makes different collections use
different Bloom patterns; privacy never depends on it (Erlingsson et al. 2014's bounds hold
for any fixed map from values to at most ``h`` bits).

Examples
--------
>>> f = BloomFamily(key=DEFAULT_HASH_KEY, num_bloombits=16, num_hashes=2, num_cohorts=4)
>>> b = f.filters(["a.com", "a.com"], [3, 3])
>>> b.shape, bool((b[0] == b[1]).all())
((2, 16), True)
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError, ParameterTypeError

__all__ = ["DEFAULT_HASH_KEY", "BloomFamily", "RapporReports", "as_value_bytes", "is_binary"]

DEFAULT_HASH_KEY: Final = b"privet.rappor.v1"
"""The hash-family key used when none is given (public; it only names the family member)."""

_PERSON: Final = b"privet-rappor"


def as_value_bytes(values: object, *, name: str = "values") -> list[bytes]:
    r"""Return each value as bytes: ``str`` as UTF-8, ``bytes`` as given.

    Raw values never appear in error messages (they are what the mechanism protects);
    only their position and type do.

    Parameters
    ----------
    values
        A sequence (list, tuple or 1-d numpy array) of ``str`` or ``bytes``.
    name
        The argument's name, for messages.

    Returns
    -------
    list of bytes
        The encoded values.

    Raises
    ------
    ParameterTypeError
        If ``values`` is a bare string, not a sequence, or holds something else.

    Examples
    --------
    >>> as_value_bytes(["é", b"x"])
    [b'\xc3\xa9', b'x']
    """
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise ParameterTypeError(
            f"{name} must be a sequence of str or bytes (one per client), got "
            f"{type(values).__name__}; wrap a single value in a list"
        )
    out: list[bytes] = []
    for i, v in enumerate(values):
        if isinstance(v, str):
            out.append(v.encode("utf-8"))
        elif isinstance(v, bytes):
            out.append(v)
        else:
            raise ParameterTypeError(
                f"{name}[{i}] must be str or bytes, got {type(v).__name__}; convert values "
                "to strings first"
            )
    return out


def is_binary(arr: NDArray[Any]) -> bool:
    """Whether a numeric array holds only 0 and 1 (min/max: no temporary of its size)."""
    if arr.size == 0 or arr.dtype == np.bool_:
        return True
    if arr.dtype.kind not in "iuf":
        return False
    return bool(
        arr.min() >= 0 and arr.max() <= 1 and (arr.dtype.kind != "f" or (arr == arr.round()).all())
    )


@dataclasses.dataclass(frozen=True, eq=False)
class RapporReports:
    """RAPPOR reports of ``n`` clients: their cohorts and their ``k`` reported bits.

    Parameters
    ----------
    cohorts
        ``int64`` array of shape ``(n,)``, each in ``[0, num_cohorts)``.
    bits
        ``uint8`` 0/1 array of shape ``(n, k)``: the instantaneous randomized responses.

    Examples
    --------
    >>> import numpy as np
    >>> rep = RapporReports(np.array([0, 1]), np.array([[0, 1], [1, 1]], dtype=np.uint8))
    >>> len(rep)
    2
    """

    cohorts: NDArray[np.int64]
    bits: NDArray[np.uint8]

    def __post_init__(self) -> None:
        cohorts = np.asarray(self.cohorts)
        bits = np.asarray(self.bits)
        if cohorts.ndim != 1 or not np.issubdtype(cohorts.dtype, np.integer):
            raise ParameterError(
                f"cohorts must be a 1-d integer array, got shape {cohorts.shape} of {cohorts.dtype}"
            )
        if bits.ndim != 2 or bits.shape[0] != cohorts.shape[0]:
            raise ParameterError(
                f"bits must have shape (n, k) with n = len(cohorts) = {cohorts.shape[0]}, "
                f"got {bits.shape}"
            )
        if not is_binary(bits):
            raise ParameterError("bits must hold only 0 and 1; pass the reports unchanged")
        object.__setattr__(self, "cohorts", cohorts.astype(np.int64, copy=False))
        object.__setattr__(self, "bits", bits.astype(np.uint8, copy=False))

    def __len__(self) -> int:
        return int(self.cohorts.shape[0])

    def __repr__(self) -> str:
        return f"RapporReports(n={len(self)}, k={self.bits.shape[1]})"


class BloomFamily:
    """The keyed hash family of a RAPPOR collection: ``m`` cohorts of ``h`` hash functions.

    Parameters
    ----------
    key
        The public family key (at most 64 bytes).
    num_bloombits, num_hashes, num_cohorts
        ``k``, ``h`` (at most 16) and ``m`` (validated by :class:`~privet.ldp.Rappor`).
    """

    def __init__(
        self, *, key: bytes, num_bloombits: int, num_hashes: int, num_cohorts: int
    ) -> None:
        self._key, self._k, self._h, self._m = key, num_bloombits, num_hashes, num_cohorts

    def positions(self, value: bytes, cohort: int) -> NDArray[np.int64]:
        """Return the ``h`` Bloom positions of one value in one cohort."""
        digest = hashlib.blake2b(
            cohort.to_bytes(4, "big") + value,
            key=self._key,
            person=_PERSON,
            digest_size=4 * self._h,
        ).digest()
        words = np.frombuffer(digest, dtype="<u4").astype(np.int64)
        return words % self._k

    def filters(self, values: object, cohorts: object) -> NDArray[np.uint8]:
        """Return the ``(n, k)`` Bloom filters; each distinct (cohort, value) is hashed once."""
        raw = as_value_bytes(values)
        coh = self.check_cohorts(cohorts, n=len(raw))
        out = np.zeros((len(raw), self._k), dtype=np.uint8)
        if not raw:
            return out
        ids: dict[bytes, int] = {}
        vid = np.fromiter((ids.setdefault(v, len(ids)) for v in raw), np.int64, len(raw))
        keys = vid * self._m + coh
        uniq, inverse = np.unique(keys, return_inverse=True)
        by_id = list(ids)
        patterns = np.zeros((uniq.shape[0], self._k), dtype=np.uint8)
        for row, key in enumerate(uniq.tolist()):
            patterns[row, self.positions(by_id[key // self._m], key % self._m)] = 1
        out[:] = patterns[inverse.reshape(-1)]
        return out

    def patterns(self, candidates: object) -> NDArray[np.uint8]:
        """Return every candidate's Bloom filter in every cohort: shape ``(m, k, M)``."""
        raw = as_value_bytes(candidates, name="candidates")
        out = np.zeros((self._m, self._k, len(raw)), dtype=np.uint8)
        for s, value in enumerate(raw):
            for j in range(self._m):
                out[j, self.positions(value, j), s] = 1
        return out

    def check_cohorts(self, cohorts: object, *, n: int) -> NDArray[np.int64]:
        """Return ``cohorts`` as an ``int64`` array of length ``n`` in ``[0, m)``."""
        arr = np.asarray(cohorts)
        if arr.shape != (n,) or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
            raise ParameterError(
                f"cohorts must be {n} integers (one per value), got shape {arr.shape} of "
                f"{arr.dtype}"
            )
        arr = arr.astype(np.int64, copy=False)
        if arr.size and (arr.min() < 0 or arr.max() >= self._m):
            raise ParameterError(
                f"cohorts must lie in [0, {self._m}), got values in "
                f"[{int(arr.min())}, {int(arr.max())}]"
            )
        return arr
