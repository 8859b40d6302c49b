"""The graph method (Kuhn-Munkres with vertex labels), recording each step as it runs.

Rows and columns are the two sides of a complete bipartite graph. Feasible
labels bound every edge's cost; the equality subgraph holds the edges where
the bound is tight. From each unmatched row an alternating tree grows along
equality edges; when none leaves it, the smallest slack ``delta`` of the
edges from the tree's rows ``S`` to columns outside its columns ``T`` revises
the labels (rows in ``S`` gain ``delta``, columns in ``T`` lose it), which
keeps them feasible and brings a new edge into the equality subgraph. A free
column reached by the tree ends an augmenting path; flipping it grows the
matching. Internally the engine minimises; when maximising, labels are shown
negated so that they bound the profits from above.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tessera.assign.explain._problem import Problem
from tessera.assign.explain._steps import GraphKind, GraphStep, fmt

__all__ = ["run_graph"]

Edge = tuple[int, int]


class _Recorder:
    """Holds the engine's state and writes it into steps in the user's convention."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.cost = problem.minimize_form()
        n = problem.size
        finite = self.cost[np.isfinite(self.cost)]
        self.tol = 1e-9 * max(1.0, float(np.abs(finite).max(initial=0.0))) * n
        self.sign = -1.0 if problem.maximize else 1.0
        self.u = self.cost.min(axis=1)
        self.v = np.zeros(n)
        self.match_row = [-1] * n
        self.match_col = [-1] * n
        # The alternating tree being grown: its rows S, columns T and edges.
        self.tree_rows: list[int] = []
        self.tree_cols: list[int] = []
        self.tree_edges: list[Edge] = []
        self.steps: list[GraphStep] = []

    def slack(self) -> NDArray[np.float64]:
        gap: NDArray[np.float64] = self.cost - self.u[:, None] - self.v[None, :]
        return gap

    def equality(self) -> tuple[Edge, ...]:
        tight = self.slack() <= self.tol
        return tuple((int(i), int(j)) for i, j in zip(*np.nonzero(tight), strict=True))

    def matching(self) -> tuple[Edge, ...]:
        return tuple((i, j) for i, j in enumerate(self.match_row) if j >= 0)

    def row(self, i: int) -> str:
        return self.problem.row_names[i]

    def col(self, j: int) -> str:
        return self.problem.col_names[j]

    def edge(self, i: int, j: int) -> str:
        return f"{self.row(i)}–{self.col(j)}"

    def record(self, kind: GraphKind, title: str, description: str, **extra: object) -> None:
        self.steps.append(
            GraphStep(
                kind,
                title,
                description,
                row_labels=tuple(float(self.sign * x) + 0.0 for x in self.u),
                col_labels=tuple(float(self.sign * x) + 0.0 for x in self.v),
                equality_edges=self.equality(),
                matching=self.matching(),
                tree_rows=tuple(self.tree_rows),
                tree_cols=tuple(self.tree_cols),
                tree_edges=tuple(self.tree_edges),
                **extra,  # type: ignore[arg-type]
            )
        )


