"""Decoding: plain (one token per forward pass) and Medusa (a candidate tree per pass).

Both work on a Hugging Face causal LM with a :class:`transformers.DynamicCache`, at batch
size 1, and yield the new token ids of each step so that callers can stream. The steps are
named as in the Medusa paper's reference code: candidates from the heads, one forward pass
over the tree with tree attention, acceptance (greedy or typical), and the cache update
that keeps only the accepted path.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tessera._validation import bad_value, check_positive_int
from tessera.llm._batching import current_batcher
from tessera.llm._invariant import INVARIANT_MAX_QUERIES, is_batch_invariant
from tessera.llm._sampling import check_sampling
from tessera.llm._torch import require
from tessera.llm.medusa._constrained import accept_greedy, allowed_nodes, masked_rows
from tessera.llm.medusa._datastore import Datastore
from tessera.llm.medusa._heads import MedusaHeads
from tessera.llm.medusa._tree import MedusaTree

if TYPE_CHECKING:
    from tessera.llm._structured import ConstraintState

__all__ = ["DecodeStats", "Sampling", "medusa_generate", "plain_generate"]

torch: Any = require("torch")


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


def _backbone(model: Any) -> Any:
    """The decoder stack of a causal LM (its hidden states come out after the final norm)."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if decoder is None or decoder is model:
        decoder = getattr(model, "model", None)
    if decoder is None or model.get_output_embeddings() is None:
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


def _pass(
    model: Any,
    tokens: Any,
    cache: Any,
    positions: Any | None = None,
    mask: Any | None = None,
    *,
    logits: str = "last",
) -> tuple[Any, Any]:
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
    model: Any,
    tokens: Any,
    cache: Any,
    positions: Any | None = None,
    mask: Any | None = None,
) -> Any:
    """Hidden states (after the final norm) of ``tokens``, appended to ``cache``: a pass of
    this generation alone, in this thread."""
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
        # float32 holds every bf16 value exactly (same argmax, same first-index ties)
        # and its argmax kernel is vectorised: 4x faster than bf16's on a 49k vocabulary.
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


def _generator(sampling: Sampling) -> Any:
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


def _finish(stats: DecodeStats, last: int, eos: set[int], constraint: Any) -> None:
    stats.finish_reason = "stop" if _ends(last, eos, constraint) else "length"


