"""privet: learn from sensitive data without seeing it.

Rooms: :mod:`privet.core` (errors, secure randomness), :mod:`privet.accounting` (privacy
events, accountants, filters), :mod:`privet.store` (the persisted budget ledger) and the
command line :mod:`privet.cli`. See ``docs/architecture.md``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("privet")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
