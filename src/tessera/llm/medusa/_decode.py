"""Decoding: plain (one token per forward pass) and Medusa (a candidate tree per pass).

Both work on a Hugging Face causal LM with a :class:`transformers.DynamicCache`, at batch
size 1, and yield the new token ids of each step so that callers can stream. A Medusa step
has three parts: **draft** (every :class:`~tessera.llm.medusa._drafters.Drafter` proposes
tokens after the step's root: the heads' candidate tree, prompt lookup, the datastore, a
grammar's forced tokens), **verify** (the drafts merged into one tree, one forward pass
over it with tree attention, acceptance greedy or typical: :mod:`._verify`) and
**commit** (the accepted tokens yielded, the cache cut to their path, the drafters told).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from tessera._validation import bad_value, check_positive_int
from tessera.llm._batching import Followed, ForwardBatcher, current_batcher
from tessera.llm._invariant import INVARIANT_MAX_QUERIES, is_batch_invariant
from tessera.llm._sampling import check_sampling
from tessera.llm._step import lean_forward
from tessera.llm._torch import require
from tessera.llm.medusa._constrained import (
    ForcedTokens,
    accept_greedy,
    allowed_nodes,
    masked_rows,
)
from tessera.llm.medusa._datastore import Datastore
from tessera.llm.medusa._drafters import (
    DatastoreDrafter,
    Draft,
    DraftContext,
    Drafter,
    FirstDraft,
    HeadsDrafter,
    PromptLookup,
)
from tessera.llm.medusa._tree import MedusaTree
from tessera.llm.medusa._verify import StepTree, accept_path, keep_path

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn
    from transformers import DynamicCache

    from tessera.llm._structured import ConstraintState
    from tessera.llm.medusa._heads import MedusaHeads
    from tessera.llm.medusa._typing import CausalLM
else:
    torch = require("torch")

__all__ = ["DecodeStats", "Sampling", "medusa_generate", "plain_generate"]


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen.

    Parameters
    ----------
    temperature : float, default=0.0
        In [0, 2]. 0 means greedy (argmax); above 0, softmax(logits / temperature) is
        sampled.
    top_p : float, default=1.0
        In (0, 1]. Nucleus sampling: keep the smallest set of tokens whose probability
        reaches top_p.
    top_k : int or None, default=None
        Sample only among the ``top_k`` (>= 1) most likely tokens (applied before
        ``top_p``).
    seed : int or None, default=None
        Seeds the sampler, for reproducible samples; in [0, 2**63 - 1].
    posterior_threshold : float, default=0.09
        Typical acceptance's epsilon, in (0, 1]: a candidate x is accepted when
        p(x) > min(epsilon, delta * exp(-H(p))).
    posterior_alpha : float, default=0.3
        Typical acceptance's delta, in (0, 1] (the paper's defaults: epsilon 0.09,
        delta 0.3).

    Raises
    ------
    tessera.errors.InvalidInputError
        Naming the first parameter out of range: the first four follow the contract of
        :mod:`tessera.llm._sampling`, the same as the HTTP service's and the CLI's.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    seed: int | None = None
    posterior_threshold: float = 0.09
    posterior_alpha: float = 0.3

    def __post_init__(self) -> None:
        checked = check_sampling(
            temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, seed=self.seed
        )
        for name, value in zip(("temperature", "top_p", "top_k", "seed"), checked, strict=True):
            object.__setattr__(self, name, value)  # frozen: store the normalised values
        for name in ("posterior_threshold", "posterior_alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                raise bad_value(name, value, "it must be a number in (0, 1]", "Keep the default.")
            object.__setattr__(self, name, float(value))

    @property
    def greedy(self) -> bool:
        """Whether the next token is the argmax (temperature 0)."""
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
    lookup_tokens : int
        Accepted tokens that only the prompt-lookup branch proposed (see
        :func:`medusa_generate`'s ``lookup_tokens``).
    datastore_tokens : int
        Accepted tokens that only the datastore's branch proposed.
    forced_tokens : int
        Accepted tokens that only the constraint's forced chain proposed.
    finish_reason : str
        ``"stop"`` (EOS, or the constraint's match is complete) or ``"length"`` (the
        token budget), set when the last step is yielded; ``""`` before.
    """

    steps: int = 0
    tokens: int = 0
    accepted: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    lookup_tokens: int = 0
    datastore_tokens: int = 0
    forced_tokens: int = 0
    finish_reason: str = ""

    @property
    def mean_accepted(self) -> float:
        """Mean tokens per forward pass (1.0 for plain decoding)."""
        return self.tokens / self.steps if self.steps else 0.0


