"""The k cheapest assignments in order: Murty's algorithm, :func:`k_best`."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tessera._validation import check_positive_int
from tessera.assign._dense import _solve_minimize, as_cost_matrix
from tessera.assign._result import Assignment

__all__ = ["RankedAssignment", "k_best"]

Pairs = tuple[tuple[int, int], ...]


@dataclass(frozen=True, eq=False, repr=False)
class RankedAssignment(Assignment):
    """One of the k best assignments, with the certificate of its rank.

    Same fields as :class:`Assignment`, plus:

    Attributes
    ----------
    rank : int
        1 for the optimum, 2 for the next cheapest, and so on.
    fixed : tuple of (row, col)
        Pairs that every assignment of this one's subproblem must use.
    forbidden : tuple of (row, col)
        Pairs its subproblem may not use.

    Notes
    -----
    Murty's algorithm splits the set of all assignments into disjoint
    subproblems, each defined by ``fixed`` and ``forbidden`` pairs, and this
    assignment is optimal in its subproblem. The potentials are the dual
    certificate of that subproblem, so :meth:`verify` checks optimality under
    these constraints (for ``rank == 1`` there are none: it is the plain
    optimum).
    """

    rank: int = 1
    fixed: Pairs = ()
    forbidden: Pairs = ()

    def __repr__(self) -> str:
        return super().__repr__().replace("Assignment(", f"RankedAssignment(rank={self.rank}, ", 1)

    def constrained_cost(self, cost: ArrayLike) -> NDArray[np.float64]:
        """``cost`` with the subproblem's constraints as forbidden entries.

        A forbidden pair becomes ``inf`` (``-inf`` when maximising); a fixed
        pair ``(r, c)`` forbids every other entry of row ``r`` and column ``c``.
        """
        c = np.array(cost, dtype=np.float64)
        blocked = -np.inf if self.maximize else np.inf
        for r, col in self.forbidden:
            c[r, col] = blocked
        for r, col in self.fixed:
            keep = c[r, col]
            c[r, :] = blocked
            c[:, col] = blocked
            c[r, col] = keep
        return c

    def verify(self, cost: ArrayLike, *, rtol: float = 1e-9) -> bool:
        """Check optimality within the subproblem (see :meth:`constrained_cost`)."""
        c = np.asarray(cost, dtype=np.float64)
        if c.ndim != 2:
            return False
        return super().verify(self.constrained_cost(c), rtol=rtol)


class _Node(NamedTuple):
    """A subproblem with its optimal solution, in solver orientation (n <= m)."""

    fixed: Pairs
    forbidden: Pairs
    x: NDArray[np.int64]
    u: NDArray[np.float64]
    v: NDArray[np.float64]


def _solve_node(work: NDArray[np.float64], fixed: Pairs, forbidden: Pairs) -> _Node | None:
    """Solve ``work`` (n <= m) under the constraints; ``None`` when infeasible."""
    from tessera.assign._jv import OK, solve_constant, solve_dense

    n, m = work.shape
    row_free = np.ones(n, bool)
    col_free = np.ones(m, bool)
    for r, c in fixed:
        row_free[r] = False
        col_free[c] = False
    free_rows = np.flatnonzero(row_free)
    free_cols = np.flatnonzero(col_free)
    sub = np.ascontiguousarray(work[np.ix_(free_rows, free_cols)])
    row_pos = np.cumsum(row_free) - 1
    col_pos = np.cumsum(col_free) - 1
    for r, c in forbidden:
        if row_free[r] and col_free[c]:
            sub[row_pos[r], col_pos[c]] = np.inf
    x = np.empty(n, np.int64)
    u = np.zeros(n)
    v = np.zeros(m)
    for r, c in fixed:
        x[r] = c
        u[r] = work[r, c]
    if free_rows.size:
        sx = np.empty(free_rows.size, np.int64)
        sy = np.empty(free_cols.size, np.int64)
        sv = np.empty(free_cols.size)
        # A constant matrix gets scipy's answer, the identity, as in solve().
        if not solve_constant(sub, sx, sy, sv):
            status, _ = solve_dense(sub, sx, sy, sv)
            if status != OK:
                return None
        x[free_rows] = free_cols[sx]
        v[free_cols] = sv
        u[free_rows] = sub[np.arange(free_rows.size), sx] - sv[sx]
    return _Node(fixed, forbidden, x, u, v)


def _children(work: NDArray[np.float64], node: _Node) -> list[_Node]:
    """Murty's partition of ``node`` minus its solution, each part solved."""
    fixed_rows = {r for r, _ in node.fixed}
    pairs = [(i, int(node.x[i])) for i in range(work.shape[0]) if i not in fixed_rows]
    out = []
    for t, pair in enumerate(pairs):
        child = _solve_node(work, node.fixed + tuple(pairs[:t]), node.forbidden + (pair,))
        if child is not None:
            out.append(child)
    return out


