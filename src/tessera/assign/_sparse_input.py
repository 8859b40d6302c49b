"""Sparse graphs as input: validation into edge arrays, with the messages.

A graph is a scipy sparse matrix or array (every stored entry is an edge) or a
tuple ``(row, col, weight)``; :func:`as_edges` checks it once and returns
plain arrays for the solvers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from tessera._validation import check_bool, short_repr
from tessera.errors import InvalidInputError, InvalidTypeError

__all__ = ["Edges", "as_edges", "duplicate_error"]

Edges = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], tuple[int, int]]


def _weights(values: Any, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values)
    if arr.dtype.kind == "c":
        raise InvalidTypeError(
            f"{name} has complex dtype {arr.dtype}: edge costs must be real numbers. "
            f"Pass the real part if the imaginary part is zero."
        )
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"{name} has non-numeric dtype {arr.dtype} (first value "
            f"{short_repr(arr.flat[0] if arr.size else None)}): edge costs must be numbers. "
            "Convert them first, e.g. with np.asarray(weight, dtype=float)."
        )
    return np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)


def _indices(values: Any, name: str, bound: int | None, axis: str) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise InvalidInputError(
            f"{name}={short_repr(values)} is invalid: it must be a 1-D array of integer "
            f"{axis} indices (got dtype {arr.dtype}, shape {arr.shape}). "
            "Pass integer arrays, e.g. np.asarray(row, dtype=np.int64)."
        )
    out = arr.astype(np.int64)
    if out.size and out.min() < 0:
        raise InvalidInputError(
            f"{name} contains the negative {axis} index {int(out.min())}: indices must be "
            ">= 0. Pass 0-based indices."
        )
    if bound is not None and out.size and out.max() >= bound:
        raise InvalidInputError(
            f"{name} contains the {axis} index {int(out.max())}, outside "
            f"shape[{int(axis == 'column')}]={bound}: indices must be < the shape. "
            "Pass a larger shape or fix the index."
        )
    return out


def _check_shape(shape: Any) -> tuple[int, int]:
    ok = (
        isinstance(shape, tuple | list)
        and len(shape) == 2
        and all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in shape)
        and min(shape) >= 0
    )
    if not ok:
        raise InvalidInputError(
            f"shape={short_repr(shape)} is invalid: it must be a pair of non-negative ints "
            "(n_rows, n_cols). Pass e.g. shape=(4, 5)."
        )
    return int(shape[0]), int(shape[1])


def as_edges(graph: Any, *, shape: Any = None, maximize: bool = False) -> Edges:
    """Validate a sparse graph; return edges ``(row, col, cost, shape)`` to minimise.

    ``cost`` is negated when ``maximize=True``. Forbidden edges (``+inf``, or
    ``-inf`` when maximising) are dropped; NaN, ``-inf`` (``+inf`` when
    maximising) and repeated ``(row, col)`` pairs raise
    :class:`~tessera.errors.InvalidInputError`.
    """
    import scipy.sparse as sp

    check_bool("maximize", maximize)
    if sp.issparse(graph):
        given = tuple(int(s) for s in graph.shape)
        if len(given) != 2:
            raise InvalidInputError(
                f"graph has shape {given}: a bipartite graph is a 2-D sparse matrix. "
                "Pass a 2-D scipy sparse matrix or array."
            )
        if shape is not None and _check_shape(shape) != given:
            raise InvalidInputError(
                f"shape={short_repr(shape)} is invalid: it differs from graph.shape={given}. "
                "Leave shape=None for a sparse matrix."
            )
        coo = graph.tocoo()  # keeps duplicates and explicit zeros
        weight = _weights(coo.data, "graph.data")
        row = coo.row.astype(np.int64)
        col = coo.col.astype(np.int64)
        n, m = given
    elif isinstance(graph, tuple) and len(graph) == 3:
        bounds = (None, None) if shape is None else _check_shape(shape)
        row = _indices(graph[0], "row", bounds[0], "row")
        col = _indices(graph[1], "col", bounds[1], "column")
        weight = _weights(graph[2], "weight")
        if not (row.shape == col.shape == weight.shape):
            raise InvalidInputError(
                f"graph=(row, col, weight) have lengths {row.size}, {col.size}, {weight.size}: "
                "the three arrays must have one entry per edge. Pass arrays of equal length."
            )
        n = bounds[0] if bounds[0] is not None else int(row.max(initial=-1)) + 1
        m = bounds[1] if bounds[1] is not None else int(col.max(initial=-1)) + 1
    else:
        raise InvalidInputError(
            f"graph={short_repr(graph)} is invalid: it must be a scipy sparse matrix or array, "
            "or a tuple (row, col, weight) of equal-length arrays. Wrap a dense matrix with "
            "scipy.sparse.csr_array, or use tessera.assign.solve for dense costs."
        )
    if maximize:
        weight = -weight
    low = weight.min() if weight.size else 0.0
    if low != low or low == -np.inf:
        bad = int(np.flatnonzero(np.isnan(weight) | np.isneginf(weight))[0])
        what = (
            "NaN" if np.isnan(weight[bad]) else ("+inf with maximize=True" if maximize else "-inf")
        )
        raise InvalidInputError(
            f"graph has an invalid edge cost: edge ({row[bad]}, {col[bad]}) is {what}. Costs must "
            "be finite, or +inf to forbid the edge (-inf when maximizing); better, leave it out."
        )
    if weight.size and weight.max() == np.inf:
        keep = weight < np.inf
        row, col, weight = row[keep], col[keep], weight[keep]
    return row, col, weight, (n, m)


def duplicate_error(row: NDArray[np.int64], col: NDArray[np.int64], e: int) -> InvalidInputError:
    pair = (int(row[e]), int(col[e]))
    return InvalidInputError(
        f"graph has the edge {pair} more than once: an edge has one cost "
        "(scipy would silently sum repeated COO entries). Merge them first, e.g. keep the "
        "cheapest, or call graph.sum_duplicates() if a sum is what you mean."
    )
