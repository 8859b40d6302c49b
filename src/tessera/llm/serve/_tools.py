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

A call is generated under the JSON Schema of :func:`tessera.llm._tools.call_schema` (the
name a ``const``, the arguments the function's own ``parameters``), so that its arguments
always parse and validate; :class:`CallReader` reads it as it is generated, so that a
stream can send the name first and then the arguments piece by piece, as OpenAI's streams
do. The tools' text and the call schema live in :mod:`tessera.llm._tools`, which prompt
variants share.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tessera.llm._tools import (
    CALL_CLOSE,
    CALL_OPEN,
    ToolSpec,
    call_schema,
    tools_prompt,
    with_tools,
)
from tessera.llm.serve._http import ApiError

__all__ = [
    "CALL_CLOSE",
    "CALL_OPEN",
    "CallReader",
    "ToolSpec",
    "call_schema",
    "plain_messages",
    "tools_prompt",
]


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
    return plain if tools_text is None else with_tools(plain, tools_text)


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
