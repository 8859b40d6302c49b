"""The :class:`Assignment` result and its optimality certificate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Assignment"]


@dataclass(frozen=True, eq=False)
class Assignment:
    """An optimal assignment with the dual certificate that proves it.

    Attributes
    ----------
    rows : ndarray of int64, shape (k,)
        Assigned rows, sorted ascending; ``k = min(n_rows, n_cols)``.
    cols : ndarray of int64, shape (k,)
        ``cols[t]`` is the column assigned to ``rows[t]``.
    total_cost : float
        ``cost[rows, cols].sum()`` in the original cost (not negated when
        ``maximize=True``).
    row_potentials : ndarray of float64, shape (n_rows,)
        Dual variables ``u`` of the rows.
    col_potentials : ndarray of float64, shape (n_cols,)
        Dual variables ``v`` of the columns.
    maximize : bool
        Whether the assignment maximises the total.

    Notes
    -----
    For a minimisation the potentials satisfy ``u[i] + v[j] <= cost[i, j]`` for
    every pair, with equality on assigned pairs; on a rectangular problem the
    potentials of the larger side are ``<= 0`` and zero where unassigned.
    Then ``sum(u) + sum(v) == total_cost`` and, by weak duality, no assignment
    costs less. For a maximisation every inequality flips. :meth:`verify`
    checks exactly this, so the answer can be trusted without trusting the
    solver.
    """

    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    total_cost: float
    row_potentials: NDArray[np.float64]
    col_potentials: NDArray[np.float64]
    maximize: bool = False

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Unpack as ``rows, cols`` like :func:`linear_sum_assignment`."""
        return iter((self.rows, self.cols))

    def __repr__(self) -> str:
        pairs = ", ".join(f"{r}->{c}" for r, c in zip(self.rows[:6], self.cols[:6], strict=True))
        more = ", ..." if len(self.rows) > 6 else ""
        return f"Assignment(total_cost={self.total_cost!r}, pairs=[{pairs}{more}])"

    def dual_objective(self) -> float:
        """``sum(row_potentials) + sum(col_potentials)``: equals the optimum."""
        return float(self.row_potentials.sum() + self.col_potentials.sum())

    def verify(self, cost: ArrayLike, *, rtol: float = 1e-9) -> bool:
        """Check optimality from the dual certificate alone.

        Parameters
        ----------
        cost : array_like, shape (n_rows, n_cols)
            The matrix the assignment was computed for.
        rtol : float, default=1e-9
            Tolerance relative to the largest finite ``|cost|`` (times the
            problem size, for rounding that accumulates along paths).

        Returns
        -------
        bool
            True when the assignment is a complete matching of the smaller
            side, avoids forbidden pairs, and the potentials are feasible with
            zero reduced cost on every assigned pair and a dual objective equal
            to the total cost.
        """
        c = np.asarray(cost, dtype=np.float64)
        if c.ndim != 2:
            return False
        n, m = c.shape
        rows, cols = self.rows, self.cols
        k = min(n, m)
        if rows.shape != (k,) or cols.shape != (k,):
            return False
        if self.row_potentials.shape != (n,) or self.col_potentials.shape != (m,):
            return False
        if k == 0:
            return True
        if rows.min() < 0 or rows.max() >= n or cols.min() < 0 or cols.max() >= m:
            return False
        if len(np.unique(rows)) != k or len(np.unique(cols)) != k:
            return False
        sign = -1.0 if self.maximize else 1.0
        cs = sign * c
        u = sign * self.row_potentials
        v = sign * self.col_potentials
        if not (np.isfinite(u).all() and np.isfinite(v).all()):
            return False
        matched = cs[rows, cols]
        if not np.isfinite(matched).all():
            return False
        finite = np.isfinite(cs)
        scale = max(1.0, float(np.abs(cs[finite]).max(initial=0.0)))
        tol = rtol * scale * (n + m)
        reduced = np.where(finite, cs - u[:, None] - v[None, :], np.inf)
        if reduced.min() < -tol:
            return False
        if np.abs(reduced[rows, cols]).max() > tol:
            return False
        # Rectangular: the larger side's potentials are <= 0, zero where unmatched.
        if n != m:
            side = v if n < m else u
            used = cols if n < m else rows
            unmatched = np.ones(side.shape[0], bool)
            unmatched[used] = False
            if side.max() > tol or np.abs(side[unmatched]).max(initial=0.0) > tol:
                return False
        total = float(matched.sum())
        if abs(total - sign * self.total_cost) > tol:
            return False
        return bool(abs(float(u.sum() + v.sum()) - total) <= tol)
