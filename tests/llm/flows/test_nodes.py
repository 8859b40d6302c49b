"""One test per built-in node type, run through real flows (Prompt/Model on the tiny Llama)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tessera.errors import InvalidInputError
from tessera.llm.flows import (
    FlowRunError,
    NodeSpec,
    NodeType,
    RunContext,
    get_node_type,
    load_flow,
    node_types,
    register_node_type,
    run_flow,
    validate_flow,
)
from tessera.llm.flows import _nodes as nodes_module
from tessera.llm.flows import (
    conditional_connection as cond,
)
from tessera.llm.flows import (
    data_connection as data,
)

STEPS = "tessera_test_flow_steps"


def entry(kind: str = "Object") -> dict[str, Any]:
    return {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": kind}]}


def exit_(name: str, kind: str, expression: str = "$.data") -> dict[str, Any]:
    port = {"name": "document", "type": kind, "expression": expression}
    return {"name": name, "type": "Output", "inputs": [port]}


def generating(node_type: str, configuration: dict[str, Any], port: str) -> dict[str, Any]:
    """in (String) -> a Prompt or Model node "gen" fed on ``port`` -> Output "out"."""
    return {
        "name": f"{node_type.lower()}-flow",
        "nodes": [
            entry("String"),
            {
                "name": "gen",
                "type": node_type,
                "configuration": configuration,
                "inputs": [{"name": port, "type": "String"}],
                "outputs": [{"name": "modelCompletion", "type": "String"}],
            },
            exit_("out", "String"),
        ],
        "connections": [
            data("in", "document", "gen", port),
            data("gen", "modelCompletion", "out", "document"),
        ],
    }


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A real importable module of step functions for Code nodes."""
    module = types.ModuleType(STEPS)

    def stats(values: list[float]) -> dict[str, Any]:
        return {"total": sum(values), "count": len(values)}

    def increment(n: int, step: int) -> dict[str, Any]:
        return {"n": n + step}

    def broken(text: str) -> str:
        raise RuntimeError(f"cannot handle {text!r}")

    module.stats = stats  # type: ignore[attr-defined]
    module.increment = increment  # type: ignore[attr-defined]
    module.broken = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, STEPS, module)
    return module


def test_registry_lists_every_builtin_type() -> None:
    expected = {"Code", "Collector", "Condition", "DoWhile", "Input", "Iterator", "Model"}
    assert expected | {"Output", "Prompt"} <= set(node_types())


def test_input_and_output_pass_the_document_through_with_its_type_checked() -> None:
    flow = {
        "name": "echo",
        "nodes": [entry("Object"), exit_("out", "String", "$.data.text")],
        "connections": [data("in", "document", "out", "document")],
    }
    assert run_flow(flow, {"text": "hello"}).outputs == {"out": "hello"}
    with pytest.raises(FlowRunError, match="declared String") as info:
        run_flow(flow, {"text": 3})
    assert info.value.node == "out"
    with pytest.raises(InvalidInputError, match="inputs=.*declares its document Object"):
        run_flow(flow, ["not", "an", "object"])


def _routing_flow() -> dict[str, Any]:
    conditions = [
        {"name": "big", "expression": "n > 100"},
        {"name": "positive", "expression": "n > 0"},
        {"name": "otherwise"},
    ]
    return {
        "name": "route",
        "nodes": [
            entry("Number"),
            {
                "name": "route",
                "type": "Condition",
                "inputs": [{"name": "n", "type": "Number"}],
                "configuration": {"conditions": conditions},
            },
            exit_("big", "Number"),
            exit_("positive", "Number"),
            exit_("other", "Number"),
        ],
        "connections": [
            data("in", "document", "route", "n"),
            *(data("in", "document", out, "document") for out in ("big", "positive", "other")),
            cond("route", "big", "big"),
            cond("route", "positive", "positive"),
            cond("route", "otherwise", "other"),
        ],
    }


@pytest.mark.parametrize(("n", "fired"), [(500, "big"), (5, "positive"), (-1, "other")])
def test_condition_fires_the_first_true_condition_in_order_else_the_default(
    n: int, fired: str
) -> None:
    result = run_flow(_routing_flow(), n)
    assert result.outputs == {fired: n}
    chosen = [e.data["condition"] for e in result.events if e.kind == "condition"]
    assert chosen == [{"big": "big", "positive": "positive", "other": "otherwise"}[fired]]


def test_condition_that_is_not_boolean_fails_naming_the_node() -> None:
    flow = _routing_flow()
    flow["nodes"][1]["configuration"]["conditions"][0]["expression"] = "n + 1"
    with pytest.raises(FlowRunError, match="not a boolean") as info:
        run_flow(flow, 3)
    assert info.value.node == "route"


