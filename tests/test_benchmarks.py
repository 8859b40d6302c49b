"""The benchmark scripts import cleanly and share one RESULTS.md writer."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("*_bench.py")))
def test_benchmark_script_imports(name: str) -> None:
    pytest.importorskip("lap")
    module = importlib.import_module(name)
    assert callable(module.main)
    sys.modules.pop(name, None)


def test_write_section_replaces_only_its_own_section(tmp_path: Path) -> None:
    from _results import write_section

    path = tmp_path / "RESULTS.md"
    write_section("assign", "## assign\n\nfirst\n", path)
    write_section("split", "## split\n\nsplit table\n", path)
    write_section("assign", "## assign\n\nsecond\n", path)
    text = path.read_text()
    assert text.count("## assign") == 1 and "second" in text and "first" not in text
    assert "split table" in text
    assert text.index("## assign") < text.index("## split")
