"""Contribution bounding: cap what one privacy unit adds to a query, before any noise.

Differential privacy protects a *privacy unit* (a person, identified by a column) only if
the noise covers everything that unit can change. privet bounds each unit's rows:

* **rows per unit** (``max_rows``): a unit keeps at most ``max_rows`` of its rows
  (non-grouped queries and histograms);
* **groups per unit** (``max_groups``) and **rows per group** (``max_rows_per_group``) for
  group-bys: a unit keeps at most ``max_rows_per_group`` rows in each group, and rows in at
  most ``max_groups`` groups.

Which rows stay is a *rule* that looks at one unit's rows only (so removing a unit never
changes what another unit keeps, the property the sensitivity proofs need):

* ``"random"`` (default): a uniformly random subset, drawn with the CSPRNG, unbiased;
* ``"first"``: the first rows in the table's row order (deterministic; biased if the table is
  sorted by something that matters).

The approach is the one of Wilson, Zhang, Lam, Desfontaines, Simmons-Marengo, Gipson 2020,
"Differentially Private SQL with Bounded User Contribution" (PoPETs 2020(2), arXiv:1909.01917):
bound each user's contribution first, then calibrate the noise to the bounds. Nothing here
draws noise or releases a number.

Examples
--------
>>> import numpy as np
>>> codes = np.array([0, 0, 0, 1, 1, 2])
>>> rank_within(codes, rule="first").tolist()
[0, 1, 2, 0, 1, 0]
>>> truncate_rows(codes, n_codes=3, max_rows=2, rule="first").tolist()
[True, True, False, True, True, True]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from privet.core.checks import check_int
from privet.core.errors import ParameterError
from privet.core.random import SecureRandom

__all__ = [
    "RULES",
    "Rule",
    "bound_groups",
    "check_rule",
    "one_per_code",
    "rank_within",
    "truncate_rows",
]

Rule = Literal["random", "first"]
RULES: tuple[str, ...] = ("random", "first")


def check_rule(rule: object) -> Rule:
    """Return ``rule`` if it is ``"random"`` or ``"first"``, else raise ParameterError."""
    if rule == "random":
        return "random"
    if rule == "first":
        return "first"
    raise ParameterError(
        f"truncation must be 'random' (CSPRNG, unbiased) or 'first' (row order), got {rule!r}"
    )


def _sort_key(codes: NDArray[np.int64], rule: Rule, rng: SecureRandom | None) -> NDArray[np.int64]:
    """Order rows by code, and within a code by row position (first) or at random."""
    n = codes.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    top = int(codes.max()) + 1
    if rule == "first":
        if top <= (1 << 62) // max(n, 1):
            key = codes * np.int64(n) + np.arange(n, dtype=np.int64)
            return np.argsort(key, kind="quicksort")  # keys are distinct: order is unique
        return np.argsort(codes, kind="stable")
    if rng is None:
        raise ParameterError("the 'random' truncation rule needs a SecureRandom rng")
    if top < (1 << 30):
        # code in the high bits, 33 random bits below: one sort of distinct-enough keys.
        noise = (rng.uint64(n) >> np.uint64(31)).view(np.int64)
        key = (codes << np.int64(33)) | noise
        return np.argsort(key, kind="quicksort")
    rand = rng.uint64(n)
    return np.lexsort((rand, codes))


def _ranked_runs(
    codes: NDArray[np.int64], rule: Rule, rng: SecureRandom | None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return each row's rank within its code, and a dense id (0, 1, …) of its code."""
    n = codes.shape[0]
    ranks = np.empty(n, dtype=np.int64)
    run_id = np.empty(n, dtype=np.int64)
    if n == 0:
        return ranks, run_id
    order = _sort_key(codes, rule, rng)
    sorted_codes = codes[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(sorted_codes[1:], sorted_codes[:-1], out=starts[1:])
    positions = np.arange(n, dtype=np.int64)
    run_start = np.where(starts, positions, 0)
    np.maximum.accumulate(run_start, out=run_start)
    ranks[order] = positions - run_start
    run_id[order] = np.cumsum(starts) - 1
    return ranks, run_id


def rank_within(
    codes: NDArray[np.int64], *, rule: Rule, rng: SecureRandom | None = None
) -> NDArray[np.int64]:
    """Return each row's rank among the rows of the same code (0 = kept first).

    Parameters
    ----------
    codes : numpy.ndarray
        Non-negative ``int64`` codes (a unit, or a unit-and-group pair), one per row.
    rule : {"random", "first"}
        ``"first"``: ranks follow the row order. ``"random"``: a uniformly random order
        within each code (ties between the random keys have probability below 2**-33 and
        are broken by sort position).
    rng : SecureRandom or None
        The generator (needed for ``"random"``).

    Returns
    -------
    numpy.ndarray
        ``int64`` ranks, one per row.

    Examples
    --------
    >>> sorted(rank_within(np.array([5, 5, 5]), rule="random",
    ...     rng=SecureRandom.seeded(0)).tolist())
    [0, 1, 2]
    """
    return _ranked_runs(codes, rule, rng)[0]


def _first_of_code(codes: NDArray[np.int64], n_codes: int) -> NDArray[np.bool_]:
    """Mask of each code's first row in row order (``"first"`` with one row kept)."""
    n = codes.shape[0]
    first = np.full(n_codes, n, dtype=np.int64)
    rows = np.arange(n, dtype=np.int64)
    if bool((codes < 0).any()):
        valid = codes >= 0
        np.minimum.at(first, codes[valid], rows[valid])
    else:
        np.minimum.at(first, codes, rows)
    mask = np.zeros(n, dtype=bool)
    mask[first[first < n]] = True
    return mask


def one_per_code(
    codes: NDArray[np.int64], *, n_codes: int, rule: Rule, rng: SecureRandom | None = None
) -> NDArray[np.bool_]:
    """Return the mask that keeps exactly one row of each code (rows with ``-1``: none).

    ``"first"``: the code's first row in row order. ``"random"``: the row with the smallest
    63-bit random key (uniform; ties, of probability below n²·2**-63, go to the first row).
    Both run in linear time (no sort).

    Examples
    --------
    >>> one_per_code(np.array([2, 0, 2, -1, 0]), n_codes=3, rule="first").tolist()
    [True, True, False, False, False]
    >>> int(one_per_code(np.array([1, 1, 1]), n_codes=2, rule="random",
    ...     rng=SecureRandom.seeded(1)).sum())
    1
    """
    if rule == "first":
        return _first_of_code(codes, n_codes)
    if rng is None:
        raise ParameterError("the 'random' truncation rule needs a SecureRandom rng")
    n = codes.shape[0]
    keys = (rng.uint64(n) >> np.uint64(1)).view(np.int64)
    valid = codes >= 0
    best = np.full(n_codes, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, codes[valid], keys[valid])
    winners = np.where(valid, codes, 0)
    candidate = valid & (keys == best[winners])
    return _first_of_code(np.where(candidate, codes, -1), n_codes)


def truncate_rows(
    codes: NDArray[np.int64],
    *,
    n_codes: int,
    max_rows: int,
    rule: Rule,
    rng: SecureRandom | None = None,
    counts: NDArray[np.int64] | None = None,
    ranks: NDArray[np.int64] | None = None,
) -> NDArray[np.bool_]:
    """Return the mask of rows kept when each unit keeps at most ``max_rows`` rows.

    Rows with code ``-1`` (no unit) are never kept.

    Parameters
    ----------
    codes : numpy.ndarray
        Unit codes in ``[0, n_codes)``, or ``-1``.
    n_codes : int
        The number of codes.
    max_rows : int
        The most rows a unit keeps, >= 1.
    rule : {"random", "first"}
        Which rows stay (module docstring).
    rng : SecureRandom or None
        The generator, for ``"random"``.
    counts : numpy.ndarray or None
        Rows per code, if known (saves a pass).
    ranks : numpy.ndarray or None
        Precomputed :func:`rank_within` ranks of the valid rows under ``rule``, if cached.

    Returns
    -------
    numpy.ndarray
        ``bool`` mask of the kept rows.
    """
    max_rows = check_int(max_rows, name="max_rows", minimum=1)
    valid = codes >= 0
    if counts is None:
        counts = np.bincount(codes[valid], minlength=n_codes)
    if counts.size == 0 or int(counts.max()) <= max_rows:
        return valid  # no unit has more rows than allowed: the rule picks nothing
    if ranks is None:
        if max_rows == 1:
            return one_per_code(codes, n_codes=n_codes, rule=rule, rng=rng)
        ranks = rank_within(codes[valid], rule=rule, rng=rng)
    mask = np.zeros(codes.shape[0], dtype=bool)
    mask[valid] = ranks < max_rows
    return mask


def bound_groups(
    unit_codes: NDArray[np.int64],
    group_codes: NDArray[np.int64],
    *,
    n_groups: int,
    max_groups: int,
    max_rows_per_group: int,
    rule: Rule,
    rng: SecureRandom | None = None,
) -> NDArray[np.bool_]:
    """Return the mask of rows kept by group-by contribution bounding.

    Each unit keeps at most ``max_rows_per_group`` rows in a group, in at most
    ``max_groups`` groups. With ``"first"``, the groups kept are the unit's first groups in
    row order (by the row where each group first appears); with ``"random"``, a uniformly
    random set of them. Rows with a unit or group code of ``-1`` are never kept.

    Parameters
    ----------
    unit_codes, group_codes : numpy.ndarray
        ``int64`` codes per row; ``-1`` means missing.
    n_groups : int
        The number of group codes.
    max_groups : int
        The most groups a unit contributes to, >= 1.
    max_rows_per_group : int
        The most rows a unit keeps in one group, >= 1.
    rule : {"random", "first"}
        Which rows and groups stay.
    rng : SecureRandom or None
        The generator, for ``"random"``.

    Returns
    -------
    numpy.ndarray
        ``bool`` mask of the kept rows.

    Examples
    --------
    >>> units = np.array([0, 0, 0, 0, 1])
    >>> groups = np.array([3, 3, 4, 5, 3])
    >>> bound_groups(units, groups, n_groups=6, max_groups=2, max_rows_per_group=1,
    ...     rule="first").tolist()
    [True, False, True, False, True]
    """
    max_groups = check_int(max_groups, name="max_groups_per_unit", minimum=1)
    max_rows_per_group = check_int(max_rows_per_group, name="max_rows_per_group", minimum=1)
    n = unit_codes.shape[0]
    valid = (unit_codes >= 0) & (group_codes >= 0)
    rows = np.flatnonzero(valid)
    units = unit_codes[rows]
    if rows.size == 0:
        return valid
    width = max(int(n_groups), 1)
    if int(units.max()) < (1 << 62) // width:
        pairs = units * np.int64(width) + group_codes[rows]
    else:  # too many units × groups for one int64: factorize the pairs
        import pandas as pd

        pairs = np.asarray(
            pd.MultiIndex.from_arrays([units, group_codes[rows]]).factorize()[0], dtype=np.int64
        )
    pair_rank, pair_run = _ranked_runs(pairs, rule, rng)
    keep = pair_rank < max_rows_per_group
    heads = np.flatnonzero(pair_rank == 0)  # one row per (unit, group) pair
    # With "first", a pair's head is its first row, so ranking the heads in row order ranks
    # a unit's groups by where they first appear; with "random", in a fresh random order.
    head_rank = rank_within(units[heads], rule=rule, rng=rng)
    pair_ok = np.zeros(int(pair_run.max()) + 1, dtype=bool)
    pair_ok[pair_run[heads]] = head_rank < max_groups
    ok_rows = pair_ok[pair_run]
    mask = np.zeros(n, dtype=bool)
    mask[rows] = keep & ok_rows
    return mask