def _backbone(model: CausalLM) -> nn.Module:
    """The decoder stack of a causal LM (its hidden states come out after the final norm)."""
    get_decoder = getattr(model, "get_decoder", None)
    decoder = get_decoder() if get_decoder is not None else None
    if decoder is None or decoder is model:
        decoder = getattr(model, "model", None)
    if decoder is None or model.get_output_embeddings() is None:
        raise bad_value(
            "model",
            type(model).__name__,
            "it must be a transformers causal LM with a decoder and an lm_head",
            "Pass the model from tessera.llm.load_model() or AutoModelForCausalLM.",
        )
    decoder_module: nn.Module = decoder
    return decoder_module


def _new_cache(model: CausalLM) -> DynamicCache:
    transformers = require("transformers")
    cache: DynamicCache = transformers.DynamicCache(config=model.config)
    return cache


def _pass(
    model: CausalLM,
    tokens: Tensor,
    cache: DynamicCache,
    positions: Tensor | None = None,
    mask: Tensor | None = None,
    *,
    logits: str = "last",
) -> tuple[Tensor, Tensor]:
    """Hidden states (after the final norm) of ``tokens``, appended to ``cache``, and logits.

    ``logits`` names the rows whose logits are computed: ``"last"`` (a 1-row tensor) or
    ``"all"``. In a thread decoding under a :class:`~tessera.llm._batching.ForwardBatcher`,
    the pass runs together with the other generations' passes (same result, bit for bit).
    """
    batcher = current_batcher(model)
    if batcher is not None:
        return batcher.forward(tokens, cache, positions, mask, logits=logits)
    hidden = _forward(model, tokens, cache, positions, mask)
    rows = hidden if logits == "all" else hidden[-1:]
    return hidden, model.get_output_embeddings()(rows)


