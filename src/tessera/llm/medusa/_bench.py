"""Measuring Medusa against plain decoding on the same prompts, model and dtype."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tessera._validation import bad_value, check_positive_int
from tessera.llm._torch import require
from tessera.llm.medusa._typing import module_weight

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from tessera.llm._runtime import Messages, Runtime
    from tessera.llm.medusa._heads import MedusaHeads
    from tessera.llm.medusa._typing import CausalLM
else:
    torch = require("torch")

__all__ = ["DecodingComparison", "MethodResult", "compare_decoding", "head_accuracy"]


@dataclass
class MethodResult:
    """One decoding method over a prompt set.

    Attributes
    ----------
    name : str
    tokens : int
        Tokens generated over all prompts.
    seconds : float
        Wall time over all prompts (prefill included).
    steps : int
        Decoding steps (forward passes after the prefill, plus one).
    outputs : list of list of int
        The generated token ids, per prompt.
    """

    name: str
    tokens: int = 0
    seconds: float = 0.0
    steps: int = 0
    outputs: list[list[int]] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def mean_accepted(self) -> float:
        """Tokens per step."""
        return self.tokens / self.steps if self.steps else 0.0


@dataclass
class DecodingComparison:
    """Plain greedy against Medusa greedy on one prompt set.

    Attributes
    ----------
    plain, medusa : MethodResult
    identical : list of bool
        Per prompt: whether Medusa's tokens equal plain greedy's exactly.
    top1, top5 : list of float
        Each head's top-1 and top-5 accuracy against the plain greedy outputs.
    tree : list of list of int
        The candidate tree used.
    lookup_tokens : int
        Prompt-lookup tokens verified beside the tree (0: the heads alone).
    """

    plain: MethodResult
    medusa: MethodResult
    identical: list[bool]
    top1: list[float]
    top5: list[float]
    tree: list[list[int]]
    lookup_tokens: int = 0

    @property
    def speedup(self) -> float:
        """Medusa tokens/s over plain tokens/s."""
        if not self.plain.tokens_per_second:
            return 0.0
        return self.medusa.tokens_per_second / self.plain.tokens_per_second

    def summary(self) -> str:
        """A few lines for a terminal."""
        same = sum(self.identical)
        return "\n".join(
            [
                f"plain greedy : {self.plain.tokens_per_second:6.1f} tokens/s",
                f"medusa greedy: {self.medusa.tokens_per_second:6.1f} tokens/s "
                f"({self.speedup:.2f}x), {self.medusa.mean_accepted:.2f} tokens/step",
                f"identical output: {same}/{len(self.identical)} prompts",
                "head top-1: " + ", ".join(f"{a:.3f}" for a in self.top1),
                "head top-5: " + ", ".join(f"{a:.3f}" for a in self.top5),
                f"tree: {len(self.tree)} nodes"
                + (
                    f" + up to {self.lookup_tokens} drafted tokens (prompt lookup, else "
                    "the datastore when there is one)"
                    if self.lookup_tokens
                    else ""
                ),
            ]
        )


def _heads_of(runtime: Runtime) -> MedusaHeads:
    """The runtime's heads; a clear error when it has none."""
    if runtime.heads is None:
        raise bad_value(
            "runtime",
            runtime.name,
            "the runtime has no Medusa heads",
            "Load a model with heads: tessera.llm.load() or load(model, heads=folder).",
        )
    return runtime.heads


