"""The split how-to stays true: its Python blocks and its commands run, in the page's order."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli._app import app

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "split.md"


@pytest.fixture(scope="module", autouse=True)
def _register() -> None:
    from tessera.cli import _split  # noqa: F401


def test_how_to_blocks_and_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"^( *)```(\w+)\n(.*?)^\1```", text, re.S | re.M)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "how_to_split"}
    commands = 0
    for indent, lang, body in blocks:
        body = "\n".join(line[len(indent) :] for line in body.splitlines())
        if lang == "python":
            exec(compile(body, str(PAGE), "exec"), namespace)  # noqa: S102
        elif lang == "bash":
            for line in body.splitlines():
                args = shlex.split(line)
                assert args[0] == "tessera", line
                result = CliRunner().invoke(app, args[1:])
                assert result.exit_code == 0, f"{line}\n{result.output}"
                commands += 1
    assert commands == 2
    assert (tmp_path / "parts" / "report.html").exists()
    assert (tmp_path / "parts-typed" / "train.csv").exists()
