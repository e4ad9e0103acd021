"""Fixed-point encoding of reals in Z_2^64, with the representable range checked.

A real ``x`` is stored as the ring element ``round(x * 2^f) mod 2^64`` (two's complement),
``f`` fractional bits (16 by default). One unit in the last place (ulp) is ``2^-f``.

Ranges (``f = 16``)
-------------------
* **Storage and addition**: ``|x| < 2^(62-f)`` (= 2^46 ≈ 7.0e13). Every encoded input and
  public constant is checked against it: a value outside gives a
  :class:`~privet.errors.ParameterError` (the values themselves are never shown: they may be
  secret). The dealer truncation adds a bias of 2^62 and needs the biased value to stay
  below 2^63 (:mod:`privet.smpc.truncation`), hence 62 rather than 63.
* **Comparison**: ``x < y`` reads the sign bit of ``x - y`` in two's complement, so it needs
  ``|x - y| < 2^(63-f)``, which any two values inside the storage range satisfy.
* **Multiplication**: the product of two fixed-point values carries ``2f`` fractional bits
  before truncation, so it must satisfy ``|x * y| < 2^(62-2f)`` (= 2^30 ≈ 1.07e9). Outside,
  the ring wraps silently (nothing in the shares can detect it without revealing): keep the
  intermediate values of a computation inside this range.
* **Precision**: encoding rounds to the nearest multiple of 2^-f (error ≤ 2^-(f+1)); each
  truncation adds at most one ulp (see :mod:`privet.smpc.truncation`).

Integers (comparison results, indices) are tensors with ``frac_bits = 0``: alone they may
reach ``|i| < 2^62``; an operation with a real first scales them by ``2^f``, so there they
must satisfy the reals' ``|i| < 2^(62-f)`` (not checked: it would reveal them).

Examples
--------
>>> import numpy as np
>>> fp = FixedPoint()
>>> fp.decode(fp.encode(np.array([1.5, -2.25])))
array([ 1.5 , -2.25])
>>> fp.max_abs
70368744177664.0
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privet.core.checks import check_int
from privet.core.errors import ParameterError, ParameterTypeError
from privet.smpc.ring import Ring, from_signed, to_signed

__all__ = ["DEFAULT_FRAC_BITS", "MAGNITUDE_BITS", "FixedPoint"]

DEFAULT_FRAC_BITS: Final = 16
"""Fractional bits used unless configured otherwise."""

MAGNITUDE_BITS: Final = 62
"""Encoded values must satisfy ``|v| < 2^MAGNITUDE_BITS`` (ring units)."""


def _as_float_array(x: ArrayLike, *, name: str) -> NDArray[np.float64]:
    arr = np.asarray(x)
    if arr.dtype == object and all(isinstance(v, int) for v in arr.reshape(-1)):
        raise ParameterError(  # numpy keeps ints beyond 64 bits as Python objects
            f"{name}: integers beyond 64 bits are outside the representable range "
            f"|x| < 2^{MAGNITUDE_BITS} (2^(62-f) for reals); rescale the data"
        )
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ParameterTypeError(
            f"{name} must be a numeric array, got dtype {arr.dtype}; pass floats or ints"
        )
    return np.asarray(arr, dtype=np.float64)


class FixedPoint:
    """The fixed-point codec: ``f`` fractional bits in Z_2^64.

    Parameters
    ----------
    frac_bits
        Fractional bits ``f``, in ``0..30`` (16 by default). Larger ``f`` is finer but
        shrinks the multiplication range ``|x * y| < 2^(62 - 2f)``.

    Examples
    --------
    >>> FixedPoint(8).encode(np.array([0.5])).tolist()
    [128]
    >>> FixedPoint().encode(np.array([1e15]))
    Traceback (most recent call last):
    ...
    privet.core.errors.ParameterError: input: 1 value(s) outside the representable range ...
    """

    __slots__ = ("_f",)

    def __init__(self, frac_bits: int = DEFAULT_FRAC_BITS) -> None:
        f = check_int(frac_bits, name="frac_bits")
        if f > 30:
            raise ParameterError(
                f"frac_bits must be in 0..30, got {f}; products need 2*frac_bits < 62 bits "
                "of room (16 is the usual choice)"
            )
        self._f = f

    @property
    def frac_bits(self) -> int:
        """The number of fractional bits ``f``."""
        return self._f

    @property
    def scale(self) -> int:
        """``2^f``: one real unit in ring units."""
        return 1 << self._f

    @property
    def ulp(self) -> float:
        """``2^-f``: the resolution."""
        return 2.0**-self._f

    @property
    def max_abs(self) -> float:
        """The storage bound: encoded reals satisfy ``|x| < 2^(62-f)``."""
        return 2.0 ** (MAGNITUDE_BITS - self._f)

    @property
    def max_product(self) -> float:
        """The multiplication bound: a product must satisfy ``|x*y| < 2^(62-2f)``."""
        return 2.0 ** (MAGNITUDE_BITS - 2 * self._f)

    def encode(self, x: ArrayLike, *, frac_bits: int | None = None, name: str = "input") -> Ring:
        """Encode reals (or ints, with ``frac_bits=0``) as ring elements.

        Parameters
        ----------
        x
            Array-like of finite numbers.
        frac_bits
            Fractional bits to use (default: the codec's ``f``).
        name
            How the value is called in error messages.

        Returns
        -------
        numpy.ndarray
            ``uint64`` ring elements, same shape as ``x``.

        Raises
        ------
        ParameterError
            If a value is NaN/infinite or outside ``|x| < 2^(62 - frac_bits)``; the message
            gives the count and the bound, never the values.
        ParameterTypeError
            If ``x`` is not numeric.
        """
        f = self._f if frac_bits is None else frac_bits
        arr = np.asarray(x)
        if arr.dtype.kind in "biu" and arr.dtype.kind != "b" and f == 0:
            ints = np.asarray(arr, dtype=object) if arr.dtype == np.uint64 else arr
            bound = 1 << MAGNITUDE_BITS  # no np.abs: it overflows on the smallest int64
            big = (ints >= bound) | (ints <= -bound)
            self._refuse(int(np.count_nonzero(big)), 0, name, f)
            return from_signed(np.asarray(arr, dtype=np.int64))
        vals = _as_float_array(arr, name=name)
        finite = np.isfinite(vals)
        if not finite.all():
            raise ParameterError(
                f"{name}: {int(np.count_nonzero(~finite))} value(s) are NaN or infinite; "
                "replace them before sharing (values not shown: they may be secret)"
            )
        scaled = np.rint(vals * float(1 << f))
        bad = np.abs(scaled) >= 2.0**MAGNITUDE_BITS
        self._refuse(int(np.count_nonzero(bad)), f, name, f)
        return from_signed(scaled.astype(np.int64))

    def _refuse(self, count: int, f: int, name: str, frac_bits: int) -> None:
        if count:
            bound = 2.0 ** (MAGNITUDE_BITS - frac_bits)
            raise ParameterError(
                f"{name}: {count} value(s) outside the representable range |x| < "
                f"2^{MAGNITUDE_BITS - frac_bits} = {bound:.4g} for {frac_bits} fractional bits "
                "(values not shown: they may be secret); rescale the data or use fewer "
                "fractional bits"
            )

    def decode(self, v: Ring, *, frac_bits: int | None = None) -> NDArray[Any]:
        """Decode ring elements: ``float64`` when ``frac_bits > 0``, else ``int64``.

        Parameters
        ----------
        v
            ``uint64`` ring elements.
        frac_bits
            Fractional bits (default: the codec's ``f``).

        Returns
        -------
        numpy.ndarray
            The decoded values.
        """
        f = self._f if frac_bits is None else frac_bits
        signed = to_signed(np.asarray(v, dtype=np.uint64))
        if f == 0:
            return np.array(signed, dtype=np.int64)
        return np.asarray(signed.astype(np.float64) / float(1 << f))

    def __repr__(self) -> str:
        return f"FixedPoint(frac_bits={self._f})"
