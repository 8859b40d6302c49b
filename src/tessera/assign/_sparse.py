"""Sparse assignment: validation of graphs, :func:`solve_sparse` and its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tessera._validation import check_in
from tessera.assign._result import Assignment
from tessera.assign._sparse_input import as_edges, duplicate_error
from tessera.errors import InfeasibleAssignmentError

__all__ = ["SparseAssignment", "solve_sparse"]


def _infeasible(rows: list[int], cols: list[int], transposed: bool) -> InfeasibleAssignmentError:
    side, other = ("columns", "rows") if transposed else ("rows", "columns")
    shown_rows = rows[:20] + (["..."] if len(rows) > 20 else [])
    shown_cols = cols[:20] + (["..."] if len(cols) > 20 else [])
    message = (
        f"graph is infeasible: {side} {shown_rows} ({len(rows)} of them) have edges only to "
        f"{other} {shown_cols} ({len(cols)}), so no complete assignment exists. Add edges "
        f"from these {side} to other {other}, or remove {len(rows) - len(cols)} of them."
    )
    return InfeasibleAssignmentError(
        message, rows=tuple(rows), reachable_cols=tuple(cols), axis="cols" if transposed else "rows"
    )


@dataclass(frozen=True, eq=False, repr=False)
class SparseAssignment(Assignment):
    """An optimal assignment on a sparse graph, with its dual certificate.

    Same fields as :class:`Assignment`. The potentials satisfy
    ``u[i] + v[j] <= cost(i, j)`` on every edge (``>=`` when maximising), with
    equality on assigned edges; pairs without an edge are unconstrained.
    """

    def verify(self, cost: Any, *, rtol: float = 1e-9, shape: Any = None) -> bool:
        """Check optimality from the dual certificate, on the edges only.

        Parameters
        ----------
        cost : sparse matrix, (row, col, weight) tuple, or dense array_like
            The graph the assignment was computed for; a dense matrix is
            checked by :meth:`Assignment.verify`.
        rtol : float, default=1e-9
            Tolerance relative to the largest ``|cost|`` times the problem size.
        shape : tuple of int, optional
            Shape for the tuple form, as in :func:`solve_sparse`.

        Returns
        -------
        bool
            True when the assignment is complete, uses only edges, and the
            potentials prove it optimal.
        """
        import scipy.sparse as sp

        if not sp.issparse(cost) and not isinstance(cost, tuple):
            return super().verify(cost, rtol=rtol)
        row, col, w, (n, m) = as_edges(cost, shape=shape, maximize=self.maximize)
        k = min(n, m)
        rows, cols, u, v = self.rows, self.cols, self.row_potentials, self.col_potentials
        if rows.shape != (k,) or cols.shape != (k,) or u.shape != (n,) or v.shape != (m,):
            return False
        if k == 0:
            return True
        if len(np.unique(rows)) != k or len(np.unique(cols)) != k:
            return False
        if rows.min() < 0 or rows.max() >= n or cols.min() < 0 or cols.max() >= m:
            return False
        sign = -1.0 if self.maximize else 1.0
        u, v = sign * u, sign * v
        if not (np.isfinite(u).all() and np.isfinite(v).all()):
            return False
        tol = rtol * max(1.0, float(np.abs(w).max(initial=0.0))) * (n + m)
        reduced = w - u[row] - v[col]
        if reduced.size and reduced.min() < -tol:
            return False
        order = np.argsort(row * m + col)
        keys = (row * m + col)[order]
        wanted = rows * m + cols
        at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
        if keys.size == 0 or not (keys[at] == wanted).all():
            return False  # an assigned pair is not an edge
        matched = w[order[at]]
        if np.abs(matched - u[rows] - v[cols]).max() > tol:
            return False
        if n != m:
            side, used = (v, cols) if n < m else (u, rows)
            unmatched = np.ones(side.shape[0], bool)
            unmatched[used] = False
            if side.max() > tol or np.abs(side[unmatched]).max(initial=0.0) > tol:
                return False
        total = float(matched.sum())
        dual_gap = abs(float(u.sum() + v.sum()) - total)
        return abs(total - sign * self.total_cost) <= tol and dual_gap <= tol


def solve_sparse(
    graph: Any, *, shape: Any = None, maximize: bool = False, method: str = "auto"
) -> SparseAssignment:
    """Solve the assignment problem on a sparse bipartite graph.

    Parameters
    ----------
    graph : scipy sparse matrix or array, or tuple (row, col, weight)
        The allowed pairs and their costs. For a sparse matrix (CSR, CSC,
        COO, ...) every *stored* entry is an edge, so an explicit ``0`` is a
        free edge and a missing entry is a forbidden pair. The tuple form
        lists one edge per position of three equal-length arrays.
    shape : tuple of int, optional
        ``(n_rows, n_cols)`` for the tuple form; by default the largest
        indices plus one (pass it when the last rows or columns have no
        edges).
    maximize : bool, default=False
        Maximise the total weight instead of minimising it.
    method : {"auto", "sparse", "dense"}, default="auto"
        ``"sparse"`` always runs the sparse solver, ``"dense"`` fills a
        matrix (missing edges as ``inf``) for the dense one, ``"auto"`` picks
        dense for graphs with a tenth or more of all pairs (up to 2**24).

    Returns
    -------
    SparseAssignment
        Rows (sorted), columns, total cost and dual potentials;
        ``result.verify(graph)`` checks optimality on the edges.

    Raises
    ------
    InvalidInputError
        For a NaN or ``-inf`` cost (``+inf`` when maximising), non-numeric
        costs, bad indices or shape, and an edge given more than once.
    InfeasibleAssignmentError
        When no matching covers the smaller side; the message names rows that
        together have edges to too few columns (a Hall violator).

    Notes
    -----
    Every row of the smaller side is assigned, as in
    :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`, which
    this replaces (and which, unlike this function, ignores explicit zeros).
    The solver is a sparse Jonker-Volgenant shortest augmenting path method
    (column reduction, augmenting row reduction, then Dijkstra with a binary
    heap that touches only the columns each search reaches), compiled with
    numba, in float64. When column reduction leaves many rows free, a
    forward auction with epsilon scaling first prices the columns, and the
    exact phases start from those nearly optimal prices. Graphs with a tenth
    or more of all pairs (up to 2**24 pairs) go to the dense solver unless
    ``method="sparse"``. An ``inf`` cost (``-inf`` when maximising) is the
    same as a missing edge.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse import csr_array
    >>> from tessera.assign import solve_sparse
    >>> graph = csr_array(np.array([[4.0, 1, 0], [2, 0, 5], [0, 2, 2]]))
    >>> result = solve_sparse(graph)
    >>> result.cols.tolist(), result.total_cost
    ([1, 0, 2], 5.0)
    >>> result.verify(graph)
    True
    """
    from tessera.assign._sparse_core import build_csr

    check_in("method", method, ("auto", "sparse", "dense"))
    row, col, w, (n, m) = as_edges(graph, shape=shape, maximize=maximize)
    transposed = n > m
    if transposed:
        row, col, n, m = col, row, m, n
    indptr, indices, data, dup = build_csr(row, col, w, n, m)
    if dup >= 0:
        src = (col, row) if transposed else (row, col)
        raise duplicate_error(*src, int(dup))
    dense_pays = n * m <= _DENSE_MAX_CELLS and data.size * 10 >= n * m
    if n and (method == "dense" or (method == "auto" and dense_pays)):
        return _solve_as_dense(row, col, w, (n, m), transposed, maximize)
    return _solve_csr(indptr, indices, data, m, transposed, maximize)


def _solve_csr(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    data: NDArray[np.float64],
    m: int,
    transposed: bool,
    maximize: bool,
) -> SparseAssignment:
    """Run the sparse kernels on a CSR graph in solver orientation (n <= m)."""
    from tessera.assign._sparse_auction import auction_start
    from tessera.assign._sparse_core import COLUMN_REDUCTION, OK, PRICED, ZERO, solve_csr, start

    n = indptr.size - 1
    x = np.empty(n, np.int64)
    y = np.empty(m, np.int64)
    v = np.empty(m, np.float64)
    xw = np.empty(n, np.float64)
    free = np.empty(n, np.int64)
    tree = np.empty(m, np.int64)
    # Every row of the smaller side is assigned, so shifting all costs moves
    # every total alike; costs from 0 keep the potentials small.
    shift = float(data.min()) if data.size else 0.0
    work = data - shift
    if n < m:
        numfree = start(indptr, indices, work, x, y, v, xw, free, ZERO)
    else:
        numfree = start(indptr, indices, work, x, y, v, xw, free, COLUMN_REDUCTION)
        # Column reduction alone is often nearly done (a clear cheapest
        # matching); otherwise near-optimal prices make the searches short.
        if numfree * 20 > n:
            if auction_start(indptr, indices, work, v):
                numfree = start(indptr, indices, work, x, y, v, xw, free, PRICED)
            else:
                numfree = start(indptr, indices, work, x, y, v, xw, free, COLUMN_REDUCTION)
    status, bad_row, size = solve_csr(indptr, indices, work, x, y, v, xw, free, numfree, tree)
    if status != OK:
        cols_reached = np.sort(tree[:size])
        rows_reached = np.sort(np.append(y[cols_reached], bad_row))
        raise _infeasible(rows_reached.tolist(), cols_reached.tolist(), transposed)
    # The assigned edges' own costs (not shifted back, which could round).
    owner = np.repeat(np.arange(n), np.diff(indptr))
    hit = indices == x[owner]
    xw[owner[hit]] = data[hit]
    u = xw - v[x] if n else np.zeros(0)
    return _result(x, u, v, float(xw.sum()) if n else 0.0, transposed, maximize)


# Dense enough graphs (a tenth of the pairs or more) go to the dense solver,
# whose column scans beat heap searches there, up to 2**24 cells (128 MiB).
_DENSE_MAX_CELLS = 1 << 24


def _solve_as_dense(
    row: NDArray[np.int64],
    col: NDArray[np.int64],
    w: NDArray[np.float64],
    shape: tuple[int, int],
    transposed: bool,
    maximize: bool,
) -> SparseAssignment:
    """Solve via the dense solver (missing edges as ``inf``), in solver orientation."""
    from tessera.assign._dense import _solve_minimize

    cost = np.full(shape, np.inf)
    cost[row, col] = w
    try:
        _, x, u, v = _solve_minimize(cost)
    except InfeasibleAssignmentError as err:
        raise _infeasible(list(err.rows), list(err.reachable_cols), transposed) from None
    total = float(cost[np.arange(shape[0]), x].sum())
    return _result(x, u, v, total, transposed, maximize)


def _result(
    x: NDArray[np.int64],
    u: NDArray[np.float64],
    v: NDArray[np.float64],
    total: float,
    transposed: bool,
    maximize: bool,
) -> SparseAssignment:
    """The result in the caller's orientation and sign, from the solver's (n <= m)."""
    idx = np.arange(x.size, dtype=np.int64)
    if transposed:
        order = np.argsort(x)
        rows, cols, u, v = x[order], idx[order], v, u
    else:
        rows, cols = idx, x
    sign = -1.0 if maximize else 1.0
    return SparseAssignment(
        rows=rows,
        cols=cols,
        total_cost=sign * total,
        row_potentials=sign * u,
        col_potentials=sign * v,
        maximize=bool(maximize),
    )
