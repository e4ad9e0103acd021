"""The ledger's API contract: budgets, charges, limits, validation, persistence."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sqlite3
from pathlib import Path
from typing import ClassVar

import pytest

import privet.store
from privet.accounting.events import (
    ComposedEvent,
    EpsilonDeltaEvent,
    GaussianEvent,
    LaplaceEvent,
    PrivacyEvent,
    SelfComposedEvent,
)
from privet.errors import (
    BudgetConflictError,
    BudgetExceededError,
    BudgetNotFoundError,
    LedgerError,
    ParameterError,
    ParameterTypeError,
    UnsupportedEventError,
)
from privet.store import Budget, Charge, Ledger, LimitChange


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "ledger.sqlite")
    yield led  # type: ignore[misc]
    led.close()


def test_store_exports_are_pinned() -> None:
    assert sorted(privet.store.__all__) == ["Budget", "Charge", "Ledger", "LimitChange"]
    for name in privet.store.__all__:
        assert getattr(privet.store, name) is not None


def test_file_is_marked_as_a_privet_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    assert path.stat().st_mode & 0o777 == 0o600
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x70727674
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_create_get_and_list(ledger: Ledger) -> None:
    a = ledger.budget("a", epsilon=1.0)
    b = ledger.budget("b", epsilon=2.0, delta=1e-6)
    c = ledger.budget("c", epsilon=2.0, delta=1e-6, filter="advanced")
    assert (a.filter, b.filter, c.filter) == ("basic", "rdp", "advanced")
    assert a.limit() == (1.0, 0.0)
    assert ledger.get("b").limit() == (2.0, 1e-6)
    assert [x.name for x in ledger.budgets()] == ["a", "b", "c"]
    again = ledger.budget("a", epsilon=1.0)  # idempotent with the same limits
    assert isinstance(again, Budget)
    assert again.limit() == (1.0, 0.0)
    with pytest.raises(BudgetNotFoundError, match=r"ledger\.budget"):
        ledger.get("missing")


def test_conflicting_recreation_is_refused(ledger: Ledger) -> None:
    ledger.budget("a", epsilon=1.0)
    with pytest.raises(BudgetConflictError, match="raise_limit"):
        ledger.budget("a", epsilon=2.0)
    with pytest.raises(BudgetConflictError):
        ledger.budget("a", epsilon=1.0, delta=1e-6, filter="basic")
    with pytest.raises(BudgetConflictError):
        ledger.budget("a", epsilon=1.0, delta=1e-6)  # other δ, other default filter
    ledger.budget("r", epsilon=1.0, delta=1e-6)
    with pytest.raises(BudgetConflictError, match="'rdp'"):
        ledger.budget("r", epsilon=1.0, delta=1e-6, filter="advanced")
    assert ledger.get("a").limit() == (1.0, 0.0)


def test_charge_records_and_spent_plus_remaining_is_the_limit(ledger: Ledger) -> None:
    budget = ledger.budget("stats", epsilon=1.0)
    charge = budget.charge(LaplaceEvent(epsilon=0.3), label="count")
    assert isinstance(charge, Charge)
    assert (charge.budget, charge.label, charge.epsilon, charge.delta) == (
        "stats",
        "count",
        0.3,
        0.0,
    )
    assert charge.event == LaplaceEvent(epsilon=0.3)
    assert charge.timestamp.tzinfo is not None
    assert abs(charge.timestamp - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    budget.charge(LaplaceEvent(epsilon=0.2), label="mean")
    spent, remaining = budget.spent(), budget.remaining()
    assert spent == (pytest.approx(0.5), 0.0)
    assert spent[0] + remaining[0] == pytest.approx(1.0)
    assert spent[1] + remaining[1] == 0.0
    assert [c.label for c in budget.history()] == ["count", "mean"]
    assert budget.history()[0] == charge


def test_overspending_raises_and_records_nothing(ledger: Ledger) -> None:
    budget = ledger.budget("stats", epsilon=1.0)
    for _ in range(3):
        budget.charge(LaplaceEvent(epsilon=0.3))
    before = budget.history()
    with pytest.raises(BudgetExceededError) as info:
        budget.charge(LaplaceEvent(epsilon=0.3), label="one too many")
    message = str(info.value)
    assert "'stats'" in message
    assert "ε=0.3" in message  # the cost
    assert "remaining now: ε=0.1" in message
    assert "raise_limit" in message
    assert budget.history() == before
    assert budget.spent() == (pytest.approx(0.9), 0.0)
    budget.charge(LaplaceEvent(epsilon=0.1))  # exactly what is left still fits
    assert budget.remaining()[0] == pytest.approx(0.0, abs=1e-12)


def test_history_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    event = SelfComposedEvent(event=LaplaceEvent(epsilon=0.1), count=3)
    with Ledger(path) as led:
        led.budget("b", epsilon=2.0).charge(event, label="three")
        led.get("b").raise_limit(epsilon=3.0, reason="board approved")
        first = led.get("b").history()
    with Ledger(path) as led:
        budget = led.get("b")
        assert budget.history() == first
        assert budget.history()[0].event == event
        assert budget.limit() == (3.0, 0.0)
        assert budget.spent()[0] == pytest.approx(0.3)
        assert len(budget.limit_history()) == 1


def test_raise_limit_is_recorded_and_only_upward(ledger: Ledger) -> None:
    budget = ledger.budget("b", epsilon=1.0, delta=1e-6, filter="basic")
    budget.charge(LaplaceEvent(epsilon=1.0))
    with pytest.raises(BudgetExceededError):
        budget.charge(LaplaceEvent(epsilon=0.5))
    change = budget.raise_limit(epsilon=2.0, reason="second study approved")
    assert isinstance(change, LimitChange)
    assert (change.old_epsilon, change.new_epsilon) == (1.0, 2.0)
    assert (change.old_delta, change.new_delta) == (1e-6, 1e-6)
    assert "second study approved" in str(change)
    budget.charge(LaplaceEvent(epsilon=0.5))
    budget.raise_limit(delta=1e-5, reason="more δ")
    assert budget.limit() == (2.0, 1e-5)
    assert [c.reason for c in budget.limit_history()] == ["second study approved", "more δ"]
    with pytest.raises(ParameterError, match="only go up"):
        budget.raise_limit(epsilon=1.5, reason="lower")
    with pytest.raises(ParameterError, match="only go up"):
        budget.raise_limit(delta=1e-7, reason="lower")
    with pytest.raises(ParameterError, match="higher limit"):
        budget.raise_limit(epsilon=2.0, reason="same")
    with pytest.raises(ParameterError):
        budget.raise_limit(reason="nothing")
    with pytest.raises(ParameterError):
        budget.raise_limit(epsilon=3.0, reason="  ")
    with pytest.raises(ParameterTypeError):
        budget.raise_limit(epsilon=3.0, reason=None)  # type: ignore[arg-type]
    assert budget.limit() == (2.0, 1e-5)
    assert len(budget.limit_history()) == 2


def test_there_is_no_other_way_to_change_a_budget(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.budget("b", epsilon=1.0).charge(LaplaceEvent(epsilon=0.5))
    conn = sqlite3.connect(path)
    try:
        for sql in (
            "DELETE FROM charges",
            "UPDATE charges SET epsilon = 0.0",
            "DELETE FROM budgets",
            "UPDATE budgets SET epsilon = 0.1",
            "UPDATE budgets SET filter = 'advanced'",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="privet ledger"):
                conn.execute(sql)
    finally:
        conn.close()


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_bad_epsilon_values(ledger: Ledger, bad: float) -> None:
    with pytest.raises(ParameterError):
        ledger.budget("b", epsilon=bad)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0, math.nan, math.inf])
def test_bad_delta_values(ledger: Ledger, bad: float) -> None:
    with pytest.raises(ParameterError):
        ledger.budget("b", epsilon=1.0, delta=bad)


@pytest.mark.parametrize("bad", ["1.0", True, None, [1.0]])
def test_bad_epsilon_types(ledger: Ledger, bad: object) -> None:
    with pytest.raises(ParameterTypeError):
        ledger.budget("b", epsilon=bad)  # type: ignore[arg-type]


def test_bad_names_filters_labels_and_events(ledger: Ledger) -> None:
    for bad_name in ("", "   ", "x" * 201, "a\nb", "nul\x00"):
        with pytest.raises(ParameterError):
            ledger.budget(bad_name, epsilon=1.0)
    for bad_type in (None, 3, b"bytes", True):
        with pytest.raises(ParameterTypeError):
            ledger.budget(bad_type, epsilon=1.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        ledger.budget("b", epsilon=1.0, filter="fancy")
    with pytest.raises(ParameterTypeError):
        ledger.budget("b", epsilon=1.0, filter=1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="needs delta > 0"):
        ledger.budget("b", epsilon=1.0, filter="rdp")
    with pytest.raises(ParameterError, match="needs delta > 0"):
        ledger.budget("b", epsilon=1.0, filter="advanced")
    assert ledger.budgets() == []
    budget = ledger.budget("b", epsilon=1.0)
    with pytest.raises(ParameterTypeError):
        budget.charge("laplace")  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        budget.charge(LaplaceEvent(epsilon=0.1), label="x" * 1001)
    with pytest.raises(ParameterTypeError):
        budget.charge(LaplaceEvent(epsilon=0.1), label=3)  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        budget.charge(LaplaceEvent(epsilon=0.1), delta=1.5)
    assert budget.history() == []


def test_nonpure_events_get_a_recorded_delta(ledger: Ledger) -> None:
    basic = ledger.budget("basic", epsilon=10.0, delta=1e-5, filter="basic")
    default = basic.charge(GaussianEvent(noise_multiplier=3.0))
    assert default.delta == pytest.approx(1e-6)  # DEFAULT_CHARGE_DELTA_FRACTION × δ
    explicit = basic.charge(GaussianEvent(noise_multiplier=3.0), delta=2e-6)
    assert explicit.delta == 2e-6
    assert basic.spent() == (
        pytest.approx(default.epsilon + explicit.epsilon),
        pytest.approx(3e-6),
    )
    assert [c.delta for c in basic.history()] == [default.delta, 2e-6]
    pure = ledger.budget("pure", epsilon=10.0)
    with pytest.raises(BudgetExceededError, match=r"'pure'.*needs δ > 0"):
        pure.charge(GaussianEvent(noise_multiplier=3.0))
    assert pure.history() == []


def test_rdp_budgets_store_curves_and_refuse_approximate_events(ledger: Ledger) -> None:
    budget = ledger.budget("train", epsilon=8.0, delta=1e-5)
    assert budget.filter == "rdp"
    run = SelfComposedEvent(event=GaussianEvent(noise_multiplier=8.0), count=10)
    charge = budget.charge(run, label="run")
    assert charge.rdp is not None
    assert charge.delta == 1e-5
    assert budget.history()[0].rdp == charge.rdp
    assert budget.spent() == (pytest.approx(charge.epsilon), 1e-5)
    with pytest.raises(UnsupportedEventError, match="filter='basic'"):
        budget.charge(ComposedEvent(events=[EpsilonDeltaEvent(epsilon=0.1, delta=1e-8)]))
    with pytest.raises(ParameterError, match="delta= is not used"):
        budget.charge(GaussianEvent(noise_multiplier=8.0), delta=1e-7)
    assert len(budget.history()) == 1


def test_advanced_budget_counts_like_its_filter(ledger: Ledger) -> None:
    budget = ledger.budget("analyst", epsilon=4.0, delta=1e-6, filter="advanced")
    admitted = 0
    while True:
        try:
            budget.charge(LaplaceEvent(epsilon=0.1))
        except BudgetExceededError:
            break
        admitted += 1
    assert admitted == 48  # see tests/accounting/test_filters.py LAPLACE_COUNTS
    eps, delta = budget.spent()
    assert eps <= 4.0
    assert delta == 5e-7
    left_eps, left_delta = budget.remaining()
    assert eps + left_eps == pytest.approx(4.0)
    assert delta + left_delta == pytest.approx(1e-6)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _UnknownEvent(PrivacyEvent):
    kind: ClassVar[str] = "test_ledger_unknown"


@pytest.mark.parametrize("filter_name", ["basic", "advanced", "rdp"])
def test_unknown_events_are_refused_and_not_recorded(ledger: Ledger, filter_name: str) -> None:
    budget = ledger.budget("b", epsilon=1.0, delta=1e-6, filter=filter_name)
    nested = ComposedEvent(events=[LaplaceEvent(epsilon=0.1), _UnknownEvent()])
    with pytest.raises(UnsupportedEventError):
        budget.charge(nested)
    assert budget.history() == []


def test_closed_ledger_and_context_manager(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite")
    budget = led.budget("b", epsilon=1.0)
    led.close()
    led.close()  # idempotent
    assert led.closed
    with pytest.raises(LedgerError, match="closed"):
        budget.spent()
    with pytest.raises(LedgerError, match="closed"):
        led.get("b")
    assert "closed" in repr(led)


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ParameterError):
        Ledger(":memory:")
    with pytest.raises(ParameterError):
        Ledger("")
    with pytest.raises(ParameterTypeError):
        Ledger(3)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="directory"):
        Ledger(tmp_path)
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger(tmp_path / "missing" / "l.sqlite")
