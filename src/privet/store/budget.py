"""A budget in the ledger: limits, charges and raises, always read from the file.

Examples
--------
>>> import os, tempfile
>>> from privet.accounting.events import LaplaceEvent
>>> from privet.store import Ledger
>>> with Ledger(os.path.join(tempfile.mkdtemp(), "ledger.sqlite")) as ledger:
...     budget = ledger.budget("survey", epsilon=1.0)
...     change = budget.raise_limit(epsilon=2.0, reason="second wave approved")
...     budget.limit(), [c.reason for c in budget.limit_history()]
((2.0, 0.0), ['second wave approved'])
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from typing import TYPE_CHECKING, Any

from privet.accounting.events import PrivacyEvent, event_from_json
from privet.accounting.filters import Cost, PrivacyFilter, make_filter
from privet.core.checks import check_delta, check_epsilon
from privet.core.errors import (
    BudgetExceededError,
    LedgerError,
    ParameterError,
    ParameterTypeError,
    PrivetError,
)
from privet.store.records import (
    Charge,
    LimitChange,
    check_text,
    decode_curve,
    encode_curve,
    now,
)

if TYPE_CHECKING:
    from privet.store.ledger import Ledger

__all__ = ["Budget"]


class Budget:
    """A named (ε, δ) budget in a :class:`Ledger`, guarded by a privacy filter.

    Get one from :meth:`Ledger.budget` or :meth:`Ledger.get`. A ``Budget`` holds only its
    identity (name, filter); limits, charges and what is spent are read from the file at
    every call, so budgets in other threads and processes never go stale.
    """

    def __init__(
        self, ledger: Ledger, budget_id: int, name: str, filter_name: str, params: dict[str, Any]
    ) -> None:
        self._ledger = ledger
        self._id = budget_id
        self._name = name
        self._filter = filter_name
        self._params = params

    @property
    def name(self) -> str:
        """The budget's name."""
        return self._name

    @property
    def filter(self) -> str:
        """The privacy filter: ``basic``, ``advanced`` or ``rdp``."""
        return self._filter

    @property
    def ledger(self) -> Ledger:
        """The ledger holding this budget."""
        return self._ledger

    def __repr__(self) -> str:
        return f"Budget(name={self._name!r}, filter={self._filter!r})"

    # -- reading -----------------------------------------------------------------------

    def _limits(self, conn: sqlite3.Connection) -> tuple[float, float]:
        row = conn.execute(
            "SELECT epsilon, delta FROM budgets WHERE id = ?", (self._id,)
        ).fetchone()
        if row is None:
            raise self._ledger._corrupt(f"budget {self._name!r} vanished")
        return float(row[0]), float(row[1])

    def _make_filter(self, limits: tuple[float, float]) -> PrivacyFilter:
        try:
            return make_filter(self._filter, epsilon=limits[0], delta=limits[1], **self._params)
        except (ParameterError, ParameterTypeError):
            raise self._ledger._corrupt(f"budget {self._name!r} has an invalid filter") from None

    def _costs(self, conn: sqlite3.Connection) -> list[Cost]:
        rows = conn.execute(
            "SELECT id, epsilon, delta, rdp FROM charges WHERE budget_id = ? ORDER BY id",
            (self._id,),
        ).fetchall()
        costs = []
        for charge_id, eps, dlt, curve in rows:
            try:
                costs.append(Cost(epsilon=eps, delta=dlt, rdp=decode_curve(curve)))
            except (PrivetError, TypeError, ValueError):
                raise self._ledger._corrupt(
                    f"charge {charge_id} of budget {self._name!r} holds invalid numbers"
                ) from None
        return costs

    def _state(self) -> tuple[PrivacyFilter, list[Cost]]:
        def body(conn: sqlite3.Connection) -> tuple[PrivacyFilter, list[Cost]]:
            return self._make_filter(self._limits(conn)), self._costs(conn)

        return self._ledger._run(body, write=False)

    def limit(self) -> tuple[float, float]:
        """Return the current limit (ε, δ)."""
        return self._ledger._run(self._limits, write=False)

    def spent(self) -> tuple[float, float]:
        """Return the (ε, δ) spent, as the budget's filter counts it."""
        filt, costs = self._state()
        return filt.spent(costs)

    def remaining(self) -> tuple[float, float]:
        """Return the limit minus :meth:`spent` (each part at least 0)."""
        filt, costs = self._state()
        return filt.remaining(costs)

    def history(self) -> list[Charge]:
        """Return every charge, oldest first."""

        def body(conn: sqlite3.Connection) -> list[Charge]:
            rows = conn.execute(
                "SELECT id, label, event, epsilon, delta, rdp, created_at FROM charges "
                "WHERE budget_id = ? ORDER BY id",
                (self._id,),
            ).fetchall()
            return [self._charge_from_row(row) for row in rows]

        return self._ledger._run(body, write=False)

    def _charge_from_row(self, row: tuple[Any, ...]) -> Charge:
        charge_id, label, event, eps, dlt, curve, created = row
        try:
            return Charge(
                id=int(charge_id),
                budget=self._name,
                label=str(label),
                event=event_from_json(event),
                epsilon=float(eps),
                delta=float(dlt),
                timestamp=dt.datetime.fromisoformat(created),
                rdp=decode_curve(curve),
            )
        except (PrivetError, TypeError, ValueError):
            raise self._ledger._corrupt(
                f"charge {charge_id} of budget {self._name!r} cannot be read back"
            ) from None

    def limit_history(self) -> list[LimitChange]:
        """Return every raise of this budget's limit, oldest first."""

        def body(conn: sqlite3.Connection) -> list[LimitChange]:
            rows = conn.execute(
                "SELECT id, old_epsilon, old_delta, new_epsilon, new_delta, reason, created_at "
                "FROM limit_changes WHERE budget_id = ? ORDER BY id",
                (self._id,),
            ).fetchall()
            return [
                LimitChange(
                    id=r[0],
                    budget=self._name,
                    old_epsilon=r[1],
                    old_delta=r[2],
                    new_epsilon=r[3],
                    new_delta=r[4],
                    reason=r[5],
                    timestamp=dt.datetime.fromisoformat(r[6]),
                )
                for r in rows
            ]

        return self._ledger._run(body, write=False)

    # -- writing -----------------------------------------------------------------------

    def charge(self, event: PrivacyEvent, *, label: str = "", delta: float | None = None) -> Charge:
        """Charge ``event`` as one adaptive step, or refuse it and record nothing.

        The event is priced by the budget's filter (a composite event fixed in advance is
        priced tightly as one step); then, in one ``BEGIN IMMEDIATE`` transaction, every
        earlier charge is read, the filter decides, and the charge is recorded. Call this
        *before* drawing any noise.

        Parameters
        ----------
        event : PrivacyEvent
            What the mechanism will do.
        label : str, default ""
            What the charge is for (at most 1000 characters; stored in clear).
        delta : float or None, default None
            δᵢ to spend on a non-pure event under a ``basic`` or ``advanced`` filter; None
            means ``DEFAULT_CHARGE_DELTA_FRACTION`` of the budget's δ-pool, recorded in the
            charge. ``rdp`` budgets refuse it.

        Returns
        -------
        Charge
            The recorded charge.

        Raises
        ------
        BudgetExceededError
            If the budget cannot afford it (the message says how much is left).
        UnsupportedEventError
            If the filter cannot price the event.
        LedgerError
            If the ledger stays locked for longer than its timeout.
        """
        if not isinstance(event, PrivacyEvent):
            raise ParameterTypeError(
                f"event must be a privet.accounting event, got {type(event).__name__}"
            )
        label = check_text(label, name="label", allow_empty=True)
        event_json = event.to_json()
        for _ in range(5):
            limits = self.limit()
            try:  # pricing may take a while (PLD): outside the write lock
                cost = self._make_filter(limits).price(event, delta=delta)
            except BudgetExceededError as exc:
                raise BudgetExceededError(f"budget {self._name!r}: {exc}") from None
            record = functools.partial(
                self._record,
                limits=limits,
                cost=cost,
                event=event,
                event_json=event_json,
                label=label,
            )
            charged = self._ledger._run(record, write=True)
            if charged is not None:
                return charged
        raise LedgerError(
            f"budget {self._name!r}: its limit kept changing while this charge was priced; "
            "nothing was recorded, retry"
        )

    def _record(
        self,
        conn: sqlite3.Connection,
        *,
        limits: tuple[float, float],
        cost: Cost,
        event: PrivacyEvent,
        event_json: str,
        label: str,
    ) -> Charge | None:
        if self._limits(conn) != limits:
            return None  # raised since the event was priced: price it again
        try:
            self._make_filter(limits).check(self._costs(conn), cost)
        except BudgetExceededError as exc:
            raise BudgetExceededError(f"budget {self._name!r}: {exc}") from None
        when = now()
        cursor = conn.execute(
            "INSERT INTO charges (budget_id, label, event, epsilon, delta, rdp, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self._id,
                label,
                event_json,
                cost.epsilon,
                cost.delta,
                encode_curve(cost.rdp),
                when.isoformat(),
            ),
        )
        hook = self._ledger._test_hook
        if hook is not None:
            hook()
        return Charge(
            id=int(cursor.lastrowid or 0),
            budget=self._name,
            label=label,
            event=event,
            epsilon=cost.epsilon,
            delta=cost.delta,
            timestamp=when,
            rdp=cost.rdp,
        )

    def raise_limit(
        self, *, epsilon: float | None = None, delta: float | None = None, reason: str
    ) -> LimitChange:
        """Raise the budget's limit, and record when and why.

        Limits only go up; there is no other way to change or reset a budget. A filter
        stays valid at the highest limit it is ever raised to, so decide raises by policy,
        not by the answers already seen (an open-ended budget is an odometer, which costs
        more privacy: Rogers, Roth, Ullman, Vadhan 2016).

        Parameters
        ----------
        epsilon : float or None
            The new ε limit, at least the current one.
        delta : float or None
            The new δ limit, at least the current one.
        reason : str
            Why (recorded; 1 to 1000 characters).

        Returns
        -------
        LimitChange
            The recorded change.

        Raises
        ------
        ParameterError
            If a limit would go down, or nothing would change.
        """
        reason = check_text(reason, name="reason", allow_empty=False)
        if epsilon is None and delta is None:
            raise ParameterError("pass epsilon= and/or delta= to raise_limit")
        new_eps = None if epsilon is None else check_epsilon(epsilon)
        new_delta = None if delta is None else check_delta(delta)

        def body(conn: sqlite3.Connection) -> LimitChange:
            old_eps, old_delta = self._limits(conn)
            eps = old_eps if new_eps is None else new_eps
            dlt = old_delta if new_delta is None else new_delta
            if eps < old_eps or dlt < old_delta:
                raise ParameterError(
                    f"budget {self._name!r}: limits only go up; its limit is ε={old_eps:g}, "
                    f"δ={old_delta:g} and cannot become ε={eps:g}, δ={dlt:g}"
                )
            if (eps, dlt) == (old_eps, old_delta):
                raise ParameterError(
                    f"budget {self._name!r} already has ε={old_eps:g}, δ={old_delta:g}; "
                    "pass a higher limit"
                )
            self._make_filter((eps, dlt))
            when = now()
            conn.execute(
                "UPDATE budgets SET epsilon = ?, delta = ? WHERE id = ?", (eps, dlt, self._id)
            )
            cursor = conn.execute(
                "INSERT INTO limit_changes (budget_id, old_epsilon, old_delta, new_epsilon, "
                "new_delta, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self._id, old_eps, old_delta, eps, dlt, reason, when.isoformat()),
            )
            return LimitChange(
                id=int(cursor.lastrowid or 0),
                budget=self._name,
                old_epsilon=old_eps,
                old_delta=old_delta,
                new_epsilon=eps,
                new_delta=dlt,
                reason=reason,
                timestamp=when,
            )

        return self._ledger._run(body, write=True)
