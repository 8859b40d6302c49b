"""Real LoRA runs on the tiny random Llama: the loss falls, early stopping, metrics files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm._model import load_model  # noqa: E402
from tessera.llm.tune import (  # noqa: E402
    TRAINING_COLUMNS,
    TRAINING_CSV,
    VALIDATION_COLUMNS,
    VALIDATION_CSV,
    DataValidationError,
    TuneParams,
    encode_dataset,
    fine_tune,
)
from tessera.llm.tune._loss import validation_loss  # noqa: E402
from tessera.llm.tune._train import TUNE_RECORD  # noqa: E402

WORDS = "cat dog bird fish tree sun moon star sky sea river mountain city house car road".split()


def mapping_records(count: int, shift: int = 3) -> list[dict[str, Any]]:
    """ "what is <word>" -> "<another word> is one": a fixed mapping the model can learn."""
    return [
        {
            "system": "answer with one word",
            "messages": [
                {"role": "user", "content": f"what is {WORDS[i % len(WORDS)]}"},
                {"role": "assistant", "content": f"{WORDS[(i + shift) % len(WORDS)]} is one"},
            ],
        }
        for i in range(count)
    ]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


FAST = TuneParams(
    epoch_count=4,
    batch_size=4,
    learning_rate_multiplier=2.0,
    lora_dropout=0.0,
    early_stopping_threshold=0.0,
    early_stopping_patience=10,
    validations_per_epoch=2,
)


@pytest.fixture(scope="module")
def run(tiny_llama: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("tune-data")
    train = write_jsonl(data / "train.jsonl", mapping_records(32))
    validation = write_jsonl(data / "val.jsonl", mapping_records(8))
    return fine_tune(
        train,
        validation=validation,
        model=tiny_llama.folder,
        params=FAST,
        output=tmp_path_factory.mktemp("tune-run") / "out",
        progress=False,
    )


def test_training_lowers_the_loss(run: Any) -> None:
    losses = [row.loss for row in run.training]
    assert run.steps == len(losses) == 4 * 8 and not run.stopped_early
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.2
    assert run.validation[-1].loss < run.validation[0].loss - 0.2
    assert run.train_records == 32 and run.validation_records == 8
    assert run.trained_tokens == 32 * 4  # three words and the end-of-turn token each


def test_metrics_csvs_have_bedrocks_columns(run: Any) -> None:
    with (run.folder / TRAINING_CSV).open() as file:
        rows = list(csv.reader(file))
    assert (
        tuple(rows[0])
        == TRAINING_COLUMNS
        == (
            "step_number",
            "epoch_number",
            "training_loss",
            "training_perplexity",
        )
    )
    body = rows[1:]
    assert [int(r[0]) for r in body] == list(range(1, run.steps + 1))
    assert [int(r[1]) for r in body] == [1 + (s - 1) // 8 for s in range(1, run.steps + 1)]
    for _step, _epoch, loss, perplexity in body:
        assert float(perplexity) == pytest.approx(math.exp(float(loss)), rel=1e-5)
    with (run.folder / VALIDATION_CSV).open() as file:
        rows = list(csv.reader(file))
    assert tuple(rows[0]) == VALIDATION_COLUMNS
    # two validations an epoch: after steps 4 and 8 of each epoch of 8 steps
    assert [int(r[0]) for r in rows[1:]] == [4, 8, 12, 16, 20, 24, 28, 32]
    assert [float(r[2]) for r in rows[1:]] == pytest.approx([r.loss for r in run.validation])


def test_loss_plot_and_training_record(run: Any) -> None:
    png = run.plot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    record = json.loads((run.folder / TUNE_RECORD).read_text())
    assert Path(record["base_model"]).is_absolute()
    assert record["params"]["epoch_count"] == 4 and record["steps"] == run.steps
    assert record["best_validation_loss"] == pytest.approx(run.best_validation_loss)
    assert (run.folder / "adapter_config.json").is_file()
    assert (run.folder / "adapter_model.safetensors").is_file()


def test_the_saved_adapter_is_the_best_validation_one(run: Any) -> None:
    reloaded = load_model(run.folder, dtype="float32")
    assert reloaded.name == str(run.folder)
    _, items, _ = encode_dataset(
        mapping_records(8), reloaded.tokenizer, max_length=512, argument="validation"
    )
    loss = validation_loss(reloaded.model, torch, items, 0)
    best = next(r for r in run.validation if r.step == run.best_step)
    assert loss == pytest.approx(best.loss, abs=1e-4)
    assert best.loss == run.best_validation_loss


def test_early_stopping_keeps_the_best_adapter(tiny_llama: Any, tmp_path: Path) -> None:
    # At a tenth of the base rate no drop reaches 0.1 nat between validations, so
    # training stops after `patience` validations following the first.
    params = TuneParams(
        epoch_count=10,
        batch_size=4,
        learning_rate_multiplier=0.1,
        early_stopping_threshold=0.1,
        early_stopping_patience=2,
        validations_per_epoch=2,
    )
    result = fine_tune(
        mapping_records(16),
        validation=mapping_records(4),
        model=tiny_llama.folder,
        params=params,
        output=tmp_path / "out",
        progress=False,
    )
    assert result.stopped_early and result.steps == 6 and len(result.training) == 6
    assert [r.step for r in result.validation] == [2, 4, 6]
    # The adapter kept is the one of the lowest validation loss, improvement or not.
    lowest = min(result.validation, key=lambda r: r.loss)
    assert result.best_step == lowest.step and result.best_validation_loss == lowest.loss
    # Metamorphic: a threshold of 0 (any drop counts) lets the same run go on.
    longer = fine_tune(
        mapping_records(16),
        validation=mapping_records(4),
        model=tiny_llama.folder,
        params=TuneParams(
            epoch_count=3,
            batch_size=4,
            early_stopping_threshold=0.0,
            early_stopping_patience=2,
            validations_per_epoch=2,
        ),
        output=tmp_path / "longer",
        progress=False,
    )
    assert longer.steps > result.steps


def test_without_validation_the_last_adapter_is_kept(tiny_llama: Any, tmp_path: Path) -> None:
    result = fine_tune(
        mapping_records(8),
        model=str(tiny_llama.folder),
        params=TuneParams(epoch_count=1, batch_size=4, dtype="bfloat16"),
        output=tmp_path / "out",
        progress=False,
    )
    assert result.steps == 2 and result.best_step is None and result.validation == []
    assert result.best_validation_loss is None
    assert (tmp_path / "out" / VALIDATION_CSV).read_text().strip() == ",".join(VALIDATION_COLUMNS)


def test_bad_records_of_both_files_fail_before_training(tiny_llama: Any, tmp_path: Path) -> None:
    train = mapping_records(4)
    train[2]["messages"] = train[2]["messages"][:1]
    validation = mapping_records(2)
    validation[1]["messages"][1]["content"] = ""
    with pytest.raises(DataValidationError) as info:
        fine_tune(
            write_jsonl(tmp_path / "train.jsonl", train),
            validation=write_jsonl(tmp_path / "val.jsonl", validation),
            model=tiny_llama.folder,
            output=tmp_path / "out",
            progress=False,
        )
    problems = [(Path(p.source).name, p.line, p.field) for p in info.value.problems]
    assert problems == [
        ("train.jsonl", 3, "messages[0].role"),
        ("val.jsonl", 2, "messages[1].content"),
    ]
    assert "train.jsonl line 3" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_records_longer_than_max_length_are_reported(tiny_llama: Any, tmp_path: Path) -> None:
    records = mapping_records(3)
    records[1]["messages"][0]["content"] = "what is " + "sun " * 40
    with pytest.raises(DataValidationError) as info:
        fine_tune(
            records,
            model=tiny_llama.folder,
            params=TuneParams(max_length=32),
            output=tmp_path / "out",
            progress=False,
        )
    (problem,) = info.value.problems
    assert problem.line == 2 and problem.field == "tokens" and "max_length=32" in problem.message
    with pytest.raises(InvalidInputError, match="context of 512 tokens"):
        fine_tune(records, model=tiny_llama.folder, params=TuneParams(max_length=4096))


def test_argument_errors(tiny_llama: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"no linear layer named \['c_attn'\]"):
        fine_tune(
            mapping_records(2),
            model=tiny_llama.folder,
            params=TuneParams(target_modules=("q_proj", "c_attn")),
            output=tmp_path / "a",
        )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidInputError, match="new or empty folder"):
        fine_tune(mapping_records(2), model=tiny_llama.folder, output=tmp_path / "full")
    with pytest.raises(InvalidInputError, match="existing JSONL file"):
        fine_tune(tmp_path / "nope.jsonl", model=tiny_llama.folder)
    with pytest.raises(InvalidInputError, match="TuneParams"):
        fine_tune(mapping_records(2), params={"epochCount": 2})  # type: ignore[arg-type]
