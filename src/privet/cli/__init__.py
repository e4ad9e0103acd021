"""privet.cli (see docs/architecture.md)."""