def test_iterator_and_collector_map_over_an_array_and_gather_in_order(
    steps: types.ModuleType,
) -> None:
    flow = {
        "name": "squares",
        "nodes": [
            entry("Array"),
            {
                "name": "each",
                "type": "Iterator",
                "inputs": [{"name": "array", "type": "Array"}],
                "outputs": [
                    {"name": "arrayItem", "type": "Object"},
                    {"name": "arraySize", "type": "Number"},
                ],
            },
            {
                "name": "add",
                "type": "Code",
                "configuration": {"function": f"{STEPS}:increment"},
                "inputs": [
                    {"name": "n", "type": "Number", "expression": "$.data.n"},
                    {"name": "step", "type": "Number", "expression": "$.data.step"},
                ],
                "outputs": [{"name": "state", "type": "Object"}],
            },
            {
                "name": "gather",
                "type": "Collector",
                "inputs": [
                    {"name": "arrayItem", "type": "Number", "expression": "$.data.n"},
                    {"name": "arraySize", "type": "Number"},
                ],
                "outputs": [{"name": "collectedArray", "type": "Array"}],
            },
            exit_("out", "Array"),
        ],
        "connections": [
            data("in", "document", "each", "array"),
            data("each", "arrayItem", "add", "n"),
            data("each", "arrayItem", "add", "step"),
            data("add", "state", "gather", "arrayItem"),
            data("each", "arraySize", "gather", "arraySize"),
            data("gather", "collectedArray", "out", "document"),
        ],
    }
    items = [{"n": i * 10, "step": i} for i in range(5)]
    result = run_flow(flow, items, allowed_code=[f"{STEPS}:increment"])
    assert result.outputs == {"out": [i * 11 for i in range(5)]}
    per_item = [e.node for e in result.events if e.kind == "node_output" and e.node]
    assert [n for n in per_item if n.startswith("add")] == [f"add[{i}]" for i in range(5)]
    assert run_flow(flow, [], allowed_code=[f"{STEPS}:increment"]).outputs == {"out": []}
    with pytest.raises(FlowRunError, match="item 1") as info:
        run_flow(flow, [items[0], "not an object"], allowed_code=[f"{STEPS}:increment"])
    assert info.value.node == "each"


def test_model_node_generates_with_the_named_backend(tiny_llama: Any) -> None:
    from tessera.llm.backends import GenerationParams, get_backend

    model = f"tessera:{tiny_llama.folder}"
    flow = generating(
        "Model", {"model": model, "params": {"max_tokens": 6}, "system": "be one"}, "prompt"
    )
    result = run_flow(flow, "the cat is")
    direct = get_backend(model).chat(
        [{"role": "system", "content": "be one"}, {"role": "user", "content": "the cat is"}],
        GenerationParams(max_tokens=6),
    )
    assert result.outputs["out"] == direct.text
    assert direct.completion_tokens > 0


def test_prompt_node_renders_an_inline_chat_prompt_and_runs_its_variant(tiny_llama: Any) -> None:
    from tessera.llm.backends import GenerationParams, get_backend

    model = f"tessera:{tiny_llama.folder}"
    body = {
        "type": "chat",
        "system": "answer {{style}}",
        "messages": [{"role": "user", "content": "what is a {{animal}}"}],
        "variables": {"animal": {}, "style": {"default": "simply"}},
        "variants": [
            {"name": "long", "model": model, "max_tokens": 12},
            {"name": "short", "model": model, "max_tokens": 3},
        ],
    }
    flow = {
        "name": "ask",
        "nodes": [
            entry("Object"),
            {
                "name": "ask",
                "type": "Prompt",
                "configuration": {"inline": body, "variant": "short"},
                "inputs": [{"name": "animal", "type": "String", "expression": "$.data.animal"}],
                "outputs": [{"name": "modelCompletion", "type": "String"}],
            },
            exit_("out", "String"),
        ],
        "connections": [
            data("in", "document", "ask", "animal"),
            data("ask", "modelCompletion", "out", "document"),
        ],
    }
    result = run_flow(flow, {"animal": "dog"})
    direct = get_backend(model).chat(
        [
            {"role": "system", "content": "answer simply"},
            {"role": "user", "content": "what is a dog"},
        ],
        GenerationParams(max_tokens=3),
    )
    assert result.outputs["out"] == direct.text
    # The prompt's variables are checked statically: an input it lacks, a variable unfed.
    flow["nodes"][1]["inputs"] = [{"name": "colour", "type": "String"}]
    where = {(p.node, p.field) for p in validate_flow(flow)}
    assert {("ask", "inputs.colour"), ("ask", "inputs.animal")} <= where


