"""Batch assignment on Dask next to the in-process batch: millions of small matrices.

One process runs both sides on the same stack (uniform floats in [0, 1), 8 x 8 by
default):

- in process: ``tessera.assign.solve_batch`` on the NumPy stack (numba threads over the
  problems, as many as numba's default);
- on Dask: ``solve_batch`` on a Dask array of the same stack, persisted on the workers of a
  ``LocalCluster`` of 1, then 2, worker processes (one thread each, a memory limit each),
  chunked along the problems. The time covers the solve and the gathering of every answer
  into one ``BatchAssignment`` here; not the cluster's start or the data's placement.

The Dask answers are compared with the in-process ones, field by field; a mismatch is
printed in the table, never hidden. Each side is timed ``--repeats`` times (median).
``--write`` replaces the ``## scale-batch`` section of benchmarks/RESULTS.md.

Run ``python benchmarks/scale_batch_bench.py [--problems 1000000] [--write]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

FIELDS = ("rows", "cols", "total_costs", "row_potentials", "col_potentials")


def _median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, last = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        last = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), last


def _same(a: Any, b: Any) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def _machine() -> str:
    import dask
    import numba

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo", encoding="utf-8")  # noqa: SIM115
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy "
        f"{np.__version__}, numba {numba.__version__}, dask {dask.__version__}"
    )


def run(problems: int, n: int, chunk: int, repeats: int, memory_limit: str) -> list[dict[str, Any]]:
    """Time the in-process batch and Dask with 1 and 2 workers; return one row per side."""
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    from tessera.assign import precompile, solve_batch

    precompile()
    stack = np.random.default_rng(0).random((problems, n, n))
    seconds, reference = _median_seconds(lambda: solve_batch(stack), repeats)
    rows = [{"side": "in process", "seconds": seconds, "same": "reference"}]
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=memory_limit,
                dashboard_address=":0",
            ) as cluster,
            Client(cluster) as client,
        ):
            with warnings.catch_warnings():  # placing the data is not timed
                warnings.filterwarnings("ignore", "Sending large graph")
                lazy = client.persist(da.from_array(stack, chunks=(chunk, n, n)))
            wait(lazy)
            solve_batch(lazy[:2])  # registers the kernel plugin: workers load the kernels
            seconds, answer = _median_seconds(lambda lazy=lazy: solve_batch(lazy), repeats)
            rows.append(
                {
                    "side": f"Dask, {workers} worker{'s' * (workers > 1)}",
                    "seconds": seconds,
                    "same": "identical" if _same(answer, reference) else "DIFFERENT",
                }
            )
    return rows


def table(rows: list[dict[str, Any]], problems: int, n: int) -> str:
    """The rows as a Markdown table with rates and ratios to the in-process batch."""
    base = rows[0]["seconds"]
    lines = [
        "| side | seconds | problems/s | time / in-process | answers vs in-process |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['side']} | {row['seconds']:.3g} | {problems / row['seconds']:,.0f} | "
            f"{row['seconds'] / base:.2f} | {row['same']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run, print the table (and write RESULTS.md with --write)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=8, help="rows and columns of each problem")
    parser.add_argument("--chunk", type=int, default=50_000, help="problems per Dask task")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-limit", default="2GB", help="per Dask worker")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    rows = run(args.problems, args.size, args.chunk, args.repeats, args.memory_limit)
    after = os.getloadavg()
    text = (
        "## scale-batch\n\n"
        f"Machine: {_machine()}\n\n"
        f"`python benchmarks/scale_batch_bench.py --problems {args.problems} --size "
        f"{args.size} --chunk {args.chunk} --repeats {args.repeats}`: {args.problems:,} "
        f"problems of {args.size} x {args.size} (uniform floats), median of {args.repeats}; "
        f"Dask workers have one thread and {args.memory_limit} each, the stack persisted on "
        "them before timing; the time covers solving and gathering every answer here. Load "
        f"average (1 min) {load[0]:.1f} before, {after[0]:.1f} after.\n\n"
        f"{table(rows, args.problems, args.size)}\n"
    )
    print(text)
    if args.write:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _results import write_section

        write_section("scale-batch", text)


if __name__ == "__main__":
    main()
