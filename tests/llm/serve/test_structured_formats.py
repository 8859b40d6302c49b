"""Structured output and tools before any decoding (issue 19): the request's schemas are
checked, tools are written into the prompt, a call's schema is built and its text read.

The first part calls the helpers directly; the second sends hostile requests to a real
server (the tiny random model; every one is refused before decoding, so none decodes):
each must be a 400 naming the field, never a 5xx.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from serve_live import Live

from tessera.llm.serve._formats import MAX_SCHEMA_DEPTH, check_schema
from tessera.llm.serve._http import ApiError
from tessera.llm.serve._tools import CallReader, ToolSpec, call_schema, plain_messages

USER = [{"role": "user", "content": "what is the weather in Paris"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 20},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize(
    ("schema", "param", "words"),
    [
        ({"type": "object", "not": {}}, "s.not", "'not' is not supported"),
        ({"properties": {"x": {"uniqueItems": True}}}, "s.properties.x.uniqueItems", "not supp"),
        ({"type": "integr"}, "s.type", "not a valid JSON Schema"),
        ({"minLength": -1}, "s.minLength", "not a valid JSON Schema"),
        ({"$ref": "https://example.com/s.json"}, "s.$ref", "inside the schema"),
        ({"$ref": "#/$defs/Missing"}, "s.$ref", "refers to nothing"),
        ({"enum": list(range(1001))}, "s.enum", "1000 enum values"),
        ({"const": json.loads("[" * 40 + "]" * 40)}, "s.const", "nests deeper"),
        ([], "s", "must be an object"),
        ({"items": 3}, "s.items", "object or a boolean"),
    ],
)
def test_a_schema_that_cannot_be_enforced_is_refused_naming_the_field(
    schema: Any, param: str, words: str
) -> None:
    with pytest.raises(ApiError) as refused:
        check_schema(schema, "s")
    assert refused.value.status == 400 and refused.value.param == param
    assert words in refused.value.message and refused.value.message.startswith(f"{param}=")


def test_the_depth_limit_is_checked_without_recursion() -> None:
    check_schema(_nested(MAX_SCHEMA_DEPTH - 1), "s")
    with pytest.raises(ApiError, match=f"deeper than {MAX_SCHEMA_DEPTH}"):
        check_schema(_nested(MAX_SCHEMA_DEPTH), "s")
    deep: dict[str, Any] = {}
    for _ in range(20_000):  # far past Python's recursion limit
        deep = {"items": deep}
    with pytest.raises(ApiError, match="deeper"):
        check_schema(deep, "s")


def test_pydantic_schemas_pass_as_they_are() -> None:
    from pydantic import BaseModel, Field

    class Address(BaseModel):
        city: str
        zip: str | None = None

    class Person(BaseModel):
        name: str = Field(max_length=30, description="full name")
        age: int = Field(ge=0, le=150)
        home: Address
        tags: list[str] = []

    schema = Person.model_json_schema()
    assert check_schema(schema, "s") is schema


def test_the_call_schema_keeps_each_tools_references() -> None:
    shared = {
        "type": "object",
        "properties": {"where": {"$ref": "#/$defs/Place"}},
        "required": ["where"],
        "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
    other = {  # the same $defs name, another meaning; and a reference to its own root
        "type": "object",
        "properties": {"place": {"$ref": "#/$defs/Place"}, "next": {"$ref": "#"}},
        "$defs": {"Place": {"type": "integer"}},
    }
    schema = call_schema([ToolSpec("a", None, shared), ToolSpec("b", None, other)])
    Draft202012Validator.check_schema(schema)
    valid = Draft202012Validator(schema)
    assert valid.is_valid({"name": "a", "arguments": {"where": {"city": "Oslo"}}})
    assert not valid.is_valid({"name": "a", "arguments": {"where": 3}})
    assert valid.is_valid({"name": "b", "arguments": {"place": 3, "next": {"place": 4}}})
    assert not valid.is_valid({"name": "b", "arguments": {"next": {"place": "x"}}})
    assert not valid.is_valid({"name": "c", "arguments": {}})
    assert not valid.is_valid({"name": "a"})
    one = call_schema([ToolSpec("f", None, {})])  # no parameters: an empty object
    assert Draft202012Validator(one).is_valid({"name": "f", "arguments": {}})
    assert not Draft202012Validator(one).is_valid({"name": "f", "arguments": "x"})


@settings(max_examples=60, deadline=None)
@given(
    arguments=st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=6),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
            max_leaves=6,
        ),
        max_size=4,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    spaced=st.booleans(),
)
def test_a_call_read_in_any_pieces_gives_the_name_then_the_arguments_text(
    arguments: dict[str, Any], cuts: list[int], spaced: bool
) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    args_text = json.dumps(arguments, separators=separators, ensure_ascii=False)
    text = json.dumps({"name": "get_weather", "arguments": arguments}, separators=separators)
    text = text.replace(json.dumps(arguments, separators=separators), args_text)
    reader = CallReader()
    events = []
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    for start, end in zip(bounds, bounds[1:], strict=False):
        events.extend(reader.feed(text[start:end]))
    assert events[0] == ("name", "get_weather")
    assert all(kind == "arguments" for kind, _ in events[1:])
    assert "".join(value for _, value in events[1:]) == reader.arguments
    assert json.loads(reader.arguments or "") == arguments
    assert reader.complete()


def test_a_call_cut_short_is_not_complete() -> None:
    reader = CallReader()
    events = list(reader.feed('{"name": "f", "arguments": {"city": "Par'))
    assert events == [("name", "f"), ("arguments", '{"city": "Par')]
    assert reader.arguments is None and not reader.complete()


def test_tool_history_becomes_plain_messages() -> None:
    history = [
        {"role": "developer", "content": "Be brief."},
        *USER,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "18 C, sunny", "tool_call_id": "call_1"},
    ]
    plain = plain_messages(history, "TOOLS")
    assert [m["role"] for m in plain] == ["system", "user", "assistant", "user"]
    assert plain[0]["content"] == "Be brief.\n\nTOOLS"
    assert plain[2]["content"] == (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    )
    assert plain[3]["content"] == "<tool_response>18 C, sunny</tool_response>"
    assert plain_messages(USER, "TOOLS")[0] == {"role": "system", "content": "TOOLS"}
    bad = [*history[:2], {**history[2], "tool_calls": [{**history[2]["tool_calls"][0]}]}]
    bad[2]["tool_calls"][0]["function"] = {"name": "get_weather", "arguments": "{city"}
    with pytest.raises(ApiError) as refused:
        plain_messages(bad, None)
    assert refused.value.param == "messages.2.tool_calls.0.function.arguments"


def _tool(name: str, parameters: Any = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


def _format(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
BAD = {**CALL, "function": {"name": "f", "arguments": "{not json"}}
HOSTILE = [
    ({"response_format": _format({"type": "object", "if": {}})}, "schema.if"),
    ({"response_format": _format(_nested(200))}, "response_format.json_schema.schema"),
    ({"response_format": _format({"enum": [f"v{i}" for i in range(50_000)]})}, "schema.enum"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}}, "name"),
    ({"response_format": {"type": "xml"}}, "response_format.type"),
    ({"response_format": {"type": "json_schema"}}, "response_format"),
    ({"response_format": _format(True)}, "response_format.json_schema.schema"),
    ({"tools": [_tool("../../etc/passwd")]}, "tools.0.function.name"),
    ({"tools": [_tool("/usr/bin/python")]}, "tools.0.function.name"),
    ({"tools": [_tool("天気")]}, "tools.0.function.name"),
    ({"tools": [_tool("get_weather\u200b")]}, "tools.0.function.name"),
    ({"tools": [_tool("x" * 65)]}, "tools.0.function.name"),
    ({"tools": [_tool("f"), _tool("f")]}, "tools.1.function.name"),
    ({"tools": [_tool("f", {"type": "string"})]}, "tools.0.function.parameters.type"),
    ({"tools": [_tool("f", {"properties": {"é": {"type": "nope"}}})]}, "properties.é.type"),
    ({"tools": [_tool("f", {"propertyNames": {}})]}, "parameters.propertyNames"),
    ({"tools": [_tool("f", _nested(60))]}, "tools.0.function.parameters"),
    ({"tools": [{"type": "retrieval"}]}, "tools.0.type"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [WEATHER], "tool_choice": "always"}, "tool_choice"),
    (
        {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}},
        "tool_choice.function.name",
    ),
    ({"messages": [*USER, {"role": "tool", "content": "x", "tool_call_id": "c"}]}, "tool_call_id"),
    ({"messages": [*USER, {"role": "tool", "content": "x"}]}, "messages.1"),
    ({"messages": [{"role": "user", "content": None}]}, "messages.0"),
    ({"messages": [{"role": "user", "content": "x", "tool_calls": [CALL]}]}, "messages.0"),
    (
        {"messages": [*USER, {"role": "assistant", "content": None, "tool_calls": [BAD]}]},
        "messages.1.tool_calls.0.function.arguments",
    ),
    ({"tools": [WEATHER], "guardrail": "g@1"}, "tools"),
    ({"response_format": {"type": "json_object"}, "stop": ["}"]}, "stop"),
]


@pytest.mark.parametrize(("extra", "param"), HOSTILE, ids=[p for _, p in HOSTILE])
def test_hostile_requests_get_a_400_naming_the_field(
    live: Live, extra: dict[str, Any], param: str
) -> None:
    body = {"messages": USER, "max_tokens": 2, **extra}
    response = live.client("admin").post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] is not None and param in error["param"], error
    assert len(error["message"]) < 2000


def test_a_schema_nested_past_the_json_parsers_limit_is_a_400(live: Live) -> None:
    schema = '{"type": "object"}'
    for _ in range(5000):
        schema = '{"type": "object", "properties": {"a": ' + schema + "}}"
    body = f'{{"messages": {json.dumps(USER)}, "response_format": {{"type": "json_schema", '
    body += f'"json_schema": {{"name": "deep", "schema": {schema}}}}}}}'
    response = live.client("admin").post(
        "/v1/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text[:300]


def test_response_format_text_and_tool_choice_none_answer_as_before(live: Live) -> None:
    client = live.client("models:invoke")
    plain = client.post("/v1/chat/completions", json={"messages": USER, "max_tokens": 4})
    text, none = {"response_format": {"type": "text"}}, {"tools": [WEATHER], "tool_choice": "none"}
    for extra in (text, none):
        same = client.post(
            "/v1/chat/completions", json={"messages": USER, "max_tokens": 4, **extra}
        )
        assert same.status_code == 200, same.text
        if "tools" not in extra:  # the tools change the prompt, not the shape
            assert same.json()["choices"] == plain.json()["choices"]
        message = same.json()["choices"][0]["message"]
        assert set(message) == {"role", "content"}


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_whose_tokenizer_cannot_be_constrained_is_a_400(live: Live, stream: bool) -> None:
    # The tiny model's word-level tokenizer has no engine view: refused before decoding.
    response = live.client("models:invoke").post(
        "/v1/chat/completions",
        json={
            "messages": USER,
            "max_tokens": 2,
            "stream": stream,
            "tools": [WEATHER],
            "tool_choice": "required",
        },
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "model" and "cannot answer with structured output" in error["message"]


class _Scripted:
    """A backend that answers from a script: the pieces of a free answer, and of one
    decoded under a schema (the orchestration of ``auto`` is what is tested here; the
    decoding itself is tested on the real model in test_structured_clients.py)."""

    model_id = "scripted"

    def __init__(self, free: list[str], constrained: list[str]) -> None:
        self.free, self.constrained = free, constrained
        self.calls: list[Any] = []
        self.closed = 0

    def stream(self, messages: Any, params: Any) -> Any:
        from tessera.llm.backends import ChatResult, ChatStream

        self.calls.append(params.json_schema)
        pieces = self.constrained if params.json_schema is not None else self.free

        def finish(text: str) -> ChatResult:
            return ChatResult(text, "scripted", 7, len(pieces), "stop")

        backend = self

        class Closing(ChatStream):
            def close(self) -> None:
                backend.closed += 1
                super().close()

        return Closing(iter(pieces), finish)


def _answer(backend: _Scripted, **body: Any) -> Any:
    from tessera.llm.backends import GenerationParams
    from tessera.llm.serve._chat import ChatCompletionRequest
    from tessera.llm.serve._structured_chat import StructuredAnswer, plan_of

    request = ChatCompletionRequest.model_validate({"messages": USER, **body})
    plan = plan_of(request)
    assert plan is not None
    answer = StructuredAnswer(backend, plan, GenerationParams(max_tokens=8))
    return answer, list(answer)


def test_auto_restarts_under_the_call_schema_when_the_answer_opens_a_call() -> None:
    call = '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}'
    backend = _Scripted([" <tool", "_call>", "{broken"], [call[:20], call[20:]])
    answer, events = _answer(backend, tools=[WEATHER])
    assert backend.calls[0] is None and backend.calls[1]["$defs"]  # free, then the schema
    assert backend.closed >= 1  # the free answer was stopped
    assert events[0] == ("call", "get_weather")
    assert "".join(v for k, v in events[1:]) == '{"city": "Paris", "unit": "celsius"}'
    message = answer.message()
    assert message["finish_reason"] == "tool_calls" and message["message"]["content"] is None
    assert message["message"]["tool_calls"][0]["id"].startswith("call_")


def test_auto_keeps_a_free_text_answer_and_restarts_only_for_a_response_format() -> None:
    backend = _Scripted(["<b>", "Sunny", "."], ['{"a": 1}'])
    answer, events = _answer(backend, tools=[WEATHER])
    assert events == [("content", "<b>"), ("content", "Sunny"), ("content", ".")]
    assert backend.calls == [None] and answer.message()["finish_reason"] == "stop"
    backend = _Scripted(["Sunny"], ['{"a": 1}'])
    answer, events = _answer(backend, tools=[WEATHER], response_format={"type": "json_object"})
    assert backend.calls == [None, {"type": "object"}]
    assert events == [("content", '{"a": 1}')]


def test_a_call_cut_short_is_answered_with_what_there_is() -> None:
    backend = _Scripted([], ['{"name": "get_weather", "arguments": {"city": "Pa'])
    answer, _ = _answer(backend, tools=[WEATHER], tool_choice="required")
    choice = answer.message()
    assert choice["message"]["tool_calls"][0]["function"]["arguments"] == '{"city": "Pa'
    assert choice["finish_reason"] == "stop"  # the backend's: "length" when max_tokens cut it
    backend = _Scripted([], ['{"na'])
    answer, events = _answer(backend, tools=[WEATHER], tool_choice="required")
    assert events == [("content", '{"na')] and "tool_calls" not in answer.message()["message"]


def test_a_developer_message_is_read_as_a_system_message(live: Live) -> None:
    client = live.client("models:invoke")
    answers = []
    for role in ("system", "developer"):
        body = {"messages": [{"role": role, "content": "you are a cat"}, *USER], "max_tokens": 4}
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        answers.append(response.json()["choices"])
    assert answers[0] == answers[1]
