"""The Retrieval node in real flows: passages, context text, a grounded answer, static checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from _flowdocs import data
from tessera.llm.flows import load_flow, run_flow, validate_flow
from tessera.llm.flows._knowledge import format_passages, knowledge_base
from tessera.llm.flows._retrieval import DEFAULT_INSTRUCTIONS

FAQ = Path(__file__).resolve().parents[3] / "src" / "tessera" / "llm" / "_data" / "faq"


def retrieval_flow(folder: str, *, model: str | None = None, context: bool = False) -> str:
    configuration: dict[str, Any] = {"folder": folder, "top_k": 2}
    if model is not None:
        configuration |= {"model": model, "params": {"max_tokens": 8}}
    outputs = [{"name": "retrievalResults", "type": "String" if model else "Array"}]
    if context:
        outputs.append({"name": "context", "type": "String"})
    nodes = [
        {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
        {
            "name": "search",
            "type": "Retrieval",
            "configuration": configuration,
            "inputs": [{"name": "retrievalQuery", "type": "String"}],
            "outputs": outputs,
        },
        {
            "name": "out",
            "type": "Output",
            "inputs": [{"name": "document", "type": outputs[0]["type"]}],
        },
    ]
    connections = [
        data("in", "document", "search", "retrievalQuery"),
        data("search", "retrievalResults", "out", "document"),
    ]
    if context:
        nodes.append(
            {"name": "ctx", "type": "Output", "inputs": [{"name": "document", "type": "String"}]}
        )
        connections.append(data("search", "context", "ctx", "document"))
    return yaml.safe_dump({"name": "search", "nodes": nodes, "connections": connections})


def test_passages_are_the_knowledge_base_search(tessera_home: Path) -> None:
    result = run_flow(retrieval_flow(str(FAQ), context=True), "my parcel never arrived")
    expected = knowledge_base(FAQ).search("my parcel never arrived", top_k=2)
    assert [(p["source"], p["position"]) for p in result.outputs["out"]] == [
        (p.source, p.position) for p in expected
    ]
    assert result.outputs["out"][0]["score"] == pytest.approx(expected[0].score)
    assert result.outputs["ctx"] == format_passages(expected)
    assert result.outputs["ctx"].startswith("[1] ")


def test_relative_folders_resolve_against_the_flow_file(tessera_home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text("# Descaling\n\nUse white vinegar.", encoding="utf-8")
    flow_file = tmp_path / "flows" / "search.yaml"
    flow_file.parent.mkdir()
    flow_file.write_text(retrieval_flow("../docs"), encoding="utf-8")
    result = run_flow(flow_file, "vinegar", retrieval_roots=[docs])
    assert [p["source"] for p in result.outputs["out"]] == ["kettle.md"]


def test_with_a_model_the_answer_is_grounded_in_the_passages(
    tiny_llama: Any, tessera_home: Path
) -> None:
    from tessera.llm.backends import GenerationParams, get_backend

    model = f"tessera:{tiny_llama.folder}"
    result = run_flow(retrieval_flow(str(FAQ), model=model), "how do I reset my password")
    passages = knowledge_base(FAQ).search("how do I reset my password", top_k=2)
    direct = get_backend(model).chat(
        [
            {"role": "system", "content": DEFAULT_INSTRUCTIONS},
            {
                "role": "user",
                "content": f"Passages:\n{format_passages(passages)}\n\n"
                "Question: how do I reset my password",
            },
        ],
        GenerationParams(max_tokens=8),
    )
    assert result.outputs["out"] == direct.text.strip()
    inputs = [e for e in result.events if e.kind == "node_output" and e.node == "search"]
    assert isinstance(inputs[0].data["retrievalResults"], str)


def test_static_checks(tmp_path: Path) -> None:
    document = yaml.safe_load(retrieval_flow(str(tmp_path)))
    search = document["nodes"][1]
    search["outputs"][0]["type"] = "String"
    search["outputs"].append({"name": "extra", "type": "String"})
    search["configuration"] |= {"top_k": 0, "params": {"max_tokens": 0}}
    fields = {(p.node, p.field) for p in validate_flow(document)}
    assert ("search", "configuration.top_k") in fields

    search["configuration"]["top_k"] = 3
    problems = validate_flow(document)
    messages = {p.field: p.message for p in problems if p.node == "search"}
    assert "declare it as 'Array'" in messages["outputs.retrievalResults.type"]
    assert "remove this output" in messages["outputs.extra"]
    assert "max_tokens=0" in messages["configuration.params"]


def test_a_missing_folder_fails_validation_naming_the_node(tmp_path: Path) -> None:
    """Caught before the run (issue 23: validate used to call such a flow valid)."""
    from tessera.llm.flows import FlowValidationError, validate_flow

    spec = load_flow(retrieval_flow(str(tmp_path / "missing")))
    problems = validate_flow(spec, retrieval_roots=[tmp_path])
    assert [(p.node, p.field) for p in problems] == [("search", "configuration.folder")]
    assert "does not exist" in problems[0].message
    with pytest.raises(FlowValidationError, match=r"node 'search', configuration.folder"):
        run_flow(spec, "anything", trace=False, retrieval_roots=[tmp_path])
