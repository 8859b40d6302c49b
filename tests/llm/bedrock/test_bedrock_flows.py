"""Bedrock flows (CreateFlow definitions) imported, run and exported (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tessera.llm.bedrock import Bindings, flow_from_bedrock, flow_to_bedrock
from tessera.llm.flows import FlowValidationError, run_flow, validate_flow

DATA = Path(__file__).parent / "data"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


def test_condition_flow_round_trips_and_runs() -> None:
    source = fixture("flow_condition.json")
    flow = flow_from_bedrock(source)
    assert validate_flow(flow) == []
    assert flow_to_bedrock(flow) == source
    flagged = run_flow(
        flow, {"item": "mango", "retailPrice": 12, "marketPrice": 9, "type": "produce"}
    )
    assert flagged.outputs == {"Flagged": "mango"}
    fine = run_flow(
        flow,
        trace=False,
        inputs={"item": "soap", "retailPrice": 12, "marketPrice": 9, "type": "home"},
    )
    assert fine.outputs == {"Fine": "soap"}


def test_playlist_flow_round_trips_and_runs(tiny_llama: Any) -> None:
    source = fixture("flow_playlist.json")
    bindings = Bindings(models={"amazon.titan-text-express-v1": f"tessera:{tiny_llama.folder}"})
    flow = flow_from_bedrock(source, bindings=bindings)
    assert validate_flow(flow) == []
    assert flow_to_bedrock(flow, bindings=bindings) == source
    result = run_flow(flow, {"genre": "jazz", "number": 3}, trace=False)
    assert isinstance(result.outputs["FlowOutputNode"], str)


def test_missing_bindings_name_the_node_and_the_field() -> None:
    body = fixture("flow_playlist.json")
    nodes = body["definition"]["nodes"]
    nodes.append(
        {
            "type": "KnowledgeBase",
            "name": "Faq",
            "configuration": {"knowledgeBase": {"knowledgeBaseId": "KB12345678"}},
            "inputs": [{"name": "retrievalQuery", "type": "String", "expression": "$.data"}],
            "outputs": [{"name": "retrievalResults", "type": "Array"}],
        }
    )
    nodes.append(
        {
            "type": "LambdaFunction",
            "name": "Route",
            "configuration": {
                "lambdaFunction": {
                    "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:route"
                }
            },
            "inputs": [{"name": "codeHookInput", "type": "String", "expression": "$.data"}],
            "outputs": [{"name": "functionResponse", "type": "String"}],
        }
    )
    nodes.append(
        {"type": "Agent", "name": "Helper", "configuration": {"agent": {"agentAliasArn": "arn:x"}}}
    )
    with pytest.raises(FlowValidationError) as caught:
        flow_from_bedrock(body)
    where = {(p.node, p.field) for p in caught.value.problems}
    assert ("MakePlaylist", "configuration.prompt.sourceConfiguration.inline.modelId") in where
    assert ("Faq", "configuration.knowledgeBase.knowledgeBaseId") in where
    assert ("Route", "configuration.lambdaFunction.lambdaArn") in where
    # An Agent runs locally only as the ask-user behaviour, through a binding.
    assert ("Helper", "configuration.agent.agentAliasArn") in where
    assert "Bedrock agents do not run locally" in str(caught.value)
    assert "ask-user" in str(caught.value)


def test_knowledge_base_and_s3_nodes_map_through_bindings(tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    faq.mkdir()
    (faq / "billing.md").write_text("# Refunds\nRefunds take five days.\n", encoding="utf-8")
    store = tmp_path / "store"
    store.mkdir()
    bindings = Bindings(knowledge_bases={"KB12345678": str(faq)}, s3={"s3://notes": str(store)})
    body = {
        "name": "KbFlow",
        "definition": {
            "nodes": [
                {
                    "type": "Input",
                    "name": "In",
                    "configuration": {"input": {}},
                    "outputs": [{"name": "document", "type": "String"}],
                },
                {
                    "type": "KnowledgeBase",
                    "name": "Faq",
                    "configuration": {
                        "knowledgeBase": {"knowledgeBaseId": "KB12345678", "numberOfResults": 1}
                    },
                    "inputs": [
                        {"name": "retrievalQuery", "type": "String", "expression": "$.data"}
                    ],
                    "outputs": [{"name": "retrievalResults", "type": "Array"}],
                },
                {
                    "type": "Storage",
                    "name": "Save",
                    "configuration": {
                        "storage": {"serviceConfiguration": {"s3": {"bucketName": "notes"}}}
                    },
                    "inputs": [
                        {"name": "content", "type": "Array", "expression": "$.data"},
                        {"name": "objectKey", "type": "String", "expression": "$.data"},
                    ],
                    "outputs": [{"name": "s3Uri", "type": "String"}],
                },
                {
                    "type": "Output",
                    "name": "Out",
                    "configuration": {"output": {}},
                    "inputs": [{"name": "document", "type": "String", "expression": "$.data"}],
                },
            ],
            "connections": [
                {
                    "name": "a",
                    "source": "In",
                    "target": "Faq",
                    "type": "Data",
                    "configuration": {
                        "data": {"sourceOutput": "document", "targetInput": "retrievalQuery"}
                    },
                },
                {
                    "name": "b",
                    "source": "Faq",
                    "target": "Save",
                    "type": "Data",
                    "configuration": {
                        "data": {"sourceOutput": "retrievalResults", "targetInput": "content"}
                    },
                },
                {
                    "name": "c",
                    "source": "In",
                    "target": "Save",
                    "type": "Data",
                    "configuration": {
                        "data": {"sourceOutput": "document", "targetInput": "objectKey"}
                    },
                },
                {
                    "name": "d",
                    "source": "Save",
                    "target": "Out",
                    "type": "Data",
                    "configuration": {"data": {"sourceOutput": "s3Uri", "targetInput": "document"}},
                },
            ],
        },
    }
    flow = flow_from_bedrock(body, bindings=bindings)
    assert [n.type for n in flow.nodes] == ["Input", "Retrieval", "Storage", "Output"]
    assert flow.node("Save").input("key") is not None
    assert flow_to_bedrock(flow, bindings=bindings) == body
    result = run_flow(
        flow,
        {"document": "refunds"} and "refunds",
        retrieval_roots=[tmp_path],
        storage_roots=[tmp_path],
    )
    assert result.outputs["Out"].endswith("refunds.json")


def test_cli_flows_import_export_delete_and_shipped_names(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tessera.cli import (
        _flows,  # noqa: F401  (registers the commands)
        app,
    )

    runner = CliRunner()
    db = str(tmp_path / "t.db")
    flow_file = tmp_path / "price.yaml"
    imported = runner.invoke(
        app, ["flows", "import", str(DATA / "flow_condition.json"), "-o", str(flow_file)]
    )
    assert imported.exit_code == 0, imported.output
    saved = runner.invoke(app, ["flows", "save", str(flow_file), "--db", db])
    assert saved.exit_code == 0, saved.output
    out = tmp_path / "out.json"
    exported = runner.invoke(app, ["flows", "export", "PriceCheck", "-o", str(out), "--db", db])
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text(encoding="utf-8")) == fixture("flow_condition.json")
    deleted = runner.invoke(app, ["flows", "delete", "PriceCheck", "--db", db])
    assert deleted.exit_code == 0, deleted.output
    from tessera.llm.flows import FlowRegistry

    assert "PriceCheck" not in FlowRegistry(db).names()
    # A copy of a shipped example is refused unless --replace says so.
    from tessera.llm.flows.examples import support_flow_path

    copy = tmp_path / "support-ticket.yaml"
    copy.write_text(support_flow_path().read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "faq").symlink_to(support_flow_path().parent.parent / "faq")
    refused = runner.invoke(app, ["flows", "save", str(copy), "--db", db])
    assert refused.exit_code == 1 and "shipped" in refused.output
    # Missing bindings: one line per problem, naming the node and the field.
    unbound = runner.invoke(
        app, ["flows", "import", str(DATA / "flow_playlist.json"), "-o", str(tmp_path / "p.yaml")]
    )
    assert unbound.exit_code == 1
    assert "MakePlaylist" in unbound.output and "modelId" in unbound.output


def test_cli_validate_reports_a_missing_knowledge_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tessera.cli import (
        _flows,  # noqa: F401
        app,
    )

    flow = {
        "name": "kb",
        "nodes": [
            {"name": "q", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "search",
                "type": "Retrieval",
                "configuration": {"folder": "nowhere"},
                "inputs": [{"name": "retrievalQuery", "type": "String"}],
                "outputs": [{"name": "retrievalResults", "type": "Array"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "Array"}]},
        ],
        "connections": [
            {
                "type": "Data",
                "source": "q",
                "target": "search",
                "configuration": {
                    "data": {"sourceOutput": "document", "targetInput": "retrievalQuery"}
                },
            },
            {
                "type": "Data",
                "source": "search",
                "target": "out",
                "configuration": {
                    "data": {"sourceOutput": "retrievalResults", "targetInput": "document"}
                },
            },
        ],
    }
    path = tmp_path / "kb.json"
    path.write_text(json.dumps(flow), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["flows", "validate", str(path), "--retrieval-root", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "does not exist" in " ".join(result.output.split())


INLINE = ["tessera.llm.flows.inline:python"]


def _loop_flow(**controller: Any) -> dict[str, Any]:
    """The CountUp fixture, its LoopController's configuration updated."""
    source = fixture("flow_loop.json")
    loop = source["definition"]["nodes"][1]["configuration"]["loop"]["definition"]
    loop["nodes"][2]["configuration"]["loopController"].update(controller)
    return source


