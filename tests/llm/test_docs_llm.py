"""The llm reference page names the whole public API of tessera.llm and tessera.llm.medusa."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "llm.md"


@pytest.mark.parametrize("module", ["tessera.llm", "tessera.llm.backends", "tessera.llm.medusa"])
def test_reference_lists_the_whole_public_api(module: str) -> None:
    import importlib

    names = importlib.import_module(module).__all__
    text = REFERENCE.read_text(encoding="utf-8")
    missing = [n for n in names if f"`{n}`" not in text and f"`{n}(" not in text]
    assert missing == []
