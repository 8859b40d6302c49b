"""``tessera llm generate --system / --json-schema / --regex / --grammar`` (issue 19).

The constraint options run on the embedded model (the engine needs its byte-level
tokenizer); ``--system`` runs on the tiny Llama, and so does the fine-tune how-to's
``generate`` command, with its model swapped for the tiny one.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("llguidance")

from tessera.cli import _llm  # noqa: E402,F401  (registers the commands on the app)
from tessera.cli._app import app  # noqa: E402

runner = CliRunner()
FINE_TUNE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "fine-tune.md"
SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "country": {"enum": ["France", "Spain", "Italy"]},
    },
    "required": ["city", "country"],
    "additionalProperties": False,
}


def invoke(*args: Any) -> Any:
    return runner.invoke(app, ["llm", *map(str, args)])


def test_system_sends_a_system_message(tiny_llama: Any) -> None:
    from tessera.llm import load

    system = "you are a cat"
    result = invoke(
        "generate", "what is the sun", "--model", tiny_llama.folder, "-n", 12, "--system", system
    )
    assert result.exit_code == 0, result.output
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "what is the sun"},
    ]
    expected = load(tiny_llama.folder).generate(messages, max_new_tokens=12)
    assert result.stdout == expected.text + "\n"


def _generate_commands(page: str) -> list[list[str]]:
    lines = re.findall(r"^tessera llm generate .*$", page, flags=re.MULTILINE)
    return [shlex.split(line.split("  #")[0]) for line in lines]


def test_fine_tune_how_to_sends_the_system_prompt_its_data_had(tiny_llama: Any) -> None:
    page = FINE_TUNE.read_text(encoding="utf-8")
    example = next(line for line in page.splitlines() if line.startswith('{"system"'))
    system = json.loads(example)["system"]
    commands = _generate_commands(page)
    assert commands
    for words in commands:
        assert "--model" in words and words[words.index("--model") + 1].startswith("custom:")
        assert words[words.index("--system") + 1] == system
        # the page's command, run on the tiny model instead of the tuned one
        words[words.index("--model") + 1] = str(tiny_llama.folder)
        result = runner.invoke(app, [*words[1:], "-n", "4"])
        assert result.exit_code == 0, result.output
    assert f'"role": "system", "content": "{system}"' in page  # the Python part too


def test_json_schema_regex_and_grammar_options(tessera_home: Path, tmp_path: Path) -> None:
    import jsonschema

    schema = tmp_path / "city.schema.json"
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    result = invoke("generate", "Where is Paris? As JSON.", "--json-schema", schema, "-n", 48)
    assert result.exit_code == 0, result.output
    jsonschema.validate(json.loads(result.stdout), SCHEMA)

    cut = invoke("generate", "Where is Paris?", "--json-schema", schema, "-n", 3, "--stream")
    assert cut.exit_code == 0 and "finish reason: length" in cut.stderr

    phone = invoke("generate", "A phone number?", "--regex", r"\d{3}-\d{4}", "--no-medusa")
    assert phone.exit_code == 0 and re.fullmatch(r"\d{3}-\d{4}\n", phone.stdout)

    grammar = tmp_path / "answer.gbnf"
    grammar.write_text('root ::= "yes" | "no"\n', encoding="utf-8")
    answer = invoke("generate", "Is water wet?", "--grammar", grammar)
    assert answer.exit_code == 0 and answer.stdout in ("yes\n", "no\n")


def test_a_bad_schema_or_two_constraints_is_one_error_line(
    tessera_home: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "foo"}', encoding="utf-8")
    for args in (["--json-schema", bad], ["--json-schema", bad, "--regex", "a+"]):
        result = invoke("generate", "Hi", *args)
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        assert "Traceback" not in result.output
    assert "regex='a+' is invalid: only one constraint" in result.stderr
