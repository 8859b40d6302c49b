"""OpenAI-compatible ``GET /v1/models`` and ``POST /v1/chat/completions``.

Nothing that blocks runs on the event loop: loading a model, tokenising and the length
checks run in worker threads, and a streamed reply is produced in a dedicated thread and
handed to the loop piece by piece through a queue. Requests for one model are admitted by
its queue (:meth:`ServiceState.model_lock`): as many at once as the backend serves (the
local model decodes them together, each answer bit for bit the answer it gets alone; see
:mod:`tessera.llm._batching`), the others wait on the loop in arrival order, holding no
thread. The first piece is awaited before the response starts, so a request that fails
early (a prompt longer than the context) gets its status code; a client that goes away
stops its generation and gives its place back.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from tessera._validation import bad_value
from tessera.errors import InvalidInputError
from tessera.llm._sampling import MAX_STOP_SEQUENCES, SEED_MAX, TEMPERATURE_MAX
from tessera.llm.backends import ChatStream
from tessera.llm.serve._formats import ResponseFormat, ToolCall, ToolChoice, ToolDefinition
from tessera.llm.serve._guard_routes import ChatGuardrail
from tessera.llm.serve._http import (
    ApiError,
    ModelsKey,
    OpenAIRoute,
    ServiceState,
    code_of,
    error_body,
    service,
    status_of,
)
from tessera.llm.serve._structured_chat import Plan, StructuredAnswer, chunks, completion, plan_of

__all__ = ["ChatCompletionRequest", "router", "stream_in_thread"]

router = APIRouter(prefix="/v1", tags=["models"], route_class=OpenAIRoute)


class TextPart(BaseModel):
    """A text part of a message's content (the list form OpenAI clients may send)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One chat message.

    ``developer`` is OpenAI's newer name for ``system``. An ``assistant`` message may
    carry the ``tool_calls`` it made (its ``content`` then null), and a ``tool`` message
    answers one of them (``tool_call_id``).
    """

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = Field(
        None, description="assistant messages: the calls the answer made."
    )
    tool_call_id: str | None = Field(
        None, description="tool messages: the id of the call this is the result of."
    )
    refusal: str | None = Field(None, description="Accepted from an earlier answer; unused.")

    @model_validator(mode="after")
    def _check_role_fields(self) -> ChatMessage:
        """Content null only with tool_calls, tool_calls only on assistant messages, a
        tool message with its tool_call_id."""
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"a {self.role} message cannot carry tool_calls (assistant only)")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs content (null only beside tool_calls)")
        return self

    def text(self) -> str:
        """The content as one string."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``."""

    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The body of ``POST /v1/chat/completions`` (the OpenAI fields tessera supports).

    Fields left out take :class:`~tessera.llm.backends.GenerationParams`'s defaults:
    ``max_tokens=256``, ``temperature=0`` (greedy), ``top_p=1``. The sampling fields follow
    the contract of :mod:`tessera.llm._sampling` (OpenAI's ranges), checked there, so that
    a bad value gets the message the library and the CLI give. Unknown fields are refused
    rather than ignored, so a setting tessera does not apply never passes silently.
    """

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(
        None, description="A model id from GET /v1/models; left out, the first of them."
    )
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: int | None = Field(
        None,
        description="The most tokens to generate, >= 1 (default 256); the prompt and this "
        "must fit the model's context.",
        json_schema_extra={"minimum": 1},
    )
    max_completion_tokens: int | None = Field(
        None,
        description="OpenAI's newer name for max_tokens; send one of the two.",
        json_schema_extra={"minimum": 1},
    )
    temperature: float | None = Field(
        None,
        description=f"In [0, {TEMPERATURE_MAX:g}]; 0 (the default) is greedy decoding.",
        json_schema_extra={"minimum": 0, "maximum": TEMPERATURE_MAX},
    )
    top_p: float | None = Field(
        None,
        description="Nucleus sampling threshold in (0, 1] (default 1).",
        json_schema_extra={"exclusiveMinimum": 0, "maximum": 1},
    )
    top_k: int | None = Field(
        None,
        description="Sample only among the top_k (>= 1) most likely tokens.",
        json_schema_extra={"minimum": 1},
    )
    stop: str | list[str] | None = Field(
        None,
        description=f"Up to {MAX_STOP_SEQUENCES} non-empty strings; the answer ends before "
        "the first.",
    )
    seed: int | None = Field(
        None,
        description="Seed for sampling, in [0, 2**63 - 1].",
        json_schema_extra={"minimum": 0, "maximum": SEED_MAX},
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] = 1
    user: str | None = None
    guardrail: str | ChatGuardrail | None = Field(
        None,
        description="tessera extension: a stored guardrail (NAME@label, or {ref, trace, "
        "groundingSource}) applied to the last user message and to the answer.",
    )
    response_format: ResponseFormat | None = Field(
        None,
        description="text (the default), json_object (any JSON object) or json_schema: the "
        "answer is decoded under the schema, so it parses and validates.",
    )
    tools: list[ToolDefinition] | None = Field(
        None, description="Functions the model may call (JSON Schema parameters)."
    )
    tool_choice: ToolChoice | None = Field(
        None,
        description="none, auto (the default with tools), required, or "
        '{"type": "function", "function": {"name": ...}}.',
    )
    parallel_tool_calls: bool | None = Field(
        None, description="Accepted; an answer makes at most one call."
    )

    def params(self) -> Any:
        """The request as :class:`~tessera.llm.backends.GenerationParams` (checks ranges)."""
        from tessera.llm.backends import GenerationParams

        if self.max_tokens is not None and self.max_completion_tokens is not None:
            raise ApiError(
                400,
                "max_tokens and max_completion_tokens are both set; send one of them",
                param="max_tokens",
            )
        budget, name = self.max_tokens, "max_tokens"
        if budget is None and self.max_completion_tokens is not None:
            budget, name = self.max_completion_tokens, "max_completion_tokens"
        values: dict[str, Any] = {
            "max_tokens": budget,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "stop": self.stop,
            "seed": self.seed,
        }
        try:
            return GenerationParams(**{k: v for k, v in values.items() if v is not None})
        except InvalidInputError as exc:
            message, param = str(exc), str(exc).split("=", 1)[0]
            if param == "max_tokens":  # name the field the client sent
                message, param = message.replace("max_tokens", name), name
            raise ApiError(400, message, param=param) from None


def _model_id(state: ServiceState, requested: str | None) -> str:
    """The served model a request names (None: the default), or the error OpenAI gives."""
    if requested is None:
        return state.models[0]
    served = list(state.models)
    if not requested.strip():
        error = bad_value(
            "model",
            requested,
            "it must be a model id",
            f"Pass one of {served} (GET /v1/models lists them), or leave model out for the "
            "default.",
        )
        raise ApiError(400, str(error), param="model")
    if requested not in state.models:
        raise ApiError(
            404,
            f"model={requested!r} is not served here; this server serves {served}. "
            "Pass one of those (GET /v1/models lists them).",
            param="model",
            code="model_not_found",
        )
    return requested


class ModelObject(BaseModel):
    """OpenAI's model object."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "tessera"


class ModelList(BaseModel):
    """OpenAI's list of models."""

    object: Literal["list"] = "list"
    data: list[ModelObject]


@router.get("/models", summary="The models this server answers for")
async def list_models(request: Request, _key: ModelsKey) -> ModelList:
    """Scope ``models:invoke``. OpenAI's model list: the first is the default."""
    state = service(request)
    return ModelList(data=[ModelObject(id=model) for model in state.models])


@router.get("/models/{model_id:path}", summary="One model this server answers for")
async def retrieve_model(model_id: str, request: Request, _key: ModelsKey) -> ModelObject:
    """Scope ``models:invoke``. OpenAI's model object (``client.models.retrieve``); 404
    with code ``model_not_found`` for a model not served here. Model ids may hold ``/``
    (``tessera:/path/to/model``)."""
    return ModelObject(id=_model_id(service(request), model_id))


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


@router.post("/chat/completions", summary="Answer chat messages (OpenAI-compatible)")
async def chat_completions(body: ChatCompletionRequest, request: Request, key: ModelsKey) -> Any:
    """Scope ``models:invoke``. With ``"stream": true`` the answer comes as server-sent
    events: ``data: {chat.completion.chunk}`` lines, then ``data: [DONE]``. With
    ``"guardrail"`` (also scope ``guardrails:apply``) the last user message and the answer
    are checked (see :mod:`tessera.llm.serve._guard_routes`); a server started with a
    guardrail checks every request with it.
    """
    from tessera.llm.backends import get_backend

    state = service(request)
    model = _model_id(state, body.model)
    params = body.params()
    # Checking schemas costs CPU in proportion to their size: not on the event loop.
    heavy = body.tools or body.response_format is not None
    plan = await run_in_threadpool(plan_of, body) if heavy else plan_of(body)
    if plan is not None and (plan.mode != "text" or plan.text_schema is not None):
        return await _structured(state, body, model, plan, params)
    # A plain answer; tool and developer messages of the history written as plain ones.
    messages = plan.messages if plan is not None else _messages(body.messages)
    if state.guardrail is not None:
        from tessera.llm.serve._guard_routes import enforced_completion

        return await enforced_completion(state, body, key, model, params, messages)
    if body.guardrail is not None:
        from tessera.llm.serve._guard_routes import guarded_completion

        return await guarded_completion(state, body, key, model, params, messages)
    backend = get_backend(model)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        admission = state.model_lock(model)
        await admission.acquire()  # waits on the loop, in arrival order, holding no thread
        try:
            # Loading the model, tokenising and the length checks block: not on the loop.
            stream = await run_in_threadpool(backend.stream, messages, params)
            pieces = stream_in_thread(stream)
            try:
                first: str | None = await anext(pieces)
            except StopAsyncIteration:
                first = None
        except BaseException:
            admission.release()
            raise
        chunks = _chunks(
            model, first, pieces, completion_id, created, stream=stream, usage=include_usage
        )
        return StreamingResponse(
            released(chunks, admission),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    async with state.model_lock(model):
        result = await run_in_threadpool(backend.chat, messages, params)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": result.finish_reason,
            }
        ],
        "usage": _usage(result.prompt_tokens, result.completion_tokens),
    }


