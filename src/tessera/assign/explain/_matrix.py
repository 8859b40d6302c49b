"""The matrix (Munkres) method, recording each step as it runs.

Reduce rows and columns; cover every zero with the fewest lines; while fewer
than ``n`` lines are needed, move the smallest uncovered entry; then read the
assignment off ``n`` independent zeros. The fewest lines come from König's
theorem: grow a maximum matching on the zeros (kept from one round to the
next, like Munkres' starred zeros) and cover with the rows *not* reached and
the columns reached by alternating paths from the unmatched rows.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from tessera.assign.explain._problem import Problem
from tessera.assign.explain._steps import MatrixStep, fmt

__all__ = ["konig_cover", "max_matching", "run_matrix"]


def max_matching(zeros: NDArray[np.bool_], match_col: list[int]) -> list[int]:
    """Grow ``match_col`` (column -> row or -1) to a maximum matching on ``zeros``.

    Kuhn's augmenting paths, rows in order; returns row -> column (or -1).
    """
    n_rows, n_cols = zeros.shape
    match_row = [-1] * n_rows
    for j, i in enumerate(match_col):
        if i >= 0:
            match_row[i] = j

    def augment(i: int, seen: set[int]) -> bool:
        for j in np.flatnonzero(zeros[i]).tolist():
            if j in seen:
                continue
            seen.add(j)
            if match_col[j] < 0 or augment(match_col[j], seen):
                match_col[j] = i
                match_row[i] = j
                return True
        return False

    for i in range(n_rows):
        if match_row[i] < 0:
            augment(i, set())
    return match_row


def konig_cover(
    zeros: NDArray[np.bool_], match_row: list[int], match_col: list[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The fewest rows and columns covering every zero, from a maximum matching.

    Rows reached by alternating paths from unmatched rows are left uncovered,
    the columns they reach are covered; unreached rows are covered. Each line
    holds exactly one matched zero, so there are as many lines as matched
    zeros, and no fewer lines can cover those independent zeros.
    """
    reached_rows = {i for i, j in enumerate(match_row) if j < 0}
    reached_cols: set[int] = set()
    frontier = sorted(reached_rows)
    while frontier:
        nxt = []
        for i in frontier:
            for j in np.flatnonzero(zeros[i]).tolist():
                if j not in reached_cols:
                    reached_cols.add(j)
                    mate = match_col[j]
                    if mate >= 0 and mate not in reached_rows:
                        reached_rows.add(mate)
                        nxt.append(mate)
        frontier = nxt
    rows = tuple(i for i in range(zeros.shape[0]) if i not in reached_rows)
    return rows, tuple(sorted(reached_cols))


def _named(names: tuple[str, ...], values: NDArray[np.float64]) -> str:
    return ", ".join(f"{name}: {fmt(float(v))}" for name, v in zip(names, values, strict=False))


def _lines(problem: Problem, rows: tuple[int, ...], cols: tuple[int, ...]) -> str:
    parts = []
    if rows:
        parts.append("rows " + ", ".join(problem.row_names[i] for i in rows))
    if cols:
        parts.append("columns " + ", ".join(problem.col_names[j] for j in cols))
    return " and ".join(parts) or "none"


