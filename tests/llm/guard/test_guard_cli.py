"""``tessera guard check`` through typer's CliRunner: output, JSON, exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli import _guard  # noqa: F401  (registers the commands on the app)
from tessera.cli._app import app
from tessera.llm.guard import save_guardrail

runner = CliRunner()
CONFIG = """\
blocked_input_message: Not here, please.
sensitive_information:
  entities: [EMAIL, CREDIT_CARD]
  action: ANONYMIZE
words:
  words: [globex]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_clean_text_exits_0(config: Path) -> None:
    result = runner.invoke(app, ["guard", "check", "--config", str(config), "All fine here."])
    assert result.exit_code == 0, result.output
    assert "NONE" in result.output and "All fine here." in result.output


def test_anonymised_text_exits_1_and_shows_the_finding(config: Path) -> None:
    result = runner.invoke(app, ["guard", "check", "-c", str(config), "mail ann@example.org"])
    assert result.exit_code == 1
    assert "INTERVENED" in result.output
    assert "mail {EMAIL}" in result.output
    assert "ANONYMIZED" in result.output


def test_json_output_and_stdin(config: Path) -> None:
    result = runner.invoke(
        app, ["guard", "check", "-c", str(config), "--json", "-"], input="we love globex"
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["action"] == "INTERVENED"
    assert data["text"] == "Not here, please."
    (finding,) = data["assessments"]["words"]
    assert (finding["type"], finding["start"], finding["end"]) == ("CUSTOM_WORD", 8, 14)
    assert data["assessments"]["sensitive_information"] == []


def test_a_saved_guardrail_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    save_guardrail("support", {"words": {"words": ["initech"]}})
    result = runner.invoke(app, ["guard", "check", "--guardrail", "support@1", "initech rocks"])
    assert result.exit_code == 1
    missing = runner.invoke(app, ["guard", "check", "--guardrail", "nobody", "x"])
    assert missing.exit_code == 2 and "nobody" in missing.output


def test_errors_exit_2_with_one_line(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("words: {action: NOPE, words: [x]}\n", encoding="utf-8")
    cases = [
        ["-c", str(bad), "x"],
        ["-c", str(tmp_path / "missing.yaml"), "x"],
        ["x"],
        ["-c", str(config), "-g", "support", "x"],
    ]
    for args in cases:
        result = runner.invoke(app, ["guard", "check", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output
        assert "Traceback" not in result.output
    assert "words.action='NOPE'" in runner.invoke(app, ["guard", "check", *cases[0]]).output


def test_grounding_source_file(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    import torch

    torch.set_num_threads(1)
    config = tmp_path / "g.yaml"
    config.write_text("grounding: {grounding_threshold: 0.7, relevance_threshold: null}\n")
    source = tmp_path / "source.txt"
    source.write_text("Refunds are paid within 14 days to the original payment method.\n")
    args = ["guard", "check", "-c", str(config), "-s", "output", "--grounding-source", str(source)]
    good = runner.invoke(app, [*args, "Refunds are paid within 14 days."])
    bad = runner.invoke(app, [*args, "Refunds are paid in cash within 60 days at any store."])
    assert (good.exit_code, bad.exit_code) == (0, 1), (good.output, bad.output)
    assert "GROUNDING" in bad.output
