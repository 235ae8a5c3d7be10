"""What a configuration value is: the predicates and the one-line repr that the configuration
(:mod:`framepick.config`) and the strategy types (:mod:`framepick.strategy_types`) both check
values with, so that their messages cannot drift apart."""

from __future__ import annotations

import math
from typing import Any, TypeGuard

__all__ = ["is_int", "is_number", "shown", "word"]


def shown(value: Any, limit: int = 60) -> str:
    """A short, one-line repr of any value (even ints too long for repr)."""
    try:
        text = repr(value)
    except Exception:  # e.g. ValueError: an int with more digits than Python prints
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def word(value: Any) -> str:
    """A value as it is typed on the command line or in YAML."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
