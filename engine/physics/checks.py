"""Checks of the breakup model's inputs, shared by its laws and its sampler: InputError (one line)
naming the value."""

from __future__ import annotations

import math

from ..errors import InputError


def check_positive(name: str, value: float) -> float:
    """Return value as float, or raise InputError unless it is finite and > 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x <= 0.0:
        raise InputError(f"{name} must be finite and > 0, got {value!r}")
    return x


def check_choice(name: str, value: str, allowed: tuple) -> str:
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value
