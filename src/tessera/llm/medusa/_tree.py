"""Candidate trees for Medusa: choosing the nodes, and the buffers tree attention needs.

A tree is a set of *paths*: a path ``(r1, r2, ..., rd)`` is the candidate made of head 1's
rank-``r1`` token, then head 2's rank-``r2`` token, and so on, below the root (the base
model's own next token). Trees are prefix-closed: every prefix of a path is in the tree.
Node 0 is the root; nodes 1..n are the paths sorted by depth, then by ranks.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tessera._validation import bad_value, check_positive_int

__all__ = ["MedusaTree", "build_tree", "expected_accept_length"]


@dataclass(frozen=True, eq=False)
class MedusaTree:
    """A prefix-closed candidate tree and its tree-attention buffers.

    Build one with :meth:`from_paths` or :func:`build_tree`.

    Attributes
    ----------
    paths : tuple of tuple of int
        The non-root nodes, sorted by depth then ranks.
    topk : int
        How many candidates per head the tree draws on (largest rank + 1).
    depth : int
        The longest path: how many heads the tree uses.
    attention : ndarray of bool, shape (n + 1, n + 1)
        ``attention[i, j]``: node i may attend to node j (j is i or an ancestor of i).
    depths : ndarray of int, shape (n + 1,)
        Each node's depth (root 0); its position is the prefix length plus its depth.
    candidate_index : ndarray of int, shape (n + 1,)
        Where each node's token sits in the flat candidate vector
        ``[root, head 1's top-k, head 2's top-k, ...]``.
    parents : ndarray of int, shape (n + 1,)
        Each node's parent (-1 for the root).
    retrieve : ndarray of int, shape (leaves, depth + 1)
        For every leaf, the nodes from the root down to it, padded with -1.
    """

    paths: tuple[tuple[int, ...], ...]
    topk: int
    depth: int
    attention: NDArray[np.bool_]
    depths: NDArray[np.int64]
    candidate_index: NDArray[np.int64]
    parents: NDArray[np.int64]
    retrieve: NDArray[np.int64]

    @property
    def num_nodes(self) -> int:
        """Nodes including the root: the tokens verified per step."""
        return len(self.paths) + 1

    @classmethod
    def from_paths(cls, paths: Iterable[Sequence[int]]) -> MedusaTree:
        """Validate ``paths`` and compute the buffers.

        Parameters
        ----------
        paths : iterable of sequences of int
            Non-empty rank tuples; every prefix of a path must be a path too. An empty
            iterable gives the root-only tree (plain decoding).

        Raises
        ------
        InvalidInputError
            For empty paths, negative ranks, duplicates or a missing prefix.
        """
        cleaned: list[tuple[int, ...]] = []
        for raw in paths:
            path = tuple(raw)
            if not path or any(
                isinstance(r, bool) or not isinstance(r, int | np.integer) or r < 0 for r in path
            ):
                raise bad_value(
                    "paths",
                    raw,
                    "every path must be a non-empty sequence of ranks (ints >= 0)",
                    "Write paths like (0,), (1,), (0, 0).",
                )
            cleaned.append(tuple(int(r) for r in path))
        present = set(cleaned)
        if len(present) != len(cleaned):
            dup = next(p for p in cleaned if cleaned.count(p) > 1)
            raise bad_value("paths", dup, "a path appears twice", "List each path once.")
        for path in cleaned:
            if len(path) > 1 and path[:-1] not in present:
                raise bad_value(
                    "paths",
                    path,
                    f"the tree must be prefix-closed, but its prefix {path[:-1]} is missing",
                    f"Add {path[:-1]} to the paths.",
                )
        ordered = tuple(sorted(cleaned, key=lambda p: (len(p), p)))
        n = len(ordered) + 1
        index = {p: i + 1 for i, p in enumerate(ordered)}
        topk = max((max(p) for p in ordered), default=-1) + 1
        depth = max((len(p) for p in ordered), default=0)
        depths = np.zeros(n, dtype=np.int64)
        parents = np.full(n, -1, dtype=np.int64)
        candidate = np.zeros(n, dtype=np.int64)
        attention = np.eye(n, dtype=np.bool_)
        attention[:, 0] = True
        for path, i in index.items():
            d = len(path)
            depths[i] = d
            parents[i] = index[path[:-1]] if d > 1 else 0
            candidate[i] = 1 + (d - 1) * topk + path[-1]
            attention[i] = attention[parents[i]]
            attention[i, i] = True
        has_child = np.zeros(n, dtype=np.bool_)
        has_child[parents[parents >= 0]] = True
        leaves = [i for i in range(n) if not has_child[i]]
        retrieve = np.full((len(leaves), depth + 1), -1, dtype=np.int64)
        for row, leaf in enumerate(leaves):
            chain = [leaf]
            while parents[chain[-1]] >= 0:
                chain.append(int(parents[chain[-1]]))
            retrieve[row, : len(chain)] = chain[::-1]
        return cls(ordered, max(topk, 1), depth, attention, depths, candidate, parents, retrieve)

    def to_list(self) -> list[list[int]]:
        """The paths as JSON-ready lists."""
        return [list(p) for p in self.paths]


def _check_accuracies(accuracies: object) -> NDArray[np.float64]:
    try:
        table = np.asarray(accuracies, dtype=np.float64)
    except (TypeError, ValueError):
        table = np.empty(0)
    if table.ndim != 2 or table.size == 0 or not np.all((table >= 0) & (table <= 1)):
        raise bad_value(
            "accuracies",
            accuracies,
            "it must be a (heads, ranks) table of probabilities in [0, 1]",
            "Pass accuracies[k][r]: how often head k+1's rank-r candidate was right.",
        )
    return table


def expected_accept_length(tree: MedusaTree, accuracies: object) -> float:
    """Expected tokens per step: 1 (the base token) plus each node's acceptance probability.

    A node is accepted when every candidate on its path is right; the heads are taken as
    independent, so that probability is the product of ``accuracies[depth][rank]`` along
    the path (Medusa paper, section 2.3.3).
    """
    table = _check_accuracies(accuracies)
    total = 1.0
    for path in tree.paths:
        if len(path) > table.shape[0] or max(path) >= table.shape[1]:
            raise bad_value(
                "accuracies",
                table.shape,
                f"the tree's path {path} needs {len(path)} heads and rank {max(path)}",
                "Pass a table with a row per head and a column per rank the tree uses.",
            )
        total += float(np.prod([table[d, r] for d, r in enumerate(path)]))
    return total


def build_tree(accuracies: object, num_nodes: int) -> MedusaTree:
    """The tree of ``num_nodes`` candidates with the largest expected accepted length.

    Parameters
    ----------
    accuracies : array-like, shape (heads, ranks)
        ``accuracies[k][r]``: how often head k+1's rank-r candidate was the right token
        (measured on held-out data; :func:`train_medusa` reports it).
    num_nodes : int
        Candidates below the root (the tree verifies ``num_nodes + 1`` tokens per step).

    Returns
    -------
    MedusaTree

    Notes
    -----
    A node's value is the product of the accuracies along its path, and a child's value
    never exceeds its parent's, so taking the best node on the frontier ``num_nodes``
    times gives an optimal prefix-closed tree for the independence model.
    """
    table = _check_accuracies(accuracies)
    budget = check_positive_int("num_nodes", num_nodes)
    heads, ranks = table.shape
    frontier: list[tuple[float, tuple[int, ...]]] = [(-table[0, r], (r,)) for r in range(ranks)]
    heapq.heapify(frontier)
    chosen: list[tuple[int, ...]] = []
    while frontier and len(chosen) < budget:
        negative, path = heapq.heappop(frontier)
        chosen.append(path)
        if len(path) < heads:
            for r in range(ranks):
                heapq.heappush(frontier, (negative * table[len(path), r], (*path, r)))
    return MedusaTree.from_paths(chosen)
