"""The :class:`Trace` an explainer run returns, and :func:`explain` itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tessera._validation import bad_value, check_in
from tessera.assign.explain._problem import prepare
from tessera.assign.explain._steps import GraphStep, MatrixStep

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["Trace", "explain"]

Method = Literal["matrix", "graph"]


@dataclass(frozen=True, eq=False)
class Trace:
    """What the Hungarian method did, step by step, as its solver recorded it.

    Attributes
    ----------
    method : {"matrix", "graph"}
        Which method ran.
    cost : ndarray of float64, shape (n_rows, n_cols)
        The cost matrix as given (original orientation, not padded or negated).
    maximize : bool
        Whether the total was maximised.
    steps : tuple of MatrixStep or GraphStep
        The steps in order; each has a ``kind``, a one-line ``title`` and a
        ``description`` with its numbers.
    rows, cols : ndarray of int64
        The optimal assignment, like :func:`~tessera.assign.linear_sum_assignment`:
        ``rows`` sorted, ``cols[t]`` assigned to ``rows[t]`` (pairs with a dummy
        row or column added for padding are left out).
    total_cost : float
        ``cost[rows, cols].sum()``.
    row_names, col_names : tuple of str
        Names of the rows and columns, including the ``"dummy k"`` ones added
        when a rectangular matrix was padded to a square.
    """

    method: Method
    cost: NDArray[np.float64]
    maximize: bool
    steps: tuple[MatrixStep | GraphStep, ...]
    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    total_cost: float
    row_names: tuple[str, ...]
    col_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return (
            f"Trace(method={self.method!r}, shape={self.cost.shape}, steps={len(self.steps)}, "
            f"total_cost={self.total_cost!r})"
        )

    @property
    def square(self) -> NDArray[np.float64]:
        """The cost padded with zero rows or columns to a square (what the methods run on)."""
        size = len(self.row_names)
        out = np.zeros((size, size))
        out[: self.cost.shape[0], : self.cost.shape[1]] = self.cost
        return out

    def _index(self, step_index: int) -> int:
        n = len(self.steps)
        if isinstance(step_index, bool) or not isinstance(step_index, int | np.integer):
            raise bad_value("step_index", step_index, "it must be an int", f"Pass 0..{n - 1}.")
        if not -n <= step_index < n:
            raise bad_value(
                "step_index",
                step_index,
                f"this trace has {n} steps",
                f"Pass 0..{n - 1} (or -1 for the last step).",
            )
        return int(step_index) % n

    def to_text(self) -> str:
        """Plain-text account of every step, with its matrix or labels."""
        from tessera.assign.explain._text import render_text

        return render_text(self)

    def to_rich(self) -> RenderableType:
        """A rich renderable (tables and colours) for the terminal."""
        from tessera.assign.explain._text import render_rich

        return render_rich(self)

    def __rich__(self) -> RenderableType:
        return self.to_rich()

    def to_svg(self, step_index: int = -1) -> str:
        """One self-contained SVG picture of step ``step_index`` (the last by default)."""
        from tessera.assign.explain._svg import step_svg

        return step_svg(self, self._index(step_index))

    def to_svg_stack(self) -> str:
        """Every step's picture, top to bottom, in one SVG document."""
        from tessera.assign.explain._svg import stacked_svg

        return stacked_svg(self)

    def svgs(self) -> list[str]:
        """One SVG picture per step."""
        return [self.to_svg(k) for k in range(len(self.steps))]

    def to_html(self, *, standalone: bool = True) -> str:
        """One self-contained HTML page stepping through every picture.

        Prev/Next buttons and the arrow keys move between steps; the SVGs are
        inline and the page loads nothing from outside. With
        ``standalone=False`` the result is a ``<div>`` fragment (with its own
        scoped style and script) to embed in a larger page.
        """
        from tessera.assign.explain._html import render_html

        return render_html(self, standalone=standalone)

    def to_png(self, path: str | Path, step_index: int = -1, *, dpi: int = 100) -> Path:
        """Write step ``step_index`` (the last by default) as a PNG; return the path."""
        from tessera.assign.explain._animate import write_png

        return write_png(self, Path(path), self._index(step_index), dpi=dpi)

    def to_gif(self, path: str | Path, *, fps: float = 1) -> Path:
        """Write every step as one frame of an animated GIF (looping); return the path."""
        from tessera.assign.explain._animate import write_gif

        if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= 50:
            raise bad_value("fps", fps, "it must be a number in (0, 50]", "Pass e.g. fps=1.")
        return write_gif(self, Path(path), fps=float(fps))

    def save(self, path: str | Path) -> Path:
        """Write the trace, choosing the format from the suffix.

        ``.html``: the stepping page; ``.gif``: the animation; ``.svg`` and
        ``.png``: the last step (the answer). :meth:`to_svg_stack` gives every
        step in one SVG.
        """
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".html":
            target.write_text(self.to_html(), encoding="utf-8")
            return target
        if suffix == ".svg":
            target.write_text(self.to_svg(-1), encoding="utf-8")
            return target
        if suffix == ".gif":
            return self.to_gif(target)
        if suffix == ".png":
            return self.to_png(target)
        raise bad_value(
            "path",
            target.name,
            f"its suffix {suffix or '(none)'!r} must be .html, .gif, .svg or .png",
            "Name the file e.g. trace.html.",
        )


