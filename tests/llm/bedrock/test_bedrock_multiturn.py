"""Multi-turn flows (issue 23): Bedrock Agent nodes bound to ask-user pause the run and
resume from where they stopped, without running finished nodes again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _flowdocs import put_module
from tessera.errors import InvalidInputError
from tessera.llm.bedrock import Bindings, flow_from_bedrock, flow_to_bedrock
from tessera.llm.flows import (
    FlowValidationError,
    InputRequired,
    Resume,
    load_flow,
    stream_flow,
    validate_flow,
)

DATA = Path(__file__).parent / "data"
ARN = "arn:aws:bedrock:us-east-1:123456789012:agent-alias/PLANNER1/LIVE1"
ASKING = Bindings.from_mapping({"agents": {ARN: "ask-user"}})


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


def _turns(flow: Any, document: Any, reply: Any, **options: Any) -> tuple[list[str], Any]:
    """Run to the end, answering each question with ``reply(question)``; the nodes asked."""
    answers: dict[str, Any] = {}
    recorded: dict[str, Any] = {}
    asked: list[str] = []
    for _ in range(10):
        events: list[Any] = []
        try:
            for event in stream_flow(
                flow, document, resume=Resume(answers, recorded), trace=False, **options
            ):
                events.append(event)
        except InputRequired as asking:
            asked.append(asking.node)
            recorded.update({e.node: e.data for e in events if e.kind == "node_output"})
            answers[asking.node] = reply(asking.question)
            continue
        return asked, events[-1].data["outputs"]
    raise AssertionError("the flow kept asking")


def test_agent_nodes_bound_to_ask_user_round_trip_and_ask_in_turn() -> None:
    source = fixture("flow_ask.json")
    flow = flow_from_bedrock(source, bindings=ASKING)
    assert [n.type for n in flow.nodes if n.name.startswith("Ask")] == ["AskUser", "AskUser"]
    assert validate_flow(flow) == []
    assert flow_to_bedrock(flow, bindings=ASKING) == source
    questions = {"Your name?": "Ada", "Favourite colour?": "blue"}
    asked, outputs = _turns(
        flow, {"first": "Your name?", "second": "Favourite colour?"}, questions.__getitem__
    )
    assert asked == ["AskName", "AskColour"]
    assert outputs == {"Name": "Ada", "Blue": "blue"}
    # The reply steers the Condition after it (a metamorphic check: only the reply changed).
    _, outputs = _turns(flow, {"first": "n?", "second": "c?"}, lambda q: "red")
    assert outputs == {"Name": "red", "Other": "red"}


def test_unbound_agent_and_bad_binding_are_refused_naming_the_field() -> None:
    with pytest.raises(FlowValidationError) as caught:
        flow_from_bedrock(fixture("flow_ask.json"))
    assert [(p.node, p.field) for p in caught.value.problems] == [
        ("AskName", "configuration.agent.agentAliasArn"),
        ("AskColour", "configuration.agent.agentAliasArn"),
    ]
    assert "ask-user" in str(caught.value)
    with pytest.raises(InvalidInputError, match=r"bindings\.agents.*'run-agent'.*ask-user"):
        Bindings.from_mapping({"agents": {ARN: "run-agent"}})


def test_a_resumed_run_does_not_run_finished_nodes_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_module(
        tmp_path / "code",
        "tessera_test_ask_steps",
        """
        CALLS = []

        def shout(text):
            CALLS.append(text)
            return text.upper() + "?"
        """,
        monkeypatch,
    )
    import tessera_test_ask_steps as steps

    flow = load_flow(
        {
            "name": "shouted",
            "nodes": [
                {
                    "name": "in",
                    "type": "Input",
                    "outputs": [{"name": "document", "type": "String"}],
                },
                {
                    "name": "loud",
                    "type": "Code",
                    "configuration": {"function": "tessera_test_ask_steps:shout"},
                    "inputs": [{"name": "text", "type": "String"}],
                    "outputs": [{"name": "result", "type": "String"}],
                },
                {
                    "name": "ask",
                    "type": "AskUser",
                    "inputs": [{"name": "question", "type": "String"}],
                    "outputs": [{"name": "answer", "type": "String"}],
                },
                {
                    "name": "out",
                    "type": "Output",
                    "inputs": [{"name": "document", "type": "String"}],
                },
            ],
            "connections": [
                {
                    "name": "a",
                    "source": "in",
                    "target": "loud",
                    "type": "Data",
                    "configuration": {"data": {"sourceOutput": "document", "targetInput": "text"}},
                },
                {
                    "name": "b",
                    "type": "Data",
                    "source": "loud",
                    "target": "ask",
                    "configuration": {
                        "data": {"sourceOutput": "result", "targetInput": "question"}
                    },
                },
                {
                    "name": "c",
                    "type": "Data",
                    "source": "ask",
                    "target": "out",
                    "configuration": {
                        "data": {"sourceOutput": "answer", "targetInput": "document"}
                    },
                },
            ],
        }
    )
    allowed = ["tessera_test_ask_steps:*"]
    asked, outputs = _turns(flow, "ready", lambda q: f"{q} yes", allowed_code=allowed)
    assert asked == ["ask"] and outputs == {"out": "READY? yes"}
    assert steps.CALLS == ["ready"]  # the Code node ran once over two turns


def test_an_ask_inside_a_loop_is_named_by_its_iteration() -> None:
    source = fixture("flow_loop.json")
    inner = source["definition"]["nodes"][1]["configuration"]["loop"]["definition"]
    step = inner["nodes"][1]
    step.update(
        type="Agent",
        configuration={"agent": {"agentAliasArn": ARN}},
        inputs=[{"name": "agentInputText", "type": "String", "expression": "$.data"}],
        outputs=[{"name": "agentResponse", "type": "String"}],
    )
    inner["nodes"][0]["outputs"][0]["type"] = "String"
    inner["connections"][0]["configuration"]["data"]["targetInput"] = "agentInputText"
    for connection in inner["connections"][1:]:
        connection["configuration"]["data"]["sourceOutput"] = "agentResponse"
    for port in inner["nodes"][2]["inputs"]:
        port["type"] = "String"
    inner["nodes"][2]["configuration"]["loopController"]["continueCondition"] = {
        "name": "more",
        "expression": 'value != "stop"',
    }
    for node in source["definition"]["nodes"]:
        for port in node.get("inputs", []) + node.get("outputs", []):
            port["type"] = "String"
    flow = flow_from_bedrock(source, bindings=ASKING)
    assert validate_flow(flow) == []
    assert flow_to_bedrock(flow, bindings=ASKING) == source
    replies = iter(["again", "and again", "stop"])
    asked, outputs = _turns(flow, "go?", lambda q: next(replies))
    assert asked == ["Counter[1]/Step", "Counter[2]/Step", "Counter[3]/Step"]
    assert outputs == {"FlowOutput": "stop"}


def test_a_runner_that_cannot_resume_reports_the_pause_once(tmp_path: Path) -> None:
    from tessera.llm.flows import get_trace, run_flow

    source = fixture("flow_ask.json")
    flow = flow_from_bedrock(source, bindings=ASKING)
    db = tmp_path / "traces.db"
    with pytest.raises(InputRequired) as caught:
        run_flow(flow, {"first": "Name?", "second": "Colour?"}, db=db, run_id="paused-1")
    assert caught.value.node == "AskName" and caught.value.question == "Name?"
    trace = get_trace("paused-1", db=db)
    errors = [e for e in trace.events if e.kind == "error"]
    assert [(e.node, e.data["type"]) for e in errors] == [("AskName", "InputRequired")]
    assert trace.status == "failed" and "asks for input" in (trace.error or "")