def run_graph(problem: Problem) -> tuple[list[GraphStep], list[Edge]]:
    """Run the graph method; return its steps and the assignment (padded indices)."""
    rec = _Recorder(problem)
    n = problem.size
    maximize = problem.maximize
    rel, best = (">=", "largest") if maximize else ("<=", "smallest")
    row_labels = ", ".join(f"{rec.row(i)}: {fmt(rec.sign * rec.u[i])}" for i in range(n))
    rec.record(
        "labels",
        "Initial feasible labels",
        f"Each row gets the {best} cost in it ({row_labels}); each column gets 0. Then "
        f"label(row) + label(column) {rel} cost on every edge. The equality subgraph holds "
        "the edges where it is an equality." + _padding(problem),
    )

    for i, j in rec.equality():
        if rec.match_row[i] < 0 and rec.match_col[j] < 0:
            rec.match_row[i], rec.match_col[j] = j, i
    k = len(rec.matching())
    pairs = ", ".join(rec.edge(i, j) for i, j in rec.matching())
    rec.record(
        "matching",
        f"A first matching in the equality subgraph: {k} of {n}",
        f"Rows in turn take the first free column joined by an equality edge: {pairs}.",
    )

    for root in range(n):
        if rec.match_row[root] >= 0:
            continue
        rec.tree_rows, rec.tree_cols, rec.tree_edges = [root], [], []
        tree_rows, tree_cols, tree_edges = rec.tree_rows, rec.tree_cols, rec.tree_edges
        parent: dict[int, int] = {}
        rec.record(
            "tree",
            f"{rec.row(root)} is unmatched: grow an alternating tree",
            f"The tree starts at {rec.row(root)}: S = {{{rec.row(root)}}}, T = {{}}. It grows "
            "along equality edges out of S and matched edges back into S.",
        )
        while True:
            outside = [j for j in range(n) if j not in tree_cols]
            slack = rec.slack()
            candidates = [(i, j, float(slack[i, j])) for i in tree_rows for j in outside]
            tight = [(i, j) for i, j, s in candidates if s <= rec.tol]
            if not tight:
                i, j, delta = min(candidates, key=lambda t: (t[2], t[1], t[0]))
                listed = ", ".join(f"{rec.edge(a, b)}: {fmt(s)}" for a, b, s in candidates)
                rec.record(
                    "slack",
                    f"No equality edge leaves the tree: minimum slack {fmt(delta)}",
                    f"Slack of each edge from S to a column outside T: {listed}. "
                    f"The smallest is δ = {fmt(delta)} on {rec.edge(i, j)}.",
                    slacks=tuple(candidates),
                    min_slack=delta,
                    min_slack_edge=(i, j),
                )
                rec.u[tree_rows] += delta
                rec.v[tree_cols] -= delta
                gain, lose = ("lose", "gain") if maximize else ("gain", "lose")
                in_t = ", ".join(rec.col(c) for c in tree_cols) or "none"
                rec.record(
                    "revise",
                    f"Revise the labels by δ = {fmt(delta)}",
                    f"Rows in S ({', '.join(rec.row(r) for r in tree_rows)}) {gain} "
                    f"{fmt(delta)}, columns in T ({in_t}) {lose} it: tree edges stay tight, "
                    f"every label stays feasible, and {rec.edge(i, j)} joins the equality "
                    "subgraph.",
                    min_slack=delta,
                    min_slack_edge=(i, j),
                )
                continue
            i, j = min(tight, key=lambda e: (e[1], tree_rows.index(e[0])))
            parent[j] = i
            tree_cols.append(j)
            tree_edges.append((i, j))
            mate = rec.match_col[j]
            if mate < 0:
                path = _path(parent, rec.match_row, root, j)
                shown = _show_path(rec, path)
                rec.record(
                    "augment",
                    f"{rec.col(j)} is free: augment",
                    f"The path {shown} alternates unmatched and matched edges from "
                    f"{rec.row(root)} to "
                    f"the free column {rec.col(j)}. Flipping it matches every vertex on it: "
                    f"the matching grows to {len(rec.matching()) + 1} of {n}.",
                    path=tuple(path),
                )
                for a, b in path[::2]:
                    rec.match_row[a], rec.match_col[b] = b, a
                break
            tree_rows.append(mate)
            tree_edges.append((mate, j))
            rec.record(
                "tree",
                f"The tree grows: {rec.edge(i, j)} and {rec.edge(mate, j)}",
                f"Equality edge {rec.edge(i, j)} leaves the tree; {rec.col(j)} is matched to "
                f"{rec.row(mate)}, so {rec.col(j)} joins T and {rec.row(mate)} joins S.",
            )
    rec.tree_rows, rec.tree_cols, rec.tree_edges = [], [], []
    matching = sorted(rec.matching())
    total = float(sum(problem.square[i, j] for i, j in matching))
    labels = float(np.sum(rec.u) + np.sum(rec.v)) * rec.sign
    rel, bound = (">=", "at most") if maximize else ("<=", "at least")
    rec.record(
        "final",
        f"Perfect matching of total {fmt(total)}, proved optimal by the labels",
        f"Every matched edge is tight and label(row) + label(column) {rel} cost on every "
        f"edge, so any assignment totals {bound} the sum of the labels, {fmt(labels)}, "
        "which this matching attains.",
    )
    return rec.steps, matching


def _padding(problem: Problem) -> str:
    extra_rows = problem.size - problem.n_rows
    extra_cols = problem.size - problem.n_cols
    if not (extra_rows or extra_cols):
        return ""
    what = f"{extra_rows} zero row(s)" if extra_rows else f"{extra_cols} zero column(s)"
    return f" The matrix was padded to a square with {what}: a dummy costs 0 wherever it goes."


def _path(parent: dict[int, int], match_row: list[int], root: int, free_col: int) -> list[Edge]:
    """Edges of the augmenting path from ``root`` to ``free_col``, in order."""
    edges: list[Edge] = []
    col = free_col
    while True:
        row = parent[col]
        edges.append((row, col))
        if row == root:
            break
        col = match_row[row]
        edges.append((row, col))
    return edges[::-1]


def _show_path(rec: _Recorder, path: list[Edge]) -> str:
    names = [rec.row(path[0][0])]
    for t, (i, j) in enumerate(path):
        names.append(rec.col(j) if t % 2 == 0 else rec.row(i))
    return " – ".join(names)
