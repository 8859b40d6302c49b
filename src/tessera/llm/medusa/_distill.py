"""Self-distillation data: the base model's own greedy answers to a list of prompts.

Medusa heads learn to guess the tokens the base model is about to produce, so the best
training data is what the base model itself writes (Medusa paper, section 3.3): no
outside corpus is needed, and greedy decoding gives exactly the continuations that
greedy Medusa decoding will verify.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tessera._validation import bad_value, check_bool, check_positive_int
from tessera.llm._torch import require

if TYPE_CHECKING:
    import torch
    from rich.progress import Progress
    from transformers import PreTrainedTokenizerBase

    from tessera.llm.medusa._typing import GenerativeLM
else:
    torch = require("torch")

__all__ = ["DistillationData", "generate_self_distillation_data"]


@dataclass(frozen=True)
class DistillationData:
    """Token sequences of prompt + response, without padding.

    Attributes
    ----------
    sequences : list of numpy.ndarray
        Per sample, the int64 token ids of the chat-formatted prompt followed by the
        response (ending with the end-of-turn token when the model stopped by itself).
    prompt_lengths : numpy.ndarray
        Per sample, how many leading tokens of its sequence are the prompt.
    prompts : list of str
        The prompts, in the same order.
    generation_seconds : float
        Wall time spent generating (nan when unknown).
    """

    sequences: list[np.ndarray]
    prompt_lengths: np.ndarray
    prompts: list[str]
    generation_seconds: float = float("nan")

    def __post_init__(self) -> None:
        lengths = np.asarray(self.prompt_lengths)
        if len(self.sequences) != len(lengths) or len(self.prompts) != len(lengths):
            raise bad_value(
                "prompt_lengths",
                lengths.shape,
                f"it must have one entry per sequence ({len(self.sequences)}) and per prompt "
                f"({len(self.prompts)})",
                "Build DistillationData with lists of equal length.",
            )
        for i, (sequence, length) in enumerate(zip(self.sequences, lengths, strict=True)):
            if not 0 < int(length) <= len(sequence):
                raise bad_value(
                    f"prompt_lengths[{i}]",
                    int(length),
                    f"it must be between 1 and the sequence length {len(sequence)}",
                    "Give the number of prompt tokens at the start of each sequence.",
                )

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def response_tokens(self) -> int:
        """How many response tokens the data holds in all."""
        return int(sum(len(s) for s in self.sequences) - int(np.sum(self.prompt_lengths)))

    def response(self, index: int) -> np.ndarray:
        """The response token ids of sample ``index``."""
        return self.sequences[index][int(self.prompt_lengths[index]) :]

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` file (concatenated tokens, offsets, prompt lengths, prompts)."""
        target = Path(path)
        lengths = np.array([len(s) for s in self.sequences], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        tokens = (
            np.concatenate(self.sequences).astype(np.int64)
            if self.sequences
            else np.zeros(0, dtype=np.int64)
        )
        with target.open("wb") as handle:
            np.savez_compressed(
                handle,
                tokens=tokens,
                offsets=offsets,
                prompt_lengths=np.asarray(self.prompt_lengths, dtype=np.int64),
                prompts=np.array(self.prompts, dtype=np.str_),
                generation_seconds=np.float64(self.generation_seconds),
            )
        return target

    @classmethod
    def load(cls, path: str | Path) -> DistillationData:
        """Read a file written by :meth:`save`."""
        source = Path(path)
        if not source.is_file():
            raise bad_value(
                "path", str(path), "no such file", "Pass a file written by DistillationData.save."
            )
        with np.load(source, allow_pickle=False) as archive:
            missing = {"tokens", "offsets", "prompt_lengths", "prompts"} - set(archive.files)
            if missing:
                raise bad_value(
                    "path",
                    str(path),
                    f"the archive lacks {sorted(missing)}",
                    "Pass a file written by DistillationData.save.",
                )
            tokens, offsets = archive["tokens"], archive["offsets"]
            sequences = [
                tokens[offsets[i] : offsets[i + 1]].copy() for i in range(len(offsets) - 1)
            ]
            seconds = (
                float(archive["generation_seconds"])
                if "generation_seconds" in archive.files
                else float("nan")
            )
            prompts = [str(p) for p in archive["prompts"]]
            return cls(sequences, archive["prompt_lengths"].copy(), prompts, seconds)


def _check_prompts(prompts: object) -> list[str]:
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise bad_value(
            "prompts",
            prompts,
            "it must be a non-empty list of strings",
            "Pass e.g. tessera.llm.medusa.training_prompts().",
        )
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str) or not prompt.strip():
            raise bad_value(
                f"prompts[{i}]", prompt, "every prompt must be a non-empty string", "Remove it."
            )
    return list(prompts)


