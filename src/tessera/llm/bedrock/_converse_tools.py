"""Converse's ``toolConfig``, ``toolUse`` and ``toolResult``, in the local tool-call format.

The tools are described in the system message and calls are written
``<tool_call>{"name", "arguments"}</tool_call>`` (:mod:`tessera.llm._tools`, shared with
the OpenAI-compatible service). With ``toolChoice`` ``any`` or ``tool`` the answer is one
call, decoded under the call's JSON Schema, so it always parses and its ``input``
validates; with ``auto`` (the default) the model answers freely and a reply that is a
call becomes a ``toolUse`` block. Earlier ``toolUse`` and ``toolResult`` blocks of the
conversation are written back in the same format, so multi-turn tool use works.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera._validation import bad_value

__all__ = ["ToolPlan", "tool_plan", "tool_result_text", "tool_use_text"]


@dataclass(frozen=True)
class ToolPlan:
    """The tools of a Converse request and how the answer must use them.

    Attributes
    ----------
    tools : list of ToolSpec
        Every tool, as :mod:`tessera.llm._tools` takes them.
    forced : str or None
        ``"any"`` (one call of any tool), a tool's name (a call of that one), or None
        (``auto``: text or a call).
    """

    tools: list[Any]
    forced: str | None

    def system_text(self) -> str:
        """The system-message text that describes the tools."""
        from tessera.llm._tools import tools_prompt

        described = [
            {"name": t.name, "description": t.description or "", "parameters": t.parameters}
            for t in self.tools
        ]
        return tools_prompt(described)

    def schema(self) -> dict[str, Any] | None:
        """The JSON Schema the answer is decoded under (None with ``auto``)."""
        from tessera.llm._tools import call_schema

        if self.forced is None:
            return None
        chosen = [t for t in self.tools if self.forced in ("any", t.name)]
        return call_schema(chosen)

    def read(self, text: str) -> dict[str, Any] | None:
        """The ``toolUse`` block an answer makes, or None for a text answer."""
        from tessera.llm._tools import CALL_CLOSE, CALL_OPEN

        body = text.strip()
        if body.startswith(CALL_OPEN):
            body = body[len(CALL_OPEN) :].split(CALL_CLOSE, 1)[0]
        elif self.forced is None:
            return None
        try:
            call = json.loads(body)
        except ValueError:
            return None
        names = {t.name for t in self.tools}
        if not isinstance(call, dict) or call.get("name") not in names:
            return None
        arguments = call.get("arguments")
        return {
            "toolUseId": f"tooluse_{uuid.uuid4().hex[:22]}",
            "name": call["name"],
            "input": arguments if isinstance(arguments, dict) else {},
        }


def tool_plan(config: Any) -> ToolPlan:
    """Converse's ``toolConfig`` as a :class:`ToolPlan` (errors name the field)."""
    from tessera.llm._tools import ToolSpec

    if not isinstance(config, Mapping):
        raise bad_value("toolConfig", config, "it must be a JSON object", "Send {tools: [...]}.")
    tools = []
    for index, item in enumerate(config.get("tools") or []):
        where = f"toolConfig.tools[{index}]"
        spec = item.get("toolSpec") if isinstance(item, Mapping) else None
        if not isinstance(spec, Mapping):
            if isinstance(item, Mapping) and "cachePoint" in item:
                continue
            raise bad_value(where, item, "only toolSpec entries are supported", "Fix it.")
        schema = spec.get("inputSchema")
        parameters = schema.get("json") if isinstance(schema, Mapping) else None
        name = spec.get("name")
        if not isinstance(name, str) or not isinstance(parameters, Mapping):
            raise bad_value(
                f"{where}.toolSpec",
                "...",
                "it needs a name and inputSchema.json",
                "Describe the tool.",
            )
        if parameters.get("type", "object") != "object":
            raise bad_value(
                f"{where}.toolSpec.inputSchema.json.type",
                parameters.get("type"),
                "a tool's input is an object",
                "Fix the schema.",
            )
        description = spec.get("description")
        tools.append(
            ToolSpec(name, description if isinstance(description, str) else None, dict(parameters))
        )
    if not tools:
        raise bad_value(
            "toolConfig.tools",
            config.get("tools"),
            "it lists no tool",
            "List at least one toolSpec.",
        )
    choice = config.get("toolChoice") or {"auto": {}}
    if not isinstance(choice, Mapping) or len(choice) != 1:
        raise bad_value(
            "toolConfig.toolChoice",
            choice,
            "it is {auto: {}}, {any: {}} or {tool: {name}}",
            "Fix it.",
        )
    ((kind, value),) = choice.items()
    forced: str | None
    if kind == "auto":
        forced = None
    elif kind == "any":
        forced = "any"
    elif (
        kind == "tool"
        and isinstance(value, Mapping)
        and value.get("name") in {t.name for t in tools}
    ):
        forced = str(value["name"])
    else:
        raise bad_value(
            "toolConfig.toolChoice", choice, "it names no listed tool", "Name one of the tools."
        )
    return ToolPlan(tools, forced)


def tool_use_text(where: str, value: Any) -> str:
    """An earlier ``toolUse`` block, as the model wrote the call."""
    from tessera.llm._tools import CALL_CLOSE, CALL_OPEN

    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise bad_value(where, value, "a toolUse block has toolUseId, name and input", "Fix it.")
    call = {"name": value["name"], "arguments": value.get("input", {})}
    return f"{CALL_OPEN}{json.dumps(call, ensure_ascii=False)}{CALL_CLOSE}"


def tool_result_text(where: str, value: Any) -> str:
    """A ``toolResult`` block, as the model reads a result."""
    if not isinstance(value, Mapping) or not isinstance(value.get("content"), list):
        raise bad_value(where, value, "a toolResult block has toolUseId and content", "Fix it.")
    parts = []
    for item in value["content"]:
        if isinstance(item, Mapping) and isinstance(item.get("text"), str):
            parts.append(item["text"])
        elif isinstance(item, Mapping) and "json" in item:
            parts.append(json.dumps(item["json"], ensure_ascii=False))
        else:
            raise bad_value(
                f"{where}.content",
                item,
                "only text and json results are read",
                "Send the result as text or json.",
            )
    return f"<tool_response>{''.join(parts)}</tool_response>"
