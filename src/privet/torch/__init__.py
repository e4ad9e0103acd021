"""privet.torch (see docs/architecture.md)."""
