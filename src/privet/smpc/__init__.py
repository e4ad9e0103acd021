"""privet.smpc (see docs/architecture.md)."""
