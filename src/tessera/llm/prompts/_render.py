"""Rendering a prompt body with variable values: checked values in, text or messages out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tessera._validation import short_repr
from tessera.errors import InvalidInputError
from tessera.llm.prompts._schema import PromptBody, Variable, check_body
from tessera.llm.prompts._template import render_nodes

__all__ = ["bind_variables", "render"]

_BOOLEANS = {"true": True, "false": False}


def _coerce(name: str, variable: Variable, value: Any) -> Any:
    """Check one value against its declared type; text for numbers and booleans is parsed."""
    kind = variable.type
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
    if kind == "number" and not isinstance(value, bool):
        if isinstance(value, int | float) and math.isfinite(value):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if math.isfinite(number):
                return number
    examples = {"string": "'some text'", "number": "3 or 0.5", "boolean": "true or false"}
    raise InvalidInputError(
        f"variables[{name!r}]={short_repr(value)} is invalid: the variable is declared as a "
        f"{kind}. Pass {examples[kind]}."
    )


def bind_variables(
    prompt: PromptBody, variables: Mapping[str, Any] | None, source: str = "the prompt"
) -> dict[str, Any]:
    """The values a render uses: given ones checked and typed, defaults for the rest.

    Raises
    ------
    InvalidInputError
        A variable the prompt does not declare, a required one missing, or a value whose
        type does not match the declaration.
    """
    given = {} if variables is None else variables
    if not isinstance(given, Mapping):
        raise InvalidInputError(
            f"variables={short_repr(given)} is invalid: pass a mapping of variable name to "
            f"value, e.g. {{'name': 'Ada'}}."
        )
    declared = prompt.variables
    unknown = sorted(str(k) for k in given if k not in declared)
    if unknown:
        raise InvalidInputError(
            f"variables: {unknown} are not declared by {source} (it declares "
            f"{sorted(declared) or 'none'}). Remove them or fix the spelling."
        )
    missing = sorted(k for k, v in declared.items() if v.default is None and k not in given)
    if missing:
        described = ", ".join(
            f"{k} ({declared[k].description})" if declared[k].description else k for k in missing
        )
        raise InvalidInputError(
            f"variables: {source} requires {described}, which were not given (they have no "
            f"default). Pass them, e.g. variables={{{missing[0]!r}: ...}}."
        )
    values = {k: v.default for k, v in declared.items() if v.default is not None}
    values.update({k: _coerce(k, declared[k], v) for k, v in given.items()})
    return values


def render(
    body: PromptBody | Mapping[str, Any],
    variables: Mapping[str, Any] | None = None,
    *,
    source: str = "the prompt",
) -> str | list[dict[str, str]]:
    """Render a prompt body: the text of a text prompt, the messages of a chat prompt.

    Parameters
    ----------
    body : PromptBody or mapping
        A prompt body (validated here when a mapping).
    variables : mapping, default=None
        Values of the declared variables; those with a default may be left out.
    source : str, default="the prompt"
        How error messages name the prompt.

    Returns
    -------
    str or list of dict
        Text prompts give a string; chat prompts a list of ``{"role", "content"}``
        messages, the system message (when the prompt has one) first.

    Examples
    --------
    >>> render({"type": "text", "text": "Hi {{name}}!", "variables": {"name": {}}},
    ...        {"name": "Ada"})
    'Hi Ada!'
    """
    prompt = body if isinstance(body, PromptBody) else check_body(body)
    values = bind_variables(prompt, variables, source)
    parsed = prompt.parsed()
    if prompt.type == "text":
        return render_nodes(parsed["text"], values)
    messages = []
    if "system" in parsed:
        messages.append({"role": "system", "content": render_nodes(parsed["system"], values)})
    for i, message in enumerate(prompt.messages):
        content = render_nodes(parsed[f"messages[{i}].content"], values)
        messages.append({"role": message.role, "content": content})
    return messages
