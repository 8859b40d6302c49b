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
    assert ("Helper", "type") in where
    assert "Agent nodes are not supported" in str(caught.value)


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
