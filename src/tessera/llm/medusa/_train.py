"""Medusa-1 training: heads on a frozen base model, from cached hidden states.

The base model is frozen, so its last hidden states never change during training: they
are computed once per sample (one forward pass, in the model's own dtype) and kept for
the response region only. Each optimisation step then costs only the heads and the
shared vocabulary projection, which makes training on a CPU a matter of minutes.

Head k (1-based) sees the hidden state at position t and predicts the token at t+k+1
(the base ``lm_head`` already predicts t+1). Positions run from the last prompt token
(where decoding starts) to the end of the response. The loss is
``sum_k 0.8**(k-1) * CE_k``, the decay of the Medusa paper (``0.8**i`` for the 0-based
head index i). Root-conditioned heads (``MedusaConfig.root_conditioned``) also see the
input embedding of the token at t+1, the root that decoding knows before they run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tessera._validation import bad_value, check_bool, check_in, check_positive_int
from tessera.llm._torch import require
from tessera.llm.medusa._cache import (
    _check_roots,
    cache_hidden_states,
    cache_training_states,
    root_rows,
)
from tessera.llm.medusa._decode import _backbone as _decoder
from tessera.llm.medusa._distill import DistillationData, progress_bar
from tessera.llm.medusa._heads import MedusaConfig, MedusaHeads
from tessera.llm.medusa._typing import module_weight

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch
    from torch import Tensor

    from tessera.llm.medusa._typing import CausalLM
else:
    torch = require("torch")

__all__ = [
    "HEAD_DECAY",
    "NEGATIVES",
    "TOP_RANKS",
    "TrainResult",
    "cache_hidden_states",
    "cache_training_states",
    "train_medusa",
]

#: Weight of head k's loss is ``HEAD_DECAY ** (k - 1)``.
HEAD_DECAY = 0.8
#: How many ranks :attr:`TrainResult.accuracies` covers per head.
TOP_RANKS = 10
#: With ``vocabulary="seen"``: random unseen tokens added to the softmax at every step.
NEGATIVES = 1024


class RankAccuracies:
    """Cumulative accuracies derived from per-rank ``accuracies[k][r]``."""

    accuracies: list[list[float]]

    @property
    def top1(self) -> list[float]:
        """Per head, how often the right token is its first choice."""
        return top_k_accuracy(self.accuracies, 1)

    @property
    def top5(self) -> list[float]:
        """Per head, how often the right token is among its first five choices."""
        return top_k_accuracy(self.accuracies, 5)


@dataclass(frozen=True)
class TrainResult(RankAccuracies):
    """Trained heads and what was measured on held-out samples.

    Attributes
    ----------
    heads : MedusaHeads
        float32 parameters, evaluation mode.
    accuracies : list of list of float
        ``accuracies[k][r]``: the fraction of held-out positions where head k+1's rank-r
        candidate (r = 0 is its top choice) is the right token. Ranks are disjoint, so
        a row sums to the head's top-10 accuracy. The candidate tree is built from this.
        :attr:`top1` and :attr:`top5` sum its first ranks.
    losses : list of float
        Mean training loss of every epoch.
    validation_loss : float
        The loss on the held-out positions after training (nan without held-out data).
    train_positions, validation_positions : int
        Positions trained on / measured on (a position counts once for all heads).
    seconds : float
        Wall time, hidden-state caching included.
    cache_seconds : float
        The part spent running the base model.
    """

    heads: MedusaHeads
    accuracies: list[list[float]]
    losses: list[float]
    validation_loss: float
    train_positions: int
    validation_positions: int
    seconds: float
    cache_seconds: float
    facts: dict[str, Any] = field(default_factory=dict)


def top_k_accuracy(accuracies: list[list[float]], k: int) -> list[float]:
    """Per head, the cumulative top-``k`` accuracy from per-rank accuracies."""
    return [float(sum(row[:k])) for row in accuracies]


def _head_losses(
    heads: MedusaHeads,
    hidden: Tensor,
    targets: Tensor,
    weight: Tensor,
    roots: Tensor | None = None,
) -> Tensor:
    """Cross-entropy of every head, shape ``(K,)`` (0 for a head without targets).

    ``roots``: the root embeddings (float32, one row per position) for conditioned heads.
    """
    functional = torch.nn.functional
    transformed = heads.hidden(hidden.to(torch.float32), roots)
    logits = functional.linear(transformed.to(weight.dtype), weight).to(torch.float32)
    losses = []
    for k in range(logits.shape[0]):
        valid = targets[:, k] >= 0
        if bool(valid.any()):
            losses.append(functional.cross_entropy(logits[k][valid], targets[valid, k]))
        else:
            losses.append(logits[k].sum() * 0.0)
    return torch.stack(losses)


def evaluate_heads(
    heads: MedusaHeads,
    hidden: Tensor,
    targets: Tensor,
    weight: Tensor,
    *,
    batch_size: int = 512,
    roots: Tensor | None = None,
    embedding: Tensor | None = None,
) -> tuple[list[list[float]], float]:
    """Per-rank accuracies (``[k][r]``) and the weighted loss over cached positions.

    Candidates are ranked as :meth:`MedusaHeads.candidates` proposes them: among the
    heads' ``token_map`` when one is set, else over the whole vocabulary. The loss is
    always over the whole vocabulary. Root-conditioned heads need ``roots`` (from
    :func:`cache_training_states`) and the base input ``embedding`` weight.
    """
    _check_roots(heads.config, embedding, roots, len(hidden))
    if not heads.config.root_conditioned:
        roots = None
    num_heads = heads.config.num_heads
    token_map: Tensor | None = getattr(heads, "token_map", None)
    proposal_weight = weight if token_map is None else weight[token_map]
    ranks = min(TOP_RANKS, proposal_weight.shape[0])
    hits = np.zeros((num_heads, ranks))
    counts = np.zeros(num_heads)
    loss_sum, loss_weight = 0.0, 0
    decay = torch.tensor([HEAD_DECAY**k for k in range(num_heads)])
    with torch.no_grad():
        for start in range(0, len(hidden), batch_size):
            h, t = hidden[start : start + batch_size], targets[start : start + batch_size]
            e = None if roots is None else root_rows(embedding, roots[start : start + batch_size])
            transformed = heads.hidden(h.to(torch.float32), e)
            logits = torch.nn.functional.linear(transformed.to(weight.dtype), proposal_weight)
            top = logits.topk(ranks, dim=-1).indices
            if token_map is not None:
                top = token_map[top]
            for k in range(num_heads):
                valid = t[:, k] >= 0
                counts[k] += int(valid.sum())
                hits[k] += (top[k][valid] == t[valid, k, None]).sum(dim=0).numpy()
            loss_sum += float((_head_losses(heads, h, t, weight, e) * decay).sum()) * len(h)
            loss_weight += len(h)
    accuracies = [
        [float(hits[k, r] / counts[k]) if counts[k] else 0.0 for r in range(ranks)]
        for k in range(num_heads)
    ]
    return accuracies, (loss_sum / loss_weight if loss_weight else math.nan)


def _check_train_args(
    model: CausalLM, data: object, validation_fraction: object, learning_rate: object
) -> None:
    if not isinstance(data, DistillationData) or len(data) == 0:
        raise bad_value(
            "data",
            type(data).__name__,
            "it must be a non-empty DistillationData",
            "Build it with generate_self_distillation_data or DistillationData.load.",
        )
    _decoder(model)
    if not isinstance(validation_fraction, int | float) or not 0 <= validation_fraction < 1:
        raise bad_value(
            "validation_fraction",
            validation_fraction,
            "it must be a number in [0, 1)",
            "Pass e.g. validation_fraction=0.05 (0 trains on everything, no accuracies).",
        )
    check_rate("learning_rate", learning_rate)


def check_rate(name: str, value: object) -> None:
    """Raise unless ``value`` is a learning rate in (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise bad_value(name, value, "it must be a number in (0, 1)", f"Pass e.g. {name}=1e-3.")


def split_samples(
    count: int, validation_fraction: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Shuffled sample indices: (training, validation); validation gets the fraction, rounded up."""
    order = np.random.default_rng(seed).permutation(count)
    held = math.ceil(count * validation_fraction) if validation_fraction > 0 else 0
    held = min(held, count - 1)
    return np.sort(order[held:]), np.sort(order[:held])


def fit_heads(
    config: MedusaConfig,
    hidden: Tensor,
    targets: Tensor,
    weight: Tensor,
    *,
    seen: Tensor | None = None,
    roots: Tensor | None = None,
    embedding: Tensor | None = None,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    progress: bool,
) -> tuple[MedusaHeads, list[float]]:
    """Train fresh heads on cached states (see :func:`cache_hidden_states`).

    ``seen`` (token ids) restricts the softmax to them plus :data:`NEGATIVES` random other
    tokens per step and becomes the heads' ``token_map``. Returns the heads (evaluation
    mode) and the mean loss of every epoch. Root-conditioned configs need ``roots`` and
    ``embedding`` as in :func:`evaluate_heads`.
    """
    _check_roots(config, embedding, roots, len(hidden))
    if not config.root_conditioned:
        roots = None
    generator = torch.Generator().manual_seed(seed)
    unseen, train_weight = None, weight
    if seen is not None:
        mask = torch.ones(weight.shape[0], dtype=torch.bool)
        mask[seen] = False
        unseen = torch.nonzero(mask).flatten()
        remap = torch.full((weight.shape[0],), -100, dtype=torch.long)
        remap[seen] = torch.arange(len(seen))
        targets = torch.where(targets >= 0, remap[targets.clamp(min=0)], targets)
        train_weight = weight[seen]
    heads = MedusaHeads(config).to(torch.float32).train()
    optimizer = torch.optim.AdamW(heads.parameters(), lr=learning_rate, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(hidden) / batch_size)
    total_steps = steps_per_epoch * epochs
    warmup = max(1, total_steps // 20)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    decay = torch.tensor([HEAD_DECAY**k for k in range(config.num_heads)])
    losses: list[float] = []
    with progress_bar(progress, "{task.fields[loss]}") as bar:
        task = bar.add_task("training heads", total=total_steps, loss="")
        for epoch in range(epochs):
            order = torch.randperm(len(hidden), generator=generator)
            epoch_loss = 0.0
            for step in range(steps_per_epoch):
                batch = order[step * batch_size : (step + 1) * batch_size]
                if unseen is not None and len(unseen):
                    drawn = torch.randperm(len(unseen), generator=generator)[:NEGATIVES]
                    train_weight = torch.cat([weight[seen], weight[unseen[drawn]]])
                rows = None if roots is None else root_rows(embedding, roots[batch])
                loss = (
                    _head_losses(heads, hidden[batch], targets[batch], train_weight, rows) * decay
                ).sum()
                optimizer.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)
                optimizer.step()
                scheduler.step()
                epoch_loss += float(loss.detach()) * len(batch)
                bar.update(
                    task, advance=1, loss=f"epoch {epoch + 1} loss {float(loss.detach()):.3f}"
                )
            losses.append(epoch_loss / len(hidden))
    heads.eval()
    heads.requires_grad_(False)
    if seen is not None:
        heads.set_token_map(seen)
    return heads, losses


def train_medusa(
    model: CausalLM,
    data: DistillationData,
    *,
    num_heads: int = 3,
    num_layers: int = 1,
    epochs: int = 2,
    learning_rate: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
    validation_fraction: float = 0.05,
    vocabulary: str = "full",
    root_conditioned: bool = False,
) -> TrainResult:
    """Train Medusa-1 heads (base model frozen, ``lm_head`` shared) on self-distilled data.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The base causal LM; it is not modified.
    data : DistillationData
        From :func:`generate_self_distillation_data`.
    num_heads, num_layers : int, default=3, 1
        See :class:`MedusaConfig`.
    epochs : int, default=2
    learning_rate : float, default=1e-3
        AdamW peak rate: a linear warm-up over the first 5% of steps, then cosine decay
        to zero.
    batch_size : int, default=256
        Positions per step (shuffled across samples).
    seed : int, default=0
        Validation split, shuffling and nothing else (heads start at zero).
    progress : bool, default=True
        Progress bars with the time left: caching the base model's hidden states, then
        training (with the running loss).
    validation_fraction : float, default=0.05
        Samples held out to measure :attr:`TrainResult.accuracies` (at least one when
        positive; 0 trains on every sample and leaves the accuracies empty).
    vocabulary : {"full", "seen"}, default="full"
        The softmax of the training loss: over the whole vocabulary, or over the tokens
        that occur in the training samples plus :data:`NEGATIVES` other tokens drawn
        afresh at every step. On a large vocabulary the vocabulary projection and softmax
        are nearly all the cost of a step, and a self-distilled corpus uses a small part
        of the vocabulary, so ``"seen"`` trains several times faster. The heads then
        propose only the seen tokens (their ``token_map``, saved with them), and the
        accuracies are measured that way.
    root_conditioned : bool, default=False
        Train root-conditioned heads (see :class:`MedusaConfig`): each head also sees
        the base input embedding of the token at t+1.

    Returns
    -------
    TrainResult
    """
    _check_train_args(model, data, validation_fraction, learning_rate)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed)):
        check_positive_int(name, value, minimum=0 if name == "seed" else 1)
    check_bool("progress", progress)
    check_in("vocabulary", vocabulary, ("full", "seen"))
    check_bool("root_conditioned", root_conditioned)
    started = time.perf_counter()
    weight = module_weight(model.get_output_embeddings()).detach()
    embedding = module_weight(model.get_input_embeddings()).detach()
    config = MedusaConfig(
        weight.shape[1], weight.shape[0], num_heads, num_layers, root_conditioned=root_conditioned
    )
    train_idx, valid_idx = split_samples(len(data), float(validation_fraction), seed)
    hidden, targets, roots = cache_training_states(
        model, data, train_idx, num_heads, progress=progress
    )
    valid_hidden, valid_targets, valid_roots = cache_training_states(
        model, data, valid_idx, num_heads, progress=progress, description="caching validation"
    )
    cache_seconds = time.perf_counter() - started
    if len(hidden) == 0:
        raise bad_value(
            "data",
            f"{len(data)} samples",
            "the training samples hold no response tokens to learn from",
            "Generate responses with max_new_tokens >= 2.",
        )
    seen = None
    if vocabulary == "seen":
        seen = torch.from_numpy(np.unique(np.concatenate([data.sequences[i] for i in train_idx])))
    heads, losses = fit_heads(
        config,
        hidden,
        targets,
        weight,
        seen=seen,
        roots=roots,
        embedding=embedding,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )
    accuracies: list[list[float]] = []
    validation_loss = math.nan
    if len(valid_hidden):
        accuracies, validation_loss = evaluate_heads(
            heads, valid_hidden, valid_targets, weight, roots=valid_roots, embedding=embedding
        )
    return TrainResult(
        heads=heads,
        accuracies=accuracies,
        losses=losses,
        validation_loss=validation_loss,
        train_positions=len(hidden),
        validation_positions=len(valid_hidden),
        seconds=time.perf_counter() - started,
        cache_seconds=cache_seconds,
        facts={
            "epochs": epochs,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "seed": seed,
            "train_samples": len(train_idx),
            "validation_samples": len(valid_idx),
            "vocabulary": vocabulary,
            "root_conditioned": root_conditioned,
            "softmax_size": weight.shape[0]
            if seen is None
            else min(weight.shape[0], len(seen) + NEGATIVES),
        },
    )
