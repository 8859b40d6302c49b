"""A backend that talks to any OpenAI-compatible server (vLLM, llama.cpp, Ollama, tessera serve)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tessera.errors import TesseraError
from tessera.llm.backends._base import (
    Backend,
    ChatResult,
    ChatStream,
    GenerationParams,
    StopCutter,
    check_messages,
)

__all__ = ["EndpointError", "OpenAIBackend"]


class EndpointError(TesseraError):
    """An OpenAI-compatible endpoint failed or answered something unreadable.

    Attributes
    ----------
    status : int or None
        The HTTP status, when the server answered.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OpenAIBackend(Backend):
    """``POST {base_url}/chat/completions`` on an OpenAI-compatible server.

    Parameters
    ----------
    model_id : str
        The id this backend answers to (``"<endpoint>:<model>"``).
    base_url : str
        The API root, e.g. ``http://127.0.0.1:8000/v1``.
    model : str
        The model name sent to the server.
    api_key : str or None
        Sent as ``Authorization: Bearer <key>``; never logged or shown in errors.
    timeout : float, default=120.0
        Seconds to wait for the server (per read).
    """

    #: Requests in flight to the server at once (it queues or batches them itself).
    max_concurrency = 8

    def __init__(
        self,
        model_id: str,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.model_id = model_id
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OpenAIBackend(model_id={self.model_id!r}, base_url={self.base_url!r})"

    def _request(
        self, messages: Sequence[Mapping[str, str]], params: GenerationParams, stream: bool
    ) -> tuple[str, dict[str, Any], dict[str, str]]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": check_messages(messages),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": stream,
        }
        if params.top_k is not None:
            body["top_k"] = params.top_k
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if params.json_schema is not None:  # OpenAI's structured outputs
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(params.json_schema)},
            }
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return f"{self.base_url}/chat/completions", body, headers

    def _fail(self, response: Any) -> EndpointError:
        try:
            detail = response.read().decode("utf-8", "replace")[:500]
        except Exception:  # a closed stream: the status says enough
            detail = ""
        return EndpointError(
            f"{self.base_url}/chat/completions answered HTTP {response.status_code} for model "
            f"{self.model!r}: {detail}. Check the endpoint's URL, API key and model name.",
            status=response.status_code,
        )

    def chat(self, messages: Sequence[Mapping[str, str]], params: GenerationParams) -> ChatResult:
        """One non-streaming request; see :class:`Backend`."""
        import httpx

        url, body, headers = self._request(messages, params, stream=False)
        start = time.perf_counter()
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise EndpointError(f"cannot reach {url}: {exc}. Is the server running?") from exc
        if response.status_code != 200:
            raise self._fail(response)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise EndpointError(f"{url} answered a body that is not a chat completion") from exc
        # Servers that ignore `stop` still get their text cut here.
        cutter = StopCutter(params.stop)
        cut = cutter.feed(text) + cutter.flush()
        reason = "stop" if cutter.stopped else str(choice.get("finish_reason") or "stop")
        return ChatResult(
            text=cut,
            model=self.model_id,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=reason,
            seconds=time.perf_counter() - start,
        )

    def stream(self, messages: Sequence[Mapping[str, str]], params: GenerationParams) -> ChatStream:
        """Server-sent events, one text piece per content delta; see :class:`Backend`.

        Asks for usage in the last event (``stream_options.include_usage``); a server that
        sends none leaves the counts at 0.
        """
        url, body, headers = self._request(messages, params, stream=True)
        body["stream_options"] = {"include_usage": True}
        start = time.perf_counter()
        cutter = StopCutter(params.stop)
        info: dict[str, Any] = {"finish_reason": None, "usage": {}}

        def finish(text: str) -> ChatResult:
            usage = info["usage"]
            reason = "stop" if cutter.stopped else str(info["finish_reason"] or "stop")
            return ChatResult(
                text=text,
                model=self.model_id,
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                finish_reason=reason,
                seconds=time.perf_counter() - start,
            )

        return ChatStream(self._events(url, body, headers, cutter, info), finish)

    def _events(
        self,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        cutter: StopCutter,
        info: dict[str, Any],
    ) -> Iterator[str]:
        import httpx

        try:
            with httpx.stream(
                "POST", url, json=body, headers=headers, timeout=self.timeout
            ) as response:
                if response.status_code != 200:
                    raise self._fail(response)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[len("data:") :].strip()
                    if payload == "[DONE]":
                        break
                    try:
                        event = json.loads(payload)
                        if isinstance(event.get("usage"), dict):
                            info["usage"] = event["usage"]
                        if not event.get("choices"):  # the usage-only last event
                            continue
                        choice = event["choices"][0]
                        delta = choice.get("delta") or {}
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                        message = f"{url} sent an unreadable event: {payload[:200]}"
                        raise EndpointError(message) from exc
                    if choice.get("finish_reason"):
                        info["finish_reason"] = choice["finish_reason"]
                    piece = cutter.feed(delta.get("content") or "")
                    if piece:
                        yield piece
                    if cutter.stopped:
                        return
        except httpx.HTTPError as exc:
            raise EndpointError(f"cannot reach {url}: {exc}. Is the server running?") from exc
        tail = cutter.flush()
        if tail:
            yield tail
