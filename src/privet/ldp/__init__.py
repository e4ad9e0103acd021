"""privet.ldp (see docs/architecture.md)."""
