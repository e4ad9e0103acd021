"""privet.dp.Session: the API, the budget (charge before noise, cache), and the bad inputs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from privet.accounting.events import (
    ComposedEvent,
    DiscreteLaplaceEvent,
    EpsilonDeltaEvent,
    ExponentialEvent,
)
from privet.core.random import SecureRandom
from privet.dp import GroupBy, QueryResult, Session
from privet.errors import (
    BudgetExceededError,
    BudgetNotFoundError,
    DataError,
    ParameterError,
    ParameterTypeError,
    PrivetError,
    UnsupportedEventError,
)
from privet.store import Ledger

BIG = 1e6  # an ε so large that the noise is negligible: checks the exact statistic


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite") as led:
        led.budget("pure", epsilon=1e9)
        led.budget("approx", epsilon=1e9, delta=1e-3, filter="basic")
        led.budget("small", epsilon=1.0)
        led.budget("rdp", epsilon=10.0, delta=1e-6, filter="rdp")
        yield led


def visits() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient": [1, 1, 1, 2, 3, 3, 4, 5, 5, 5, 5],
            "cost": [10.0, 20.0, 30.0, 5.0, 7.0, 8.0, 50.0, 1.0, 2.0, 3.0, 4.0],
            "ward": ["a", "a", "b", "a", "b", "b", "c", "a", "a", "a", "b"],
        }
    )


def session(ledger: Ledger, data: object = None, budget: str = "pure", **kw: object) -> Session:
    kw.setdefault("rng", SecureRandom.seeded(0))
    kw.setdefault("max_rows_per_unit", 10)
    return Session(
        visits() if data is None else data,
        privacy_unit="patient",
        ledger=ledger,
        budget=budget,
        **kw,  # type: ignore[arg-type]
    )


# -- the queries ------------------------------------------------------------------------------


def test_every_query_returns_a_result_with_its_event(ledger: Ledger) -> None:
    s = session(ledger)
    cases = [
        (s.count(epsilon=BIG), 11.0, DiscreteLaplaceEvent),
        (s.sum("cost", bounds=(0, 100), epsilon=BIG), 140.0, DiscreteLaplaceEvent),
        (s.mean("cost", bounds=(0, 100), epsilon=BIG), 140.0 / 11, ComposedEvent),
        (
            s.variance("cost", bounds=(0, 100), epsilon=BIG),
            float(np.var(visits().cost)),
            ComposedEvent,
        ),
        (s.quantile("cost", 0.5, bounds=(0, 100), epsilon=BIG), 7.0, ExponentialEvent),
    ]
    for result, exact, event_type in cases:
        assert isinstance(result, QueryResult)
        assert isinstance(result.event, event_type)
        # the median of 11 values: every point between the 5th and 7th value ties
        tolerance = 2.01 if result.query == "quantile" else 0.01
        assert result.value == pytest.approx(exact, abs=tolerance), result.query
        assert result.charge is not None
        assert not result.from_cache
        if result.ci is not None:
            lo, hi = result.ci
            assert lo <= result.value <= hi
    hist = s.histogram("ward", epsilon=BIG, keys=["a", "b", "c", "z"])
    assert hist.value == {"a": 6.0, "b": 4.0, "c": 1.0, "z": 0.0}
    assert isinstance(hist.event, DiscreteLaplaceEvent)


def test_pandas_polars_csv_parquet_give_the_same_statistics(ledger: Ledger, tmp_path: Path) -> None:
    frame = visits()
    frame.to_csv(tmp_path / "v.csv", index=False)
    frame.to_parquet(tmp_path / "v.parquet")
    for data in (frame, pl.from_pandas(frame), tmp_path / "v.csv", str(tmp_path / "v.parquet")):
        s = session(ledger, data)
        assert s.sum("cost", bounds=(0, 100), epsilon=BIG).value == pytest.approx(140.0, abs=1e-2)
        assert s.histogram("ward", epsilon=BIG, keys=["a", "b"]).value == pytest.approx(
            {"a": 6.0, "b": 4.0}, abs=0.5
        )


def test_rows_per_unit_bound_is_applied_and_documented_default_is_one(ledger: Ledger) -> None:
    s = Session(visits(), privacy_unit="patient", ledger=ledger, budget="pure")
    assert s.max_rows_per_unit == 1
    assert s.count(epsilon=BIG).value == 5.0  # five patients, one row each
    # 'first' keeps each patient's first rows in table order.
    s = session(ledger, max_rows_per_unit=2, truncation="first")
    assert s.sum("cost", bounds=(0, 100), epsilon=BIG).value == pytest.approx(
        10 + 20 + 5 + 7 + 8 + 50 + 1 + 2, abs=1e-2
    )
    assert s.count(epsilon=BIG, max_rows_per_unit=1).value == 5.0


def test_row_level_unit(ledger: Ledger) -> None:
    s = Session(visits(), privacy_unit=None, ledger=ledger, budget="pure")
    assert s.count(epsilon=BIG).value == 11.0
    with pytest.raises(ParameterError, match="its own unit"):
        Session(visits(), privacy_unit=None, ledger=ledger, budget="pure", max_rows_per_unit=3)


def test_groupby_public_keys(ledger: Ledger) -> None:
    s = session(ledger)
    g = s.groupby("ward", keys=["a", "b", "c", "d"], max_groups_per_unit=2, max_rows_per_group=3)
    assert isinstance(g, GroupBy)
    counts = g.count(epsilon=BIG)
    assert counts.value == {"a": 6.0, "b": 4.0, "c": 1.0, "d": 0.0}
    sums = g.sum("cost", bounds=(0, 100), epsilon=BIG)
    assert sums.value == pytest.approx({"a": 41.0, "b": 49.0, "c": 50.0, "d": 0.0}, abs=0.01)
    means = g.mean("cost", bounds=(0, 100), epsilon=BIG)
    assert means.value["c"] == pytest.approx(50.0, abs=0.01)
    assert means.value["d"] == 50.0  # no rows: the midpoint of the bounds
    assert isinstance(means.event, ComposedEvent)


def test_groupby_bounds_groups_and_rows(ledger: Ledger) -> None:
    s = session(ledger, truncation="first")
    g = s.groupby("ward", keys=["a", "b", "c"], max_groups_per_unit=1, max_rows_per_group=1)
    # each patient keeps one row in its first ward: 1→a, 2→a, 3→b, 4→c, 5→a
    assert g.count(epsilon=BIG).value == {"a": 3.0, "b": 1.0, "c": 1.0}


def test_nan_rows_dropped_after_bounding_and_inf_clamped(ledger: Ledger) -> None:
    frame = visits()
    frame.loc[0, "cost"] = np.nan
    frame.loc[3, "cost"] = np.inf
    frame.loc[4, "cost"] = -np.inf
    s = session(ledger, frame)
    # NaN row dropped; +inf clamps to 100, -inf to 0.
    assert s.sum("cost", bounds=(0, 100), epsilon=BIG).value == pytest.approx(
        140 - 10 - 5 - 7 + 100 + 0, abs=0.01
    )
    mean = s.mean("cost", bounds=(0, 100), epsilon=BIG).value
    assert mean == pytest.approx((140 - 10 - 5 - 7 + 100) / 10, abs=0.01)


def test_missing_units_are_dropped(ledger: Ledger) -> None:
    frame = visits()
    frame["patient"] = frame["patient"].astype("Int64")
    frame.loc[0, "patient"] = pd.NA
    assert session(ledger, frame).count(epsilon=BIG).value == 10.0


# -- the budget -------------------------------------------------------------------------------


class SpyRandom(SecureRandom):
    """A seeded generator that counts its draws."""

    draws = 0

    def _fill_view(self, view: memoryview) -> None:
        type(self).draws += 1
        super()._fill_view(view)


def test_unaffordable_query_raises_records_nothing_and_draws_nothing(ledger: Ledger) -> None:
    rng = SpyRandom.seeded(1)
    s = Session(visits(), privacy_unit="patient", ledger=ledger, budget="small", rng=rng)
    s.count(epsilon=0.75)
    before = ledger.get("small").history()
    SpyRandom.draws = 0
    for query in (
        lambda: s.count(epsilon=0.5),
        lambda: s.sum("cost", bounds=(0, 100), epsilon=0.5),
        lambda: s.quantile("cost", 0.5, bounds=(0, 100), epsilon=0.5),
        lambda: s.histogram("ward", epsilon=0.5, keys=["a"]),
        lambda: s.groupby("ward", keys=["a"]).mean("cost", bounds=(0, 1), epsilon=0.5),
    ):
        with pytest.raises(BudgetExceededError):
            query()
    assert SpyRandom.draws == 0  # no noise drawn
    assert ledger.get("small").history() == before  # nothing recorded
    assert ledger.get("small").spent() == (0.75, 0.0)


def test_repeated_query_costs_again_without_the_cache(ledger: Ledger) -> None:
    s = session(ledger, cache=False)
    a = s.count(epsilon=0.5)
    b = s.count(epsilon=0.5)
    assert not b.from_cache
    assert a.charge.id != b.charge.id
    assert ledger.get("pure").spent()[0] == pytest.approx(1.0)


def test_cached_query_is_free_and_identical(ledger: Ledger) -> None:
    s = session(ledger)
    first = s.sum("cost", bounds=(0, 100), epsilon=0.5)
    n_charges = len(ledger.get("pure").history())
    again = s.sum("cost", bounds=(0, 100), epsilon=0.5)
    assert again.from_cache
    assert again.value == first.value
    assert again.ci == first.ci
    assert again.charge is first.charge
    assert len(ledger.get("pure").history()) == n_charges
    # any change to the spec is a new, charged query
    other = s.sum("cost", bounds=(0, 100), epsilon=0.25)
    assert not other.from_cache
    assert len(ledger.get("pure").history()) == n_charges + 1
    # a new session does not share the cache
    fresh = session(ledger).sum("cost", bounds=(0, 100), epsilon=0.5)
    assert not fresh.from_cache
    s.clear_cache()
    assert not s.sum("cost", bounds=(0, 100), epsilon=0.5).from_cache


# -- partition selection ----------------------------------------------------------------------


def test_key_of_one_unit_is_never_released_and_popular_key_is(tmp_path: Path) -> None:
    rows = {"unit": [*list(range(2000)), 5000], "key": ["popular"] * 2000 + ["lonely"]}
    frame = pd.DataFrame(rows)
    rng = SecureRandom.seeded(3)
    lonely = popular = 0
    trials = 200
    with Ledger(tmp_path / "many.sqlite") as led:
        led.budget("b", epsilon=1e9, delta=0.5, filter="basic")
        s = Session(frame, privacy_unit="unit", ledger=led, budget="b", rng=rng, cache=False)
        for _ in range(trials):
            out = s.histogram("key", epsilon=1.0, delta=1e-6)
            lonely += "lonely" in out.value
            popular += "popular" in out.value
            assert isinstance(out.event, EpsilonDeltaEvent)
            assert out.event.delta == 1e-6
    assert lonely == 0
    assert popular == trials


def test_partition_selection_uses_a_share_of_the_budget_delta(ledger: Ledger) -> None:
    s = session(ledger, budget="approx")
    out = s.groupby("ward").count(epsilon=1.0)
    assert out.delta == pytest.approx(1e-4)  # 10 % of the budget's δ = 1e-3
    assert "threshold" in out.details
    assert list(out.value) == sorted(out.value)  # keys in sorted order, not table order


def test_partition_selection_needs_delta(ledger: Ledger) -> None:
    s = session(ledger)  # budget 'pure' has δ = 0
    with pytest.raises(ParameterError, match="keys"):
        s.histogram("ward", epsilon=1.0)
    with pytest.raises(ParameterError):
        session(ledger, budget="approx").histogram("ward", epsilon=1.0, delta=0.0)
    with pytest.raises(UnsupportedEventError, match="rdp"):
        session(ledger, budget="rdp").groupby("ward").count(epsilon=1.0)
    assert ledger.get("pure").history() == []


# -- bad inputs -------------------------------------------------------------------------------


def test_unknown_budget_says_how_to_create_it(ledger: Ledger) -> None:
    with pytest.raises(BudgetNotFoundError, match=r"ledger\.budget\('nope'.*privet budget create"):
        session(ledger, budget="nope")


def test_bad_inputs_are_clear_errors(ledger: Ledger) -> None:
    s = session(ledger)
    with pytest.raises(ParameterError, match="needs bounds"):
        s.sum("cost", bounds=None, epsilon=1.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="reversed"):
        s.mean("cost", bounds=(100, 0), epsilon=1.0)
    with pytest.raises(ParameterError, match="lo < hi"):
        s.quantile("cost", 0.5, bounds=(3, 3), epsilon=1.0)
    with pytest.raises(ParameterError, match="finite"):
        s.sum("cost", bounds=(0, math.inf), epsilon=1.0)
    with pytest.raises(ParameterError, match="pair"):
        s.sum("cost", bounds=(0, 1, 2), epsilon=1.0)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"unknown column 'costs'.*'cost'"):
        s.sum("costs", bounds=(0, 1), epsilon=1.0)
    with pytest.raises(DataError, match="not numeric"):
        s.sum("ward", bounds=(0, 1), epsilon=1.0)
    for eps in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ParameterError, match="epsilon"):
            s.count(epsilon=eps)
    with pytest.raises(ParameterTypeError):
        s.count(epsilon="1")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="q must be"):
        s.quantile("cost", 1.5, bounds=(0, 1), epsilon=1.0)
    with pytest.raises(ParameterError, match="distinct"):
        s.histogram("ward", epsilon=1.0, keys=["a", "a"])
    with pytest.raises(ParameterError, match="max_rows_per_unit"):
        s.count(epsilon=1.0, max_rows_per_unit=0)
    with pytest.raises(ParameterError, match="truncation"):
        session(ledger, truncation="last")
    with pytest.raises(DataError, match="privacy_unit column"):
        Session(visits(), privacy_unit="person", ledger=ledger, budget="pure")
    with pytest.raises(DataError, match="no rows"):
        session(ledger, visits().iloc[:0])
    with pytest.raises(DataError, match="no file"):
        session(ledger, "/nonexistent/file.csv")
    with pytest.raises(ParameterTypeError, match="DataFrame"):
        session(ledger, [1, 2, 3])
    assert ledger.get("pure").history() == []  # no bad input was charged


def test_errors_never_show_cells(ledger: Ledger) -> None:
    frame = visits()
    frame["secret"] = ["SSN-123-45-6789"] * len(frame)
    s = session(ledger, frame)
    with pytest.raises(PrivetError) as info:
        s.sum("secret", bounds=(0, 1), epsilon=1.0)
    assert "SSN" not in str(info.value)


def test_repr_and_properties(ledger: Ledger) -> None:
    s = session(ledger)
    assert s.columns == ("patient", "cost", "ward")
    assert s.privacy_unit == "patient"
    assert s.truncation == "random"
    assert "Session(unit='patient'" in repr(s)
    r = s.count(epsilon=1.0)
    assert "count" in repr(r)
    assert "ε=1" in repr(r)
    assert isinstance(r.error, float)
    assert r.error > 0
    g = s.groupby("ward", keys=["a"]).count(epsilon=1.0)
    assert isinstance(g.error, dict)
    assert "1 keys" in repr(g)
