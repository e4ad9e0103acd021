"""The :class:`Session` facade: DP queries over a table, each charged to a persisted budget.

A session holds one table (pandas, polars, or a CSV/Parquet file), the column that names
the privacy unit (the person), and a budget in a privacy ledger. Every query

1. validates its arguments and the columns it reads (schema only: nothing about the rows);
2. builds the privacy event it will cause and **charges the budget** — an unaffordable query
   raises :class:`~privet.errors.BudgetExceededError`, records nothing and releases nothing;
3. bounds each unit's contribution (:mod:`privet.dp.bounding`), computes the exact
   statistic in integers and adds calibrated integer noise (:mod:`privet.dp.queries`);
4. returns a :class:`~privet.dp.QueryResult`: the noisy value, its noise scale and
   interval, and the event charged.

**Contribution bounds are never computed from the data.** Each unit keeps at most
``max_rows_per_unit`` rows (default 1) in the non-grouped queries and histograms, and at most
``max_groups_per_unit`` groups × ``max_rows_per_group`` rows in a group-by (defaults 1 and
1); set them from what you know of the data's collection. Which rows stay is the session's
``truncation`` rule: ``"random"`` (default, CSPRNG) or ``"first"`` (row order).

**Data rules.** Rows whose unit is missing are dropped (they cannot be bounded). In a query
on a numeric column, a row whose value is NaN/missing is dropped *after* contribution
bounding; ±inf is clamped to the bounds like any other value. How many rows were dropped is
never released. Missing keys are not a key: such rows leave histograms and group-bys.

**Repeated questions.** Asking again costs again: fresh noise, a fresh charge. Averaging
repeated answers is the classic way to defeat noise, and the budget prices it. A session
keeps the releases it made (``cache=True``, in memory, for its lifetime): the *same* query
spec — same kind, columns, bounds, ε, δ, keys and contribution bounds — returns the earlier
release, identical and free (``from_cache=True``), since re-publishing a released value is
post-processing. Any change to the spec is a new query.

Examples
--------
>>> import os, tempfile
>>> import pandas as pd
>>> from privet.core.random import SecureRandom
>>> from privet.store import Ledger
>>> ledger = Ledger(os.path.join(tempfile.mkdtemp(), "ledger.sqlite"))
>>> _ = ledger.budget("clinic", epsilon=2.0)
>>> visits = pd.DataFrame({"patient": [1, 1, 2, 3, 3, 3], "cost": [10., 20, 5, 7, 8, 9]})
>>> s = Session(visits, privacy_unit="patient", ledger=ledger, budget="clinic",
...     max_rows_per_unit=3, rng=SecureRandom.seeded(0))
>>> r = s.sum("cost", bounds=(0, 50), epsilon=0.5)
>>> r.query, r.noise_scale, r.event
('sum', 300.0..., DiscreteLaplaceEvent(epsilon=0.5))
>>> s.sum("cost", bounds=(0, 50), epsilon=0.5).from_cache
True
>>> ledger.get("clinic").spent()
(0.5, 0.0)
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from privet.accounting.events import (
    ComposedEvent,
    DiscreteLaplaceEvent,
    EpsilonDeltaEvent,
    ExponentialEvent,
    PrivacyEvent,
)
from privet.accounting.filters import DEFAULT_CHARGE_DELTA_FRACTION
from privet.core.checks import check_delta, check_epsilon, check_int, check_probability
from privet.core.errors import (
    BudgetNotFoundError,
    DataError,
    ParameterError,
    ParameterTypeError,
    UnsupportedEventError,
)
from privet.core.random import SecureRandom, resolve_rng
from privet.dp import bounding, queries
from privet.dp.results import QueryResult
from privet.dp.table import Table

__all__ = ["BudgetLike", "GroupBy", "LedgerLike", "Session"]


class BudgetLike(Protocol):
    """What a session needs of a budget (:class:`privet.store.Budget` has it)."""

    @property
    def name(self) -> str:
        """The budget's name."""

    @property
    def filter(self) -> str:
        """The budget's privacy filter: ``basic``, ``advanced`` or ``rdp``."""

    def limit(self) -> tuple[float, float]:
        """Return the (ε, δ) limit."""

    def charge(self, event: PrivacyEvent, *, label: str = "", delta: float | None = None) -> Any:
        """Charge ``event`` or raise BudgetExceededError, recording nothing."""