def explain(
    cost: ArrayLike,
    method: Method = "matrix",
    *,
    maximize: bool = False,
    row_names: Sequence[str] | None = None,
    col_names: Sequence[str] | None = None,
) -> Trace:
    """Solve an assignment problem with the Hungarian method, recording every step.

    Parameters
    ----------
    cost : array_like, shape (n_rows, n_cols)
        The cost matrix; ``inf`` forbids a pair (``-inf`` when maximising).
        Validated exactly like :func:`~tessera.assign.solve`.
    method : {"matrix", "graph"}, default="matrix"
        ``"matrix"``: the Munkres matrix method (row and column reduction, the
        fewest lines covering the zeros via König's theorem, adjustment by the
        uncovered minimum). ``"graph"``: Kuhn-Munkres with vertex labels
        (equality subgraph, alternating tree, minimum slack, label revision,
        augmenting path).
    maximize : bool, default=False
        Maximise the total instead of minimising it.
    row_names, col_names : sequence of str, optional
        Names shown in the text and pictures (default ``R1..``, ``C1..``).

    Returns
    -------
    Trace
        The steps, the optimal assignment and the renderers (text, rich, SVG,
        PNG, GIF, HTML).

    Raises
    ------
    InvalidInputError
        For the solver's bad inputs (NaN, ``-inf``, strings, not 2-D), an
        empty matrix, an unknown method or wrong names.
    InfeasibleAssignmentError
        When the forbidden pairs leave no complete assignment (the message
        names rows that together reach too few columns).

    Notes
    -----
    A rectangular matrix is padded to a square with zero rows or columns (a
    ``"pad"`` step says so); pairs with a dummy are dropped from the result.
    Forbidden pairs are kept as ``inf`` in the matrices and never chosen;
    feasibility is checked first, so every step has a finite minimum. The
    steps are written by the solvers as they run; they are meant for small
    matrices (tens of rows), not for speed: use :func:`~tessera.assign.solve`
    for that.

    Examples
    --------
    >>> from tessera.assign import explain
    >>> trace = explain([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    >>> trace.cols.tolist(), trace.total_cost
    ([1, 0, 2], 5.0)
    >>> [step.kind for step in trace.steps][:3]
    ['start', 'row_reduction', 'column_reduction']
    """
    check_in("method", method, ("matrix", "graph"))
    problem = prepare(cost, maximize=maximize, row_names=row_names, col_names=col_names)
    steps: Sequence[Any]
    if method == "matrix":
        from tessera.assign.explain._matrix import run_matrix

        steps, pairs = run_matrix(problem)
    else:
        from tessera.assign.explain._graph import run_graph

        steps, pairs = run_graph(problem)
    real = [(i, j) for i, j in pairs if i < problem.n_rows and j < problem.n_cols]
    rows = np.array([i for i, _ in real], dtype=np.int64)
    cols = np.array([j for _, j in real], dtype=np.int64)
    total = float(problem.cost[rows, cols].sum()) if real else 0.0
    # Frozen means frozen: the arrays a trace holds cannot be written through.
    for array in (problem.cost, rows, cols, *(getattr(s, "matrix", None) for s in steps)):
        if array is not None:
            array.setflags(write=False)
    return Trace(
        method=method,
        cost=problem.cost,
        maximize=problem.maximize,
        steps=tuple(steps),
        rows=rows,
        cols=cols,
        total_cost=total,
        row_names=problem.row_names,
        col_names=problem.col_names,
    )
