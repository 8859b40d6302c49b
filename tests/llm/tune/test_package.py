"""tessera.llm.tune: a light import and an explicit, sorted public surface."""

from __future__ import annotations

import subprocess
import sys

import tessera.llm.tune as tune


def test_import_is_light() -> None:
    code = (
        "import sys, tessera.llm.tune, tessera.cli._tune;"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'matplotlib') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_all_is_sorted_and_is_the_public_surface() -> None:
    assert tune.__all__ == sorted(tune.__all__)
    public = {n for n in vars(tune) if not n.startswith("_") and n != "annotations"}
    assert set(tune.__all__) == public


def test_the_how_to_names_the_whole_api() -> None:
    from pathlib import Path

    page = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "fine-tune.md"
    text = page.read_text(encoding="utf-8")
    assert [n for n in tune.__all__ if f"`{n}`" not in text and f"`{n}(" not in text] == []
