"""``tessera prompts`` through typer's CliRunner, against a real registry file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tessera.cli import _prompts  # noqa: F401  (registers the commands on the app)
from tessera.cli._app import app
from tessera.llm.prompts import PromptRegistry

runner = CliRunner()

PROMPT_FILE = """\
name: triage
description: Sort support tickets
tags: [support]
type: chat
system: |
  You sort {{product}} tickets.
  {{#if urgent}}
  Answer in one line.
  {{/if}}
messages:
  - role: user
    content: "Ticket: {{ticket}}"
variables:
  product: {default: kettle}
  ticket: {description: the ticket text}
  urgent: {type: boolean, default: false}
variants:
  - name: short
    max_tokens: 16
"""


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["prompts", *args])


def ok(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def fails(*args: str) -> str:
    """Run a command that must fail with one red line on stderr; return that line."""
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return str(lines[0])


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    prompt = tmp_path / "triage.yaml"
    prompt.write_text(PROMPT_FILE, encoding="utf-8")
    edited = tmp_path / "triage-v2.yaml"
    edited.write_text(
        PROMPT_FILE.replace("max_tokens: 16", "max_tokens: 8").replace(
            "tags: [support]", "tags: [support, v2]"
        ),
        encoding="utf-8",
    )
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"ticket": "from file", "urgent": True}), encoding="utf-8")
    return {"prompt": prompt, "edited": edited, "vars": variables, "db": tmp_path / "p.db"}


def test_the_whole_life_of_a_prompt(files: dict[str, Path], tmp_path: Path) -> None:
    db = ["--db", str(files["db"])]
    assert "created triage (draft revision 1)" in ok("create", str(files["prompt"]), *db)
    assert "triage@1 committed" in ok("commit", "triage", "-m", "first", *db)
    assert "triage@production → 1" in ok("label", "triage", "production", "1", *db)
    listing = ok("list", *db)
    assert "triage" in listing and "production→1" in listing and "Sort support" in listing

    text = ok("render", "triage@production", "--var", "ticket=It leaks", "--json", *db)
    assert json.loads(text) == [
        {"role": "system", "content": "You sort kettle tickets.\n"},
        {"role": "user", "content": "Ticket: It leaks"},
    ]
    # --vars from a file, --var wins over it.
    text = ok("render", "triage", "--vars", str(files["vars"]), "--var", "product=toaster", *db)
    assert "You sort toaster tickets.\nAnswer in one line." in text
    assert "Ticket: from file" in text

    assert "updated the draft of triage (revision 2)" in ok("edit", str(files["edited"]), *db)
    assert "triage@2 committed" in ok("commit", "triage", "-m", "shorter", *db)
    versions = ok("versions", "triage", *db)
    assert "first" in versions and "shorter" in versions
    diff = ok("diff", "triage@1", "triage@2", *db)
    assert "-  max_tokens: 16" in diff and "+  max_tokens: 8" in diff
    assert "variants[short].max_tokens" in diff
    assert "identical" in ok("diff", "triage@2", "triage@draft", *db)
    shown = ok("show", "triage@1", *db)
    assert "first" in shown and "production" in shown and "max_tokens: 16" in shown
    assert "v2" in ok("show", "triage@draft", *db)

    exported = tmp_path / "export.yaml"
    ok("export", "--out", str(exported), *db)
    other = tmp_path / "other.db"
    assert "imported 1 prompt(s): triage" in ok("import", str(exported), "--db", str(other))
    assert ok("export", "--db", str(other)) == exported.read_text(encoding="utf-8")

    assert "labels production" in fails("delete", "triage", "--version", "1", *db)
    assert "deleted triage@1" in ok("delete", "triage", "--version", "1", "--force", *db)
    assert "deleted triage@2" in ok("delete", "triage", "--version", "2", *db)
    assert "deleted triage" in ok("delete", "triage", *db)
    assert PromptRegistry(db=files["db"]).names() == []


def test_base_revision_refuses_a_stale_edit_or_commit(files: dict[str, Path]) -> None:
    db = ["--db", str(files["db"])]
    ok("create", str(files["prompt"]), *db)
    assert "revision" in ok("show", "triage@draft", *db)
    # Someone else edits the draft (revision 2) after we read revision 1.
    ok("edit", str(files["edited"]), "--base-revision", "1", *db)
    stale = fails("commit", "triage", "-m", "mine", "--base-revision", "1", *db)
    assert "base_revision=1" in stale and "revision 2" in stale and "Re-read" in stale
    assert "revision 2" in fails("edit", str(files["prompt"]), "--base-revision", "1", *db)
    assert PromptRegistry(db=files["db"]).versions("triage") == []
    assert "triage@1 committed" in ok("commit", "triage", "--base-revision", "2", *db)
    assert "--base-revision" in ok("commit", "--help")


def test_delete_refuses_a_labelled_prompt_without_force(files: dict[str, Path]) -> None:
    db = ["--db", str(files["db"])]
    ok("create", str(files["prompt"]), *db)
    ok("commit", "triage", *db)
    ok("label", "triage", "staging", "1", *db)
    assert "--force" in fails("delete", "triage", *db)
    ok("unlabel", "triage", "staging", *db)
    ok("delete", "triage", *db)


def test_errors_are_one_line(files: dict[str, Path], tmp_path: Path) -> None:
    db = ["--db", str(files["db"])]
    ok("create", str(files["prompt"]), *db)
    ok("commit", "triage", *db)
    assert "write NAME=VALUE" in fails("render", "triage", "--var", "ticket", *db)
    assert "['nope'] are not declared" in fails(
        "render", "triage", "--var", "ticket=x", "--var", "nope=1", *db
    )
    assert "requires ticket" in fails("render", "triage", *db)
    assert "name='ghost'" in fails("render", "ghost", *db)
    assert "exists already" in fails("create", str(files["prompt"]), *db)
    nameless = tmp_path / "nameless.yaml"
    nameless.write_text("type: text\ntext: hi\n", encoding="utf-8")
    assert "no prompt name" in fails("create", str(nameless), *db)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ntype: [\n", encoding="utf-8")
    assert "is not valid YAML" in fails("create", str(broken), *db)
    bad_json = tmp_path / "vars.json"
    bad_json.write_text("{ticket", encoding="utf-8")
    assert "is not valid JSON" in fails("render", "triage", "--vars", str(bad_json), *db)
    assert "No such file" in fails("create", str(tmp_path / "missing.yaml"), *db)
    assert "label='latest' is invalid" in fails("label", "triage", "latest", "1", *db)


def test_run_shows_each_variant(files: dict[str, Path], tiny_llama: Any, tmp_path: Path) -> None:
    model = f"tessera:{tiny_llama.folder}"
    prompt = tmp_path / "two.yaml"
    prompt.write_text(
        PROMPT_FILE.replace(
            "  - name: short\n    max_tokens: 16\n",
            f"  - name: short\n    model: '{model}'\n    max_tokens: 2\n"
            f"  - name: long\n    model: '{model}'\n    max_tokens: 4\n",
        ),
        encoding="utf-8",
    )
    db = ["--db", str(files["db"])]
    ok("create", str(prompt), *db)
    ok("commit", "triage", *db)
    table = ok("run", "triage", "--var", "ticket=the cat", *db)
    assert "short" in table and "long" in table
    only = ok("run", "triage", "--var", "ticket=the cat", "--variant", "long", *db)
    assert "long" in only and "short" not in only
