"""``tessera assign``: solve a cost table from a CSV file, optionally explained."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from tessera._validation import bad_value
from tessera.cli._app import app, console, edge
from tessera.errors import InvalidInputError

# --out writes the answer (tessera.assign._save.RESULT_SUFFIXES) or the explainer, by suffix;
# _out_kind is the one place that decides.
_EXPLAINER_SUFFIXES = (".html", ".gif", ".svg", ".png")
# The explainer records and draws every step: readable (and quick) for small tables only.
_EXPLAIN_LIMIT = 40
# Above this many pairs the command prints a summary, not the table (unless --full).
_TABLE_LIMIT = 50
_SUMMARY_PAIRS = 5
_SUMMARY_NAMES = 12


class Method(StrEnum):
    """The two ways the explainer tells the Hungarian algorithm."""

    matrix = "matrix"
    graph = "graph"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _out_kind(out: Path) -> Literal["result", "explainer"]:
    """What ``--out`` writes, from its suffix: the answer or the explainer.

    Checked before the table is read, so a wrong name (or a missing extra) costs nothing.
    """
    from tessera.assign._save import RESULT_SUFFIXES, check_result_path

    suffix = out.suffix.lower()
    if suffix in RESULT_SUFFIXES:
        check_result_path(out)
        return "result"
    if suffix in _EXPLAINER_SUFFIXES:
        return "explainer"
    # The name, not the whole path: a long folder would push the suffix out of the repr.
    raise bad_value(
        "--out",
        out.name,
        f"its suffix {suffix or '(none)'} is not one of {', '.join(RESULT_SUFFIXES)} "
        f"(the answer) or {', '.join(_EXPLAINER_SUFFIXES)} (the explainer)",
        "Name the file e.g. result.csv or explain.html.",
    )


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
            help="Write the answer: .csv, .json or .parquet (row, column, cost per pair; JSON "
            "adds the total). Or write the explainer: .html (a page stepping through it), "
            ".gif (animation), .svg or .png (the final step), with the --explain method, "
            "graph by default.",
            show_default=False,
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help=f"Print every pair even when there are more than {_TABLE_LIMIT} "
            "(by default a summary).",
        ),
    ] = False,
) -> None:
    """Assign rows to columns (people to taxis, workers to jobs) at the least total cost."""
    from tessera.assign._io import read_cost_table, solve_table
    from tessera.assign._save import AssignmentRecord, save_assignment

    kind = None if out is None else _out_kind(out)
    table = read_cost_table(costs)
    n, m = table.cost.shape
    if (explain is not None or kind == "explainer") and max(n, m) > _EXPLAIN_LIMIT:
        raise InvalidInputError(
            f"{costs}: the table is {n} x {m}, too big to explain step by step (at most "
            f"{_EXPLAIN_LIMIT} rows and columns). Drop --explain and the picture --out "
            "(--out result.csv saves the answer at any size), or explain a smaller table."
        )
    result = solve_table(table, maximize=maximize)

    cost = table.signed_cost(maximize=maximize)
    record = AssignmentRecord.of(table, result, optimal=result.verify(cost))
    summary = len(record.pairs) > _TABLE_LIMIT and not full
    console.print(
        f"Optimal assignment for [bold]{escape(str(costs))}[/] ({n} rows x {m} columns)",
        soft_wrap=True,
        highlight=False,
    )
    shown = Table()
    shown.add_column(escape(table.index_name))
    shown.add_column("column")
    shown.add_column("cost", justify="right")
    for row, col, pair_cost in record.pairs[:_SUMMARY_PAIRS] if summary else record.pairs:
        shown.add_row(escape(row), escape(col), _number(pair_cost))
    console.print(shown)
    if summary:
        console.print(
            f"... and {len(record.pairs) - _SUMMARY_PAIRS:,} more pairs "
            f"({len(record.pairs):,} in all).",
            highlight=False,
        )
    goal = "maximum" if maximize else "minimum"
    console.print(f"Total cost: [bold]{_number(record.total)}[/] ({goal})", highlight=False)
    limit = _SUMMARY_NAMES if summary else None
    _print_unassigned(record.unassigned_rows, "rows", limit)
    _print_unassigned(record.unassigned_columns, "columns", limit)
    proof = "checked" if record.optimal else "[red]FAILED[/]"
    console.print(f"Dual certificate (proof of optimality): {proof}", highlight=False)
    if out is not None and kind == "result":
        save_assignment(record, out)
        console.print(
            f"Wrote {len(record.pairs):,} pairs to [bold]{escape(str(out))}[/]",
            soft_wrap=True,
            highlight=False,
        )
    elif summary:
        console.print(
            "All pairs: --out result.csv (or .json, .parquet) writes them to a file, "
            "--full prints them.",
            soft_wrap=True,
            highlight=False,
        )

    if explain is None and kind != "explainer":
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
    if out is not None and kind == "explainer":
        out.parent.mkdir(parents=True, exist_ok=True)
        trace.save(out)
        console.print(
            f"Wrote the {method} explainer to [bold]{escape(str(out))}[/]", highlight=False
        )


def _print_unassigned(names: list[str], what: str, limit: int | None) -> None:
    if not names:
        return
    listed = ", ".join(names if limit is None else names[:limit])
    if limit is not None and len(names) > limit:
        listed += f", ... ({len(names):,} in all)"
    console.print(f"Unassigned {what}: {escape(listed)}", highlight=False)
