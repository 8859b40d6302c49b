"""Decoding: plain (one token per forward pass) and Medusa (a candidate tree per pass).

Both work on a Hugging Face causal LM with a :class:`transformers.DynamicCache`, at batch
size 1, and yield the new token ids of each step so that callers can stream. The steps are
named as in the Medusa paper's reference code: candidates from the heads, one forward pass
over the tree with tree attention, acceptance (greedy or typical), and the cache update
that keeps only the accepted path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera.llm._torch import require
from tessera.llm.medusa._heads import MedusaHeads
from tessera.llm.medusa._tree import MedusaTree

__all__ = ["DecodeStats", "Sampling", "medusa_generate", "plain_generate"]

torch: Any = require("torch")


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen.

    Parameters
    ----------
    temperature : float, default=0.0
        0 means greedy (argmax); above 0, softmax(logits / temperature) is sampled.
    top_p : float, default=1.0
        Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p.
    top_k : int or None, default=None
        Sample only among the ``top_k`` most likely tokens (applied before ``top_p``).
    seed : int or None, default=None
        Seeds the sampler, for reproducible samples.
    posterior_threshold : float, default=0.09
        Typical acceptance's epsilon: a candidate x is accepted when
        p(x) > min(epsilon, delta * exp(-H(p))).
    posterior_alpha : float, default=0.3
        Typical acceptance's delta (the paper's defaults: epsilon 0.09, delta 0.3).
    """

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    seed: int | None = None
    posterior_threshold: float = 0.09
    posterior_alpha: float = 0.3

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class DecodeStats:
    """What a decoding run did, filled in as it goes.

    Attributes
    ----------
    steps : int
        Forward passes after the prefill.
    tokens : int
        Tokens generated.
    accepted : list of int
        Tokens gained per Medusa step (1 = only the base model's token).
    prompt_tokens : int
        Tokens in the prompt.
    """

    steps: int = 0
    tokens: int = 0
    accepted: list[int] = field(default_factory=list)
    prompt_tokens: int = 0

    @property
    def mean_accepted(self) -> float:
        """Mean tokens per forward pass (1.0 for plain decoding)."""
        return self.tokens / self.steps if self.steps else 0.0