def plain_generate(
    model: Any,
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
            _, logits = _pass(model, torch.tensor([token]), cache)
            stats.steps += 1
            logits = logits[0]


class _TreeState:
    """Per-tree tensors reused at every step (and a step's tree with a lookup chain)."""

    def __init__(self, tree: MedusaTree, dtype: Any) -> None:
        self.tree = tree
        self.dtype = dtype
        self.candidate_index = torch.from_numpy(tree.candidate_index)
        self._set_nodes(tree.parents, tree.depths, tree.attention)

    def _set_nodes(self, parents: np.ndarray, depths: np.ndarray, attention: np.ndarray) -> None:
        self.parents = parents
        self.node_depths = depths
        self.depths = torch.from_numpy(depths)
        self.attention = attention
        self.num_nodes = len(parents)
        # nodes with children: the only rows greedy acceptance takes an argmax of
        self.internal = np.unique(parents[1:])
        self.internal_index = torch.from_numpy(self.internal)
        blocked = torch.finfo(self.dtype).min
        self.tree_mask = torch.where(
            torch.from_numpy(attention),
            torch.zeros((), dtype=self.dtype),
            torch.full((), blocked, dtype=self.dtype),
        )

    def subset(self, keep: np.ndarray) -> tuple[_TreeState, np.ndarray]:
        """The tree of the nodes where ``keep`` is true (a prefix-closed set), and their
        indices here."""
        index = np.flatnonzero(keep)
        if len(index) == self.num_nodes:
            return self, index
        remap = np.full(self.num_nodes, -1, dtype=np.int64)
        remap[index] = np.arange(len(index))
        parents = np.where(self.parents[index] >= 0, remap[self.parents[index]], -1)
        step = copy.copy(self)
        step._set_nodes(parents, self.node_depths[index], self.attention[np.ix_(index, index)])
        return step, index

    def mask(self, prefix: int) -> Any:
        n = self.num_nodes
        full = torch.zeros((1, 1, n, prefix + n), dtype=self.dtype)
        full[0, 0, :, prefix:] = self.tree_mask
        return full

    def with_chain(self, tokens: Any, chain: Sequence[int]) -> tuple[_TreeState, Any, int]:
        """This tree plus a chain of tokens below the root, merged where they coincide.

        Returns the step's tree, its tokens and the index of the first added node (nodes
        from there on were proposed by the chain alone).
        """
        parents = list(self.parents)
        depths = list(self.node_depths)
        values = tokens.tolist()
        children: dict[tuple[int, int], int] = {
            (parents[i], values[i]): i for i in range(1, len(values))
        }
        node, added = 0, len(values)
        for token in chain:
            child = children.get((node, token))
            if child is None:
                child = len(values)
                parents.append(node)
                depths.append(depths[node] + 1)
                values.append(token)
                children[(node, token)] = child
            node = child
        if len(values) == added:
            return self, tokens, added
        n = len(values)
        attention = np.zeros((n, n), dtype=np.bool_)
        attention[:added, :added] = self.attention
        for i in range(added, n):
            attention[i] = attention[parents[i]]
            attention[i, i] = True
        step = copy.copy(self)
        step._set_nodes(
            np.asarray(parents, dtype=np.int64), np.asarray(depths, dtype=np.int64), attention
        )
        return step, torch.tensor(values), added


class _Lookup:
    """Prompt-lookup candidates (Saxena 2023; transformers' ``prompt_lookup_num_tokens``).

    Keeps, for every n-gram of up to ``max_ngram`` tokens of the prompt and the output so
    far, where it last ended; the proposal for a context is what followed the latest
    earlier occurrence of its longest matching final n-gram, copied token by token with
    the copy itself as further source, so a loop shorter than the proposal (``a b a b``)
    continues instead of stopping at the context's end.
    """

    def __init__(self, tokens: Sequence[int], max_ngram: int) -> None:
        self.tokens: list[int] = []
        self.max_ngram = max_ngram
        self.ends: dict[tuple[int, ...], int] = {}
        self.extend(tokens)

    def extend(self, new: Sequence[int]) -> None:
        for token in new:
            self.tokens.append(int(token))
            end = len(self.tokens) - 1
            for n in range(1, min(self.max_ngram, end + 1) + 1):
                self.ends[tuple(self.tokens[end - n + 1 : end + 1])] = end

    def propose(
        self, root: int, length: int, min_ngram: int = 1, short_length: int | None = None
    ) -> list[int]:
        """Up to ``length`` tokens expected after ``root`` (which ends the context).

        Nothing when the longest earlier match is shorter than ``min_ngram`` tokens; at
        most ``short_length`` tokens (default ``length``) when it is shorter than
        ``max_ngram``.
        """
        context = [*self.tokens, root]
        for n in range(min(self.max_ngram, len(context)), 0, -1):
            end = self.ends.get(tuple(context[-n:]))
            if end is not None:
                if n < min_ngram:
                    return []
                if n < self.max_ngram and short_length is not None:
                    length = min(length, short_length)
                size = len(context)
                for i in range(length):
                    context.append(context[end + 1 + i])
                return context[size:]
        return []


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
    n = state.num_nodes
    parents = state.parents
    ok = np.zeros(n, dtype=np.bool_)
    ok[0] = True
    if sampling.greedy:
        # argmax only where a child needs it (a leaf's row is the next step's root)
        best = np.zeros(n, dtype=np.int64)
        best[state.internal] = rows[state.internal_index].float().argmax(dim=-1).numpy()
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
    depths = state.node_depths
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
    lookup_tokens: int = 0,
    lookup_ngram: int = 3,
    lookup_min_ngram: int = 1,
    datastore: Datastore | None = None,
    constraint: ConstraintState | None = None,
    forced_tokens: int = 16,
) -> Iterator[list[int]]:
    """Medusa decoding: a tree of candidates from the heads, verified in one forward pass.

    With greedy sampling the output is exactly plain greedy decoding's (every accepted
    token is the base model's argmax); with temperature > 0, typical acceptance is used
    and the first token of each step is sampled from the base model.

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
        continuation found from an n-token key at most n tokens: on held-out answers of
        SmolLM2, a full 3-token match's 8th drafted token was still accepted half of the
        time, a 2-token match's 6th 8% of the time and a datastore draft's (n+1)-th under
        7% of the time, about what one more verified token costs on a CPU.
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
    # a batch-invariant model verifies at most this many tokens in a pass
    node_limit = INVARIANT_MAX_QUERIES if is_batch_invariant(model) else 1 << 30
    generator = _generator(sampling)
    lm_head = model.get_output_embeddings()
    eos = set(eos_token_ids)
    dtype = next(model.parameters()).dtype
    state = _TreeState(tree, dtype)
    cache = _new_cache(model)
    heads_type = heads_dtype(heads)

    def propose(last_hidden: Any, root: int) -> Any:
        if not heads.config.root_conditioned:
            return heads.candidates(
                last_hidden.to(heads_type), lm_head, tree.topk, count=tree.depth
            )
        embedding = model.get_input_embeddings()(torch.tensor([root]))[0].to(heads_type)
        return heads.candidates(
            last_hidden.to(heads_type), lm_head, tree.topk, embedding, count=tree.depth
        )

    stats.prompt_tokens = len(prompt_ids)
    lookup = _Lookup(prompt_ids, lookup_ngram) if lookup_tokens else None
    batcher = current_batcher(model)
    with torch.inference_mode():
        hidden, base_logits = _pass(model, torch.tensor(list(prompt_ids)), cache)
        base_logits = base_logits[0]
        last_hidden = hidden[-1]
        while True:
            if constraint is not None:
                base_logits = constraint.mask_logits(base_logits)
            root = _choose(base_logits, sampling, generator)
            _advance(constraint, [root], eos)
            last_step = stats.tokens + 1 >= max_new_tokens or _ends(root, eos, constraint)
            # Decoding beside many others, a greedy step verifies its root alone: the
            # batch's rows already fill the products, and greedy output is the same.
            alone = sampling.greedy and batcher is not None and not batcher.drafting
            # never more lookup tokens than the budget can still take after the root
            room = min(lookup_tokens, max_new_tokens - stats.tokens - 1)
            proposal: list[int] = []
            from_store = False
            if lookup is not None and room > 0 and not alone:
                proposal = lookup.propose(root, room, lookup_min_ngram, (lookup_tokens + 1) // 2)
                if not proposal and datastore is not None:
                    path, n = datastore.match([*lookup.tokens[-datastore.max_ngram :], root])
                    proposal = path[: min(room, n)]
                    from_store = bool(proposal)
            forced: list[int] = []
            if constraint is not None and not last_step and not alone:
                budget = min(forced_tokens, max_new_tokens - stats.tokens - 1)
                forced = constraint.forced()[:budget]
                proposal = proposal[: constraint.valid_prefix(proposal)]
            if last_step or alone or (tree.num_nodes == 1 and not proposal and not forced):
                stats.tokens += 1
                stats.accepted.append(1)
                if last_step:
                    _finish(stats, root, eos, constraint)
                yield [root]
                if last_step:
                    return
                if lookup is not None:
                    lookup.extend([root])
                hidden, base_logits = _pass(model, torch.tensor([root]), cache)
                stats.steps += 1
                last_hidden = hidden[-1]
                base_logits = base_logits[0]
                continue
            if tree.num_nodes > 1:
                top = propose(last_hidden, root)[: tree.depth]
                flat = torch.cat([torch.tensor([root]), top.reshape(-1)])
                tree_tokens = flat[state.candidate_index]
            else:
                tree_tokens = torch.tensor([root])
            step, first_forced = state, tree.num_nodes
            if forced:
                step, tree_tokens, first_forced = step.with_chain(tree_tokens, forced)
            first_lookup = step.num_nodes
            if proposal:
                step, tree_tokens, first_lookup = step.with_chain(tree_tokens, proposal)
            if constraint is not None:
                keep = allowed_nodes(step.parents, tree_tokens.tolist(), constraint, node_limit)
                step, kept = step.subset(keep)
                tree_tokens = tree_tokens[torch.from_numpy(kept)]
                first_forced = int(np.searchsorted(kept, first_forced))
                first_lookup = int(np.searchsorted(kept, first_lookup))
            prefix = cache.get_seq_length()
            # Logits at every node: internal ones verify their children, and the last
            # accepted one (often a leaf) gives the next step's root.
            hidden, rows = _pass(
                model, tree_tokens, cache, prefix + step.depths, step.mask(prefix), logits="all"
            )
            stats.steps += 1
            values = tree_tokens.tolist()
            if constraint is None:
                chain = _accept_path(tree_tokens.numpy(), step, rows, sampling)
            elif sampling.greedy:
                chain = accept_greedy(values, step.parents, rows, constraint, eos)
            else:
                masked = masked_rows(values, step.parents, step.internal, rows, constraint, eos)
                chain = _accept_path(tree_tokens.numpy(), step, masked, sampling)
                _advance(constraint, [values[c] for c in chain[1:]], eos)
            tokens = [values[c] for c in chain]
            remaining = max_new_tokens - stats.tokens
            stop = False
            for i, token in enumerate(tokens):
                if token in eos or i + 1 >= remaining:
                    tokens, chain, stop = tokens[: i + 1], chain[: i + 1], True
                    break
            # a greedy walk under a constraint ends where the constraint finishes
            stop = stop or (constraint is not None and constraint.finished)
            if stop:
                _finish(stats, tokens[-1], eos, constraint)
            stats.tokens += len(tokens)
            stats.accepted.append(len(tokens))
            drafted = sum(1 for c in chain if c >= first_lookup)
            if from_store:
                stats.datastore_tokens += drafted
            else:
                stats.lookup_tokens += drafted
            stats.forced_tokens += sum(1 for c in chain if first_forced <= c < first_lookup)
            yield tokens
            if stop:
                return
            if lookup is not None:
                lookup.extend(tokens)
            _keep_path(cache, prefix, chain, step.num_nodes)
            last_hidden = hidden[chain[-1]]
            base_logits = rows[chain[-1]]


def heads_dtype(heads: MedusaHeads) -> Any:
    """The dtype of the heads' weights."""
    return next(heads.parameters()).dtype
