"""Truncation of shared values by ``m`` bits (after a fixed-point product), three ways.

A fixed-point product carries ``2f`` fractional bits; dividing it by ``2^f`` (an arithmetic
shift of the secret) restores ``f``. Shares cannot simply be shifted one by one: the sum of
the shares wraps modulo 2^64. The modes:

``"local"`` — SecureML (Mohassel & Zhang 2017, "SecureML: A system for scalable
    privacy-preserving machine learning", IEEE S&P 2017, §4.1, Theorem 1). **Two parties
    only**, no communication: party 0 shifts its share, party 1 computes ``-((-x_1) >> m)``.
    If ``|x| < 2^ℓx`` (ring units, ``ℓx + 1 < 64``) the result is ``⌊x/2^m⌋`` or one more
    (≤ 1 ulp off) except with probability ``≤ 2^(ℓx+1-64)``, when it is wildly wrong. For
    ``f = 16`` and ``|x·y| < 2^k``, ``ℓx = k + 32``: ``|x·y| < 2^7`` fails with probability
    ≤ 2^-24 per element. Fast, but not for long pipelines of large tensors.

``"dealer"`` (default) — the dealer-assisted probabilistic truncation of Catrina & de Hoogh
    2010 ("Improved primitives for secure multiparty integer computation", SCN 2010,
    Protocol 3.1, TruncPr), in Z_2^64 with the wrap handled exactly by the mask's top bit
    (Escudero, Ghosh, Keller, Rachuri & Scholl 2020, "Improved primitives for MPC over mixed
    arithmetic-binary circuits", CRYPTO 2020, §5). For ``|x| < 2^62``: the parties open
    ``c = x + 2^62 + r`` with ``r`` uniform; since ``y = x + 2^62 < 2^63`` the wrap of
    ``y + r`` is ``w = r_63 ∧ ¬c_63``, linear in the shared bit ``r_63``; then
    ``⌊y/2^m⌋ = ⌊c/2^m⌋ - ⌊r/2^m⌋ + 2^(64-m)·w - b`` with ``b = [c mod 2^m < r mod 2^m]``.
    Dropping ``b`` gives ``⌊x/2^m⌋ + b``: **never more than 1 ulp off, with no failure
    probability**, and the error is unbiased stochastic rounding (it rounds up with
    probability equal to the discarded fraction). One round, any number of parties.

``"exact"`` — as ``"dealer"``, and ``b`` is computed with the bitwise comparison of
    :mod:`privet.smpc.bits` on the mask's low ``m`` bits (shared by the dealer, an edaBit,
    Escudero et al. 2020 §3) and converted with a daBit: exactly ``⌊x/2^m⌋`` (Catrina & de
    Hoogh 2010, §3, Trunc via Mod2m and BitLT). ``2 + ⌈log2 m⌉`` rounds. The dealer hands
    the edaBit's bits out as bit planes (a fixed bit permutation of an XOR sharing, so each
    party's view is as before), so a party transposes only the public ``c``; the daBits are
    packed 64 to a word, so ``b ⊕ β`` is opened at one bit per element.

The sign test of :mod:`privet.smpc.comparison` (:func:`less_than_zero`) is the exact
truncation's borrow taken one bit further: the top bit of the word, with a cheaper mask.

Examples
--------
>>> [r.name for r in truncation_plan((2,), bits=16, mode="dealer")]
['wrap/16']
>>> truncation_plan((2,), bits=16, mode="local")
[]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal

import numpy as np

from privet.core.errors import ParameterError
from privet.smpc.bitplanes import to_planes
from privet.smpc.bits import less_than_plan, less_than_planes, plane_to_arith, plane_to_arith_plan
from privet.smpc.recipes import SIGN_PLANES, Recipe, sign_masks, wrap_masks
from privet.smpc.ring import Ring, add, neg, sub
from privet.smpc.session import PartySession

__all__ = [
    "BIAS_BITS",
    "MODES",
    "TruncationMode",
    "check_mode",
    "less_than_zero",
    "less_than_zero_plan",
    "truncate",
    "truncate_relu",
    "truncate_relu_plan",
    "truncation_plan",
]

TruncationMode = Literal["local", "dealer", "exact"]
MODES: Final = ("local", "dealer", "exact")
BIAS_BITS: Final = 62
"""Inputs satisfy ``|x| < 2^62``; the bias ``2^62`` makes them non-negative below 2^63."""

U64 = np.uint64


def check_mode(mode: object, parties: int) -> TruncationMode:
    """Validate a truncation mode for ``parties`` parties.

    Raises
    ------
    ParameterError
        For an unknown mode, or ``"local"`` with more than two parties.

    Examples
    --------
    >>> check_mode("exact", 3)
    'exact'
    """
    if mode not in MODES:
        raise ParameterError(f"truncation must be one of {MODES}, got {mode!r}")
    if mode == "local" and parties != 2:
        raise ParameterError(
            f"local (SecureML) truncation is correct for 2 parties only, got {parties}; "
            "use truncation='dealer'"
        )
    return mode


def truncation_plan(shape: tuple[int, ...], *, bits: int, mode: TruncationMode) -> list[Recipe]:
    """Return the dealer material for one truncation in ``mode``."""
    if mode == "local":
        return []
    exact = mode == "exact"
    plan = [wrap_masks(shape, bits, with_low_bits=exact, planes=exact)]
    if exact:
        plan += less_than_plan(shape, bits=bits) + plane_to_arith_plan(shape)
    return plan


def truncate(
    sess: PartySession,
    x: Ring,
    *,
    bits: int,
    mode: TruncationMode,
    material: Sequence[Mapping[str, Ring]],
) -> Ring:
    """Return this party's share of ``⌊x / 2^bits⌋`` (signed), per ``mode`` (module doc).

    Parameters
    ----------
    sess
        The party's session.
    x
        This party's share; the secret must satisfy ``|x| < 2^62`` (ring units).
    bits
        ``m``, in 1..62.
    mode
        ``"local"``, ``"dealer"`` or ``"exact"``.
    material
        The dealer material of :func:`truncation_plan`, in order.

    Returns
    -------
    numpy.ndarray
        The share of the truncated value.
    """
    if not 1 <= bits <= BIAS_BITS:
        raise ParameterError(f"truncation bits must be in 1..{BIAS_BITS}, got {bits}")
    sh = U64(bits)
    if mode == "local":
        # SecureML, Theorem 1: P0 takes ⌊x0 / 2^m⌋, P1 takes 2^64 - ⌊(2^64 - x1) / 2^m⌋.
        if sess.party == 0:
            return np.asarray(np.right_shift(x, sh))
        return neg(np.asarray(np.right_shift(neg(x), sh)))
    wrap = material[0]
    # c = y + r with y = x + 2^62 (uniform: reveals nothing)
    (c,) = sess.open([_biased_mask(sess, x, wrap["r"])], step=f"trunc/{bits}")
    z = _truncated(sess, c, wrap, bits)
    if mode == "exact":
        n_lt = len(material) - 2
        low = np.bitwise_and(c, U64((1 << bits) - 1))
        # r mod 2^m arrives as bit planes: only the public c is transposed (bits module)
        b_xor = less_than_planes(
            sess, low, wrap["r_lo"], bits=bits, material=material[1 : 1 + n_lt]
        )
        b = plane_to_arith(sess, b_xor, np.shape(x), material[-1])  # b = [c mod 2^m < r mod 2^m]
        z = sub(z, b)
    return z


def _biased_mask(sess: PartySession, x: Ring, r: Ring) -> Ring:
    """Return this party's share of ``x + 2^62 + r`` (the bias added by party 0 only)."""
    masked = add(x, r)
    if sess.leader:
        np.add(masked, U64(1 << BIAS_BITS), out=masked)
    return masked


