"""Dense assignment: validation, the scipy-compatible API and :func:`solve`."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tessera._validation import check_bool, short_repr
from tessera.assign._result import Assignment
from tessera.errors import InfeasibleAssignmentError, InvalidInputError, InvalidTypeError

__all__ = ["as_cost_matrix", "hall_violator", "linear_sum_assignment", "solve"]

# Below this size the dense solver is already faster than pruning's passes.
PRUNE_MIN_SIZE = 400

_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_core_module: Any = None


def _core() -> Any:
    """The compiled kernels (:mod:`tessera.assign._jv`, ``_prune``), imported on first use.

    numba takes a while to import, so ``import tessera`` does not load it; after
    the first solve this is a global lookup, which matters where a whole solve
    takes microseconds.
    """
    global _core_module
    if _core_module is None:
        from types import SimpleNamespace

        from tessera.assign import _jv, _prune

        _core_module = SimpleNamespace(
            OK=_jv.OK,
            CANDIDATES_PER_ROW=_prune.CANDIDATES_PER_ROW,
            solve_auto=_prune.solve_auto,
            all_valid=_jv.all_valid,
            value_range=_jv.value_range,
        )
    return _core_module


def as_cost_matrix(
    cost: Any, *, maximize: bool = False, name: str = "cost", compact: bool = False
) -> NDArray[Any]:
    """Validate ``cost`` and return it as a C-contiguous float64 matrix to minimise.

    With ``maximize=True`` the returned matrix is negated. With
    ``compact=True`` integer matrices come back as int32 when their values fit
    (else float64) and float32 matrices stay float32: the solver core reads them
    directly and does its arithmetic in float64, so the answer is exact, and a
    narrower matrix stays in cache longer. Raises
    :class:`InvalidInputError` (a ``ValueError``) for a shape that is not 2-D,
    NaN or ``-inf`` (``+inf`` when maximising) and non-numeric entries in a
    list, and :class:`InvalidTypeError` (a ``TypeError``) for complex numbers
    and arrays whose dtype does not cast safely to float64 (strings, objects,
    ``longdouble``), the error classes scipy raises.
    """
    if maximize is not True and maximize is not False:
        check_bool("maximize", maximize)
    try:
        arr = np.asarray(cost)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"{name} is invalid: it must be a rectangular numeric matrix ({exc}). "
            "Pass a 2-D array or a list of equal-length rows."
        ) from None
    dtype = arr.dtype
    if dtype is _F64 or dtype == _F64:
        pass  # the common case, checked first: float64 needs no cast
    elif dtype.kind == "c":
        raise InvalidTypeError(
            f"{name} has complex dtype {arr.dtype}: costs must be real numbers. "
            f"Pass {name}.real if the imaginary part is zero."
        )
    elif not np.can_cast(dtype, np.float64):
        arr = _as_float64(cost, arr, name)
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{name} is invalid: expected a matrix (2-D array), got a {arr.ndim}-D array of "
            f"shape {arr.shape}. Pass one matrix; for a stack of problems use solve_batch."
        )
    if compact and arr.dtype.kind in "biu":
        return _compact_integers(arr, maximize)
    if compact and arr.dtype == _F32:
        c32 = -arr if maximize else np.ascontiguousarray(arr)
        if c32.size and not _all_valid(c32):
            return as_cost_matrix(arr, maximize=maximize, name=name)  # raises with the location
        return np.ascontiguousarray(c32)
    c = np.ascontiguousarray(arr, dtype=np.float64)
    if maximize:
        c = -c
    if c.size and not _all_valid(c):
        bad = np.argwhere(np.isnan(c) | np.isneginf(c))[0]
        value = arr[tuple(bad)]
        what = "NaN" if np.isnan(value) else ("+inf with maximize=True" if maximize else "-inf")
        raise InvalidInputError(
            f"matrix contains invalid numeric entries: {name}[{bad[0]}, {bad[1]}] is {what}. "
            "Costs must be finite, or +inf to forbid a pair (-inf when maximizing)."
        )
    return c


def _as_float64(cost: Any, arr: NDArray[Any], name: str) -> NDArray[np.float64]:
    """Convert entries that do not cast safely to float64, by scipy's rule.

    scipy's binding asks numpy for float64 with the safe casting rule: an array
    whose dtype would lose information (strings, objects, ``longdouble``,
    datetimes) is a ``TypeError``; anything else (a list, a DataFrame) is
    converted entry by entry with ``float()``, so a list of numeric strings or
    ``Decimal`` values is accepted and a non-numeric entry is a ``ValueError``.
    """
    if isinstance(cost, np.ndarray):
        raise InvalidTypeError(
            f"{name} is invalid: Cannot cast array data from {arr.dtype!r} to "
            "dtype('float64') according to the rule 'safe' (costs must be numbers that float64 "
            f"holds exactly, as in scipy). Convert it first, e.g. with {name}.astype(float)."
        )
    try:
        return np.asarray(cost, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        error = InvalidTypeError if isinstance(exc, TypeError) else InvalidInputError
        raise error(
            f"{name} has non-numeric entries (first entry "
            f"{short_repr(arr.flat[0] if arr.size else None)}; {exc}): costs must be numbers. "
            "Convert the matrix to numbers first, e.g. with np.asarray(cost, dtype=float)."
        ) from None


_INT32_LIMIT = 2**31 - 1


def _compact_integers(arr: NDArray[Any], maximize: bool) -> NDArray[Any]:
    """int32 when every value (negated, if maximising) fits, else float64.

    The core's arithmetic is float64, so float64 storage loses nothing that
    the arithmetic keeps; only three dtypes (float64, float32, int32) are ever
    compiled.
    """
    if arr.size == 0:
        return np.zeros(arr.shape, np.int32)
    if arr.dtype.kind == "b":
        arr = arr.view(np.uint8)
    if arr.dtype.itemsize <= 2:
        low, high = 0, 0  # int8, int16 and their unsigned kinds always fit
    else:
        low, high = (int(b) for b in _core().value_range(np.ascontiguousarray(arr)))
    if -_INT32_LIMIT <= low and high <= _INT32_LIMIT:
        c = np.ascontiguousarray(arr, dtype=np.int32)
    else:
        c = np.ascontiguousarray(arr, dtype=np.float64)
    return -c if maximize else c


def _all_valid(c: NDArray[Any]) -> bool:
    """No NaN and no ``-inf`` in the C-contiguous float matrix ``c``."""
    return bool(_core().all_valid(c))


def hall_violator(finite: NDArray[np.bool_]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Find rows that together reach too few columns, or ``None`` if none exist.

    Parameters
    ----------
    finite : ndarray of bool, shape (n, m), n <= m
        Which pairs are allowed.

    Returns
    -------
    (rows, cols) or None
        A set of rows and the set of all columns they can reach, with
        ``len(cols) < len(rows)``; ``None`` when every row can be assigned.
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_bipartite_matching

    graph = csr_array(finite.astype(np.int8))
    row_match = maximum_bipartite_matching(graph, perm_type="column")
    free_rows = np.flatnonzero(row_match < 0)
    if free_rows.size == 0:
        return None
    col_match = np.full(finite.shape[1], -1)
    matched = row_match >= 0
    col_match[row_match[matched]] = np.flatnonzero(matched)
    # Alternating search from one free row: every column it reaches is matched
    # (a maximum matching has no augmenting path), so the rows reached outnumber
    # the columns by one: a Hall violator (Konig's theorem).
    start = int(free_rows[0])
    seen_rows = {start}
    seen_cols: set[int] = set()
    frontier = [start]
    while frontier:
        nxt = []
        for i in frontier:
            for col in np.flatnonzero(finite[i]):
                j = int(col)
                if j in seen_cols:
                    continue
                seen_cols.add(j)
                i2 = int(col_match[j])
                if i2 >= 0 and i2 not in seen_rows:
                    seen_rows.add(i2)
                    nxt.append(i2)
        frontier = nxt
    return tuple(sorted(seen_rows)), tuple(sorted(seen_cols))


def _infeasible(c: NDArray[np.float64], transposed: bool) -> InfeasibleAssignmentError:
    """Build the error for an infeasible problem (``c`` in solver orientation, n <= m)."""
    found = hall_violator(np.isfinite(c))
    if found is None:  # pragma: no cover - the solver and the matching disagree
        return InfeasibleAssignmentError("cost matrix is infeasible")
    rows, cols = found
    side, other = ("columns", "rows") if transposed else ("rows", "columns")
    shown_rows = list(rows[:20]) if len(rows) <= 20 else [*rows[:20], "..."]
    shown_cols = list(cols[:20]) if len(cols) <= 20 else [*cols[:20], "..."]
    message = (
        f"cost matrix is infeasible: {side} {shown_rows} ({len(rows)} of them) can only be "
        f"assigned to {other} {shown_cols} ({len(cols)}), so no complete assignment avoids "
        f"the forbidden (inf) pairs. Make more of these pairs finite, or remove "
        f"{len(rows) - len(cols)} of those {side}."
    )
    return InfeasibleAssignmentError(
        message, rows=rows, reachable_cols=cols, axis="cols" if transposed else "rows"
    )


def _solve_minimize(
    c: NDArray[Any], *, potentials: bool = True
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Solve a validated minimisation; return rows, cols, u, v in the original orientation.

    ``c`` is float64 or float32 (``inf`` = forbidden), or int32; C-contiguous.
    With ``potentials=False`` the row potentials are not derived (empty array).
    """
    core = _core()
    n, m = c.shape
    transposed = n > m
    work = np.ascontiguousarray(c.T) if transposed else c
    k, big = work.shape
    if k:
        # One compiled call: a constant matrix, pruning (square, from PRUNE_MIN_SIZE up,
        # see tessera.assign._prune), or the dense solver.
        status, x, v = core.solve_auto(work, PRUNE_MIN_SIZE, core.CANDIDATES_PER_ROW)
        if status != core.OK:
            raise _infeasible(work, transposed)
    else:
        x, v = np.empty(0, np.int64), np.zeros(big)
    idx = np.arange(k)
    u = work[idx, x] - v[x] if k and potentials else np.zeros(0)
    if transposed:
        order = np.argsort(x)
        return x[order], idx[order], v, u
    return idx, x, u, v