class LedgerLike(Protocol):
    """What a session needs of a ledger (:class:`privet.store.Ledger` has it)."""

    def get(self, name: str) -> Any:
        """Return the existing budget ``name`` or raise BudgetNotFoundError."""


def _check_bounds(bounds: object, *, query: str, column: str) -> tuple[float, float]:
    """Return finite ``(lo, hi)`` with ``lo < hi``, or raise a ParameterError with the fix."""
    fix = (
        f"pass bounds=(lo, hi) for {column!r} from what you know of the data (its possible "
        "range), never from the data itself: a min/max read off the data leaks it"
    )
    if bounds is None:
        raise ParameterError(f"{query}() needs bounds: {fix}")
    if isinstance(bounds, str) or not isinstance(bounds, Sequence) or len(bounds) != 2:
        raise ParameterError(f"bounds must be a pair (lo, hi), got {bounds!r}; {fix}")
    lo, hi = bounds
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ParameterTypeError(f"bounds must be numbers, got {bounds!r}")
    flo, fhi = float(lo), float(hi)
    if not (math.isfinite(flo) and math.isfinite(fhi)):
        raise ParameterError(f"bounds must be finite, got {bounds!r}; {fix}")
    if flo >= fhi:
        raise ParameterError(
            f"bounds must satisfy lo < hi, got lo={flo!r}, hi={fhi!r}"
            + ("; they look reversed: pass (hi, lo) the other way round" if flo > fhi else "")
        )
    return flo, fhi


def _keys_tuple(keys: Iterable[Hashable] | None) -> tuple[Hashable, ...] | None:
    if keys is None:
        return None
    if isinstance(keys, str | bytes):
        raise ParameterTypeError(f"keys must be a collection of keys, got the string {keys!r}")
    out = tuple(keys)
    if not out:
        raise ParameterError("keys must not be empty; pass the public list of keys, or None")
    if len(set(out)) != len(out):
        raise ParameterError("keys must be distinct; remove the repeated keys")
    return out


def _release_event(eps: float, dlt: float, *, public: bool, parts: int = 1) -> PrivacyEvent:
    """Return the event of a release in ``parts`` discrete Laplace steps of ε/parts each.

    With public keys (or no keys): ``DiscreteLaplaceEvent(ε)``, or a ``ComposedEvent`` of
    ``parts`` ``DiscreteLaplaceEvent(ε/parts)``. With keys found by partition selection:
    ``EpsilonDeltaEvent(ε, δ)``.
    """
    if not public:
        return EpsilonDeltaEvent(epsilon=eps, delta=dlt)
    if parts == 1:
        return DiscreteLaplaceEvent(epsilon=eps)
    part = DiscreteLaplaceEvent(epsilon=eps / parts)
    return ComposedEvent(events=(part,) * parts)


def _key_index(
    table: Table,
    column: str,
    keys: tuple[Hashable, ...] | None,
    *,
    rows: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.int64], list[Hashable]]:
    """Each row's key position (``-1``: no key) and the key labels: public, or factorized."""
    if keys is not None:
        return table.indices(column, keys, rows=rows), list(keys)
    return table.factorize(column, rows=rows)


@dataclasses.dataclass(frozen=True)
class _Units:
    """The privacy-unit column as codes: never released, only used to bound contributions."""

    codes: NDArray[np.int64]  # per row, -1 for a missing unit
    n_codes: int
    counts: NDArray[np.int64]  # rows per code
    most_rows: int  # the largest count (decides whether truncation has anything to do)
    missing: bool  # whether some row has no unit

    @classmethod
    def of(cls, codes: NDArray[np.int64], n_codes: int) -> _Units:
        valid = codes >= 0
        missing = not bool(valid.all())
        counts = np.bincount(codes[valid] if missing else codes, minlength=n_codes)
        most = int(counts.max()) if counts.size else 0
        return cls(codes, n_codes, counts, most, missing)