def _truncated(sess: PartySession, c: Ring, wrap: Mapping[str, Ring], bits: int) -> Ring:
    """Return the share of ``⌊x / 2^m⌋ + b`` (``b`` the dropped borrow) from the opened ``c``.

    The wrap of ``y + r`` is ``r_63 ∧ ¬c_63`` because ``y < 2^63`` (Escudero et al. 2020,
    §5); ``z = (1 - c_63)·2^(64-m)·r_63 - r_hi`` (+ ``⌊c/2^m⌋ - 2^(62-m)`` for party 0),
    computed in one buffer. The public parts come first: ``r_hi`` and ``r_msb`` are read
    last, so their receiver waits for the dealer only then.
    """
    sh = U64(bits)
    z = np.asarray(np.right_shift(c, U64(63)))  # every array here has x's shape
    np.subtract(U64(1), z, out=z)
    np.left_shift(z, U64(64 - bits), out=z)
    c_hi = None
    if sess.leader:
        c_hi = np.asarray(np.right_shift(c, sh))
        np.subtract(c_hi, U64(1 << (BIAS_BITS - bits)), out=c_hi)
    np.multiply(z, wrap["r_msb"], out=z)  # its shares mod 2^m suffice (recipes.wrap_masks)
    np.subtract(z, wrap["r_hi"], out=z)
    if c_hi is not None:
        np.add(z, c_hi, out=z)
    return z


SIGN_BIT: Final = 63
"""The sign test reads bit 63, the sign of a two's complement word, of ``x = c - r``."""


def less_than_zero_plan(
    shape: tuple[int, ...], *, product: tuple[int, ...] | None = None
) -> list[Recipe]:
    """Return the dealer material of :func:`less_than_zero`: a sign mask, BitLT, a daBit."""
    return [
        sign_masks(shape),
        *less_than_plan(shape, bits=SIGN_BIT),
        *plane_to_arith_plan(shape, product=product),
    ]


