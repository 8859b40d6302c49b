"""``tessera llm tune`` and ``tessera llm tuned``: LoRA fine-tuning and custom models.

Presentation only: the work is done by :mod:`tessera.llm.tune`, imported inside the
commands so that ``tessera --help`` never loads torch.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tessera.cli._app import console, edge
from tessera.cli._llm import Model, _quiet_transformers, llm_app


@llm_app.command("tune")
@edge
def tune(
    data: Annotated[
        Path,
        typer.Argument(help="JSONL training records: {'system': ..., 'messages': [...]}."),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Register the result as custom:NAME (next version); required unless --check.",
            show_default=False,
        ),
    ] = None,
    validation: Annotated[
        Path | None,
        typer.Option(
            "--validation",
            help="JSONL validation records: validation loss, early stopping, best adapter kept.",
            show_default=False,
        ),
    ] = None,
    model: Model = None,
    epochs: Annotated[int, typer.Option("--epochs", help="epochCount, 1-10.")] = 2,
    batch_size: Annotated[int, typer.Option("--batch-size", help="batchSize, 1-256.")] = 8,
    learning_rate_multiplier: Annotated[
        float,
        typer.Option(
            "--learning-rate-multiplier", help="learningRateMultiplier, 0.1-2 (times 1e-3)."
        ),
    ] = 1.0,
    early_stopping_threshold: Annotated[
        float,
        typer.Option(
            "--early-stopping-threshold", help="Least validation-loss drop that counts, 0-0.1."
        ),
    ] = 0.001,
    early_stopping_patience: Annotated[
        int,
        typer.Option("--early-stopping-patience", help="Validations without improvement, 1-10."),
    ] = 2,
    validations_per_epoch: Annotated[
        int, typer.Option("--validations-per-epoch", help="Validation-loss measurements.")
    ] = 4,
    lora_rank: Annotated[int, typer.Option("--lora-rank", help="LoRA rank r.")] = 8,
    lora_alpha: Annotated[float, typer.Option("--lora-alpha", help="LoRA alpha.")] = 16.0,
    target_modules: Annotated[
        str | None,
        typer.Option(
            "--target-modules",
            help="Comma-separated layer names (default: every Llama attention and MLP linear).",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option(
            "--max-length",
            help="Longest record in tokens (default: the model's context).",
            show_default=False,
        ),
    ] = None,
    dtype: Annotated[str, typer.Option(help="Base weights: float32 or bfloat16.")] = "float32",
    seed: Annotated[int, typer.Option(help="LoRA initialisation and shuffling.")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    merge: Annotated[
        bool, typer.Option("--merge", help="Store merged weights instead of the adapter alone.")
    ] = False,
    medusa_prompts: Annotated[
        int,
        typer.Option(
            "--medusa-prompts",
            help="Then train Medusa heads for the tuned model on this many of the shipped "
            "prompts (0: none; docs/how-to/fine-tune.md says how long each size takes).",
        ),
    ] = 0,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder for the run (default: under $TESSERA_HOME).",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only validate the data (every record) and stop.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fine-tune a model with LoRA on the CPU and register it as custom:NAME.

    The data is checked first (JSON, roles, alternation, empty content, token lengths),
    every problem listed with its line number. Writes step_wise_training_metrics.csv,
    validation_metrics.csv and loss.png beside the adapter.
    """
    from tessera._validation import bad_value
    from tessera.llm.tune import (
        LLAMA_TARGET_MODULES,
        TuneParams,
        fine_tune,
        register_model,
        train_heads,
    )

    params = TuneParams(
        epoch_count=epochs,
        batch_size=batch_size,
        learning_rate_multiplier=learning_rate_multiplier,
        early_stopping_threshold=early_stopping_threshold,
        early_stopping_patience=early_stopping_patience,
        validations_per_epoch=validations_per_epoch,
        lora_rank=lora_rank,
        lora_alpha=lora_alpha,
        target_modules=LLAMA_TARGET_MODULES
        if target_modules is None
        else tuple(m.strip() for m in target_modules.split(",") if m.strip()),
        max_length=max_length,
        dtype=dtype,
        seed=seed,
    )
    if not check and name is None:
        raise bad_value("--name", None, "a fine-tuned model needs a name", "Pass --name my-model.")
    _quiet_transformers()
    if check:
        _check_only(data, validation, model, max_length)
        return
    assert name is not None
    result = fine_tune(
        data,
        validation=validation,
        model=model,
        params=params,
        output=output,
        threads=threads,
        progress=not quiet,
    )
    version = register_model(result, name, merge=merge)
    if output is None:
        # The run folder was a scratch copy under $TESSERA_HOME: the version holds it all.
        shutil.rmtree(result.folder, ignore_errors=True)
    last = result.training[-1]
    best = result.best_validation_loss
    console.print(
        f"Trained {result.steps} steps in {result.seconds:.0f} s: training loss "
        f"{result.training[0].loss:.3f} -> {last.loss:.3f}"
        + (f", best validation loss {best:.3f} (step {result.best_step})" if best else "")
        + (" [stopped early]" if result.stopped_early else ""),
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"Registered [bold]{escape(version.spec)}[/] in {escape(str(version.folder))} "
        f"({'merged weights' if version.merged else 'LoRA adapter'}; metrics CSVs, loss.png)",
        highlight=False,
        soft_wrap=True,
    )
    if medusa_prompts:
        from tessera.llm.medusa import training_prompts

        heads = train_heads(
            version.spec, prompts=training_prompts(medusa_prompts), progress=not quiet
        )
        console.print(
            "Medusa heads trained; validation top-1: " + ", ".join(f"{a:.3f}" for a in heads.top1),
            highlight=False,
        )
    console.print(
        f"Use it: tessera llm generate 'your question' --model {escape(version.spec)}",
        highlight=False,
        soft_wrap=True,
    )


