"""Comparisons on shared values: less-than, equality, ReLU, maximum, max and argmax.

Everything rests on one exact primitive, the sign test ``LTZ(x) = [x < 0]``, the top bit of
``x`` read in two's complement, for any ring value (``|x| < 2^(63-f)`` as a real, so the
difference of any two values inside the storage range ``2^(62-f)``): the bit that ``c - r``
carries into position 63 (Catrina & de Hoogh 2010, SCN, §4, LTZ in Z_2^64; Escudero et al.
2020, CRYPTO, §5), with the borrow of the low 63 bits from the bitwise comparison of
:mod:`privet.smpc.bits` on a dealer-provided edaBit
(:func:`privet.smpc.truncation.less_than_zero`). It is exact (no error probability): one
opening, 6 rounds of AND gates, one daBit round; about 31.6 bytes per party per element for
2 parties (8 for the opening, 23.5 for the bit-sliced tree, 1/8 for the packed daBit).

* ``a < b`` is ``LTZ(a - b)``; ``a > b``, ``<=``, ``>=`` follow.
* :func:`relu` is ``x · (1 - LTZ(x))``: the product of a real by a 0/1 integer needs no
  truncation, so ReLU is exact.
* :func:`maximum` selects ``a + [a < b] (b - a)``; :func:`max` and :func:`argmax` reduce an
  axis with a tree of adjacent pairs (``⌈log2 K⌉`` levels, ties go to the first index, as in
  numpy).
* :func:`equal` is ``1 - [a < b] - [b < a]`` (both tests in one batch).

Examples
--------
>>> from privet.smpc import InProcessCluster
>>> with InProcessCluster(parties=2) as cluster:
...     x = cluster.share([[0.5, -1.0, 2.0], [3.0, 3.0, -4.0]])
...     print(relu(x).reveal(), argmax(x).reveal(), max(x, axis=1).reveal())
[[0.5 0.  2. ]
 [3.  3.  0. ]] [2 0] [2. 3.]
"""

from __future__ import annotations

import builtins
import math
import numbers
from typing import Any

import numpy as np

from privet.core.errors import ParameterError, ParameterTypeError
from privet.smpc.tensor import (
    SharedTensor,
    _add,
    _axes,
    _mul,
    _neg,
    _sub,
    concatenate,
    ltz,
    public,
    rectify,
    relabel,
    stack,
    take,
)

__all__ = [
    "METHODS",
    "abs",
    "argmax",
    "argmin",
    "equal",
    "max",
    "maximum",
    "min",
    "minimum",
    "relu",
    "sign",
    "where",
]


def _check(x: object, name: str = "x") -> SharedTensor:
    if not isinstance(x, SharedTensor):
        raise ParameterTypeError(f"{name} must be a SharedTensor, got {type(x).__name__}")
    return x


def relu(x: SharedTensor) -> SharedTensor:
    """Return ``max(x, 0)`` elementwise, exactly: ``x - x·[x < 0]``.

    The product rides on the comparison's last opening (:func:`~privet.smpc.tensor.ltz`
    with ``times``): the rounds of one comparison, and 8 bytes more per element and party.

    Parameters
    ----------
    x
        A shared tensor (any value: the sign bit of its word is read).

    Returns
    -------
    SharedTensor
        ``relu(x)``, same shape and scale.
    """
    x = _check(x)
    with x.driver.op("relu"):
        return rectify(x)


def sign(x: SharedTensor) -> SharedTensor:
    """Return ``-1`` where ``x < 0`` else ``+1``, as shared integers."""
    x = _check(x)
    with x.driver.op("sign"):
        return _add(_mul(ltz(x), -2), 1)


def abs(x: SharedTensor) -> SharedTensor:
    """Return ``|x| = x - 2·x·[x < 0]`` (a comparison, the product riding on it)."""
    x = _check(x)
    with x.driver.op("abs"):
        return _sub(x, _mul(ltz(x, times=x), 2))


