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
from typer.testing import CliRunner

from tessera.errors import InvalidInputError
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
    assert "max_tokens" in error["message"] and "context" in error["message"]
    assert error["code"] == "context_length_exceeded"  # OpenAI's code for it
    assert error["param"] == "max_tokens"


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


def test_concurrent_requests_each_get_their_solo_answer(live: Live) -> None:
    """Four clients at once (decoded together): each gets its greedy answer from alone."""
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


def test_models_retrieve_answers_openais_model_object(live: Live, tiny_id: str) -> None:
    client = live.client("models:invoke")
    listed = client.get("/v1/models").json()["data"]
    for model in listed:  # ids such as tessera:/tmp/... hold slashes
        assert client.get(f"/v1/models/{model['id']}").json() == model
    assert listed[0] == {"id": tiny_id, "object": "model", "created": 0, "owned_by": "tessera"}
    unknown = client.get("/v1/models/gpt-4o")
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "not_found_error",
        "model_not_found",
        "model",
    )
    assert "model='gpt-4o' is not served here" in error["message"]
    assert live.client("prompts:read").get(f"/v1/models/{tiny_id}").status_code == 403


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("max_tokens", 0, "max_tokens=0 is invalid: it must be an integer >= 1"),
        ("max_completion_tokens", 0, "max_completion_tokens=0 is invalid: it must be an integer"),
        ("model", "", "model='' is invalid: it must be a model id"),
        ("seed", 2**70, f"seed={2**70} is invalid: it must be an integer in [0, 2**63 - 1]"),
    ],
)
def test_values_openai_refuses_are_400_naming_the_field(
    live: Live, field: str, value: Any, says: str
) -> None:
    """max_tokens 0 was the 256 default, model "" the default model, a huge seed a 500."""
    response = live.client("models:invoke").post(
        "/v1/chat/completions", json={"messages": MESSAGES, field: value}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert says in error["message"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", field, None)


#: One bad value per sampling parameter and rule; the CLI option of each.
BAD_SAMPLING = [
    ("temperature", 3, "--temperature"),
    ("temperature", -0.5, "--temperature"),
    ("top_p", 0, "--top-p"),
    ("top_p", 1.5, "--top-p"),
    ("top_k", 0, "--top-k"),
    ("seed", 2**70, "--seed"),
    ("seed", -1, "--seed"),
]


@pytest.mark.parametrize(("name", "value", "option"), BAD_SAMPLING)
def test_a_bad_sampling_value_gets_one_message_everywhere(
    live: Live, tiny_llama: Any, name: str, value: Any, option: str
) -> None:
    """One contract (tessera.llm._sampling): the library's parameters, medusa's Sampling, the
    runtime, the HTTP service and the CLI refuse the same value with the same message."""
    from tessera.cli import _llm  # noqa: F401  (registers the llm commands)
    from tessera.cli._app import app
    from tessera.llm import load
    from tessera.llm.medusa import Sampling

    with pytest.raises(InvalidInputError) as refused:
        GenerationParams(**{name: value})
    message = str(refused.value)
    assert message.startswith(f"{name}=") and " is invalid: " in message
    with pytest.raises(InvalidInputError) as sampling:
        Sampling(**{name: value})
    runtime = load(tiny_llama.folder, heads=None)
    with pytest.raises(InvalidInputError) as generation:
        runtime.generate("hi", max_new_tokens=2, **{name: value})
    response = live.client("models:invoke").post(
        "/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 2, name: value}
    )
    assert response.status_code == 400, response.text
    cli = CliRunner().invoke(app, ["llm", "generate", "hi", option, str(value)])
    assert cli.exit_code == 1, cli.output
    assert str(sampling.value) == str(generation.value) == message
    assert response.json()["error"]["message"] == message
    assert response.json()["error"]["param"] == name
    assert cli.stderr.strip() == f"error: {message}"


def test_a_token_budget_of_zero_gets_one_rule_everywhere(live: Live, tiny_llama: Any) -> None:
    """Each layer names its own argument (max_tokens, max_new_tokens) with the same rule."""
    from tessera.cli import _llm  # noqa: F401  (registers the llm commands)
    from tessera.cli._app import app
    from tessera.llm import load

    with pytest.raises(InvalidInputError) as refused:
        GenerationParams(max_tokens=0)
    message = str(refused.value)
    response = live.client("models:invoke").post(
        "/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 0}
    )
    assert response.json()["error"]["message"] == message
    runtime_message = message.replace("max_tokens", "max_new_tokens")
    with pytest.raises(InvalidInputError) as generation:
        load(tiny_llama.folder, heads=None).generate("hi", max_new_tokens=0)
    assert str(generation.value) == runtime_message
    cli = CliRunner().invoke(app, ["llm", "generate", "hi", "--max-new-tokens", "0"])
    assert cli.stderr.strip() == f"error: {runtime_message}"


@settings(max_examples=12, deadline=None)
@given(
    temperature=st.floats(0, 2),
    top_p=st.floats(0, 1, exclude_min=True),
    top_k=st.none() | st.integers(1, 50),
    seed=st.none() | st.integers(0, 2**63 - 1),
)
def test_values_inside_the_contract_are_served(
    live: Live, temperature: float, top_p: float, top_k: int | None, seed: int | None
) -> None:
    body = {
        "messages": MESSAGES,
        "max_tokens": 2,
        "temperature": temperature,
        "top_p": top_p,
        "top_k": top_k,
        "seed": seed,
    }
    response = live.client("models:invoke").post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text


def test_outbox_delivers_every_item_in_order_with_one_wakeup_for_a_burst() -> None:
    """Threads hand items to the loop through one outbox: each queue gets its items in
    order, none lost; items handed over while the loop is busy ride on one delivery."""
    import asyncio

    from tessera.llm.serve._chat import _Outbox

    async def main() -> None:
        box = _Outbox(asyncio.get_running_loop())
        deliveries: list[int] = []
        deliver = box._deliver

        def counted() -> None:
            deliveries.append(len(box._items))
            deliver()

        box._deliver = counted  # type: ignore[method-assign]
        queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(8)]

        def produce(queue: asyncio.Queue[int]) -> None:
            for i in range(300):
                box.put(queue, i)

        threads = [threading.Thread(target=produce, args=(q,)) for q in queues]
        for thread in threads:
            thread.start()
        for thread in threads:  # blocks the loop: no delivery runs meanwhile
            thread.join()
        got = [[await q.get() for _ in range(300)] for q in queues]
        assert got == [list(range(300))] * 8
        assert all(q.empty() for q in queues)
        assert deliveries == [8 * 300]
        box.put(queues[0], -1)  # the next item schedules a delivery of its own
        assert await queues[0].get() == -1
        assert deliveries == [8 * 300, 1]

    asyncio.run(main())


def test_outbox_of_a_closed_loop_refuses_items() -> None:
    import asyncio

    from tessera.llm.serve._chat import _Outbox

    loop = asyncio.new_event_loop()
    box = _Outbox(loop)
    loop.close()
    for item in range(2):  # every item, not only the first
        with pytest.raises(RuntimeError):
            box.put(asyncio.Queue(), item)
