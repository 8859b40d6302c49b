"""Chat completions through a real server and a real (tiny, random) model; our own OpenAI
backend talking to our own server."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serve_live import Live, sse_events

from tessera.llm.backends import GenerationParams, get_backend, register_endpoint

MESSAGES = [
    {"role": "system", "content": "you are a cat"},
    {"role": "user", "content": "what is the sun"},
]


@pytest.fixture(scope="module")
def tiny_id(live: Live) -> str:
    model: str = live.client("models:invoke").get("/v1/models").json()["data"][0]["id"]
    return model


def test_models_lists_the_served_ids_default_first(live: Live, tiny_llama: Any) -> None:
    data = live.client("models:invoke").get("/v1/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == [f"tessera:{tiny_llama.folder}", "tessera"]


def test_chat_completion_equals_the_local_backend(live: Live, tiny_id: str) -> None:
    client = live.client("models:invoke")
    response = client.post(
        "/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 8, "temperature": 0}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == tiny_id  # the default: first served model
    choice = body["choices"][0]
    direct = get_backend(tiny_id).chat(MESSAGES, GenerationParams(max_tokens=8))
    assert choice["message"] == {"role": "assistant", "content": direct.text}
    assert choice["finish_reason"] == direct.finish_reason
    usage = body["usage"]
    assert usage["prompt_tokens"] == direct.prompt_tokens > 0
    assert usage["completion_tokens"] == direct.completion_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_content_parts_read_like_plain_text(live: Live) -> None:
    client = live.client("models:invoke")
    plain = client.post("/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 5})
    parts = [
        MESSAGES[0],
        {
            "role": "user",
            "content": [{"type": "text", "text": "what is "}, {"type": "text", "text": "the sun"}],
        },
    ]
    split = client.post("/v1/chat/completions", json={"messages": parts, "max_tokens": 5})
    assert split.json()["choices"] == plain.json()["choices"]


def test_streamed_pieces_join_to_the_whole_answer(live: Live) -> None:
    client = live.client("models:invoke")
    request = {"messages": MESSAGES, "max_tokens": 10, "temperature": 0}
    whole = client.post("/v1/chat/completions", json=request).json()
    with client.stream("POST", "/v1/chat/completions", json={**request, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]


def test_a_client_leaving_mid_stream_frees_the_model(live: Live) -> None:
    """The generating thread stops and releases the model's lock; the next request runs."""
    client = live.client("models:invoke")
    long = {"messages": MESSAGES, "max_tokens": 400, "stream": True}
    for _ in range(2):
        with client.stream("POST", "/v1/chat/completions", json=long) as response:
            first = next(response.iter_lines())
            assert first.startswith("data: ")
        # Leaving the block closed the connection after one event.
    after = client.post("/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 3})
    assert after.status_code == 200
    assert after.json()["usage"]["completion_tokens"] <= 3


@pytest.mark.parametrize("stream", [False, True])
def test_a_request_longer_than_the_context_is_a_400_streamed_or_not(
    live: Live, stream: bool
) -> None:
    request = {"messages": MESSAGES, "max_tokens": 100_000, "stream": stream}
    response = live.client("models:invoke").post("/v1/chat/completions", json=request)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "max_new_tokens" in error["message"] or "context" in error["message"]


@pytest.mark.parametrize("max_tokens", [2, 40])
def test_a_stream_ends_with_the_finish_reason_and_usage_when_asked(
    live: Live, max_tokens: int
) -> None:
    """The last content-free chunk says why the reply ended; include_usage adds the counts."""
    client = live.client("models:invoke")
    request = {"messages": MESSAGES, "max_tokens": max_tokens}
    whole = client.post("/v1/chat/completions", json=request).json()
    streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/v1/chat/completions", json=streamed) as response:
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    *chunks, usage_chunk = events[:-1]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == whole["usage"]
    without = {**request, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=without) as response:
        plain = sse_events(response)
    assert all("usage" not in c for c in plain[:-1])
    assert plain[-2]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]


def test_stop_sequences_cut_the_answer(live: Live) -> None:
    client = live.client("models:invoke")
    free = client.post("/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 12})
    text = free.json()["choices"][0]["message"]["content"]
    words = text.split()
    if len(words) < 3:
        pytest.skip(f"the tiny model answered too little to cut: {text!r}")
    stop = " " + words[2]
    cut = client.post(
        "/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 12, "stop": stop}
    ).json()["choices"][0]
    assert cut["message"]["content"] == text[: text.index(stop)]
    assert cut["finish_reason"] == "stop"


@settings(max_examples=4)
@given(max_tokens=st.integers(1, 6))
def test_max_tokens_bounds_the_completion(live: Live, max_tokens: int) -> None:
    body = (
        live.client("models:invoke")
        .post("/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": max_tokens})
        .json()
    )
    assert 1 <= body["usage"]["completion_tokens"] <= max_tokens
    if body["choices"][0]["finish_reason"] == "length":
        assert body["usage"]["completion_tokens"] == max_tokens


def test_concurrent_requests_are_served_one_model_at_a_time(live: Live) -> None:
    """Four clients at once: each gets the same greedy answer as when alone."""
    request = {"messages": MESSAGES, "max_tokens": 6}
    alone = live.client("models:invoke").post("/v1/chat/completions", json=request).json()
    answers: list[Any] = []

    def ask() -> None:
        with httpx.Client(base_url=live.url, headers=_auth(live), timeout=60) as client:
            answers.append(client.post("/v1/chat/completions", json=request).json())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a["choices"] for a in answers] == [alone["choices"]] * 4


def _auth(live: Live) -> dict[str, str]:
    return {"Authorization": f"Bearer {live.keys['models:invoke']}"}


def test_our_backend_talks_to_our_server(live: Live, tiny_id: str) -> None:
    """The required integration: register the live server as an OpenAI-compatible endpoint."""
    register_endpoint("selftest", f"{live.url}/v1", api_key=live.keys["models:invoke"])
    remote = get_backend(f"selftest:{tiny_id}")
    params = GenerationParams(max_tokens=8)
    direct = get_backend(tiny_id).chat(MESSAGES, params)
    over_http = remote.chat(MESSAGES, params)
    assert over_http.text == direct.text
    assert (over_http.prompt_tokens, over_http.completion_tokens) == (
        direct.prompt_tokens,
        direct.completion_tokens,
    )
    assert over_http.finish_reason == direct.finish_reason
    stream = remote.stream(MESSAGES, params)
    assert "".join(stream) == direct.text
    assert stream.result is not None
    assert (stream.result.text, stream.result.finish_reason) == (direct.text, direct.finish_reason)
    assert stream.result.completion_tokens == direct.completion_tokens


def test_our_backend_reports_the_servers_refusal(live: Live, tiny_id: str) -> None:
    from tessera.llm.backends import EndpointError

    register_endpoint("selfnoscope", f"{live.url}/v1", api_key=live.keys["prompts:read"])
    with pytest.raises(EndpointError, match="HTTP 403") as info:
        get_backend(f"selfnoscope:{tiny_id}").chat(MESSAGES, GenerationParams(max_tokens=2))
    assert live.keys["prompts:read"] not in str(info.value)
    assert info.value.status == 403


def test_default_model_answers(live: Live, default_runtime: Any) -> None:
    """The embedded model through the service (a few tokens: it runs at ~20 tokens/s)."""
    response = live.client("models:invoke").post(
        "/v1/chat/completions",
        json={
            "model": "tessera",
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 4,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "tessera"
    assert body["choices"][0]["message"]["content"].strip()
    assert 1 <= body["usage"]["completion_tokens"] <= 4
