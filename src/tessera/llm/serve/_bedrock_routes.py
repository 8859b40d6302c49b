"""bedrock-runtime on tessera: Converse, ConverseStream, InvokeModel,
InvokeModelWithResponseStream and ApplyGuardrail, at Bedrock's own paths.

boto3 pointed at the server (``endpoint_url``, credentials from ``tessera keys aws``)
works unchanged: requests are verified as SigV4 (:mod:`._bedrock_auth`), bodies are
translated by :mod:`tessera.llm.bedrock`, answers and errors have Bedrock's shapes
(:mod:`._aws`), and streams use AWS's event-stream framing.

``modelId`` is a model this server serves (``tessera``, ``tessera:/path``), or a Bedrock
model id the operator bound to one (``tessera serve --bedrock-model
anthropic.claude-3-haiku-20240307-v1:0=tessera``); anything else is a
ValidationException listing both. Scopes: ``models:invoke`` to run a model, also
``guardrails:apply`` for a Converse with ``guardrailConfig``, ``guardrails:apply`` for
ApplyGuardrail.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from tessera.errors import InvalidInputError
from tessera.llm.serve._aws import AwsError, AwsRoute, event_message, exception_message
from tessera.llm.serve._chat import released
from tessera.llm.serve._http import ModelsKey, ServiceState, require, service, status_of
from tessera.llm.serve._keys import KeyRecord

__all__ = ["request_json", "router"]

# Not in /openapi.json: these operations follow Bedrock's own API model (boto3's), errors
# included, not this service's OpenAPI document.
router = APIRouter(tags=["bedrock-runtime"], route_class=AwsRoute, include_in_schema=False)
ApplyKey = Annotated[KeyRecord, require("guardrails:apply")]
_EVENT_STREAM = "application/vnd.amazon.eventstream"


def _model(state: ServiceState, model_id: str) -> str:
    bound: dict[str, str] = state.extras.get("bedrock_models", {})
    if model_id in state.models:
        return model_id
    if model_id in bound:
        return bound[model_id]
    raise AwsError(
        400,
        "ValidationException",
        f"modelId={model_id!r} is invalid: the provided model identifier is not served here. "
        f"Served: {list(state.models)}; bound Bedrock ids: {sorted(bound)}. Pass one of them, "
        "or start the server with --bedrock-model BEDROCK_ID=MODEL.",
    )


async def request_json(request: Request) -> Any:
    """The body as JSON: 400 for what is not JSON, nests too deep or holds a lone surrogate."""
    from tessera.llm.serve._edge import lone_surrogate

    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(
            f"the body is not valid JSON ({exc}). Send one JSON object."
        ) from None
    except RecursionError:
        raise InvalidInputError(
            "the body nests JSON too deeply to read. Send a flatter JSON object."
        ) from None
    found = lone_surrogate(body)
    if found is not None:
        where, _, index = found
        raise InvalidInputError(
            f"{where or 'the body'} holds a lone UTF-16 surrogate at index {index}, which is "
            "not text. Send UTF-8 text."
        )
    return body


def _guardrail_ref(identifier: str, version: str) -> str:
    name = identifier.rsplit("guardrail/", 1)[-1]
    if version.upper() == "DRAFT":
        return f"{name}@draft"
    if not version.isdigit():
        raise AwsError(
            400,
            "ValidationException",
            f"guardrailVersion={version!r} is invalid: it is DRAFT or a version number. Pass one.",
        )
    return f"{name}@{int(version)}"


async def _guardrail_config(
    state: ServiceState, key: KeyRecord, identifier: str, version: str
) -> Any:
    from tessera.llm.serve._guard_routes import open_guardrails

    if not key.allows("guardrails:apply"):
        raise AwsError(
            403,
            "AccessDeniedException",
            f"key {key.id} ({key.name!r}) has scopes "
            f"[{', '.join(key.scopes)}]; applying a guardrail needs "
            "'guardrails:apply'.",
        )
    ref = _guardrail_ref(identifier, version)
    config, _ = await run_in_threadpool(open_guardrails(state).config, ref)
    return config


class _Answer:
    """A finished (non-streamed or guarded) answer."""

    def __init__(self, text: str, finish: str | None, inputs: int, outputs: int) -> None:
        self.text, self.finish, self.inputs, self.outputs = text, finish, inputs, outputs
        self.stop: str | None = None  # a guardrail's verdict overrides the model's
        self.trace: dict[str, Any] | None = None


async def _chat(
    state: ServiceState, model: str, messages: list[dict[str, str]], params: Any
) -> _Answer:
    from tessera.llm.backends import get_backend

    backend = get_backend(model)
    async with state.model_lock(model):
        result = await run_in_threadpool(backend.chat, messages, params)
    return _Answer(
        result.text, result.finish_reason, result.prompt_tokens, result.completion_tokens
    )


async def _guarded(state: ServiceState, key: KeyRecord, model: str, chat: Any) -> _Answer:
    """Converse with ``guardrailConfig``: the last user message, then the answer, checked."""
    from tessera.llm.bedrock._assessments import assessment
    from tessera.llm.guard import apply_guardrail

    ref = chat.guardrail
    config = await _guardrail_config(state, key, ref.identifier, ref.version)
    messages = list(chat.messages)
    last = max(i for i, m in enumerate(messages) if m["role"] == "user")
    checked = await run_in_threadpool(apply_guardrail, config, messages[last]["content"], "input")
    trace: dict[str, Any] = {"inputAssessment": {ref.identifier: assessment(checked)}}
    if checked.blocked:
        answer = _Answer(config.blocked_input_message, "stop", 0, 0)
        answer.stop = "guardrail_intervened"
    else:
        messages[last] = {"role": "user", "content": checked.text}
        answer = await _chat(state, model, messages, chat.params)
        out = await run_in_threadpool(apply_guardrail, config, answer.text, "output")
        trace["outputAssessments"] = {ref.identifier: [assessment(out)]}
        if out.action == "INTERVENED":
            answer.text = out.text
            answer.stop = "guardrail_intervened"
    if ref.trace:
        answer.trace = {"guardrail": trace}
    return answer


def _variables(prompt: Any, raw: Any) -> dict[str, Any]:
    """Converse's ``promptVariables`` (``{name: {"text": ...}}``) in the prompt's types."""
    if not isinstance(raw, dict):
        raise InvalidInputError("promptVariables is invalid: it maps names to {text: ...}.")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        text = value.get("text") if isinstance(value, dict) else None
        if not isinstance(text, str):
            raise InvalidInputError(f"promptVariables.{name} is invalid: pass {{text: ...}}.")
        declared = prompt.variables.get(name)
        kind = declared.type if declared is not None else "string"
        try:
            if kind == "number":
                values[name] = int(text) if text.strip().lstrip("-").isdigit() else float(text)
            elif kind == "boolean":
                values[name] = {"true": True, "false": False}[text.strip().lower()]
            else:
                values[name] = text
        except (ValueError, KeyError):
            raise InvalidInputError(
                f"promptVariables.{name}={text[:40]!r} is invalid: the prompt declares a "
                f"{kind}. Pass one."
            ) from None
    return values


async def _conversation(
    state: ServiceState, key: KeyRecord, model_id: str, body: Any
) -> tuple[str, Any]:
    """The model and the chat of a Converse request; a prompt ARN as ``modelId`` renders
    that stored prompt with ``promptVariables`` (and needs ``prompts:read``)."""
    from tessera.llm.bedrock._runtime import converse_request

    if ":prompt/" not in model_id:
        return _model(state, model_id), converse_request(body)
    if not key.allows("prompts:read"):
        raise AwsError(
            403,
            "AccessDeniedException",
            f"key {key.id} ({key.name!r}) has scopes "
            f"[{', '.join(key.scopes)}]; a prompt as modelId needs 'prompts:read'.",
        )
    name, _, version = model_id.split(":prompt/", 1)[1].partition(":")
    ref = f"{name}@{int(version)}" if version.isdigit() else f"{name}@draft"
    registry = state.registry("prompts")
    prompt = await run_in_threadpool(registry.prompt, ref)
    raw = body.get("promptVariables", {}) if isinstance(body, dict) else {}
    rendered = await run_in_threadpool(registry.render, ref, _variables(prompt, raw))
    preset = [{"role": "user", "content": rendered}] if isinstance(rendered, str) else rendered
    variant = prompt.variant()
    bedrock_id = variant.metadata.get("bedrock.modelId")
    bound = state.extras.get("bedrock_models", {})
    model = _model(state, bedrock_id if bedrock_id in bound else variant.model)
    params = variant.generation_params()
    return model, converse_request(body, preset=list(preset), defaults=params)


@router.post("/model/{model_id:path}/converse", summary="Converse (bedrock-runtime)")
async def converse(model_id: str, request: Request, key: ModelsKey) -> Any:
    """Scope ``models:invoke`` (and ``guardrails:apply`` with ``guardrailConfig``)."""
    from tessera.llm.bedrock._runtime import converse_response, stop_reason

    state = service(request)
    model, chat = await _conversation(state, key, model_id, await request_json(request))
    started = time.monotonic()
    if chat.guardrail is not None:
        answer = await _guarded(state, key, model, chat)
    else:
        answer = await _chat(state, model, chat.messages, chat.params)
    response = converse_response(
        answer.text,
        stop=answer.stop or stop_reason(answer.finish),
        input_tokens=answer.inputs,
        output_tokens=answer.outputs,
        latency_ms=int((time.monotonic() - started) * 1000),
        trace=answer.trace,
    )
    call = chat.tools.read(answer.text) if chat.tools is not None else None
    if call is not None:  # the answer is a tool call
        response["output"]["message"]["content"] = [{"toolUse": call}]
        response["stopReason"] = "tool_use"
    return response


async def _stream_pieces(
    state: ServiceState, model: str, messages: list[dict[str, str]], params: Any
) -> tuple[Any, asyncio.Semaphore, str | None, AsyncIterator[str]]:
    """Start a streamed generation: its stream, its admission slot, the first piece, the rest."""
    from tessera.llm.backends import get_backend
    from tessera.llm.serve._chat import stream_in_thread

    backend = get_backend(model)
    admission = state.model_lock(model)
    await admission.acquire()
    try:
        stream = await run_in_threadpool(backend.stream, messages, params)
        pieces = stream_in_thread(stream)
        try:
            first: str | None = await anext(pieces)
        except StopAsyncIteration:
            first = None
    except BaseException:
        admission.release()
        raise
    return stream, admission, first, pieces


def _stream_error(exc: Exception) -> bytes:
    status = status_of(exc)
    kind = {400: "validationException", 429: "throttlingException"}.get(
        status, "modelStreamErrorException"
    )
    return exception_message(kind, str(exc))


def _events(chunks: Iterator[bytes] | AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        chunks, media_type=_EVENT_STREAM, headers={"Cache-Control": "no-cache"}
    )


@router.post("/model/{model_id:path}/converse-stream", summary="ConverseStream (bedrock-runtime)")
async def converse_stream(model_id: str, request: Request, key: ModelsKey) -> Any:
    """Scope ``models:invoke``. Events ``messageStart``, ``contentBlockDelta`` ...,
    ``contentBlockStop``, ``messageStop`` and ``metadata`` (usage, latency). With a
    guardrail the answer is checked whole before it is sent (Bedrock's synchronous mode)."""
    from tessera.llm.bedrock._runtime import stop_reason

    state = service(request)
    model, chat = await _conversation(state, key, model_id, await request_json(request))
    started = time.monotonic()

    def closing(stop: str, inputs: int, outputs: int, trace: Any = None) -> list[bytes]:
        latency = int((time.monotonic() - started) * 1000)
        metadata: dict[str, Any] = {
            "usage": {
                "inputTokens": inputs,
                "outputTokens": outputs,
                "totalTokens": inputs + outputs,
            },
            "metrics": {"latencyMs": latency},
        }
        if trace is not None:
            metadata["trace"] = trace
        return [
            event_message("contentBlockStop", {"contentBlockIndex": 0}),
            event_message("messageStop", {"stopReason": stop}),
            event_message("metadata", metadata),
        ]

    def delta(text: str) -> bytes:
        return event_message("contentBlockDelta", {"delta": {"text": text}, "contentBlockIndex": 0})

    start = event_message("messageStart", {"role": "assistant"})
    if chat.tools is not None:  # a call is read whole, then sent as Bedrock streams one
        answer = await _chat(state, model, chat.messages, chat.params)
        call = chat.tools.read(answer.text)
        if call is not None:
            head = {"toolUse": {"toolUseId": call["toolUseId"], "name": call["name"]}}
            arguments = json.dumps(call["input"], ensure_ascii=False)
            called = [
                start,
                event_message("contentBlockStart", {"start": head, "contentBlockIndex": 0}),
                event_message(
                    "contentBlockDelta",
                    {"delta": {"toolUse": {"input": arguments}}, "contentBlockIndex": 0},
                ),
                *closing("tool_use", answer.inputs, answer.outputs),
            ]
            return _events(iter(called))
        stop = stop_reason(answer.finish)
        said = [start, delta(answer.text), *closing(stop, answer.inputs, answer.outputs)]
        return _events(iter(said))
    if chat.guardrail is not None:
        answer = await _guarded(state, key, model, chat)
        stop = answer.stop or stop_reason(answer.finish)
        whole = [
            start,
            delta(answer.text),
            *closing(stop, answer.inputs, answer.outputs, answer.trace),
        ]
        return _events(iter(whole))
    stream, admission, first, rest = await _stream_pieces(state, model, chat.messages, chat.params)

    async def frames() -> AsyncIterator[bytes]:
        yield start
        if first is not None:
            yield delta(first)
            try:
                async for piece in rest:
                    yield delta(piece)
            except Exception as exc:  # the status line is gone: report in the stream
                yield _stream_error(exc)
                return
        result = stream.result
        finish = result.finish_reason if result is not None else None
        inputs = result.prompt_tokens if result is not None else 0
        outputs = result.completion_tokens if result is not None else 0
        for frame in closing(stop_reason(finish), inputs, outputs):
            yield frame

    return _events(released(frames(), admission))


def _check_content_type(request: Request) -> None:
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if kind not in ("application/json", "*/*", ""):
        raise AwsError(
            400,
            "ValidationException",
            f"contentType={kind!r} is invalid: this "
            "server's models take application/json. Pass "
            "contentType='application/json'.",
        )


@router.post("/model/{model_id:path}/invoke", summary="InvokeModel (the provider's body)")
async def invoke_model(model_id: str, request: Request, _key: ModelsKey) -> Response:
    """Scope ``models:invoke``. The body is in the format of the provider the model id
    names (:mod:`tessera.llm.bedrock._providers`: Anthropic Messages, Meta Llama, Mistral,
    Amazon Titan and Nova, Cohere Command); so is the answer."""
    from tessera.llm.bedrock._providers import provider_for

    state = service(request)
    model = _model(state, model_id)
    _check_content_type(request)
    provider = provider_for(model_id)
    chat = provider.request(await request_json(request))
    try:
        answer = await _chat(state, model, chat.messages, chat.params)
    except InvalidInputError as exc:
        raise provider.renamed(exc) from None
    body = provider.answer(answer.text, answer.finish, answer.inputs, answer.outputs, model_id)
    return Response(
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
        media_type="application/json",
        headers={
            "X-Amzn-Bedrock-Input-Token-Count": str(answer.inputs),
            "X-Amzn-Bedrock-Output-Token-Count": str(answer.outputs),
        },
    )


@router.post(
    "/model/{model_id:path}/invoke-with-response-stream",
    summary="InvokeModelWithResponseStream (the provider's body)",
)
async def invoke_model_stream(model_id: str, request: Request, _key: ModelsKey) -> Any:
    """Scope ``models:invoke``. ``chunk`` events, each holding one of the provider's
    streaming events (Anthropic's ``message_start`` ... ``message_stop``, Llama's
    ``generation`` pieces, ...) as base64 JSON bytes; the last carries
    ``amazon-bedrock-invocationMetrics``."""
    from tessera.llm.bedrock._providers import provider_for

    state = service(request)
    model = _model(state, model_id)
    _check_content_type(request)
    provider = provider_for(model_id)
    chat = provider.request(await request_json(request))
    started = time.monotonic()
    try:
        stream, admission, first, rest = await _stream_pieces(
            state, model, chat.messages, chat.params
        )
    except InvalidInputError as exc:
        raise provider.renamed(exc) from None

    async def frames() -> AsyncIterator[bytes]:
        for chunk in provider.stream_start(model_id):
            yield event_message("chunk", chunk)
        if first is not None:
            yield event_message("chunk", provider.stream_delta(first))
            try:
                async for piece in rest:
                    yield event_message("chunk", provider.stream_delta(piece))
            except Exception as exc:
                yield _stream_error(exc)
                return
        result = stream.result
        latency = int((time.monotonic() - started) * 1000)
        finish = result.finish_reason if result is not None else None
        inputs = result.prompt_tokens if result is not None else 0
        outputs = result.completion_tokens if result is not None else 0
        for chunk in provider.stream_end(finish, inputs, outputs, latency):
            yield event_message("chunk", chunk)

    return _events(released(frames(), admission))


@router.post(
    "/guardrail/{guardrail_identifier}/version/{guardrail_version}/apply",
    summary="ApplyGuardrail (bedrock-runtime)",
)
async def apply_guardrail_route(
    guardrail_identifier: str,
    guardrail_version: str,
    request: Request,
    key: ApplyKey,
) -> Any:
    """Scope ``guardrails:apply``. A stored guardrail (its name as the identifier; version
    ``DRAFT`` or a number) applied to the request's text blocks."""
    from tessera.llm.bedrock._assessments import apply_request, apply_response
    from tessera.llm.guard import apply_guardrail

    state = service(request)
    guarded = apply_request(await request_json(request))
    config = await _guardrail_config(state, key, guardrail_identifier, guardrail_version)
    result = await run_in_threadpool(
        apply_guardrail,
        config,
        guarded.text,
        guarded.source,
        guarded.grounding_source,
        guarded.query,
    )
    units = max(1, -(-len(guarded.text) // 1000))  # Bedrock counts text units of 1,000 characters
    return apply_response(result, text_units=units)
