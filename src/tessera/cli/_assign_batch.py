"""``tessera assign-batch``: solve a stack of cost matrices from a .npy file, here or on Dask."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tessera._dask import SCHEDULER_HELP
from tessera._validation import bad_value
from tessera.cli._app import app, console, edge


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` that is not an ``.npz`` file before any work."""
    if out.suffix.lower() != ".npz":
        raise bad_value(
            "--out", out.name, "the answers are written as a NumPy .npz file", "Name it e.g. "
            "result.npz."
        )  # fmt: skip


@app.command("assign-batch")
@edge
def assign_batch(
    costs: Annotated[
        Path,
        typer.Argument(
            metavar="COSTS.npy",
            help="A stack of cost matrices: a NumPy .npy file of shape (problems, rows, "
            "columns). inf forbids a pair (-inf with --maximize).",
            show_default=False,
        ),
    ],
    maximize: Annotated[
        bool, typer.Option("--maximize", help="Maximise each total instead of minimising it.")
    ] = False,
    infeasible: Annotated[
        str,
        typer.Option(
            "--infeasible",
            help="raise: stop at the first problem without a complete assignment; mask: mark "
            "it (its pairs -1, its total NaN) and solve the others.",
        ),
    ] = "raise",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the answers as .npz: rows, cols, total_costs, row_potentials, "
            "col_potentials and feasible, one entry per problem.",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help=SCHEDULER_HELP, show_default=False)
    ] = None,
    chunk: Annotated[
        int,
        typer.Option(
            "--chunk",
            help="Problems per Dask task (with --scheduler); each worker reads its chunks "
            "from COSTS.npy, so the file must be readable by the workers at the same path.",
        ),
    ] = 100_000,
) -> None:
    """Solve every assignment problem of a stack (tracking frames, small matchings) at once."""
    import numpy as np

    from tessera._validation import check_positive_int
    from tessera.assign import solve_batch

    if out is not None:
        _check_out(out)
    check_positive_int("--chunk", chunk)
    if costs.suffix.lower() != ".npy":
        raise bad_value(
            "COSTS.npy", costs.name, "the stack is read from a NumPy .npy file",
            "Save it with numpy.save('costs.npy', stack).",
        )  # fmt: skip
    stack = np.load(costs, mmap_mode="r", allow_pickle=False)
    if scheduler is None:
        result = solve_batch(stack, maximize=maximize, infeasible=infeasible)
    else:
        from tessera._dask import dask_client
        from tessera.assign._dask import npy_stack

        with dask_client(scheduler):
            result = solve_batch(
                npy_stack(costs, chunk=chunk), maximize=maximize, infeasible=infeasible
            )
    b = len(result)
    shape = f"{stack.shape[1]} x {stack.shape[2]}" if stack.ndim == 3 else "?"
    goal = "maximum" if maximize else "minimum"
    console.print(f"Solved {b:,} problems of {shape} ({goal} totals)", highlight=False)
    masked = 0 if result.feasible is None else int((~result.feasible).sum())
    if masked:
        console.print(f"Infeasible (masked): {masked:,}", highlight=False)
    totals = result.total_costs[~np.isnan(result.total_costs)]
    console.print(f"Sum of the totals: {totals.sum():.6g}", highlight=False)
    proof = "checked" if result.verify(stack) else "[red]FAILED[/]"
    console.print(f"Dual certificates (proof of optimality): {proof}", highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        feasible = np.ones(b, bool) if result.feasible is None else result.feasible
        np.savez(
            out,
            rows=result.rows,
            cols=result.cols,
            total_costs=result.total_costs,
            row_potentials=result.row_potentials,
            col_potentials=result.col_potentials,
            feasible=feasible,
        )
        console.print(f"Wrote {b:,} answers to [bold]{escape(str(out))}[/]", highlight=False)
