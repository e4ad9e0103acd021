"""Public home of privet's exception tree; the classes live in :mod:`privet.core.errors`.

The tree, drawn in :mod:`privet.core.errors`, is re-exported here so that user code reads
``from privet.errors import BudgetExceededError``.
"""

from privet.core.errors import (
    BudgetConflictError,
    BudgetError,
    BudgetExceededError,
    BudgetNotFoundError,
    DataError,
    InsecureRandomWarning,
    LedgerCorruptError,
    LedgerError,
    ParameterError,
    ParameterTypeError,
    PeerTimeoutError,
    PrivetError,
    PrivetWarning,
    ProtocolError,
    SecurityError,
    TransportError,
    UnsupportedEventError,
)

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
