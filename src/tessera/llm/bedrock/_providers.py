"""InvokeModel bodies of Bedrock's model providers, in and out, picked by model id.

Bedrock reads InvokeModel's body in the format of the model's provider, named by the
model id (``meta.llama3-8b-instruct-v1:0`` is Meta's; an inference profile's region
prefix, ``us.``, and a foundation-model ARN are looked through). Each provider here turns
its request into a chat for the local model and writes the answer, and the stream
chunks of InvokeModelWithResponseStream, in its own shape:

==============  ==============================  =========================================
provider        request                         answer
==============  ==============================  =========================================
anthropic       Messages (``anthropic_version``) ``message`` / Anthropic stream events
meta            ``prompt``, ``max_gen_len``      ``generation``, token counts, ``stop_reason``
mistral         ``prompt``, ``max_tokens``       ``outputs: [{text, stop_reason}]``
amazon (titan)  ``inputText``,                   ``results: [{outputText, tokenCount,
                ``textGenerationConfig``         completionReason}]``
amazon (nova)   ``messages-v1``: ``messages``,   ``output.message``, ``stopReason``, ``usage``;
                ``system``, ``inferenceConfig``  streamed as Converse-like events
cohere          Command R: ``message``,          ``text``, ``finish_reason``, ``chat_history``
                ``chat_history``, ``preamble``;
                Command: ``prompt``              ``generations: [{text, finish_reason}]``
==============  ==============================  =========================================

Raw prompts (Llama's, Mistral's) are written in the model family's chat template; the
local model has its own, so a prompt in Llama 3's (``<|start_header_id|>user...``) or in
Llama 2's and Mistral's (``[INST] ... [/INST]``, with ``<<SYS>>``) is read back into
its turns and given to the local model as a chat. A prompt with no template is one user
message. A model id with no provider prefix (a served model's own id) takes the
Anthropic body.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera.errors import InvalidInputError
from tessera.llm.bedrock._runtime import (
    ChatRequest,
    _invalid,
    _mapping,
    _only,
    _params,
    _text_blocks,
    anthropic_delta,
    anthropic_end,
    anthropic_message,
    anthropic_request,
    anthropic_stream_chunks,
    message_turns,
)

__all__ = ["Provider", "provider_for"]

Chunk = dict[str, str]
_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|us-gov|global|jp|au|ca)\.")
_LLAMA3_TURN = re.compile(
    r"<\|start_header_id\|>(system|user|assistant)<\|end_header_id\|>(.*?)(?=<\|eot_id\|>|"
    r"<\|start_header_id\|>|$)",
    re.S,
)
_INST = re.compile(r"\[INST\]|\[/INST\]")
_SYS = re.compile(r"<<SYS>>(.*?)<</SYS>>", re.S)


def _chunk(event: Mapping[str, Any]) -> Chunk:
    raw = json.dumps(event, ensure_ascii=False).encode("utf-8")
    return {"bytes": base64.b64encode(raw).decode("ascii")}


def _metrics(inputs: int, outputs: int, latency_ms: int) -> dict[str, int]:
    return {
        "inputTokenCount": inputs,
        "outputTokenCount": outputs,
        "invocationLatency": latency_ms,
        "firstByteLatency": latency_ms,
    }


def prompt_turns(prompt: str) -> list[dict[str, str]]:
    """A raw prompt's chat turns: Llama 3's or Llama 2 / Mistral's template, else one turn."""
    if "<|start_header_id|>" in prompt:
        turns = [
            {"role": role, "content": text.strip()} for role, text in _LLAMA3_TURN.findall(prompt)
        ]
        if turns and turns[-1]["role"] == "assistant" and not turns[-1]["content"]:
            turns.pop()  # the slot the answer goes into
        if turns:
            return turns
    if "[INST]" in prompt:
        text = prompt.replace("<s>", "").replace("</s>", "")
        parts = _INST.split(text)
        turns = []
        for index, part in enumerate(parts[1:]):
            role = "user" if index % 2 == 0 else "assistant"
            part = part.strip()
            if role == "user":
                found = _SYS.search(part)
                if found is not None:
                    turns.append({"role": "system", "content": found.group(1).strip()})
                    part = _SYS.sub("", part).strip()
            if part:
                turns.append({"role": role, "content": part})
        if turns:
            return turns
    return [{"role": "user", "content": prompt}]