def solve(cost: ArrayLike, *, maximize: bool = False) -> Assignment:
    """Solve the linear assignment problem and return the proof of optimality.

    Parameters
    ----------
    cost : array_like, shape (n_rows, n_cols)
        ``cost[i, j]`` is the cost of assigning row ``i`` to column ``j``;
        ``inf`` forbids a pair (``-inf`` when ``maximize=True``). Rectangular
        matrices assign every row of the smaller side.
    maximize : bool, default=False
        Maximise the total instead of minimising it.

    Returns
    -------
    Assignment
        Rows (sorted), columns, total cost and the dual potentials;
        ``Assignment.verify(cost)`` checks optimality independently.

    Raises
    ------
    InvalidInputError
        For non-numeric entries, a shape that is not 2-D, NaN or ``-inf``.
    InfeasibleAssignmentError
        When no complete assignment avoids the forbidden pairs; the error names
        a set of rows that together reach too few columns.

    Examples
    --------
    >>> from tessera.assign import solve
    >>> result = solve([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    >>> result.cols.tolist(), result.total_cost
    ([1, 0, 2], 5.0)
    >>> result.verify([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    True
    """
    c = as_cost_matrix(cost, maximize=maximize, compact=True)
    rows, cols, u, v = _solve_minimize(c)
    sign = -1.0 if maximize else 1.0
    total = sign * float(c[rows, cols].sum(dtype=np.float64)) if rows.size else 0.0
    return Assignment(
        rows=rows,
        cols=cols,
        total_cost=total,
        row_potentials=sign * u,
        col_potentials=sign * v,
        maximize=bool(maximize),
    )


