"""privet.fl (see docs/architecture.md)."""
