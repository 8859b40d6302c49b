"""Cached base-model states for head training: hidden states, targets and root tokens.

The base model is frozen, so its last hidden states are computed once per sample and
kept for the response region only (see :mod:`tessera.llm.medusa._train`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from tessera._validation import bad_value
from tessera.llm._torch import require
from tessera.llm.medusa._decode import _backbone as _decoder
from tessera.llm.medusa._distill import DistillationData, progress_bar
from tessera.llm.medusa._heads import MedusaConfig
from tessera.llm.medusa._typing import module_weight

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from tessera.llm.medusa._typing import CausalLM
else:
    torch = require("torch")

__all__ = ["cache_hidden_states", "cache_training_states", "root_rows"]


def cache_hidden_states(
    model: CausalLM, data: DistillationData, indices: Iterable[int], num_heads: int
) -> tuple[Tensor, Tensor]:
    """Last hidden states (after the final norm) over the response region, and targets.

    The first two results of :func:`cache_training_states`.
    """
    hidden, targets, _ = cache_training_states(model, data, indices, num_heads)
    return hidden, targets


def cache_training_states(
    model: CausalLM,
    data: DistillationData,
    indices: Iterable[int],
    num_heads: int,
    *,
    progress: bool = False,
    description: str = "caching hidden states",
) -> tuple[Tensor, Tensor, Tensor]:
    """Last hidden states (after the final norm) over the response region, targets, roots.

    One forward pass of the base model per sample; ``progress`` shows a bar (labelled
    ``description``) with the time left.

    Returns
    -------
    hidden : torch.Tensor
        ``(N, H)`` in the model's dtype: one row per position t from the last prompt
        token to the second-to-last token of each sample in ``indices``.
    targets : torch.Tensor
        ``(N, num_heads)`` int64: the token at t+k+1 for head k (1-based), -100 where
        the sequence ends first.
    roots : torch.Tensor
        ``(N,)`` int64: the token at t+1 (the root that root-conditioned heads see).
    """
    decoder = _decoder(model)
    hidden_parts: list[Tensor] = []
    target_parts: list[Tensor] = []
    root_parts: list[Tensor] = []
    indices = list(indices)
    with progress_bar(progress) as bar, torch.inference_mode():
        task = bar.add_task(description, total=len(indices))
        for i in indices:
            sequence = np.asarray(data.sequences[i], dtype=np.int64)
            start, length = int(data.prompt_lengths[i]) - 1, len(sequence)
            if length - start < 2:
                bar.advance(task)
                continue
            output = decoder(input_ids=torch.from_numpy(sequence)[None])
            states: Tensor = output.last_hidden_state[0]
            hidden_parts.append(states[start : length - 1].clone())
            positions = np.arange(start, length - 1)
            targets = np.full((len(positions), num_heads), -100, dtype=np.int64)
            for k in range(1, num_heads + 1):
                valid = positions + k + 1 < length
                targets[valid, k - 1] = sequence[positions[valid] + k + 1]
            target_parts.append(torch.from_numpy(targets))
            root_parts.append(torch.from_numpy(sequence[positions + 1]))
            bar.advance(task)
    if not hidden_parts:
        width = module_weight(model.get_output_embeddings()).shape[1]
        empty = torch.zeros((0, num_heads), dtype=torch.long)
        return torch.zeros((0, width)), empty, torch.zeros(0, dtype=torch.long)
    return torch.cat(hidden_parts), torch.cat(target_parts), torch.cat(root_parts)


def root_rows(embedding: Tensor | None, roots: Tensor | None) -> Tensor | None:
    """float32 rows of the (frozen) input ``embedding`` weight for ``roots``; None if absent."""
    if embedding is None or roots is None:
        return None
    return embedding[roots].to(torch.float32)


def _check_roots(
    config: MedusaConfig, embedding: Tensor | None, roots: Tensor | None, count: int
) -> None:
    if config.root_conditioned and (embedding is None or roots is None or len(roots) != count):
        raise bad_value(
            "roots",
            None if roots is None else f"{len(roots)} ids",
            f"root-conditioned heads need an input embedding and one root id per position "
            f"({count})",
            "Pass embedding=model.get_input_embeddings().weight and the roots from "
            "cache_training_states.",
        )