def test_loop_flow_round_trips_and_runs_until_its_condition() -> None:
    source = fixture("flow_loop.json")
    flow = flow_from_bedrock(source)
    assert validate_flow(flow, allowed_code=INLINE) == []
    assert flow_to_bedrock(flow) == source
    counted = run_flow(flow, 0, allowed_code=INLINE)
    assert counted.outputs == {"FlowOutput": 5}
    # Every iteration ran the body once, and the loop stopped when value < 5 was false.
    steps = [e.node for e in counted.events if e.kind == "node_output" and "/Step" in str(e.node)]
    assert steps == [f"Counter[{i}]/Step" for i in range(1, 6)]
    # A do-while: the body runs once even when the condition is false from the start.
    assert run_flow(flow, 41, allowed_code=INLINE, trace=False).outputs == {"FlowOutput": 42}


def test_loop_stops_at_max_iterations_and_says_so() -> None:
    flow = flow_from_bedrock(_loop_flow(maxIterations=3))
    run = run_flow(flow, 0, allowed_code=INLINE)
    assert run.outputs == {"FlowOutput": 3}
    bound = [e for e in run.events if e.kind == "condition" and e.node == "Counter"]
    assert [e.data for e in bound] == [{"condition": "maxIterations", "iterations": 3}]
    # Without maxIterations Bedrock's default, 10, holds.
    unbounded = _loop_flow(continueCondition={"name": "more", "expression": "value > 0"})
    del unbounded["definition"]["nodes"][1]["configuration"]["loop"]["definition"]["nodes"][2][
        "configuration"
    ]["loopController"]["maxIterations"]
    flow = flow_from_bedrock(unbounded)
    assert flow_to_bedrock(flow) == unbounded
    assert run_flow(flow, 0, allowed_code=INLINE, trace=False).outputs == {"FlowOutput": 10}


