"""Validation of the numeric arguments every room takes (ε, δ, σ, probabilities, counts).

Each check returns the value as a plain Python number, or raises a
:class:`~privet.errors.PrivetError` subclass whose message names the argument, the bad
value and the fix. Booleans are refused where numbers are expected (``True`` is an ``int``
to Python, but never a meaningful ε).

Examples
--------
>>> check_epsilon(0.5)
0.5
>>> check_epsilon(0.0)
Traceback (most recent call last):
...
privet.core.errors.ParameterError: epsilon must be a finite number > 0, got 0.0; ...
"""

from __future__ import annotations

import math
import numbers

from privet.core.errors import ParameterError, ParameterTypeError

__all__ = [
    "check_delta",
    "check_epsilon",
    "check_finite",
    "check_int",
    "check_positive",
    "check_probability",
]


def check_finite(value: object, *, name: str) -> float:
    """Return ``value`` as a finite float; refuse NaN, ±inf, booleans and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterTypeError(
            f"{name} must be a real number, got {type(value).__name__} {value!r}"
        )
    out = float(value)
    if not math.isfinite(out):
        raise ParameterError(f"{name} must be finite, got {out!r}; pass a finite number")
    return out


def check_positive(value: object, *, name: str, hint: str = "") -> float:
    """Return ``value`` as a float that is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterTypeError(
            f"{name} must be a real number, got {type(value).__name__} {value!r}"
        )
    out = float(value)
    if not (math.isfinite(out) and out > 0):
        fix = hint or f"pass a positive {name}"
        raise ParameterError(f"{name} must be a finite number > 0, got {out!r}; {fix}")
    return out


MAX_TIMEOUT: float = 1e7
"""The longest wait accepted, in seconds (about 116 days): the operating system's own limits
(``select``, ``threading``: about 9.2e9 s) would otherwise fail deep inside a wait."""


def check_timeout(value: object, *, name: str = "timeout") -> float:
    """Return a timeout in seconds: finite, > 0 and at most :data:`MAX_TIMEOUT`."""
    out = check_positive(value, name=name, hint=f"pass a positive {name} in seconds")
    if out > MAX_TIMEOUT:
        raise ParameterError(
            f"{name} must be at most {MAX_TIMEOUT:g} s (about 116 days), got {out:g}; "
            "pass a smaller value"
        )
    return out


def check_epsilon(value: object, *, name: str = "epsilon") -> float:
    """Return a privacy parameter ε: finite and > 0."""
    return check_positive(value, name=name, hint=f"pass a positive {name} such as 1.0")


def check_delta(value: object, *, name: str = "delta") -> float:
    """Return a privacy parameter δ in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterTypeError(
            f"{name} must be a real number in [0, 1), got {type(value).__name__} {value!r}"
        )
    out = float(value)
    if not (math.isfinite(out) and 0.0 <= out < 1.0):
        raise ParameterError(
            f"{name} must lie in [0, 1), got {out!r}; pass 0 for pure DP or a small value "
            "such as 1e-6 (well below 1/number of people)"
        )
    return out


def check_probability(
    value: object, *, name: str, allow_zero: bool = True, allow_one: bool = True
) -> float:
    """Return a probability in [0, 1] (ends included or not, as asked)."""
    out = check_finite(value, name=name)
    lo_ok = out > 0 or (allow_zero and out == 0)
    hi_ok = out < 1 or (allow_one and out == 1)
    if not (lo_ok and hi_ok):
        lo = "[" if allow_zero else "("
        hi = "]" if allow_one else ")"
        raise ParameterError(f"{name} must be a probability in {lo}0, 1{hi}, got {out!r}")
    return out


def check_int(value: object, *, name: str, minimum: int = 0) -> int:
    """Return ``value`` as an ``int`` that is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterTypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    out = int(value)
    if out < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {out}")
    return out