def _string(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid(field, value, "it is required, a non-empty string", f"Send {field}.")
    return value


def _stops(field: str, value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Provider:
    """One provider's body formats (see the module).

    Attributes
    ----------
    name : str
        ``anthropic``, ``meta``, ``mistral``, ``titan``, ``nova``, ``cohere`` or
        ``cohere-command``.
    request : callable
        The parsed JSON body -> :class:`~tessera.llm.bedrock._runtime.ChatRequest`.
    answer : callable
        ``(text, finish_reason, input_tokens, output_tokens, model_id) -> body``.
    stream_start : callable
        ``model_id -> chunks`` sent before the first text.
    stream_delta : callable
        ``text -> chunk``.
    stream_end : callable
        ``(finish_reason, input_tokens, output_tokens, latency_ms) -> chunks``.
    max_tokens_field : str
        The body's name for the token budget, for errors the model raises about it.
    """

    name: str
    request: Callable[[Any], ChatRequest]
    answer: Callable[[str, str | None, int, int, str], dict[str, Any]]
    stream_start: Callable[[str], Sequence[Chunk]]
    stream_delta: Callable[[str], Chunk]
    stream_end: Callable[[str | None, int, int, int], Sequence[Chunk]]
    max_tokens_field: str = "max_tokens"

    def renamed(self, exc: Exception) -> Exception:
        """``exc`` with the model's ``max_tokens`` said in this body's terms."""
        message = str(exc)
        if self.max_tokens_field != "max_tokens" and message.startswith("max_tokens="):
            return InvalidInputError(self.max_tokens_field + message[len("max_tokens") :])
        return exc


def _reason(finish: str | None, stop: str, length: str) -> str:
    return length if finish == "length" else stop


# -- Anthropic (the existing Messages body) -------------------------------------------
ANTHROPIC = Provider(
    "anthropic",
    anthropic_request,
    lambda text, finish, i, o, model: anthropic_message(
        text, model=model, finish_reason=finish, input_tokens=i, output_tokens=o
    ),
    lambda model: anthropic_stream_chunks(model),
    anthropic_delta,
    anthropic_end,
)


# -- Meta Llama ----------------------------------------------------------------------
def _llama_request(body: Any) -> ChatRequest:
    body = _mapping("body", body)
    _only("", body, ("prompt", "max_gen_len", "temperature", "top_p"))
    prompt = _string("prompt", body.get("prompt"))
    params = _params(
        {
            "max_tokens": body.get("max_gen_len"),
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
        },
        {"max_tokens": "max_gen_len"},
    )
    return ChatRequest(prompt_turns(prompt), params)


def _llama_end(finish: str | None, i: int, o: int, ms: int) -> list[Chunk]:
    return [
        _chunk(
            {
                "generation": "",
                "prompt_token_count": i,
                "generation_token_count": o,
                "stop_reason": _reason(finish, "stop", "length"),
                "amazon-bedrock-invocationMetrics": _metrics(i, o, ms),
            }
        )
    ]


META = Provider(
    "meta",
    _llama_request,
    lambda text, finish, i, o, model: {
        "generation": text,
        "prompt_token_count": i,
        "generation_token_count": o,
        "stop_reason": _reason(finish, "stop", "length"),
    },
    lambda model: [],
    lambda text: _chunk(
        {
            "generation": text,
            "prompt_token_count": None,
            "generation_token_count": None,
            "stop_reason": None,
        }
    ),
    _llama_end,
    "max_gen_len",
)


# -- Mistral -------------------------------------------------------------------------
def _mistral_request(body: Any) -> ChatRequest:
    body = _mapping("body", body)
    _only("", body, ("prompt", "max_tokens", "stop", "temperature", "top_p", "top_k"))
    prompt = _string("prompt", body.get("prompt"))
    params = _params(
        {
            "max_tokens": body.get("max_tokens"),
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "top_k": body.get("top_k"),
            "stop": _stops("stop", body.get("stop")),
        },
        {},
    )
    return ChatRequest(prompt_turns(prompt), params)


MISTRAL = Provider(
    "mistral",
    _mistral_request,
    lambda text, finish, i, o, model: {
        "outputs": [{"text": text, "stop_reason": _reason(finish, "stop", "length")}]
    },
    lambda model: [],
    lambda text: _chunk({"outputs": [{"text": text, "stop_reason": None}]}),
    lambda finish, i, o, ms: [
        _chunk(
            {
                "outputs": [{"text": "", "stop_reason": _reason(finish, "stop", "length")}],
                "amazon-bedrock-invocationMetrics": _metrics(i, o, ms),
            }
        )
    ],
)


# -- Amazon Titan Text ---------------------------------------------------------------
def _titan_request(body: Any) -> ChatRequest:
    body = _mapping("body", body)
    _only("", body, ("inputText", "textGenerationConfig"))
    text = _string("inputText", body.get("inputText"))
    raw_config = body.get("textGenerationConfig")
    config = _mapping("textGenerationConfig", {} if raw_config is None else raw_config)
    _only("textGenerationConfig", config, ("maxTokenCount", "temperature", "topP", "stopSequences"))
    params = _params(
        {
            "max_tokens": config.get("maxTokenCount"),
            "temperature": config.get("temperature"),
            "top_p": config.get("topP"),
            "stop": _stops("stopSequences", config.get("stopSequences")),
        },
        {
            "max_tokens": "textGenerationConfig.maxTokenCount",
            "temperature": "textGenerationConfig.temperature",
            "top_p": "textGenerationConfig.topP",
            "stop": "textGenerationConfig.stopSequences",
        },
    )
    # Titan's conversational convention, "User: ...\nBot:", read as one user turn.
    text = re.sub(r"\s*Bot:\s*$", "", text)
    text = re.sub(r"^\s*User:\s*", "", text)
    return ChatRequest([{"role": "user", "content": text}], params)


TITAN = Provider(
    "titan",
    _titan_request,
    lambda text, finish, i, o, model: {
        "inputTextTokenCount": i,
        "results": [
            {
                "tokenCount": o,
                "outputText": text,
                "completionReason": _reason(finish, "FINISH", "LENGTH"),
            }
        ],
    },
    lambda model: [],
    lambda text: _chunk(
        {
            "outputText": text,
            "index": 0,
            "totalOutputTextTokenCount": None,
            "completionReason": None,
            "inputTextTokenCount": None,
        }
    ),
    lambda finish, i, o, ms: [
        _chunk(
            {
                "outputText": "",
                "index": 0,
                "totalOutputTextTokenCount": o,
                "completionReason": _reason(finish, "FINISH", "LENGTH"),
                "inputTextTokenCount": i,
                "amazon-bedrock-invocationMetrics": _metrics(i, o, ms),
            }
        )
    ],
    "textGenerationConfig.maxTokenCount",
)


# -- Amazon Nova (messages-v1) -------------------------------------------------------
_NOVA_CONFIG = {
    "max_new_tokens": "max_tokens",
    "maxTokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "topP": "top_p",
    "top_k": "top_k",
    "topK": "top_k",
    "stopSequences": "stop",
}


def _nova_request(body: Any) -> ChatRequest:
    body = _mapping("body", body)
    _only("", body, ("schemaVersion", "system", "messages", "inferenceConfig", "toolConfig"))
    if body.get("toolConfig") is not None:
        raise _invalid(
            "toolConfig",
            "...",
            "tools are not supported in InvokeModel bodies here",
            "Use Converse with toolConfig.",
        )
    version = body.get("schemaVersion", "messages-v1")
    if version != "messages-v1":
        raise _invalid("schemaVersion", version, "it must be 'messages-v1'", 'Send "messages-v1".')
    messages: list[dict[str, str]] = []
    if body.get("system") is not None:
        system = _text_blocks("system", body["system"], system=True)
        messages.append({"role": "system", "content": system})
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _invalid("messages", raw, "it must be a non-empty list", "Send one user message.")
    messages.extend(message_turns(raw))
    raw_config = body.get("inferenceConfig")
    config = _mapping("inferenceConfig", {} if raw_config is None else raw_config)
    _only("inferenceConfig", config, tuple(_NOVA_CONFIG))
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    for theirs, ours in _NOVA_CONFIG.items():
        if theirs in config:
            value = config[theirs]
            values[ours] = _stops(theirs, value) if ours == "stop" else value
            names[ours] = f"inferenceConfig.{theirs}"
    return ChatRequest(messages, _params(values, names))


NOVA = Provider(
    "nova",
    _nova_request,
    lambda text, finish, i, o, model: {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": _reason(finish, "end_turn", "max_tokens"),
        "usage": {"inputTokens": i, "outputTokens": o, "totalTokens": i + o},
    },
    lambda model: [_chunk({"messageStart": {"role": "assistant"}})],
    lambda text: _chunk({"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}}),
    lambda finish, i, o, ms: [
        _chunk({"contentBlockStop": {"contentBlockIndex": 0}}),
        _chunk({"messageStop": {"stopReason": _reason(finish, "end_turn", "max_tokens")}}),
        _chunk(
            {
                "metadata": {
                    "usage": {"inputTokens": i, "outputTokens": o},
                    "metrics": {},
                    "trace": {},
                },
                "amazon-bedrock-invocationMetrics": _metrics(i, o, ms),
            }
        ),
    ],
    "inferenceConfig.max_new_tokens",
)


# -- Cohere Command R (chat) and Command (text) --------------------------------------
def _cohere_params(body: Mapping[str, Any]) -> Any:
    return _params(
        {
            "max_tokens": body.get("max_tokens"),
            "temperature": body.get("temperature"),
            "top_p": body.get("p"),
            "top_k": body.get("k") or None,  # Cohere's k=0 means no top-k
            "stop": _stops("stop_sequences", body.get("stop_sequences")),
            "seed": body.get("seed"),
        },
        {"top_p": "p", "top_k": "k", "stop": "stop_sequences"},
    )


def _command_r_request(body: Any) -> ChatRequest:
    body = _mapping("body", body)
    _only(
        "",
        body,
        (
            "message",
            "chat_history",
            "preamble",
            "max_tokens",
            "temperature",
            "p",
            "k",
            "stop_sequences",
            "seed",
        ),
    )
    messages: list[dict[str, str]] = []
    if body.get("preamble") is not None:
        messages.append({"role": "system", "content": _string("preamble", body["preamble"])})
    history = body.get("chat_history") or []
    if not isinstance(history, list):
        raise _invalid("chat_history", history, "it must be a list", "Send a list of turns.")
    roles = {"USER": "user", "CHATBOT": "assistant", "SYSTEM": "system"}
    for index, turn in enumerate(history):
        turn = _mapping(f"chat_history[{index}]", turn)
        _only(f"chat_history[{index}]", turn, ("role", "message"))
        role = turn.get("role")
        if role not in roles:
            raise _invalid(
                f"chat_history[{index}].role", role, "it must be USER, CHATBOT or SYSTEM", "Fix it."
            )
        text = _string(f"chat_history[{index}].message", turn.get("message"))
        messages.append({"role": roles[role], "content": text})
    messages.append({"role": "user", "content": _string("message", body.get("message"))})
    return ChatRequest(messages, _cohere_params(body))


def _command_request(body: Any) -> ChatRequest:
    body = _mapping("body", body)
    _only(
        "",
        body,
        (
            "prompt",
            "max_tokens",
            "temperature",
            "p",
            "k",
            "stop_sequences",
            "return_likelihoods",
            "num_generations",
            "truncate",
            "stream",
        ),
    )
    if body.get("num_generations") not in (None, 1):
        raise _invalid(
            "num_generations",
            body["num_generations"],
            "local models answer one generation per request",
            "Send num_generations=1, or one request per generation.",
        )
    prompt = _string("prompt", body.get("prompt"))
    return ChatRequest([{"role": "user", "content": prompt}], _cohere_params(body))


COHERE = Provider(
    "cohere",
    _command_r_request,
    lambda text, finish, i, o, model: {
        "response_id": uuid.uuid4().hex,
        "text": text,
        "generation_id": uuid.uuid4().hex,
        "finish_reason": _reason(finish, "COMPLETE", "MAX_TOKENS"),
        "chat_history": [],
        "meta": {"billed_units": {"input_tokens": i, "output_tokens": o}},
    },
    lambda model: [_chunk({"is_finished": False, "event_type": "stream-start"})],
    lambda text: _chunk({"is_finished": False, "event_type": "text-generation", "text": text}),
    lambda finish, i, o, ms: [
        _chunk(
            {
                "is_finished": True,
                "event_type": "stream-end",
                "finish_reason": _reason(finish, "COMPLETE", "MAX_TOKENS"),
                "amazon-bedrock-invocationMetrics": _metrics(i, o, ms),
            }
        )
    ],
)

COHERE_COMMAND = Provider(
    "cohere-command",
    _command_request,
    lambda text, finish, i, o, model: {
        "id": uuid.uuid4().hex,
        "generations": [
            {
                "id": uuid.uuid4().hex,
                "text": text,
                "finish_reason": _reason(finish, "COMPLETE", "MAX_TOKENS"),
            }
        ],
        "prompt": None,
    },
    lambda model: [],
    lambda text: _chunk({"text": text, "is_finished": False, "index": 0}),
    lambda finish, i, o, ms: [
        _chunk(
            {
                "is_finished": True,
                "finish_reason": _reason(finish, "COMPLETE", "MAX_TOKENS"),
                "amazon-bedrock-invocationMetrics": _metrics(i, o, ms),
            }
        )
    ],
)


def provider_for(model_id: str) -> Provider:
    """The provider whose body format ``model_id`` takes (see the module)."""
    name = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    name = _REGION_PREFIX.sub("", name)
    if name.startswith("meta."):
        return META
    if name.startswith("mistral."):
        return MISTRAL
    if name.startswith("amazon.titan-text") or name.startswith("amazon.titan-tg1"):
        return TITAN
    if name.startswith("amazon.nova"):
        return NOVA
    if name.startswith("cohere.command-r"):
        return COHERE
    if name.startswith("cohere.command"):
        return COHERE_COMMAND
    return ANTHROPIC