def test_prompt_node_resolves_a_registry_label_when_the_flow_runs(
    tiny_llama: Any, tmp_path: Path
) -> None:
    from tessera.llm.prompts import PromptRegistry

    model = f"tessera:{tiny_llama.folder}"
    registry = PromptRegistry(tmp_path / "prompts.db")
    body: dict[str, Any] = {
        "type": "text",
        "text": "explain the {{topic}}",
        "variables": {"topic": {}},
        "variants": [{"model": model, "max_tokens": 2}],
    }
    registry.create("explain", body)
    registry.commit("explain", "two tokens")
    body["variants"][0]["max_tokens"] = 9
    registry.update_draft("explain", body)
    registry.commit("explain", "nine tokens")
    registry.set_label("explain", "production", 1)
    flow = generating("Prompt", {"prompt": "explain@production"}, "topic")
    first = run_flow(flow, "sun", registry=registry).outputs["out"]
    assert first == registry.run("explain@1", {"topic": "sun"})[0].text
    registry.set_label("explain", "production", 2)
    second = run_flow(flow, "sun", registry=registry).outputs["out"]
    assert second == registry.run("explain@2", {"topic": "sun"})[0].text
    flow["nodes"][1]["configuration"] = {"prompt": "explain@@x"}
    assert [(p.node, p.field) for p in validate_flow(flow)] == [("gen", "configuration.prompt")]
    flow["nodes"][1]["configuration"] = {"prompt": "missing@production"}
    with pytest.raises(FlowRunError, match="missing") as info:
        run_flow(flow, "sun", registry=registry)
    assert info.value.node == "gen"


def test_code_node_calls_an_allow_listed_function_with_inputs_as_keywords(
    steps: types.ModuleType,
) -> None:
    flow = {
        "name": "code",
        "nodes": [
            entry("Array"),
            {
                "name": "stats",
                "type": "Code",
                "configuration": {"function": f"{STEPS}:stats"},
                "inputs": [{"name": "values", "type": "Array"}],
                "outputs": [
                    {"name": "total", "type": "Number"},
                    {"name": "count", "type": "Number"},
                ],
            },
            {
                "name": "dump",
                "type": "Code",
                "configuration": {"function": "json:dumps"},
                "inputs": [{"name": "obj", "type": "Array"}],
                "outputs": [{"name": "text", "type": "String"}],
            },
            exit_("total", "Number"),
            exit_("text", "String"),
        ],
        "connections": [
            data("in", "document", "stats", "values"),
            data("in", "document", "dump", "obj"),
            data("stats", "total", "total", "document"),
            data("dump", "text", "text", "document"),
        ],
    }
    allowed = [f"{STEPS}:stats", "json:dumps"]
    result = run_flow(flow, [1.5, 2.5, 4], allowed_code=allowed)
    assert result.outputs == {"total": 8.0, "text": json.dumps([1.5, 2.5, 4])}
    refused = {(p.node, p.field) for p in validate_flow(flow, allowed_code=["json:dumps"])}
    assert refused == {("stats", "configuration.function")}
    # The runner checks the allow-list again when the node runs (defence in depth).
    spec = load_flow(flow)
    node = spec.node("dump")
    assert node is not None
    code = get_node_type("Code")
    assert code is not None
    with pytest.raises(InvalidInputError, match="not in the allow-list"):
        code.run(node, {"obj": [1]}, RunContext(run_id="x", flow=spec))


def test_code_node_failure_is_an_error_event_and_a_flow_run_error(
    steps: types.ModuleType,
) -> None:
    from tessera.llm.flows import stream_flow

    flow = {
        "name": "boom",
        "nodes": [
            entry("String"),
            {
                "name": "fail",
                "type": "Code",
                "configuration": {"function": f"{STEPS}:broken"},
                "inputs": [{"name": "text", "type": "String"}],
                "outputs": [{"name": "text", "type": "String"}],
            },
            exit_("out", "String"),
        ],
        "connections": [
            data("in", "document", "fail", "text"),
            data("fail", "text", "out", "document"),
        ],
    }
    seen = []
    with pytest.raises(FlowRunError, match="cannot handle 'x'") as info:
        for event in stream_flow(flow, "x", allowed_code=[f"{STEPS}:broken"]):
            seen.append(event)
    assert info.value.node == "fail"
    assert seen[-1].kind == "error" and seen[-1].node == "fail"
    assert seen[-1].data["type"] == "RuntimeError"