def linear_sum_assignment(
    cost_matrix: ArrayLike, maximize: Any = False
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Solve the linear sum assignment problem; a drop-in for scipy's.

    Parameters
    ----------
    cost_matrix : array_like, shape (n_rows, n_cols)
        The cost matrix; ``inf`` forbids a pair. Rectangular in either direction.
    maximize : bool, default=False
        Calculate a maximum weight matching instead. Any value is read by its
        truth value, as scipy does (``1``, ``0``, ``np.True_``).

    Returns
    -------
    row_ind, col_ind : ndarray of int64
        Row indices (sorted) and their assigned columns; the optimal total is
        ``cost_matrix[row_ind, col_ind].sum()``.

    Raises
    ------
    ValueError
        :class:`~tessera.errors.InvalidInputError` for NaN, ``-inf``,
        non-numeric entries in a list, or input that is not 2-D, and
        :class:`~tessera.errors.InfeasibleAssignmentError` ("cost matrix is
        infeasible") when the forbidden pairs leave no complete assignment.
    TypeError
        :class:`~tessera.errors.InvalidTypeError` for complex numbers and for
        arrays whose dtype does not cast safely to float64 (strings, objects,
        ``longdouble``).

    Notes
    -----
    Same semantics as :func:`scipy.optimize.linear_sum_assignment`, including
    its input rules and error classes: a list is converted entry by entry, so
    numeric strings and ``Decimal`` values in a list are accepted, while an
    array must cast safely to float64. A matrix whose entries are all equal
    gives the identity assignment, as scipy's does. On other ties the
    answer can be a different optimal assignment than scipy's, with the same
    total.

    The solver is a Jonker-Volgenant shortest augmenting path method with
    column reduction, reduction transfer and augmenting row reduction,
    compiled with numba, in float64. Use :func:`solve` to also get the dual
    certificate.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.assign import linear_sum_assignment
    >>> cost = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    >>> row_ind, col_ind = linear_sum_assignment(cost)
    >>> col_ind.tolist(), int(cost[row_ind, col_ind].sum())
    ([1, 0, 2], 5)
    >>> linear_sum_assignment(cost_matrix=cost, maximize=1)[1].tolist()
    [0, 2, 1]
    >>> linear_sum_assignment(np.ones((3, 3)))[1].tolist()
    [0, 1, 2]
    """
    c = as_cost_matrix(cost_matrix, maximize=bool(maximize), name="cost_matrix", compact=True)
    rows, cols, _, _ = _solve_minimize(c, potentials=False)
    return rows, cols
