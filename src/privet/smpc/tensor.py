"""The user-facing shared tensor: numpy-like operators on secret-shared values.

A :class:`SharedTensor` is a handle: the driver's register id, the shape, and the number of
fractional bits (``frac_bits``: the cluster's ``f`` for reals, 0 for integers such as
comparison results). Its values exist only as shares held by the parties; the handle holds
none, and its ``repr`` shows only the shape.

Operators (the other operand may be a shared tensor, or a public number/array):

* ``+``, ``-``, unary ``-``: local, free;
* ``*`` (Beaver; ``x * x`` uses a cheaper square), ``@`` (Beaver matmul), ``**`` (int
  powers): one round each, plus the truncation of :mod:`privet.smpc.truncation` when both
  sides are fixed point; a public operand is local (a public real still needs truncation);
* ``/``: by a public value ``c``: ``x`` times ``m / 2^b`` with ``m = trunc(2^b / c)``, then
  one truncation (``_div_public``). ``b = f + g + lift``, ``g = 8`` guard bits (0 in local
  truncation mode). ``lift = 0`` for ``|c| <= 2^g``; beyond, so that ``m`` keeps its
  significant bits, a real ``x`` first drops ``lift = min(f, ⌈log2|c|⌉ - g/2)`` fractional
  bits (one more truncation) and an integer ``x`` gets ``lift = ⌈log2|c|⌉ - g``. The error
  is at most ``|x|·2^-b + (1 + 2^lift/|c|)·2^-f`` (the ``2^lift/|c|`` only for a real
  ``x`` with a lift): for ``f = 16`` in the default mode, ``|x|·2^-24 + 2^-16`` up to
  ``|c| = 2^8``, ``|x/c|·2^-20 + 1.13·2^-16`` up to ``2^20``, ``|x|·2^-40 + 1.13·2^-16``
  beyond. Range: a real ``x`` needs ``|x/c| < 2^(62-2f-g)`` (2^22 for ``f = 16``; in local
  mode SecureML's failure probability applies too), an integer ``x`` ``|x/c| < 2^(62-f-g)``
  and, beyond ``|c| = 2^g``, ``|x| < 2^(61-f)``. For an array ``c`` the lift follows its
  smallest ``|c|``; or divide by a shared value (:func:`privet.smpc.divide`);
* ``<``, ``>``, ``<=``, ``>=``: shared 0/1 integers (:mod:`privet.smpc.comparison`);
* ``.sum()``, ``.mean()``, ``.reshape()``, ``.T``, ``[basic index]``.

``.reveal(to=None)`` opens the value to one client (default: the driver) and returns it:
``float64`` for fixed point, ``int64`` for integers. Truth tests, ``numpy.asarray`` and
pickling are refused: each would leak or copy the secret silently.

Examples
--------
>>> from privet.smpc import InProcessCluster
>>> with InProcessCluster(parties=2) as cluster:
...     x = cluster.share([1.5, -2.0, 3.0])
...     y = cluster.share([2.0, 2.0, 2.0])
...     print((x * y).reveal(), (x < y).reveal(), float(x.sum().reveal()))
[ 3. -4.  6.] [1 1 0] 2.5
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privet.core.errors import ParameterError, ParameterTypeError
from privet.smpc import ring

if TYPE_CHECKING:
    from privet.smpc.driver import Driver

__all__ = [
    "SharedTensor",
    "concatenate",
    "ltz",
    "mul_to",
    "public",
    "rectify",
    "relabel",
    "stack",
    "take",
]

U64 = np.uint64


class SharedTensor:
    """A secret-shared array (see the module docstring). Made by a cluster, never directly.

    Attributes
    ----------
    shape
        The array's shape.
    frac_bits
        Fractional bits of the fixed-point encoding (0: integers).
    """

    __slots__ = ("__weakref__", "_driver", "frac_bits", "reg", "shape")
    __array_ufunc__ = None  # numpy defers to our reflected operators (arr < x works)

    def __init__(self, driver: Driver, reg: int, shape: tuple[int, ...], frac_bits: int) -> None:
        self._driver = driver
        self.reg = reg
        self.shape = tuple(int(s) for s in shape)
        self.frac_bits = frac_bits

    # -- facts ---------------------------------------------------------------------------

    @property
    def driver(self) -> Driver:
        """The driver (cluster) this tensor lives in."""
        return self._driver

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_integer(self) -> bool:
        """Whether the tensor holds integers (``frac_bits == 0``)."""
        return self.frac_bits == 0

    def __len__(self) -> int:
        if not self.shape:
            raise ParameterTypeError("len() of a 0-d shared tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        kind = "int" if self.is_integer else f"fixed<{self.frac_bits}>"
        return f"SharedTensor(shape={self.shape}, {kind}, parties={self._driver.parties})"

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown there is nothing to free
            self._driver.release(self.reg)

    # -- refusals ------------------------------------------------------------------------

    def __bool__(self) -> bool:
        raise ParameterTypeError(
            "a shared value has no truth value (branching on it would reveal it); use "
            "privet.smpc.where(cond, a, b) or reveal() explicitly"
        )

    def __array__(self, *args: Any, **kwargs: Any) -> NDArray[Any]:
        raise ParameterTypeError("a SharedTensor cannot become a numpy array; call .reveal()")

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise ParameterTypeError(
            "a SharedTensor is a handle into a running cluster; it cannot be pickled"
        )

    def __iter__(self) -> Any:
        raise ParameterTypeError("iterate over a shared tensor by indexing, e.g. x[i]")

    # -- opening -------------------------------------------------------------------------

    def reveal(self, to: str | None = None) -> NDArray[Any]:
        """Open the value to client ``to`` alone (default: the driver) and return it.

        Parameters
        ----------
        to
            A client name of the cluster (``None``: the driver). The parties send their
            shares to that endpoint only.

        Returns
        -------
        numpy.ndarray
            ``float64`` for fixed point, ``int64`` for integers. A float64 holds the ring
            value exactly while ``|x| < 2^(53-f)`` (1.4e11 for ``f = 16``); beyond, it is
            the nearest float64.
        """
        return self._driver.reveal(self, to=to)

    # -- arithmetic ----------------------------------------------------------------------

    def __add__(self, other: Any) -> SharedTensor:
        with self._driver.op("add"):
            return _add(self, other)

    def __radd__(self, other: Any) -> SharedTensor:
        with self._driver.op("add"):
            return _add(self, other)

    def __sub__(self, other: Any) -> SharedTensor:
        with self._driver.op("sub"):
            return _sub(self, other)

    def __rsub__(self, other: Any) -> SharedTensor:
        with self._driver.op("sub"):
            return _add(_neg(self), other)

    def __neg__(self) -> SharedTensor:
        with self._driver.op("neg"):
            return _neg(self)

    def __mul__(self, other: Any) -> SharedTensor:
        with self._driver.op("mul"):
            return _mul(self, other)

    def __rmul__(self, other: Any) -> SharedTensor:
        with self._driver.op("mul"):
            return _mul(self, other)

    def __matmul__(self, other: Any) -> SharedTensor:
        with self._driver.op("matmul"):
            return _linear("matmul", self, other, {})

    def __rmatmul__(self, other: Any) -> SharedTensor:
        with self._driver.op("matmul"):
            return _linear_public_left("matmul", other, self, {})

    def __pow__(self, exponent: int) -> SharedTensor:
        if isinstance(exponent, bool) or not isinstance(exponent, numbers.Integral) or exponent < 1:
            raise ParameterError(f"only integer powers >= 1 are supported, got {exponent!r}")
        with self._driver.op("pow"):
            return _power(self, int(exponent))

    def __truediv__(self, other: Any) -> SharedTensor:
        if isinstance(other, SharedTensor):
            from privet.smpc.nonlinear import divide

            return divide(self, other)
        c = _as_public(other)
        if c.dtype.kind not in "biuf":
            raise ParameterTypeError(f"cannot divide by dtype {c.dtype}")
        if (c == 0).any():
            raise ParameterError("division by a public zero; remove the zero divisors")
        if c.dtype.kind == "f" and not np.isfinite(c).all():
            raise ParameterError("division by a public NaN or infinity; pass finite divisors")
        with self._driver.op("div"):
            return _div_public(self, c.astype(np.float64))

    def __rtruediv__(self, other: Any) -> SharedTensor:
        """``c / x``: ``c`` times :func:`~privet.smpc.reciprocal` (its domain applies)."""
        from privet.smpc.nonlinear import reciprocal

        c = _as_public(other)
        with self._driver.op("rdiv"):
            return _mul(reciprocal(self), c.astype(np.float64))

    def __abs__(self) -> SharedTensor:
        """``|x|``, as :func:`privet.smpc.abs`."""
        from privet.smpc.comparison import abs as shared_abs

        return shared_abs(self)

    # -- comparisons ---------------------------------------------------------------------

    def __lt__(self, other: Any) -> SharedTensor:
        with self._driver.op("lt"):
            return ltz(_sub(self, other))

    def __gt__(self, other: Any) -> SharedTensor:
        with self._driver.op("gt"):
            return ltz(_rsub(self, other))

    def __le__(self, other: Any) -> SharedTensor:
        with self._driver.op("le"):
            return _add(_neg(ltz(_rsub(self, other))), 1)

    def __ge__(self, other: Any) -> SharedTensor:
        with self._driver.op("ge"):
            return _add(_neg(ltz(_sub(self, other))), 1)

    def __eq__(self, other: object) -> SharedTensor:  # type: ignore[override]
        """Elementwise ``[self == other]`` as shared 0/1 integers (:func:`~privet.smpc.equal`).

        As for numpy arrays and torch tensors, ``==`` compares elements; the tensor still
        hashes by identity, and using the result as a truth value raises. Anything but a
        shared tensor or numbers (``None``, a string) is not equal, as for numpy.
        """
        from privet.smpc.comparison import equal  # comparison builds on this module

        if not _comparable(other):
            return NotImplemented
        return equal(self, other)

    def __ne__(self, other: object) -> SharedTensor:  # type: ignore[override]
        """Elementwise ``[self != other]`` as shared 0/1 integers."""
        from privet.smpc.comparison import equal

        if not _comparable(other):
            return NotImplemented
        with self._driver.op("ne"):
            return _add(_neg(equal(self, other)), 1)

    __hash__ = object.__hash__  # identity, as for torch tensors: == is elementwise

    # -- reductions and shape ------------------------------------------------------------

    def sum(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> SharedTensor:
        """Sum over ``axis`` (all by default); local, no communication."""
        with self._driver.op("sum"):
            return _sum(self, axis, keepdims)

    def mean(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> SharedTensor:
        """Mean over ``axis``: the sum times the public ``1/count`` (one truncation).

        As for division by a public value (module docstring): the mean must satisfy
        ``|mean| < 2^(62-2f-8)``; for ``f = 16`` the error is at most
        ``|sum|·2^-24 + 2^-16`` up to a count of 2^8 and ``|mean|·2^-20 + 1.13·2^-16`` from
        there to 2^20.
        """
        axes = _axes(axis, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes], dtype=np.int64))
        if count == 0:
            raise ParameterError(
                f"mean over an empty axis of shape {self.shape}: numpy gives NaN, which fixed "
                "point cannot hold; check the shape"
            )
        with self._driver.op("mean"):
            return _div_public(_sum(self, axis, keepdims), np.array(float(count)))

    def max(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> SharedTensor:
        """Maximum over ``axis`` (all by default, as numpy); see :func:`privet.smpc.max`."""
        from privet.smpc.comparison import max as shared_max

        if self.ndim == 0 and axis is None:
            return self
        return shared_max(self, axis=axis, keepdims=keepdims)

    def min(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> SharedTensor:
        """Minimum over ``axis`` (all by default, as numpy); see :func:`privet.smpc.min`."""
        from privet.smpc.comparison import min as shared_min

        if self.ndim == 0 and axis is None:
            return self
        return shared_min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> SharedTensor:
        """Index of the maximum (flat by default, as numpy); see :func:`privet.smpc.argmax`."""
        from privet.smpc.comparison import argmax

        return argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> SharedTensor:
        """Index of the minimum (flat by default, as numpy); see :func:`privet.smpc.argmin`."""
        from privet.smpc.comparison import argmin

        return argmin(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> SharedTensor:
        """Return the tensor with a new shape (local)."""
        target = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape
        try:
            new = np.broadcast_to(np.zeros((), bool), self.shape).reshape(target).shape
        except ValueError:
            raise ParameterError(f"cannot reshape {self.shape} to {tuple(target)}") from None
        with self._driver.op("reshape"):
            return self._driver.emit(
                "reshape", tuple(new), self.frac_bits, {"x": self.reg, "shape": list(new)}
            )

    def flatten(self) -> SharedTensor:
        """Return a 1-D view of the values (local)."""
        return self.reshape(self.size)

    def transpose(self, *axes: int) -> SharedTensor:
        """Permute the axes (reversed by default); local."""
        perm = list(axes[0] if len(axes) == 1 and isinstance(axes[0], tuple | list) else axes)
        if not perm:
            perm = list(range(self.ndim))[::-1]
        if all(isinstance(a, numbers.Integral) and -self.ndim <= int(a) < self.ndim for a in perm):
            perm = [int(a) % self.ndim for a in perm]  # negative axes, as numpy
        if sorted(perm) != list(range(self.ndim)):
            raise ParameterError(f"axes {perm} are not a permutation of {self.ndim} axes")
        shape = tuple(self.shape[a] for a in perm)
        with self._driver.op("transpose"):
            return self._driver.emit(
                "transpose", shape, self.frac_bits, {"x": self.reg, "axes": perm}
            )

    @property
    def T(self) -> SharedTensor:
        """The transpose."""
        return self.transpose()

    def __getitem__(self, index: Any) -> SharedTensor:
        spec = self._driver.index_args(index)
        try:
            shape = np.broadcast_to(np.zeros((), bool), self.shape)[index].shape
        except (IndexError, TypeError):
            raise ParameterError(f"index {index!r} does not fit shape {self.shape}") from None
        with self._driver.op("index"):
            return self._driver.emit(
                "index", tuple(shape), self.frac_bits, {"x": self.reg, "index": spec}
            )

    def broadcast_to(self, shape: tuple[int, ...]) -> SharedTensor:
        """Return the tensor broadcast to ``shape`` (local; materialised)."""
        try:
            np.broadcast_shapes(self.shape, tuple(shape))
            new = np.broadcast_to(np.zeros(self.shape, bool), tuple(shape)).shape
        except ValueError:
            raise ParameterError(f"cannot broadcast {self.shape} to {tuple(shape)}") from None
        return self._driver.emit(
            "broadcast", tuple(new), self.frac_bits, {"x": self.reg, "shape": list(new)}
        )


# -- helpers ----------------------------------------------------------------------------


def _as_public(value: Any) -> NDArray[Any]:
    if isinstance(value, SharedTensor):
        raise ParameterTypeError("expected a public value, got a SharedTensor")
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ParameterTypeError(
            f"a public operand must be numeric, got {type(value).__name__} of dtype {arr.dtype}"
        )
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)  # numpy refuses -True; 0/1 as integers
    if arr.dtype.kind == "u":  # unsigned: -u wraps, and uint64 >= 2^63 wraps in int64
        big = arr.size and int(arr.max()) >= 2**63
        return arr.astype(np.float64 if big else np.int64)  # a float that big is refused
    return arr


def _encode_public(t: SharedTensor, value: Any) -> tuple[NDArray[np.uint64], int]:
    """Encode a public operand: integers exactly (frac 0), reals at the cluster's ``f``."""
    arr = _as_public(value)
    driver = t.driver
    if arr.dtype.kind in "biu":
        return driver.codec.encode(arr.astype(np.int64), frac_bits=0, name="constant"), 0
    return driver.codec.encode(arr, name="constant"), driver.frac_bits


