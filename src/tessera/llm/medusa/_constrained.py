"""Medusa under a constraint: the grammar prunes each step's tree and masks its verifier.

Three steps, used by :func:`~tessera.llm.medusa.medusa_generate` when a
:class:`~tessera.llm.ConstraintState` is passed:

* **draft**: :class:`ForcedTokens`, a drafter (:mod:`tessera.llm.medusa._drafters`):
  the tokens the constraint forces after the step's root (llguidance's fast-forward
  tokens: braces, keys, quotes) join the tree as a chain, like prompt lookup's, at no
  cost to the heads; the other drafters' chains are cut where the constraint stops
  allowing them;
* **prune**: :func:`allowed_nodes` keeps only the nodes whose path from the root the
  constraint allows, so no pass spends a row on a candidate that can never be accepted;
* **verify**: :func:`accept_greedy` walks down from the root taking, at each accepted
  node, the argmax of that node's logits under the constraint's mask there, which is the
  token constrained plain greedy decoding would choose; :func:`masked_rows` masks every
  internal node's row for typical acceptance.

Only masks along the accepted chain are computed for greedy decoding (one per accepted
token, as plain decoding computes), and the last one is the next step's root mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from tessera.llm._torch import require
from tessera.llm.medusa._drafters import Draft

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray
    from torch import Tensor

    from tessera.llm._structured import ConstraintState
    from tessera.llm.medusa._drafters import DraftContext
else:
    torch = require("torch")

__all__ = ["ForcedTokens", "accept_greedy", "allowed_nodes", "masked_rows"]


class ForcedTokens:
    """A drafter (:class:`~tessera.llm.medusa._drafters.Drafter`) of the tokens a
    constraint forces after the step's root.

    Parameters
    ----------
    constraint : ConstraintState
        The generation's constraint, standing after the root when a step drafts.
    limit : int
        Longest chain drafted per step.
    """

    def __init__(self, constraint: ConstraintState, limit: int) -> None:
        self.constraint = constraint
        self.limit = limit

    def draft(self, context: DraftContext) -> Draft | None:
        """The forced tokens, at most ``limit`` and what the budget can take."""
        forced = self.constraint.forced()[: min(self.limit, context.room)]
        return Draft("forced", forced, valid=True) if forced else None

    def update(self, committed: Sequence[int]) -> None:
        """Nothing: the decoding loop advances the constraint itself."""


def _path(parents: NDArray[np.int64], node: int) -> list[int]:
    """The nodes from the root's first child down to ``node`` (root excluded)."""
    path: list[int] = []
    while node > 0:
        path.append(node)
        node = int(parents[node])
    return path[::-1]


def allowed_nodes(
    parents: NDArray[np.int64],
    tokens: Sequence[int],
    constraint: ConstraintState,
    limit: int,
) -> NDArray[np.bool_]:
    """Which nodes the constraint allows (the root, its state's position, always).

    ``constraint`` stands after the root; a node is allowed when every token on its path
    below the root is. Nodes at index ``limit`` and beyond are dropped too (children
    always come after their parents, so the kept set stays a tree).
    """
    n = len(parents)
    has_child = np.zeros(n, dtype=np.bool_)
    has_child[parents[1:]] = True
    ok = np.zeros(n, dtype=np.bool_)
    ok[0] = True
    for leaf in np.flatnonzero(~has_child):
        if leaf == 0:
            continue
        path = _path(parents, int(leaf))
        valid = constraint.valid_prefix([tokens[i] for i in path])
        ok[path[:valid]] = True
    ok[limit:] = False
    return ok


def accept_greedy(
    tokens: Sequence[int],
    parents: NDArray[np.int64],
    rows: Tensor,
    constraint: ConstraintState,
    eos: set[int],
) -> list[int]:
    """The accepted chain of nodes, root first, consuming its tokens into ``constraint``.

    At each accepted node the next token is the argmax of its row under the mask of the
    constraint there; the child holding that token (if any) is accepted. The walk stops at
    EOS, at a node without that child, or when the constraint is finished.
    """
    children = {(int(parents[i]), int(tokens[i])): i for i in range(1, len(tokens))}
    chain = [0]
    node = 0
    while not constraint.finished:
        best = int(torch.argmax(constraint.mask_logits(rows[node])))
        child = children.get((node, best))
        if child is None:
            break
        chain.append(child)
        if best in eos:
            break
        constraint.consume([best])
        node = child
    return chain


def masked_rows(
    tokens: Sequence[int],
    parents: NDArray[np.int64],
    internal: NDArray[np.int64],
    rows: Tensor,
    constraint: ConstraintState,
    eos: set[int],
) -> Tensor:
    """``rows`` (float32) with each internal node's row masked by the constraint there."""
    out = rows.float().clone()
    for node in internal:
        path = [int(tokens[i]) for i in _path(parents, int(node))]
        if any(token in eos for token in path):
            continue
        constraint.consume(path)
        out[int(node)] = constraint.mask_logits(rows[int(node)])
        constraint.rollback(len(path))
    return out
