"""OpenAI-compatible ``GET /v1/models`` and ``POST /v1/chat/completions``.

Generation is CPU-bound and blocking, so it runs in a worker thread, never on the event
loop; one asyncio lock per model makes requests for one model wait their turn without
holding a thread each. A streamed reply is produced in one dedicated thread (the backend's
generator holds the backend's own lock, which must be released by the thread that took
it, and which serialises it with every other request for the model) and handed to the
event loop piece by piece. The first piece is awaited before the response starts, so a
request that fails early (a prompt longer than the context) gets its status code.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tessera.errors import InvalidInputError
from tessera.llm.backends import ChatStream
from tessera.llm.serve._guard_routes import ChatGuardrail
from tessera.llm.serve._http import ApiError, ModelsKey, ServiceState, service, status_of

__all__ = ["ChatCompletionRequest", "router", "stream_in_thread"]

router = APIRouter(prefix="/v1", tags=["models"])


class TextPart(BaseModel):
    """A text part of a message's content (the list form OpenAI clients may send)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        """The content as one string."""
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
    ``max_tokens=256``, ``temperature=0`` (greedy), ``top_p=1``. Unknown fields are
    refused rather than ignored, so a setting tessera does not apply never passes silently.
    """

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, description="A model id from GET /v1/models.")
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] = 1
    user: str | None = None
    guardrail: str | ChatGuardrail | None = Field(
        None,
        description="tessera extension: a stored guardrail (NAME@label, or {ref, trace, "
        "groundingSource}) applied to the last user message and to the answer.",
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
        values: dict[str, Any] = {
            "max_tokens": self.max_tokens or self.max_completion_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "stop": (self.stop,) if isinstance(self.stop, str) else self.stop,
            "seed": self.seed,
        }
        try:
            return GenerationParams(**{k: v for k, v in values.items() if v is not None})
        except InvalidInputError as exc:
            raise ApiError(400, str(exc), param=str(exc).split("=", 1)[0]) from None


def _model_id(state: ServiceState, requested: str | None) -> str:
    model = requested or state.models[0]
    if model not in state.models:
        raise ApiError(
            404,
            f"model={model!r} is not served here; this server serves {list(state.models)}. "
            "Pass one of those (GET /v1/models lists them).",
            param="model",
        )
    return model


@router.get("/models", summary="The models this server answers for")
async def list_models(request: Request, _key: ModelsKey) -> dict[str, Any]:
    """Scope ``models:invoke``. OpenAI's model list: the first is the default."""
    state = service(request)
    return {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": 0, "owned_by": "tessera"}
            for model in state.models
        ],
    }


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
    messages = _messages(body.messages)
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
        stream = backend.stream(messages, params)
        pieces = stream_in_thread(stream)
        try:
            first: str | None = await anext(pieces)
        except StopAsyncIteration:
            first = None
        chunks = _chunks(
            model, first, pieces, completion_id, created, stream=stream, usage=include_usage
        )
        return StreamingResponse(
            chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
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
            yield _event({"error": {"message": str(exc), "code": status_of(exc)}})
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


async def stream_in_thread(iterator: Iterator[T]) -> AsyncIterator[T]:
    """Run a blocking iterator to its end in one thread; yield its items on the event loop.

    When the consumer stops early (a client disconnects), the thread stops after the
    current item and closes the iterator in its own thread (releasing what it holds).
    Errors raised by the iterator are raised here.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
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
