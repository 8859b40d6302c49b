"""Real clients against a real server: the official ``openai`` package and LangChain's
``ChatOpenAI``, as their users call them, on loopback (nothing beyond it).

What they see must be what the same request gets from the local backend, and their own
exceptions must come out of our errors (``BadRequestError`` for a 400 and so on), with
OpenAI's ``code`` and ``param`` where they apply.
"""

from __future__ import annotations

from typing import Any

import pytest
from serve_live import Live

from tessera.llm.backends import GenerationParams, get_backend

openai = pytest.importorskip("openai")

MESSAGES = [
    {"role": "system", "content": "you are a cat"},
    {"role": "user", "content": "what is the sun"},
]


@pytest.fixture(scope="module")
def tiny_id(tiny_llama: Any) -> str:
    return f"tessera:{tiny_llama.folder}"


def _client(live: Live, scope: str = "models:invoke", key: str | None = None) -> Any:
    return openai.OpenAI(
        base_url=f"{live.url}/v1", api_key=key or live.keys[scope], max_retries=0, timeout=60
    )


def test_openai_chat_create_equals_the_local_backend(live: Live, tiny_id: str) -> None:
    with _client(live) as client:
        completion = client.chat.completions.create(
            model=tiny_id, messages=MESSAGES, max_tokens=8, temperature=0, seed=3
        )
    direct = get_backend(tiny_id).chat(MESSAGES, GenerationParams(max_tokens=8))
    assert completion.object == "chat.completion" and completion.model == tiny_id
    choice = completion.choices[0]
    assert (choice.message.role, choice.message.content) == ("assistant", direct.text)
    assert choice.finish_reason == direct.finish_reason
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == direct.prompt_tokens
    assert completion.usage.completion_tokens == direct.completion_tokens


def test_openai_stream_with_usage_joins_to_the_whole_answer(live: Live, tiny_id: str) -> None:
    with _client(live) as client:
        whole = client.chat.completions.create(model=tiny_id, messages=MESSAGES, max_tokens=8)
        stream = client.chat.completions.create(
            model=tiny_id,
            messages=MESSAGES,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    *pieces, last = chunks
    text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    assert text == whole.choices[0].message.content
    assert pieces[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert last.choices == [] and last.usage == whole.usage


def test_openai_models_list_and_retrieve(live: Live, tiny_id: str) -> None:
    with _client(live) as client:
        listed = [model.id for model in client.models.list()]
        assert listed == [tiny_id, "tessera"]
        for model_id in listed:  # ids with ':' and '/' in them
            model = client.models.retrieve(model_id)
            assert (model.id, model.object, model.owned_by) == (model_id, "model", "tessera")
        with pytest.raises(openai.NotFoundError) as missing:
            client.models.retrieve("gpt-4o")
    assert missing.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("options", "param", "code"),
    [
        ({"max_tokens": 0}, "max_tokens", None),
        ({"temperature": 2.5}, "temperature", None),
        ({"seed": 2**70}, "seed", None),
        ({"presence_penalty": 0.5}, "presence_penalty", None),  # not applied: refused
        ({"max_tokens": 100_000}, "max_tokens", "context_length_exceeded"),
    ],
)
def test_openai_bad_request(
    live: Live, tiny_id: str, options: dict[str, Any], param: str, code: str | None
) -> None:
    with _client(live) as client, pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=tiny_id, messages=MESSAGES, **options)
    error = refused.value
    assert error.status_code == 400
    assert (error.param, error.code, error.type) == (param, code, "invalid_request_error")
    assert f"{param}=" in error.message


def test_openai_wrong_key_and_missing_scope(live: Live, tiny_id: str) -> None:
    forged = live.keys["models:invoke"][:-2] + "zz"
    with _client(live, key=forged) as client, pytest.raises(openai.AuthenticationError) as bad:
        client.models.list()
    assert bad.value.code == "invalid_api_key"
    with _client(live, "prompts:read") as client:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            client.chat.completions.create(model=tiny_id, messages=MESSAGES, max_tokens=2)
    assert "'models:invoke'" in denied.value.message and denied.value.code is None


def _chat_openai(live: Live, tiny_id: str, **options: Any) -> Any:
    langchain_openai = pytest.importorskip("langchain_openai")
    return langchain_openai.ChatOpenAI(
        model=tiny_id,
        base_url=f"{live.url}/v1",
        api_key=live.keys["models:invoke"],
        max_retries=0,
        timeout=60,
        **options,
    )


def test_langchain_invoke_and_stream(live: Live, tiny_id: str) -> None:
    direct = get_backend(tiny_id).chat(MESSAGES, GenerationParams(max_tokens=8))
    chat = _chat_openai(live, tiny_id, max_tokens=8, temperature=0, stream_usage=True)
    prompt = [("system", MESSAGES[0]["content"]), ("human", MESSAGES[1]["content"])]
    answer = chat.invoke(prompt)
    assert answer.content == direct.text
    assert answer.usage_metadata["output_tokens"] == direct.completion_tokens
    assert answer.response_metadata["finish_reason"] == direct.finish_reason
    chunks = list(chat.stream(prompt))
    assert "".join(str(chunk.content) for chunk in chunks) == direct.text
    streamed = chunks[0]
    for chunk in chunks[1:]:
        streamed = streamed + chunk
    assert streamed.usage_metadata is not None  # stream_usage: the include_usage chunk
    assert streamed.usage_metadata["output_tokens"] == direct.completion_tokens


def test_langchain_sees_our_errors_as_openais(live: Live, tiny_id: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _chat_openai(live, tiny_id, max_tokens=8, temperature=2.5).invoke("hi")
    assert refused.value.param == "temperature"
