"""Beaver multiplication over Z_2^64: elementwise, matmul and conv2d; squares; binary AND.

Beaver 1991 ("Efficient multiparty protocols using circuit randomization", CRYPTO '91, §2):
given a triple ``a, b, c = f(a, b)`` for a bilinear ``f``, the parties compute ``f(x, y)``:

1. each party opens ``d = x - a`` and ``e = y - b`` (one round; ``d``, ``e`` are uniform,
   so they reveal nothing about ``x``, ``y``);
2. each party sets ``z_i = c_i + f(d, b_i) + f(a_i, e)``, and party 0 adds ``f(d, e)``.

Then ``Σ z_i = f(a + d, b + e) = f(x, y)`` by bilinearity. The same code serves the
elementwise product, ``matmul`` and ``conv2d`` (:data:`privet.smpc.ring.BILINEAR`).

**A fixed second operand** (a model's weights, used by every query): its first product
keeps ``b_i`` and the opened ``e`` (a :class:`FixedOperand`), and every later product by
the same operand opens only ``d = x - a`` with a fresh ``a`` and ``c = f(a, b)``
(:func:`~privet.smpc.recipes.fixed_triples`; SecureML, Mohassel & Zhang 2017, §4.2). A
private inference then opens each weight once, not once per query.

Communication (online): each party sends ``d`` and ``e`` to each other party: for 2 parties
and an elementwise product, **4 ring elements per multiplication** (2 per party), 1 round.
A square uses a pair ``(a, a²)`` and opens only ``d``: 2 ring elements for 2 parties.

On 64-bit words, the same identity with XOR for + and AND for × multiplies bits
(GMW-style AND gates with binary triples): :func:`privet.smpc.bits.and_fan`.

Examples
--------
>>> plan = bilinear_plan("mul", (3,), (3,), {})
>>> [f.name for f in plan[0].fields]
['a', 'b', 'c']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from privet.smpc.recipes import Recipe, fixed_triples, square_pairs, triples
from privet.smpc.ring import Ring, add, bilinear_sum, mul, sub
from privet.smpc.session import PartySession

__all__ = [
    "FixedOperand",
    "beaver_bilinear",
    "beaver_square",
    "bilinear_plan",
    "square_plan",
]


@dataclass(frozen=True)
class FixedOperand:
    """A party's share ``b`` of a fixed operand's mask, and the opened ``e = y - b``."""

    b: Ring
    e: Ring

    def __repr__(self) -> str:  # never the values: b is a share
        return f"FixedOperand(shape={self.b.shape})"


def bilinear_plan(
    kind: str,
    x_shape: tuple[int, ...],
    y_shape: tuple[int, ...],
    params: Mapping[str, Any],
    *,
    fixed: str | None = None,
    key: int = 0,
) -> list[Recipe]:
    """Return the dealer material for one Beaver product: one triple.

    ``fixed="new"``: the dealer keeps ``b`` under ``key`` (the second operand's register);
    ``"reuse"``: the triple's second factor is that ``b`` (module docstring).
    """
    if fixed == "reuse":
        return [fixed_triples(kind, x_shape, y_shape, params, key=key)]
    return [triples(kind, x_shape, y_shape, params, keep=key if fixed == "new" else None)]


def beaver_bilinear(
    sess: PartySession,
    kind: str,
    x: Ring,
    y: Ring,
    params: Mapping[str, Any],
    material: Mapping[str, Ring],
    *,
    fixed: FixedOperand | None = None,
    keep: list[FixedOperand] | None = None,
) -> Ring:
    """Return this party's share of ``f(x, y)`` for the bilinear map ``kind`` (see module).

    Parameters
    ----------
    sess
        The party's session.
    kind
        ``mul``, ``matmul`` or ``conv2d``.
    x, y
        This party's shares of the operands.
    params
        The map's parameters (``stride``, ``padding``).
    material
        This party's triple shares ``a``, ``b``, ``c`` (``a``, ``c`` with ``fixed``).
    fixed
        ``y``'s kept mask share and opened ``e``: only ``x - a`` is opened.
    keep
        A list that receives ``y``'s :class:`FixedOperand`, for later products by ``y``.

    Returns
    -------
    numpy.ndarray
        The share of the product (no truncation).
    """
    a = material["a"]
    if fixed is not None:
        b = fixed.b
        (d,) = sess.open([sub(x, a)], step=f"beaver/{kind}/fixed")
        e = fixed.e.copy() if kind == "mul" and sess.leader else fixed.e  # mul adds b into e
    else:
        b = material["b"]
        d, e = sess.open([sub(x, a), sub(y, b)], step=f"beaver/{kind}")  # Beaver 1991, §2
        if keep is not None:
            keep.append(FixedOperand(np.array(b), e.copy()))  # b: its own copy, not a PRG view
    # c is read last: its receiver gets it from the dealer only then, so the dealer's
    # c = f(a, b) overlaps the opening and this party's own products
    # party 0 folds f(d, b_0) + f(d, e) into f(d, b_0 + e): one product fewer
    if kind == "mul":  # elementwise: two allocations, the rest in place
        z = mul(a, e)
        left = np.add(e, b, out=e) if sess.leader else b  # e is ours: opened just now
        dl = np.multiply(d, left, out=d) if d.shape == z.shape else mul(d, left)  # d: ours
        np.add(z, dl, out=z)
        return np.add(z, material["c"], out=z)
    left = add(b, e) if sess.leader else b
    # one fused set of limb products for f(d, left) + f(a, e) (privet.smpc.limbs)
    z = bilinear_sum(kind, [(d, left), (a, e)], params)
    return np.add(z, material["c"], out=z)


def square_plan(shape: tuple[int, ...]) -> list[Recipe]:
    """Return the dealer material for one square: one pair ``(a, a²)``."""
    return [square_pairs(shape)]


def beaver_square(sess: PartySession, x: Ring, material: Mapping[str, Ring]) -> Ring:
    """Return this party's share of ``x²``: ``c + 2·d·a (+ d²)`` with ``d = x - a`` opened."""
    a = material["a"]
    (d,) = sess.open([sub(x, a)], step="square")
    z = mul(mul(d, a), np.uint64(2))
    if sess.leader:
        z = add(z, mul(d, d))
    return add(z, material["c"])  # c last: its receiver waits for the dealer only now
