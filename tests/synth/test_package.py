"""The public surface of tessera.synth, and what importing it pulls in."""

from __future__ import annotations

import subprocess
import sys

import tessera.synth as synth


def test_all_is_sorted_and_public() -> None:
    assert synth.__all__ == sorted(synth.__all__)
    public = {n for n in dir(synth) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(synth, n)).__name__ == "module"}
    assert set(synth.__all__) == public - modules
    for name in synth.__all__:
        assert getattr(synth, name).__doc__ or name == "PEOPLE_FIELDS", name


def test_import_is_light() -> None:
    code = (
        "import sys, tessera.synth; "
        "print(sorted(m for m in ('faker', 'matplotlib', 'sklearn', 'numba', 'sdv', 'copulas') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
