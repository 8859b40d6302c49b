"""``tessera assign``: solve a cost table from a CSV file, optionally explained."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from tessera.cli._app import app, console, edge
from tessera.errors import InvalidInputError

_OUT_SUFFIXES = (".html", ".gif", ".svg", ".png")
# The explainer records and draws every step: readable (and quick) for small tables only.
_EXPLAIN_LIMIT = 40


class Method(StrEnum):
    """The two ways the explainer tells the Hungarian algorithm."""

    matrix = "matrix"
    graph = "graph"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


@app.command()
@edge
def assign(
    costs: Annotated[
        Path,
        typer.Argument(
            metavar="COSTS.csv",
            help="CSV cost table: a header row of column names and an index column of row "
            "names, or an edge list with the header row,col,cost. An empty cell or inf "
            "forbids a pair.",
            show_default=False,
        ),
    ],
    maximize: Annotated[
        bool, typer.Option("--maximize", help="Maximise the total instead of minimising it.")
    ] = False,
    explain: Annotated[
        Method | None,
        typer.Option(
            "--explain",
            help="Print the Hungarian algorithm step by step, with the matrix method "
            "(reduce, cover, adjust) or the graph method (labels, equality edges, paths).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the explainer: .html (a page stepping through it), .gif (animation), "
            ".svg or .png (the final step). Uses the --explain method, graph by default.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Assign rows to columns (people to taxis, workers to jobs) at the least total cost."""
    from tessera.assign._io import read_cost_table, solve_table

    if out is not None and out.suffix.lower() not in _OUT_SUFFIXES:
        raise InvalidInputError(
            f"--out={str(out)!r} is invalid: the suffix must be one of "
            f"{', '.join(_OUT_SUFFIXES)}. Name the file e.g. explain.html."
        )
    table = read_cost_table(costs)
    n, m = table.cost.shape
    if (explain is not None or out is not None) and max(n, m) > _EXPLAIN_LIMIT:
        raise InvalidInputError(
            f"{costs}: the table is {n} x {m}, too big to explain step by step (at most "
            f"{_EXPLAIN_LIMIT} rows and columns). Drop --explain/--out, or explain a smaller table."
        )
    result = solve_table(table, maximize=maximize)

    console.print(
        f"Optimal assignment for [bold]{escape(str(costs))}[/] ({n} rows x {m} columns)",
        soft_wrap=True,
        highlight=False,
    )
    shown = Table()
    shown.add_column(escape(table.index_name))
    shown.add_column("column")
    shown.add_column("cost", justify="right")
    for i, j in zip(result.rows, result.cols, strict=True):
        shown.add_row(
            escape(table.row_names[i]), escape(table.col_names[j]), _number(table.cost[i, j])
        )
    console.print(shown)
    goal = "maximum" if maximize else "minimum"
    console.print(f"Total cost: [bold]{_number(result.total_cost)}[/] ({goal})", highlight=False)
    _print_unassigned(table.row_names, result.rows, "rows")
    _print_unassigned(table.col_names, result.cols, "columns")
    cost = table.signed_cost(maximize=maximize)
    proof = "checked" if result.verify(cost) else "[red]FAILED[/]"
    console.print(f"Dual certificate (proof of optimality): {proof}", highlight=False)

    if explain is None and out is None:
        return
    from tessera.assign import explain as explain_problem

    method: Literal["matrix", "graph"] = "matrix" if explain is Method.matrix else "graph"
    trace = explain_problem(
        cost,
        method=method,
        maximize=maximize,
        row_names=table.row_names,
        col_names=table.col_names,
    )
    if explain is not None:
        console.print()
        console.print(trace.to_rich())
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        trace.save(out)
        console.print(
            f"Wrote the {method} explainer to [bold]{escape(str(out))}[/]", highlight=False
        )


def _print_unassigned(names: tuple[str, ...], used: np.ndarray, what: str) -> None:
    left = sorted(set(range(len(names))) - set(used.tolist()))
    if left:
        listed = escape(", ".join(names[k] for k in left))
        console.print(f"Unassigned {what}: {listed}", highlight=False)