def where(cond: SharedTensor, a: Any, b: Any) -> SharedTensor:
    """Select ``a`` where the shared 0/1 ``cond`` is 1, else ``b``: ``b + cond (a - b)``.

    Parameters
    ----------
    cond
        Shared 0/1 integers (a comparison's result).
    a, b
        Shared tensors or public values.

    Returns
    -------
    SharedTensor
        The selection.
    """
    cond = _check(cond, "cond")
    if not cond.is_integer:
        raise ParameterError("cond must be a comparison result (shared 0/1 integers)")
    with cond.driver.op("where"):
        if isinstance(a, SharedTensor):
            diff = _sub(a, b)
        elif isinstance(b, SharedTensor):
            diff = _add(_neg(b), a)
        else:  # both public: cond * (a - b) is a local product
            return _add(
                _mul(cond, np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)), b
            )
        return _add(_mul(diff, cond), b)


def maximum(a: SharedTensor, b: Any) -> SharedTensor:
    """Elementwise maximum of two tensors (``b`` may be public)."""
    a = _check(a, "a")
    with a.driver.op("maximum"):
        diff = _sub(b, a) if isinstance(b, SharedTensor) else _add(_neg(a), b)
        return _add(ltz(_sub(a, b), times=diff), a)  # a + (b - a)·[a < b]


def minimum(a: SharedTensor, b: Any) -> SharedTensor:
    """Elementwise minimum of two tensors (``b`` may be public)."""
    a = _check(a, "a")
    with a.driver.op("minimum"):
        diff = _sub(b, a) if isinstance(b, SharedTensor) else _add(_neg(a), b)
        return _add(ltz(diff, times=diff), a)  # a + (b - a)·[b < a]


def equal(a: SharedTensor, b: Any) -> SharedTensor:
    """Return ``[a == b]`` as shared 0/1 integers (two comparisons in one batch)."""
    a = _check(a, "a")
    with a.driver.op("eq"):
        d = _sub(a, b)
        both = ltz(concatenate([d[None], _neg(d)[None]], axis=0))  # [a<b], [b<a]
        return _add(_neg(both.sum(axis=0)), 1)


def _scalar(x: SharedTensor, axis: object) -> bool:
    """Return True for a 0-d ``x`` reduced over its own axis (``None``, 0, -1: as numpy)."""
    if x.ndim:
        return False
    if axis in (None, 0, -1, (), (0,), (-1,)):
        return True
    raise ParameterError(f"axis {axis!r} is out of range for a 0-d tensor; use None")


def _to_last(
    x: SharedTensor, axis: int | tuple[int, ...] | None, *, several: bool = True
) -> tuple[SharedTensor, tuple[int, ...]]:
    """Move the reduced axes (``None``: all) to the end, merged into one (C order)."""
    if not several and axis is not None and not isinstance(axis, numbers.Integral):
        raise ParameterError(
            f"argmax takes one axis or None (the flat index, as numpy), got {axis!r}"
        )
    axes = _axes(axis, x.ndim)
    if any(x.shape[a] == 0 for a in axes):
        raise ParameterError("max/argmax of an empty axis")
    keep = [i for i in range(x.ndim) if i not in axes]
    if keep + list(axes) != list(range(x.ndim)):
        x = x.transpose(*keep, *axes)
    if len(axes) != 1:
        x = x.reshape((*x.shape[: len(keep)], -1))
    return x, axes


def _kept(out: SharedTensor, shape: tuple[int, ...], axes: tuple[int, ...]) -> SharedTensor:
    """Put back the reduced axes with length 1 (``keepdims``)."""
    return out.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _tree(x: SharedTensor, *, with_index: bool) -> tuple[SharedTensor, SharedTensor | None]:
    """Reduce the last axis by adjacent pairs; carry shared indices when asked."""
    k = x.shape[-1]
    idx: SharedTensor | None = None
    if with_index:
        idx = public(x, np.broadcast_to(np.arange(k), x.shape), integer=True)
    while k > 1:
        even = k - (k % 2)
        a, b = x[..., 0:even:2], x[..., 1:even:2]
        # a + (b - a)·[a < b] (ties keep the first), the product riding on the comparison;
        # the index moves the same way, as a second row of the same product
        step = _sub(b, a)
        if idx is not None:
            ia, ib = idx[..., 0:even:2], idx[..., 1:even:2]
            step = stack([step, relabel(_sub(ib, ia), step.frac_bits)])
        moved = ltz(_sub(a, b), times=step)
        if idx is not None:
            new = _add(moved[0], a)
            new_idx = _add(relabel(moved[1], 0), ia)
        else:
            new = _add(moved, a)
        if k % 2:
            new = concatenate([new, x[..., k - 1 :]], axis=-1)
            if idx is not None:
                new_idx = concatenate([new_idx, idx[..., k - 1 :]], axis=-1)
        x = new
        if idx is not None:
            idx = new_idx
        k = x.shape[-1]
    return x, idx


