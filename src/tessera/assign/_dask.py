"""Batch assignment on Dask: a stack chunked along its problems, or a bag of ragged problems.

Each chunk (or bag partition) is solved by the in-process :func:`solve_batch` on a worker,
so every answer is the one the in-process batch gives. The numba kernels are loaded once
per worker process: from numba's on-disk cache by :func:`tessera.assign.precompile` when
the worker starts (a worker plugin registered on the client), and kept in memory for every
later task.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tessera._dask import require_dask
from tessera._validation import bad_value, check_bool, check_in
from tessera.assign._batch import BatchAssignment, _as_cost_stack, _infeasible, solve_batch
from tessera.assign._result import Assignment
from tessera.errors import InfeasibleAssignmentError, InvalidInputError, TesseraError

__all__ = ["PLUGIN_NAME", "is_dask_collection", "npy_stack", "solve_bag", "solve_dask_array"]

#: The name of the worker plugin that loads the kernels when a worker starts.
PLUGIN_NAME = "tessera-assign-precompile"

_Block = tuple[
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.bool_],
]


def is_dask_collection(value: Any) -> bool:
    """Whether ``value`` is a Dask collection (without importing dask)."""
    return hasattr(value, "__dask_graph__") and type(value).__module__.startswith("dask")


def precompile_on_workers() -> None:
    """Register the precompile plugin on the active distributed client, if there is one.

    Workers that join later (or restart after a crash) run it too; registering again is a
    no-op.
    """
    try:
        from distributed import get_client
    except ImportError:  # dask without distributed: threads in this process, already compiled
        return
    try:
        client = get_client()
    except ValueError:  # no client: the local threaded scheduler shares this process's kernels
        return
    from tessera.assign._dask_plugin import PrecompilePlugin

    client.register_plugin(PrecompilePlugin(), name=PLUGIN_NAME)


def _solve_block(block: Any, first: int, maximize: bool) -> _Block | InvalidInputError:
    """Solve one chunk of problems ``first, first + 1, ...`` (on a worker), masking failures.

    A bad entry's error is returned, not raised, so that the client raises the one of the
    first chunk in order, as the in-process batch names the first bad problem.
    """
    try:
        result = solve_batch(block, maximize=maximize, infeasible="mask")
    except InvalidInputError:
        try:
            _as_cost_stack(block, maximize, first)  # the same error, numbered globally
        except InvalidInputError as numbered:
            return numbered
        raise
    feasible = result.feasible if result.feasible is not None else np.ones(len(result), bool)
    return (
        result.rows,
        result.cols,
        result.total_costs,
        result.row_potentials,
        result.col_potentials,
        feasible,
    )


def solve_dask_array(costs: Any, *, maximize: bool, infeasible: str) -> BatchAssignment:
    """:func:`solve_batch` of a Dask array, computed on the active scheduler.

    The stack is rechunked so that every chunk holds whole problems (chunks along the first
    axis only), each chunk is solved on a worker, and the answers are gathered here in order.
    """
    check_in("infeasible", infeasible, ("raise", "mask"))
    check_bool("maximize", maximize)
    dask = require_dask("dask")
    if costs.ndim != 3:
        raise InvalidInputError(
            f"costs is invalid: expected a stack of matrices (3-D array, shape (b, n, m)), got "
            f"a {costs.ndim}-D Dask array of shape {costs.shape}. Use tessera.assign.solve for "
            "one matrix, or dask.array.stack equal-shape matrices."
        )
    _as_cost_stack(np.zeros((0, 0, 0), costs.dtype), maximize)  # the dtype's rules, once
    if any(np.isnan(d) for d in costs.shape):
        raise bad_value(
            "costs",
            f"dask array of shape {costs.shape}",
            "the number of problems must be known",
            "Call costs.compute_chunk_sizes() first.",
        )
    b, n, m = (int(d) for d in costs.shape)
    whole = costs.rechunk({1: -1, 2: -1})
    starts = np.concatenate([[0], np.cumsum(whole.chunks[0])]).astype(int)
    blocks = whole.to_delayed().ravel()
    precompile_on_workers()
    solve = dask.delayed(_solve_block, pure=True)
    parts = dask.compute(
        *(solve(block, int(first), maximize) for block, first in zip(blocks, starts, strict=False))
    )
    for part in parts:
        if isinstance(part, InvalidInputError):
            raise part
    rows, cols, total, u, v, feasible = (
        np.concatenate([part[field] for part in parts]) for field in range(6)
    )
    bad = np.flatnonzero(~feasible)
    if bad.size and infeasible == "raise":
        k = int(np.searchsorted(starts, bad[0], side="right") - 1)
        chunk = np.asarray(whole.blocks[k].compute(), dtype=np.float64)
        transposed = n > m
        work = chunk.transpose(0, 2, 1) if transposed else chunk
        raise _infeasible(work, bad, transposed, first=int(starts[k]))
    if b == 0:  # concatenate of no parts keeps no shape
        k_pairs = min(n, m)
        rows = cols = np.zeros((0, k_pairs), np.int64)
        u, v = np.zeros((0, n)), np.zeros((0, m))
    return BatchAssignment(
        rows=rows,
        cols=cols,
        total_costs=total,
        row_potentials=u,
        col_potentials=v,
        maximize=bool(maximize),
        feasible=feasible if infeasible == "mask" else None,
    )


def _read_problems(path: str, start: int, stop: int) -> NDArray[Any]:
    """Problems ``start:stop`` of the stack in the ``.npy`` file at ``path`` (on a worker)."""
    return np.array(np.load(path, mmap_mode="r", allow_pickle=False)[start:stop])


def npy_stack(path: str | Path, *, chunk: int) -> Any:
    """A Dask array over the stack in a ``.npy`` file, ``chunk`` problems per block.

    Each block is read by the worker that solves it (the file must be readable there at
    the same path: any path on a local cluster, shared storage on a real one).
    """
    dask = require_dask("dask")
    array = require_dask("dask.array")
    where = Path(path).resolve()
    header = np.load(where, mmap_mode="r", allow_pickle=False)
    if header.ndim != 3 or header.shape[0] == 0:  # solve_batch says what is wrong with it
        return array.from_array(np.asarray(header), chunks=-1)
    b, n, m = header.shape
    read = dask.delayed(_read_problems, pure=True)
    blocks = [
        array.from_delayed(
            read(str(where), start, min(start + chunk, b)),
            shape=(min(start + chunk, b) - start, n, m),
            dtype=header.dtype,
        )
        for start in range(0, b, chunk)
    ]
    return array.concatenate(blocks, axis=0)


def _located(exc: TesseraError, partition: int) -> TesseraError:
    """``exc`` again, its message saying which partition of the bag it came from."""
    message = f"bag partition {partition}: {exc}"
    if isinstance(exc, InfeasibleAssignmentError):
        return InfeasibleAssignmentError(
            message, rows=exc.rows, reachable_cols=exc.reachable_cols, axis=exc.axis
        )
    return type(exc)(message)


def _solve_partition(
    problems: list[Any], partition: list[int], maximize: bool, infeasible: str
) -> list[Assignment | None]:
    """Solve one bag partition: problems grouped by shape, each group as one stack."""
    number = partition[0] if partition else -1
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    arrays = []
    for index, problem in enumerate(problems):
        array = np.asarray(problem)
        if array.ndim != 2:
            raise InvalidInputError(
                f"bag partition {number}, problem {index}: a problem is a cost matrix (2-D), "
                f"got shape {array.shape}. Put one matrix in each element of the bag."
            )
        arrays.append(array)
        by_shape[array.shape].append(index)
    answers: list[Assignment | None] = [None] * len(arrays)
    for members in by_shape.values():
        try:
            result = solve_batch(
                np.stack([arrays[i] for i in members]), maximize=maximize, infeasible=infeasible
            )
        except TesseraError as exc:
            raise _located(_renumbered(exc, members), number) from None
        for slot, index in enumerate(members):
            feasible = result.feasible is None or bool(result.feasible[slot])
            answers[index] = result[slot] if feasible else None
    return answers


def _renumbered(exc: TesseraError, members: list[int]) -> TesseraError:
    """The error of a shape group, its problem numbers those of the partition."""
    import re

    message = re.sub(
        r"\b(costs\[|problem )(\d+)",
        lambda match: f"{match.group(1)}{members[int(match.group(2))]}",
        str(exc),
    )
    message = re.sub(
        r"\(\d+ problems are infeasible: \[[\d, ]*\]\)",
        lambda match: match.group(0).split(":")[0] + ")",
        message,
    )
    if isinstance(exc, InfeasibleAssignmentError):
        return InfeasibleAssignmentError(
            message, rows=exc.rows, reachable_cols=exc.reachable_cols, axis=exc.axis
        )
    return type(exc)(message)


def solve_bag(problems: Any, *, maximize: bool = False, infeasible: str = "raise") -> Any:
    """Solve a Dask bag of assignment problems of any shapes, partition by partition.

    Parameters
    ----------
    problems : dask.bag.Bag
        One cost matrix (2-D array_like) per element; shapes may differ (tracking: one
        problem per frame, as many rows as tracks and columns as detections).
    maximize : bool, default=False
        Maximise each total instead of minimising it.
    infeasible : {"raise", "mask"}, default="raise"
        What an infeasible problem does: raise when the bag is computed, or give ``None``
        in its place.

    Returns
    -------
    dask.bag.Bag
        Lazily, one :class:`Assignment` (or ``None`` where masked) per problem, in order.

    Raises
    ------
    InvalidInputError
        At the call, for a ``problems`` that is not a bag or bad options; when computed, for
        an element that is not a matrix of numbers, NaN or ``-inf`` (the message names the
        partition and the problem in it).
    InfeasibleAssignmentError
        When computed, with ``infeasible="raise"``, for a problem with no complete
        assignment.

    Notes
    -----
    Within a partition, problems of the same shape are stacked and solved by one call of
    :func:`solve_batch`, so each answer is exactly the in-process batch's. Compute the bag
    on a :class:`distributed.Client` to use its workers (each loads the solver's kernels
    once); without one, Dask's local scheduler runs it here.

    Examples
    --------
    >>> import dask.bag as db
    >>> import numpy as np
    >>> from tessera.assign import solve_bag
    >>> frames = db.from_sequence([np.array([[4, 1], [2, 0]]), np.array([[1, 5, 0]])])
    >>> [a.total_cost for a in solve_bag(frames).compute()]
    [3.0, 0.0]
    """
    check_in("infeasible", infeasible, ("raise", "mask"))
    check_bool("maximize", maximize)
    bag = require_dask("dask.bag")
    if not isinstance(problems, bag.Bag):
        raise bad_value(
            "problems",
            problems,
            "solve_bag takes a dask.bag.Bag of cost matrices",
            "Wrap a list with dask.bag.from_sequence(problems), or pass a stack to solve_batch.",
        )
    precompile_on_workers()
    numbers = bag.from_sequence(range(problems.npartitions), npartitions=problems.npartitions)
    return problems.map_partitions(_solve_partition, numbers, maximize, infeasible)
