"""The public surface of tessera.split and the lightness of its import."""

from __future__ import annotations

import subprocess
import sys

import tessera.split


def test_all_is_sorted_and_exactly_the_public_surface() -> None:
    names = tessera.split.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(tessera.split, name) is not None
    public = {n for n in dir(tessera.split) if not n.startswith("_")} - {"annotations", "Any"}
    assert public <= set(names)


def test_import_loads_nothing_heavy() -> None:
    code = (
        "import sys, tessera.split;"
        "heavy = [m for m in ('numba', 'matplotlib', 'sklearn', 'pandas', 'scipy')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_demo_section_is_self_contained() -> None:
    from tessera.demo._split import split_section

    section = split_section()
    assert section.key == "split" and len(section.summary) == 2
    assert section.body_html.count('src="data:image/png;base64,') == 5
    assert "http" not in section.body_html


def test_docstring_examples_run() -> None:
    import doctest

    from tessera.split import _api, _cv, _report

    for module in (_api, _cv, _report):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__
