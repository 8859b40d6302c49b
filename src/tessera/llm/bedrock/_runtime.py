"""bedrock-runtime's request and response bodies, to and from tessera's chat types.

Two request shapes reach a model: Converse's (``messages`` of content blocks, ``system``,
``inferenceConfig``, ``guardrailConfig``) and InvokeModel's Anthropic Messages body
(``anthropic_version``, ``max_tokens``, ``messages``, ``system``, ``temperature``...).
Both become a :class:`ChatRequest`: role/content messages and
:class:`~tessera.llm.backends.GenerationParams`. What a local model cannot honour (images,
documents, tool use, reasoning) is refused naming the field, never dropped.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera._validation import bad_value
from tessera.errors import InvalidInputError

__all__ = [
    "ANTHROPIC_VERSION",
    "ChatRequest",
    "GuardrailRef",
    "anthropic_message",
    "anthropic_request",
    "anthropic_stream_chunks",
    "converse_request",
    "converse_response",
    "stop_reason",
]

#: The ``anthropic_version`` Bedrock's Anthropic models take.
ANTHROPIC_VERSION = "bedrock-2023-05-31"
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


@dataclass(frozen=True)
class GuardrailRef:
    """Converse's ``guardrailConfig``: which guardrail, which version, whether to trace."""

    identifier: str
    version: str
    trace: bool = False


@dataclass(frozen=True)
class ChatRequest:
    """A chat request in tessera's terms.

    Attributes
    ----------
    messages : list of dict
        ``{"role": ..., "content": ...}`` with the system prompt first, if any.
    params : GenerationParams
        Sampling parameters.
    guardrail : GuardrailRef or None
        Converse's guardrail, if any.
    tools : ToolPlan or None
        Converse's ``toolConfig`` (:mod:`tessera.llm.bedrock._converse_tools`), if any.
    """

    messages: list[dict[str, str]]
    params: Any
    guardrail: GuardrailRef | None = None
    tools: Any = None


def _invalid(field: str, value: Any, rule: str, fix: str) -> InvalidInputError:
    return bad_value(field, value, rule, fix)


