"""Prompts with an ``output_schema`` in flows (issue 19): the Prompt node emits the parsed
value, decoded under the schema on the embedded model, and validation checks the
downstream expressions (``$.data.field``) against the schema before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.errors import InvalidInputError
from tessera.llm.flows import data_connection as data
from tessera.llm.flows import run_flow, validate_flow
from tessera.llm.prompts import check_body

CITY = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "population": {"type": "integer", "minimum": 0},
        "districts": {"type": "array", "items": {"$ref": "#/$defs/District"}, "maxItems": 2},
    },
    "required": ["name", "population"],
    "additionalProperties": False,
    "$defs": {
        "District": {"type": "object", "properties": {"label": {"type": "string"}}},
    },
}


def _prompt(schema: Any = CITY) -> dict[str, Any]:
    return {
        "type": "text",
        "text": "Give the name and the population of {{city}}.",
        "variables": {"city": {"type": "string"}},
        "variants": [
            {"name": "json", "model": "tessera", "max_tokens": 48, "output_schema": schema}
        ],
    }


def _flow(expression: str, kind: str = "String", output: str = "Object") -> dict[str, Any]:
    return {
        "name": "city-facts",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "ask",
                "type": "Prompt",
                "configuration": {"inline": _prompt()},
                "inputs": [{"name": "city", "type": "String"}],
                "outputs": [{"name": "modelCompletion", "type": output}],
            },
            {
                "name": "out",
                "type": "Output",
                "inputs": [{"name": "document", "type": kind, "expression": expression}],
            },
        ],
        "connections": [
            data("in", "document", "ask", "city"),
            data("ask", "modelCompletion", "out", "document"),
        ],
    }


def test_a_variant_output_schema_must_be_a_json_schema() -> None:
    body = check_body(_prompt())
    assert body.variant().generation_params().json_schema == CITY
    with pytest.raises(InvalidInputError, match=r"variants.*output_schema.*not a valid JSON"):
        check_body(_prompt({"type": "objet"}))


@pytest.mark.parametrize(
    ("expression", "kind", "words"),
    [
        ("$.data.name", "String", None),
        ("$.data.population", "Number", None),
        ("$.data.districts[0].label", "String", None),
        ("$.data.nmae", "String", "no field 'nmae' in the output schema (its fields: districts"),
        ("$.data.population", "String", "$.data.population is a Number in the output schema"),
        ("$.data.districts[0].lable", "String", "$.data.districts[0] has no field 'lable'"),
    ],
)
def test_downstream_expressions_are_checked_against_the_schema(
    expression: str, kind: str, words: str | None
) -> None:
    problems = validate_flow(_flow(expression, kind))
    if words is None:
        assert problems == []
    else:
        [problem] = problems
        assert (problem.node, problem.field) == ("out", "inputs.document.expression")
        assert words in problem.message and f"expression={expression!r}" in problem.message


def test_the_node_declares_the_schemas_type() -> None:
    problems = validate_flow(_flow("$.data.name", output="String"))
    [problem] = [p for p in problems if p.node == "ask"]
    assert problem.field == "outputs.modelCompletion.type"
    assert "'modelCompletion' is a Object; declare type: Object" in problem.message


def test_the_prompt_node_emits_the_parsed_value(default_runtime: Any) -> None:
    result = run_flow(_flow("$.data", "Object"), "Oslo")
    city = result.outputs["out"]
    assert isinstance(city, dict) and set(city) <= set(CITY["properties"])  # type: ignore[arg-type]
    assert isinstance(city["name"], str) and isinstance(city["population"], int)
    named = run_flow(_flow("$.data.name"), "Oslo")
    assert named.outputs["out"] == city["name"]


WEATHER = {
    "name": "get_weather",
    "description": "Get the weather forecast in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "unit": {"enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}


def _tool_prompt(**variant: Any) -> dict[str, Any]:
    body = _prompt()
    body["variants"] = [
        {"name": "call", "model": "tessera", "max_tokens": 48, "tools": [WEATHER], **variant}
    ]
    return body


@pytest.mark.parametrize(
    ("variant", "words"),
    [
        ({"output_schema": CITY}, "output_schema or tools, not both"),
        ({"tool_choice": "get_time"}, "tool_choice 'get_time' is not one of the tools"),
        ({"tools": [WEATHER, WEATHER]}, "tool names repeat"),
        ({"tools": []}, "tools is empty"),
        ({"tools": [{**WEATHER, "name": "../x"}]}, "tools[0].name='../x'"),
        ({"tools": [{**WEATHER, "parameters": {"type": "string"}}]}, "parameters are an object"),
        ({"tools": [{**WEATHER, "parameters": {"type": "objet"}}]}, "not a valid JSON Schema"),
    ],
)
def test_a_variants_tools_are_checked(variant: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidInputError, match="variants") as refused:
        check_body(_tool_prompt(**variant))
    assert words in str(refused.value)


def _tool_flow(expression: str, kind: str = "String") -> dict[str, Any]:
    flow = _flow(expression, kind)
    flow["nodes"][1]["configuration"] = {"inline": _tool_prompt()}
    return flow


def test_a_prompt_with_tools_answers_one_call_whose_arguments_are_checked_downstream(
    default_runtime: Any,
) -> None:
    assert validate_flow(_tool_flow("$.data.arguments.city")) == []
    [problem] = validate_flow(_tool_flow("$.data.arguments.cty"))
    assert "no field 'cty' in the output schema (its fields: city, unit)" in problem.message
    body = check_body(_tool_prompt())
    assert "<tools>" in body.variant().prepare([{"role": "user", "content": "x"}])[0]["content"]
    call = run_flow(_tool_flow("$.data", "Object"), "Paris").outputs["out"]
    assert call["name"] == "get_weather" and set(call["arguments"]) == {"city", "unit"}
    assert call["arguments"]["unit"] in ("celsius", "fahrenheit")
