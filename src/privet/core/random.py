"""Secure randomness: :class:`SecureRandom`, the CSPRNG every mechanism and protocol uses.

The generator is AES-256 in counter mode (``cryptography``'s OpenSSL backend), keyed from the
operating system (``os.urandom``). Its keystream is written straight into preallocated numpy
memory, so every method is vectorised: no Python loop runs per element. numpy's global RNG and
the ``random`` module are never used.

* **Fork-safe.** Every live generator is rekeyed from ``os.urandom`` in a forked child
  (``os.register_at_fork``), and a pid check before each draw is a second guard: a child never
  repeats its parent's stream. A generator cannot be pickled or copied, for the same reason.
* **No key is ever shown.** The key is not kept as an attribute, and neither ``repr`` nor any
  error message contains key material.
* **Seeded generators are opt-in, for tests.** :meth:`SecureRandom.seeded` warns with
  :class:`~privet.errors.InsecureRandomWarning` and reports ``is_secure == False``.

Pass a generator explicitly (``rng=``); :func:`resolve_rng` turns ``None`` into a fresh
OS-keyed one. There is no global singleton.

Examples
--------
>>> rng = SecureRandom.seeded(7)  # reproducible, for tests only
>>> rng.integers(5, low=0, high=10).shape
(5,)
>>> SecureRandom().is_secure
True
"""

from __future__ import annotations

import builtins
import math
import numbers
import os
import threading
import warnings
import weakref
from fractions import Fraction
from typing import Any, Final, NoReturn

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from numpy.typing import NDArray

from privet.core import samplers
from privet.core.checks import check_finite, check_int, check_positive, check_probability
from privet.core.errors import (
    InsecureRandomWarning,
    ParameterError,
    ParameterTypeError,
    SecurityError,
)

__all__ = ["SecureRandom", "Size", "resolve_rng"]

Size = int | tuple[int, ...]
"""An output shape: a non-negative ``int`` or a tuple of them."""

_CHUNK: Final = 1 << 20
_ZEROS: Final = memoryview(builtins.bytes(_CHUNK))
_TWO64: Final = 1 << 64
_HKDF_SALT: Final = b"privet.core.random/seeded"
_HKDF_INFO: Final = b"AES-256-CTR key and initial counter, v1"

_LIVE: weakref.WeakSet[SecureRandom] = weakref.WeakSet()


def _rekey_all_after_fork() -> None:
    """Rekey every live generator in a freshly forked child (``os.register_at_fork``)."""
    for rng in list(_LIVE):
        rng._rekey()


if hasattr(os, "register_at_fork"):  # POSIX; where there is no fork, the pid check remains
    os.register_at_fork(after_in_child=_rekey_all_after_fork)


def _shape(size: object) -> tuple[tuple[int, ...], int]:
    """Validate ``size``; return the shape and the number of elements."""
    if isinstance(size, tuple | list):
        shape = tuple(check_int(s, name="size") for s in size)
    else:
        shape = (check_int(size, name="size"),)
    return shape, math.prod(shape)


def _seed_material(seed: object) -> builtins.bytes:
    """Encode a seed (a non-negative int or bytes) as tagged bytes for HKDF."""
    if isinstance(seed, builtins.bytes | bytearray):
        return b"bytes:" + builtins.bytes(seed)
    value = check_int(seed, name="seed")
    return b"int:" + value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


