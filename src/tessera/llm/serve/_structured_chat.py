"""Chat completions with ``response_format`` or ``tools``: what is generated, and how
it is answered (a ``chat.completion`` or its stream of chunks).

How each request decodes (``tool_choice``'s default is ``auto`` when tools are sent):

* ``response_format`` ``json_object`` / ``json_schema``: the answer is decoded under the
  schema (``{"type": "object"}`` for ``json_object``), so ``message.content`` parses and
  validates; with ``finish_reason: "length"`` it is cut short and does not.
* ``tool_choice`` ``required`` or a named function: the answer is decoded under
  :func:`~tessera.llm.serve._tools.call_schema` of the allowed functions and answered as
  one ``message.tool_calls`` entry with ``finish_reason: "tool_calls"``.
* ``auto``: the model first decodes freely, with the tools in its system message. If its
  answer opens with ``<tool_call>`` (the format the system message asks for), that start
  is dropped and the call is decoded again from the same prompt under the call schema, as
  with ``required``; otherwise the answer is text (decoded under ``response_format``'s
  schema when there is one, from the start). The choice costs only the few tokens read
  before it is made.
* ``none``: the tools are not shown and no call is made.

A call's arguments are the model's own JSON text (``function.arguments``); a stream sends
the call's ``id`` and name first, then the arguments in pieces, as OpenAI's do.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tessera.errors import InvalidInputError
from tessera.llm.serve._formats import (
    NamedToolChoice,
    ToolDefinition,
    check_response_schema,
    check_tools,
    closed,
)
from tessera.llm.serve._http import ApiError, code_of, error_body, status_of
from tessera.llm.serve._tools import (
    CALL_OPEN,
    CallReader,
    ToolSpec,
    call_schema,
    plain_messages,
    tools_prompt,
)

__all__ = ["Plan", "StructuredAnswer", "plan_of"]

Mode = Literal["text", "call", "auto"]


@dataclass
class Plan:
    """What one structured request generates.

    Attributes
    ----------
    messages : list of dict
        Plain ``{"role", "content"}`` messages, tools written into the system message.
    mode : {"text", "call", "auto"}
        Text only, a call only, or the model's choice (see the module notes).
    text_schema, call_schema : dict or None
        The JSON Schemas that text answers and calls are decoded under.
    text_param : str
        The request field ``text_schema`` came from (named by errors).
    """

    messages: list[dict[str, str]]
    mode: Mode
    text_schema: dict[str, Any] | None = None
    call_schema: dict[str, Any] | None = None
    text_param: str = "response_format"


def plan_of(body: Any) -> Plan | None:
    """The plan of a ``ChatCompletionRequest``; None for a plain chat (no structure).

    Raises
    ------
    ApiError
        400 naming the field: a schema or tool that cannot be enforced
        (:mod:`~tessera.llm.serve._formats`), a ``tool_choice`` without tools or naming a
        function not among them, a ``tool`` message answering no call.
    """
    text_schema: dict[str, Any] | None = None
    response_format = body.response_format
    if response_format is not None and response_format.type == "json_object":
        text_schema = {"type": "object"}
    elif response_format is not None and response_format.json_schema is not None:
        text_schema = closed(check_response_schema(response_format.json_schema))
    tools: list[ToolDefinition] = body.tools or []
    check_tools(tools)
    choice = body.tool_choice if body.tool_choice is not None else ("auto" if tools else "none")
    if choice != "none" and not tools:
        raise ApiError(
            400,
            f"tool_choice={_shown(choice)} is invalid: no tools were sent. Send tools, or "
            "leave tool_choice out.",
            param="tool_choice",
        )
    specs = [
        ToolSpec(t.function.name, t.function.description, closed(t.function.parameters or {}))
        for t in tools
    ]
    if isinstance(choice, NamedToolChoice):
        name = choice.function.name
        specs = [spec for spec in specs if spec.name == name]
        if not specs:
            offered = [t.function.name for t in tools]
            raise ApiError(
                400,
                f"tool_choice.function.name={name!r} is invalid: it is not among the tools "
                f"sent ({offered}). Name one of them.",
                param="tool_choice.function.name",
            )
    history = [_message_dict(m) for m in body.messages]
    structured = (
        text_schema is not None
        or tools
        or any(m["role"] in ("tool", "developer") or m.get("tool_calls") for m in history)
    )
    if not structured:
        return None
    shown = None if choice == "none" else tools_prompt([_shown_tool(spec) for spec in specs])
    messages = plain_messages(history, shown)
    text_param = "response_format"
    if response_format is not None and response_format.json_schema is not None:
        text_param = "response_format.json_schema.schema"
    if choice == "none":
        return Plan(messages, "text", text_schema=text_schema, text_param=text_param)
    mode: Mode = "auto" if choice == "auto" else "call"
    return Plan(messages, mode, text_schema, call_schema(specs), text_param)


def _shown(choice: Any) -> str:
    if isinstance(choice, NamedToolChoice):
        return json.dumps(choice.model_dump())
    return repr(choice)


def _shown_tool(spec: ToolSpec) -> dict[str, Any]:
    shown: dict[str, Any] = {"name": spec.name}
    if spec.description:
        shown["description"] = spec.description
    shown["parameters"] = spec.parameters
    return shown


def _message_dict(message: Any) -> dict[str, Any]:
    calls = [call.model_dump() for call in message.tool_calls or ()]
    return {
        "role": message.role,
        "content": message.text(),
        "tool_calls": calls,
        "tool_call_id": message.tool_call_id,
    }


def constrained(params: Any, schema: Mapping[str, Any] | None) -> Any:
    """``params`` with the JSON Schema the answer is decoded under (None: unchanged)."""
    if schema is None:
        return params
    return dataclasses.replace(params, json_schema=dict(schema))


@dataclass
class Outcome:
    """How an answer ended: set when its events are exhausted."""

    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    content: str = ""
    call_id: str | None = None
    call_name: str | None = None
    arguments: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class StructuredAnswer:
    """The answer to a structured request, as events, generated in the calling thread.

    Iterating yields ``("content", text)``, or ``("call", name)`` once and then
    ``("arguments", fragment)``; when exhausted, :attr:`outcome` says how it ended.
    """

    def __init__(self, backend: Any, plan: Plan, params: Any) -> None:
        self.backend = backend
        self.plan = plan
        self.params = params
        self.outcome = Outcome()
        self._open: Any = None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        try:
            yield from self._events()
        finally:
            self.close()

    def close(self) -> None:
        """Stop generating (a client went away)."""
        stream, self._open = self._open, None
        if stream is not None:
            stream.close()

    def _stream(self, schema: Mapping[str, Any] | None, param: str = "tools") -> Any:
        self.close()
        try:
            self._open = self.backend.stream(self.plan.messages, constrained(self.params, schema))
        except InvalidInputError as exc:
            message = str(exc)
            if message.startswith("tokenizer="):  # this model cannot be constrained
                model = getattr(self.backend, "model_id", None)
                raise ApiError(
                    400,
                    f"model={model!r} cannot answer with structured output or tool calls: "
                    f"{message}",
                    param="model",
                ) from None
            if not message.startswith("json_schema"):
                raise
            # The runtime names its own argument; the client sent this field.
            message = message.replace("json_schema", param, 1)
            raise ApiError(400, message, param=param) from None
        return self._open

    def _events(self) -> Iterator[tuple[str, str]]:
        plan = self.plan
        if plan.mode == "text":
            yield from self._text(self._stream(plan.text_schema, plan.text_param), "")
            return
        if plan.mode == "call":
            yield from self._call(self._stream(plan.call_schema))
            return
        first = self._stream(None)
        head = ""
        for piece in first:
            head += piece
            start = head.lstrip()
            if start.startswith(CALL_OPEN):
                yield from self._call(self._stream(plan.call_schema))
                return
            if not CALL_OPEN.startswith(start):
                break
        if plan.text_schema is not None:
            yield from self._text(self._stream(plan.text_schema, plan.text_param), "")
        else:
            yield from self._text(first, head)

    def _end(self, stream: Any) -> None:
        result = stream.result
        self._open = None
        if result is not None:
            self.outcome.finish_reason = result.finish_reason
            self.outcome.prompt_tokens = result.prompt_tokens
            self.outcome.completion_tokens = result.completion_tokens

    def _text(self, stream: Any, head: str) -> Iterator[tuple[str, str]]:
        if head:
            self.outcome.content += head
            yield "content", head
        for piece in stream:
            self.outcome.content += piece
            yield "content", piece
        self._end(stream)

    def _call(self, stream: Any) -> Iterator[tuple[str, str]]:
        reader = CallReader()
        outcome = self.outcome
        for piece in stream:
            for kind, value in reader.feed(piece):
                if kind == "name":
                    outcome.call_id = f"call_{uuid.uuid4().hex[:24]}"
                    outcome.call_name = value
                    yield "call", value
                else:
                    outcome.arguments += value
                    yield "arguments", value
        self._end(stream)
        if reader.complete():
            outcome.finish_reason = "tool_calls"
        elif outcome.call_name is None:  # cut short before the name: the text as it is
            outcome.content = reader.text
            if reader.text:
                yield "content", reader.text

    def message(self) -> dict[str, Any]:
        """The ``choices[0]`` of the ``chat.completion`` (after iterating)."""
        outcome = self.outcome
        message: dict[str, Any] = {"role": "assistant", "content": outcome.content or None}
        if outcome.call_id is not None:
            message["tool_calls"] = [_tool_call(outcome)]
        else:
            message["content"] = outcome.content
        return {"index": 0, "message": message, "finish_reason": outcome.finish_reason}


def _tool_call(outcome: Outcome) -> dict[str, Any]:
    return {
        "id": outcome.call_id,
        "type": "function",
        "function": {"name": outcome.call_name, "arguments": outcome.arguments},
    }


def usage(outcome: Outcome) -> dict[str, int]:
    """OpenAI's ``usage`` of an answer."""
    return {
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
    }


