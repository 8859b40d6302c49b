"""Drafters: everything that proposes tokens for a Medusa step to verify.

A step of :func:`~tessera.llm.medusa.medusa_generate` drafts, verifies and commits. Every
way of drafting sits behind one small protocol, :class:`Drafter` (after transformers'
``CandidateGenerator``): :meth:`Drafter.draft` proposes tokens after the step's root,
:meth:`Drafter.update` hears which tokens were committed. The decoding loop merges the
drafts into one tree and never knows which drafter it holds. The drafters:

* :class:`HeadsDrafter`: the Medusa heads' candidate tree (the only tree-shaped draft);
* :class:`PromptLookup`: what followed the context's last n-gram earlier in the prompt or
  the output (Saxena 2023; transformers' ``prompt_lookup_num_tokens``);
* :class:`DatastoreDrafter`: continuations from the heads' training answers
  (:class:`~tessera.llm.medusa.Datastore`);
* :class:`FirstDraft`: the first of several drafters that has something (the datastore
  drafts only when prompt lookup has no match);
* :class:`~tessera.llm.medusa._constrained.ForcedTokens`: the tokens a grammar forces.

Drafts only propose: the base model verifies every token, so no drafter changes the
output (greedy Medusa output is plain greedy output).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tessera.llm._torch import require
from tessera.llm.medusa._verify import StepTree

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

    from tessera.llm.medusa._datastore import Datastore
    from tessera.llm.medusa._heads import MedusaHeads
    from tessera.llm.medusa._tree import MedusaTree
    from tessera.llm.medusa._typing import CausalLM
else:
    torch = require("torch")

__all__ = [
    "DatastoreDrafter",
    "Draft",
    "DraftContext",
    "Drafter",
    "FirstDraft",
    "HeadsDrafter",
    "PromptLookup",
]


@dataclass(frozen=True)
class DraftContext:
    """What a drafter knows when a step starts.

    Attributes
    ----------
    root : int
        The step's first token, already chosen from the base model's logits (not yet
        committed: drafts continue after it).
    hidden : torch.Tensor
        The base model's last hidden state, the one that predicted ``root``.
    room : int
        How many tokens the budget can still take after the root (>= 1).
    """

    root: int
    hidden: Tensor
    room: int


@dataclass(frozen=True)
class Draft:
    """Tokens proposed after a step's root: a chain, or a tree over a fixed shape.

    Attributes
    ----------
    source : str
        Who drafted it (``"heads"``, ``"lookup"``, ``"datastore"``, ``"forced"``): the
        tokens accepted from nodes only this draft added are credited to it in
        :class:`~tessera.llm.medusa.DecodeStats`.
    chain : list of int
        A chain draft: the tokens after the root, in order.
    tree, tree_tokens : StepTree and torch.Tensor, optional
        A tree draft: its shape and its tokens, root first (``chain`` is then empty).
    valid : bool
        The tokens are known to keep to the generation's constraint (a grammar's own
        forced tokens), so they need no check.
    """

    source: str
    chain: Sequence[int] = ()
    tree: StepTree | None = None
    tree_tokens: Tensor | None = None
    valid: bool = False


class Drafter(Protocol):
    """Proposes tokens for a step to verify, and hears what was committed."""

    def draft(self, context: DraftContext) -> Draft | None:
        """Tokens expected after ``context.root``; None (or an empty chain) for none."""
        ...

    def update(self, committed: Sequence[int]) -> None:
        """The tokens a step committed (its root first), in order."""
        ...


class HeadsDrafter:
    """The Medusa heads' candidate tree: head k's top-k tokens at depth k.

    Parameters
    ----------
    model : transformers.CausalLM
        The base model (its ``lm_head``, shared by the heads, and its input embedding,
        read by root-conditioned heads).
    heads : MedusaHeads
    tree : MedusaTree
        Which ranks of which heads become nodes; root-only for no heads' draft.
    dtype : torch.dtype
        The base model's dtype (of the tree's attention mask).
    """

    def __init__(
        self, model: CausalLM, heads: MedusaHeads, tree: MedusaTree, dtype: torch.dtype
    ) -> None:
        self.heads = heads
        self.tree = tree
        self.state = StepTree(tree, dtype)
        self.lm_head: nn.Module = model.get_output_embeddings()
        self.embedding: nn.Module = model.get_input_embeddings()
        self.heads_type = next(heads.parameters()).dtype

    def draft(self, context: DraftContext) -> Draft | None:
        """The tree's tokens for this step (None for a root-only tree)."""
        tree = self.tree
        if tree.num_nodes == 1:
            return None
        hidden = context.hidden.to(self.heads_type)
        if self.heads.config.root_conditioned:
            root = self.embedding(torch.tensor([context.root]))[0].to(self.heads_type)
            top = self.heads.candidates(hidden, self.lm_head, tree.topk, root, count=tree.depth)
        else:
            top = self.heads.candidates(hidden, self.lm_head, tree.topk, count=tree.depth)
        flat = torch.cat([torch.tensor([context.root]), top[: tree.depth].reshape(-1)])
        return Draft("heads", tree=self.state, tree_tokens=flat[self.state.candidate_index])

    def update(self, committed: Sequence[int]) -> None:
        """Nothing: the heads read the hidden state of each step."""


