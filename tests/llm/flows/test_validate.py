"""A flow that breaks each validation rule, and the problem it must produce (node + field)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tessera.llm.flows import (
    FlowValidationError,
    load_flow,
    require_valid,
    run_flow,
    validate_flow,
)
from tessera.llm.flows import (
    conditional_connection as cond,
)
from tessera.llm.flows import (
    data_connection as data,
)


def base() -> dict[str, Any]:
    """A valid flow: input -> route (condition) -> two outputs, plus a text output."""
    return {
        "name": "base",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "Object"}]},
            {
                "name": "route",
                "type": "Condition",
                "inputs": [{"name": "label", "type": "String", "expression": "$.data.label"}],
                "configuration": {
                    "conditions": [
                        {"name": "billing", "expression": "label == 'billing'"},
                        {"name": "default"},
                    ]
                },
            },
            {
                "name": "bill",
                "type": "Output",
                "inputs": [{"name": "document", "type": "String", "expression": "$.data.text"}],
            },
            {"name": "rest", "type": "Output", "inputs": [{"name": "document", "type": "Object"}]},
        ],
        "connections": [
            data("in", "document", "route", "label", name="c1"),
            data("in", "document", "bill", "document", name="c2"),
            data("in", "document", "rest", "document", name="c3"),
            cond("route", "billing", "bill"),
            cond("route", "default", "rest"),
        ],
    }


def node(flow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in flow["nodes"] if n["name"] == name)


def connection(flow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in flow["connections"] if c.get("name") == name)


def _no_input(f: dict) -> None:
    f["nodes"].pop(0)


def _two_inputs(f: dict) -> None:
    f["nodes"].append(
        {"name": "in2", "type": "Input", "outputs": [{"name": "document", "type": "Object"}]}
    )


def _no_output(f: dict) -> None:
    f["nodes"] = f["nodes"][:2]
    f["connections"] = [connection(f, "c1")]


def _code(name: str, function: str, inputs: list[dict], output: str = "text") -> dict:
    outputs = [{"name": output, "type": "String"}]
    configuration = {"function": function}
    return {
        "name": name,
        "type": "Code",
        "configuration": configuration,
        "inputs": inputs,
        "outputs": outputs,
    }


def _cycle(f: dict) -> None:
    seed = {"name": "seed", "type": "Object"}
    f["nodes"].append(_code("a", "json:dumps", [{"name": "obj", "type": "String"}, seed]))
    f["nodes"].append(_code("b", "json:dumps", [{"name": "obj", "type": "String"}]))
    f["connections"] += [
        data("in", "document", "a", "seed"),
        data("a", "text", "b", "obj"),
        data("b", "text", "a", "obj"),
    ]


def _shell(f: dict) -> None:
    command = {"name": "command", "type": "String", "expression": "$.data.label"}
    f["nodes"].append(_code("shell", "os:system", [command], "status"))
    f["nodes"][-1]["outputs"][0]["type"] = "Number"
    f["nodes"].append(
        {"name": "ran", "type": "Output", "inputs": [{"name": "document", "type": "Number"}]}
    )
    f["connections"] += [
        data("in", "document", "shell", "command"),
        data("shell", "status", "ran", "document"),
    ]


def _iterator(name: str) -> dict:
    return {
        "name": name,
        "type": "Iterator",
        "inputs": [{"name": "array", "type": "Array", "expression": "$.data.items"}],
        "outputs": [
            {"name": "arrayItem", "type": "String"},
            {"name": "arraySize", "type": "Number"},
        ],
    }


def _collector(name: str) -> dict:
    return {
        "name": name,
        "type": "Collector",
        "inputs": [
            {"name": "arrayItem", "type": "String", "expression": "$.data.label"},
            {"name": "arraySize", "type": "Number"},
        ],
        "outputs": [{"name": "collectedArray", "type": "Array"}],
    }


def _nothing_to_collect(f: dict) -> None:
    f["nodes"] += [_iterator("each"), _collector("gather")]
    f["nodes"].append(
        {"name": "all", "type": "Output", "inputs": [{"name": "document", "type": "Array"}]}
    )
    f["connections"] += [
        data("in", "document", "each", "array"),
        data("in", "document", "gather", "arrayItem"),
        data("each", "arraySize", "gather", "arraySize"),
        data("gather", "collectedArray", "all", "document"),
    ]


def _mixed_items(f: dict) -> None:
    f["nodes"] += [_iterator("each"), _iterator("other")]
    ports = [{"name": "obj", "type": "String"}, {"name": "also", "type": "String"}]
    f["nodes"].append(_code("mix", "json:dumps", ports))
    f["nodes"].append(
        {"name": "mixed", "type": "Output", "inputs": [{"name": "document", "type": "String"}]}
    )
    f["connections"] += [
        data("in", "document", "each", "array"),
        data("in", "document", "other", "array"),
        data("each", "arrayItem", "mix", "obj"),
        data("other", "arrayItem", "mix", "also"),
        data("mix", "text", "mixed", "document"),
    ]


def _unreachable(f: dict) -> None:
    f["nodes"].append(
        {
            "name": "island",
            "type": "Code",
            "configuration": {"function": "json:dumps"},
            "outputs": [{"name": "text", "type": "String"}],
        }
    )


def _code_loop_body(exit_when: str, body_output_type: str) -> dict[str, Any]:
    return {
        "name": "loop",
        "type": "DoWhile",
        "configuration": {
            "maxIterations": 3,
            "exitWhen": exit_when,
            "body": {
                "name": "body",
                "nodes": [
                    {
                        "name": "in",
                        "type": "Input",
                        "outputs": [{"name": "document", "type": "Object"}],
                    },
                    {
                        "name": "out",
                        "type": "Output",
                        "inputs": [{"name": "document", "type": body_output_type}],
                    },
                ],
                "connections": [data("in", "document", "out", "document")],
            },
        },
        "inputs": [{"name": "label", "type": "String", "expression": "$.data.label"}],
        "outputs": [{"name": "label", "type": "String"}, {"name": "nope", "type": "String"}],
    }


def _bad_loop(f: dict) -> None:
    f["nodes"].append(_code_loop_body("lable == 'x'", "String"))
    f["connections"].append(data("in", "document", "loop", "label"))


ALLOWED = ["json:dumps"]
Mutation = Callable[[dict], None]
RULES: list[tuple[str, Mutation, set[tuple[str | None, str]]]] = [
    (
        "exactly one Input (none)",
        _no_input,
        {
            (None, "nodes"),
            ("route", "connections[c1].source"),
            ("bill", "connections[c2].source"),
            ("rest", "connections[c3].source"),
        },
    ),
    ("exactly one Input (two)", _two_inputs, {("in2", "type")}),
    ("at least one Output", _no_output, {(None, "nodes")}),
    (
        "unknown node type",
        lambda f: node(f, "rest").update(type="Outptu"),
        {("rest", "type")},
    ),
    (
        "bad configuration (pydantic)",
        lambda f: node(f, "route")["configuration"].update(conditions="billing"),
        {
            ("route", "configuration.conditions"),
            ("route", "connections[route.billing->bill].configuration.conditional.condition"),
            ("route", "connections[route.default->rest].configuration.conditional.condition"),
        },
    ),
    (
        "missing default condition",
        lambda f: node(f, "route")["configuration"]["conditions"].pop(),
        {
            ("route", "configuration.conditions"),
            ("route", "connections[route.default->rest].configuration.conditional.condition"),
        },
    ),
    (
        "malformed condition expression",
        lambda f: node(f, "route")["configuration"]["conditions"][0].update(
            expression="label = 'billing'"
        ),
        {("route", "configuration.conditions[0].expression")},
    ),
    (
        "condition over an unknown name",
        lambda f: node(f, "route")["configuration"]["conditions"][0].update(
            expression="lable == 'billing'"
        ),
        {("route", "configuration.conditions[0].expression")},
    ),
    (
        "duplicate condition names",
        lambda f: node(f, "route")["configuration"]["conditions"][0].update(name="default"),
        {
            ("route", "configuration.conditions[1].name"),
            ("route", "connections[route.billing->bill].configuration.conditional.condition"),
        },
    ),
    (
        "malformed JSONPath",
        lambda f: node(f, "bill")["inputs"][0].update(expression="$.data..text"),
        {("bill", "inputs.document.expression")},
    ),
    (
        "JSONPath not rooted at $.data",
        lambda f: node(f, "bill")["inputs"][0].update(expression="$.text"),
        {("bill", "inputs.document.expression")},
    ),
    (
        "unknown source",
        lambda f: connection(f, "c2").update(source="inn"),
        {("bill", "connections[c2].source")},
    ),
    (
        "unknown target",
        lambda f: connection(f, "c2").update(target="bil"),
        {("in", "connections[c2].target"), ("bill", "inputs.document")},
    ),
    (
        "unknown source output",
        lambda f: connection(f, "c2")["configuration"]["data"].update(sourceOutput="doc"),
        {("in", "connections[c2].configuration.data.sourceOutput")},
    ),
    (
        "unknown target input",
        lambda f: connection(f, "c2")["configuration"]["data"].update(targetInput="doc"),
        {("bill", "connections[c2].configuration.data.targetInput"), ("bill", "inputs.document")},
    ),
    (
        "type mismatch",
        lambda f: node(f, "rest")["inputs"][0].update(type="Array"),
        {("rest", "inputs.document.type")},
    ),
    (
        "type mismatch through an expression",
        lambda f: node(f, "in")["outputs"][0].update(type="Array"),
        {
            ("route", "inputs.label.type"),
            ("bill", "inputs.document.type"),
            ("rest", "inputs.document.type"),
        },
    ),
    (
        "multiple connections into one input",
        lambda f: f["connections"].append(data("in", "document", "rest", "document", name="c9")),
        {("rest", "inputs.document")},
    ),
    (
        "unfulfilled input",
        lambda f: f["connections"].remove(connection(f, "c3")),
        {("rest", "inputs.document")},
    ),
    (
        "cycle",
        _cycle,
        {("a", "connections")},
    ),
    (
        "unreachable node",
        _unreachable,
        {("island", "connections")},
    ),
    (
        "Code function outside the allow-list",
        _shell,
        {("shell", "configuration.function")},
    ),
    (
        "conditional connection from a non-Condition node",
        lambda f: f["connections"].append(cond("in", "default", "rest")),
        {("in", "connections[in.default->rest].source")},
    ),
    (
        "conditional connection naming an unknown condition",
        lambda f: f["connections"].append(cond("route", "billling", "bill")),
        {("route", "connections[route.billling->bill].configuration.conditional.condition")},
    ),
    (
        "duplicate node names",
        lambda f: f["nodes"].append(copy.deepcopy(node(f, "rest"))),
        {("rest", "name")},
    ),
    (
        "missing required port",
        lambda f: node(f, "rest").update(inputs=[]),
        {("rest", "inputs.document"), ("rest", "connections[c3].configuration.data.targetInput")},
    ),
    (
        "port the node type does not have",
        lambda f: (
            node(f, "rest")["outputs"].append({"name": "x", "type": "String"})
            if "outputs" in node(f, "rest")
            else node(f, "rest").update(outputs=[{"name": "x", "type": "String"}])
        ),
        {("rest", "outputs.x")},
    ),
    ("a Collector with nothing to collect", _nothing_to_collect, {("gather", "inputs.arrayItem")}),
    ("a node mixing the items of two Iterators", _mixed_items, {("mix", "inputs")}),
    (
        "DoWhile: bad exit condition, output outside the state, bad body",
        _bad_loop,
        {
            ("loop", "configuration.exitWhen"),
            ("loop", "outputs.nope"),
            ("loop/out", "inputs.document.type"),
        },
    ),
]


@pytest.mark.parametrize(("rule", "mutate", "expected"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_is_reported_with_its_node_and_field(
    rule: str, mutate: Mutation, expected: set[tuple[str | None, str]]
) -> None:
    flow = base()
    assert validate_flow(flow, allowed_code=ALLOWED) == []
    mutate(flow)
    problems = validate_flow(flow, allowed_code=ALLOWED)
    assert {(p.node, p.field) for p in problems} == expected, problems
    for problem in problems:
        assert problem.message and str(problem).endswith(problem.message)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {
                "name": "x",
                "nodes": [
                    {"name": "a", "type": "Input", "outputs": [{"name": "d", "type": "Strng"}]}
                ],
            },
            {("a", "outputs[0].type")},
        ),
        (
            {"name": "x", "nodes": [{"name": "bad name", "type": "Input", "bogus": 1}]},
            {("bad name", "name"), ("bad name", "bogus")},
        ),
        ({"nodes": [{"type": "Input"}]}, {(None, "name"), ("nodes[0]", "name")}),
        (
            {
                "name": "x",
                "nodes": [],
                "connections": [
                    {
                        "source": "a",
                        "target": "b",
                        "type": "Data",
                        "configuration": {"conditional": {"condition": "c"}},
                    }
                ],
            },
            {("b", "connections[0]")},
        ),
        ("- just\n- a list\n", {(None, "document")}),
        ("name: [unclosed\n", {(None, "document")}),
    ],
)
def test_shape_problems_of_the_document_are_reported_together(
    document: Any, expected: set[tuple[str | None, str]]
) -> None:
    problems = validate_flow(document)
    assert {(p.node, p.field) for p in problems} == expected, problems


def test_every_problem_is_reported_at_once_and_printed_by_the_error() -> None:
    flow = base()
    chosen = {
        "malformed condition expression",
        "malformed JSONPath",
        "unknown source output",
        "multiple connections into one input",
        "Code function outside the allow-list",
        "a node mixing the items of two Iterators",
        "unreachable node",
    }
    expected: set[tuple[str | None, str]] = set()
    for rule, mutate, where in RULES:
        if rule in chosen:
            mutate(flow)
            expected |= where
    problems = validate_flow(flow, allowed_code=ALLOWED)
    assert expected <= {(p.node, p.field) for p in problems}
    with pytest.raises(FlowValidationError) as info:
        require_valid(flow, allowed_code=ALLOWED)
    assert info.value.problems == problems
    text = str(info.value)
    assert f"has {len(problems)} problem(s)" in text
    assert all(str(p) in text for p in problems)
    assert isinstance(info.value, ValueError)
    with pytest.raises(FlowValidationError):
        run_flow(flow, {"label": "billing"}, trace=False)


def test_a_valid_flow_round_trips_through_yaml_and_a_file(tmp_path: Path) -> None:
    spec = require_valid(base())
    path = tmp_path / "base.yaml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    again = load_flow(path)
    assert again.to_dict() == spec.to_dict()
    assert again.base_dir == tmp_path.resolve() and spec.base_dir is None
    assert load_flow(str(path)).to_dict() == spec.to_dict()
    assert load_flow(spec.model_dump_json(by_alias=True)).to_dict() == spec.to_dict()


def test_problems_inside_nested_loop_bodies_carry_every_loop_name() -> None:
    def loop(name: str, body: dict[str, Any], exit_when: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": "DoWhile",
            "configuration": {"body": body, "maxIterations": 2, "exitWhen": exit_when},
            "inputs": [{"name": "n", "type": "Number", "expression": "$.data.n"}],
            "outputs": [{"name": "n", "type": "Number"}],
        }

    def wrap(inner: dict[str, Any], input_type: str = "Object") -> dict[str, Any]:
        return {
            "name": f"around-{inner['name']}",
            "nodes": [
                {
                    "name": "in",
                    "type": "Input",
                    "outputs": [{"name": "document", "type": input_type}],
                },
                inner,
                {
                    "name": "out",
                    "type": "Output",
                    "inputs": [{"name": "document", "type": "Number"}],
                },
            ],
            "connections": [
                data("in", "document", inner["name"], "n"),
                data(inner["name"], "n", "out", "document"),
            ],
        }

    innermost = {"name": "leaf", "nodes": [], "connections": []}
    inner = loop("inner", innermost, "m > 1")
    flow = wrap(loop("outer", wrap(inner, input_type="String"), "n > 1"))
    where = {(p.node, p.field) for p in validate_flow(flow)}
    assert ("outer/inner", "configuration.exitWhen") in where
    assert ("outer/in", "outputs.document.type") in where
    assert ("outer/inner", "configuration.body.nodes") in where