METHODS = ("auto", "tree", "pairs")
"""How :func:`max` and :func:`argmax` reduce an axis of ``K`` entries.

``"auto"`` (default): ``"pairs"`` while the batch needs at most :data:`AUTO_PAIRS` pair
comparisons in all (one query or a small batch: latency wins), else ``"tree"`` (bandwidth
wins). Both are exact and break ties the same way, so the choice changes only the cost.

``"tree"``: a tournament of adjacent pairs, ``⌈log2 K⌉`` comparisons deep (8 rounds each),
``K - 1`` comparisons in all: the fewest bytes. ``"pairs"``: all ``K(K-1)/2`` comparisons in
one batch, then each entry's wins multiplied together, ``⌈log2(K-1)⌉`` rounds of products:
8 + 4 rounds instead of 32 for ``K = 10``, for about 6 times the bytes; for latency (one
sample, a slow network) rather than throughput. CrypTen offers the same two ("log_reduction"
and "pairwise").
"""


AUTO_PAIRS = 1 << 14
"""Pair comparisons up to which ``"auto"`` picks ``"pairs"`` (about 1 MB more per party)."""


def _method(method: object, shape: tuple[int, ...]) -> str:
    """Return the method for reducing the last axis of ``shape`` (``"auto"`` resolved)."""
    if method not in METHODS:
        raise ParameterError(f"method must be one of {list(METHODS)}, got {method!r}")
    if method != "auto":
        return str(method)
    k = shape[-1] if shape else 1
    rows = math.prod(shape[:-1])
    return "pairs" if rows * k * (k - 1) // 2 <= AUTO_PAIRS else "tree"


def _pairs(x: SharedTensor) -> SharedTensor:
    """Return the one-hot of the first maximum along the last axis (shared 0/1 integers).

    Entry ``i`` wins against ``j > i`` when ``x_i ≥ x_j`` and against ``j < i`` when
    ``x_i > x_j`` (ties go to the first index); it is the maximum iff it wins all ``K - 1``.
    """
    k = x.shape[-1]
    if k == 1:
        return _add(_mul(relabel(x, 0), 0), 1)  # a single entry is its own maximum
    first, second = np.triu_indices(k, 1)  # the K(K-1)/2 pairs i < j
    lost = ltz(_sub(take(x, first.tolist()), take(x, second.tolist())))  # [x_i < x_j]
    outcomes = concatenate([_add(_neg(lost), 1), lost], axis=-1)  # [x_i ≥ x_j] | [x_j > x_i]
    n_pairs = len(first)
    pair_of = {(int(i), int(j)): p for p, (i, j) in enumerate(zip(first, second, strict=True))}
    picks = [  # row i: its win against every j, from the pair (i, j) or (j, i)
        pair_of[(i, j)] if j > i else n_pairs + pair_of[(j, i)]
        for i in range(k)
        for j in range(k)
        if j != i
    ]
    wins = take(outcomes, picks).reshape((*x.shape[:-1], k, k - 1))
    while wins.shape[-1] > 1:  # AND of the K - 1 wins: products of 0/1 integers, exact
        w = wins.shape[-1]
        even = w - (w % 2)
        prod = _mul(wins[..., 0:even:2], wins[..., 1:even:2])
        wins = concatenate([prod, wins[..., even:]], axis=-1) if w % 2 else prod
    return wins[..., 0]


