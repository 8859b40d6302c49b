"""The template language: ``{{name}}`` fields and ``{{#if name}}...{{else}}...{{/if}}`` blocks.

The whole syntax:

- ``{{name}}`` inserts the value of variable ``name`` (letters, digits, ``_``; not starting
  with a digit). Spaces inside the braces are allowed: ``{{ name }}``.
- ``{{#if name}}A{{else}}B{{/if}}`` renders ``A`` when ``name`` is truthy (a non-empty
  string, a non-zero number, ``true``), else ``B``. ``{{else}}`` is optional; blocks nest.
- ``\\{{`` is a literal ``{{``. Any other ``{{`` that does not open one of the tags above
  is an error, so a typo never renders as text. ``}}`` on its own needs no escape.
- A block tag (``{{#if ...}}``, ``{{else}}``, ``{{/if}}``) alone on its line takes the whole
  line with it, so blocks can be written on lines of their own without leaving blank lines.

Values are inserted as they are, never parsed again: a value holding ``{{x}}`` renders as
that text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera.errors import InvalidInputError

__all__ = ["Field", "If", "Node", "Text", "parse", "render_nodes", "truthy", "variables_used"]

_TAG = re.compile(
    r"\{\{\s*(?:#if\s+(?P<if>[A-Za-z_]\w*)|(?P<else>else)|(?P<end>/if)|(?P<field>[A-Za-z_]\w*))"
    r"\s*\}\}"
)
_OPEN = re.compile(r"\\\{\{|\{\{")
_HELP = "tags are {{name}}, {{#if name}}, {{else}} and {{/if}}; write \\{{ for a literal {{"


@dataclass(frozen=True)
class Text:
    """Literal text."""

    text: str


@dataclass(frozen=True)
class Field:
    """``{{name}}``."""

    name: str


@dataclass(frozen=True)
class If:
    """``{{#if name}} then {{else}} otherwise {{/if}}``."""

    name: str
    then: tuple[Node, ...]
    otherwise: tuple[Node, ...]


Node = Text | Field | If


def _where(template: str, offset: int, source: str) -> str:
    line = template.count("\n", 0, offset) + 1
    column = offset - (template.rfind("\n", 0, offset) + 1) + 1
    return f"{source}, line {line}, column {column}"


def _standalone(template: str, start: int, end: int) -> tuple[int, int]:
    """Widen a block tag's span to its whole line when nothing else is on that line."""
    line_start = template.rfind("\n", 0, start) + 1
    line_end = template.find("\n", end)
    line_end = len(template) if line_end < 0 else line_end + 1
    before, after = template[line_start:start], template[end:line_end]
    if before.strip() or after.strip():
        return start, end
    return line_start, line_end


def parse(template: str, source: str = "template") -> tuple[Node, ...]:
    """Parse ``template`` into nodes; ``source`` names it in error messages.

    Raises
    ------
    InvalidInputError
        A ``{{`` that opens no valid tag, an ``{{else}}`` or ``{{/if}}`` without its
        ``{{#if}}``, a second ``{{else}}``, or an ``{{#if}}`` never closed.
    """
    if not isinstance(template, str):
        raise InvalidInputError(f"{source}={template!r} is invalid: a template is a string.")
    # Each open block: (name, offset, then-nodes, otherwise-nodes or None before {{else}}).
    stack: list[tuple[str, int, list[Node], list[Node] | None]] = []
    root: list[Node] = []
    position = 0
    text = ""

    def current() -> list[Node]:
        if not stack:
            return root
        name, offset, then, otherwise = stack[-1]
        return then if otherwise is None else otherwise

    def flush() -> None:
        nonlocal text
        if text:
            current().append(Text(text))
            text = ""

    while (found := _OPEN.search(template, position)) is not None:
        if found.group() == "\\{{":
            text += template[position : found.start()] + "{{"
            position = found.end()
            continue
        tag = _TAG.match(template, found.start())
        if tag is None:
            snippet = template[found.start() : found.start() + 20]
            raise InvalidInputError(
                f"{_where(template, found.start(), source)}: {snippet!r} is not a tag: {_HELP}."
            )
        if tag.group("field"):
            text += template[position : tag.start()]
            flush()
            current().append(Field(tag.group("field")))
            position = tag.end()
            continue
        start, end = _standalone(template, tag.start(), tag.end())
        text += template[position:start]
        flush()
        position = end
        if tag.group("if"):
            stack.append((tag.group("if"), tag.start(), [], None))
        elif tag.group("else"):
            if not stack or stack[-1][3] is not None:
                what = "without an open {{#if}}" if not stack else "a second time in one block"
                raise InvalidInputError(
                    f"{_where(template, tag.start(), source)}: {{{{else}}}} {what}. "
                    f"Write {{{{#if name}}}}...{{{{else}}}}...{{{{/if}}}}."
                )
            name, offset, then, _ = stack.pop()
            stack.append((name, offset, then, []))
        else:
            if not stack:
                raise InvalidInputError(
                    f"{_where(template, tag.start(), source)}: {{{{/if}}}} without an open "
                    f"{{{{#if}}}}. Remove it or add the {{{{#if}}}}."
                )
            name, offset, then, otherwise = stack.pop()
            current().append(If(name, tuple(then), tuple(otherwise or ())))
    text += template[position:]
    flush()
    if stack:
        name, offset, _, _ = stack[-1]
        raise InvalidInputError(
            f"{_where(template, offset, source)}: {{{{#if {name}}}}} is never closed. "
            f"Add {{{{/if}}}} where the block ends."
        )
    return tuple(root)


def variables_used(nodes: tuple[Node, ...]) -> set[str]:
    """Every variable a field or a block condition names."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, Field):
            names.add(node.name)
        elif isinstance(node, If):
            names |= {node.name} | variables_used(node.then) | variables_used(node.otherwise)
    return names


def truthy(value: Any) -> bool:
    """The block condition: a non-empty string, a non-zero number, ``True``."""
    return bool(value)


def as_text(value: Any) -> str:
    """How a value appears in rendered text (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_nodes(nodes: tuple[Node, ...], values: Mapping[str, Any]) -> str:
    """Render parsed nodes; every variable they use must be in ``values`` (checked before)."""
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            parts.append(node.text)
        elif isinstance(node, Field):
            parts.append(as_text(values[node.name]))
        else:
            branch = node.then if truthy(values[node.name]) else node.otherwise
            parts.append(render_nodes(branch, values))
    return "".join(parts)
