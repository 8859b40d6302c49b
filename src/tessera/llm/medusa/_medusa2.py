"""Medusa-2: LoRA on the backbone trained jointly with the heads.

The loss is ``L_LM + heads_weight * L_heads`` (Medusa paper, section 2.3.2). The data
is self-distilled, so ``L_LM`` is the KL divergence from the frozen base model's next-token
distribution to the tuned one (the paper's recipe for self-distillation): the backbone is
free to move only where this buys better head predictions, and its answers stay those of
the base model. The heads are warmed up first with Medusa-1 (or taken from a Medusa-1
result), so that their large early gradients do not disturb the backbone.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from tessera._validation import bad_value, check_bool, check_positive_int
from tessera.llm._torch import require
from tessera.llm.medusa._distill import DistillationData
from tessera.llm.medusa._heads import MedusaHeads
from tessera.llm.medusa._train import (
    HEAD_DECAY,
    RankAccuracies,
    _check_train_args,
    _head_losses,
    cache_hidden_states,
    check_rate,
    evaluate_heads,
    split_samples,
    train_medusa,
)
from tessera.llm.medusa._typing import module_weight

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from torch import Tensor, nn

    from tessera.llm.medusa._typing import CausalLM
else:
    torch = require("torch")

__all__ = ["Medusa2Result", "train_medusa2"]


@dataclass(frozen=True)
class Medusa2Result(RankAccuracies):
    """A fine-tuned backbone (LoRA merged in) with its heads.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        A float32 copy of the base model with the LoRA weights merged; evaluation mode.
    heads : MedusaHeads
        float32, evaluation mode.
    accuracies : list of list of float
        As in :class:`TrainResult` (with ``top1`` and ``top5``), measured with the tuned
        backbone.
    losses, kl_losses, head_losses : list of float
        Per epoch, the mean total loss and its two parts (the heads part unweighted).
    seconds : float
        Wall time, the warm-up included.
    """

    model: CausalLM
    heads: MedusaHeads
    accuracies: list[list[float]]
    losses: list[float]
    kl_losses: list[float]
    head_losses: list[float]
    seconds: float


def _padded(
    data: DistillationData, batch: Sequence[int], num_heads: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Right-padded ids, attention mask, response mask (positions t that predict t+1 in the
    response) and per-head targets (-100 outside the response)."""
    width = max(len(data.sequences[i]) for i in batch)
    ids = np.zeros((len(batch), width), dtype=np.int64)
    attention = np.zeros((len(batch), width), dtype=np.int64)
    region = np.zeros((len(batch), width), dtype=bool)
    targets = np.full((len(batch), width, num_heads), -100, dtype=np.int64)
    for row, i in enumerate(batch):
        sequence, length = data.sequences[i], len(data.sequences[i])
        start = int(data.prompt_lengths[i]) - 1
        ids[row, :length], attention[row, :length] = sequence, 1
        region[row, start : length - 1] = True
        for k in range(1, num_heads + 1):
            positions = np.arange(start, max(start, length - k - 1))
            targets[row, positions, k - 1] = sequence[positions + k + 1]
    return (
        torch.from_numpy(ids),
        torch.from_numpy(attention),
        torch.from_numpy(region),
        torch.from_numpy(targets),
    )


