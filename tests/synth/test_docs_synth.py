"""The synth how-to stays true: its Python blocks and its commands run, in the page's order."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli._app import app

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "synth.md"


@pytest.fixture(scope="module", autouse=True)
def _register() -> None:
    from tessera.cli import _synth  # noqa: F401


def _small(line: str) -> str:
    # The page asks for a million rows; the commands only need a few.
    return line.replace("--rows 1000000", "--rows 3000")


def test_how_to_examples_and_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dask.dataframe")
    text = PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    spec = next(body for lang, body in blocks if lang == "yaml")
    (tmp_path / "customers.yaml").write_text(spec.replace("rows: 1000000", "rows: 2000"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "how_to_synth"}
    outputs: list[str] = []
    commands = 0
    for lang, body in blocks:
        if lang == "python":
            code = body.replace("chunk_plan(10_000_000, 500_000", "chunk_plan(3000, 1000")
            exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102
        elif lang == "bash":
            for line in body.splitlines():
                args = shlex.split(_small(line))
                assert args[0] == "tessera", line
                result = CliRunner().invoke(app, args[1:])
                assert result.exit_code == 0, f"{line}\n{result.output}"
                outputs.append(result.output)
                commands += 1
        elif lang == "text" and body.startswith("column kinds"):
            # The kinds the page shows are the kinds the fit above it printed.
            for shown in body.strip().splitlines():
                assert shown in outputs[-2], shown
    assert commands == 7
    assert (tmp_path / "quality.html").exists() and (tmp_path / "customers").is_dir()
    assert (tmp_path / "synthetic-customers.csv").exists()
    assert (tmp_path / "private-model.json").exists()
