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