def max(
    x: SharedTensor,
    axis: int | tuple[int, ...] | None = -1,
    keepdims: bool = False,
    *,
    method: str = "auto",
) -> SharedTensor:
    """Maximum over ``axis`` by comparisons (``method``: see :data:`METHODS`).

    The default axis is the last one (CrypTen's convention, for the classes of a batch of
    logits); the method ``x.max()`` reduces every axis by default, as numpy's does.

    Parameters
    ----------
    x
        A shared tensor.
    axis
        The axis to reduce, a tuple of axes, or ``None`` for all (as numpy).
    keepdims
        Keep the reduced axes with length 1.
    method
        ``"auto"`` (default), ``"tree"`` (fewest bytes) or ``"pairs"`` (fewest rounds); see
        :data:`METHODS`.

    Returns
    -------
    SharedTensor
        The maxima.
    """
    x = _check(x)
    _method(method, ())  # checked before any instruction
    if _scalar(x, axis):  # its own maximum, as numpy's
        return x
    with x.driver.op("max"):
        moved, axes = _to_last(x, axis)
        if _method(method, moved.shape) == "pairs":
            out = _mul(moved, _pairs(moved)).sum(axis=-1)  # Σ x_i·[i is the maximum]
        else:
            m, _ = _tree(moved, with_index=False)
            out = m[..., 0]
        return _kept(out, x.shape, axes) if keepdims else out


def argmax(
    x: SharedTensor,
    axis: int | None = -1,
    keepdims: bool = False,
    *,
    method: str = "auto",
) -> SharedTensor:
    """Index of the maximum over ``axis``, as shared integers (first index on ties).

    Parameters
    ----------
    x
        A shared tensor.
    axis
        The axis to reduce, or ``None``: the index into the flattened tensor (as numpy).
    keepdims
        Keep the reduced axis with length 1.
    method
        ``"auto"`` (default), ``"tree"`` (fewest bytes) or ``"pairs"`` (fewest rounds); see
        :data:`METHODS`.

    Returns
    -------
    SharedTensor
        ``int`` indices; reveal them to the one client who may learn the prediction.

    Examples
    --------
    >>> from privet.smpc import InProcessCluster
    >>> with InProcessCluster(parties=2) as cluster:
    ...     argmax(cluster.share([[1.0, 5.0, 5.0, 2.0]])).reveal()
    array([1])
    """
    x = _check(x)
    _method(method, ())  # checked before any instruction
    if _scalar(x, axis):  # index 0, as numpy's
        return public(x, np.zeros((), dtype=np.int64), integer=True)
    with x.driver.op("argmax"):
        moved, axes = _to_last(x, axis, several=False)
        if _method(method, moved.shape) == "pairs":
            k = moved.shape[-1]
            out = _mul(_pairs(moved), np.arange(k)).sum(axis=-1)  # Σ i·[i is the maximum]
        else:
            _, idx = _tree(moved, with_index=True)
            if idx is None:  # pragma: no cover - with_index=True always returns indices
                raise ParameterError("internal: no index")
            out = idx[..., 0]
        return _kept(out, x.shape, axes) if keepdims else out


def min(
    x: SharedTensor,
    axis: int | tuple[int, ...] | None = -1,
    keepdims: bool = False,
    *,
    method: str = "auto",
) -> SharedTensor:
    """Minimum over ``axis``: ``-max(-x)`` (same cost; see :func:`max`).

    As for :func:`max`, the default axis is the last one (CrypTen's convention); the
    method ``x.min()`` reduces every axis by default, as numpy's does.
    """
    x = _check(x)
    with x.driver.op("min"):
        return _neg(max(_neg(x), axis=axis, keepdims=keepdims, method=method))


def argmin(
    x: SharedTensor,
    axis: int | None = -1,
    keepdims: bool = False,
    *,
    method: str = "auto",
) -> SharedTensor:
    """Index of the minimum over ``axis`` (first on ties, as numpy): ``argmax(-x)``."""
    x = _check(x)
    with x.driver.op("argmin"):
        return argmax(_neg(x), axis=axis, keepdims=keepdims, method=method)


_ = builtins  # the builtins shadowed here (abs, max) stay reachable as builtins.abs/max
