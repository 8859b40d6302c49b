"""The public surface of tessera.llm.serve, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import tessera.llm.serve as serve


def test_all_is_sorted_and_exactly_the_public_names() -> None:
    # Sorted as ruff sorts __all__: CONSTANTS, then Classes, then functions.
    order = sorted(serve.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert serve.__all__ == order
    public = {name for name in vars(serve) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(serve, name)).__name__ == "module"}
    assert public - modules - {"annotations"} == set(serve.__all__)


def test_importing_serve_loads_no_torch() -> None:
    code = (
        "import sys, tessera.llm.serve, tessera.cli._serve;"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
