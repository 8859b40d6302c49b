"""The taxi example's promises, and the greedy line-cover counterexample.

Every claim the docs make about the worked examples is checked here against
brute force over all permutations.
"""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_lsa

from tessera.assign import explain, solve, taxi_example
from tessera.assign._examples import GREEDY_COVER_TRAP

ROOT = Path(__file__).resolve().parents[2]


def all_totals(cost: np.ndarray) -> dict[tuple[int, ...], int]:
    n = cost.shape[0]
    return {p: int(sum(cost[i, p[i]] for i in range(n))) for p in itertools.permutations(range(n))}


def greedy_total(cost: np.ndarray) -> int:
    """Each person in turn takes the cheapest free taxi (the lowest index on a tie)."""
    free = list(range(cost.shape[1]))
    total = 0
    for row in cost:
        j = min(free, key=lambda c: (row[c], c))
        free.remove(j)
        total += int(row[j])
    return total


def test_taxi_matrix_shape_and_names() -> None:
    cost, people, taxis = taxi_example()
    assert cost.shape == (4, 4) and cost.dtype.kind == "i"
    assert len(people) == len(set(people)) == 4 and len(taxis) == len(set(taxis)) == 4


def test_taxi_optimum_is_36_with_exactly_two_optimal_assignments() -> None:
    cost, _, _ = taxi_example()
    totals = all_totals(cost)
    assert len(totals) == 24
    assert min(totals.values()) == 36
    optimal = [p for p, t in totals.items() if t == 36]
    assert len(optimal) == 2
    rows, cols = scipy_lsa(cost)
    assert cost[rows, cols].sum() == 36 and solve(cost).total_cost == 36


def test_each_method_finds_a_different_optimum() -> None:
    cost, people, taxis = taxi_example()
    optimal = {p for p, t in all_totals(cost).items() if t == 36}
    found = {}
    for method in ("matrix", "graph"):
        trace = explain(cost, method, row_names=people, col_names=taxis)
        assert trace.total_cost == 36
        found[method] = tuple(trace.cols.tolist())
        assert found[method] in optimal
    assert found["matrix"] != found["graph"]
    assert {found["matrix"], found["graph"]} == optimal
    assert found["matrix"] == (2, 1, 3, 0) and found["graph"] == (0, 1, 3, 2)  # as documented


def test_both_methods_have_something_to_show() -> None:
    """The walkthrough needs at least one adjustment and one label revision."""
    cost, _, _ = taxi_example()
    matrix = [s.kind for s in explain(cost, "matrix").steps]
    graph = [s.kind for s in explain(cost, "graph").steps]
    assert matrix.count("adjust") == 2 and graph.count("revise") == 3
    assert graph.count("augment") == 2


def test_greedy_costs_more() -> None:
    cost, _, _ = taxi_example()
    assert greedy_total(cost) == 48 > 36


def test_csv_matches_the_function() -> None:
    cost, people, taxis = taxi_example()
    with open(ROOT / "examples" / "taxi.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][1:] == taxis
    assert [r[0] for r in rows[1:]] == people
    np.testing.assert_array_equal(np.array([[int(x) for x in r[1:]] for r in rows[1:]]), cost)


def test_example_script_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "taxi.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "36" in out.stdout and "greedy" in out.stdout.lower()
    for name in ("matrix.html", "graph.html", "matrix.gif", "graph.gif"):
        assert (tmp_path / name).stat().st_size > 1000


# -- the "most zeros first" rule of thumb ------------------------------------

# See tessera.assign._examples for why this matrix traps the rule of thumb.
GREEDY_TRAP = np.array(GREEDY_COVER_TRAP)


def greedy_line_counts(zeros: np.ndarray) -> set[int]:
    """Lines used by "cover the line with the most uncovered zeros first", every tie-break."""
    counts: set[int] = set()

    def cover(z: np.ndarray, used: int) -> None:
        if not z.any():
            counts.add(used)
            return
        by_row, by_col = z.sum(axis=1), z.sum(axis=0)
        most = max(by_row.max(), by_col.max())
        for i in np.flatnonzero(by_row == most):
            nxt = z.copy()
            nxt[i, :] = False
            cover(nxt, used + 1)
        for j in np.flatnonzero(by_col == most):
            nxt = z.copy()
            nxt[:, j] = False
            cover(nxt, used + 1)

    cover(zeros.copy(), 0)
    return counts


def test_most_zeros_first_needs_more_lines_than_the_minimum() -> None:
    zeros = GREEDY_TRAP == 0
    assert zeros.any(axis=0).all() and zeros.any(axis=1).all()  # already reduced
    assert greedy_line_counts(zeros) == {5}  # whatever the tie-break
    trace = explain(GREEDY_TRAP, "matrix")
    first_cover = next(s for s in trace.steps if s.kind == "cover")
    np.testing.assert_array_equal(first_cover.matrix, GREEDY_TRAP)  # reductions changed nothing
    assert first_cover.n_lines == 4 < 5
    assert set(first_cover.covered_rows) == {0, 2, 4} and first_cover.covered_cols == (2,)
    assert first_cover.minimum == 1  # so the method adjusts instead of stopping
    rows, cols = scipy_lsa(GREEDY_TRAP)
    assert trace.total_cost == GREEDY_TRAP[rows, cols].sum() > 0


@pytest.mark.parametrize("method", ["matrix", "graph"])
def test_greedy_trap_is_solved_by_both_methods(method: str) -> None:
    assert explain(GREEDY_TRAP, method).total_cost == solve(GREEDY_TRAP).total_cost