def _backbone(model: Any) -> Any:
    """The decoder stack of a causal LM (its hidden states come out after the final norm)."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if decoder is None or decoder is model:
        decoder = getattr(model, "model", None)
    if decoder is None or model.get_output_embeddings() is None:
        from tessera._validation import bad_value

        raise bad_value(
            "model",
            type(model).__name__,
            "it must be a transformers causal LM with a decoder and an lm_head",
            "Pass the model from tessera.llm.load_model() or AutoModelForCausalLM.",
        )
    return decoder


def _new_cache(model: Any) -> Any:
    transformers = require("transformers")
    return transformers.DynamicCache(config=model.config)


def _forward(
    model: Any,
    tokens: Any,
    cache: Any,
    positions: Any | None = None,
    mask: Any | None = None,
) -> Any:
    """Hidden states (after the final norm) of ``tokens``, appended to ``cache``."""
    out = _backbone(model)(
        input_ids=tokens.view(1, -1),
        position_ids=None if positions is None else positions.view(1, -1),
        attention_mask=mask,
        cache=cache,
        use_cache=True,
    )
    return out.last_hidden_state[0]


def _choose(logits: Any, sampling: Sampling, generator: Any) -> int:
    """The next token from one row of logits: argmax, or a (nucleus) sample."""
    if sampling.greedy:
        return int(torch.argmax(logits))
    scaled = logits.float() / sampling.temperature
    if sampling.top_k is not None and sampling.top_k < scaled.shape[-1]:
        kth = torch.topk(scaled, sampling.top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < sampling.top_p
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        return int(order[torch.multinomial(sorted_probs, 1, generator=generator)])
    return int(torch.multinomial(probs, 1, generator=generator))


def _generator(sampling: Sampling) -> Any:
    if sampling.greedy:
        return None
    generator = torch.Generator()
    if sampling.seed is None:
        generator.seed()
    else:
        generator.manual_seed(sampling.seed)
    return generator


def plain_generate(
    model: Any,
    prompt_ids: Sequence[int],
    *,
    max_new_tokens: int,
    eos_token_ids: Sequence[int] = (),
    sampling: Sampling | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[list[int]]:
    """Plain autoregressive decoding: one token per forward pass.

    Yields
    ------
    list of int
        The token of each step (a one-element list), ending with an EOS token if one
        was generated.
    """
    sampling = sampling or Sampling()
    stats = stats if stats is not None else DecodeStats()
    generator = _generator(sampling)
    lm_head = model.get_output_embeddings()
    eos = set(eos_token_ids)
    cache = _new_cache(model)
    stats.prompt_tokens = len(prompt_ids)
    with torch.inference_mode():
        hidden = _forward(model, torch.tensor(list(prompt_ids)), cache)
        logits = lm_head(hidden[-1])
        for _ in range(max_new_tokens):
            token = _choose(logits, sampling, generator)
            stats.tokens += 1
            yield [token]
            if token in eos or stats.tokens >= max_new_tokens:
                return
            hidden = _forward(model, torch.tensor([token]), cache)
            stats.steps += 1
            logits = lm_head(hidden[-1])


class _TreeState:
    """Per-tree tensors reused at every step."""

    def __init__(self, tree: MedusaTree, dtype: Any) -> None:
        self.tree = tree
        self.depths = torch.from_numpy(tree.depths)
        self.candidate_index = torch.from_numpy(tree.candidate_index)
        self.parents = tree.parents
        blocked = torch.finfo(dtype).min
        self.tree_mask = torch.where(
            torch.from_numpy(tree.attention),
            torch.zeros((), dtype=dtype),
            torch.full((), blocked, dtype=dtype),
        )
        self.dtype = dtype

    def mask(self, prefix: int) -> Any:
        n = self.tree.num_nodes
        full = torch.zeros((1, 1, n, prefix + n), dtype=self.dtype)
        full[0, 0, :, prefix:] = self.tree_mask
        return full


def _accept_path(
    tree_tokens: np.ndarray,
    state: _TreeState,
    rows: Any,
    sampling: Sampling,
) -> list[int]:
    """The accepted chain of nodes, root first.

    ``rows`` holds the base model's logits at every node of the tree. Greedy: a child
    is accepted when its token is its parent's argmax. Typical: when its probability
    under the parent's distribution exceeds min(epsilon, delta * exp(-H)). The chain
    ends at the deepest accepted node (the first such on ties).
    """
    n = state.tree.num_nodes
    parents = state.parents
    ok = np.zeros(n, dtype=np.bool_)
    ok[0] = True
    if sampling.greedy:
        best = rows.argmax(dim=-1).numpy()
        for child in range(1, n):
            parent = parents[child]
            ok[child] = ok[parent] and best[parent] == tree_tokens[child]
    else:
        probs = torch.softmax(rows.float() / sampling.temperature, dim=-1)
        entropy = -(probs * torch.log(probs.clamp_min(1e-30))).sum(dim=-1)
        limit = torch.clamp(
            sampling.posterior_alpha * torch.exp(-entropy), max=sampling.posterior_threshold
        ).numpy()
        chosen = probs[torch.from_numpy(parents[1:]), torch.from_numpy(tree_tokens[1:])]
        passes = chosen.numpy() > limit[parents[1:]]
        for child in range(1, n):
            ok[child] = ok[parents[child]] and passes[child - 1]
    depths = state.tree.depths
    candidates = np.flatnonzero(ok)
    last = int(candidates[np.argmax(depths[candidates])])
    chain = [last]
    while chain[-1] != 0:
        chain.append(int(parents[chain[-1]]))
    return chain[::-1]


def _keep_path(cache: Any, prefix: int, chain: Sequence[int], num_nodes: int) -> None:
    """Keep the K/V of the accepted nodes right after the prefix; drop the rest."""
    kept = len(chain)
    if list(chain) != list(range(kept)):
        index = torch.tensor([prefix + c for c in chain])
        for layer in cache.layers:
            layer.keys[..., prefix : prefix + kept, :] = layer.keys[..., index, :]
            layer.values[..., prefix : prefix + kept, :] = layer.values[..., index, :]
    cache.crop(-(num_nodes - kept))


def medusa_generate(
    model: Any,
    heads: MedusaHeads,
    tree: MedusaTree,
    prompt_ids: Sequence[int],
    *,
    max_new_tokens: int,
    eos_token_ids: Sequence[int] = (),
    sampling: Sampling | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[list[int]]:
    """Medusa decoding: a tree of candidates from the heads, verified in one forward pass.

    With greedy sampling the output is exactly plain greedy decoding's (every accepted
    token is the base model's argmax); with temperature > 0, typical acceptance is used
    and the first token of each step is sampled from the base model.

    Yields
    ------
    list of int
        The tokens accepted at each step (one or more), ending with an EOS token if one
        was generated.
    """
    sampling = sampling or Sampling()
    stats = stats if stats is not None else DecodeStats()
    if tree.depth > heads.config.num_heads:
        from tessera._validation import bad_value

        raise bad_value(
            "tree",
            tree.paths[-1],
            f"the tree is {tree.depth} deep but there are only {heads.config.num_heads} heads",
            "Build the tree from accuracies with one row per head.",
        )
    generator = _generator(sampling)
    lm_head = model.get_output_embeddings()
    eos = set(eos_token_ids)
    dtype = next(model.parameters()).dtype
    state = _TreeState(tree, dtype)
    cache = _new_cache(model)
    heads_type = heads_dtype(heads)

    def propose(last_hidden: Any, root: int) -> Any:
        if not heads.config.root_conditioned:
            return heads.candidates(last_hidden.to(heads_type), lm_head, tree.topk)
        embedding = model.get_input_embeddings()(torch.tensor([root]))[0].to(heads_type)
        return heads.candidates(last_hidden.to(heads_type), lm_head, tree.topk, embedding)

    stats.prompt_tokens = len(prompt_ids)
    with torch.inference_mode():
        hidden = _forward(model, torch.tensor(list(prompt_ids)), cache)
        base_logits = lm_head(hidden[-1])
        last_hidden = hidden[-1]
        while True:
            root = _choose(base_logits, sampling, generator)
            if tree.num_nodes == 1 or stats.tokens + 1 >= max_new_tokens or root in eos:
                stats.tokens += 1
                stats.accepted.append(1)
                yield [root]
                if root in eos or stats.tokens >= max_new_tokens:
                    return
                hidden = _forward(model, torch.tensor([root]), cache)
                stats.steps += 1
                last_hidden = hidden[-1]
                base_logits = lm_head(last_hidden)
                continue
            top = propose(last_hidden, root)[: tree.depth]
            flat = torch.cat([torch.tensor([root]), top.reshape(-1)])
            tree_tokens = flat[state.candidate_index]
            prefix = cache.get_seq_length()
            hidden = _forward(model, tree_tokens, cache, prefix + state.depths, state.mask(prefix))
            stats.steps += 1
            # Logits at every node: internal ones verify their children, and the last
            # accepted one (often a leaf) gives the next step's root.
            rows = lm_head(hidden)
            chain = _accept_path(tree_tokens.numpy(), state, rows, sampling)
            tokens = [int(tree_tokens[c]) for c in chain]
            remaining = max_new_tokens - stats.tokens
            stop = False
            for i, token in enumerate(tokens):
                if token in eos or i + 1 >= remaining:
                    tokens, chain, stop = tokens[: i + 1], chain[: i + 1], True
                    break
            stats.tokens += len(tokens)
            stats.accepted.append(len(tokens))
            yield tokens
            if stop:
                return
            _keep_path(cache, prefix, chain, tree.num_nodes)
            last_hidden = hidden[chain[-1]]
            base_logits = rows[chain[-1]]


def heads_dtype(heads: MedusaHeads) -> Any:
    """The dtype of the heads' weights."""
    return next(heads.parameters()).dtype
