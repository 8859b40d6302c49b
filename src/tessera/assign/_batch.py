"""Many small assignment problems at once: :func:`solve_batch` and its result."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tessera._validation import check_bool, check_in
from tessera.assign._result import Assignment
from tessera.errors import InfeasibleAssignmentError, InvalidInputError, InvalidTypeError

__all__ = ["BatchAssignment", "solve_batch"]


@dataclass(frozen=True, eq=False)
class BatchAssignment:
    """Optimal assignments of a stack of ``b`` problems of shape ``(n, m)``.

    Attributes
    ----------
    rows : ndarray of int64, shape (b, k)
        Assigned rows of each problem, sorted; ``k = min(n, m)``.
    cols : ndarray of int64, shape (b, k)
        ``cols[p, t]`` is the column assigned to ``rows[p, t]`` in problem ``p``.
    total_costs : ndarray of float64, shape (b,)
        Optimal total of each problem (in the original sign when maximising).
    row_potentials : ndarray of float64, shape (b, n)
    col_potentials : ndarray of float64, shape (b, m)
        The dual certificate of each problem, as in :class:`Assignment`.
    maximize : bool
        Whether the totals are maximised.
    feasible : ndarray of bool, shape (b,), or None
        With ``solve_batch(..., infeasible="mask")``: which problems have a
        complete assignment (the others hold ``-1`` pairs and NaN totals and
        potentials). ``None`` when every problem does.

    Notes
    -----
    ``result[p]`` is problem ``p`` as an :class:`Assignment`; iterating yields
    them in order. :meth:`verify` checks every certificate at once.
    """

    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    total_costs: NDArray[np.float64]
    row_potentials: NDArray[np.float64]
    col_potentials: NDArray[np.float64]
    maximize: bool = False
    feasible: NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return int(self.total_costs.shape[0])

    def __getitem__(self, index: int) -> Assignment:
        if self.feasible is not None and not self.feasible[index]:
            raise InfeasibleAssignmentError(
                f"problem {index} of the batch is infeasible (it was masked): no complete "
                f"assignment avoids its forbidden pairs. Call tessera.assign.solve(costs[{index}]) "
                "to see which rows cannot be assigned."
            )
        return Assignment(
            rows=self.rows[index],
            cols=self.cols[index],
            total_cost=float(self.total_costs[index]),
            row_potentials=self.row_potentials[index],
            col_potentials=self.col_potentials[index],
            maximize=self.maximize,
        )

    def __iter__(self) -> Iterator[Assignment]:
        return (self[p] for p in range(len(self)))

    def __repr__(self) -> str:
        b, k = self.rows.shape
        return f"BatchAssignment({b} problems, {k} pairs each, maximize={self.maximize})"

    def verify(self, costs: ArrayLike, *, rtol: float = 1e-9) -> bool:
        """Check every problem's optimality from its dual certificate alone.

        Parameters
        ----------
        costs : array_like, shape (b, n, m)
            The stack the assignments were computed for.
        rtol : float, default=1e-9
            Tolerance relative to each problem's largest finite ``|cost|``
            times ``n + m``.

        Returns
        -------
        bool
            True when every problem passes :meth:`Assignment.verify`.
        """
        c = np.asarray(costs, dtype=np.float64)
        if c.ndim != 3 or c.shape[0] != len(self):
            return False
        if self.feasible is not None:
            ok = self.feasible
            if (self.cols[~ok] != -1).any() or not np.isnan(self.total_costs[~ok]).all():
                return False
            solved = BatchAssignment(
                self.rows[ok],
                self.cols[ok],
                self.total_costs[ok],
                self.row_potentials[ok],
                self.col_potentials[ok],
                self.maximize,
            )
            return solved.verify(c[ok], rtol=rtol)
        b, n, m = c.shape
        k = min(n, m)
        rows, cols = self.rows, self.cols
        if rows.shape != (b, k) or cols.shape != (b, k):
            return False
        u, v = self.row_potentials, self.col_potentials
        if u.shape != (b, n) or v.shape != (b, m):
            return False
        if b == 0 or k == 0:
            return True
        if rows.min() < 0 or rows.max() >= n or cols.min() < 0 or cols.max() >= m:
            return False
        for idx in (rows, cols):
            s = np.sort(idx, axis=1)
            if (s[:, 1:] == s[:, :-1]).any():
                return False
        sign = -1.0 if self.maximize else 1.0
        cs, u, v = sign * c, sign * u, sign * v
        if not (np.isfinite(u).all() and np.isfinite(v).all()):
            return False
        problem = np.arange(b)[:, None]
        matched = cs[problem, rows, cols]
        if not np.isfinite(matched).all():
            return False
        finite = np.isfinite(cs)
        scale = np.maximum(1.0, np.where(finite, np.abs(cs), 0.0).max(axis=(1, 2)))
        tol = rtol * scale * (n + m)
        reduced = np.where(finite, cs - u[:, :, None] - v[:, None, :], np.inf)
        if (reduced.min(axis=(1, 2)) < -tol).any():
            return False
        tight = np.abs(matched - u[problem, rows] - v[problem, cols]).max(axis=1)
        if (tight > tol).any():
            return False
        if n != m:
            side, used = (v, cols) if n < m else (u, rows)
            unmatched = np.ones(side.shape, bool)
            unmatched[problem, used] = False
            if (side.max(axis=1) > tol).any():
                return False
            if (np.where(unmatched, np.abs(side), 0.0).max(axis=1) > tol).any():
                return False
        total = matched.sum(axis=1)
        if (np.abs(total - sign * self.total_costs) > tol).any():
            return False
        return bool((np.abs(u.sum(axis=1) + v.sum(axis=1) - total) <= tol).all())


def _as_cost_stack(costs: Any, maximize: bool, first: int = 0) -> NDArray[np.float64]:
    """Validate a (b, n, m) stack once; return it as C-contiguous float64 to minimise.

    ``first``: the number of the stack's first problem in a larger batch (a Dask chunk's
    offset), so that messages name problems as the caller numbers them.
    """
    check_bool("maximize", maximize)
    try:
        arr = np.asarray(costs)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"costs is invalid: it must be a stack of equal-shape matrices ({exc}). "
            "Group the problems by shape and np.stack each group, or call "
            "tessera.assign.solve on each."
        ) from None
    if arr.dtype.kind == "c":
        raise InvalidTypeError(
            f"costs has complex dtype {arr.dtype}: costs must be real numbers. "
            "Pass costs.real if the imaginary part is zero."
        )
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"costs has non-numeric entries (dtype {arr.dtype}): costs must be numbers. "
            "Convert them first, e.g. with np.asarray(costs, dtype=float); a list of "
            "matrices of different shapes is not a stack (call solve on each)."
        )
    if arr.ndim != 3:
        raise InvalidInputError(
            f"costs is invalid: expected a stack of matrices (3-D array, shape (b, n, m)), got "
            f"a {arr.ndim}-D array of shape {arr.shape}. Use tessera.assign.solve for one "
            "matrix, or np.stack a list of equal-shape matrices."
        )
    c = np.ascontiguousarray(arr, dtype=np.float64)
    if maximize:
        c = -c
    if c.size:
        low = c.min()
        if low != low or low == -np.inf:
            p, i, j = (int(t) for t in np.argwhere(np.isnan(c) | np.isneginf(c))[0])
            what = (
                "NaN"
                if np.isnan(c[p, i, j])
                else ("+inf with maximize=True" if maximize else "-inf")
            )
            p += first
            raise InvalidInputError(
                f"costs contains invalid numeric entries: costs[{p}, {i}, {j}] (problem {p}) is "
                f"{what}. Costs must be finite, or +inf to forbid a pair (-inf when maximizing)."
            )
    return c


def _infeasible(
    c: NDArray[np.float64], bad: NDArray[np.int64], transposed: bool, first: int = 0
) -> Exception:
    from tessera.assign._dense import hall_violator

    p = int(bad[0])  # numbered in the whole batch; c holds problems first, first + 1, ...
    found = hall_violator(np.isfinite(c[p - first]))
    rows, cols = found if found is not None else ((), ())
    side, other = ("columns", "rows") if transposed else ("rows", "columns")
    others = "" if bad.size == 1 else f" ({bad.size} problems are infeasible: {bad[:10].tolist()})"
    return InfeasibleAssignmentError(
        f"costs[{p}] is infeasible{others}: in problem {p}, {side} {list(rows)} can only be "
        f"assigned to {other} {list(cols)}, so no complete assignment avoids the forbidden "
        f"(inf) pairs. Make more of these pairs finite, or solve the problem without them.",
        rows=tuple(rows),
        reachable_cols=tuple(cols),
        axis="cols" if transposed else "rows",
    )


def solve_batch(
    costs: ArrayLike, *, maximize: bool = False, infeasible: str = "raise"
) -> BatchAssignment:
    """Solve a stack of independent assignment problems in parallel.

    Parameters
    ----------
    costs : array_like or dask.array.Array, shape (b, n, m)
        ``costs[p]`` is the cost matrix of problem ``p``; ``inf`` forbids a
        pair (``-inf`` when ``maximize=True``). Every problem has the same
        shape; rectangular either way. A Dask array is solved chunk by chunk
        (along its first axis) on the active Dask scheduler, with the same
        answers (needs the ``dask`` extra); for problems of different shapes
        see :func:`solve_bag`.
    maximize : bool, default=False
        Maximise each total instead of minimising it.
    infeasible : {"raise", "mask"}, default="raise"
        What an infeasible problem does: raise for the whole batch, or be
        marked in ``result.feasible`` (tracking: one impossible frame should
        not stop the others).

    Returns
    -------
    BatchAssignment
        Per problem: sorted rows, columns, total and dual potentials;
        ``result[p]`` is an :class:`Assignment`.

    Raises
    ------
    InvalidInputError
        For non-numeric entries, a shape that is not 3-D, NaN or ``-inf``; the
        message names the problem and the entry.
    InfeasibleAssignmentError
        With ``infeasible="raise"``, when any problem has no complete
        assignment; the message names the first such problem (and how many
        there are) and a Hall violator in it.

    Notes
    -----
    The stack is validated once, then each problem runs the same
    Jonker-Volgenant solver as :func:`solve`, in parallel threads over the
    batch (numba ``prange``, without the GIL). Problems of different shapes
    are not accepted: group them by shape and stack each group, or call
    :func:`solve` on each.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.assign import solve_batch
    >>> costs = np.array([[[4, 1], [2, 0]], [[1, 5], [3, 1]]])
    >>> result = solve_batch(costs)
    >>> result.cols.tolist(), result.total_costs.tolist()
    ([[1, 0], [0, 1]], [3.0, 2.0])
    >>> result.verify(costs)
    True
    """
    if hasattr(costs, "__dask_graph__"):  # a Dask array: solved chunk by chunk on its workers
        from tessera.assign._dask import solve_dask_array

        return solve_dask_array(costs, maximize=maximize, infeasible=infeasible)
    check_in("infeasible", infeasible, ("raise", "mask"))
    c = _as_cost_stack(costs, maximize)
    b, n, m = c.shape
    transposed = n > m
    work = np.ascontiguousarray(c.transpose(0, 2, 1)) if transposed else c
    k, big = work.shape[1], work.shape[2]
    x = np.zeros((b, k), np.int64)
    v = np.zeros((b, big), np.float64)
    u = np.zeros((b, k), np.float64)
    total = np.zeros(b, np.float64)
    bad = np.zeros(0, np.int64)
    if b and k:
        from tessera.assign._batch_core import assigned_costs
        from tessera.assign._jv import OK, solve_dense_batch

        status = np.zeros(b, np.int64)
        solve_dense_batch(work, x, v, status)
        bad = np.flatnonzero(status != OK)
        if bad.size and infeasible == "raise":
            raise _infeasible(work, bad, transposed)
        x[bad] = 0  # a partial assignment: read nothing from it
        assigned_costs(work, x, v, u, total)
    if transposed:
        order = np.argsort(x, axis=1)
        rows, cols = np.take_along_axis(x, order, axis=1), order
        u, v = v, u
    else:
        rows, cols = np.tile(np.arange(k, dtype=np.int64), (b, 1)), x
    if maximize:
        total, u, v = -total, -u, -v
    feasible = None
    if infeasible == "mask":
        feasible = np.ones(b, bool)
        feasible[bad] = False
        rows[bad] = cols[bad] = -1
        total[bad] = u[bad] = v[bad] = np.nan
    return BatchAssignment(
        rows=rows,
        cols=cols,
        total_costs=total,
        row_potentials=u,
        col_potentials=v,
        maximize=bool(maximize),
        feasible=feasible,
    )
