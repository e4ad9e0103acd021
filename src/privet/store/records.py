"""The ledger's records: a charge, a limit change, and the checks of what is stored.

Examples
--------
>>> check_text("hospital-a", name="name", allow_empty=False)
'hospital-a'
>>> decode_curve(encode_curve((0.5, float("inf"))))
(0.5, inf)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import unicodedata

from privet.accounting.events import PrivacyEvent
from privet.core.errors import ParameterError, ParameterTypeError

__all__ = ["Charge", "LimitChange", "check_text", "decode_curve", "encode_curve", "now"]

_MAX_NAME = 200
_MAX_TEXT = 1000


@dataclasses.dataclass(frozen=True)
class Charge:
    """One recorded charge: an event priced as one adaptive step.

    Attributes
    ----------
    id : int
        The charge's number in the ledger (increasing over time).
    budget : str
        The budget's name.
    label : str
        What the caller said the charge was for.
    event : PrivacyEvent
        The event, as stored (JSON).
    epsilon, delta : float
        The step's εᵢ and δᵢ (see :class:`privet.accounting.filters.Cost`).
    timestamp : datetime.datetime
        When it was recorded (UTC).
    rdp : tuple of float or None
        The step's RDP curve at the budget's orders (``rdp`` budgets only).
    """

    id: int
    budget: str
    label: str
    event: PrivacyEvent
    epsilon: float
    delta: float
    timestamp: dt.datetime
    rdp: tuple[float, ...] | None = None


@dataclasses.dataclass(frozen=True)
class LimitChange:
    """One raise of a budget's limit, with when and why."""

    id: int
    budget: str
    old_epsilon: float
    old_delta: float
    new_epsilon: float
    new_delta: float
    reason: str
    timestamp: dt.datetime

    def __str__(self) -> str:
        when = self.timestamp.strftime("%Y-%m-%d %H:%M:%S UTC")
        return (
            f"{when}: ε {self.old_epsilon:g} → {self.new_epsilon:g}, "
            f"δ {self.old_delta:g} → {self.new_delta:g} ({self.reason})"
        )


def check_text(value: object, *, name: str, allow_empty: bool) -> str:
    """Return ``value`` if it is a str of sane length (names: no control characters)."""
    if not isinstance(value, str):
        raise ParameterTypeError(f"{name} must be a str, got {type(value).__name__}")
    limit = _MAX_NAME if name == "name" else _MAX_TEXT
    if len(value) > limit:
        raise ParameterError(f"{name} must be at most {limit} characters, got {len(value)}")
    if not allow_empty and not value.strip():
        raise ParameterError(f"{name} must be a non-empty text, got {value!r}")
    if "\x00" in value or (name == "name" and any(unicodedata.category(c) == "Cc" for c in value)):
        raise ParameterError(f"{name} must not hold control characters, got {value!r:.80}")
    return value


def now() -> dt.datetime:
    """Return the current time in UTC (what every record stores)."""
    return dt.datetime.now(dt.UTC)


def encode_curve(curve: tuple[float, ...] | None) -> str | None:
    """Return an RDP curve as a JSON list (``null`` stands for +inf); None stays None."""
    if curve is None:
        return None
    return json.dumps([x if math.isfinite(x) else None for x in curve])  # null means +inf


def decode_curve(text: str | None) -> tuple[float, ...] | None:
    """Return the curve that :func:`encode_curve` stored."""
    if text is None:
        return None
    return tuple(math.inf if x is None else float(x) for x in json.loads(text))
