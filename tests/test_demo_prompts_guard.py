"""The demo's prompts and guardrails sections: real runs, the notes without the extra, the page."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.demo._prompts import NAME, VARIABLES, prompts_section, tour_prompts
from tessera.llm.guard import Finding

_TAG = re.compile(r"<[^>]+>")


def _visible(fragment: str) -> str:
    return html.unescape(_TAG.sub("", fragment))


# -- prompts ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The registry tour without the model run, in its own database."""
    return tour_prompts(tmp_path_factory.mktemp("prompts") / "demo.db", run=False)


def test_tour_versions_labels_and_diff(tour: Any) -> None:
    assert [v.number for v in tour.versions] == [1, 2]
    assert [v.labels for v in tour.versions] == [("production",), ("latest",)]
    changed = {c.path: c.change for c in tour.diff.changes}
    assert changed["system"] == "changed"
    assert changed["messages[0].content"] == "changed"
    assert changed["variants[local].max_tokens"] == "changed"
    assert changed["variables.name.default"] == "added"
    assert changed["variants[warm].temperature"] == "added"
    assert "-  content: '{{question}}'" in tour.diff.unified.splitlines()
    assert tour.run is None and tour.run_skipped == "not asked for"


def test_tour_renders_each_version_with_its_variables(tour: Any) -> None:
    production = tour.rendered[f"{NAME}@production"]
    latest = tour.rendered[f"{NAME}@latest"]
    assert [m["role"] for m in production] == ["system", "user"]
    assert [m["role"] for m in latest] == ["system", "user"]
    # vip=True takes the {{#if vip}} block; the block tags leave no blank line behind.
    assert production[0]["content"] == (
        "You answer questions about the Aurora smart kettle in one short sentence.\n"
        "The customer is a member: thank them first.\n"
    )
    assert production[1]["content"] == VARIABLES["question"]
    # Version 2 declares `name`; version 1 does not, and would refuse it.
    assert latest[1]["content"] == f"Question from Ada: {VARIABLES['question']}"
    assert "thank them by name first" in latest[0]["content"]


def test_tour_without_vip_drops_the_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Metamorphic: vip=False removes exactly the block's line, nothing else moves."""
    import tessera.demo._prompts as prompts_module

    with_block = tour_prompts(tmp_path / "a.db", run=False).rendered
    monkeypatch.setattr(prompts_module, "VARIABLES", {**VARIABLES, "vip": False})
    without = tour_prompts(tmp_path / "b.db", run=False).rendered
    for ref, messages in with_block.items():
        assert without[ref][1:] == messages[1:]
        kept = [line for line in messages[0]["content"].splitlines() if "member" not in line]
        assert without[ref][0]["content"].splitlines() == kept


def test_tour_refuses_an_existing_prompt(tmp_path: Path) -> None:
    """A second tour in the same database would overwrite nothing: it is refused."""
    from tessera.errors import TesseraError

    tour_prompts(tmp_path / "p.db", run=False)
    with pytest.raises(TesseraError, match=NAME):
        tour_prompts(tmp_path / "p.db", run=False)


@pytest.fixture(scope="module")
def prompts_built(tessera_home: Path) -> Any:
    """The section as the demo builds it, running production on the embedded model."""
    pytest.importorskip("torch")
    from tessera.errors import MissingExtraError
    from tessera.llm._model import default_gguf_path

    try:
        default_gguf_path()
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    return prompts_section()


