"""YAML forms of prompt bodies and the differences between two of them."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from tessera.errors import InvalidInputError
from tessera.llm._yaml import dump_yaml

__all__ = ["FieldChange", "PromptDiff", "diff_bodies", "load_yaml", "to_yaml"]


def to_yaml(data: Any) -> str:
    """Safe YAML, keys in their given order, multi-line strings as blocks."""
    return dump_yaml(data, blocks=True, width=100)


def load_yaml(text: str, source: str = "text") -> Any:
    """``yaml.safe_load`` with the parser's complaint turned into :class:`InvalidInputError`."""
    if not isinstance(text, str):
        raise InvalidInputError(f"{source}={text!r} is invalid: pass YAML text (a str).")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInputError(
            f"{source} is not valid YAML: {problem}{where}. Fix the syntax there."
        ) from None


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: ``path`` like ``variants[fast].temperature``."""

    path: str
    change: Literal["added", "removed", "changed"]
    before: Any
    after: Any


@dataclass(frozen=True)
class PromptDiff:
    """Two prompt bodies compared.

    Attributes
    ----------
    a, b : str
        The references compared.
    unified : str
        A unified diff of their YAML forms (empty when they are equal).
    changes : tuple of FieldChange
        The changed fields, in path order.
    """

    a: str
    b: str
    unified: str
    changes: tuple[FieldChange, ...]

    @property
    def identical(self) -> bool:
        """True when the bodies are equal."""
        return not self.changes


def _flatten(value: Any, path: str, out: dict[str, Any]) -> dict[str, Any]:
    """Leaves by path; lists of named mappings (variants) are keyed by name, not position."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value:
        names = [v.get("name") for v in value if isinstance(v, Mapping)]
        by_name = len(names) == len(value) and all(isinstance(n, str) for n in names)
        if by_name and len(set(names)) == len(names):
            for name, item in zip(names, value, strict=True):
                _flatten(item, f"{path}[{name}]", out)
        else:
            for i, item in enumerate(value):
                _flatten(item, f"{path}[{i}]", out)
    else:
        out[path] = value
    return out


def diff_bodies(a: Mapping[str, Any], b: Mapping[str, Any], a_ref: str, b_ref: str) -> PromptDiff:
    """Compare two bodies: a unified diff of the YAML and the changed fields."""
    unified = "".join(
        difflib.unified_diff(
            to_yaml(dict(a)).splitlines(keepends=True),
            to_yaml(dict(b)).splitlines(keepends=True),
            fromfile=a_ref,
            tofile=b_ref,
        )
    )
    before, after = _flatten(a, "", {}), _flatten(b, "", {})
    changes = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            changes.append(FieldChange(path, "removed", before[path], None))
        elif path not in before:
            changes.append(FieldChange(path, "added", None, after[path]))
        elif before[path] != after[path] or type(before[path]) is not type(after[path]):
            changes.append(FieldChange(path, "changed", before[path], after[path]))
    return PromptDiff(a=a_ref, b=b_ref, unified=unified, changes=tuple(changes))
