"""Tools in a plain chat: how they are shown to the model, and how its calls are read.

The embedded SmolLM2's chat template has no notion of tools, so tools travel in the
system message, with the tags of the Hermes-style format that SmolLM2's and Qwen's
function-calling data use: the functions as JSON inside ``<tools></tools>``, one call as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, a result inside
``<tool_response></tool_response>``. (The 135M model did not call tools unconstrained
in the formats tried; what makes its calls valid is the constraint.) Earlier turns are
written the same way: an assistant message's ``tool_calls`` become ``<tool_call>``
lines, a ``tool`` message becomes a user message holding its ``<tool_response>``, a
``developer`` message a system message. The result is the plain ``{"role", "content"}``
messages every backend takes.

A call is generated under the JSON Schema of :func:`call_schema` (the name a ``const``,
the arguments the function's own ``parameters``), so that its arguments always parse and
validate; :class:`CallReader` reads it as it is generated, so that a stream can send the
name first and then the arguments piece by piece, as OpenAI's streams do.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera.llm.serve._http import ApiError

__all__ = [
    "CALL_CLOSE",
    "CALL_OPEN",
    "CallReader",
    "call_schema",
    "plain_messages",
    "tools_prompt",
]

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


def _call_text(name: str, arguments: Any) -> str:
    call = {"name": name, "arguments": arguments}
    return f"{CALL_OPEN}{json.dumps(call, ensure_ascii=False)}{CALL_CLOSE}"


def plain_messages(
    messages: Sequence[Mapping[str, Any]], tools_text: str | None
) -> list[dict[str, str]]:
    """OpenAI messages (roles ``system``, ``developer``, ``user``, ``assistant`` with
    ``tool_calls``, ``tool``) as plain ``{"role", "content"}`` messages, with
    ``tools_text`` added to the first system message (or in one of its own, first).

    Parameters
    ----------
    messages : sequence of mapping
        Each ``{"role", "content", "tool_calls"?, "tool_call_id"?}``, ``content`` a string
        or None.
    tools_text : str or None
        :func:`tools_prompt`'s text, or None when no tools are offered.

    Raises
    ------
    ApiError
        400 for a ``tool`` message whose ``tool_call_id`` answers no earlier call, and for
        a call whose ``arguments`` are not JSON.
    """
    plain: list[dict[str, str]] = []
    calls: dict[str, str] = {}  # id -> function name, of the calls made so far
    for index, message in enumerate(messages):
        role, content = message["role"], message.get("content") or ""
        if role == "developer":
            role = "system"
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in calls:
                made = sorted(calls) or "none"
                raise ApiError(
                    400,
                    f"messages.{index}.tool_call_id={call_id!r} is invalid: a tool message "
                    f"answers a call of an earlier assistant message (calls made: {made}). "
                    "Send the assistant message with its tool_calls before the tool's result.",
                    param=f"messages.{index}.tool_call_id",
                )
            plain.append({"role": "user", "content": f"<tool_response>{content}</tool_response>"})
            continue
        for number, call in enumerate(message.get("tool_calls") or ()):
            where = f"messages.{index}.tool_calls.{number}.function.arguments"
            function = call["function"]
            try:
                arguments = json.loads(function["arguments"] or "{}")
            except ValueError:
                raise ApiError(
                    400,
                    f"{where}={function['arguments'][:60]!r} is invalid: a call's arguments are "
                    'a JSON object in a string. Send the arguments as the answer gave them ("{}" '
                    "for none).",
                    param=where,
                ) from None
            calls[call["id"]] = function["name"]
            content += _call_text(function["name"], arguments)
        plain.append({"role": role, "content": content})
    if tools_text is not None:
        if plain and plain[0]["role"] == "system":
            plain[0] = {"role": "system", "content": f"{plain[0]['content']}\n\n{tools_text}"}
        else:
            plain.insert(0, {"role": "system", "content": tools_text})
    return plain


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


#: A call's start, up to the first character of its arguments (so that the arguments'
#: text starts there, whatever whitespace the model put before it).
_HEAD = re.compile(r'\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*(?=\S)')
_DECODER = json.JSONDecoder()


class CallReader:
    """Read ``{"name": ..., "arguments": {...}}`` as its text is generated.

    :meth:`feed` returns what became known: ``("name", name)`` once, then
    ``("arguments", fragment)`` pieces that join to the arguments' JSON text, exactly as
    the model wrote it (and as :attr:`arguments` holds it at the end).
    """

    def __init__(self) -> None:
        self.text = ""
        self.name: str | None = None
        self.arguments: str | None = None
        self._start = -1
        self._sent = -1

    def feed(self, piece: str) -> Iterator[tuple[str, str]]:
        """The name and argument fragments that ``piece`` completes."""
        self.text += piece
        if self.name is None:
            head = _HEAD.match(self.text)
            if head is None:
                return
            self.name = json.loads(head.group(1))
            self._start = self._sent = head.end()
            yield "name", self.name
        end = len(self.text)
        if self.arguments is None:
            try:
                _, end = _DECODER.raw_decode(self.text, self._start)
            except ValueError:  # not closed yet: all of it is inside the arguments
                end = len(self.text)
            else:
                self.arguments = self.text[self._start : end]
        else:
            end = self._start + len(self.arguments)
        if end > self._sent:
            yield "arguments", self.text[self._sent : end]
            self._sent = end

    def complete(self) -> bool:
        """Whether the whole call has been read (the text is one JSON object)."""
        if self.arguments is None:
            return False
        try:
            json.loads(self.text)
        except ValueError:
            return False
        return True