def run_matrix(problem: Problem) -> tuple[list[MatrixStep], list[tuple[int, int]]]:
    """Run the matrix method; return its steps and the assignment (padded indices)."""
    steps: list[MatrixStep] = []
    goal = "largest" if problem.maximize else "smallest"
    steps.append(
        MatrixStep(
            "start",
            "The cost matrix",
            f"Pick one entry in every row and every column so that the total is the {goal}.",
            problem.cost.copy(),
        )
    )
    work = problem.cost.copy()
    if problem.maximize:
        top = float(work[np.isfinite(work)].max())
        work = top - work
        steps.append(
            MatrixStep(
                "maximize",
                "Turn the maximisation into a minimisation",
                f"Replace every entry c by {fmt(top)} - c (the largest entry minus c): "
                "the cheapest assignment of the new matrix is the dearest of the old.",
                work.copy(),
            )
        )
    n_rows, n_cols = work.shape
    n = problem.size
    if n_rows != n_cols:
        padded = np.zeros((n, n))
        padded[:n_rows, :n_cols] = work
        work = padded
        what = f"{n - n_rows} zero row(s)" if n_rows < n else f"{n - n_cols} zero column(s)"
        steps.append(
            MatrixStep(
                "pad",
                "Pad to a square",
                f"Add {what}: whatever a dummy is assigned costs 0, so the optimum is unchanged.",
                work.copy(),
            )
        )

    row_min = work.min(axis=1)
    work = work - row_min[:, None]
    steps.append(
        MatrixStep(
            "row_reduction",
            "Row reduction",
            f"Subtract each row's minimum ({_named(problem.row_names, row_min)}): "
            "every row now has a zero, and every assignment got cheaper by the same amount.",
            work.copy(),
            reductions=tuple(float(r) for r in row_min),
            taken_off=float(row_min.sum()),
        )
    )
    col_min = work.min(axis=0)
    work = work - col_min[None, :]
    steps.append(
        MatrixStep(
            "column_reduction",
            "Column reduction",
            f"Subtract each column's minimum ({_named(problem.col_names, col_min)}): "
            "every column now has a zero too.",
            work.copy(),
            reductions=tuple(float(r) for r in col_min),
            taken_off=float(row_min.sum() + col_min.sum()),
        )
    )

    match_col = [-1] * n
    # Each adjustment reaches one more row or grows the matching: n * n rounds at most.
    for _ in range(n * n + 1):
        zeros = work == 0
        match_row = max_matching(zeros, match_col)
        matching = tuple((i, j) for i, j in enumerate(match_row) if j >= 0)
        rows, cols = konig_cover(zeros, match_row, match_col)
        lines = len(rows) + len(cols)
        cover = (
            f"{lines} line(s) cover every zero: {_lines(problem, rows, cols)}. A maximum "
            f"matching on the zeros has {len(matching)} independent zeros, so by König's "
            "theorem no fewer lines can do."
        )
        if lines == n:
            steps.append(
                MatrixStep(
                    "cover",
                    f"Cover the zeros: {lines} lines = n",
                    cover + f" {lines} = n: an optimal assignment hides among the zeros.",
                    work.copy(),
                    covered_rows=rows,
                    covered_cols=cols,
                    matching=matching,
                    taken_off=steps[-1].taken_off,
                )
            )
            steps.append(_assign_step(problem, steps[-1]))
            return steps, sorted(matching)
        uncovered = np.ones((n, n), bool)
        uncovered[list(rows), :] = False
        uncovered[:, list(cols)] = False
        masked = np.where(uncovered, work, np.inf)
        at = np.unravel_index(int(np.argmin(masked)), masked.shape)
        where = (int(at[0]), int(at[1]))
        low = float(masked[where])
        steps.append(
            MatrixStep(
                "cover",
                f"Cover the zeros: {lines} lines < {n}",
                cover + f" {lines} < {n}, so adjust; the smallest uncovered entry is "
                f"{fmt(low)} ({problem.row_names[where[0]]}, {problem.col_names[where[1]]}).",
                work.copy(),
                covered_rows=rows,
                covered_cols=cols,
                matching=matching,
                minimum=low,
                minimum_at=where,
                taken_off=steps[-1].taken_off,
            )
        )
        twice = np.zeros((n, n), bool)
        twice[np.ix_(list(rows), list(cols))] = True
        work = np.where(uncovered, work - low, np.where(twice, work + low, work))
        steps.append(
            replace(
                steps[-1],
                kind="adjust",
                title=f"Adjust by the uncovered minimum {fmt(low)}",
                description=f"Subtract {fmt(low)} from every uncovered entry and add it where "
                f"two lines cross ({int(twice.sum())} entries); covered-once entries stay. A "
                f"new zero appears at ({problem.row_names[where[0]]}, "
                f"{problem.col_names[where[1]]}).",
                matrix=work.copy(),
                # Net effect: minus low on n - len(rows) rows, plus low on len(cols) columns.
                taken_off=steps[-1].taken_off + low * (n - lines),
            )
        )
    raise RuntimeError("matrix method did not finish")  # pragma: no cover - see the bound above


def _assign_step(problem: Problem, last: MatrixStep) -> MatrixStep:
    """The final step: the assignment read off the independent zeros."""
    total = float(sum(problem.square[i, j] for i, j in last.matching))
    pairs = ", ".join(
        f"{problem.row_names[i]} → {problem.col_names[j]}" for i, j in sorted(last.matching)
    )
    return MatrixStep(
        "assign",
        "Read the assignment off the zeros",
        f"{pairs}. In the original matrix these entries add up to {fmt(total)}.",
        last.matrix,
        matching=tuple(sorted(last.matching)),
        taken_off=last.taken_off,
    )