class PromptLookup:
    """Prompt-lookup drafts (Saxena 2023; transformers' ``prompt_lookup_num_tokens``).

    Keeps, for every n-gram of up to ``max_ngram`` tokens of the prompt and the output so
    far, where it last ended; the proposal for a context is what followed the latest
    earlier occurrence of its longest matching final n-gram, copied token by token with
    the copy itself as further source, so a loop shorter than the proposal (``a b a b``)
    continues instead of stopping at the context's end.

    Parameters
    ----------
    tokens : sequence of int
        The prompt.
    max_ngram : int
        Longest n-gram matched.
    length : int, default=8
        Longest draft (:meth:`draft`).
    min_ngram : int, default=1
        Shortest match that drafts anything.
    """

    def __init__(
        self, tokens: Sequence[int], max_ngram: int, *, length: int = 8, min_ngram: int = 1
    ) -> None:
        self.tokens: list[int] = []
        self.max_ngram = max_ngram
        self.length = length
        self.min_ngram = min_ngram
        self.ends: dict[tuple[int, ...], int] = {}
        self.extend(tokens)

    def extend(self, new: Sequence[int]) -> None:
        """Index ``new`` tokens of the context."""
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

    def draft(self, context: DraftContext) -> Draft | None:
        """Up to ``length`` tokens (half as many, rounded up, from a shorter match)."""
        room = min(self.length, context.room)
        if room <= 0:
            return None
        chain = self.propose(context.root, room, self.min_ngram, (self.length + 1) // 2)
        return Draft("lookup", chain) if chain else None

    def update(self, committed: Sequence[int]) -> None:
        """Index the committed tokens."""
        self.extend(committed)


class DatastoreDrafter:
    """The datastore's continuation of the context's longest stored final n-gram.

    A continuation found from an n-token key drafts at most n tokens (and at most
    ``length``).

    Parameters
    ----------
    datastore : Datastore
    tokens : sequence of int
        The prompt.
    length : int
        Longest draft.
    """

    def __init__(self, datastore: Datastore, tokens: Sequence[int], *, length: int) -> None:
        self.datastore = datastore
        self.length = length
        self.recent: list[int] = []
        self.update(tokens)

    def draft(self, context: DraftContext) -> Draft | None:
        """The stored continuation of the recent tokens and the root."""
        room = min(self.length, context.room)
        if room <= 0:
            return None
        path, n = self.datastore.match([*self.recent, context.root])
        chain = path[: min(room, n)]
        return Draft("datastore", chain) if chain else None

    def update(self, committed: Sequence[int]) -> None:
        """Keep the last ``max_ngram`` tokens (the longest key the store holds)."""
        keep = self.datastore.max_ngram
        recent = [*self.recent, *(int(t) for t in committed)]
        self.recent = recent[len(recent) - keep :] if keep else []


class FirstDraft:
    """The draft of the first of ``drafters`` that has one; all of them hear updates."""

    def __init__(self, *drafters: Drafter) -> None:
        self.drafters = drafters

    def draft(self, context: DraftContext) -> Draft | None:
        """The first non-empty draft, in order."""
        for drafter in self.drafters:
            draft = drafter.draft(context)
            if draft is not None and (draft.tree is not None or draft.chain):
                return draft
        return None

    def update(self, committed: Sequence[int]) -> None:
        """Pass ``committed`` to every drafter."""
        for drafter in self.drafters:
            drafter.update(committed)
