"""Shared foundations: the exception tree, argument checks and secure randomness."""
