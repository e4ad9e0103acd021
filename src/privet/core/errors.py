"""The one exception tree of privet.

Every error privet raises is a :class:`PrivetError`, and each class also subclasses the
builtin a caller would naturally catch, so ``except ValueError`` keeps working::

    Exception
    └── PrivetError
        ├── ParameterError(ValueError)          a bad argument: ε ≤ 0, NaN, δ ∉ [0, 1)
        │   └── DataError                       bad data: NaN cells, unknown column, empty table
        ├── ParameterTypeError(TypeError)       an argument of the wrong type
        ├── UnsupportedEventError(TypeError)    an accountant cannot account for an event
        ├── BudgetError(RuntimeError)
        │   ├── BudgetExceededError             the charge would overspend; nothing recorded
        │   ├── BudgetConflictError(ValueError) re-created with other limits
        │   └── BudgetNotFoundError(LookupError) no budget of that name
        ├── LedgerError(RuntimeError)
        │   └── LedgerCorruptError              not a privet ledger, or damaged
        ├── ProtocolError(RuntimeError)         a peer broke the protocol
        ├── TransportError(ConnectionError)     a network failure
        │   └── PeerTimeoutError(TimeoutError)
        └── SecurityError(RuntimeError)         an insecure setting refused

    UserWarning
    └── PrivetWarning
        └── InsecureRandomWarning               a seeded (predictable) generator was made

The builtin in brackets is the second base class of each (``ParameterError`` is
``class ParameterError(PrivetError, ValueError)``).

Messages name the bad value and the fix. They never contain a secret, a share, a key or a
raw record: an error may end up in a log that the data's owner cannot control.

Examples
--------
>>> from privet.errors import ParameterError
>>> try:
...     raise ParameterError("epsilon must be > 0, got -1.0; pass a positive epsilon")
... except ValueError as exc:
...     print(type(exc).__name__)
ParameterError
"""

from __future__ import annotations

__all__ = [
    "BudgetConflictError",
    "BudgetError",
    "BudgetExceededError",
    "BudgetNotFoundError",
    "DataError",
    "InsecureRandomWarning",
    "LedgerCorruptError",
    "LedgerError",
    "ParameterError",
    "ParameterTypeError",
    "PeerTimeoutError",
    "PrivetError",
    "PrivetWarning",
    "ProtocolError",
    "SecurityError",
    "TransportError",
    "UnsupportedEventError",
]


class PrivetError(Exception):
    """Base class of every error privet raises."""


class ParameterError(PrivetError, ValueError):
    """An argument has a bad value (ε ≤ 0, NaN, δ outside [0, 1), a bad shape …)."""


class DataError(ParameterError):
    """The data cannot be used as given (NaN cells, an unknown column, an empty table …)."""


class ParameterTypeError(PrivetError, TypeError):
    """An argument has the wrong type."""


class UnsupportedEventError(PrivetError, TypeError):
    """An accountant or filter was given a privacy event it cannot account for."""


class BudgetError(PrivetError, RuntimeError):
    """A privacy budget refused an operation."""


class BudgetExceededError(BudgetError):
    """The budget cannot afford the charge; nothing was recorded and nothing released."""


class BudgetConflictError(BudgetError, ValueError):
    """A budget exists already with other limits; raise its limit explicitly instead."""


class BudgetNotFoundError(BudgetError, LookupError):
    """No budget of that name exists in the ledger."""


class LedgerError(PrivetError, RuntimeError):
    """The ledger file cannot be used."""


class LedgerCorruptError(LedgerError):
    """The file is not a privet ledger, or it is damaged."""


class ProtocolError(PrivetError, RuntimeError):
    """A party sent something the protocol does not allow."""


class TransportError(PrivetError, ConnectionError):
    """A network operation failed."""


class PeerTimeoutError(TransportError, TimeoutError):
    """A peer did not answer within the timeout."""


class SecurityError(PrivetError, RuntimeError):
    """An insecure setting was refused (for example a seeded generator where secrecy matters)."""


class PrivetWarning(UserWarning):
    """Base class of privet's warnings."""


class InsecureRandomWarning(PrivetWarning):
    """A seeded, predictable generator was created; use it in tests only."""