def test_prompts_section_on_the_embedded_model(prompts_built: Any, tour: Any) -> None:
    from tessera.llm.backends import GenerationParams, get_backend
    from tessera.llm.prompts import PromptRegistry

    section = prompts_built
    assert section.key == "prompts"
    assert section.summary[0] == f"{NAME}: 2 versions, labels latest -> 2, production -> 1"
    body = section.body_html
    changes = re.search(r'<table class="prompt-changes">(.*?)</table>', body, re.S)
    assert changes and changes.group(1).count("<tr><td") == len(tour.diff.changes)
    assert body.count('<div class="prompt-rendered">') == 2
    # Greedy (temperature 0): the shown answer is the model's own answer to production.
    answer = re.search(r'<pre class="prompt-answer"[^>]*>(.*?)</pre>', body, re.S)
    reply = get_backend("tessera").chat(
        tour.rendered[f"{NAME}@production"], GenerationParams(max_tokens=16, temperature=0.0)
    )
    assert answer and reply.text.strip() and _visible(answer.group(1)) == reply.text
    assert f"{reply.completion_tokens} tokens in " in section.summary[2]
    # The tour used a temporary registry, never the home's.
    assert NAME not in PromptRegistry().names()


def test_prompts_section_without_the_model_still_tours(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "torch", None)  # importing it now fails
    section = prompts_section()
    assert section.summary[0].startswith(f"{NAME}: 2 versions")
    assert section.summary[2].startswith("run skipped: ") and "tessera[llm]" in section.summary[2]
    assert "The run on the embedded model was skipped" in section.body_html
    assert 'class="prompt-answer"' not in section.body_html
    assert not (tmp_path / "tessera.db").exists()


# -- guardrails --------------------------------------------------------------------------


@st.composite
def _text_and_findings(draw: st.DrawFn) -> tuple[str, list[Finding]]:
    text = draw(st.text(alphabet=st.sampled_from("ab <>&\"'é\n"), max_size=30))
    spans = draw(
        st.lists(
            st.tuples(st.integers(0, len(text)), st.integers(0, len(text))).map(sorted),
            max_size=5,
        )
    )
    findings = [
        Finding("words", "PROFANITY", draw(st.sampled_from(["BLOCKED", "DETECTED"])), a, b, None)
        for a, b in spans
    ]
    return text, findings


@settings(max_examples=60, deadline=None)
@given(_text_and_findings())
def test_highlight_keeps_the_text_and_marks_spans(case: tuple[str, list[Finding]]) -> None:
    from tessera.demo._guard import highlight

    text, findings = case
    marked = highlight(text, findings)
    assert _visible(marked) == text
    marks = re.findall(r"<mark[^>]*>(.*?)</mark>", marked, re.S)
    assert len(marks) <= len([f for f in findings if f.end > f.start])
    for shown in marks:
        assert html.unescape(shown) in text and shown
    if any(f.end > f.start for f in findings):
        assert marks  # the first non-empty span is always shown


@pytest.fixture(scope="module")
def guard_built() -> Any:
    pytest.importorskip("sentence_transformers")
    from tessera.demo._guard import guard_section

    return guard_section()


def _examples(body: str) -> dict[str, str]:
    parts = re.findall(r'<div class="guard-example"><h3>(.*?)</h3>(.*?)</div>', body, re.S)
    return {html.unescape(label): part for label, part in parts}


