"""Every command of docs/how-to/guardrails.md runs, in order, as the page writes it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli import _guard  # noqa: F401  (registers the commands on the app)
from tessera.cli._app import app
from tessera.llm import guard

ROOT = Path(__file__).resolve().parents[3]
PAGE = (ROOT / "docs" / "how-to" / "guardrails.md").read_text(encoding="utf-8")
runner = CliRunner()


def _commands() -> list[tuple[str | None, list[str]]]:
    """(stdin, argv) of each ``tessera`` line of the page's bash blocks."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", PAGE, re.S):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            stdin = None
            echo = re.match(r'echo "([^"]*)" \| (tessera .*)', line)
            if echo:
                stdin, line = echo.group(1) + "\n", echo.group(2)
            if line.startswith("tessera guard"):
                commands.append((stdin, shlex.split(line)[1:]))
    return commands


def test_the_page_shows_every_guard_command() -> None:
    shown = {argv[1] for _, argv in _commands()}
    assert shown == {"save", "check", "label", "list", "versions", "show"}


def test_every_command_of_the_page_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    config = re.search(r"```yaml\n(.*?)```", PAGE, re.S)
    assert config is not None
    (tmp_path / "guard.yaml").write_text(config.group(1), encoding="utf-8")
    (tmp_path / "passages.txt").write_text(
        "Refunds are paid within 14 days of the return.", encoding="utf-8"
    )
    for stdin, argv in _commands():
        result = runner.invoke(app, argv, input=stdin)
        allowed = (0, 1) if argv[1] == "check" else (0,)
        assert result.exit_code in allowed, (argv, result.output)
    # the labels the page set: production on version 1, staging on version 2
    versions = guard.guardrail_versions("support-bot")
    assert [(v.number, set(v.labels)) for v in versions] == [
        (1, {"production"}),
        (2, {"latest", "staging"}),
    ]
    assert guard.load_guardrail("support-bot@production").name == "support-bot"


def test_the_storage_example_works(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    config = {"sensitive_information": {"entities": ["EMAIL"]}}
    version = guard.save_guardrail(
        "support-bot", config, message="stricter grounding", label="staging", db=db
    )
    assert "staging" in version.labels
    pointed = guard.set_label("support-bot", "production", version.number, db=db)
    assert pointed.number == version.number
    assert guard.load_guardrail("support-bot@production", db=db).sensitive_information
    assert guard.list_guardrails(db=db) == ["support-bot"]
    second = guard.save_guardrail("support-bot", config, db=db)
    assert guard.set_label("support-bot", "staging", db=db).number == second.number


def test_a_reserved_label_is_refused_before_anything_is_saved(tmp_path: Path) -> None:
    from tessera.errors import InvalidInputError

    db = tmp_path / "registry.db"
    with pytest.raises(InvalidInputError, match="reserved"):
        guard.save_guardrail("bot", {"words": {"words": ["x"]}}, label="latest", db=db)
    assert guard.list_guardrails(db=db) == []