def completion(answer: StructuredAnswer, completion_id: str, model: str) -> dict[str, Any]:
    """The ``chat.completion`` body of an answer that has been iterated to its end."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [answer.message()],
        "usage": usage(answer.outcome),
    }


async def chunks(
    answer: StructuredAnswer,
    first: tuple[str, str] | None,
    rest: AsyncIterator[tuple[str, str]],
    *,
    completion_id: str,
    model: str,
    include_usage: bool,
    event: Callable[[Mapping[str, Any] | str], bytes],
) -> AsyncIterator[bytes]:
    """The ``chat.completion.chunk`` events of an answer (``event`` formats one)."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return event(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [choice],
            }
        )

    yield chunk({"role": "assistant", "content": ""})

    async def events() -> AsyncIterator[tuple[str, str]]:
        if first is not None:
            yield first
        async for item in rest:
            yield item

    try:
        async for kind, value in events():
            if kind == "content":
                yield chunk({"content": value})
            elif kind == "call":
                call = {
                    "index": 0,
                    "id": answer.outcome.call_id,
                    "type": "function",
                    "function": {"name": value, "arguments": ""},
                }
                yield chunk({"tool_calls": [call]})
            else:
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": value}}]})
    except Exception as exc:  # the status line is gone: report in the stream
        yield event(error_body(status_of(exc), str(exc), code=code_of(exc)))
        yield event("[DONE]")
        return
    yield chunk({}, answer.outcome.finish_reason)
    if include_usage:
        yield event(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage(answer.outcome),
            }
        )
    yield event("[DONE]")