def _rescale(t: SharedTensor, frac: int) -> SharedTensor:
    """Raise ``t`` to ``frac`` fractional bits (a local multiplication by 2^k)."""
    if t.frac_bits >= frac:
        return t
    k = np.array(1 << (frac - t.frac_bits), dtype=U64)
    return t.driver.emit(
        "mul_const",
        t.shape,
        frac,
        {"x": t.reg, "shape": list(t.shape), "trunc": 0, "mode": t.driver.truncation},
        [k],
    )


def _bshape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise ParameterError(f"shapes {a} and {b} cannot be broadcast together") from None


def _add(a: SharedTensor, other: Any) -> SharedTensor:
    d = a.driver
    if isinstance(other, SharedTensor):
        _same_cluster(a, other)
        frac = max(a.frac_bits, other.frac_bits)
        x, y = _rescale(a, frac), _rescale(other, frac)
        return d.emit("add", _bshape(x.shape, y.shape), frac, {"x": x.reg, "y": y.reg})
    c, cfrac = _encode_public(a, other)
    x = _rescale(a, cfrac)
    if cfrac < x.frac_bits:
        c = d.codec.encode(
            _as_public(other).astype(np.float64), frac_bits=x.frac_bits, name="constant"
        )
    return d.emit("add_const", _bshape(x.shape, c.shape), x.frac_bits, {"x": x.reg}, [c])


