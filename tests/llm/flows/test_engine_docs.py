"""The flows explanation page: its example flow is valid and runs as the page says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tessera.llm.flows import node_types, run_flow, validate_flow

PAGE = Path(__file__).resolve().parents[3] / "docs" / "explanation" / "flows.md"


def _yaml_blocks() -> list[Any]:
    text = PAGE.read_text(encoding="utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def test_the_example_flow_is_valid_and_routes_as_described(
    tiny_llama: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    (flow,) = _yaml_blocks()
    assert validate_flow(flow) == []
    other = run_flow(flow, {"text": "my kettle is broken"}, trace=False)
    assert other.outputs == {"other": {"text": "my kettle is broken"}}
    # Run the billing branch on the tiny model rather than the embedded one.
    body = flow["nodes"][2]["configuration"]["inline"]
    body["variants"] = [{"model": f"tessera:{tiny_llama.folder}", "max_tokens": 4}]
    billing = run_flow(flow, {"text": "I was charged twice"}, trace=False)
    assert list(billing.outputs) == ["billing_answer"]
    assert isinstance(billing.outputs["billing_answer"], str)


def test_the_node_type_table_lists_every_registered_type() -> None:
    text = PAGE.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    assert set(node_types()) <= listed
