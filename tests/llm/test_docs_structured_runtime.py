"""The Python and Command line sections of docs/how-to/structured-output.md run as written.

Each ```python block of ``## Python`` runs in order in one namespace, and what it prints
must be the ```text block after it; each ``tessera`` line of ``## Command line`` runs
through typer's CliRunner, with the files the page names written as it describes them
(issue 19). The ``## HTTP`` section has its own test in tests/llm/serve.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("llguidance")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "structured-output.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def section(name: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n## {name}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_the_python_section_prints_what_it_shows(tessera_home: Path) -> None:
    blocks = BLOCK.findall(section("Python"))
    namespace: dict[str, object] = {}
    pairs = 0
    for (kind, code), following in zip(blocks, [*blocks[1:], ("", "")], strict=True):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102
        if following[0] == "text":
            assert out.getvalue() == following[1]
            pairs += 1
    assert pairs == 3


def test_the_command_line_section_runs(
    tessera_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jsonschema
    from typer.testing import CliRunner

    from tessera.cli import _llm  # noqa: F401  (registers the commands)
    from tessera.cli._app import app

    monkeypatch.chdir(tmp_path)
    python = BLOCK.findall(section("Python"))[0][1]
    start = python.index("schema = {")
    namespace: dict[str, object] = {}
    exec(python[start : python.index("\n}\n", start) + 2], namespace)  # noqa: S102
    person = namespace["schema"]
    Path("person.schema.json").write_text(json.dumps(person), encoding="utf-8")
    Path("yes-no.gbnf").write_text('root ::= "yes" | "no"\n', encoding="utf-8")
    contact = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "email": {"type": "string", "maxLength": 40},
        },
        "required": ["name", "email"],
        "additionalProperties": False,
    }
    Path("contact.schema.json").write_text(json.dumps(contact), encoding="utf-8")
    lines = re.findall(r"^tessera .*$", section("Command line"), flags=re.MULTILINE)
    assert len(lines) == 4
    runner = CliRunner()
    outputs = []
    for line in lines:
        result = runner.invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout.rstrip("\n"))
    jsonschema.validate(json.loads(outputs[0]), person)
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", outputs[1])
    assert outputs[2] in ("yes", "no")
    jsonschema.validate(json.loads(outputs[3]), contact)
