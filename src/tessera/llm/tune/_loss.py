"""The arithmetic of a training run: token-mean losses, micro-batches, the rate schedule."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from tessera.llm.tune._encode import IGNORE_INDEX, Encoded

__all__ = [
    "MICRO_BATCH",
    "WARMUP_FRACTION",
    "batch_loss",
    "micro_batches",
    "rate_factor",
    "validation_loss",
    "validation_steps",
]

#: Records per forward pass; larger batches accumulate gradients over several passes.
MICRO_BATCH = 8
#: Fraction of the steps over which the learning rate warms up linearly.
WARMUP_FRACTION = 0.1


def batch_loss(model: Any, torch: Any, items: Sequence[Encoded], pad_id: int) -> tuple[Any, int]:
    """Summed cross-entropy over the labelled tokens of ``items``, and their count."""
    width = max(len(item.input_ids) for item in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        n = len(item.input_ids)
        ids[row, :n] = torch.tensor(item.input_ids)
        labels[row, :n] = torch.tensor(item.labels)
        mask[row, :n] = 1
    # Position t predicts token t + 1; the vocabulary projection (49k rows for SmolLM2)
    # runs only where that token is labelled, not on the prompt's positions.
    keep = torch.zeros((len(items), width), dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    targets = labels[:, 1:][keep[:, :-1]]
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=keep).logits
    loss = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets,
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return loss, int(targets.numel())


def micro_batches(items: list[Encoded]) -> list[list[Encoded]]:
    """``items`` by length in groups of :data:`MICRO_BATCH` (little padding per group)."""
    ordered = sorted(items, key=lambda item: len(item.input_ids))  # less padding
    return [ordered[i : i + MICRO_BATCH] for i in range(0, len(ordered), MICRO_BATCH)]


def validation_loss(model: Any, torch: Any, items: list[Encoded], pad_id: int) -> float:
    """Mean cross-entropy per labelled token of ``items``, without dropout or gradients."""
    training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for chunk in micro_batches(items):
            loss, tokens = batch_loss(model, torch, chunk, pad_id)
            total, count = total + float(loss), count + tokens
    model.train(training)
    return total / max(count, 1)


def rate_factor(total_steps: int) -> Callable[[int], float]:
    """Linear warm-up over the first tenth of the steps, then linear decay towards 0.

    Unlike transformers' schedule, the first step already moves (rate 1/warm-up, not 0)
    and the last one too, so a run of a few steps still learns.
    """
    warmup = max(1, math.ceil(WARMUP_FRACTION * total_steps))

    def factor(done: int) -> float:
        if done < warmup:
            return (done + 1) / warmup
        return max(0.0, (total_steps - done) / max(1, total_steps - warmup + 1))

    return factor


def validation_steps(steps_per_epoch: int, per_epoch: int) -> set[int]:
    """Epoch-local step numbers (1-based) after which to validate; the last always."""
    count = min(per_epoch, steps_per_epoch)
    return {math.ceil(k * steps_per_epoch / count) for k in range(1, count + 1)}
