"""The synth how-to stays true: its Python blocks run, in order, next to its YAML spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "synth.md"


def test_how_to_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dask.dataframe")
    text = PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    spec = next(body for lang, body in blocks if lang == "yaml")
    # The page's spec asks for a million rows; the examples only need a few.
    (tmp_path / "customers.yaml").write_text(spec.replace("rows: 1000000", "rows: 2000"))
    code = "\n".join(body for lang, body in blocks if lang == "python")
    code = code.replace("plan = chunk_plan(10_000_000, 500_000", "plan = chunk_plan(3000, 1000")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "how_to_synth"}
    exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102
    assert (tmp_path / "quality.html").exists() and (tmp_path / "customers").is_dir()