def head_accuracy(
    runtime: Runtime, prompts: Sequence[str | Messages], outputs: Sequence[Sequence[int]]
) -> tuple[list[float], list[float]]:
    """Each head's top-1 and top-5 accuracy on the given generations.

    For every generated position t, head k (1-based) is right when the token at
    t + k + 1 is its top-1 (top-5) candidate from the hidden state at t, ranked as the
    heads propose at decode time: within their ``token_map`` when they have one, and
    given the root token (t + 1) when they are root-conditioned.
    """
    from tessera.llm.medusa._decode import _backbone

    heads = _heads_of(runtime)
    model: CausalLM = runtime.model
    lm_head = model.get_output_embeddings()
    k_heads = heads.config.num_heads
    hits1 = np.zeros(k_heads)
    hits5 = np.zeros(k_heads)
    counts = np.zeros(k_heads)
    dtype = next(heads.parameters()).dtype
    token_map: Tensor | None = getattr(heads, "token_map", None)
    full_weight = module_weight(lm_head)
    weight = full_weight if token_map is None else full_weight[token_map]
    conditioned = bool(getattr(heads.config, "root_conditioned", False))
    embed = model.get_input_embeddings()
    with torch.inference_mode():
        for prompt, output in zip(prompts, outputs, strict=True):
            ids = runtime.encode(prompt)
            sequence = torch.tensor([ids + list(output)])
            hidden: Tensor = _backbone(model)(input_ids=sequence).last_hidden_state[0]
            start = len(ids) - 1
            for k in range(k_heads):
                positions = torch.arange(start, sequence.shape[1] - k - 2)
                if len(positions) == 0:
                    continue
                roots: Tensor | None = (
                    embed(sequence[0, positions + 1]).to(dtype) if conditioned else None
                )
                transformed = heads.hidden(hidden[positions].to(dtype), root_embedding=roots)[k]
                logits: Tensor
                if heads.lm_heads is not None:
                    logits = heads.lm_heads[k](transformed)
                else:
                    logits = torch.nn.functional.linear(transformed.to(weight.dtype), weight)
                targets = sequence[0, positions + k + 2]
                top = torch.topk(logits, 5, dim=-1).indices
                if token_map is not None and heads.lm_heads is None:
                    top = token_map[top]
                hits1[k] += float((top[:, 0] == targets).sum())
                hits5[k] += float((top == targets[:, None]).any(dim=-1).sum())
                counts[k] += len(positions)
    safe = np.maximum(counts, 1)
    return (hits1 / safe).tolist(), (hits5 / safe).tolist()


def _timed(run: Callable[[], list[list[int]]]) -> tuple[list[int], int, float]:
    start = time.perf_counter()
    steps = run()
    seconds = time.perf_counter() - start
    return [t for s in steps for t in s], len(steps), seconds


def compare_decoding(
    runtime: Runtime,
    prompts: Sequence[str | Messages],
    *,
    max_new_tokens: int = 128,
    warmup: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> DecodingComparison:
    """Time plain greedy and Medusa greedy decoding on ``prompts``, interleaved.

    Parameters
    ----------
    runtime : Runtime
        A runtime with Medusa heads (:func:`tessera.llm.load`).
    prompts : sequence of str or messages
    max_new_tokens : int, default=128
    warmup : int, default=1
        Prompts run once untimed first (allocator and kernel warm-up).
    progress : callable, optional
        Called as ``progress(done, total)`` after each prompt.

    Returns
    -------
    DecodingComparison
    """
    _heads_of(runtime)
    check_positive_int("max_new_tokens", max_new_tokens)
    if not prompts:
        raise bad_value("prompts", prompts, "it is empty", "Pass at least one prompt.")
    plain = MethodResult("plain greedy")
    medusa = MethodResult("medusa greedy")
    for prompt in list(prompts)[:warmup]:
        for use in (False, True):
            list(runtime.token_stream(prompt, max_new_tokens=16, medusa=use))
    identical = []
    for i, prompt in enumerate(prompts):
        results = {}
        for use, record in ((False, plain), (True, medusa)):

            def run(use: bool = use, prompt: str | Messages = prompt) -> list[list[int]]:
                return list(runtime.token_stream(prompt, max_new_tokens=max_new_tokens, medusa=use))

            tokens, steps, seconds = _timed(run)
            record.tokens += len(tokens)
            record.steps += steps
            record.seconds += seconds
            record.outputs.append(tokens)
            results[use] = tokens
        identical.append(results[False] == results[True])
        if progress is not None:
            progress(i + 1, len(prompts))
    top1, top5 = head_accuracy(runtime, prompts, plain.outputs)
    return DecodingComparison(
        plain,
        medusa,
        identical,
        top1,
        top5,
        [] if runtime.tree is None else runtime.tree.to_list(),
        getattr(runtime, "lookup_tokens", 0),
    )