class SecureRandom:
    """A cryptographically secure random generator: AES-256-CTR keyed from ``os.urandom``.

    Every method returns numpy arrays of the requested ``size`` (an ``int`` or a shape
    tuple); numeric parameters are keyword-only. The exact methods (``integers``,
    ``bernoulli``, ``bernoulli_exp``, ``discrete_laplace``, ``discrete_gaussian``) produce
    their law exactly, by rejection in integer arithmetic; ``random`` and ``normal`` are
    float64 conveniences.

    A generator is safe to share between threads (draws are serialised) and is rekeyed in
    a forked child. It refuses to be pickled or copied: a copy would repeat the stream.

    Examples
    --------
    >>> rng = SecureRandom()
    >>> rng.bits(8).shape
    (8,)
    >>> rng
    SecureRandom(AES-256-CTR, secure)
    """

    __slots__ = ("__weakref__", "_encryptor", "_lock", "_pid", "_secure")

    _encryptor: CipherContext
    _lock: threading.Lock
    _pid: int
    _secure: bool

    def __init__(self) -> None:
        self._secure = True
        self._install(os.urandom(32), os.urandom(16))
        _LIVE.add(self)

    @classmethod
    def seeded(cls, seed: int | builtins.bytes) -> SecureRandom:
        """Return a reproducible, INSECURE generator for tests.

        The same AES-256-CTR, keyed by HKDF-SHA256 from ``seed``: the same seed gives the
        same stream in a fresh process. Anyone who knows or guesses the seed can predict
        every draw, so it must never protect real data. It emits
        :class:`~privet.errors.InsecureRandomWarning` and has ``is_secure == False``. A
        forked child is rekeyed from the OS all the same (it never repeats the parent).

        Parameters
        ----------
        seed
            A non-negative ``int`` or ``bytes``.

        Returns
        -------
        SecureRandom
            The seeded generator.

        Examples
        --------
        >>> a = SecureRandom.seeded(42).uint64(3)
        >>> b = SecureRandom.seeded(42).uint64(3)
        >>> bool((a == b).all())
        True
        >>> SecureRandom.seeded(42).is_secure
        False
        """
        material = _seed_material(seed)
        okm = HKDF(algorithm=hashes.SHA256(), length=48, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
            material
        )
        rng = cls.__new__(cls)
        rng._secure = False
        rng._install(okm[:32], okm[32:])
        _LIVE.add(rng)
        warnings.warn(
            "SecureRandom.seeded() makes a predictable generator: use it in tests only, "
            "never to protect real data (use SecureRandom() instead)",
            InsecureRandomWarning,
            stacklevel=2,
        )
        return rng

    # -- keystream -------------------------------------------------------------------------

    def _install(self, key: builtins.bytes, nonce: builtins.bytes) -> None:
        """Start a new AES-256-CTR stream; the key is not kept anywhere else."""
        self._encryptor = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _rekey(self) -> None:
        """Replace the key with a fresh one from the OS (used in a forked child)."""
        self._install(os.urandom(32), os.urandom(16))

    def _fill_view(self, view: memoryview) -> None:
        """Write keystream bytes into the writable byte view ``view``."""
        if os.getpid() != self._pid:  # second guard, should the fork hook not have run
            self._rekey()
        n = len(view)
        with self._lock:
            enc = self._encryptor
            off = 0
            while off < n:
                k = min(n - off, _CHUNK)
                enc.update_into(_ZEROS[:k], view[off : off + k])
                off += k

    def _words(self, n: int) -> NDArray[np.uint64]:
        """Return ``n`` uniform ``uint64`` words, without validation (internal fast path)."""
        out = np.empty(n, dtype=np.uint64)
        if n:
            self._fill_view(out.data.cast("B"))
        return out

    # -- introspection ---------------------------------------------------------------------

    @property
    def is_secure(self) -> bool:
        """``True`` for an OS-keyed generator, ``False`` for a :meth:`seeded` one."""
        return self._secure

    def __repr__(self) -> str:
        if self._secure:
            return "SecureRandom(AES-256-CTR, secure)"
        return "SecureRandom(AES-256-CTR, INSECURE: seeded, predictable, for tests only)"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise SecurityError(
            "a SecureRandom cannot be pickled or copied: the copy would repeat its stream; "
            "create a new SecureRandom() where it is needed"
        )

    def __copy__(self) -> NoReturn:
        self.__reduce_ex__(0)

    def __deepcopy__(self, memo: object) -> NoReturn:
        self.__reduce_ex__(0)

    # -- raw bytes -------------------------------------------------------------------------

    def bytes(self, n: int) -> builtins.bytes:
        """Return ``n`` random bytes.

        Parameters
        ----------
        n
            How many bytes (>= 0).

        Returns
        -------
        bytes
            The random bytes.

        Examples
        --------
        >>> len(SecureRandom().bytes(16))
        16
        """
        count = check_int(n, name="n")
        buf = bytearray(count)
        if count:
            self._fill_view(memoryview(buf))
        return builtins.bytes(buf)

    def fill(self, array: NDArray[Any]) -> None:
        """Overwrite a writable C-contiguous numpy array with random bytes, in place.

        Parameters
        ----------
        array
            A writable, C-contiguous array of a numeric dtype (not bool, not object).

        Raises
        ------
        ParameterTypeError
            If ``array`` is not a numpy array, or is of bool or object dtype.
        ParameterError
            If ``array`` is read-only or not C-contiguous.

        Examples
        --------
        >>> import numpy as np
        >>> a = np.zeros(1024, dtype=np.uint32)
        >>> SecureRandom.seeded(0).fill(a)
        >>> bool(a.any())
        True
        """
        if not isinstance(array, np.ndarray):
            raise ParameterTypeError(
                f"array must be a numpy.ndarray, got {type(array).__name__}; "
                "pass e.g. np.empty(n, dtype=np.uint8)"
            )
        if array.dtype.hasobject or array.dtype == np.bool_:
            raise ParameterTypeError(
                f"array has dtype {array.dtype}, which random bytes would corrupt; pass a "
                "numeric array (use bits() or bernoulli() for booleans)"
            )
        if not array.flags.writeable:
            raise ParameterError("array is read-only; pass a writable array")
        if not array.flags.c_contiguous:
            raise ParameterError(
                "array is not C-contiguous; pass np.ascontiguousarray(array) and use the result"
            )
        if array.size:
            self._fill_view(array.reshape(-1).view(np.uint8).data)

    def uint64(self, size: Size) -> NDArray[np.uint64]:
        """Return uniform 64-bit unsigned integers.

        Parameters
        ----------
        size
            The output shape.

        Returns
        -------
        numpy.ndarray
            ``uint64`` array of shape ``size``.

        Examples
        --------
        >>> SecureRandom().uint64((2, 3)).shape
        (2, 3)
        """
        shape, n = _shape(size)
        return self._words(n).reshape(shape)

    # -- uniform numbers -------------------------------------------------------------------

    def integers(self, size: Size, *, low: int, high: int) -> NDArray[np.int64]:
        """Return exact uniform integers in ``[low, high)``.

        Rejection sampling (a value out of range is drawn again, never reduced modulo the
        range), so every value has probability exactly ``1 / (high - low)``.

        Parameters
        ----------
        size
            The output shape.
        low
            The smallest value (>= -2**63).
        high
            One past the largest value (> ``low``, <= 2**63).

        Returns
        -------
        numpy.ndarray
            ``int64`` array of shape ``size``.

        Raises
        ------
        ParameterError
            If ``high <= low`` or the range leaves int64.

        Examples
        --------
        >>> x = SecureRandom.seeded(3).integers(1000, low=-5, high=5)
        >>> int(x.min()) >= -5 and int(x.max()) < 5
        True
        """
        shape, n = _shape(size)
        lo = check_int(low, name="low", minimum=-(1 << 63))
        hi = check_int(high, name="high", minimum=-(1 << 63))
        if hi <= lo:
            raise ParameterError(f"high must be > low, got low={lo}, high={hi}; pass high > low")
        if hi > 1 << 63:
            raise ParameterError(f"high must be <= 2**63 (int64 output), got {hi}")
        vals = samplers.uniform_below(self._words, n, hi - lo)
        return (vals + np.uint64(lo % _TWO64)).view(np.int64).reshape(shape)

    def random(self, size: Size) -> NDArray[np.float64]:
        """Return uniform floats in ``[0, 1)``, each with 53 random bits (``k / 2**53``).

        Parameters
        ----------
        size
            The output shape.

        Returns
        -------
        numpy.ndarray
            ``float64`` array of shape ``size``.

        Examples
        --------
        >>> u = SecureRandom().random(1000)
        >>> bool((u >= 0).all() and (u < 1).all())
        True
        """
        shape, n = _shape(size)
        return self._unit_floats(n).reshape(shape)

    def _unit_floats(self, n: int) -> NDArray[np.float64]:
        out: NDArray[np.float64] = (self._words(n) >> np.uint64(11)).astype(np.float64)
        out *= 2.0**-53
        return out

    def bits(self, size: Size) -> NDArray[np.uint8]:
        """Return fair random bits as ``uint8`` 0/1 (one keystream bit each).

        Parameters
        ----------
        size
            The output shape.

        Returns
        -------
        numpy.ndarray
            ``uint8`` array of 0s and 1s, of shape ``size``.

        Examples
        --------
        >>> b = SecureRandom().bits(100)
        >>> sorted(set(b.tolist())) <= [0, 1]
        True
        """
        shape, n = _shape(size)
        raw = np.empty((n + 7) // 8, dtype=np.uint8)
        if raw.size:
            self._fill_view(raw.data)
        return np.unpackbits(raw)[:n].reshape(shape)

    def bernoulli(self, size: Size, *, p: float | Fraction) -> NDArray[np.bool_]:
        """Return exact Bernoulli(``p``) draws.

        ``p`` is used at its exact rational value (a float is a dyadic rational): a 64-bit
        word ``x`` gives ``x < floor(p·2**64)`` → True, ``x > floor(p·2**64)`` → False, and
        a tie (probability 2**-64) is resolved by a fresh draw on the remaining fraction.

        Parameters
        ----------
        size
            The output shape.
        p
            The probability of True, in ``[0, 1]`` (float, int or Fraction).

        Returns
        -------
        numpy.ndarray
            ``bool`` array of shape ``size``.

        Raises
        ------
        ParameterError
            If ``p`` is NaN or outside ``[0, 1]``.

        Examples
        --------
        >>> SecureRandom().bernoulli(4, p=1.0).tolist()
        [True, True, True, True]
        """
        shape, n = _shape(size)
        check_probability(p, name="p")
        exact = Fraction(p) if isinstance(p, numbers.Rational | float) else Fraction(float(p))
        return self._bernoulli_exact(n, exact).reshape(shape)

    def _bernoulli_exact(self, n: int, p: Fraction) -> NDArray[np.bool_]:
        if p >= 1:
            return np.ones(n, dtype=np.bool_)
        scaled = p * _TWO64
        thr = math.floor(scaled)
        rest = scaled - thr
        x = self._words(n)
        t = np.uint64(thr)
        out = x < t
        if rest:
            ties = np.flatnonzero(x == t)
            if ties.size:
                out[ties] = self._bernoulli_exact(ties.size, rest)
        return out

    def normal(self, size: Size, *, loc: float = 0.0, scale: float = 1.0) -> NDArray[np.float64]:
        """Return normal (Gaussian) floats, by the Box–Muller transform on secure uniforms.

        Float64 maths (not an exact sampler): use :meth:`discrete_gaussian` where a privacy
        proof needs the exact law.

        Parameters
        ----------
        size
            The output shape.
        loc
            The mean (finite).
        scale
            The standard deviation (finite, > 0).

        Returns
        -------
        numpy.ndarray
            ``float64`` array of shape ``size``.

        Examples
        --------
        >>> SecureRandom().normal((2, 2), loc=1.0, scale=0.5).shape
        (2, 2)
        """
        shape, n = _shape(size)
        mu = check_finite(loc, name="loc")
        sd = check_positive(scale, name="scale")
        m = (n + 1) // 2
        u = self._unit_floats(2 * m)
        radius = np.sqrt(-2.0 * np.log1p(-u[:m]))  # 1 - u ∈ (0, 1]: log never sees 0
        theta = (2.0 * np.pi) * u[m:]
        z = np.empty(2 * m, dtype=np.float64)
        np.multiply(radius, np.cos(theta), out=z[:m])
        np.multiply(radius, np.sin(theta), out=z[m:])
        out = z[:n]
        if sd != 1.0:
            out *= sd
        if mu != 0.0:
            out += mu
        return out.reshape(shape)

    # -- exact samplers for differential privacy (CKS20, arXiv:2004.00010) -----------------

    def bernoulli_exp(self, size: Size, *, numerator: int, denominator: int) -> NDArray[np.bool_]:
        """Return exact Bernoulli(exp(-γ)) draws, γ = ``numerator / denominator`` >= 0.

        Canonne, Kamath & Steinke 2020 (arXiv:2004.00010), Algorithm 1, on whole arrays.

        Parameters
        ----------
        size
            The output shape.
        numerator
            γ's numerator, an ``int`` >= 0 (any size).
        denominator
            γ's denominator, an ``int`` in ``[1, 2**64)``.

        Returns
        -------
        numpy.ndarray
            ``bool`` array of shape ``size``; True with probability ``exp(-γ)``.

        Examples
        --------
        >>> SecureRandom().bernoulli_exp(3, numerator=0, denominator=1).tolist()
        [True, True, True]
        """
        shape, n = _shape(size)
        num = check_int(numerator, name="numerator")
        den = check_int(denominator, name="denominator", minimum=1)
        if den >= _TWO64:
            raise ParameterError(
                f"denominator must be < 2**64, got {den}; reduce the fraction or round γ"
            )
        g = math.gcd(num, den)
        num, den = num // g, den // g
        whole, rem = divmod(num, den)
        rems = np.full(n, rem, dtype=np.uint64)
        return samplers.bernoulli_exp(self._words, whole, rems, den).reshape(shape)

    def discrete_laplace(self, size: Size, *, scale: int | Fraction) -> NDArray[np.int64]:
        """Return exact discrete Laplace samples: ``P(z) ∝ exp(-|z| / scale)`` on the integers.

        Canonne, Kamath & Steinke 2020 (arXiv:2004.00010), Algorithm 2, on whole arrays.

        Parameters
        ----------
        size
            The output shape.
        scale
            A positive ``int`` or :class:`fractions.Fraction`, numerator and denominator at
            most ``2**48``. Floats are refused: convert one yourself (``Fraction("0.1")``,
            ``Fraction(x).limit_denominator(10**6)``) so that the rounding is your choice.

        Returns
        -------
        numpy.ndarray
            ``int64`` array of shape ``size``.

        Raises
        ------
        ParameterTypeError
            If ``scale`` is a float or not a number.
        ParameterError
            If ``scale`` is not > 0 or its terms are too large.

        Examples
        --------
        >>> from fractions import Fraction
        >>> SecureRandom.seeded(1).discrete_laplace(5, scale=Fraction(3, 2)).dtype.name
        'int64'
        """
        shape, n = _shape(size)
        sc = samplers.as_rational(scale, name="scale")
        return samplers.discrete_laplace(self._words, n, sc).reshape(shape)

    def discrete_gaussian(self, size: Size, *, sigma_squared: int | Fraction) -> NDArray[np.int64]:
        """Return exact discrete Gaussian samples: ``P(z) ∝ exp(-z² / (2σ²))`` on the integers.

        Canonne, Kamath & Steinke 2020 (arXiv:2004.00010), Algorithm 3, on whole arrays.

        Parameters
        ----------
        size
            The output shape.
        sigma_squared
            σ², a positive ``int`` or :class:`fractions.Fraction` p/q with
            ``2·p·q·(floor(σ)+1)² < 2**61`` (an integer σ² up to about 10**9). Floats are
            refused, as for :meth:`discrete_laplace`.

        Returns
        -------
        numpy.ndarray
            ``int64`` array of shape ``size``.

        Raises
        ------
        ParameterTypeError
            If ``sigma_squared`` is a float or not a number.
        ParameterError
            If ``sigma_squared`` is not > 0 or is outside the supported range.

        Examples
        --------
        >>> SecureRandom.seeded(1).discrete_gaussian((2, 3), sigma_squared=10).shape
        (2, 3)
        """
        shape, n = _shape(size)
        s2 = samplers.as_rational(sigma_squared, name="sigma_squared")
        return samplers.discrete_gaussian(self._words, n, s2).reshape(shape)


def resolve_rng(rng: SecureRandom | None) -> SecureRandom:
    """Return ``rng``, or a fresh OS-keyed :class:`SecureRandom` when it is ``None``.

    Parameters
    ----------
    rng
        A generator, or ``None``.

    Returns
    -------
    SecureRandom
        The generator to use.

    Raises
    ------
    ParameterTypeError
        If ``rng`` is neither ``None`` nor a :class:`SecureRandom` (e.g. a numpy Generator).

    Examples
    --------
    >>> resolve_rng(None).is_secure
    True
    """
    if rng is None:
        return SecureRandom()
    if not isinstance(rng, SecureRandom):
        raise ParameterTypeError(
            f"rng must be a privet SecureRandom or None, got {type(rng).__name__}; "
            "pass SecureRandom() (or SecureRandom.seeded(seed) in tests)"
        )
    return rng
