"""The runner: skipping, nested Iterators, streaming, traces, failures; a metamorphic check."""

from __future__ import annotations

import random
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from tessera.llm.flows import (
    FlowRunError,
    get_trace,
    load_flow,
    run_flow,
    stream_flow,
)
from tessera.llm.flows import (
    conditional_connection as cond,
)
from tessera.llm.flows import (
    data_connection as data,
)

STEPS = "tessera_test_engine_steps"


def code(name: str, function: str, inputs: dict[str, str], outputs: dict[str, str]) -> dict:
    return {
        "name": name,
        "type": "Code",
        "configuration": {"function": f"{STEPS}:{function}"},
        "inputs": [{"name": k, "type": v} for k, v in inputs.items()],
        "outputs": [{"name": k, "type": v} for k, v in outputs.items()],
    }


def entry(kind: str) -> dict[str, Any]:
    return {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": kind}]}


def exit_(name: str, kind: str) -> dict[str, Any]:
    return {"name": name, "type": "Output", "inputs": [{"name": "document", "type": kind}]}


class Steps(types.ModuleType):
    """Step functions for Code nodes, in a real module registered in sys.modules."""

    def __init__(self) -> None:
        super().__init__(STEPS)
        self.release = threading.Event()
        self.calls: list[str] = []

    def shout(self, text: str) -> str:
        self.calls.append(text)
        return text.upper()

    def length(self, text: str) -> int:
        return len(text)

    def wait(self, text: str) -> str:
        if not self.release.wait(timeout=30):
            raise TimeoutError("the test never released the step")
        return text


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Steps:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    module = Steps()
    monkeypatch.setitem(sys.modules, STEPS, module)
    return module


# Named one by one: the steps are bound methods of a module object, which a `STEPS:*`
# wildcard (public functions defined in the module) does not admit.
ALLOWED = [f"{STEPS}:shout", f"{STEPS}:length", f"{STEPS}:wait"]


def test_nodes_downstream_of_only_skipped_branches_are_skipped(steps: Steps) -> None:
    conditions = [{"name": "long", "expression": "len(text) > 5"}, {"name": "short"}]
    flow = {
        "name": "skip",
        "nodes": [
            entry("String"),
            {
                "name": "route",
                "type": "Condition",
                "inputs": [{"name": "text", "type": "String"}],
                "configuration": {"conditions": conditions},
            },
            code("loud", "shout", {"text": "String"}, {"text": "String"}),
            code("count", "length", {"text": "String"}, {"n": "Number"}),
            exit_("loud_out", "String"),
            exit_("count_out", "Number"),
            exit_("always", "String"),
        ],
        "connections": [
            data("in", "document", "route", "text"),
            data("in", "document", "loud", "text"),
            data("in", "document", "always", "document"),
            cond("route", "long", "loud"),
            data("loud", "text", "count", "text"),
            data("count", "n", "count_out", "document"),
            data("loud", "text", "loud_out", "document"),
        ],
    }
    long = run_flow(flow, "abcdefgh", allowed_code=ALLOWED)
    assert long.outputs == {"loud_out": "ABCDEFGH", "count_out": 8, "always": "abcdefgh"}
    short = run_flow(flow, "abc", allowed_code=ALLOWED)
    assert short.outputs == {"always": "abc"}
    ran = {e.node for e in short.events if e.kind == "node_output"}
    assert ran == {"in", "route", "always"}
    assert steps.calls == ["abcdefgh"]


def test_nested_iterators_gather_inner_then_outer(steps: Steps) -> None:
    def iterator(name: str, item: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": "Iterator",
            "inputs": [{"name": "array", "type": "Array"}],
            "outputs": [
                {"name": "arrayItem", "type": item},
                {"name": "arraySize", "type": "Number"},
            ],
        }

    def collector(name: str, item: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": "Collector",
            "inputs": [
                {"name": "arrayItem", "type": item},
                {"name": "arraySize", "type": "Number"},
            ],
            "outputs": [{"name": "collectedArray", "type": "Array"}],
        }

    flow = {
        "name": "grid",
        "nodes": [
            entry("Array"),
            iterator("rows", "Array"),
            iterator("cells", "String"),
            code("up", "shout", {"text": "String"}, {"text": "String"}),
            collector("row", "String"),
            collector("table", "Array"),
            exit_("out", "Array"),
        ],
        "connections": [
            data("in", "document", "rows", "array"),
            data("rows", "arrayItem", "cells", "array"),
            data("cells", "arrayItem", "up", "text"),
            data("up", "text", "row", "arrayItem"),
            data("cells", "arraySize", "row", "arraySize"),
            data("row", "collectedArray", "table", "arrayItem"),
            data("rows", "arraySize", "table", "arraySize"),
            data("table", "collectedArray", "out", "document"),
        ],
    }
    grid = [["a", "b"], [], ["c"]]
    result = run_flow(flow, grid, allowed_code=ALLOWED)
    assert result.outputs == {"out": [["A", "B"], [], ["C"]]}
    names = [e.node for e in result.events if e.kind == "node_output"]
    assert "up[0][1]" in names and "row[2]" in names and "table" in names


def test_events_stream_while_the_flow_is_still_running(steps: Steps) -> None:
    flow = {
        "name": "slow",
        "nodes": [entry("String"), code("hold", "wait", {"text": "String"}, {"text": "String"})]
        + [exit_("out", "String")],
        "connections": [
            data("in", "document", "hold", "text"),
            data("hold", "text", "out", "document"),
        ],
    }
    events = stream_flow(flow, "x", allowed_code=ALLOWED)
    seen = []
    for event in events:
        seen.append(event)
        if event.kind == "node_input" and event.node == "hold":
            # The node has not finished: it waits for this very release.
            assert not steps.release.is_set()
            steps.release.set()
    assert [e.kind for e in seen] == [
        "flow_start",
        "node_input",
        "node_output",
        "node_input",
        "node_output",
        "node_input",
        "node_output",
        "flow_output",
        "flow_end",
    ]
    assert seen[-1].data["outputs"] == {"out": "x"}


def test_every_run_is_stored_as_a_trace_with_its_events(steps: Steps) -> None:
    flow = {
        "name": "traced",
        "nodes": [entry("String"), code("up", "shout", {"text": "String"}, {"text": "String"})]
        + [exit_("out", "String")],
        "connections": [
            data("in", "document", "up", "text"),
            data("up", "text", "out", "document"),
        ],
    }
    result = run_flow(flow, "hi", allowed_code=ALLOWED)
    trace = get_trace(result.run_id)
    assert trace.status == "succeeded" and trace.flow_name == "traced"
    assert trace.inputs == "hi" and trace.outputs == {"out": "HI"}
    assert [(e.kind, e.node, e.data) for e in trace.events] == [
        (e.kind, e.node, e.data) for e in result.events
    ]
    broken = dict(
        flow,
        nodes=[
            flow["nodes"][0],
            code("up", "length", {"text": "String"}, {"text": "String"}),
            flow["nodes"][2],
        ],
    )
    with pytest.raises(FlowRunError, match="declared String") as info:
        run_flow(broken, "hi", allowed_code=ALLOWED, run_id="bad-run")
    assert info.value.node == "up" and info.value.run_id == "bad-run"
    failed = get_trace("bad-run")
    assert failed.status == "failed" and "declared String" in (failed.error or "")
    assert failed.events[-1].kind == "error" and failed.events[-1].node == "up"
    untraced = run_flow(flow, "x", allowed_code=ALLOWED, trace=False)
    with pytest.raises(Exception, match=untraced.run_id):
        get_trace(untraced.run_id)


def test_a_consumer_that_stops_reading_cancels_the_run(steps: Steps) -> None:
    flow = {
        "name": "stopped",
        "nodes": [entry("String"), code("up", "shout", {"text": "String"}, {"text": "String"})]
        + [exit_("out", "String")],
        "connections": [
            data("in", "document", "up", "text"),
            data("up", "text", "out", "document"),
        ],
    }
    events = stream_flow(flow, "hi", allowed_code=ALLOWED, run_id="stopped-run")
    first = next(events)
    assert first.kind == "flow_start"
    events.close()
    trace = get_trace("stopped-run")
    assert trace.status in ("cancelled", "succeeded")  # the worker may finish first
    if trace.status == "cancelled":
        assert trace.outputs is None


def _pipeline() -> dict[str, Any]:
    """A flow using a condition, an iterator, a collector and code, for the metamorphic test."""
    conditions = [{"name": "many", "expression": "size >= 3"}, {"name": "few"}]
    return {
        "name": "pipeline",
        "nodes": [
            entry("Array"),
            {
                "name": "each",
                "type": "Iterator",
                "inputs": [{"name": "array", "type": "Array"}],
                "outputs": [
                    {"name": "arrayItem", "type": "String"},
                    {"name": "arraySize", "type": "Number"},
                ],
            },
            code("up", "shout", {"text": "String"}, {"text": "String"}),
            {
                "name": "gather",
                "type": "Collector",
                "inputs": [
                    {"name": "arrayItem", "type": "String"},
                    {"name": "arraySize", "type": "Number"},
                ],
                "outputs": [{"name": "collectedArray", "type": "Array"}],
            },
            {
                "name": "size",
                "type": "Condition",
                "inputs": [{"name": "size", "type": "Number"}],
                "configuration": {"conditions": conditions},
            },
            exit_("loud", "Array"),
            exit_("count", "Number"),
        ],
        "connections": [
            data("in", "document", "each", "array"),
            data("each", "arrayItem", "up", "text"),
            data("up", "text", "gather", "arrayItem"),
            data("each", "arraySize", "gather", "arraySize"),
            data("each", "arraySize", "size", "size"),
            data("gather", "collectedArray", "loud", "document"),
            cond("size", "many", "loud"),
            data("each", "arraySize", "count", "document"),
        ],
    }


def _renamed(flow: dict[str, Any], names: dict[str, str], rng: random.Random) -> dict[str, Any]:
    nodes = [dict(node, name=names[node["name"]]) for node in flow["nodes"]]
    connections = [
        dict(c, source=names[c["source"]], target=names[c["target"]]) for c in flow["connections"]
    ]
    rng.shuffle(nodes)
    rng.shuffle(connections)
    return {"name": flow["name"], "nodes": nodes, "connections": connections}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("words", [["a", "bb", "ccc"], ["x"], []])
def test_renaming_nodes_and_reordering_the_document_does_not_change_outputs(
    steps: Steps, seed: int, words: list[str]
) -> None:
    rng = random.Random(seed)
    flow = _pipeline()
    original = run_flow(flow, words, allowed_code=ALLOWED, trace=False)
    names = {node["name"]: f"n{rng.randrange(10**6)}_{i}" for i, node in enumerate(flow["nodes"])}
    shuffled = _renamed(flow, names, rng)
    result = run_flow(load_flow(shuffled), words, allowed_code=ALLOWED, trace=False)
    assert result.outputs == {names[k]: v for k, v in original.outputs.items()}
    assert ("loud" in original.outputs) == (len(words) >= 3)


def test_stream_flow_checks_the_flow_and_inputs_at_the_call(steps: Steps) -> None:
    from tessera.errors import InvalidInputError
    from tessera.llm.flows import FlowValidationError, list_traces

    flow = {
        "name": "checked",
        "nodes": [entry("String"), exit_("out", "String")],
        "connections": [data("in", "document", "out", "document")],
    }
    with pytest.raises(InvalidInputError, match="declares its document String"):
        stream_flow(flow, 42)
    broken = dict(flow, connections=[])
    with pytest.raises(FlowValidationError, match="no data connection feeds this input"):
        stream_flow(broken, "x")
    unread = stream_flow(flow, "x", run_id="never-read")
    assert all(t.run_id != "never-read" for t in list_traces())
    assert [e.kind for e in unread][-1] == "flow_end"
    assert get_trace("never-read").status == "succeeded"
