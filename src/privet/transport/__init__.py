"""privet.transport (see docs/architecture.md)."""
