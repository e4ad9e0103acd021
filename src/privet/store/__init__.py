"""privet.store (see docs/architecture.md)."""
