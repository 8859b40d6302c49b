"""Shared argument checks and message templates.

Every message follows one shape: the argument, its value, the rule, the fix.
"""

from __future__ import annotations

from typing import Any

from tessera.errors import InvalidInputError

__all__ = ["bad_value", "check_bool", "check_in", "check_positive_int", "short_repr"]


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def bad_value(name: str, value: Any, rule: str, fix: str) -> InvalidInputError:
    """Build the standard error: ``name=value``, the rule it breaks, how to fix it."""
    return InvalidInputError(f"{name}={short_repr(value)} is invalid: {rule}. {fix}")


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a bool, or raise unless it is a Python or numpy bool."""
    import numpy as np

    if not isinstance(value, bool | np.bool_):
        raise bad_value(name, value, "it must be a bool", f"Pass {name}=True or {name}=False.")
    return bool(value)


def check_in(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """Raise :class:`InvalidInputError` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise bad_value(name, value, f"it must be one of {choices}", f"Pass one of {choices}.")


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise unless it is an integer >= ``minimum``."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise bad_value(name, value, "it must be an integer", f"Pass an int >= {minimum}.")
    number = int(value)
    if number < minimum:
        raise bad_value(name, value, f"it must be >= {minimum}", f"Pass an int >= {minimum}.")
    return number