def _check_only(
    data: Path, validation: Path | None, model: str | None, max_length: int | None
) -> None:
    """Check every record (tokenised with the model's chat template); nothing is trained."""
    from tessera.llm._model import load_model
    from tessera.llm.tune import DataProblem, DataValidationError, encode_dataset

    loaded = load_model(model)
    context = int(getattr(loaded.model.config, "max_position_embeddings", 2048))
    limit = max_length or context
    problems: list[DataProblem] = []
    counts: list[str] = []
    valid = 0
    for argument, path in (("data", data), ("validation", validation)):
        if path is None:
            continue
        _, encoded, found = encode_dataset(
            path, loaded.tokenizer, max_length=limit, argument=argument
        )
        problems += found
        valid += len(encoded)
        counts.append(f"{escape(str(path))}: {len(encoded)} valid record(s)")
    if problems:
        sources = ", ".join(sorted({p.source for p in problems}))
        raise DataValidationError(
            sources, problems, valid + len({(p.source, p.line) for p in problems})
        )
    console.print(
        "; ".join(counts) + f"; all within {limit} tokens.", highlight=False, soft_wrap=True
    )


@llm_app.command("tuned")
@edge
def tuned(
    name: Annotated[
        str | None,
        typer.Argument(help="Show only this custom model's versions.", show_default=False),
    ] = None,
) -> None:
    """List the fine-tuned models registered under $TESSERA_HOME (custom:NAME@VERSION).

    With NAME, also print each version's folder (where Medusa heads for it go: FOLDER/medusa).
    """
    from tessera.llm.tune import list_models

    models = list_models(name)
    if not models:
        console.print("No custom models yet: tessera llm tune DATA --name NAME")
        return
    table = Table("model", "base", "kind", "medusa", "best val. loss", "created")
    table.columns[0].no_wrap = True
    for item in models:
        best = item.training.get("best_validation_loss")
        table.add_row(
            item.spec,
            item.base_model,
            "merged" if item.merged else "adapter",
            "yes" if item.has_medusa else "no",
            "-" if best is None else f"{best:.3f}",
            item.created_at[:10],
        )
    console.print(table)
    if name is not None:
        for item in models:
            console.print(
                f"{item.spec}: {escape(str(item.folder))}", highlight=False, soft_wrap=True
            )
