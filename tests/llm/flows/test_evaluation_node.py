"""The Evaluation node, and batch runs scored by the flow itself (evaluator='flow')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _flowdocs import data
from tessera.errors import InvalidInputError
from tessera.llm.flows import (
    FlowValidationError,
    RunContext,
    get_node_type,
    load_flow,
    run_batch,
    run_flow,
    validate_flow,
)
from tessera.llm.flows.examples import EXAMPLE_CODE


def scored_flow(configuration: dict[str, Any], *, passed: bool = True) -> dict[str, Any]:
    """Input {text, expected} -> Code support_category -> Evaluation -> Outputs score, passed."""
    outputs = [{"name": "score", "type": "Number"}]
    if passed:
        outputs.append({"name": "passed", "type": "Boolean"})
    nodes = [
        {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "Object"}]},
        {
            "name": "code",
            "type": "Code",
            "configuration": {"function": "tessera.llm.flows.examples:support_category"},
            "inputs": [{"name": "completion", "type": "String", "expression": "$.data.text"}],
            "outputs": [{"name": "category", "type": "String"}],
        },
        {
            "name": "judge",
            "type": "Evaluation",
            "configuration": configuration,
            "inputs": [
                {"name": "output", "type": "String", "expression": "$.data"},
                {"name": "expected", "type": "String", "expression": "$.data.expected"},
            ],
            "outputs": outputs,
        },
        {"name": "score", "type": "Output", "inputs": [{"name": "document", "type": "Number"}]},
    ]
    connections = [
        data("in", "document", "code", "completion"),
        data("code", "category", "judge", "output"),
        data("in", "document", "judge", "expected"),
        data("judge", "score", "score", "document"),
    ]
    if passed:
        nodes.append(
            {"name": "ok", "type": "Output", "inputs": [{"name": "document", "type": "Boolean"}]}
        )
        connections.append(data("judge", "passed", "ok", "document"))
    return {"name": "scored", "nodes": nodes, "connections": connections}


RECORDS = [
    {"text": "billing question", "expected": "billing"},
    {"text": "where is my parcel", "expected": "shipping"},
    {"text": "hello there", "expected": "account"},  # 'other': scores 0
]


@pytest.mark.parametrize(
    ("evaluator", "text", "expected", "score"),
    [
        ("exact", "billing question", "billing", 1.0),
        ("exact", "billing question", "shipping", 0.0),
        ("contains", "billing question", "BILL", 1.0),
        ("contains", "billing question", "ship", 0.0),
    ],
)
def test_the_node_scores_like_the_named_evaluator(
    tmp_path: Path, evaluator: str, text: str, expected: str, score: float
) -> None:
    result = run_flow(
        scored_flow({"evaluator": evaluator}),
        {"text": text, "expected": expected},
        allowed_code=[EXAMPLE_CODE],
        db=tmp_path / "t.db",
    )
    assert result.outputs == {"score": score, "ok": score == 1.0}


def test_a_function_evaluator_must_be_allowed(tmp_path: Path) -> None:
    flow = scored_flow({"evaluator": "operator:eq"})
    # Refused by validation (so before anything runs), on the evaluator's field ...
    with pytest.raises(FlowValidationError, match="allow-list") as info:
        run_flow(flow, RECORDS[0], allowed_code=[EXAMPLE_CODE], trace=False)
    assert [(p.node, p.field) for p in info.value.problems] == [
        ("judge", "configuration.evaluator")
    ]
    # ... and by the node itself when it runs with a context that does not allow it.
    spec = load_flow(flow)
    node, judge = spec.node("judge"), get_node_type("Evaluation")
    assert node is not None and judge is not None
    with pytest.raises(InvalidInputError, match="allow-list"):
        judge.run(node, {"output": "a", "expected": "a"}, RunContext(run_id="x", flow=spec))
    allowed = [EXAMPLE_CODE, "operator:eq"]
    assert run_flow(flow, RECORDS[0], allowed_code=allowed, trace=False).outputs == {
        "score": 1.0,
        "ok": True,
    }


def test_static_problems_name_node_and_field() -> None:
    flow = scored_flow({"evaluator": "fuzzy", "passThreshold": 2})
    flow["nodes"][2]["outputs"].append({"name": "extra", "type": "String"})
    problems = {(p.node, p.field) for p in validate_flow(flow, allowed_code=[EXAMPLE_CODE])}
    assert ("judge", "configuration.passThreshold") in problems
    flow = scored_flow({"evaluator": "fuzzy"})
    flow["nodes"][2]["outputs"].append({"name": "extra", "type": "String"})
    problems = {(p.node, p.field) for p in validate_flow(flow, allowed_code=[EXAMPLE_CODE])}
    assert {("judge", "configuration.evaluator"), ("judge", "outputs.extra")} <= problems


def test_batch_scored_by_the_flow_equals_scoring_from_outside(tmp_path: Path) -> None:
    """evaluator='flow' with an exact Evaluation node gives run_batch's own exact scores."""
    inside = run_batch(
        scored_flow({"evaluator": "exact"}, passed=False),
        RECORDS,
        evaluator="flow",
        allowed_code=[EXAMPLE_CODE],
        db=tmp_path / "a.db",
    )
    assert [r.score for r in inside.records] == [1.0, 1.0, 0.0]
    assert [r.input for r in inside.records] == RECORDS  # the expected value goes in
    categorise = scored_flow({"evaluator": "exact"}, passed=False)
    categorise["nodes"] = [n for n in categorise["nodes"] if n["name"] != "judge"]
    categorise["nodes"][-1]["inputs"][0]["type"] = "String"
    categorise["connections"] = [
        data("in", "document", "code", "completion"),
        data("code", "category", "score", "document"),
    ]
    outside = run_batch(
        categorise,
        [{"input": {"text": r["text"]}, "expected": r["expected"]} for r in RECORDS],
        allowed_code=[EXAMPLE_CODE],
        db=tmp_path / "b.db",
    )
    assert inside.metrics.accuracy == outside.metrics.accuracy == pytest.approx(2 / 3)
    assert [r.score for r in outside.records] == [r.score for r in inside.records]


def test_flow_scoring_needs_a_score_output(tmp_path: Path) -> None:
    result = run_batch(
        scored_flow({"evaluator": "exact"}),
        RECORDS,
        evaluator="flow",
        output="ok",  # a Boolean is a valid score too
        allowed_code=[EXAMPLE_CODE],
        db=tmp_path / "c.db",
    )
    assert [r.score for r in result.records] == [1.0, 1.0, 0.0]
    flow = scored_flow({"evaluator": "exact"}, passed=False)
    flow["nodes"][-1]["inputs"][0]["type"] = "String"
    flow["connections"][-1] = data("code", "category", "score", "document")
    bad = run_batch(
        flow, RECORDS, evaluator="flow", allowed_code=[EXAMPLE_CODE], db=tmp_path / "d.db"
    )
    assert bad.metrics.errors == 3
    assert all("Evaluation node" in (r.error or "") for r in bad.records)