def _forward(
    model: CausalLM,
    tokens: Tensor,
    cache: DynamicCache,
    positions: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Hidden states (after the final norm) of ``tokens``, appended to ``cache``: a pass of
    this generation alone, in this thread."""
    lean = lean_forward(model, tokens, cache, positions, mask)
    if lean is not None:  # the same bits as transformers' forward, with less overhead
        return lean
    return _transformers_forward(model, tokens, cache, positions, mask)


def _transformers_forward(
    model: CausalLM,
    tokens: Tensor,
    cache: DynamicCache,
    positions: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """:func:`_forward` through transformers' own forward (models the lean pass does not
    cover; the reference the lean pass is tested against)."""
    out = _backbone(model)(
        input_ids=tokens.view(1, -1),
        position_ids=None if positions is None else positions.view(1, -1),
        attention_mask=mask,
        cache=cache,
        use_cache=True,
    )
    hidden: Tensor = out.last_hidden_state[0]
    return hidden


def _choose(logits: Tensor, sampling: Sampling, generator: torch.Generator | None) -> int:
    """The next token from one row of logits: argmax, or a (nucleus) sample."""
    if sampling.greedy:
        # float32 holds every bf16 value exactly (same argmax, same first-index ties)
        # and its argmax kernel is vectorised, unlike bf16's.
        return int(torch.argmax(logits.float()))
    scaled = logits.float() / sampling.temperature
    if sampling.top_k is not None and sampling.top_k < scaled.shape[-1]:
        kth = torch.topk(scaled, sampling.top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < sampling.top_p
        keep[0] = True  # the nucleus holds the top token even when top_p rounds to 0 in fp32
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        return int(order[torch.multinomial(sorted_probs, 1, generator=generator)])
    return int(torch.multinomial(probs, 1, generator=generator))


def _generator(sampling: Sampling) -> torch.Generator | None:
    if sampling.greedy:
        return None
    generator = torch.Generator()
    if sampling.seed is None:
        generator.seed()
    else:
        generator.manual_seed(sampling.seed)
    return generator


def _ends(token: int, eos: set[int], constraint: ConstraintState | None) -> bool:
    """Whether ``token`` (already consumed by ``constraint``) ends the generation."""
    return token in eos or (constraint is not None and constraint.finished)


def _advance(constraint: ConstraintState | None, tokens: Sequence[int], eos: set[int]) -> None:
    if constraint is not None:
        constraint.consume([t for t in tokens if t not in eos])


def _finish(
    stats: DecodeStats, last: int, eos: set[int], constraint: ConstraintState | None
) -> None:
    stats.finish_reason = "stop" if _ends(last, eos, constraint) else "length"


def plain_generate(
    model: CausalLM,
    prompt_ids: Sequence[int],
    *,
    max_new_tokens: int,
    eos_token_ids: Sequence[int] = (),
    sampling: Sampling | None = None,
    stats: DecodeStats | None = None,
    constraint: ConstraintState | None = None,
) -> Iterator[list[int]]:
    """Plain autoregressive decoding: one token per forward pass.

    With ``constraint`` (a fresh :class:`~tessera.llm.ConstraintState`), each token is
    chosen from the logits under the constraint's mask, and decoding ends as soon as the
    constraint allows nothing but EOS.

    Yields
    ------
    list of int
        The token of each step (a one-element list), ending with an EOS token if one
        was generated.
    """
    sampling = sampling or Sampling()
    stats = stats if stats is not None else DecodeStats()
    generator = _generator(sampling)
    eos = set(eos_token_ids)
    cache = _new_cache(model)
    stats.prompt_tokens = len(prompt_ids)
    with torch.inference_mode():
        _, logits = _pass(model, torch.tensor(list(prompt_ids)), cache)
        logits = logits[0]
        for _ in range(max_new_tokens):
            row = logits if constraint is None else constraint.mask_logits(logits)
            token = _choose(row, sampling, generator)
            stats.tokens += 1
            _advance(constraint, [token], eos)
            if _ends(token, eos, constraint) or stats.tokens >= max_new_tokens:
                _finish(stats, token, eos, constraint)
                yield [token]
                return
            yield [token]
            batcher = current_batcher(model)
            if batcher is not None and constraint is None:
                # beside others, the engine chooses the tokens (the same choice) itself
                yield from _followed(
                    batcher, token, cache, stats, eos, max_new_tokens, sampling, generator
                )
                return
            _, logits = _pass(model, torch.tensor([token]), cache)
            stats.steps += 1
            logits = logits[0]


def medusa_generate(
    model: CausalLM,
    heads: MedusaHeads,
    tree: MedusaTree,
    prompt_ids: Sequence[int],
    *,
    max_new_tokens: int,
    eos_token_ids: Sequence[int] = (),
    sampling: Sampling | None = None,
    stats: DecodeStats | None = None,
    lookup_tokens: int = 0,
    lookup_ngram: int = 3,
    lookup_min_ngram: int = 1,
    datastore: Datastore | None = None,
    constraint: ConstraintState | None = None,
    forced_tokens: int = 16,
) -> Iterator[list[int]]:
    """Medusa decoding: a tree of drafted tokens, verified in one forward pass per step.

    Each step drafts (the heads' candidate tree, and chains from prompt lookup, the
    datastore and the constraint's forced tokens: :mod:`tessera.llm.medusa._drafters`),
    verifies the merged tree in one pass of the base model, and commits the accepted
    tokens. With greedy sampling the output is exactly plain greedy decoding's (every
    accepted token is the base model's argmax); with temperature > 0, typical acceptance
    is used and the first token of each step is sampled from the base model.

    Parameters
    ----------
    model, heads, tree, prompt_ids, max_new_tokens, eos_token_ids, sampling, stats
        The base model, its heads, the heads' candidate tree, the prompt and the limits.
    lookup_tokens : int, default=0
        Also verify, in the same pass, up to this many tokens from prompt lookup: what
        followed the latest earlier occurrence (in the prompt or the output so far) of
        the n-gram that ends at the step's root token. The chain joins the heads' tree
        where their tokens coincide, so it adds at most ``lookup_tokens`` nodes, and only
        when a match exists. 0 uses the heads alone. Matches shorter than
        ``lookup_ngram`` draft half as many tokens (rounded up), and a datastore
        continuation found from an n-token key at most n tokens: the later tokens of
        such drafts are accepted too rarely to pay for their place in the pass
        (benchmarks/RESULTS.md has the measured acceptance).
    lookup_ngram : int, default=3
        Longest n-gram matched (shorter ones are tried when it has no earlier occurrence).
    lookup_min_ngram : int, default=1
        Shortest match that counts: a context whose longest earlier match is shorter gets
        no prompt-lookup chain (the datastore's, when there is one).
    datastore : Datastore, optional
        N-gram continuations from the heads' training answers
        (:func:`~tessera.llm.medusa.build_datastore`): when prompt lookup has no chain,
        the datastore's continuation of the context (up to ``lookup_tokens`` tokens) is
        verified instead. Needs ``lookup_tokens > 0``.
    constraint : ConstraintState, optional
        A fresh state of a :class:`~tessera.llm.Constraint`: candidates it forbids are
        pruned from each step's tree, every verified node's logits are masked by the
        constraint at that node (greedy output is constrained plain greedy output), and
        the tokens it forces after the root are drafted as a chain
        (:mod:`tessera.llm.medusa._constrained`).
    forced_tokens : int, default=16
        Longest chain of forced tokens drafted per step.

    Yields
    ------
    list of int
        The tokens accepted at each step (one or more), ending with an EOS token if one
        was generated.
    """
    sampling = sampling or Sampling()
    stats = stats if stats is not None else DecodeStats()
    if tree.depth > heads.config.num_heads:
        raise bad_value(
            "tree",
            tree.paths[-1],
            f"the tree is {tree.depth} deep but there are only {heads.config.num_heads} heads",
            "Build the tree from accuracies with one row per head.",
        )
    lookup_tokens = check_positive_int("lookup_tokens", lookup_tokens, minimum=0)
    lookup_ngram = check_positive_int("lookup_ngram", lookup_ngram)
    lookup_min_ngram = check_positive_int("lookup_min_ngram", lookup_min_ngram)
    if lookup_min_ngram > lookup_ngram:
        raise bad_value(
            "lookup_min_ngram",
            lookup_min_ngram,
            f"it must not exceed lookup_ngram ({lookup_ngram})",
            "Pass a shortest match at most as long as the longest.",
        )
    if datastore is not None and not isinstance(datastore, Datastore):
        raise bad_value(
            "datastore",
            type(datastore).__name__,
            "it must be a tessera.llm.medusa.Datastore",
            "Build one with build_datastore(data) or load it with Datastore.load(path).",
        )
    if is_batch_invariant(model) and tree.num_nodes + lookup_tokens > INVARIANT_MAX_QUERIES:
        raise bad_value(
            "tree",
            f"{tree.num_nodes} nodes + {lookup_tokens} lookup tokens",
            f"a batch-invariant model verifies at most {INVARIANT_MAX_QUERIES} tokens per pass "
            "(longer passes use another attention kernel, and greedy output would no longer "
            "equal plain greedy output)",
            f"Keep the tree's nodes plus lookup_tokens at most {INVARIANT_MAX_QUERIES}.",
        )
    forced_tokens = check_positive_int("forced_tokens", forced_tokens, minimum=0)
    dtype = next(model.parameters()).dtype
    drafters: list[Drafter] = [HeadsDrafter(model, heads, tree, dtype)]
    if constraint is not None:
        drafters.append(ForcedTokens(constraint, forced_tokens))
    if lookup_tokens:
        lookup = PromptLookup(
            prompt_ids, lookup_ngram, length=lookup_tokens, min_ngram=lookup_min_ngram
        )
        drafters.append(
            lookup
            if datastore is None
            else FirstDraft(lookup, DatastoreDrafter(datastore, prompt_ids, length=lookup_tokens))
        )
    return _medusa_steps(
        model,
        drafters,
        _Verifier(model, dtype, sampling, constraint, set(eos_token_ids)),
        prompt_ids,
        max_new_tokens=max_new_tokens,
        sampling=sampling,
        stats=stats,
    )


def _medusa_steps(
    model: CausalLM,
    drafters: Sequence[Drafter],
    verifier: _Verifier,
    prompt_ids: Sequence[int],
    *,
    max_new_tokens: int,
    sampling: Sampling,
    stats: DecodeStats,
) -> Iterator[list[int]]:
    """The decoding loop: choose the root, draft, verify, commit; one step per pass."""
    generator = _generator(sampling)
    constraint, eos = verifier.constraint, verifier.eos
    cache = _new_cache(model)
    stats.prompt_tokens = len(prompt_ids)
    batcher = current_batcher(model)
    with torch.inference_mode():
        hidden, logits = _pass(model, torch.tensor(list(prompt_ids)), cache)
        base_logits, last_hidden = logits[0], hidden[-1]
        while True:
            if constraint is not None:
                base_logits = constraint.mask_logits(base_logits)
            root = _choose(base_logits, sampling, generator)
            _advance(constraint, [root], eos)
            room = max_new_tokens - stats.tokens - 1
            last_step = room <= 0 or _ends(root, eos, constraint)
            # Decoding beside many others, a greedy step verifies its root alone: the
            # batch's rows already fill the products, and greedy output is the same.
            alone = sampling.greedy and batcher is not None and not batcher.drafting
            drafts = []
            if not (last_step or alone):
                drafts = _draft(drafters, DraftContext(root, last_hidden, room), constraint)
            if not drafts:
                stats.tokens += 1
                stats.accepted.append(1)
                if last_step:
                    _finish(stats, root, eos, constraint)
                yield [root]
                if last_step:
                    return
                for drafter in drafters:
                    drafter.update([root])
                if alone and constraint is None and batcher is not None:
                    # the engine verifies the roots (the same argmax) until drafting pays
                    followed = yield from _followed(
                        batcher, root, cache, stats, eos, max_new_tokens, sampling, None, drafters
                    )
                    if followed is None:
                        return
                    base_logits, last_hidden = followed.logits[0], followed.hidden[-1]
                    continue
                hidden, logits = _pass(model, torch.tensor([root]), cache)
                stats.steps += 1
                base_logits, last_hidden = logits[0], hidden[-1]
                continue
            step = verifier.verify(cache, root, drafts)
            stats.steps += 1
            tokens, stop = _commit(step, stats, max_new_tokens, eos, constraint)
            yield tokens
            if stop:
                return
            for drafter in drafters:
                drafter.update(tokens)
            keep_path(cache, step.prefix, step.chain, step.tree.num_nodes)
            last_hidden = step.hidden[step.chain[-1]]
            base_logits = step.rows[step.chain[-1]]


def _followed(
    batcher: ForwardBatcher,
    token: int,
    cache: DynamicCache,
    stats: DecodeStats,
    eos: set[int],
    max_new_tokens: int,
    sampling: Sampling,
    generator: torch.Generator | None,
    drafters: Sequence[Drafter] | None = None,
) -> Generator[list[int], None, Followed | None]:
    """The tokens after ``token`` (already counted and yielded), chosen by the batcher's
    engine with this generation's choice
    (:meth:`~tessera.llm._batching.ForwardBatcher.follow`).

    Plain decoding (``drafters`` None) is followed to its end. Greedy Medusa beside too
    many generations to draft (``drafters``: told every token) verifies each root alone
    and returns the last pass's outputs when drafting pays again; None when it ended.
    """
    medusa = drafters is not None
    with closing(
        batcher.follow(
            token,
            cache,
            lambda row: _choose(row, sampling, generator),
            greedy=sampling.greedy,
            eos=frozenset(eos),
            room=max_new_tokens - stats.tokens,
            until_drafting=medusa,
        )
    ) as items:
        for item in items:
            stats.steps += 1
            if isinstance(item, Followed):
                return item
            stats.tokens += 1
            if medusa:
                stats.accepted.append(1)
            if item in eos or stats.tokens >= max_new_tokens:
                _finish(stats, item, eos, None)
                yield [item]
                return None
            yield [item]
            for drafter in drafters or ():
                drafter.update([item])
    raise RuntimeError("the batcher stopped decoding a generation before its end")


def _draft(
    drafters: Sequence[Drafter], context: DraftContext, constraint: ConstraintState | None
) -> list[Draft]:
    """Every drafter's non-empty draft; chains cut where the constraint stops allowing them."""
    drafts = []
    for drafter in drafters:
        draft = drafter.draft(context)
        if draft is None:
            continue
        if draft.tree is None and constraint is not None and not draft.valid:
            draft = replace(draft, chain=draft.chain[: constraint.valid_prefix(draft.chain)])
        if draft.tree is not None or draft.chain:
            drafts.append(draft)
    return drafts


@dataclass
class _Step:
    """A verified step: its tree and tokens, the pass's outputs and the accepted nodes."""

    tree: StepTree
    tokens: list[int]
    #: (first node, source) of every chain draft, in node order
    sources: list[tuple[int, str]]
    prefix: int
    hidden: Tensor
    rows: Tensor
    chain: list[int]


class _Verifier:
    """Merges a step's drafts into one tree, runs the pass over it, picks the accepted
    chain (under the constraint, when there is one)."""

    def __init__(
        self,
        model: CausalLM,
        dtype: torch.dtype,
        sampling: Sampling,
        constraint: ConstraintState | None,
        eos: set[int],
    ) -> None:
        self.model = model
        self.root_only = StepTree(MedusaTree.from_paths([]), dtype)
        self.sampling = sampling
        self.constraint = constraint
        self.eos = eos
        # a batch-invariant model verifies at most this many tokens in a pass
        self.node_limit = INVARIANT_MAX_QUERIES if is_batch_invariant(model) else 1 << 30

    def merge(self, root: int, drafts: Sequence[Draft]) -> tuple[StepTree, Tensor, list[int]]:
        """The step's tree: the tree draft (or the root alone) plus every chain draft,
        merged where tokens coincide; its tokens; the first node of each chain draft."""
        tree, tokens = self.root_only, torch.tensor([root])
        for draft in drafts:
            if draft.tree is not None and draft.tree_tokens is not None:
                tree, tokens = draft.tree, draft.tree_tokens
        firsts = []
        for draft in drafts:
            if draft.tree is None:
                tree, tokens, first = tree.with_chain(tokens, draft.chain)
                firsts.append(first)
        return tree, tokens, firsts

    def verify(self, cache: DynamicCache, root: int, drafts: Sequence[Draft]) -> _Step:
        """One pass over the merged tree and the accepted chain of nodes."""
        tree, tokens, firsts = self.merge(root, drafts)
        constraint, sampling = self.constraint, self.sampling
        if constraint is not None:
            keep = allowed_nodes(tree.parents, tokens.tolist(), constraint, self.node_limit)
            tree, kept = tree.subset(keep)
            tokens = tokens[torch.from_numpy(kept)]
            firsts = [int(np.searchsorted(kept, first)) for first in firsts]
        prefix = cache.get_seq_length()
        # Logits at every node: internal ones verify their children, and the last
        # accepted one (often a leaf) gives the next step's root.
        hidden, rows = _pass(
            self.model, tokens, cache, prefix + tree.depths, tree.mask(prefix), logits="all"
        )
        values: list[int] = tokens.tolist()
        if constraint is None:
            chain = accept_path(tokens.numpy(), tree, rows, sampling)
        elif sampling.greedy:
            chain = accept_greedy(values, tree.parents, rows, constraint, self.eos)
        else:
            masked = masked_rows(values, tree.parents, tree.internal, rows, constraint, self.eos)
            chain = accept_path(tokens.numpy(), tree, masked, sampling)
            _advance(constraint, [values[c] for c in chain[1:]], self.eos)
        sources = [
            (first, draft.source)
            for first, draft in zip(firsts, (d for d in drafts if d.tree is None), strict=True)
        ]
        return _Step(tree, values, sources, prefix, hidden, rows, chain)


#: DecodeStats' count of the tokens each chain drafter alone proposed
_CREDITED = {"lookup": "lookup_tokens", "datastore": "datastore_tokens", "forced": "forced_tokens"}


def _commit(
    step: _Step,
    stats: DecodeStats,
    max_new_tokens: int,
    eos: set[int],
    constraint: ConstraintState | None,
) -> tuple[list[int], bool]:
    """The accepted tokens, cut at EOS and at the budget, and whether decoding stops;
    ``step.chain`` is cut to match and ``stats`` updated."""
    chain = step.chain
    tokens = [step.tokens[c] for c in chain]
    remaining = max_new_tokens - stats.tokens
    stop = False
    for i, token in enumerate(tokens):
        if token in eos or i + 1 >= remaining:
            tokens, chain, stop = tokens[: i + 1], chain[: i + 1], True
            break
    step.chain = chain
    # a greedy walk under a constraint ends where the constraint finishes
    stop = stop or (constraint is not None and constraint.finished)
    if stop:
        _finish(stats, tokens[-1], eos, constraint)
    stats.tokens += len(tokens)
    stats.accepted.append(len(tokens))
    ends = [first for first, _ in step.sources[1:]] + [step.tree.num_nodes]
    for (first, source), end in zip(step.sources, ends[: len(step.sources)], strict=True):
        field_name = _CREDITED.get(source)
        if field_name is not None:
            count = sum(1 for c in chain if first <= c < end)
            setattr(stats, field_name, getattr(stats, field_name) + count)
    return tokens, stop