def train_medusa2(
    model: CausalLM,
    data: DistillationData,
    *,
    heads: MedusaHeads | None = None,
    num_heads: int = 3,
    num_layers: int = 1,
    warmup_epochs: int = 2,
    epochs: int = 1,
    learning_rate: float = 1e-4,
    heads_learning_rate: float = 1e-3,
    lora_rank: int = 8,
    lora_alpha: int = 16,
    target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
    heads_weight: float = 0.2,
    batch_size: int = 4,
    seed: int = 0,
    progress: bool = True,
    validation_fraction: float = 0.05,
) -> Medusa2Result:
    """Fine-tune a LoRA adapter on the backbone jointly with Medusa heads.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The base causal LM; it is copied, never modified.
    data : DistillationData
        Self-distilled samples (the base model's own answers).
    heads : MedusaHeads, optional
        Warmed-up heads (e.g. ``train_medusa(...).heads``); copied. Without them, Medusa-1
        heads are trained first for ``warmup_epochs``.
    num_heads, num_layers : int, default=3, 1
        Shape of the heads trained for the warm-up (ignored when ``heads`` is given).
    warmup_epochs, epochs : int, default=2, 1
    learning_rate, heads_learning_rate : float, default=1e-4, 1e-3
        AdamW rates of the LoRA weights and of the heads (cosine decay).
    lora_rank, lora_alpha : int, default=8, 16
    target_modules : sequence of str
        The linear layers that get LoRA adapters.
    heads_weight : float, default=0.2
        Weight of the heads' loss (the paper's lambda_0).
    batch_size : int, default=4
        Samples per step.
    seed, progress, validation_fraction
        As in :func:`train_medusa` (the same split for the same seed).

    Returns
    -------
    Medusa2Result
    """
    require("peft")  # the error names the extra when it is missing
    from peft import LoraConfig, get_peft_model

    _check_train_args(model, data, validation_fraction, learning_rate)
    check_rate("heads_learning_rate", heads_learning_rate)
    for name, value in (
        ("warmup_epochs", warmup_epochs),
        ("epochs", epochs),
        ("lora_rank", lora_rank),
        ("lora_alpha", lora_alpha),
        ("batch_size", batch_size),
    ):
        check_positive_int(name, value)
    check_bool("progress", progress)
    if not isinstance(heads_weight, int | float) or not heads_weight > 0:
        raise bad_value("heads_weight", heads_weight, "it must be > 0", "Pass e.g. 0.2.")
    if heads is not None and not isinstance(heads, MedusaHeads):
        raise bad_value(
            "heads",
            type(heads).__name__,
            "it must be MedusaHeads or None",
            "Pass train_medusa(...).heads, or None to warm up here.",
        )
    started = time.perf_counter()
    if heads is None:
        heads = train_medusa(
            model,
            data,
            num_heads=num_heads,
            num_layers=num_layers,
            epochs=warmup_epochs,
            learning_rate=heads_learning_rate,
            seed=seed,
            progress=progress,
            validation_fraction=validation_fraction,
        ).heads
    heads = copy.deepcopy(heads).to(torch.float32).train().requires_grad_(True)
    num_heads = heads.config.num_heads
    with warnings.catch_warnings():
        # peft 0.21 reads transformers 5's deprecated is_gradient_checkpointing.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        base = cast("nn.Module", copy.deepcopy(model)).to(torch.float32)
        peft_model = get_peft_model(
            base,
            LoraConfig(
                r=lora_rank,
                lora_alpha=lora_alpha,
                lora_dropout=0.0,
                target_modules=list(target_modules),
                bias="none",
            ),
        )
    # Without mixed=True, get_peft_model returns a PeftModel.
    tuned = cast("PeftModel", peft_model)
    # The copied transformers model, adapters in place (PEFT types it as any module).
    inner: Any = tuned.base_model.model
    decoder: nn.Module = inner.model
    lm_head: nn.Module = inner.get_output_embeddings()
    train_idx, valid_idx = split_samples(len(data), float(validation_fraction), seed)
    lora_params = [p for p in tuned.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": lora_params, "lr": learning_rate},
            {"params": list(heads.parameters()), "lr": heads_learning_rate},
        ],
        weight_decay=0.0,
    )
    steps = math.ceil(len(train_idx) / batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(1, steps * epochs)))
    )
    decay = torch.tensor([HEAD_DECAY**k for k in range(num_heads)])
    generator = np.random.default_rng(seed)
    losses, kl_losses, head_losses = [], [], []
    tuned.train()
    for _ in range(epochs):
        order = generator.permutation(train_idx)
        sums = np.zeros(3)
        for step in range(steps):
            batch = [int(i) for i in order[step * batch_size : (step + 1) * batch_size]]
            ids, attention, region, targets = _padded(data, batch, num_heads)
            with torch.no_grad(), tuned.disable_adapter():
                base_logp = torch.log_softmax(
                    lm_head(decoder(input_ids=ids, attention_mask=attention).last_hidden_state)[
                        region
                    ],
                    dim=-1,
                )
            hidden = decoder(input_ids=ids, attention_mask=attention).last_hidden_state[region]
            tuned_logp = torch.log_softmax(lm_head(hidden), dim=-1)
            kl = torch.nn.functional.kl_div(
                tuned_logp, base_logp, log_target=True, reduction="batchmean"
            )
            heads_loss = (
                _head_losses(heads, hidden, targets[region], module_weight(lm_head)) * decay
            ).sum()
            loss = kl + heads_weight * heads_loss
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            scheduler.step()
            sums += [float(loss.detach()), float(kl.detach()), float(heads_loss.detach())]
        losses.append(sums[0] / steps)
        kl_losses.append(sums[1] / steps)
        head_losses.append(sums[2] / steps)
    merged = cast("CausalLM", tuned.merge_and_unload().eval().requires_grad_(False))
    heads.eval().requires_grad_(False)
    accuracies: list[list[float]] = []
    if len(valid_idx):
        valid_hidden, valid_targets = cache_hidden_states(merged, data, valid_idx, num_heads)
        weight = module_weight(merged.get_output_embeddings())
        accuracies, _ = evaluate_heads(heads, valid_hidden, valid_targets, weight)
    return Medusa2Result(
        model=merged,
        heads=heads,
        accuracies=accuracies,
        losses=losses,
        kl_losses=kl_losses,
        head_losses=head_losses,
        seconds=time.perf_counter() - started,
    )
