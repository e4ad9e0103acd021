"""What a mechanism charges before it draws noise: the :class:`Chargeable` protocol.

Mechanisms (central in :mod:`privet.dp`, local in :mod:`privet.ldp`) take ``budget=``: a
ledger ``Budget`` (:mod:`privet.store`) or anything with its ``charge`` method. They charge
the event *before* anything random is drawn (OpenDP's ``check()`` before ``invoke()``), so a
refusal releases nothing. The protocol lives here, below both mechanism rooms, so that each
names the same type without importing the other or the store.

Examples
--------
>>> from privet.accounting.events import LaplaceEvent
>>> class Tally:
...     def __init__(self) -> None:
...         self.events = []
...     def charge(self, event, *, label="", delta=None):
...         self.events.append((event, label, delta))
...         return len(self.events)
>>> tally = Tally()
>>> isinstance(tally, Chargeable)
True
>>> charge_budget(tally, LaplaceEvent(epsilon=1.0), label="q1")
1
>>> tally.events
[(LaplaceEvent(epsilon=1.0), 'q1', None)]
>>> charge_budget(None, LaplaceEvent(epsilon=1.0), label="q2") is None
True
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from privet.accounting.events import PrivacyEvent

__all__ = ["Chargeable", "charge_budget"]


@runtime_checkable
class Chargeable(Protocol):
    """Anything a mechanism can charge before it draws noise: a ledger ``Budget``.

    ``charge`` must record the event, or raise
    :class:`~privet.errors.BudgetExceededError` and record nothing.
    """

    def charge(self, event: PrivacyEvent, *, label: str = ..., delta: float | None = ...) -> object:
        """Charge ``event``, or raise ``BudgetExceededError`` and record nothing."""


def charge_budget(
    budget: Chargeable | None, event: PrivacyEvent, *, label: str, delta: float | None = None
) -> object | None:
    """Charge ``event`` to ``budget`` (if any) and return the charge; call before any draw.

    ``delta`` (δᵢ for a non-pure event) is passed to budgets that take one; an ``rdp``
    budget prices events by their RDP curve and takes none.
    """
    if budget is None:
        return None
    if delta is not None and getattr(budget, "filter", None) == "rdp":
        delta = None
    if delta is None:
        return budget.charge(event, label=label)
    return budget.charge(event, label=label, delta=delta)
