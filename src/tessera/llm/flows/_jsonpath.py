"""The JSONPath subset that selects a node input's value: ``$.data`` then fields and indices.

``$.data`` is the whole value arriving on the input; ``.field`` (or ``['field']``) selects
from an object and ``[i]`` (negative counts from the end) from an array, as in
``$.data.items[2].name``. Expressions are parsed by jsonpath-ng and then restricted to
this subset (no wildcards, slices, filters, unions or recursive descent), so a path means
the same here as in any JSONPath implementation. Selection is done step by step so a
missing field or index fails with a message saying which step and what was there.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from tessera.errors import InvalidInputError

__all__ = ["JsonPath", "compile_path", "select"]

Step = str | int


class JsonPath:
    """A compiled path: the steps after ``$.data`` (field names and indices)."""

    __slots__ = ("steps", "text")

    def __init__(self, text: str, steps: tuple[Step, ...]) -> None:
        self.text = text
        self.steps = steps

    def __repr__(self) -> str:
        return f"JsonPath({self.text!r})"

    def select(self, value: Any) -> Any:
        """The part of ``value`` (the ``$.data`` document) this path points at.

        Raises
        ------
        InvalidInputError
            When a field is missing, an index is out of range, or a step meets a value of
            the wrong kind (a field of a list, an index of a dict, anything of a scalar).
        """
        current = value
        done = "$.data"
        for step in self.steps:
            if isinstance(step, str):
                if not isinstance(current, dict):
                    raise InvalidInputError(
                        f"expression={self.text!r} cannot select field {step!r} at {done}: "
                        f"the value there is {type(current).__name__}, not an object. "
                        "Fix the path or the value upstream."
                    )
                if step not in current:
                    keys = ", ".join(repr(k) for k in list(current)[:10]) or "none"
                    raise InvalidInputError(
                        f"expression={self.text!r}: the object at {done} has no field "
                        f"{step!r} (fields: {keys}). Fix the path or the value upstream."
                    )
                current = current[step]
                done += f".{step}"
            else:
                if not isinstance(current, list):
                    raise InvalidInputError(
                        f"expression={self.text!r} cannot take index [{step}] at {done}: "
                        f"the value there is {type(current).__name__}, not an array. "
                        "Fix the path or the value upstream."
                    )
                if not -len(current) <= step < len(current):
                    raise InvalidInputError(
                        f"expression={self.text!r}: index [{step}] at {done} is out of range "
                        f"for an array of {len(current)} item(s). Fix the path or the value "
                        "upstream."
                    )
                current = current[step]
                done += f"[{step}]"
        return current


def _subset_error(text: str, detail: str) -> InvalidInputError:
    return InvalidInputError(
        f"expression={text!r} is invalid: {detail}. Use $.data, then .field or [index] "
        "steps, such as $.data.items[2].name (quote other field names: $.data['where'])."
    )


@lru_cache(maxsize=1024)
def compile_path(text: str) -> JsonPath:
    """Parse ``text`` into a :class:`JsonPath`.

    Raises
    ------
    InvalidInputError
        When ``text`` is not JSONPath or uses anything outside the subset.
    """
    if not isinstance(text, str):
        raise _subset_error(str(text), "it must be a string")
    from jsonpath_ng import Child, Fields, Index, Root
    from jsonpath_ng.parser import parse

    try:
        tree = parse(text)
    except Exception as exc:  # jsonpath-ng raises lexer, parser and plain errors
        raise _subset_error(text, f"it does not parse as JSONPath ({exc})") from None
    steps: list[Step] = []
    while isinstance(tree, Child):
        right = tree.right
        if isinstance(right, Fields):
            if len(right.fields) != 1 or right.fields[0] == "*":
                raise _subset_error(text, "wildcards and unions of fields are not supported")
            steps.append(right.fields[0])
        elif isinstance(right, Index):
            if len(right.indices) != 1:
                raise _subset_error(text, "unions of indices are not supported")
            steps.append(int(right.indices[0]))
        else:
            kind = type(right).__name__.lower()
            raise _subset_error(text, f"{kind} steps are not supported")
        tree = tree.left
    if not isinstance(tree, Root):
        raise _subset_error(text, "it must start at the root $")
    steps.reverse()
    if not steps or steps[0] != "data":
        raise _subset_error(text, "it must start with $.data")
    return JsonPath(text, tuple(steps[1:]))


def select(expression: str, value: Any) -> Any:
    """``compile_path(expression).select(value)``."""
    return compile_path(expression).select(value)
