"""The typed steps a trace is made of, and how their numbers are written."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["GraphKind", "GraphStep", "MatrixKind", "MatrixStep", "fmt"]

MatrixKind = Literal[
    "start", "maximize", "pad", "row_reduction", "column_reduction", "cover", "adjust", "assign"
]
GraphKind = Literal["labels", "matching", "tree", "slack", "revise", "augment", "final"]

Edge = tuple[int, int]


@dataclass(frozen=True, eq=False)
class MatrixStep:
    """One step of the matrix (Munkres) method.

    Attributes
    ----------
    kind : str
        ``"start"`` (the cost matrix), ``"maximize"`` (``max - cost``),
        ``"pad"`` (zero rows or columns added), ``"row_reduction"``,
        ``"column_reduction"``, ``"cover"`` (the fewest lines covering every
        zero), ``"adjust"`` (the uncovered minimum moved) or ``"assign"``.
    title : str
        One line naming the step.
    description : str
        One or two sentences with the step's numbers.
    matrix : ndarray of float64, shape (n, n)
        The working matrix after the step (``inf`` marks a forbidden pair).
    covered_rows, covered_cols : tuple of int
        The covering lines (``"cover"``), or the lines the adjustment used
        (``"adjust"``).
    matching : tuple of (row, col)
        Independent zeros: a maximum matching on the zeros (``"cover"``,
        ``"adjust"``), the assignment (``"assign"``).
    minimum : float or None
        The smallest uncovered entry (``"cover"`` with too few lines, ``"adjust"``).
    minimum_at : (row, col) or None
        Where that minimum sits (first in row-major order).
    reductions : tuple of float
        What was subtracted from each row (``"row_reduction"``) or column
        (``"column_reduction"``).
    taken_off : float
        How much cheaper every complete assignment is in ``matrix`` than in
        the working matrix (after any ``"maximize"`` and ``"pad"`` steps): the
        sum of the reductions and adjustments so far. Since ``matrix`` is
        never negative, no assignment of the working matrix costs less.
    """

    kind: MatrixKind
    title: str
    description: str
    matrix: NDArray[np.float64]
    covered_rows: tuple[int, ...] = ()
    covered_cols: tuple[int, ...] = ()
    matching: tuple[Edge, ...] = ()
    minimum: float | None = None
    minimum_at: Edge | None = None
    reductions: tuple[float, ...] = ()
    taken_off: float = 0.0

    @property
    def n_lines(self) -> int:
        """Number of covering lines."""
        return len(self.covered_rows) + len(self.covered_cols)


@dataclass(frozen=True, eq=False)
class GraphStep:
    """One step of the graph method (Kuhn-Munkres with vertex labels).

    Labels follow the problem's direction: when minimising they satisfy
    ``row_label + col_label <= cost`` on every edge, when maximising
    ``row_label + col_label >= cost``. The slack of an edge is the gap,
    ``|cost - row_label - col_label|``, never negative; an edge with zero
    slack is an equality edge.

    Attributes
    ----------
    kind : str
        ``"labels"`` (initial feasible labels; a padded matrix is noted here),
        ``"matching"`` (a first matching in the equality subgraph), ``"tree"``
        (the alternating tree grows), ``"slack"`` (no equality edge leaves the
        tree: the slack of each candidate edge and their minimum), ``"revise"``
        (labels revised by that minimum), ``"augment"`` (an augmenting path
        flips) or ``"final"``.
    title, description : str
        One line naming the step; one or two sentences with its numbers.
    row_labels, col_labels : tuple of float
        The vertex labels after the step.
    equality_edges : tuple of (row, col)
        Edges with zero slack under those labels.
    matching : tuple of (row, col)
        The current matching (before the flip, for ``"augment"``).
    tree_rows, tree_cols : tuple of int
        The alternating tree's rows ``S`` and columns ``T``.
    tree_edges : tuple of (row, col)
        The tree's edges (equality edges into ``T`` and matched edges back).
    slacks : tuple of (row, col, slack)
        Every candidate edge from ``S`` to a column outside ``T``
        (``"slack"`` only).
    min_slack : float or None
        The smallest candidate slack (``"slack"``, ``"revise"``).
    min_slack_edge : (row, col) or None
        An edge attaining it.
    path : tuple of (row, col)
        The augmenting path from the tree's root to a free column, in order
        (``"augment"``).
    """

    kind: GraphKind
    title: str
    description: str
    row_labels: tuple[float, ...]
    col_labels: tuple[float, ...]
    equality_edges: tuple[Edge, ...]
    matching: tuple[Edge, ...]
    tree_rows: tuple[int, ...] = ()
    tree_cols: tuple[int, ...] = ()
    tree_edges: tuple[Edge, ...] = ()
    slacks: tuple[tuple[int, int, float], ...] = ()
    min_slack: float | None = None
    min_slack_edge: Edge | None = None
    path: tuple[Edge, ...] = ()


def fmt(value: float) -> str:
    """Write a cost or label compactly: ``12``, ``-3``, ``0.25``, ``∞``."""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"
