"""Structured output and tool calls through the real clients (issue 19): the official
``openai`` package and LangChain's ``ChatOpenAI``, unchanged, against a real server on
loopback with the embedded SmolLM2 (a tokenizer that can write JSON), greedy decoding.

What is checked is the contract, not the model's wisdom: every answer parses and
validates against the schema it was decoded under, tool calls come with ``call_`` ids,
the function's name and arguments that validate against its parameters, with
``finish_reason: "tool_calls"``; a stream's pieces join to the answer the same request
gets whole; a tool's result sent back gets an answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field
from serve_live import Live, sse_events, start_live

from tessera.llm.serve import RateLimit

openai = pytest.importorskip("openai")

MODEL = "tessera"
TOKENS = 96  # enough for every answer below: strings are bounded by their schemas


class Weather(BaseModel):
    """The weather report the structured answers must validate against."""

    city: str = Field(max_length=20)
    unit: Literal["celsius", "fahrenheit"]
    days: int = Field(ge=1, le=7)


class GetWeather(BaseModel):
    """Get the weather forecast in a city."""

    city: str = Field(max_length=20, description="the city")
    unit: Literal["celsius", "fahrenheit"]


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather forecast in a city.",
        "parameters": GetWeather.model_json_schema(),
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris, in celsius?"}]
# Free JSON (json_object) has no schema to bound it, and the small default model can run on
# inside a string: this ask gets a short object from it under every kernel tried (on
# CPUs with and without AMX, whose products round differently).
OSLO = 'Reply with a JSON object whose key "city" is Oslo.'


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, default_runtime: Any) -> Iterator[Live]:
    """A server of the embedded model (``default_runtime`` skips the module without it)."""
    db = tmp_path_factory.mktemp("structured") / "tessera.db"
    yield from start_live(db, models=(MODEL,), rate_limit=RateLimit(1000, burst=1000))


@pytest.fixture(scope="module")
def client(served: Live) -> Iterator[Any]:
    key = served.keys["models:invoke"]
    with openai.OpenAI(
        base_url=f"{served.url}/v1", api_key=key, max_retries=0, timeout=120
    ) as opened:
        yield opened


def _valid_arguments(call: Any, schema: dict[str, Any]) -> dict[str, Any]:
    assert call.type == "function" and call.id.startswith("call_") and len(call.id) > 10
    arguments = json.loads(call.function.arguments)
    Draft202012Validator(schema).validate(arguments)
    return dict(arguments)


def test_parse_with_a_pydantic_model(client: Any) -> None:
    completion = client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Give a weather report for Oslo as JSON."}],
        response_format=Weather,
        max_tokens=TOKENS,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert isinstance(choice.message.parsed, Weather)
    assert Weather.model_validate_json(choice.message.content) == choice.message.parsed


def test_json_object_answers_one_object(served: Live) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": OSLO}],
        "response_format": {"type": "json_object"},
        "max_tokens": TOKENS,
    }
    response = served.client("models:invoke").post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    if choice["finish_reason"] == "stop":
        assert isinstance(json.loads(choice["message"]["content"]), dict)
    else:  # cut by max_tokens: what there is is the start of an object
        assert choice["finish_reason"] == "length"
        assert choice["message"]["content"].startswith("{")


def test_tools_round_trip(client: Any) -> None:
    first = client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER_TOOL], tool_choice="required", max_tokens=TOKENS
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather"
    arguments = _valid_arguments(call, GetWeather.model_json_schema())
    result = {"city": arguments["city"], "forecast": "sunny, 21 degrees"}
    history = [
        *ASK,
        choice.message,  # the client's own message object, sent back as it is
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)},
    ]
    final = client.chat.completions.create(
        model=MODEL, messages=history, tools=[WEATHER_TOOL], tool_choice="none", max_tokens=24
    )
    answer = final.choices[0]
    assert answer.finish_reason in ("stop", "length") and answer.message.tool_calls is None
    assert isinstance(answer.message.content, str) and answer.message.content


def test_a_named_function_is_the_one_called(client: Any) -> None:
    other = {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    }
    completion = client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER_TOOL, other],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        max_tokens=TOKENS,
    )
    [call] = completion.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    assert _valid_arguments(call, other["function"]["parameters"]) == {}  # type: ignore[index]


def test_auto_answers_text_or_a_valid_call(client: Any) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER_TOOL], max_tokens=TOKENS
    )
    choice = completion.choices[0]
    if choice.message.tool_calls:
        assert choice.finish_reason == "tool_calls"
        _valid_arguments(choice.message.tool_calls[0], GetWeather.model_json_schema())
    else:
        assert choice.finish_reason in ("stop", "length") and choice.message.content


def test_streamed_tool_call_matches_the_whole_answer(client: Any, served: Live) -> None:
    options = {
        "model": MODEL,
        "messages": ASK,
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
        "max_tokens": TOKENS,
    }
    whole = client.chat.completions.create(**options).choices[0].message.tool_calls[0]
    with client.chat.completions.stream(**options) as stream:
        done = [e for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    assert [(e.name, e.arguments) for e in done] == [("get_weather", whole.function.arguments)]
    streamed = final.choices[0]
    assert streamed.finish_reason == "tool_calls"
    assert streamed.message.tool_calls[0].function.arguments == whole.function.arguments
    # On the wire: the id and name first, then argument pieces that join to the arguments.
    response = served.client("models:invoke").post(
        "/v1/chat/completions", json={**options, "stream": True}
    )
    events = sse_events(response)
    deltas = [e["choices"][0]["delta"] for e in events[:-1] if e["choices"]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "get_weather"
    assert all("id" not in c and c["index"] == 0 for c in calls[1:])
    assert len(calls) > 2  # the arguments came in pieces
    assert "".join(c["function"]["arguments"] for c in calls) == whole.function.arguments
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls" and events[-1] == "[DONE]"


def _chat_openai(served: Live, **options: Any) -> Any:
    langchain_openai = pytest.importorskip("langchain_openai")
    return langchain_openai.ChatOpenAI(
        model=MODEL,
        base_url=f"{served.url}/v1",
        api_key=served.keys["models:invoke"],
        max_retries=0,
        timeout=120,
        max_tokens=TOKENS,
        temperature=0,
        **options,
    )


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_with_structured_output(served: Live, method: str) -> None:
    chat = _chat_openai(served).with_structured_output(Weather, method=method)
    report = chat.invoke("Give a weather report for Oslo.")
    assert isinstance(report, Weather)


class AnyObject(BaseModel):
    """Any JSON object (json_mode tells the model no schema)."""

    model_config = ConfigDict(extra="allow")


def test_langchain_with_structured_output_json_mode(served: Live) -> None:
    chat = _chat_openai(served).with_structured_output(
        AnyObject, method="json_mode", include_raw=True
    )
    result = chat.invoke(OSLO)
    assert result["parsing_error"] is None, result
    assert isinstance(result["parsed"], AnyObject)
    assert isinstance(json.loads(result["raw"].content), dict)


def test_langchain_bind_tools_two_turn_loop(served: Live) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
        """Get the weather forecast in a city."""
        return f"sunny, 21 degrees {unit} in {city}"

    chat = _chat_openai(served)
    messages: list[Any] = [HumanMessage("What is the weather in Paris, in celsius?")]
    asked = chat.bind_tools([get_weather], tool_choice="get_weather").invoke(messages)
    [call] = asked.tool_calls
    assert call["name"] == "get_weather" and call["id"].startswith("call_")
    assert set(call["args"]) == {"city", "unit"}
    messages += [asked, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    answer = chat.bind_tools([get_weather], tool_choice="none").invoke(messages)
    assert answer.tool_calls == [] and isinstance(answer.content, str) and answer.content


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {
                "type": "string", "minLength": 5, "maxLength": 2}}}},
            "response_format.json_schema.schema",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {
                "type": "string", "format": "no-such-format"}}}},
            "response_format.json_schema.schema",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {
                "type": "object", "properties": {"n": {"type": "integer", "minimum": 3,
                "maximum": 1}}, "required": ["n"]}}}], "tool_choice": "required"},
            "tools",
        ),
    ],
)  # fmt: skip
def test_a_schema_the_engine_cannot_enforce_is_a_400_before_decoding(
    served: Live, extra: dict[str, Any], param: str
) -> None:
    body = {"model": MODEL, "messages": ASK, "max_tokens": 4, **extra}
    for stream in (False, True):
        response = served.client("models:invoke").post(
            "/v1/chat/completions", json={**body, "stream": stream}
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == param and error["message"].startswith(f"{param}=")
        assert "cannot enforce" in error["message"]


def test_a_streamed_json_answer_joins_to_the_whole_one_with_its_usage(client: Any) -> None:
    options = {
        "model": MODEL,
        "messages": [{"role": "user", "content": OSLO}],
        "response_format": {"type": "json_object"},
        "max_tokens": TOKENS,
    }
    whole = client.chat.completions.create(**options)
    chunks = list(
        client.chat.completions.create(
            **options, stream=True, stream_options={"include_usage": True}
        )
    )
    *pieces, last = chunks
    text = "".join(c.choices[0].delta.content or "" for c in pieces)
    assert text == whole.choices[0].message.content and isinstance(json.loads(text), dict)
    assert pieces[-1].choices[0].finish_reason == whole.choices[0].finish_reason == "stop"
    assert last.choices == [] and last.usage == whole.usage


def test_the_openai_backend_sends_json_schema_as_response_format(served: Live) -> None:
    from tessera.llm.backends import GenerationParams, get_backend, register_endpoint

    register_endpoint("structured", f"{served.url}/v1", api_key=served.keys["models:invoke"])
    params = GenerationParams(max_tokens=TOKENS, json_schema=Weather.model_json_schema())
    messages = [{"role": "user", "content": "Give a weather report for Oslo."}]
    remote = get_backend(f"structured:{MODEL}").chat(messages, params)
    assert remote.finish_reason == "stop"
    Weather.model_validate_json(remote.text)
    streamed = "".join(get_backend(f"structured:{MODEL}").stream(messages, params))
    assert streamed == remote.text


def test_langchain_streams_a_tool_call_in_chunks_that_add_up(served: Live) -> None:
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
        """Get the weather forecast in a city."""
        return f"sunny in {city}"

    chat = _chat_openai(served).bind_tools([get_weather], tool_choice="get_weather")
    chunks = list(chat.stream("What is the weather in Paris, in celsius?"))
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    assert len(chunks) > 3  # the arguments came in pieces
    [call] = whole.tool_calls
    assert call["name"] == "get_weather" and call["id"].startswith("call_")
    assert call["args"]["unit"] in ("celsius", "fahrenheit")
    assert isinstance(call["args"]["city"], str)
    assert whole.response_metadata["finish_reason"] == "tool_calls"