class Session:
    """DP queries over one table, charged to one budget of a privacy ledger.

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame or path
        The table, or a ``.csv`` / ``.parquet`` file.
    privacy_unit : str or None
        The column naming the person (or household, device …) whom DP protects. ``None``
        states that every row is a different person.
    ledger : Ledger
        The privacy ledger (:class:`privet.store.Ledger`).
    budget : str
        The budget's name; it must exist (``ledger.budget(name, epsilon=...)`` or
        ``privet budget create NAME --epsilon ...``).
    max_rows_per_unit : int, default 1
        The most rows one unit contributes to a non-grouped query or a histogram; extra
        rows are dropped by the ``truncation`` rule. Every query may override it.
    truncation : {"random", "first"}, default "random"
        Which rows a unit keeps when it has too many (:mod:`privet.dp.bounding`).
    confidence : float, default 0.95
        The level of the intervals in the results.
    cache : bool, default True
        Return the earlier release, free, when the same query is asked again.
    rng : SecureRandom or None
        The generator (``None``: a fresh OS-keyed one).

    Raises
    ------
    BudgetNotFoundError
        If the ledger has no budget ``budget`` (the message says how to create it).
    DataError
        For an empty table or an unknown ``privacy_unit`` column.
    """

    def __init__(
        self,
        data: object,
        *,
        privacy_unit: str | None,
        ledger: LedgerLike,
        budget: str,
        max_rows_per_unit: int = 1,
        truncation: str = "random",
        confidence: float = 0.95,
        cache: bool = True,
        rng: SecureRandom | None = None,
    ) -> None:
        self._rng = resolve_rng(rng)
        self._rule = bounding.check_rule(truncation)
        self._confidence = check_probability(
            confidence, name="confidence", allow_zero=False, allow_one=False
        )
        self._max_rows = check_int(max_rows_per_unit, name="max_rows_per_unit", minimum=1)
        if not hasattr(ledger, "get"):
            raise ParameterTypeError(
                f"ledger must be a privet.store.Ledger, got {type(ledger).__name__}"
            )
        if not isinstance(budget, str):
            raise ParameterTypeError(f"budget must be a budget name (str), got {budget!r}")
        try:
            self._budget: BudgetLike = ledger.get(budget)
        except BudgetNotFoundError as exc:
            raise BudgetNotFoundError(
                f"{exc} (or on the command line: privet budget create {budget} --epsilon 1.0)"
            ) from None
        self._table = Table(data)
        if self._table.n_rows == 0:
            raise DataError(
                "the table has no rows; a DP session needs data (check the file or filter)"
            )
        self._unit = privacy_unit
        self._units: _Units | None = None
        self._ranks: NDArray[np.int64] | None = None
        if privacy_unit is not None:
            self._table.check_column(privacy_unit, role="privacy_unit column")
            self._units = _Units.of(*self._table.codes(privacy_unit))
        elif self._max_rows != 1:
            raise ParameterError(
                "with privacy_unit=None every row is its own unit, so max_rows_per_unit "
                f"must be 1, got {self._max_rows}; name the unit column to bound more rows"
            )
        self._masks: dict[int, NDArray[np.bool_] | None] = {}
        self._cache_on = bool(cache)
        self._cache: dict[tuple[Any, ...], QueryResult] = {}

    # -- properties ----------------------------------------------------------------------

    @property
    def columns(self) -> tuple[str, ...]:
        """The table's column names."""
        return self._table.columns

    @property
    def privacy_unit(self) -> str | None:
        """The privacy-unit column (``None``: one row per unit)."""
        return self._unit

    @property
    def budget(self) -> BudgetLike:
        """The budget every query is charged to."""
        return self._budget

    @property
    def max_rows_per_unit(self) -> int:
        """The session's default bound on rows per unit."""
        return self._max_rows

    @property
    def truncation(self) -> str:
        """The truncation rule: ``"random"`` or ``"first"``."""
        return self._rule

    def column_kind(self, column: str) -> str:
        """Return ``"numeric"``, ``"boolean"``, ``"categorical"`` or ``"other"`` (schema only)."""
        return self._table.kind(self._table.check_column(column))

    def clear_cache(self) -> None:
        """Forget earlier releases: the same query asked again is charged again."""
        self._cache.clear()

    def __repr__(self) -> str:
        return (
            f"Session(unit={self._unit!r}, budget={self._budget.name!r}, "
            f"max_rows_per_unit={self._max_rows}, truncation={self._rule!r})"
        )

    # -- internals -----------------------------------------------------------------------

    def _rows(self, max_rows: int | None) -> tuple[int, NDArray[np.bool_] | None]:
        """Return the bound R and the mask of rows kept (None: every row)."""
        r = (
            self._max_rows
            if max_rows is None
            else check_int(max_rows, name="max_rows_per_unit", minimum=1)
        )
        units = self._units
        if units is None:
            if r != 1:
                raise ParameterError(
                    "with privacy_unit=None every row is its own unit: max_rows_per_unit "
                    f"must be 1, got {r}"
                )
            return r, None
        if r not in self._masks:
            codes = units.codes
            if units.most_rows <= r:
                mask = (codes >= 0) if units.missing else None
            elif r == 1:
                mask = bounding.one_per_code(
                    codes, n_codes=units.n_codes, rule=self._rule, rng=self._rng
                )
            else:
                if self._ranks is None:  # drawn once per session (random rule)
                    self._ranks = bounding.rank_within(
                        codes[codes >= 0], rule=self._rule, rng=self._rng
                    )
                mask = bounding.truncate_rows(
                    codes,
                    n_codes=units.n_codes,
                    max_rows=r,
                    rule=self._rule,
                    counts=units.counts,
                    ranks=self._ranks,
                )
            if len(self._masks) >= 8:
                self._masks.clear()
            self._masks[r] = mask
        return r, self._masks[r]

    def _values(self, column: str, mask: NDArray[np.bool_] | None) -> NDArray[np.float64]:
        """Return the column on the kept rows, NaN rows dropped (count never released)."""
        col = self._table.numeric(column)
        if mask is not None:
            col = col[mask]
        nan = np.isnan(col)
        if nan.any():
            col = col[~nan]
        return col

    def _cached(self, key: tuple[Any, ...]) -> QueryResult | None:
        if not self._cache_on:
            return None
        hit = self._cache.get(key)
        return None if hit is None else dataclasses.replace(hit, from_cache=True)

    def _finish(
        self,
        key: tuple[Any, ...],
        query: str,
        released: queries.Released,
        *,
        epsilon: float,
        delta: float,
        event: PrivacyEvent,
        charge: Any,
    ) -> QueryResult:
        result = QueryResult(
            query=query,
            value=released.value,
            ci=released.ci,
            confidence=self._confidence,
            noise_scale=released.noise_scale,
            noise_std=released.noise_std,
            mechanism=released.mechanism,
            epsilon=epsilon,
            delta=delta,
            event=event,
            charge=charge,
            details=released.details,
        )
        if self._cache_on:
            self._cache[key] = result
        return result

    def _charge(self, event: PrivacyEvent, label: str) -> Any:
        return self._budget.charge(event, label=label[:1000])

    def _selection_delta(self, delta: float | None) -> float:
        """δ for partition selection: ``delta``, else a share of the budget's δ."""
        if self._budget.filter == "rdp":
            raise UnsupportedEventError(
                f"budget {self._budget.name!r} uses the 'rdp' filter, which cannot charge "
                "the (ε, δ) of DP partition selection (keys=None). Pass the public keys "
                "(keys=[...]), or use a budget created with filter='basic' or 'advanced' "
                "and delta > 0 (privet budget create NAME --epsilon E --delta D --filter basic)"
            )
        if delta is not None:
            d = check_delta(delta)
            if d > 0:
                return d
        else:
            limit = self._budget.limit()[1]
            if limit > 0:
                return DEFAULT_CHARGE_DELTA_FRACTION * limit
        raise ParameterError(
            "keys=None asks privet to find the keys itself (DP partition selection), which "
            f"needs δ > 0, but budget {self._budget.name!r} has δ = "
            f"{self._budget.limit()[1]:g} and no delta= was given. Pass the public keys "
            "(keys=[...]), or pass delta= on a budget with δ > 0"
        )

    # -- queries -------------------------------------------------------------------------

    def count(self, *, epsilon: float, max_rows_per_unit: int | None = None) -> QueryResult:
        """Return the noisy number of rows (each unit counts at most R rows).

        Sensitivity R; discrete Laplace of scale R/ε; event ``DiscreteLaplaceEvent(ε)``.

        Parameters
        ----------
        epsilon : float
            ε > 0.
        max_rows_per_unit : int or None
            R; ``None``: the session's.

        Returns
        -------
        QueryResult
            The noisy count.
        """
        eps = check_epsilon(epsilon)
        r, mask = self._rows(max_rows_per_unit)
        key = ("count", eps, r)
        hit = self._cached(key)
        if hit is not None:
            return hit
        event = DiscreteLaplaceEvent(epsilon=eps)
        charge = self._charge(event, f"dp.count(ε={eps:g}, rows/unit={r})")
        n = self._table.n_rows if mask is None else int(np.count_nonzero(mask))
        out = queries.release_count(
            n, max_rows=r, epsilon=eps, rng=self._rng, confidence=self._confidence
        )
        return self._finish(key, "count", out, epsilon=eps, delta=0.0, event=event, charge=charge)

    def _numeric_query(
        self,
        query: str,
        column: str,
        bounds: object,
        epsilon: float,
        max_rows_per_unit: int | None,
        extra: tuple[Any, ...] = (),
    ) -> tuple[str, tuple[float, float], float, int, NDArray[np.bool_] | None, tuple[Any, ...]]:
        column, lo, hi = self._numeric_column(query, column, bounds)
        eps = check_epsilon(epsilon)
        r, mask = self._rows(max_rows_per_unit)
        return column, (lo, hi), eps, r, mask, (query, column, lo, hi, eps, r, *extra)

    def _numeric_column(self, query: str, column: str, bounds: object) -> tuple[str, float, float]:
        """Return a numeric (or boolean) column's name and the checked ``bounds``."""
        column = self._table.check_column(column)
        if self._table.kind(column) not in ("numeric", "boolean"):
            self._table.numeric(column)  # raises the DataError naming the column
        lo, hi = _check_bounds(bounds, query=query, column=column)
        return column, lo, hi

    def _clamped(
        self,
        query: str,
        column: str,
        bounds: object,
        epsilon: float,
        max_rows_per_unit: int | None,
        parts: int,
        release: Callable[..., queries.Released],
    ) -> QueryResult:
        """Run sum, mean or variance: ``parts`` discrete Laplace releases of ε/parts each."""
        column, (lo, hi), eps, r, mask, key = self._numeric_query(
            query, column, bounds, epsilon, max_rows_per_unit
        )
        hit = self._cached(key)
        if hit is not None:
            return hit
        event = _release_event(eps, 0.0, public=True, parts=parts)
        charge = self._charge(event, f"dp.{query}({column}; [{lo:g}, {hi:g}]; ε={eps:g}; R={r})")
        out = release(
            self._values(column, mask),
            lo=lo,
            hi=hi,
            max_rows=r,
            epsilon=eps,
            rng=self._rng,
            confidence=self._confidence,
        )
        return self._finish(key, query, out, epsilon=eps, delta=0.0, event=event, charge=charge)

    def sum(
        self,
        column: str,
        *,
        bounds: tuple[float, float],
        epsilon: float,
        max_rows_per_unit: int | None = None,
    ) -> QueryResult:
        """Return the noisy sum of ``column`` clamped to ``bounds``.

        Float-safe: values are clamped, quantized to a power-of-two grid and summed exactly
        in integers; discrete Laplace noise is calibrated to ``R · max(|L|, |H|)`` grid steps
        (Casacuberta et al. 2022; :mod:`privet.dp.fixedpoint`). Event:
        ``DiscreteLaplaceEvent(ε)``.

        Parameters
        ----------
        column : str
            A numeric column.
        bounds : tuple of float
            ``(lo, hi)``, public, ``lo < hi``.
        epsilon : float
            ε > 0.
        max_rows_per_unit : int or None
            R; ``None``: the session's.

        Returns
        -------
        QueryResult
            The noisy sum.
        """
        return self._clamped(
            "sum", column, bounds, epsilon, max_rows_per_unit, 1, queries.release_sum
        )

    def mean(
        self,
        column: str,
        *,
        bounds: tuple[float, float],
        epsilon: float,
        max_rows_per_unit: int | None = None,
    ) -> QueryResult:
        """Return the noisy mean of ``column`` clamped to ``bounds``.

        A noisy centered sum over a noisy count, ε/2 each (:func:`queries.release_mean`).
        Event: ``ComposedEvent`` of two ``DiscreteLaplaceEvent(ε/2)``.
        """
        return self._clamped(
            "mean", column, bounds, epsilon, max_rows_per_unit, 2, queries.release_mean
        )

    def variance(
        self,
        column: str,
        *,
        bounds: tuple[float, float],
        epsilon: float,
        max_rows_per_unit: int | None = None,
    ) -> QueryResult:
        """Return the noisy (population) variance of ``column`` clamped to ``bounds``.

        Noisy count, Σy and Σy² of the centered values, ε/3 each
        (:func:`queries.release_variance`). Event: ``ComposedEvent`` of three
        ``DiscreteLaplaceEvent(ε/3)``.
        """
        return self._clamped(
            "variance", column, bounds, epsilon, max_rows_per_unit, 3, queries.release_variance
        )

    def quantile(
        self,
        column: str,
        q: float,
        *,
        bounds: tuple[float, float],
        epsilon: float,
        max_rows_per_unit: int | None = None,
    ) -> QueryResult:
        """Return a DP ``q``-quantile of ``column`` within ``bounds``.

        The exponential mechanism over the sorted data (Smith 2011;
        :func:`queries.quantile_sample`). Event: ``ExponentialEvent(ε)``. The result has no
        interval; its ``noise_scale`` is ``2R/ε`` in ranks.

        Parameters
        ----------
        column : str
            A numeric column.
        q : float
            The quantile, in [0, 1] (0.5 is the median).
        bounds : tuple of float
            ``(lo, hi)``: the output lies in it.
        epsilon : float
            ε > 0.
        max_rows_per_unit : int or None
            R; ``None``: the session's.

        Returns
        -------
        QueryResult
            The noisy quantile.
        """
        qq = check_probability(q, name="q")
        column, (lo, hi), eps, r, mask, key = self._numeric_query(
            "quantile", column, bounds, epsilon, max_rows_per_unit, (qq,)
        )
        hit = self._cached(key)
        if hit is not None:
            return hit
        event = ExponentialEvent(epsilon=eps)
        charge = self._charge(
            event, f"dp.quantile({column}; q={qq:g}; [{lo:g}, {hi:g}]; ε={eps:g}; R={r})"
        )
        out = queries.release_quantile(
            self._values(column, mask),
            q=qq,
            lo=lo,
            hi=hi,
            max_rows=r,
            epsilon=eps,
            rng=self._rng,
        )
        return self._finish(
            key, "quantile", out, epsilon=eps, delta=0.0, event=event, charge=charge
        )

    def histogram(
        self,
        column: str,
        *,
        epsilon: float,
        keys: Iterable[Hashable] | None = None,
        delta: float | None = None,
        max_rows_per_unit: int | None = None,
    ) -> QueryResult:
        """Return noisy row counts per value of ``column``.

        Each unit keeps at most R rows (then rows whose value is not a key leave), so the
        vector of counts has L1-sensitivity R: discrete Laplace of scale R/ε per key.

        * ``keys`` given (public): every key gets a noisy count, even keys absent from the
          data. Event ``DiscreteLaplaceEvent(ε)``.
        * ``keys=None``: the keys are read from the data and released only if their noisy
          count clears a threshold (:mod:`privet.dp.partition`); needs δ
          (``delta=``, or 10 % of the budget's δ). Event ``EpsilonDeltaEvent(ε, δ)``.

        Parameters
        ----------
        column : str
            The column whose values are the keys.
        epsilon : float
            ε > 0.
        keys : iterable or None
            The public keys.
        delta : float or None
            δ for partition selection (keys=None only).
        max_rows_per_unit : int or None
            R; ``None``: the session's.

        Returns
        -------
        QueryResult
            ``value`` is a dict key → noisy count.
        """
        column = self._table.check_column(column)
        eps = check_epsilon(epsilon)
        kt = _keys_tuple(keys)
        r, mask = self._rows(max_rows_per_unit)
        public = kt is not None
        dlt = 0.0 if public else self._selection_delta(delta)
        key = ("histogram", column, eps, dlt, kt, r)
        hit = self._cached(key)
        if hit is not None:
            return hit
        event = _release_event(eps, dlt, public=public)
        charge = self._charge(
            event,
            f"dp.histogram({column}; ε={eps:g}; δ={dlt:g}; R={r}; "
            + ("public keys" if public else "partition selection")
            + ")",
        )
        groups, labels = self._group_index(column, kt, mask)
        out = queries.release_group_counts(
            groups,
            labels,
            l1=r,
            max_partitions=r,
            max_count=r,
            epsilon=eps,
            delta=dlt,
            public=public,
            rng=self._rng,
            confidence=self._confidence,
        )
        return self._finish(
            key, "histogram", out, epsilon=eps, delta=dlt, event=event, charge=charge
        )

    def _group_index(
        self, column: str, keys: tuple[Hashable, ...] | None, mask: NDArray[np.bool_] | None
    ) -> tuple[NDArray[np.int64], list[Hashable]]:
        """Each kept row's key index (rows without a key dropped), and the key labels."""
        idx, labels = _key_index(self._table, column, keys, rows=mask)
        return idx[idx >= 0], labels

    def groupby(
        self,
        column: str,
        *,
        keys: Iterable[Hashable] | None = None,
        max_groups_per_unit: int = 1,
        max_rows_per_group: int = 1,
    ) -> GroupBy:
        """Return a :class:`GroupBy` on ``column``, with its contribution bounds.

        Parameters
        ----------
        column : str
            The grouping column.
        keys : iterable or None
            The public group keys; ``None``: found by DP partition selection (needs δ).
        max_groups_per_unit : int, default 1
            k: the most groups one unit contributes to.
        max_rows_per_group : int, default 1
            m: the most rows one unit contributes to one group.

        Returns
        -------
        GroupBy
            Its ``count``, ``sum`` and ``mean`` charge this session's budget.
        """
        column = self._table.check_column(column, role="group-by column")
        k = check_int(max_groups_per_unit, name="max_groups_per_unit", minimum=1)
        m = check_int(max_rows_per_group, name="max_rows_per_group", minimum=1)
        return GroupBy(self, column, _keys_tuple(keys), k, m)