def _loop_flow(exit_when: str, max_iterations: int) -> dict[str, Any]:
    body = {
        "name": "body",
        "nodes": [
            entry("Object"),
            {
                "name": "add",
                "type": "Code",
                "configuration": {"function": f"{STEPS}:increment"},
                "inputs": [
                    {"name": "n", "type": "Number", "expression": "$.data.n"},
                    {"name": "step", "type": "Number", "expression": "$.data.step"},
                ],
                "outputs": [{"name": "state", "type": "Object"}],
            },
            exit_("next", "Object"),
        ],
        "connections": [
            data("in", "document", "add", "n"),
            data("in", "document", "add", "step"),
            data("add", "state", "next", "document"),
        ],
    }
    return {
        "name": "loop",
        "nodes": [
            entry("Object"),
            {
                "name": "loop",
                "type": "DoWhile",
                "configuration": {
                    "body": body,
                    "maxIterations": max_iterations,
                    "exitWhen": exit_when,
                },
                "inputs": [
                    {"name": "n", "type": "Number", "expression": "$.data.start"},
                    {"name": "step", "type": "Number", "expression": "$.data.step"},
                ],
                "outputs": [
                    {"name": "n", "type": "Number"},
                    {"name": "iterations", "type": "Number"},
                ],
            },
            exit_("n", "Number"),
            exit_("iterations", "Number"),
        ],
        "connections": [
            data("in", "document", "loop", "n"),
            data("in", "document", "loop", "step"),
            data("loop", "n", "n", "document"),
            data("loop", "iterations", "iterations", "document"),
        ],
    }


@pytest.mark.parametrize(
    ("exit_when", "max_iterations", "expected"),
    [("n >= 10", 100, (12, 4)), ("n >= 10", 2, (6, 2)), ("iteration == 1", 5, (3, 1))],
)
def test_do_while_runs_its_body_until_the_exit_condition_or_the_cap(
    steps: types.ModuleType, exit_when: str, max_iterations: int, expected: tuple[int, int]
) -> None:
    flow = _loop_flow(exit_when, max_iterations)
    result = run_flow(flow, {"start": 0, "step": 3}, allowed_code=[f"{STEPS}:increment"])
    assert (result.outputs["n"], result.outputs["iterations"]) == expected
    body_runs = [e.node for e in result.events if e.kind == "node_output" and e.node]
    assert [n for n in body_runs if n.endswith("/add")] == [
        f"loop[{i}]/add" for i in range(1, expected[1] + 1)
    ]
    # Body problems are reported with the loop's name in front, and need the allow-list too.
    where = {(p.node, p.field) for p in validate_flow(flow)}
    assert ("loop/add", "configuration.function") in where


def test_a_new_node_type_plugs_in_without_editing_the_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import BaseModel

    monkeypatch.setattr(nodes_module, "_REGISTRY", dict(nodes_module._REGISTRY))

    class RedactConfiguration(BaseModel):
        words: list[str]

    @register_node_type
    class Redact(NodeType):
        type_name: ClassVar[str] = "Redact"
        configuration_model = RedactConfiguration
        required_inputs: ClassVar[dict[str, str]] = {"text": "String"}
        required_outputs: ClassVar[dict[str, str]] = {"text": "String"}

        def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
            text = inputs["text"]
            for word in self.configuration(node).words:
                text = text.replace(word, "*" * len(word))
            return {"text": text}

    flow = {
        "name": "redact",
        "nodes": [
            entry("String"),
            {
                "name": "hide",
                "type": "Redact",
                "configuration": {"words": ["secret"]},
                "inputs": [{"name": "text", "type": "String"}],
                "outputs": [{"name": "text", "type": "String"}],
            },
            exit_("out", "String"),
        ],
        "connections": [
            data("in", "document", "hide", "text"),
            data("hide", "text", "out", "document"),
        ],
    }
    assert run_flow(flow, "my secret plan").outputs == {"out": "my ****** plan"}
    flow["nodes"][1]["configuration"] = {"words": "secret"}
    assert [(p.node, p.field) for p in validate_flow(flow)] == [("hide", "configuration.words")]
    with pytest.raises(InvalidInputError, match="type_name"):

        @register_node_type
        class Nameless(NodeType):
            pass


def test_model_node_without_a_model_runs_the_embedded_default(
    default_runtime: Any, tessera_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.llm.backends import GenerationParams, get_backend

    # The session home holds the converted default model; a fresh home would convert again.
    monkeypatch.setenv("TESSERA_HOME", str(tessera_home))

    flow = generating("Model", {"params": {"max_tokens": 4}}, "prompt")
    text = run_flow(flow, "Name a colour.", trace=False).outputs["out"]
    direct = get_backend(None).chat(
        [{"role": "user", "content": "Name a colour."}], GenerationParams(max_tokens=4)
    )
    assert text == direct.text and text.strip()
