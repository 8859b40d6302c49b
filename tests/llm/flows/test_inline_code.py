"""InlineCode nodes: opt-in, in a limited subprocess; Bedrock's InlineCode maps to them (#23)."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.errors import InvalidInputError
from tessera.llm.bedrock import flow_from_bedrock, flow_to_bedrock
from tessera.llm.flows import FlowRunError, FlowValidationError, run_flow, validate_flow
from tessera.llm.flows.inline import OPT_IN, python


def bedrock_flow(code: str) -> dict[str, Any]:
    return {
        "name": "Inline",
        "definition": {
            "nodes": [
                {
                    "type": "Input",
                    "name": "In",
                    "configuration": {"input": {}},
                    "outputs": [{"name": "document", "type": "Number"}],
                },
                {
                    "type": "InlineCode",
                    "name": "Double",
                    "configuration": {"inlineCode": {"code": code, "language": "Python_3"}},
                    "inputs": [{"name": "x", "type": "Number", "expression": "$.data"}],
                    "outputs": [{"name": "response", "type": "Number"}],
                },
                {
                    "type": "Output",
                    "name": "Out",
                    "configuration": {"output": {}},
                    "inputs": [{"name": "document", "type": "Number", "expression": "$.data"}],
                },
            ],
            "connections": [
                {
                    "name": "a",
                    "source": "In",
                    "target": "Double",
                    "type": "Data",
                    "configuration": {"data": {"sourceOutput": "document", "targetInput": "x"}},
                },
                {
                    "name": "b",
                    "source": "Double",
                    "target": "Out",
                    "type": "Data",
                    "configuration": {
                        "data": {"sourceOutput": "response", "targetInput": "document"}
                    },
                },
            ],
        },
    }


def test_inline_code_round_trips_and_runs_only_when_allowed() -> None:
    source = bedrock_flow("y = x * 2\ny + 1")
    flow = flow_from_bedrock(source)
    assert flow_to_bedrock(flow) == source
    problems = validate_flow(flow)
    assert [(p.node, p.field) for p in problems] == [("Double", "type")]
    assert OPT_IN in problems[0].message
    with pytest.raises(FlowValidationError):
        run_flow(flow, 20, trace=False)
    result = run_flow(flow, 20, trace=False, allowed_code=[OPT_IN])
    assert result.outputs == {"Out": 41}


def test_limits_stop_runaway_code() -> None:
    with pytest.raises(InvalidInputError, match="timeout_s"):
        python("while True:\n    pass", {}, timeout_s=0.5)
    with pytest.raises(InvalidInputError, match="MemoryError"):
        python("b = bytearray(400 * 1024 * 1024)\nlen(b)", {}, memory_mb=128)
    with pytest.raises(InvalidInputError, match="ZeroDivisionError"):
        python("1 / 0", {})
    with pytest.raises(InvalidInputError, match="File too large"):
        python("f = open('x.txt', 'w')\nf.write('a' * 10)\nf.flush()", {})
    assert python("[a + b for a, b in zip(xs, ys)]", {"xs": [1, 2], "ys": [3, 4]}) == [4, 6]


def test_a_failing_node_names_itself() -> None:
    flow = flow_from_bedrock(bedrock_flow("x / 0"))
    with pytest.raises(FlowRunError, match="node 'Double' failed: the inline code failed"):
        run_flow(flow, 1, trace=False, allowed_code=[OPT_IN])


def test_bad_python_is_a_validation_problem() -> None:
    flow = flow_from_bedrock(bedrock_flow("def (:"))
    problems = validate_flow(flow, allowed_code=[OPT_IN])
    assert [(p.node, p.field) for p in problems] == [("Double", "configuration.code")]