def _mapping(field: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(field, value, "it must be a JSON object", f"Send {field} as an object.")
    return value


def _only(field: str, value: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise _invalid(
            f"{field}.{unknown[0]}" if field else unknown[0],
            value[unknown[0]],
            f"tessera does not support this field here (supported: {', '.join(allowed)})",
            "Leave it out.",
        )


def _text_blocks(field: str, blocks: Any, *, system: bool = False) -> str:
    """The text of Converse content blocks (``text``, ``guardContent``; cache points skipped)."""
    if not isinstance(blocks, list):
        raise _invalid(field, blocks, "it must be a list of content blocks", '[{"text": "..."}]')
    texts: list[str] = []
    for index, block in enumerate(blocks):
        where = f"{field}[{index}]"
        block = _mapping(where, block)
        if len(block) != 1:
            raise _invalid(where, block, "a content block has exactly one member", "Split it.")
        ((kind, value),) = block.items()
        if kind == "text":
            if not isinstance(value, str):
                raise _invalid(f"{where}.text", value, "it must be a string", "Send text.")
            texts.append(value)
        elif kind == "guardContent":
            inner = _mapping(f"{where}.guardContent", value).get("text")
            text = _mapping(f"{where}.guardContent.text", inner).get("text")
            if not isinstance(text, str):
                raise _invalid(
                    f"{where}.guardContent.text.text", text, "it must be a string", "Send text."
                )
            texts.append(text)
        elif kind == "cachePoint":
            continue  # a caching hint: nothing to do locally
        elif kind == "toolUse" and not system:
            from tessera.llm.bedrock._converse_tools import tool_use_text

            texts.append(tool_use_text(f"{where}.toolUse", value))
        elif kind == "toolResult" and not system:
            from tessera.llm.bedrock._converse_tools import tool_result_text

            texts.append(tool_result_text(f"{where}.toolResult", value))
        elif kind == "document" and not system:
            from tessera.llm.bedrock._documents import document_text

            apart = "\n" if texts and not texts[-1].endswith("\n") else ""
            texts.append(apart + document_text(where, value))
        elif kind in ("image", "video", "audio"):
            from tessera.llm.bedrock._documents import refuse_media

            raise refuse_media(where, kind)
        else:
            kinds = "text, guardContent, cachePoint, toolUse, toolResult, document"
            raise _invalid(
                f"{where}.{kind}",
                "...",
                f"content blocks of type {kind!r} are not supported by local models "
                f"(supported: {kinds})",
                "Send the content as text.",
            )
    if system:
        return "\n".join(texts)
    return "".join(texts)


def message_turns(
    raw: Sequence[Any], read: Callable[[str, Any], str] | None = None
) -> list[dict[str, str]]:
    """``messages`` (user and assistant turns) as chat turns; ``read`` turns one message's
    ``content`` into text (default: Converse's content blocks)."""
    read = read or _text_blocks
    turns = []
    for index, message in enumerate(raw):
        message = _mapping(f"messages[{index}]", message)
        _only(f"messages[{index}]", message, ("role", "content"))
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise _invalid(
                f"messages[{index}].role", role, "it must be user or assistant", "Fix the role."
            )
        text = read(f"messages[{index}].content", message.get("content"))
        turns.append({"role": role, "content": text})
    return turns


def _params(values: Mapping[str, Any], names: Mapping[str, str]) -> Any:
    """GenerationParams from ``{our name: value}``; errors name the Bedrock field."""
    from tessera.llm.backends import GenerationParams

    given = {k: v for k, v in values.items() if v is not None}
    try:
        return GenerationParams(**given)
    except InvalidInputError as exc:
        message = str(exc)
        ours = message.split("=", 1)[0]
        theirs = names.get(ours)
        if theirs is not None:
            message = theirs + message[len(ours) :]
        raise InvalidInputError(message) from None
    except TypeError as exc:
        raise InvalidInputError(f"the inference parameters are invalid: {exc}") from None


def converse_request(
    body: Any, *, preset: list[dict[str, str]] | None = None, defaults: Any = None
) -> ChatRequest:
    """A Converse / ConverseStream body as a :class:`ChatRequest` (errors name the field).

    Parameters
    ----------
    body : mapping
        The request body.
    preset : list of dict or None, default=None
        Messages of a rendered prompt (Converse with a prompt ARN as ``modelId``): they
        come first, ``messages`` may then be empty, and ``promptVariables`` is accepted.
    defaults : GenerationParams or None, default=None
        The prompt variant's parameters, which ``inferenceConfig`` overrides field by field.
    """
    body = _mapping("body", body)
    _only(
        "",
        body,
        (
            "messages",
            "system",
            "inferenceConfig",
            "guardrailConfig",
            "additionalModelRequestFields",
            "additionalModelResponseFieldPaths",
            "requestMetadata",
            "performanceConfig",
            "promptVariables",
            "toolConfig",
        ),
    )
    tools = None
    if body.get("toolConfig") is not None:
        from tessera.llm.bedrock._converse_tools import tool_plan

        tools = tool_plan(body["toolConfig"])
    if body.get("promptVariables") is not None and preset is None:
        raise _invalid(
            "promptVariables",
            "...",
            "prompt variables need a prompt ARN as modelId",
            "Pass the ARN of a stored prompt (arn:aws:bedrock:local:000000000000:prompt/NAME), "
            "or leave promptVariables out.",
        )
    messages: list[dict[str, str]] = list(preset or [])
    if body.get("system") is not None:
        system = _text_blocks("system", body["system"], system=True)
        if system:
            messages.insert(0, {"role": "system", "content": system})
    raw = body.get("messages")
    if preset and not raw:
        raw = []
    elif not isinstance(raw, list) or not raw:
        raise _invalid("messages", raw, "it must be a non-empty list", "Send one user message.")
    messages.extend(message_turns(raw))
    if not preset and raw[0].get("role") != "user":
        raise _invalid(
            "messages[0].role",
            raw[0].get("role"),
            "a conversation must start with a user message",
            "Start with one.",
        )
    config = _mapping("inferenceConfig", body.get("inferenceConfig") or {})
    _only("inferenceConfig", config, ("maxTokens", "temperature", "topP", "stopSequences"))
    extra = _mapping("additionalModelRequestFields", body.get("additionalModelRequestFields") or {})
    _only("additionalModelRequestFields", extra, ("top_k", "seed"))
    stops = config.get("stopSequences")
    base: dict[str, Any] = {}
    if defaults is not None:
        base = {
            k: getattr(defaults, k)
            for k in ("max_tokens", "temperature", "top_p", "top_k", "stop", "seed")
        }
    given = {
        "max_tokens": config.get("maxTokens"),
        "temperature": config.get("temperature"),
        "top_p": config.get("topP"),
        "stop": tuple(stops) if isinstance(stops, list) else stops,
        "top_k": extra.get("top_k"),
        "seed": extra.get("seed"),
    }
    params = _params(
        {**base, **{k: v for k, v in given.items() if v is not None}},
        {
            "max_tokens": "inferenceConfig.maxTokens",
            "temperature": "inferenceConfig.temperature",
            "top_p": "inferenceConfig.topP",
            "stop": "inferenceConfig.stopSequences",
            "top_k": "additionalModelRequestFields.top_k",
            "seed": "additionalModelRequestFields.seed",
        },
    )
    guardrail = _guardrail_ref(body.get("guardrailConfig"))
    if tools is not None:
        from dataclasses import replace

        from tessera.llm._tools import with_tools

        if guardrail is not None:
            raise _invalid(
                "toolConfig",
                "...",
                "tool use with a guardrail is not supported "
                "(the guardrail may mask or replace a call)",
                "Send one of the two.",
            )
        messages = with_tools(messages, tools.system_text())
        schema = tools.schema()
        if schema is not None:
            params = replace(params, json_schema=schema)
    return ChatRequest(messages, params, guardrail, tools)


def _guardrail_ref(value: Any) -> GuardrailRef | None:
    if value is None:
        return None
    config = _mapping("guardrailConfig", value)
    _only(
        "guardrailConfig",
        config,
        ("guardrailIdentifier", "guardrailVersion", "trace", "streamProcessingMode"),
    )
    identifier, version = config.get("guardrailIdentifier"), config.get("guardrailVersion")
    for name, item in (("guardrailIdentifier", identifier), ("guardrailVersion", version)):
        if not isinstance(item, str) or not item:
            raise _invalid(
                f"guardrailConfig.{name}",
                item,
                "it is required (a string)",
                "Name the guardrail and its version (DRAFT or a number).",
            )
    trace = config.get("trace", "disabled")
    if trace not in ("enabled", "disabled", "enabled_full"):
        raise _invalid(
            "guardrailConfig.trace",
            trace,
            "it must be enabled, disabled or enabled_full",
            "Pass 'enabled'.",
        )
    return GuardrailRef(str(identifier), str(version), trace != "disabled")


def stop_reason(finish_reason: str | None) -> str:
    """Converse's ``stopReason`` for a tessera finish reason."""
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn")


def converse_response(
    text: str,
    *,
    stop: str,
    input_tokens: int,
    output_tokens: int,
    latency_ms: int,
    trace: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Converse's response body."""
    answer: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": latency_ms},
    }
    if trace is not None:
        answer["trace"] = dict(trace)
    return answer


def _anthropic_content(field: str, content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid(
            field,
            content,
            "it must be a string or a list of content blocks",
            '[{"type": "text", "text": "..."}]',
        )
    texts = []
    for index, block in enumerate(content):
        block = _mapping(f"{field}[{index}]", block)
        kind = block.get("type")
        if kind != "text":
            raise _invalid(
                f"{field}[{index}].type",
                kind,
                "only text blocks are supported by local models",
                "Send the content as text.",
            )
        _only(f"{field}[{index}]", block, ("type", "text", "cache_control"))
        if not isinstance(block.get("text"), str):
            raise _invalid(
                f"{field}[{index}].text", block.get("text"), "it must be a string", "Send text."
            )
        texts.append(block["text"])
    return "".join(texts)


def anthropic_request(body: Any) -> ChatRequest:
    """InvokeModel's Anthropic Messages body (parsed JSON) as a :class:`ChatRequest`."""
    body = _mapping("body", body)
    _only(
        "",
        body,
        (
            "anthropic_version",
            "max_tokens",
            "messages",
            "system",
            "temperature",
            "top_p",
            "top_k",
            "stop_sequences",
            "metadata",
            "anthropic_beta",
        ),
    )
    version = body.get("anthropic_version")
    if version != ANTHROPIC_VERSION:
        raise _invalid(
            "anthropic_version",
            version,
            f"it must be {ANTHROPIC_VERSION!r}",
            f'Send "anthropic_version": "{ANTHROPIC_VERSION}".',
        )
    if body.get("max_tokens") is None:
        raise _invalid("max_tokens", None, "it is required", 'Send e.g. "max_tokens": 256.')
    messages: list[dict[str, str]] = []
    if body.get("system") is not None:
        messages.append({"role": "system", "content": _anthropic_content("system", body["system"])})
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _invalid(
            "messages", raw_messages, "it must be a non-empty list", "Send one user message."
        )
    messages.extend(message_turns(raw_messages, _anthropic_content))
    stops = body.get("stop_sequences")
    params = _params(
        {
            "max_tokens": body.get("max_tokens"),
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "top_k": body.get("top_k"),
            "stop": tuple(stops) if isinstance(stops, list) else stops,
        },
        {"stop": "stop_sequences"},
    )
    return ChatRequest(messages, params)


def anthropic_message(
    text: str, *, model: str, finish_reason: str | None, input_tokens: int, output_tokens: int
) -> dict[str, Any]:
    """The Anthropic Messages response of InvokeModel."""
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason(finish_reason),
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def _chunk(event: Mapping[str, Any]) -> dict[str, str]:
    """A ``chunk`` event's payload: the Anthropic event's JSON, base64-encoded."""
    raw = json.dumps(event, ensure_ascii=False).encode("utf-8")
    return {"bytes": base64.b64encode(raw).decode("ascii")}


def anthropic_stream_chunks(model: str) -> tuple[dict[str, str], dict[str, str]]:
    """The first two chunks of an Anthropic stream (``message_start``, ``content_block_start``)."""
    start = {
        "type": "message_start",
        "message": {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        },
    }
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    return _chunk(start), _chunk(block)


def anthropic_delta(text: str) -> dict[str, str]:
    """A ``content_block_delta`` chunk with ``text``."""
    return _chunk(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    )


def anthropic_end(
    finish_reason: str | None, input_tokens: int, output_tokens: int, latency_ms: int
) -> list[dict[str, str]]:
    """The closing chunks: ``content_block_stop``, ``message_delta``, ``message_stop``."""
    return [
        _chunk({"type": "content_block_stop", "index": 0}),
        _chunk(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(finish_reason), "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            }
        ),
        _chunk(
            {
                "type": "message_stop",
                "amazon-bedrock-invocationMetrics": {
                    "inputTokenCount": input_tokens,
                    "outputTokenCount": output_tokens,
                    "invocationLatency": latency_ms,
                    "firstByteLatency": latency_ms,
                },
            }
        ),
    ]