def _neg(a: SharedTensor) -> SharedTensor:
    return a.driver.emit("neg", a.shape, a.frac_bits, {"x": a.reg})


def _sub(a: SharedTensor, other: Any) -> SharedTensor:
    if isinstance(other, SharedTensor):
        _same_cluster(a, other)
        frac = max(a.frac_bits, other.frac_bits)
        x, y = _rescale(a, frac), _rescale(other, frac)
        return a.driver.emit("sub", _bshape(x.shape, y.shape), frac, {"x": x.reg, "y": y.reg})
    return _add(a, -_as_public(other))


def _rsub(a: SharedTensor, other: Any) -> SharedTensor:
    """``other - a``."""
    if isinstance(other, SharedTensor):
        return _sub(other, a)
    return _add(_neg(a), other)


DIV_GUARD_BITS = 8
"""Extra fractional bits of ``1/c`` in a division by a public ``c`` (not in local mode)."""


def _div_public(t: SharedTensor, c: NDArray[np.float64]) -> SharedTensor:
    """Return ``t / c`` for a public non-zero ``c``: ``t`` times ``1/c``, one truncation.

    ``1/c`` is encoded as the integer ``m = trunc(2^b / c)`` (toward zero, so ``|m|`` never
    exceeds ``2^b/|c|`` and the product stays inside the range the truncation needs) with
    ``b = f + g + lift`` fractional bits, ``g`` = :data:`DIV_GUARD_BITS` (0 in local mode,
    where SecureML's failure probability grows with the product). With ``lift = 0`` a
    divisor above ``2^g`` would leave ``m`` fewer than ``f`` significant bits (the mean of
    10^6 values was 1.3% off). So for such a divisor a real ``t`` first drops ``lift`` of
    its fractional bits (one truncation more, costing the quotient ``2^lift/|c|`` ulp at
    most) and ``m`` gets ``lift`` more: the product is as large as without the lift, and
    ``m`` keeps ``f + g/2`` significant bits. An integer ``t`` has no fractional bits to
    drop; ``m`` keeps ``f`` bits and the product grows (hence the bound on ``|x|`` in the
    module docstring). Bounds: module docstring.
    """
    d = t.driver
    f, a = d.frac_bits, t.frac_bits
    g = 0 if d.truncation == "local" else DIV_GUARD_BITS
    over = int(np.ceil(np.log2(np.min(np.abs(c))))) - g if c.size else 0  # bits above 2^g
    # a real drops at most its a bits; an integer's truncation by g + lift stays <= 62
    lift = 0 if over <= 0 else (min(a, over + g // 2) if a else min(over, 62 - g))
    x = t if a == 0 or lift == 0 else mul_to(t, 1, a - lift, b_frac=0)  # drop lift bits
    b = f + g + lift
    m = np.trunc(np.ldexp(1.0 / c, b))  # toward zero: |m| <= 2^b / |c|
    if not np.all(np.abs(m) < 2.0**62):
        raise ParameterError(
            f"x / c with |c| as small as {float(np.min(np.abs(c))):.3g}: 1/c does not fit the "
            f"ring with {b} fractional bits; multiply by 1/c instead (a public factor of f "
            "bits) or rescale x and c"
        )
    return mul_to(x, np.ldexp(m, -b), f, b_frac=b)  # m / 2^b encodes exactly as m


def _trunc_for(d: Driver, frac: int) -> tuple[int, int]:
    """Return the truncation bits and frac of a product carrying ``frac`` bits."""
    f = d.frac_bits
    return (frac - f, f) if frac > f else (0, frac)


def _mul(a: SharedTensor, other: Any) -> SharedTensor:
    d = a.driver
    if isinstance(other, SharedTensor):
        _same_cluster(a, other)
        trunc, frac = _trunc_for(d, a.frac_bits + other.frac_bits)
        if other is a:
            args = {"x": a.reg, "shape": list(a.shape), **d.mode_args(trunc)}
            return d.emit("square", a.shape, frac, args)
        shape = _bshape(a.shape, other.shape)
        args = {
            "x": a.reg,
            "y": other.reg,
            "kind": "mul",
            "params": {},
            "xs": list(a.shape),
            "ys": list(other.shape),
            "shape": list(shape),
            **d.mode_args(trunc),
            **d.fixed_args(other.reg),
        }
        return d.emit("bilinear", shape, frac, args)
    c, cfrac = _encode_public(a, other)
    trunc, frac = _trunc_for(d, a.frac_bits + cfrac)
    shape = _bshape(a.shape, c.shape)
    return d.emit(
        "mul_const", shape, frac, {"x": a.reg, "shape": list(shape), **d.mode_args(trunc)}, [c]
    )


def _linear(
    kind: str, a: SharedTensor, other: Any, params: dict[str, Any], *, exact: bool = False
) -> SharedTensor:
    """``kind(a, other)`` for a bilinear map, ``other`` shared or public.

    ``exact`` (``other`` shared): keep every fractional bit of the product, no truncation.
    """
    d = a.driver
    if isinstance(other, SharedTensor):
        _same_cluster(a, other)
        trunc, frac = _trunc_for(d, a.frac_bits + other.frac_bits)
        if exact:
            trunc, frac = 0, a.frac_bits + other.frac_bits
        shape = ring.output_shape(kind, a.shape, other.shape, params)
        args = {
            "x": a.reg,
            "y": other.reg,
            "kind": kind,
            "params": params,
            "xs": list(a.shape),
            "ys": list(other.shape),
            "shape": list(shape),
            **d.mode_args(trunc),
            **d.fixed_args(other.reg),
        }
        return d.emit("bilinear", shape, frac, args)
    c, cfrac = _encode_public(a, other)
    trunc, frac = _trunc_for(d, a.frac_bits + cfrac)
    shape = ring.output_shape(kind, a.shape, c.shape, params)
    args = {
        "x": a.reg,
        "kind": kind,
        "params": params,
        "side": "left",
        "shape": list(shape),
        **d.mode_args(trunc),
    }
    return d.emit("lin_const", shape, frac, args, [c])


def _linear_public_left(
    kind: str, other: Any, a: SharedTensor, params: dict[str, Any]
) -> SharedTensor:
    """``kind(other, a)`` with ``other`` public."""
    d = a.driver
    c, cfrac = _encode_public(a, other)
    trunc, frac = _trunc_for(d, a.frac_bits + cfrac)
    shape = ring.output_shape(kind, c.shape, a.shape, params)
    args = {
        "x": a.reg,
        "kind": kind,
        "params": params,
        "side": "right",
        "shape": list(shape),
        **d.mode_args(trunc),
    }
    return d.emit("lin_const", shape, frac, args, [c])


def _power(a: SharedTensor, n: int) -> SharedTensor:
    """Return ``a ** n`` by square-and-multiply (``n >= 1``)."""
    while not n & 1:  # strip factors of two: a^(2m) = (a^2)^m
        a, n = _mul(a, a), n >> 1
    result, base, n = a, a, n >> 1
    while n:
        base = _mul(base, base)
        if n & 1:
            result = _mul(result, base)
        n >>= 1
    return result


def _axes(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    many: Any = axis  # an int, a numpy integer or a sequence of them
    axes: tuple[Any, ...] = (many,) if isinstance(many, numbers.Integral) else tuple(many)
    out: list[int] = []
    for ax in axes:
        if (
            isinstance(ax, bool | np.bool_)
            or not isinstance(ax, numbers.Integral)
            or not -max(ndim, 1) <= int(ax) < max(ndim, 1)
        ):
            raise ParameterError(f"axis {ax!r} is out of range for {ndim} dimensions")
        if ndim:  # a 0-d tensor's axis 0 / -1 is itself: nothing to reduce
            out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ParameterError(f"axis {axis!r} repeats an axis; name each once")
    return tuple(sorted(out))


def _sum(a: SharedTensor, axis: int | tuple[int, ...] | None, keepdims: bool) -> SharedTensor:
    axes = _axes(axis, a.ndim)
    if keepdims:
        shape = tuple(1 if i in axes else s for i, s in enumerate(a.shape))
    else:
        shape = tuple(s for i, s in enumerate(a.shape) if i not in axes)
    args = {"x": a.reg, "axes": list(axes), "keepdims": keepdims}
    return a.driver.emit("sum", shape, a.frac_bits, args)


def public(like: SharedTensor, value: ArrayLike, *, integer: bool = False) -> SharedTensor:
    """Embed a public array as a (trivially) shared tensor of ``like``'s cluster (local)."""
    d = like.driver
    arr = _as_public(value)
    frac = 0 if integer else d.frac_bits
    c = d.codec.encode(arr.astype(np.int64) if integer else arr, frac_bits=frac, name="constant")
    zero = d.emit("zeros", tuple(c.shape), frac, {"shape": list(c.shape)})
    return d.emit("add_const", tuple(c.shape), frac, {"x": zero.reg}, [c])


def relabel(t: SharedTensor, frac: int) -> SharedTensor:
    """Return the same ring values read with ``frac`` fractional bits.

    That is ``t * 2^(t.frac - frac)``, exact and local (a copy under a new scale).
    """
    return t.driver.emit("reshape", t.shape, frac, {"x": t.reg, "shape": list(t.shape)})


def mul_to(a: SharedTensor, b: Any, frac: int, *, b_frac: int | None = None) -> SharedTensor:
    """Return ``a * b`` truncated to exactly ``frac`` fractional bits.

    ``b`` may be shared or public; a public ``b`` is encoded with ``b_frac`` bits (default:
    the cluster's).
    """
    d = a.driver
    if isinstance(b, SharedTensor):
        _same_cluster(a, b)
        total = a.frac_bits + b.frac_bits
        trunc = total - frac
        _check_trunc(trunc, total, frac)
        shape = _bshape(a.shape, b.shape)
        if b is a:
            return d.emit(
                "square", a.shape, frac, {"x": a.reg, "shape": list(a.shape), **d.mode_args(trunc)}
            )
        args = {
            "x": a.reg,
            "y": b.reg,
            "kind": "mul",
            "params": {},
            "xs": list(a.shape),
            "ys": list(b.shape),
            "shape": list(shape),
            **d.mode_args(trunc),
            **d.fixed_args(b.reg),
        }
        return d.emit("bilinear", shape, frac, args)
    bf = d.frac_bits if b_frac is None else b_frac
    c = d.codec.encode(_as_public(b), frac_bits=bf, name="constant")
    total = a.frac_bits + bf
    trunc = total - frac
    _check_trunc(trunc, total, frac)
    shape = _bshape(a.shape, c.shape)
    return d.emit(
        "mul_const", shape, frac, {"x": a.reg, "shape": list(shape), **d.mode_args(trunc)}, [c]
    )


def _check_trunc(trunc: int, total: int, frac: int) -> None:
    if trunc < 0 or trunc > 62:
        raise ParameterError(f"cannot bring a product of {total} fractional bits to {frac}")


def ltz(a: SharedTensor, times: SharedTensor | None = None) -> SharedTensor:
    """Return ``[a < 0]`` as shared 0/1 integers (exact; see :mod:`.truncation`).

    With ``times`` (a tensor of ``a``'s shape, or ``(k, *a.shape)`` for ``k`` values per
    comparison, in the same cluster), return ``times·[a < 0]`` at ``times``' scale instead,
    in the same rounds (the product rides on the last opening).
    """
    if times is not None:
        _same_cluster(a, times)
        if times.shape != a.shape and times.shape[1:] != a.shape:
            raise ParameterError(
                f"ltz times needs the shape {a.shape} or (k, *{a.shape}), got {times.shape}"
            )
    args: dict[str, Any] = {"x": a.reg, "shape": list(a.shape)}
    if times is None:
        return a.driver.emit("ltz", a.shape, 0, args)
    args.update(y=times.reg, y_shape=list(times.shape))
    return a.driver.emit("ltz", times.shape, times.frac_bits, args)


def take(a: SharedTensor, indices: Sequence[int]) -> SharedTensor:
    """Return ``a[..., indices]`` for public indices into the last axis (local).

    Raises
    ------
    ParameterError
        If ``a`` is 0-d, ``indices`` is empty, or an index is outside ``[0, a.shape[-1])``.
    """
    picks = [int(i) for i in indices]
    if a.ndim == 0 or not picks or min(picks) < 0 or max(picks) >= a.shape[-1]:
        raise ParameterError(
            f"take needs indices in [0, {a.shape[-1] if a.ndim else 0}) on the last axis"
        )
    shape = (*a.shape[:-1], len(picks))
    return a.driver.emit("take", shape, a.frac_bits, {"x": a.reg, "indices": picks})


def rectify(a: SharedTensor, *, truncate: bool = False) -> SharedTensor:
    """Return ``max(a, 0)`` in one instruction (a sign test whose product rides on it).

    With ``truncate``, a tensor carrying more than the cluster's fractional bits (a
    layer's untruncated product) is truncated to them in the same instruction, its
    opening sent with the sign test's (:func:`privet.smpc.truncation.truncate_relu`).
    """
    d = a.driver
    trunc, frac = _trunc_for(d, a.frac_bits) if truncate else (0, a.frac_bits)
    args = {"x": a.reg, "shape": list(a.shape), **d.mode_args(trunc)}
    return d.emit("relu", a.shape, frac, args)


def _comparable(other: object) -> bool:
    """Whether ``==`` with ``other`` is an elementwise comparison: a tensor or numbers."""
    if isinstance(other, SharedTensor | numbers.Number | np.ndarray):
        return not isinstance(other, np.ndarray) or other.dtype.kind in "biuf"
    if isinstance(other, list | tuple):
        return np.asarray(other).dtype.kind in "biuf"
    return False


def _same_cluster(a: SharedTensor, b: SharedTensor) -> None:
    if a.driver is not b.driver:
        raise ParameterError("the two shared tensors live in different clusters")


def concatenate(
    tensors: list[SharedTensor] | tuple[SharedTensor, ...], axis: int = 0
) -> SharedTensor:
    """Join shared tensors along an existing axis (local).

    Parameters
    ----------
    tensors
        Tensors of one cluster, equal shapes except along ``axis``.
    axis
        The axis.

    Returns
    -------
    SharedTensor
        The joined tensor (at the largest ``frac_bits`` of the inputs).
    """
    if not tensors:
        raise ParameterError("concatenate needs at least one tensor")
    first = tensors[0]
    for t in tensors[1:]:
        _same_cluster(first, t)
    frac = max(t.frac_bits for t in tensors)
    with first.driver.op("concat"):
        parts = [_rescale(t, frac) for t in tensors]
        ax = _axes(axis, first.ndim)[0]
        try:
            shape = np.concatenate(
                [np.broadcast_to(np.zeros((), bool), p.shape) for p in parts], axis=ax
            ).shape
        except ValueError:
            raise ParameterError(
                f"cannot concatenate shapes {[p.shape for p in parts]} on axis {axis}"
            ) from None
        return first.driver.emit(
            "concat", tuple(shape), frac, {"xs": [p.reg for p in parts], "axis": ax}
        )


def stack(tensors: list[SharedTensor] | tuple[SharedTensor, ...], axis: int = 0) -> SharedTensor:
    """Stack equally shaped shared tensors along a new axis (local)."""
    if not tensors:
        raise ParameterError("stack needs at least one tensor")
    ndim = tensors[0].ndim
    ax = axis % (ndim + 1)
    idx = (slice(None),) * ax + (None,)
    return concatenate([t[idx] for t in tensors], axis=ax)
