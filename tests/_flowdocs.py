"""Small flow documents shared by the flows tests (``from _flowdocs import ...``)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest


def data(source: str, output: str, target: str, input: str, name: str = "") -> dict[str, Any]:
    """A Data connection from ``source.output`` to ``target.input``."""
    return {
        "name": name or f"{source}-{target}-{input}",
        "type": "Data",
        "source": source,
        "target": target,
        "configuration": {"data": {"sourceOutput": output, "targetInput": input}},
    }


def echo_flow(name: str = "echo", description: str = "") -> dict[str, Any]:
    """Input (String) -> Output ``out``: the flow returns what it is given."""
    return {
        "name": name,
        "description": description,
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [data("in", "document", "out", "document", name="c")],
    }


def code_flow(function: str, name: str = "step") -> dict[str, Any]:
    """Input (String) -> Code ``step`` calling ``function(text=...)`` -> Output ``out``."""
    return {
        "name": name,
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "step",
                "type": "Code",
                "configuration": {"function": function},
                "inputs": [{"name": "text", "type": "String"}],
                "outputs": [{"name": "text", "type": "String"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [
            data("in", "document", "step", "text"),
            data("step", "text", "out", "document"),
        ],
    }


def search_flow(folder: str, name: str = "search") -> dict[str, Any]:
    """Input (String) -> Retrieval ``search`` (top 2) over ``folder`` -> Output ``out``."""
    return {
        "name": name,
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "search",
                "type": "Retrieval",
                "configuration": {"folder": folder, "top_k": 2},
                "inputs": [{"name": "retrievalQuery", "type": "String"}],
                "outputs": [{"name": "retrievalResults", "type": "Array"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "Array"}]},
        ],
        "connections": [
            data("in", "document", "search", "retrievalQuery"),
            data("search", "retrievalResults", "out", "document"),
        ],
    }


def storage_flow(folder: str, mode: str = "write", name: str = "") -> dict[str, Any]:
    """Input (Object ``{key, content}``) -> Storage ``store`` over ``folder`` -> Output ``out``.

    ``mode="write"`` outputs the written file's location, ``"read"`` the document read
    back; the flow is named ``storage-<mode>`` unless ``name`` is given.
    """
    inputs = [{"name": "key", "type": "String", "expression": "$.data.key"}]
    connections = [data("in", "document", "store", "key")]
    if mode == "write":
        inputs.append({"name": "content", "type": "Object", "expression": "$.data.content"})
        connections.append(data("in", "document", "store", "content"))
        output = {"name": "location", "type": "String"}
        connections.append(data("store", "location", "out", "document"))
    else:
        output = {"name": "document", "type": "Object"}
        connections.append(data("store", "document", "out", "document"))
    return {
        "name": name or f"storage-{mode}",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "Object"}]},
            {
                "name": "store",
                "type": "Storage",
                "configuration": {"folder": folder, "mode": mode},
                "inputs": inputs,
                "outputs": [output],
            },
            {
                "name": "out",
                "type": "Output",
                "inputs": [{"name": "document", "type": output["type"]}],
            },
        ],
        "connections": connections,
    }


def put_module(folder: Path, name: str, source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Write ``source`` as the module ``name`` in a new ``folder`` and make it importable.

    ``folder`` goes first on ``sys.path`` and any module of that name already imported is
    forgotten, both until ``monkeypatch`` is undone (a Code node then imports the file).
    """
    folder.mkdir()
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, name, raising=False)
