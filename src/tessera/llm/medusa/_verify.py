"""Verification of a Medusa step: the step's token tree, acceptance and the cache update.

A step verifies a tree of drafted tokens below its root in one forward pass (tree
attention: each node sees the prefix and its own ancestors). :class:`StepTree` holds
the tree's shape and the tensors the pass needs, :func:`accept_path` picks the accepted
chain from the logits at every node, and :func:`keep_path` keeps that chain's keys and
values in the cache. The drafters (:mod:`tessera.llm.medusa._drafters`) say what the
tree holds; nothing here knows who drafted a node.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from tessera.llm._torch import require

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray
    from torch import Tensor
    from transformers import DynamicCache

    from tessera.llm.medusa._decode import Sampling
    from tessera.llm.medusa._tree import MedusaTree
    from tessera.llm.medusa._typing import KeyValueLayer
else:
    torch = require("torch")

__all__ = ["StepTree", "accept_path", "keep_path"]


class StepTree:
    """The shape of a step's tree and its attention mask (root at index 0).

    Built once per generation from the heads' :class:`~tessera.llm.medusa.MedusaTree`;
    a step that adds drafted chains (:meth:`with_chain`) or prunes nodes
    (:meth:`subset`) gets a changed copy.
    """

    parents: NDArray[np.int64]
    node_depths: NDArray[np.int64]
    depths: Tensor
    attention: NDArray[np.bool_]
    num_nodes: int
    internal: NDArray[np.int64]
    internal_index: Tensor
    tree_mask: Tensor

    def __init__(self, tree: MedusaTree, dtype: torch.dtype) -> None:
        self.tree = tree
        self.dtype = dtype
        self.candidate_index = torch.from_numpy(tree.candidate_index)
        self._set_nodes(tree.parents, tree.depths, tree.attention)

    def _set_nodes(
        self,
        parents: NDArray[np.int64],
        depths: NDArray[np.int64],
        attention: NDArray[np.bool_],
    ) -> None:
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

    def subset(self, keep: NDArray[np.bool_]) -> tuple[StepTree, NDArray[np.int64]]:
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

    def mask(self, prefix: int) -> Tensor:
        """The additive attention mask of a pass over the tree after ``prefix`` tokens."""
        n = self.num_nodes
        full = torch.zeros((1, 1, n, prefix + n), dtype=self.dtype)
        full[0, 0, :, prefix:] = self.tree_mask
        return full

    def with_chain(self, tokens: Tensor, chain: Sequence[int]) -> tuple[StepTree, Tensor, int]:
        """This tree plus a chain of tokens below the root, merged where they coincide.

        Returns the step's tree, its tokens and the index of the first added node (nodes
        from there on were proposed by the chain alone).
        """
        parents = list(self.parents)
        depths = list(self.node_depths)
        values: list[int] = tokens.tolist()
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


def accept_path(
    tree_tokens: NDArray[np.int64],
    state: StepTree,
    rows: Tensor,
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


def keep_path(cache: DynamicCache, prefix: int, chain: Sequence[int], num_nodes: int) -> None:
    """Keep the K/V of the accepted nodes right after the prefix; drop the rest."""
    kept = len(chain)
    if list(chain) != list(range(kept)):
        index = torch.tensor([prefix + c for c in chain])
        # a decoder-only attention model's DynamicCache holds keys and values per layer
        for layer in cast("list[KeyValueLayer]", cache.layers):
            layer.keys[..., prefix : prefix + kept, :] = layer.keys[..., index, :]
            layer.values[..., prefix : prefix + kept, :] = layer.values[..., index, :]
    cache.crop(-(num_nodes - kept))
