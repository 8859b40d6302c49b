"""The shipped support-ticket example: its wiring on the tiny Llama, then once on the real model."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tessera.llm.flows import get_trace, validate_flow
from tessera.llm.flows.examples import (
    CATEGORIES,
    EXAMPLE_CODE,
    classifier_flow,
    faq_folder,
    support_flow_path,
    support_tickets_path,
)

ROOT = Path(__file__).resolve().parents[3]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("support_flow", ROOT / "examples/support_flow.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["support_flow"] = module
    spec.loader.exec_module(module)
    return module


def test_the_shipped_files_are_consistent() -> None:
    assert validate_flow(support_flow_path(), allowed_code=[EXAMPLE_CODE]) == []
    assert validate_flow(classifier_flow(), allowed_code=[EXAMPLE_CODE]) == []
    # Every FAQ document is named after a class, which the category node relies on.
    assert {p.name.split("-")[0] for p in faq_folder().glob("*.md")} == set(CATEGORIES)
    tickets = [json.loads(line) for line in support_tickets_path().read_text().splitlines()]
    assert len(tickets) == 30
    assert {t["expected"] for t in tickets} == set(CATEGORIES)
    assert all(sum(t["expected"] == c for t in tickets) == 6 for c in CATEGORIES)


def test_a_flow_without_the_allow_list_does_not_validate() -> None:
    problems = validate_flow(support_flow_path())
    assert [(p.node, p.field) for p in problems] == [("category", "configuration.function")]


TICKETS = [
    "I was charged twice for the same order",
    "The kettle will not connect to my Wi-Fi",
    "zzz qqq",  # matches no FAQ passage
]


@pytest.mark.parametrize("ticket", TICKETS)
def test_the_branch_follows_the_class_on_the_tiny_model(
    tiny_llama: Any, tessera_home: Path, ticket: str
) -> None:
    script = load_script()
    shown = script.handle(ticket, model=f"tessera:{tiny_llama.folder}")
    assert shown["category"] in (*CATEGORIES, "other")
    answerable = shown["category"] != "other"
    assert shown["branch"] == ("answerable" if answerable else "default")
    assert (shown["reply"] is not None) == answerable
    assert shown["escalated"] == (not answerable)
    trace = get_trace(shown["run_id"])
    assert trace.status == "succeeded"
    assert trace.outputs["label"] == shown["category"]
    if ticket == "zzz qqq":
        assert shown["sources"] == []  # so only the (gibberish) completion can name a class


def test_the_script_prints_each_ticket(
    tiny_llama: Any, tessera_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handled = load_script().main(
        ["My parcel never came", "--model", f"tessera:{tiny_llama.folder}"]
    )
    out = capsys.readouterr().out
    assert out.startswith("ticket:   My parcel never came\nclass:    ")
    assert f"tessera flows trace {handled[0]['run_id']}" in out
    assert handled[0]["sources"][0].startswith("shipping-")


@pytest.fixture(scope="module")
def demo_section(default_runtime: Any, tessera_home: Path) -> Any:
    """The demo section, built once on the embedded model (two runs of the example)."""
    from tessera.demo._flows import flows_section

    return flows_section()


def test_the_demo_section_on_the_default_model(demo_section: Any) -> None:
    """The one run of the example on the embedded model (two tickets, as the demo does)."""
    from tessera.demo._flows import TICKETS as DEMO_TICKETS

    assert demo_section.key == "flows"
    body = demo_section.body_html
    for ticket in DEMO_TICKETS:
        assert ticket in body
    # The billing and the Wi-Fi tickets are classified and answered from the right FAQ.
    assert "-> billing (answerable)" in demo_section.summary[0]
    assert "-> technical (answerable)" in demo_section.summary[1]
    assert "billing-double-charge.md" in body and "technical-wifi-pairing.md" in body
    assert body.count("<h4>Answer</h4><pre") == 2
    run_ids = re.findall(r"run <code>([0-9a-f]{32})</code>", body)
    assert len(run_ids) == 2
    for run_id in run_ids:
        trace = get_trace(run_id)
        assert trace.status == "succeeded" and "reply" in trace.outputs
        assert trace.node_outputs("classify")[0]["modelCompletion"].strip()


@pytest.mark.browser
def test_the_demo_section_renders_self_contained(
    demo_section: Any, browser: Any, tmp_path: Path
) -> None:
    from tessera.demo._page import render_page

    page_file = tmp_path / "index.html"
    page_file.write_text(render_page([demo_section]), encoding="utf-8")
    with browser.open(page_file) as page:
        assert page.errors == []
        assert page.outside_requests == []
        assert page.count("div.ticket") == 2
        assert page.count("div.ticket table tr") >= 2 * 4  # a header and 3 passages each
        assert "billing" in page.text("div.ticket")
