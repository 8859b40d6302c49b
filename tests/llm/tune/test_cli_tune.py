"""``tessera llm tune`` and ``tessera llm tuned`` through typer's CliRunner."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from typer.testing import CliRunner  # noqa: E402

from tessera.cli import _llm, _tune  # noqa: E402, F401  (registrations)
from tessera.cli._app import app  # noqa: E402

runner = CliRunner()


def _write(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def _record(question: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_check_lists_every_bad_line_and_exits_1(tiny_llama: Any, tmp_path: Path) -> None:
    data = _write(
        tmp_path / "train.jsonl",
        [
            _record("what is cat", "dog"),
            "{broken",
            {"messages": [{"role": "user", "content": "x"}]},
        ],
    )
    result = runner.invoke(app, ["llm", "tune", str(data), "--check", "-m", str(tiny_llama.folder)])
    assert result.exit_code == 1
    assert "2 problem(s) in 3 record(s)" in result.stderr
    assert "line 2: json" in result.stderr and "line 3: messages[0].role" in result.stderr
    assert "Traceback" not in result.output


def test_check_passes_good_data(tiny_llama: Any, tmp_path: Path) -> None:
    data = _write(tmp_path / "train.jsonl", [_record("what is cat", "dog")] * 3)
    result = runner.invoke(app, ["llm", "tune", str(data), "--check", "-m", str(tiny_llama.folder)])
    assert result.exit_code == 0, result.output
    assert "3 valid record(s)" in result.stdout and "within 512 tokens" in result.stdout


def test_tune_registers_a_model_that_generate_and_tuned_see(
    tiny_llama: Any, tmp_path: Path, home: Path
) -> None:
    data = _write(tmp_path / "train.jsonl", [_record("what is cat", "dog is one")] * 8)
    val = _write(tmp_path / "val.jsonl", [_record("what is cat", "dog is one")] * 2)
    args = ["llm", "tune", str(data), "--validation", str(val), "-m", str(tiny_llama.folder)]
    result = runner.invoke(
        app, [*args, "--name", "cats", "--epochs", "2", "--batch-size", "4", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "Registered custom:cats@1" in result.stdout and "training loss" in result.stdout
    folder = home / "models" / "custom" / "cats" / "v1"
    with (folder / "step_wise_training_metrics.csv").open() as file:
        assert len(list(csv.reader(file))) == 1 + 4
    assert (folder / "validation_metrics.csv").is_file() and (folder / "loss.png").is_file()

    listed = runner.invoke(app, ["llm", "tuned"])
    assert listed.exit_code == 0 and "custom:cats@1" in listed.stdout
    listed = runner.invoke(app, ["llm", "tuned", "cats"])
    assert f"custom:cats@1: {folder}" in listed.stdout
    generated = runner.invoke(
        app, ["llm", "generate", "what is cat", "--model", "custom:cats", "-n", "3"]
    )
    assert generated.exit_code == 0, generated.output


def test_tune_argument_errors_are_one_line(tiny_llama: Any, tmp_path: Path, home: Path) -> None:
    data = _write(tmp_path / "train.jsonl", [_record("what is cat", "dog")])
    result = runner.invoke(app, ["llm", "tune", str(data), "-m", str(tiny_llama.folder)])
    assert result.exit_code == 1 and "--name" in result.stderr
    result = runner.invoke(app, ["llm", "tune", str(data), "--name", "x", "--epochs", "11"])
    assert result.exit_code == 1 and "epoch_count=11" in result.stderr
    result = runner.invoke(app, ["llm", "tuned", "no-such-model"])
    assert result.exit_code == 0 and "No custom models yet" in result.stdout
