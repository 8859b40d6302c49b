"""scipy's ``min_weight_full_bipartite_matching`` convention, over :func:`solve_sparse`.

An adapter at the edge: :func:`_scipy_edges` turns scipy's input rules (CSR,
CSC or COO only; stored zeros are not edges; repeated entries are summed) into
the edge list :func:`solve_sparse` takes, and the result goes back as scipy's
pair of index arrays. :func:`solve_sparse` keeps its own rules.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tessera._validation import bad_value, short_repr
from tessera.assign._sparse import solve_sparse
from tessera.errors import InfeasibleAssignmentError, InvalidTypeError

__all__ = ["min_weight_full_bipartite_matching"]

# scipy's texts, kept where callers may match on them.
_ZERO_WARNING = "explicit zero weights are removed before matching"
_INFEASIBLE = "no full matching exists"


def _scipy_edges(
    biadjacency: Any,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], tuple[int, int]]:
    """Edges ``(row, col, weight, shape)`` of a graph read as scipy reads it."""
    import scipy.sparse as sp

    if not sp.issparse(biadjacency):
        raise InvalidTypeError(
            f"biadjacency={short_repr(biadjacency)} is invalid: graph must be sparse, in CSR, "
            "CSC or COO format. Wrap it, e.g. scipy.sparse.csr_array(biadjacency) (zeros are "
            "then no edges), or use tessera.assign.linear_sum_assignment for dense costs."
        )
    if biadjacency.format not in ("csr", "csc", "coo"):
        raise InvalidTypeError(
            f"biadjacency={short_repr(biadjacency)} is invalid: graph must be in CSC, CSR, or "
            f"COO format, not {biadjacency.format!r}. Convert it, e.g. biadjacency.tocsr()."
        )
    shape = tuple(int(s) for s in biadjacency.shape)
    if len(shape) != 2:
        raise bad_value(
            "biadjacency.shape",
            shape,
            "a biadjacency matrix is 2-D",
            "Pass a 2-D sparse array or matrix.",
        )
    n, m = shape
    coo = biadjacency.tocoo()  # keeps repeated entries and stored zeros
    # As scipy: a complex weight loses its imaginary part, with numpy's ComplexWarning.
    weight = np.asarray(coo.data).astype(np.float64).reshape(-1)
    row = np.asarray(coo.row, dtype=np.int64).reshape(-1)
    col = np.asarray(coo.col, dtype=np.int64).reshape(-1)
    stored_zero = weight == 0
    if stored_zero.any():
        warnings.warn(_ZERO_WARNING, UserWarning, stacklevel=3)
        keep = ~stored_zero
        row, col, weight = row[keep], col[keep], weight[keep]
    # Repeated entries are summed, as scipy's conversion to CSR does; a sum of
    # zero stays an edge (scipy removes stored zeros before summing).
    keys = row * m + col
    if keys.size and np.any(np.diff(keys) <= 0):
        unique, inverse = np.unique(keys, return_inverse=True)
        if unique.size < keys.size:
            summed = np.bincount(inverse.reshape(-1), weights=weight, minlength=unique.size)
            weight = np.asarray(summed, dtype=np.float64)
            row, col = unique // m, unique % m
    return row, col, weight, (n, m)


def min_weight_full_bipartite_matching(
    biadjacency: Any, maximize: Any = False
) -> tuple[NDArray[np.integer[Any]], NDArray[np.integer[Any]]]:
    """Minimum weight full matching of a bipartite graph; a drop-in for scipy's.

    Parameters
    ----------
    biadjacency : sparse array or matrix, shape (n_rows, n_cols)
        The graph in CSR, CSC or COO format: stored entry ``(i, j)`` is an
        edge of weight ``biadjacency[i, j]``. Stored zeros are removed (with a
        ``UserWarning``) and repeated COO entries are summed, as scipy does.
        ``inf`` (``-inf`` when maximising) is a missing edge.
    maximize : bool, default=False
        Calculate a maximum weight matching instead. Read by its truth value,
        as scipy does.

    Returns
    -------
    row_ind, col_ind : ndarray
        Row indices (sorted) and their matched columns, ``min(n_rows,
        n_cols)`` of each. As in scipy, the indices of the larger side are
        ``int32`` and the other array is ``int64`` (``row_ind`` is
        ``np.arange(n_rows)`` when ``n_rows <= n_cols``).

    Raises
    ------
    ValueError
        :class:`~tessera.errors.InfeasibleAssignmentError` ("no full matching
        exists", then the rows that cannot all be matched) when no matching
        covers the smaller side, and
        :class:`~tessera.errors.InvalidInputError` for a NaN or ``-inf``
        weight (``+inf`` when maximising) or a graph that is not 2-D.
    TypeError
        :class:`~tessera.errors.InvalidTypeError` for dense input and sparse
        formats other than CSR, CSC and COO.

    Notes
    -----
    Same semantics as :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`.
    The edges go to :func:`solve_sparse`, whose own rules differ on purpose
    (every stored entry, zeros included, is an edge; a repeated edge is an
    error); use it to also get the total and the dual certificate. When
    several matchings are optimal, the one returned can differ from scipy's,
    with the same total. NaN weights and ``+inf`` when maximising raise where
    scipy returns an unspecified answer.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse import csr_array
    >>> from tessera.assign import min_weight_full_bipartite_matching
    >>> biadjacency = csr_array([[3, 3, 6], [4, 3, 5], [10, 1, 8]])
    >>> row_ind, col_ind = min_weight_full_bipartite_matching(biadjacency)
    >>> col_ind.tolist(), int(biadjacency[row_ind, col_ind].sum())
    ([0, 2, 1], 9)
    >>> col_ind.dtype
    dtype('int32')
    >>> min_weight_full_bipartite_matching(biadjacency, maximize=1)[1].tolist()
    [2, 1, 0]
    """
    row, col, weight, (n, m) = _scipy_edges(biadjacency)
    try:
        result = solve_sparse((row, col, weight), shape=(n, m), maximize=bool(maximize))
    except InfeasibleAssignmentError as err:
        raise InfeasibleAssignmentError(
            f"{_INFEASIBLE}: {err}",
            rows=err.rows,
            reachable_cols=err.reachable_cols,
            axis=err.axis,
        ) from None
    if n <= m:
        return result.rows.astype(np.int64), result.cols.astype(np.int32)
    return result.rows.astype(np.int32), result.cols.astype(np.int64)