def _chat_texts(tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> list[str]:
    if not getattr(tokenizer, "chat_template", None):
        raise bad_value(
            "tokenizer",
            type(tokenizer).__name__,
            "it has no chat template",
            "Use an instruction-tuned model's tokenizer (it carries chat_template).",
        )
    texts = []
    for prompt in prompts:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        texts.append(str(text))
    return texts


def progress_bar(enabled: bool, *extra_columns: str) -> Progress:
    """A rich progress bar (description, bar, count, elapsed, ETA, extra text columns)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        *(TextColumn(column) for column in extra_columns),
        disable=not enabled,
    )


def generate_self_distillation_data(
    model: GenerativeLM,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 192,
    batch_size: int = 16,
    progress: bool = True,
    description: str = "generating",
) -> DistillationData:
    """Answer every prompt greedily with the base model.

    Prompts are formatted with the tokenizer's chat template (``add_generation_prompt``),
    grouped by length into batches of ``batch_size`` (left padding), and decoded with
    ``model.generate(do_sample=False)``. A response ends at the model's end-of-sequence
    token (kept) or after ``max_new_tokens``.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The base causal language model.
    tokenizer : transformers.PreTrainedTokenizerBase
        Its tokenizer, with a chat template.
    prompts : sequence of str
        User messages, e.g. :func:`training_prompts`.
    max_new_tokens : int, default=192
    batch_size : int, default=16
    progress : bool, default=True
        Show a progress bar with the time left (on the terminal, via rich).
    description : str, default="generating"
        The progress bar's label.

    Returns
    -------
    DistillationData
        Samples in the order of ``prompts``.
    """
    started = time.perf_counter()
    require("transformers")  # the error names the extra when it is missing
    from transformers import GenerationConfig

    prompts = _check_prompts(prompts)
    check_positive_int("max_new_tokens", max_new_tokens)
    check_positive_int("batch_size", batch_size)
    check_bool("progress", progress)
    texts = _chat_texts(tokenizer, prompts)
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    eos = model.generation_config.eos_token_id
    eos_ids = {int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None}
    if tokenizer.eos_token_id is not None:
        eos_ids.add(int(tokenizer.eos_token_id))
    if not eos_ids:
        raise bad_value(
            "tokenizer",
            type(tokenizer).__name__,
            "neither it nor the model's generation config names an end-of-sequence token",
            "Set tokenizer.eos_token or model.generation_config.eos_token_id.",
        )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
    config = GenerationConfig(  # type: ignore[no-untyped-call]  # transformers leaves it untyped
        do_sample=False,
        max_new_tokens=max_new_tokens,
        pad_token_id=pad_id,
        eos_token_id=sorted(eos_ids),
    )
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results: dict[int, np.ndarray] = {}
    was_training = model.training
    model.eval()
    with progress_bar(progress) as bar, torch.inference_mode():
        task = bar.add_task(description, total=len(prompts))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in batch)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids = encoded[i]
                input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                attention[row, width - len(ids) :] = 1
            output = model.generate(
                input_ids=input_ids, attention_mask=attention, generation_config=config
            )
            for row, i in enumerate(batch):
                response = output[row, width:].tolist()
                for position, token in enumerate(response):
                    if token in eos_ids:
                        response = response[: position + 1]
                        break
                results[i] = np.array(encoded[i] + response, dtype=np.int64)
            bar.advance(task, len(batch))
    model.train(was_training)
    return DistillationData(
        [results[i] for i in range(len(prompts))],
        np.array([len(e) for e in encoded], dtype=np.int64),
        prompts,
        time.perf_counter() - started,
    )