def less_than_zero(
    sess: PartySession,
    x: Ring,
    *,
    material: Sequence[Mapping[str, Ring]],
    times: Ring | None = None,
) -> Ring:
    """Return this party's additive share of ``[x < 0]`` (0 or 1) for any ``x`` in Z_2^64.

    ``x`` is read in two's complement (``-2^63 <= x < 2^63``, ring units), so ``[x < 0]``
    is its top bit ``x_63``. With ``times`` (a share of ``y``, of ``x``'s shape or
    ``(k, *x.shape)``; the plan made with ``product`` = that shape), return a share of
    ``y·[x < 0]`` instead, in the same 8 rounds: the product rides on the daBit's opening
    (:func:`~privet.smpc.bits.plane_to_arith`).

    With ``c = x + r`` opened (``r`` uniform: ``c`` reveals nothing), ``x = c - r`` mod
    2^64, whose top bit depends on every bit: ``x_63 = c_63 ⊕ r_63 ⊕ [c mod 2^63 < r mod
    2^63]``, the borrow into bit 63 (the MSB extraction of Catrina & de Hoogh 2010, SCN,
    §4, LTZ, in Z_2^k with ``k = 64``: there ``[x < 0] = -Trunc(x, k-1, k)``, the bit
    that ``c - r`` carries into position ``k - 1``; Escudero et al. 2020, CRYPTO, §5, for
    the wrap in Z_2^k). The borrow is BitLT on the mask's XOR-shared low 63 bits
    (:func:`~privet.smpc.bits.less_than_planes`), ``r_63`` is its last plane, ``c_63`` is
    public (party 0 adds it), and the XOR-shared result becomes additive with one daBit.
    One opening, ``⌈log2 63⌉ = 6`` rounds of AND gates and one daBit round. Because the
    test covers the whole ring, ``a < b`` is right for any two values whose difference
    does not wrap: ``|a - b| < 2^63`` ring units, so any two inside the storage range.
    The dealer sends no ``r >> m`` and no wrap bit, as the truncation would need
    (:func:`~privet.smpc.recipes.sign_masks`).
    """
    mask = material[0]
    (c,) = sess.open([add(x, mask["r"])], step="ltz")  # c = x + r
    return _sign_bit(sess, c, np.shape(x), material, times)


def _sign_bit(
    sess: PartySession,
    c: Ring,
    shape: tuple[int, ...],
    material: Sequence[Mapping[str, Ring]],
    times: Ring | None,
) -> Ring:
    """Finish :func:`less_than_zero` from its opened ``c`` (its material in order)."""
    r_bits = material[0]["r_bits"]
    # every bit of c in one transposition: 0..62 for the borrow, 63 for the sign
    c_planes = to_planes(c, SIGN_PLANES)
    borrow = less_than_planes(
        sess,
        c,
        r_bits[:SIGN_BIT],
        bits=SIGN_BIT,
        material=material[1:-1],
        c_planes=c_planes[:SIGN_BIT],
    )
    bit = np.bitwise_xor(borrow, r_bits[SIGN_BIT])  # ⊕ r_63
    if sess.leader:  # ⊕ c_63: the top bit of x = c - r, which is [x < 0]
        np.bitwise_xor(bit, c_planes[SIGN_BIT], out=bit)
    return plane_to_arith(sess, bit, shape, material[-1], times=times)


def truncate_relu_plan(shape: tuple[int, ...], *, bits: int, mode: TruncationMode) -> list[Recipe]:
    """Return the dealer material of :func:`truncate_relu`: a truncation, then a sign test."""
    return [
        *truncation_plan(shape, bits=bits, mode=mode),
        *less_than_zero_plan(shape, product=shape),
    ]


def truncate_relu(
    sess: PartySession,
    x: Ring,
    *,
    bits: int,
    mode: TruncationMode,
    material: Sequence[Mapping[str, Ring]],
) -> Ring:
    """Return this party's share of ``relu(t)``, ``t`` the truncation of ``x`` by ``bits``.

    A layer's product, then its ReLU, with one round fewer in ``"dealer"`` mode: the sign
    of ``⌊x/2^m⌋`` is that of ``x``, so the sign test runs on ``x`` and its masked opening
    goes out together with the truncation's (two masks, independent: nothing more is
    revealed), and ``t - t·[x < 0]`` rides on the sign test's last opening. With the
    dealer truncation's ``t = ⌊x/2^m⌋ + b`` (``b`` ∈ {0, 1}) the result is ``relu(t)``
    exactly: where ``x < 0``, ``t`` is 0 or negative and the output is 0. Needs
    ``|x| < 2^62`` (ring units), as the truncation does. Other modes truncate first.
    """
    n_trunc = len(truncation_plan(np.shape(x), bits=bits, mode=mode))
    trunc_mat, sign_mat = material[:n_trunc], material[n_trunc:]
    if mode != "dealer":
        t = truncate(sess, x, bits=bits, mode=mode, material=trunc_mat)
        return sub(t, less_than_zero(sess, t, material=sign_mat, times=t))
    masks = [_biased_mask(sess, x, trunc_mat[0]["r"]), add(x, sign_mat[0]["r"])]
    c_trunc, c_sign = sess.open(masks, step=f"trunc/{bits}+ltz")
    t = _truncated(sess, c_trunc, trunc_mat[0], bits)
    return sub(t, _sign_bit(sess, c_sign, np.shape(x), sign_mat, times=t))