def test_guard_section_decides_each_example(guard_built: Any) -> None:
    from tessera.demo._guard import EXAMPLES, GUARDRAIL

    section = guard_built
    assert section.key == "guard"
    decided = dict(line.split(": ", 1) for line in section.summary)
    assert list(decided) == [label for label, _ in EXAMPLES]
    assert decided["personal data"].startswith("INTERVENED (CREDIT_CARD, IBAN, EMAIL) -> ")
    assert decided["near miss (one digit off)"].startswith("NONE -> ")
    assert decided["obfuscated profanity"].startswith("INTERVENED (PROFANITY, PROFANITY)")
    assert decided["denied topic"].startswith("INTERVENED (investment_advice)")
    assert decided["jailbreak"].startswith("INTERVENED (INJECTION)")
    assert decided["benign"].startswith("NONE -> ")
    shown = _examples(section.body_html)
    assert list(shown) == [label for label, _ in EXAMPLES]
    personal = shown["personal data"]
    output = re.search(r'class="guard-output"[^>]*>(.*?)</pre>', personal, re.S)
    assert output and _visible(output.group(1)) == (
        "Refund card {CREDIT_CARD} to IBAN {IBAN} and confirm to {EMAIL}."
    )
    assert personal.count("<mark") == 3 and "4111 1111 1111 1111</mark>" in personal
    blocked = html.escape(GUARDRAIL["blocked_input_message"])
    for label in ("obfuscated profanity", "denied topic", "jailbreak"):
        assert (
            f'class="guard-output" style="white-space:pre-wrap;text-align:left">{blocked}'
            in (shown[label])
        )
        assert "BLOCKED" in shown[label] and "<mark" in shown[label]
    assert "sh1t</mark>" in shown["obfuscated profanity"]
    assert "f.u.c.k</mark>" in shown["obfuscated profanity"]
    assert re.search(r"\d\.\d\d \(threshold 0\.\d\d\)", shown["denied topic"])


def test_guard_near_miss_is_not_flagged(guard_built: Any) -> None:
    """A card number and an IBAN one digit off fail their checksums: nothing to report."""
    from tessera.demo._guard import EXAMPLES

    near = _examples(guard_built.body_html)["near miss (one digit off)"]
    text = dict(EXAMPLES)["near miss (one digit off)"]
    assert "<mark" not in near and "No findings." in near
    assert '<b class="guard-action">NONE</b>' in near
    assert near.count(html.escape(text)) == 2  # the input and the text to use, unchanged
    # Metamorphic: fixing the digits makes both numbers found.
    from tessera.demo._guard import GUARDRAIL
    from tessera.llm.guard import apply_guardrail

    fixed = text.replace("1112", "1111").replace("7654 33", "7654 32")
    assert [f.type for f in apply_guardrail(GUARDRAIL, fixed).findings] == ["CREDIT_CARD", "IBAN"]


@pytest.mark.parametrize("module", ["sentence_transformers", "stdnum"])
def test_guard_without_the_extra_gives_a_note(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    from tessera.demo._guard import guard_section

    monkeypatch.setitem(sys.modules, module, None)
    section = guard_section()
    assert section.key == "guard"
    assert section.summary[0].startswith("skipped: ") and repr(module) in section.summary[0]
    assert "pip install 'tessera[llm]'" in section.summary[1]
    assert html.escape("pip install 'tessera[llm]'") in section.body_html
    assert "guard-example" not in section.body_html


# -- the page ----------------------------------------------------------------------------


@pytest.mark.browser
def test_both_sections_render_self_contained(
    prompts_built: Any, guard_built: Any, browser: Any, tmp_path: Path
) -> None:
    from tessera.demo._page import render_page

    page_file = tmp_path / "index.html"
    page_file.write_text(render_page([prompts_built, guard_built]), encoding="utf-8")
    with browser.open(page_file) as page:
        assert page.errors == [] and page.outside_requests == []
        assert page.count("section#prompts table.prompt-versions tr") == 3
        assert page.count("section#prompts .prompt-rendered") == 2
        assert page.count("section#guard div.guard-example") == 6
        assert page.count("section#guard mark") >= 3 + 2 + 1 + 1
        heights = page.evaluate(
            "Array.from(document.querySelectorAll('section#guard mark'))"
            ".map(m => m.getBoundingClientRect().height)"
        )
        assert min(heights) > 0


@pytest.mark.browser
def test_demo_page_shows_both_sections(browser: Any, demo_page: Path) -> None:
    with browser.open(demo_page) as page:
        assert page.errors == [] and page.outside_requests == []
        titles = page.texts("section h2")
        assert "Prompts: a versioned registry" in titles
        assert "Guardrails: checking what goes in" in titles
        assert page.count("nav a[href='#prompts']") == 1 and page.count("nav a[href='#guard']") == 1
