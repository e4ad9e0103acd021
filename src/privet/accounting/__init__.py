"""privet.accounting (see docs/architecture.md)."""
