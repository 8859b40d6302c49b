"""Tools shown to a model in its system message, and the JSON Schema a call is decoded under.

What the HTTP service (``tools`` in a chat completion) and prompt variants (``tools``)
share. Chat templates without tools (the embedded SmolLM2's) get the tools in the system
message, with the tags of the Hermes-style format that SmolLM2's and Qwen's
function-calling data use: the functions as JSON lines inside ``<tools></tools>``, one
call as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, a result inside
``<tool_response></tool_response>``. A call is decoded under :func:`call_schema` (the
name a ``const``, the arguments the function's ``parameters``), so its arguments always
parse and validate.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CALL_CLOSE", "CALL_OPEN", "ToolSpec", "call_schema", "tools_prompt", "with_tools"]

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"

_PROMPT = """You can call functions. Their descriptions and the JSON Schemas of their \
arguments are inside <tools></tools>:
<tools>
{tools}
</tools>
To call a function, answer with nothing but one call in this format:
<tool_call>{{"name": "<function name>", "arguments": {{<the arguments as JSON>}}}}</tool_call>
Its result will come back inside <tool_response></tool_response>. When no function is \
needed, or once you have the results you need, answer the user in plain text."""


def tools_prompt(tools: Sequence[Mapping[str, Any]]) -> str:
    """The system-message text that describes ``tools`` (each ``{"name", "description",
    "parameters"}``) and the call format."""
    lines = [json.dumps(dict(tool), ensure_ascii=False) for tool in tools]
    return _PROMPT.format(tools="\n".join(lines))


def _rebase(node: Any, prefix: str, names: Mapping[str, str]) -> Any:
    """A copy of the subschema ``node`` whose local ``$ref`` s point into
    ``#/$defs/<prefix>...`` (its ``$defs`` left out: :func:`call_schema` hoists them)."""
    if isinstance(node, list):
        return [_rebase(item, prefix, names) for item in node]
    if not isinstance(node, dict):
        return node
    rebased: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("$defs", "definitions"):
            continue
        if key == "$ref" and isinstance(value, str):
            match = re.fullmatch(r"#/(?:\$defs|definitions)/([^/]+)(.*)", value)
            if match is not None and match.group(1) in names:
                value = f"#/$defs/{names[match.group(1)]}{match.group(2)}"
            elif value == "#" or value.startswith("#/"):  # the tool's own root
                value = f"#/$defs/{prefix}{value[1:]}"
            rebased[key] = value
        elif key in ("properties", "patternProperties", "dependentSchemas") and isinstance(
            value, dict
        ):  # names -> subschemas: the names are data, not keywords
            rebased[key] = {name: _rebase(sub, prefix, names) for name, sub in value.items()}
        elif key in ("enum", "const", "default", "examples", "required"):
            rebased[key] = copy.deepcopy(value)
        else:
            rebased[key] = _rebase(value, prefix, names)
    return rebased


@dataclass(frozen=True)
class ToolSpec:
    """A function as the model sees it and as its calls are checked."""

    name: str
    description: str | None
    parameters: dict[str, Any]


def call_schema(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """The JSON Schema of one call of one of ``tools``: ``{"name", "arguments"}``.

    Each function's parameters go to ``$defs`` (its own ``$defs`` beside them, renamed),
    so that references inside them still resolve.
    """
    defs: dict[str, Any] = {}
    options: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        prefix = f"tool{index}"
        own = {**tool.parameters.get("definitions", {}), **tool.parameters.get("$defs", {})}
        names = {name: f"{prefix}_{name}" for name in own}
        for name, schema in own.items():
            defs[names[name]] = _rebase(schema, prefix, names)
        parameters = _rebase(tool.parameters, prefix, names)
        parameters.setdefault("type", "object")
        defs[prefix] = parameters
        options.append(
            {
                "type": "object",
                "properties": {
                    "name": {"const": tool.name},
                    "arguments": {"$ref": f"#/$defs/{prefix}"},
                },
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    whole: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    return {**whole, "$defs": defs}


def with_tools(messages: Sequence[Mapping[str, str]], text: str) -> list[dict[str, str]]:
    """``messages`` with the tools' ``text`` added to the first system message (or in
    one of its own, first)."""
    plain = [dict(message) for message in messages]
    if plain and plain[0].get("role") == "system":
        plain[0] = {"role": "system", "content": f"{plain[0]['content']}\n\n{text}"}
    else:
        plain.insert(0, {"role": "system", "content": text})
    return plain
