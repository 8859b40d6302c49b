"""Trace renderers for the terminal: plain text and rich."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.assign.explain._steps import GraphStep, MatrixStep, fmt

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tessera.assign.explain._trace import Trace

__all__ = ["render_rich", "render_text"]


def _heading(trace: Trace) -> list[str]:
    goal = "maximise" if trace.maximize else "minimise"
    n, m = trace.cost.shape
    pairs = ", ".join(
        f"{trace.row_names[i]} → {trace.col_names[j]}"
        for i, j in zip(trace.rows.tolist(), trace.cols.tolist(), strict=True)
    )
    return [
        f"Hungarian method ({trace.method} method), {goal}, {n} x {m} cost matrix, "
        f"{len(trace.steps)} steps",
        f"Result: {pairs}; total {fmt(trace.total_cost)}",
    ]


def _cell(step: MatrixStep, i: int, j: int) -> str:
    text = fmt(float(step.matrix[i, j]))
    if (i, j) in step.matching:
        return text + "*"
    if step.minimum_at == (i, j):
        return f"[{text}]"
    return text


def _matrix_lines(step: MatrixStep, rows: tuple[str, ...], cols: tuple[str, ...]) -> list[str]:
    n_rows, n_cols = step.matrix.shape
    name_w = max(len(r) for r in rows[:n_rows])
    cells = [[_cell(step, i, j) for j in range(n_cols)] for i in range(n_rows)]
    width = max(max(len(c) for c in cols[:n_cols]), *(len(x) for row in cells for x in row)) + 2
    out = [" " * (name_w + 2) + "".join(c.rjust(width) for c in cols[:n_cols])]
    if step.covered_cols:
        marks = ["|" if j in step.covered_cols else "" for j in range(n_cols)]
        out.append(" " * (name_w + 2) + "".join(m.rjust(width) for m in marks) + "   <- lines")
    for i in range(n_rows):
        line = "  " + rows[i].ljust(name_w) + "".join(c.rjust(width) for c in cells[i])
        if i in step.covered_rows:
            line += "   <- line"
        if step.kind in ("row_reduction",) and step.reductions:
            line += f"   (-{fmt(step.reductions[i])})"
        out.append(line)
    if step.kind == "column_reduction" and step.reductions:
        reds = [f"-{fmt(r)}" for r in step.reductions]
        out.append(" " * (name_w + 2) + "".join(r.rjust(width) for r in reds))
    return out


def _edges(edges: tuple[tuple[int, int], ...], rows: tuple[str, ...], cols: tuple[str, ...]) -> str:
    return ", ".join(f"{rows[i]}–{cols[j]}" for i, j in edges) or "none"


def _graph_lines(step: GraphStep, rows: tuple[str, ...], cols: tuple[str, ...]) -> list[str]:
    out = [
        "  row labels:    "
        + ", ".join(f"{r} {fmt(x)}" for r, x in zip(rows, step.row_labels, strict=True)),
        "  column labels: "
        + ", ".join(f"{c} {fmt(x)}" for c, x in zip(cols, step.col_labels, strict=True)),
        f"  equality edges: {_edges(step.equality_edges, rows, cols)}",
        f"  matching: {_edges(step.matching, rows, cols)}",
    ]
    if step.tree_rows:
        s = ", ".join(rows[i] for i in step.tree_rows)
        t = ", ".join(cols[j] for j in step.tree_cols)
        out.append(f"  tree: S = {{{s}}}, T = {{{t}}}")
    if step.slacks:
        out.append(
            "  slacks: " + ", ".join(f"{rows[i]}–{cols[j]} {fmt(s)}" for i, j, s in step.slacks)
        )
    if step.min_slack is not None:
        out.append(f"  minimum slack: {fmt(step.min_slack)}")
    if step.path:
        out.append(f"  augmenting path: {_edges(step.path, rows, cols)}")
    return out


def render_text(trace: Trace) -> str:
    """Every step as plain text: title, description, and the matrix or the labels."""
    lines = _heading(trace)
    if trace.method == "matrix":
        lines.append(
            "Marks: x* independent zero (matching), [x] smallest uncovered entry, "
            "| and <- covering lines."
        )
    for k, step in enumerate(trace.steps):
        lines += ["", f"Step {k + 1} [{step.kind}] {step.title}", f"  {step.description}"]
        if isinstance(step, MatrixStep):
            lines += _matrix_lines(step, trace.row_names, trace.col_names)
        else:
            lines += _graph_lines(step, trace.row_names, trace.col_names)
    return "\n".join(lines) + "\n"


def _rich_matrix(step: MatrixStep, rows: tuple[str, ...], cols: tuple[str, ...]) -> RenderableType:
    from rich.table import Table
    from rich.text import Text

    n_rows, n_cols = step.matrix.shape
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("")
    for j in range(n_cols):
        covered = j in step.covered_cols
        table.add_column(cols[j] + (" |" if covered else ""), justify="right")
    for i in range(n_rows):
        cells: list[Text | str] = [
            Text(rows[i] + (" —" if i in step.covered_rows else ""), style="bold")
        ]
        for j in range(n_cols):
            value = float(step.matrix[i, j])
            style = ""
            if i in step.covered_rows or j in step.covered_cols:
                style = "on dark_blue"
            if value == 0 and step.kind not in ("start", "maximize", "pad"):
                style += " bold yellow"
            if (i, j) in step.matching:
                style = "bold black on green"
            if step.minimum_at == (i, j):
                style = "bold black on dark_orange"
            cells.append(Text(_cell(step, i, j), style=style.strip()))
        table.add_row(*cells)
    return table


def _rich_graph(step: GraphStep, rows: tuple[str, ...], cols: tuple[str, ...]) -> RenderableType:
    from rich.text import Text

    text = Text()
    for line in _graph_lines(step, rows, cols):
        key, _, rest = line.strip().partition(":")
        style = {
            "matching": "green",
            "augmenting path": "red",
            "minimum slack": "dark_orange",
            "equality edges": "blue",
            "tree": "magenta",
        }.get(key, "")
        text.append(f"{key}:", style="bold")
        text.append(f"{rest}\n", style=style)
    text.rstrip()
    return text


def render_rich(trace: Trace) -> RenderableType:
    """A rich group: the heading, then one panel per step."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    parts: list[RenderableType] = [Text(line, style="bold") for line in _heading(trace)]
    for k, step in enumerate(trace.steps):
        if isinstance(step, MatrixStep):
            body = _rich_matrix(step, trace.row_names, trace.col_names)
        else:
            body = _rich_graph(step, trace.row_names, trace.col_names)
        parts.append(
            Panel(
                Group(Text(step.description, style="dim"), body),
                title=Text(f"Step {k + 1}/{len(trace.steps)} [{step.kind}] {step.title}"),
                title_align="left",
            )
        )
    return Group(*parts)
