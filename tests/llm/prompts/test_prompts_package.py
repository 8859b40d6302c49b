"""The public surface of tessera.llm.prompts: sorted __all__, documented, light to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tessera.llm._versioned as versioned
import tessera.llm.prompts as prompts

ROOT = Path(__file__).resolve().parents[3]


def test_all_is_sorted_and_exactly_the_public_surface() -> None:
    for module in (prompts, versioned):
        assert list(module.__all__) == sorted(module.__all__)
        public = {n for n in vars(module) if not n.startswith("_")} - {"annotations"}
        public = {n for n in public if not isinstance(getattr(module, n), type(sys))}
        assert public == set(module.__all__)


def test_the_reference_names_every_public_name() -> None:
    reference = (ROOT / "docs" / "reference" / "prompts.md").read_text(encoding="utf-8")
    missing = [n for n in prompts.__all__ if f"`{n}" not in reference]
    assert missing == []


def test_importing_prompts_does_not_import_torch() -> None:
    code = "import sys, tessera.llm.prompts, tessera.cli._prompts; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