def k_best(cost: ArrayLike, k: int, *, maximize: bool = False) -> list[RankedAssignment]:
    """The ``k`` cheapest distinct complete assignments, in order (Murty's algorithm).

    Parameters
    ----------
    cost : array_like, shape (n_rows, n_cols)
        The cost matrix; ``inf`` forbids a pair (``-inf`` when maximising).
        Rectangular in either direction: every row of the smaller side is
        assigned.
    k : int
        How many assignments to return, ``k >= 1``.
    maximize : bool, default=False
        Return the ``k`` most valuable assignments instead.

    Returns
    -------
    list of RankedAssignment
        Distinct assignments with non-decreasing ``total_cost``
        (non-increasing when maximising); ``[0]`` is the optimum. When fewer
        than ``k`` complete assignments exist, all of them are returned.

    Raises
    ------
    InvalidInputError
        For a bad matrix (as :func:`solve`) or ``k`` that is not an int >= 1.
    InfeasibleAssignmentError
        When no complete assignment exists at all.

    Notes
    -----
    Murty's method: the optimum's pairs ``p_1, ..., p_r`` (those not already
    fixed) split the rest of its subproblem into ``r`` disjoint parts, part
    ``t`` fixing ``p_1 .. p_{t-1}`` and forbidding ``p_t``. Each part is solved
    with the dense solver (fixed rows and columns removed, forbidden pairs set
    to ``inf``) and kept in a heap; the cheapest part yields the next
    assignment. Cost: up to ``k * min(n, m)`` dense solves of at most the
    problem's size. Equal totals are returned in the order found.

    References
    ----------
    K. G. Murty, "An algorithm for ranking all the assignments in order of
    increasing cost", Operations Research 16(3), 682-687 (1968).

    Examples
    --------
    >>> from tessera.assign import k_best
    >>> [a.total_cost for a in k_best([[1, 2], [3, 1]], 3)]
    [2.0, 5.0]
    """
    k = check_positive_int("k", k)
    c = as_cost_matrix(cost, maximize=maximize)
    transposed = c.shape[0] > c.shape[1]
    work = np.ascontiguousarray(c.T) if transposed else c
    first = _solve_node(work, (), ())
    if first is None:
        _solve_minimize(c)  # raises InfeasibleAssignmentError naming a Hall violator
        raise AssertionError("unreachable: the dense solvers disagree on feasibility")
    rowsum = np.arange(work.shape[0])
    heap: list[tuple[float, int, _Node]] = [(float(work[rowsum, first.x].sum()), 0, first)]
    count = 1
    found: list[_Node] = []
    while heap and len(found) < k:
        _, _, node = heapq.heappop(heap)
        found.append(node)
        if len(found) == k:
            break
        for child in _children(work, node):
            heapq.heappush(heap, (float(work[rowsum, child.x].sum()), count, child))
            count += 1
    return [_ranked(node, rank, c, transposed, maximize) for rank, node in enumerate(found, 1)]


def _ranked(
    node: _Node, rank: int, c: NDArray[np.float64], transposed: bool, maximize: bool
) -> RankedAssignment:
    """Map a node back to the caller's orientation and sign."""
    sign = -1.0 if maximize else 1.0
    idx = np.arange(node.x.size, dtype=np.int64)
    fixed, forbidden = node.fixed, node.forbidden
    if transposed:
        order = np.argsort(node.x)
        rows, cols, u, v = node.x[order], idx[order], node.v, node.u
        fixed = tuple((b, a) for a, b in fixed)
        forbidden = tuple((b, a) for a, b in forbidden)
    else:
        rows, cols, u, v = idx, node.x, node.u, node.v
    total = float(c[rows, cols].sum()) if rows.size else 0.0
    return RankedAssignment(
        rows=rows,
        cols=cols,
        total_cost=sign * total,
        row_potentials=sign * u,
        col_potentials=sign * v,
        maximize=bool(maximize),
        rank=rank,
        fixed=tuple(sorted(fixed)),
        forbidden=tuple(sorted(forbidden)),
    )