class GroupBy:
    """Grouped DP queries; make one with :meth:`Session.groupby`.

    Each unit keeps at most ``m`` rows in each of at most ``k`` groups
    (:func:`privet.dp.bounding.bound_groups`, with the session's truncation rule), so a
    vector of per-group counts has L1-sensitivity ``k·m`` and per-group sums
    ``k·m·max(|L|, |H|)`` grid steps.
    """

    def __init__(
        self,
        session: Session,
        column: str,
        keys: tuple[Hashable, ...] | None,
        max_groups: int,
        max_rows: int,
    ) -> None:
        self._s = session
        self._column = column
        self._keys = keys
        self._k = max_groups
        self._m = max_rows
        self._bounded: tuple[NDArray[np.bool_], NDArray[np.int64], list[Hashable]] | None = None

    def __repr__(self) -> str:
        keys = "public keys" if self._keys is not None else "partition selection"
        return (
            f"GroupBy({self._column!r}, {keys}, max_groups_per_unit={self._k}, "
            f"max_rows_per_group={self._m})"
        )

    def _rows(self) -> tuple[NDArray[np.bool_], NDArray[np.int64], list[Hashable]]:
        """Return the kept rows' mask, their group index and the labels (computed once)."""
        if self._bounded is None:
            idx, labels = _key_index(self._s._table, self._column, self._keys)
            units = self._s._units
            if units is None:  # one row per unit: every bound already holds
                mask = idx >= 0
            else:
                codes = units.codes
                if units.most_rows <= min(self._k, self._m):
                    mask = (idx >= 0) & (codes >= 0)
                elif self._k == 1 and self._m == 1:  # one row per unit, among keyed rows
                    mask = bounding.one_per_code(
                        np.where(idx >= 0, codes, -1),
                        n_codes=units.n_codes,
                        rule=self._s._rule,
                        rng=self._s._rng,
                    )
                else:
                    mask = bounding.bound_groups(
                        codes,
                        idx,
                        n_groups=len(labels),
                        max_groups=self._k,
                        max_rows_per_group=self._m,
                        rule=self._s._rule,
                        rng=self._s._rng,
                    )
            self._bounded = (mask, idx[mask], labels)
        return self._bounded

    def _spec(self, query: str, epsilon: float, delta: float | None) -> tuple[float, float, bool]:
        eps = check_epsilon(epsilon)
        public = self._keys is not None
        dlt = 0.0 if public else self._s._selection_delta(delta)
        return eps, dlt, public

    def _label(self, query: str, extra: str, eps: float, dlt: float) -> str:
        return (
            f"dp.groupby({self._column}; k={self._k}; m={self._m}).{query}({extra}ε={eps:g}; "
            f"δ={dlt:g})"
        )

    def count(self, *, epsilon: float, delta: float | None = None) -> QueryResult:
        """Return noisy row counts per group (sensitivity k·m; thresholded if keys=None).

        Event: ``DiscreteLaplaceEvent(ε)`` with public keys, else ``EpsilonDeltaEvent(ε, δ)``.
        """
        eps, dlt, public = self._spec("count", epsilon, delta)
        key = ("groupby.count", self._column, self._keys, self._k, self._m, eps, dlt)
        hit = self._s._cached(key)
        if hit is not None:
            return hit
        event = _release_event(eps, dlt, public=public)
        charge = self._s._charge(event, self._label("count", "", eps, dlt))
        _, groups, labels = self._rows()
        out = queries.release_group_counts(
            groups,
            labels,
            l1=self._k * self._m,
            max_partitions=self._k,
            max_count=self._m,
            epsilon=eps,
            delta=dlt,
            public=public,
            rng=self._s._rng,
            confidence=self._s._confidence,
        )
        return self._s._finish(
            key, "groupby.count", out, epsilon=eps, delta=dlt, event=event, charge=charge
        )

    def _numeric(
        self, query: str, column: str, bounds: object, epsilon: float, delta: float | None
    ) -> tuple[str, float, float, float, float, bool, tuple[Any, ...]]:
        column, lo, hi = self._s._numeric_column(query, column, bounds)
        eps, dlt, public = self._spec(query, epsilon, delta)
        key = (query, self._column, self._keys, self._k, self._m, column, lo, hi, eps, dlt)
        return column, lo, hi, eps, dlt, public, key

    def _values(self, column: str) -> tuple[NDArray[np.float64], NDArray[np.int64], list[Hashable]]:
        mask, groups, labels = self._rows()
        values = self._s._table.numeric(column)[mask]
        ok = ~np.isnan(values)
        if not ok.all():
            values, groups = values[ok], groups[ok]
        return values, groups, labels

    def _clamped(
        self,
        query: str,
        column: str,
        bounds: object,
        epsilon: float,
        delta: float | None,
        parts: int,
        release: Callable[..., queries.Released],
    ) -> QueryResult:
        """Run per-group sum or mean: ``parts`` releases of ε/parts (with public keys)."""
        column, lo, hi, eps, dlt, public, key = self._numeric(
            f"groupby.{query}", column, bounds, epsilon, delta
        )
        hit = self._s._cached(key)
        if hit is not None:
            return hit
        event = _release_event(eps, dlt, public=public, parts=parts)
        charge = self._s._charge(
            event, self._label(query, f"{column}; [{lo:g}, {hi:g}]; ", eps, dlt)
        )
        values, groups, labels = self._values(column)
        out = release(
            values,
            groups,
            labels,
            lo=lo,
            hi=hi,
            l1_rows=self._k * self._m,
            max_partitions=self._k,
            max_count=self._m,
            epsilon=eps,
            delta=dlt,
            public=public,
            rng=self._s._rng,
            confidence=self._s._confidence,
        )
        return self._s._finish(
            key, f"groupby.{query}", out, epsilon=eps, delta=dlt, event=event, charge=charge
        )

    def sum(
        self,
        column: str,
        *,
        bounds: tuple[float, float],
        epsilon: float,
        delta: float | None = None,
    ) -> QueryResult:
        """Return noisy per-group sums of ``column`` clamped to ``bounds`` (fixed point).

        With keys=None, ε/2 selects the groups (thresholded noisy counts) and ε/2 goes to
        the sums. Event: ``DiscreteLaplaceEvent(ε)`` or ``EpsilonDeltaEvent(ε, δ)``.
        """
        return self._clamped("sum", column, bounds, epsilon, delta, 1, queries.release_group_sums)

    def mean(
        self,
        column: str,
        *,
        bounds: tuple[float, float],
        epsilon: float,
        delta: float | None = None,
    ) -> QueryResult:
        """Return noisy per-group means: noisy centered sums / noisy counts, ε/2 each.

        Event: ``ComposedEvent`` of two ``DiscreteLaplaceEvent(ε/2)``, or
        ``EpsilonDeltaEvent(ε, δ)`` with keys=None (the counts also select the groups).
        """
        return self._clamped("mean", column, bounds, epsilon, delta, 2, queries.release_group_means)
