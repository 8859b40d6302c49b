"""LoRA fine-tuning on the CPU: validate the data, train, keep the best adapter, report."""

from __future__ import annotations

import json
import math
import platform
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera._validation import bad_value, check_bool, check_positive_int
from tessera.llm._home import models_dir
from tessera.llm._model import DEFAULT_MODEL, load_model
from tessera.llm._torch import require, set_threads
from tessera.llm.tune._data import DataValidationError
from tessera.llm.tune._encode import Data, Encoded, encode_dataset
from tessera.llm.tune._loss import (
    batch_loss,
    micro_batches,
    rate_factor,
    validation_loss,
    validation_steps,
)
from tessera.llm.tune._metrics import LOSS_PLOT, MetricRow, plot_losses, write_metrics
from tessera.llm.tune._params import TuneParams

__all__ = ["TUNE_RECORD", "TuneResult", "fine_tune", "quiet_peft"]

#: The metadata file written beside the adapter.
TUNE_RECORD = "tessera-tune.json"


@contextmanager
def quiet_peft() -> Iterator[None]:
    """Hide the one FutureWarning peft 0.x triggers in transformers 5 on every adapter.

    peft reads ``model.is_gradient_checkpointing``, which transformers 5 deprecated in
    favour of ``is_activation_checkpointing``; nothing for tessera's callers to act on.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
        )
        yield


@dataclass(frozen=True)
class TuneResult:
    """What :func:`fine_tune` produced.

    Attributes
    ----------
    folder : pathlib.Path
        Holds the LoRA adapter (peft layout), the tokenizer, both metrics CSVs,
        ``loss.png`` and :data:`TUNE_RECORD`; register it with
        :func:`tessera.llm.tune.register_model`.
    base_model : str
        The model that was fine-tuned, as :func:`tessera.llm.load` accepts it.
    params : TuneParams
    training, validation : list of MetricRow
        Loss after every step, and at every validation.
    steps : int
        Optimiser steps run.
    stopped_early : bool
        Whether early stopping ended training before ``epoch_count`` epochs.
    best_step : int or None
        The step of the lowest validation loss, whose adapter was kept (None without
        validation data: the last step's adapter is kept).
    train_records, validation_records, trained_tokens : int
        Record counts and the assistant tokens of one training epoch.
    seconds : float
        Training time (data preparation and saving excluded).
    """

    folder: Path
    base_model: str
    params: TuneParams
    training: list[MetricRow]
    validation: list[MetricRow]
    steps: int
    stopped_early: bool
    best_step: int | None
    train_records: int
    validation_records: int
    trained_tokens: int
    seconds: float

    @property
    def plot(self) -> Path:
        """The loss plot."""
        return self.folder / LOSS_PLOT

    @property
    def best_validation_loss(self) -> float | None:
        """The lowest validation loss seen (None without validation data)."""
        return min(r.loss for r in self.validation) if self.validation else None


def _check_targets(model: Any, torch: Any, targets: tuple[str, ...]) -> None:
    linear = sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear)
        }
    )
    missing = [t for t in targets if t not in linear]
    if missing:
        raise bad_value(
            "target_modules",
            list(targets),
            f"the model has no linear layer named {missing}",
            f"Choose among {linear}.",
        )


def _base_name(loaded_name: str) -> str:
    """How the metadata names the base model so that it loads again from anywhere."""
    if loaded_name == DEFAULT_MODEL or loaded_name.startswith("custom:"):
        return loaded_name
    return str(Path(loaded_name).expanduser().resolve())


def fine_tune(
    data: Data,
    *,
    validation: Data | None = None,
    model: str | Path | None = None,
    params: TuneParams | None = None,
    output: str | Path | None = None,
    threads: int | None = 1,
    progress: bool = True,
) -> TuneResult:
    """Fine-tune ``model`` with LoRA on chat records, on the CPU.

    Every record of ``data`` and ``validation`` is checked first (JSON, keys, roles,
    alternation, empty content, length in tokens) and all problems are raised together.
    The loss is the cross-entropy of the assistant tokens only. With validation data the
    validation loss is measured ``params.validations_per_epoch`` times an epoch; training
    stops after ``early_stopping_patience`` validations in a row that do not improve on
    the last improvement by more than ``early_stopping_threshold``; the adapter of the
    lowest validation loss is kept.

    Parameters
    ----------
    data : str, pathlib.Path or sequence of mapping
        A JSONL file of ``{"system": ..., "messages": [...]}`` records, or the records.
    validation : same as data, optional
        Held-out records for the validation loss and early stopping.
    model : str, pathlib.Path or None, default=None
        What :func:`tessera.llm.load` accepts: None for the embedded SmolLM2-135M, a
        model folder, a ``.gguf`` file, or ``"custom:<name>[@<version>]"``.
    params : TuneParams, optional
        Hyperparameters (default :class:`TuneParams()`).
    output : str or pathlib.Path, optional
        An empty or new folder for the adapter and the metrics (default: a new folder
        under ``$TESSERA_HOME/models/custom/.runs``).
    threads : int or None, default=1
        torch intra-op threads.
    progress : bool, default=True
        A progress bar with the loss and the time left, on stderr.

    Returns
    -------
    TuneResult

    Raises
    ------
    DataValidationError
        When any record breaks a rule; ``.problems`` lists every one.
    """
    params = TuneParams() if params is None else params
    if not isinstance(params, TuneParams):
        raise bad_value("params", params, "it must be a TuneParams", "Pass TuneParams(...).")
    check_bool("progress", progress)
    if threads is not None:
        threads = check_positive_int("threads", threads)
    torch = require("torch")
    peft = require("peft")
    from tessera.llm.medusa._distill import progress_bar  # imports torch

    set_threads(threads)
    _check_output(output)
    loaded = load_model(model, dtype=params.dtype, batch_invariant=False)
    context = int(getattr(loaded.model.config, "max_position_embeddings", 2048))
    max_length = params.max_length or context
    if max_length > context:
        raise bad_value(
            "max_length",
            max_length,
            f"it exceeds the model's context of {context} tokens",
            f"Pass max_length <= {context}.",
        )
    _, train_items, problems = encode_dataset(data, loaded.tokenizer, max_length=max_length)
    val_items: list[Encoded] = []
    if validation is not None:
        _, val_items, more = encode_dataset(
            validation, loaded.tokenizer, max_length=max_length, argument="validation"
        )
        problems += more
    if problems:
        sources = ", ".join(sorted({p.source for p in problems}))
        failed = len({(p.source, p.line) for p in problems})
        raise DataValidationError(sources, problems, len(train_items) + len(val_items) + failed)
    _check_targets(loaded.model, torch, params.target_modules)
    target = _output_folder(output)

    torch.manual_seed(params.seed)
    config = peft.LoraConfig(
        r=params.lora_rank,
        lora_alpha=params.lora_alpha,
        lora_dropout=params.lora_dropout,
        target_modules=list(params.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    with quiet_peft():
        tuned = peft.get_peft_model(loaded.model, config)
    tuned.train()
    trainable = [p for p in tuned.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train_items) / params.batch_size)
    total_steps = steps_per_epoch * params.epoch_count
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate_factor(total_steps))
    pad_id = loaded.tokenizer.pad_token_id
    pad_id = int(pad_id) if isinstance(pad_id, int) else 0
    checkpoints = validation_steps(steps_per_epoch, params.validations_per_epoch)
    rng = torch.Generator().manual_seed(params.seed)

    training: list[MetricRow] = []
    val_rows: list[MetricRow] = []
    best_loss, best_step, best_state = math.inf, None, None
    reference, waited = math.inf, 0
    stopped_early = False
    step = 0
    start = time.perf_counter()
    with progress_bar(progress, "loss {task.fields[loss]}") as bar:
        task = bar.add_task("fine-tuning", total=total_steps, loss="-")
        for epoch in range(1, params.epoch_count + 1):
            order = torch.randperm(len(train_items), generator=rng).tolist()
            for local in range(1, steps_per_epoch + 1):
                chosen = [
                    train_items[i]
                    for i in order[(local - 1) * params.batch_size :][: params.batch_size]
                ]
                batch_tokens = sum(item.trained_tokens for item in chosen)
                optimizer.zero_grad(set_to_none=True)
                step_loss = 0.0
                for chunk in micro_batches(chosen):
                    loss, _ = batch_loss(tuned, torch, chunk, pad_id)
                    (loss / max(batch_tokens, 1)).backward()
                    step_loss += float(loss.detach())
                optimizer.step()
                schedule.step()
                step += 1
                training.append(MetricRow(step, epoch, step_loss / max(batch_tokens, 1)))
                bar.update(task, advance=1, loss=f"{training[-1].loss:.3f}")
                if not val_items or local not in checkpoints:
                    continue
                val_loss = validation_loss(tuned, torch, val_items, pad_id)
                val_rows.append(MetricRow(step, epoch, val_loss))
                if val_loss < best_loss:  # the adapter kept: the lowest validation loss
                    best_loss, best_step = val_loss, step
                    best_state = {
                        k: v.detach().clone() for k, v in tuned.state_dict().items() if "lora_" in k
                    }
                # Patience counts validations that do not beat the last counted
                # improvement by more than the threshold (Bedrock's rule).
                if reference - val_loss > params.early_stopping_threshold:
                    reference, waited = val_loss, 0
                else:
                    waited += 1
                if waited >= params.early_stopping_patience:
                    stopped_early = step < total_steps
                    break
            if stopped_early:
                bar.update(task, total=step)
                break
    seconds = time.perf_counter() - start
    if best_state is not None:
        tuned.load_state_dict(best_state, strict=False)
    tuned.eval()
    tuned.save_pretrained(target)
    loaded.tokenizer.save_pretrained(target)
    write_metrics(target, training, val_rows)
    base = _base_name(loaded.name)
    plot_losses(target / LOSS_PLOT, training, val_rows, title=f"LoRA fine-tuning of {base}")
    result = TuneResult(
        folder=target,
        base_model=base,
        params=params,
        training=training,
        validation=val_rows,
        steps=step,
        stopped_early=stopped_early,
        best_step=best_step,
        train_records=len(train_items),
        validation_records=len(val_items),
        trained_tokens=sum(item.trained_tokens for item in train_items),
        seconds=seconds,
    )
    _write_record(result, torch)
    return result


def _check_output(output: str | Path | None) -> None:
    folder = None if output is None else Path(output)
    if folder is not None and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise bad_value(
            "output",
            str(output),
            "it must be a new or empty folder",
            "Pass a new folder, or leave it out for one under $TESSERA_HOME.",
        )


def _output_folder(output: str | Path | None) -> Path:
    if output is None:
        runs = models_dir() / "custom" / ".runs"
        runs.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=runs))
    _check_output(output)
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_record(result: TuneResult, torch: Any) -> None:
    record = {
        "base_model": result.base_model,
        "method": "lora",
        "params": result.params.to_dict(),
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "best_step": result.best_step,
        "best_validation_loss": result.best_validation_loss,
        "final_training_loss": result.training[-1].loss if result.training else None,
        "train_records": result.train_records,
        "validation_records": result.validation_records,
        "trained_tokens_per_epoch": result.trained_tokens,
        "training_seconds": round(result.seconds, 3),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    (result.folder / TUNE_RECORD).write_text(json.dumps(record, indent=2))
