"""The README and the docs stay true: their Python examples run, their links resolve."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def _ids(pages: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in pages]


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_python_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block with >>> prompts is a doctest; the blocks of a page share names."""
    monkeypatch.chdir(ROOT)  # examples refer to examples/taxi.csv
    blocks = [b for b in FENCE.findall(page.read_text(encoding="utf-8")) if ">>>" in b]
    if not blocks:
        pytest.skip("no Python examples on this page")
    parser = doctest.DocTestParser()
    test = parser.get_doctest("\n".join(blocks), {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_relative_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = [
        target
        for target, _ in LINK.findall(text)
        if "://" not in target and not (page.parent / target).exists()
    ]
    assert broken == []


def test_reference_lists_the_whole_public_api() -> None:
    import tessera.assign

    reference = (ROOT / "docs" / "reference" / "assign.md").read_text(encoding="utf-8")
    missing = [name for name in tessera.assign.__all__ if f"`{name}`" not in reference]
    assert missing == []
