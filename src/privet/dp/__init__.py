"""privet.dp (see docs/architecture.md)."""
