"""Shared foundations: the exception tree, argument checks and secure randomness.

The public names of the room are re-exported here; the exception tree also lives at
:mod:`privet.errors`.

Examples
--------
>>> from privet.core import SecureRandom, resolve_rng
>>> resolve_rng(None).is_secure
True
"""

from privet.core.random import SecureRandom, Size, resolve_rng

__all__ = ["SecureRandom", "Size", "resolve_rng"]