@pytest.mark.parametrize("bad", [0, 1001, "10", 2.5, True])
def test_loop_max_iterations_outside_bedrock_range_names_node_and_field(bad: Any) -> None:
    flow = flow_from_bedrock(_loop_flow(maxIterations=bad))
    problems = validate_flow(flow, allowed_code=INLINE)
    assert [(p.node, p.field) for p in problems] == [
        ("Counter/Check", "configuration.maxIterations")
    ]
    assert repr(bad) in problems[0].message
    with pytest.raises(FlowValidationError, match="Counter/Check"):
        run_flow(flow, 0, allowed_code=INLINE)


def test_loop_definition_problems_name_the_inner_node() -> None:
    source = _loop_flow(continueCondition={"name": "more", "expression": "nothing < 5"})
    problems = validate_flow(flow_from_bedrock(source), allowed_code=INLINE)
    assert [(p.node, p.field) for p in problems] == [
        ("Counter/Check", "configuration.continueCondition.expression")
    ]
    # An inner InlineCode node still needs the operator's opt-in, named inside the loop.
    problems = validate_flow(flow_from_bedrock(fixture("flow_loop.json")))
    assert [(p.node, p.field) for p in problems] == [("Counter/Step", "type")]
    # No LoopController; a ReturnValueToLoopStart input that updates no loop variable.
    source = fixture("flow_loop.json")
    inner = source["definition"]["nodes"][1]["configuration"]["loop"]["definition"]
    inner["nodes"][2]["inputs"][1]["name"] = "counter"
    inner["connections"][2]["configuration"]["data"]["targetInput"] = "counter"
    problems = validate_flow(flow_from_bedrock(source), allowed_code=INLINE)
    assert [(p.node, p.field) for p in problems] == [("Counter/Check", "inputs.counter")]
    inner["nodes"].pop(2)
    del inner["connections"][1:]
    problems = validate_flow(flow_from_bedrock(source), allowed_code=INLINE)
    assert ("Counter", "configuration.definition.nodes") in [(p.node, p.field) for p in problems]
    assert "exactly one LoopController" in str(problems)
    # A binding missing inside the loop names the inner node.
    inner["nodes"].append(
        {
            "type": "LambdaFunction",
            "name": "Remote",
            "configuration": {"lambdaFunction": {"lambdaArn": "arn:aws:lambda:x"}},
        }
    )
    with pytest.raises(FlowValidationError) as caught:
        flow_from_bedrock(source)
    assert [(p.node, p.field) for p in caught.value.problems] == [
        ("Counter/Remote", "configuration.lambdaFunction.lambdaArn")
    ]