async def _structured(
    state: ServiceState, body: ChatCompletionRequest, model: str, plan: Plan, params: Any
) -> Any:
    """Answer a request with ``response_format`` or ``tools`` (see
    :mod:`~tessera.llm.serve._structured_chat`)."""
    from tessera.llm.backends import get_backend

    if body.stop:
        raise ApiError(
            400,
            f"stop={body.stop!r} is invalid with a JSON response_format or tools: a stop "
            "sequence would cut the JSON the answer is decoded into (it ends by itself when "
            "the JSON is complete). Leave stop out.",
            param="stop",
        )
    if state.guardrail is not None or body.guardrail is not None:
        field = "tools" if body.tools else "response_format"
        raise ApiError(
            400,
            f"{field} is invalid with a guardrail: a guarded chat answers text, which the "
            "guardrail may mask or replace. Send the request without the guardrail, or "
            f"without {field}.",
            param=field,
        )
    answer = StructuredAnswer(get_backend(model), plan, params)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if not body.stream:
        async with state.model_lock(model):
            await run_in_threadpool(_drain, answer)
        return completion(answer, completion_id, model)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    admission = state.model_lock(model)
    await admission.acquire()  # waits on the loop, in arrival order, holding no thread
    try:
        events = stream_in_thread(iter(answer))
        try:  # the first event starts decoding: a request that fails early gets its status
            first: tuple[str, str] | None = await anext(events)
        except StopAsyncIteration:
            first = None
    except BaseException:
        admission.release()
        raise
    pieces = chunks(
        answer,
        first,
        events,
        completion_id=completion_id,
        model=model,
        include_usage=include_usage,
        event=_event,
    )
    return StreamingResponse(
        released(pieces, admission),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


def _drain(answer: StructuredAnswer) -> None:
    for _ in answer:
        pass


async def released(
    chunks: AsyncIterator[bytes], admission: asyncio.Semaphore
) -> AsyncIterator[bytes]:
    """``chunks``, then the stream's admission slot back, however the stream ends.

    Every streamed route (OpenAI's and Bedrock's) hands its stream through this.
    """
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        admission.release()
        closing = getattr(chunks, "aclose", None)
        if closing is not None:
            await closing()


def _event(payload: Mapping[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return format_sse_event(data_str=data)


async def _chunks(
    model: str,
    first: str | None,
    rest: AsyncIterator[str],
    completion_id: str,
    created: int,
    *,
    stream: ChatStream,
    usage: bool,
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, str], finish: str | None, **extra: Any) -> bytes:
        return _event(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )

    yield chunk({"role": "assistant", "content": ""}, None)
    if first is not None:
        yield chunk({"content": first}, None)
        try:
            async for piece in rest:
                yield chunk({"content": piece}, None)
        except Exception as exc:  # the status line is gone: report in the stream
            yield _event(error_body(status_of(exc), str(exc), code=code_of(exc)))
            yield _event("[DONE]")
            return
    # The stream is exhausted here, so it holds the whole result: why it ended, the counts.
    result = stream.result
    yield chunk({}, result.finish_reason if result is not None else None)
    if usage and result is not None:
        # OpenAI's include_usage: one last chunk with no choices and the usage.
        counts = _usage(result.prompt_tokens, result.completion_tokens)
        yield _event(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": counts,
            }
        )
    yield _event("[DONE]")


_END = object()
T = TypeVar("T")


class _Outbox:
    """Items that threads hand to one event loop, delivered in batches.

    Each item needs the loop to run, and waking the loop takes the interpreter lock from
    whatever holds it (under load, the decoding engine, between two of its kernels). The
    first item handed over schedules one delivery; items handed over before it runs ride
    along, so streams that get their next tokens from the same decoding round wake the loop
    about once, not once each. Nothing waits: the first item is scheduled at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: list[tuple[asyncio.Queue[Any], Any]] = []

    def put(self, queue: asyncio.Queue[Any], item: Any) -> None:
        """Hand ``item`` to ``queue`` on the loop (from any thread); RuntimeError if the
        loop has closed."""
        with self._lock:
            self._items.append((queue, item))
            if len(self._items) > 1:  # a delivery is scheduled and has not run yet
                return
        try:
            self._loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # closed: no delivery will run, so the next item tries again
            with self._lock:
                self._items.clear()
            raise

    def _deliver(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for queue, item in items:
            queue.put_nowait(item)


_outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox] = (
    weakref.WeakKeyDictionary()
)
_outboxes_lock = threading.Lock()


def _outbox(loop: asyncio.AbstractEventLoop) -> _Outbox:
    with _outboxes_lock:
        box = _outboxes.get(loop)
        if box is None:
            box = _outboxes[loop] = _Outbox(loop)
        return box


async def stream_in_thread(iterator: Iterator[T]) -> AsyncIterator[T]:
    """Run a blocking iterator to its end in one thread; yield its items on the event loop.

    When the consumer stops early (a client disconnects), the thread stops after the
    current item and closes the iterator in its own thread (releasing what it holds).
    Errors raised by the iterator are raised here. The items of every stream of the loop
    reach it through one :class:`_Outbox`.
    """
    outbox = _outbox(asyncio.get_running_loop())
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def put(item: Any) -> None:
        try:
            outbox.put(queue, item)
        except RuntimeError:  # the event loop has closed: nobody is listening
            stop.set()

    def produce() -> None:
        try:
            for item in iterator:
                put(item)
                if stop.is_set():
                    break
            put(_END)
        except Exception as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="tessera-stream", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _messages(values: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.text()} for m in values]
