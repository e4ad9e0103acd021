"""privet.audit (see docs/architecture.md)."""
