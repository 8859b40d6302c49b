"""Small flow documents shared by the flows tests (``from _flowdocs import ...``)."""

from __future__ import annotations

from typing import Any


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
