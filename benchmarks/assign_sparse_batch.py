"""Speed of tessera's sparse and batch assignment solvers next to the anchors.

Side by side in one process, on the same inputs, median of several runs:

- sparse random graphs, n = 10^4 and 10^5 rows and columns, 10 random edges per
  row plus the edges of a random permutation (so a full matching exists):
  ``tessera.assign.solve_sparse`` vs scipy's
  ``min_weight_full_bipartite_matching`` vs ``lap.lapmod`` (square only, takes
  the CSR arrays with sorted column indices);
- a batch of 10,000 problems of 16x16: ``tessera.assign.solve_batch`` vs a
  Python loop over ``scipy.optimize.linear_sum_assignment`` and over
  ``lap.lapjv``;
- the first call of each tessera function in a fresh process: with numba's
  on-disk cache present (the normal case) and with an empty cache (compiling).

Every answer's total is checked against tessera's in float64; a mismatch is
reported in the table, never hidden. ``run(quick=True)`` uses smaller sizes.

Run ``python benchmarks/assign_sparse_batch.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SPARSE_SIZES = (10_000, 100_000)
DEGREE = 10
BATCH = (10_000, 16, 16)


def sparse_graph(n: int, degree: int = DEGREE, seed: int = 0) -> Any:
    """CSR graph: ``degree`` random edges per row plus a random permutation.

    Weights are uniform in [1, 1000), never zero (scipy ignores explicit zeros).
    """
    from scipy.sparse import coo_array

    rng = np.random.default_rng(seed)
    rows = np.concatenate([np.repeat(np.arange(n), degree), np.arange(n)])
    cols = np.concatenate([rng.integers(0, n, n * degree), rng.permutation(n)])
    weights = rng.uniform(1.0, 1000.0, rows.size)
    graph = coo_array((weights, (rows, cols)), shape=(n, n)).tocsr()
    graph.sum_duplicates()  # a repeated random pair becomes one edge (scipy, lap need that)
    graph.sort_indices()  # lap.lapmod needs sorted columns in each row
    return graph


def _median_time(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Median seconds of ``repeats`` calls, and the total the last call returned."""
    times = []
    total = float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        total = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), total


def _rows(case: str, timings: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    base_time, base_total = timings["tessera"]
    out = []
    for tool, (seconds, total) in timings.items():
        agrees = bool(np.isclose(total, base_total, rtol=1e-9, atol=1e-6))
        out.append(
            {
                "case": case,
                "tool": tool,
                "median_s": seconds,
                "ratio_vs_tessera": seconds / base_time,
                "total_matches": agrees,
            }
        )
    return out


def sparse_rows(n: int, repeats: int) -> list[dict[str, Any]]:
    import lap
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    from tessera.assign import solve_sparse

    graph = sparse_graph(n)

    def tessera() -> float:
        return solve_sparse(graph).total_cost

    def scipy() -> float:
        r, c = min_weight_full_bipartite_matching(graph)
        return float(graph[r, c].sum())

    def lapmod() -> float:
        return float(lap.lapmod(n, graph.data, graph.indptr, graph.indices)[0])

    tessera()  # load the compiled code before timing
    timings = {
        name: _median_time(fn, repeats)
        for name, fn in [("tessera", tessera), ("scipy", scipy), ("lap.lapmod", lapmod)]
    }
    return _rows(f"sparse n={n:,} ({graph.nnz:,} edges)", timings)


def batch_rows(shape: tuple[int, int, int], repeats: int) -> list[dict[str, Any]]:
    import lap
    from scipy.optimize import linear_sum_assignment

    from tessera.assign import solve_batch

    costs = np.random.default_rng(1).random(shape)

    def tessera() -> float:
        return float(solve_batch(costs).total_costs.sum())

    def scipy_loop() -> float:
        total = 0.0
        for c in costs:
            r, col = linear_sum_assignment(c)
            total += float(c[r, col].sum())
        return total

    def lapjv_loop() -> float:
        return float(sum(lap.lapjv(c)[0] for c in costs))

    tessera()
    timings = {
        name: _median_time(fn, repeats)
        for name, fn in [
            ("tessera", tessera),
            ("scipy loop", scipy_loop),
            ("lap.lapjv loop", lapjv_loop),
        ]
    }
    b, n, m = shape
    return _rows(f"batch {b:,} x {n}x{m}", timings)


_FIRST_CALL = {
    "solve_sparse": "solve_sparse(([0, 1, 1], [1, 0, 1], [1.0, 2.0, 3.0]))",
    "solve_batch": "solve_batch(np.ones((4, 3, 3)))",
    "k_best": "k_best(np.eye(3), 3)",
}


def _first_call_seconds(name: str, cache_dir: str | None) -> float:
    """Seconds of ``name``'s first call in a fresh interpreter, after the import."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    code = (
        "import time, numpy as np\n"
        f"from tessera.assign import {name}\n"
        "t = time.perf_counter()\n"
        f"{_FIRST_CALL[name]}\n"
        "print(time.perf_counter() - t)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def first_call_rows() -> list[dict[str, Any]]:
    """First-call seconds: with numba's cache on disk, and compiling into an empty one.

    Each function compiles into its own empty cache, so none profits from code
    another one compiled (k_best and solve_batch share the dense solver).
    """
    rows = []
    for name in _FIRST_CALL:
        _first_call_seconds(name, None)  # make sure the cache on disk is filled
        cached = _first_call_seconds(name, None)
        with tempfile.TemporaryDirectory() as empty:
            cold = _first_call_seconds(name, empty)
        for label, seconds in (("cache on disk", cached), ("empty cache (compile)", cold)):
            rows.append(
                {
                    "case": f"first call, {label}",
                    "tool": f"tessera {name}",
                    "median_s": seconds,
                    "ratio_vs_tessera": 1.0,
                    "total_matches": True,
                }
            )
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run every case; rows of ``case, tool, median_s, ratio_vs_tessera, total_matches``.

    ``ratio_vs_tessera`` is the tool's median time over tessera's: above 1 means
    tessera is faster. ``quick=True`` shrinks the sizes for a smoke run.
    """
    sizes = (1_000, 10_000) if quick else SPARSE_SIZES
    repeats = 3 if quick else 5
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows += sparse_rows(n, repeats=repeats if n <= 10_000 else 3)
    rows += batch_rows((1_000, 16, 16) if quick else BATCH, repeats)
    rows += first_call_rows()
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | tool | median (s) | time / tessera's | total agrees |",
        "|---|---|---:|---:|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['tool']} | {r['median_s']:.4f} | "
            f"{r['ratio_vs_tessera']:.2f}x | {'yes' if r['total_matches'] else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    print(markdown(run(quick=args.quick)))


if __name__ == "__main__":
    main()
