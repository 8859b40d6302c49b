"""The Storage node in real flows: write then read back, checks per mode, unsafe keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _flowdocs import data
from tessera.llm.flows import FlowRunError, run_flow, validate_flow
from tessera.llm.flows._storage import DocumentStore


def storage_flow(folder: str, mode: str) -> dict[str, Any]:
    """Input {key, content} -> Storage -> Output."""
    inputs = [{"name": "key", "type": "String", "expression": "$.data.key"}]
    connections = [data("in", "document", "store", "key")]
    if mode == "write":
        inputs.append({"name": "content", "type": "Object", "expression": "$.data.content"})
        connections.append(data("in", "document", "store", "content"))
        outputs = [{"name": "location", "type": "String"}]
        connections.append(data("store", "location", "out", "document"))
    else:
        outputs = [{"name": "document", "type": "Object"}]
        connections.append(data("store", "document", "out", "document"))
    return {
        "name": f"storage-{mode}",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "Object"}]},
            {
                "name": "store",
                "type": "Storage",
                "configuration": {"folder": folder, "mode": mode},
                "inputs": inputs,
                "outputs": outputs,
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]}
            if mode == "write"
            else {
                "name": "out",
                "type": "Output",
                "inputs": [{"name": "document", "type": "Object"}],
            },
        ],
        "connections": connections,
    }


def test_write_then_read_back(tmp_path: Path) -> None:
    folder = str(tmp_path / "docs")
    content = {"ticket": 1042, "text": "kettle leaks", "tags": ["returns"]}
    written = run_flow(
        storage_flow(folder, "write"), {"key": "tickets/1042", "content": content}, trace=False
    )
    assert written.outputs["out"] == str((tmp_path / "docs" / "tickets" / "1042.json").resolve())
    read = run_flow(storage_flow(folder, "read"), {"key": "tickets/1042"}, trace=False)
    assert read.outputs["out"] == content
    assert DocumentStore(folder).read("tickets/1042") == content


def test_a_traversal_key_fails_the_run_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    with pytest.raises(FlowRunError, match=r"node 'store' failed: key='\.\./escape' is invalid"):
        run_flow(
            storage_flow(str(folder), "write"),
            {"key": "../escape", "content": {"a": 1}},
            trace=False,
        )
    assert not (tmp_path / "escape.json").exists()
    assert not folder.exists()


def test_reading_a_missing_key_fails_the_run(tmp_path: Path) -> None:
    with pytest.raises(FlowRunError, match="nothing is stored under it"):
        run_flow(storage_flow(str(tmp_path), "read"), {"key": "absent"}, trace=False)


def test_ports_are_checked_per_mode(tmp_path: Path) -> None:
    write = storage_flow(str(tmp_path), "write")
    write["nodes"][1]["configuration"]["mode"] = "read"
    fields = {p.field: p.message for p in validate_flow(write) if p.node == "store"}
    assert "mode 'read' takes only ['key']" in fields["inputs.content"]
    assert "needs an output named 'document'" in fields["outputs"]

    read = storage_flow(str(tmp_path), "read")
    read["nodes"][1]["configuration"]["mode"] = "write"
    fields = {p.field: p.message for p in validate_flow(read) if p.node == "store"}
    assert "needs an input named 'content'" in fields["inputs"]
    assert "outputs only ['location']" in fields["outputs.document"]

    bad = storage_flow(str(tmp_path), "read")
    bad["nodes"][1]["configuration"]["mode"] = "append"
    assert any(p.field == "configuration.mode" for p in validate_flow(bad))
