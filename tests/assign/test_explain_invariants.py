"""The explainer's traces: invariants at every step, optimal answers, clear errors.

Every step is checked against an independent computation (scipy's matching on
the zeros, brute-force label feasibility), and every final assignment against
:func:`scipy.optimize.linear_sum_assignment`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linear_sum_assignment as scipy_lsa
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_bipartite_matching

from tessera.assign import Trace, explain, solve
from tessera.assign.explain import GraphStep, MatrixStep
from tessera.errors import InfeasibleAssignmentError, InvalidInputError

TOL = 1e-7


def matching_size(mask: np.ndarray) -> int:
    """Size of a maximum matching on ``mask`` (scipy, independent of the explainer)."""
    if not mask.any():
        return 0
    found = maximum_bipartite_matching(csr_array(mask.astype(np.int8)), perm_type="column")
    return int((found >= 0).sum())


def is_matching(pairs: tuple[tuple[int, int], ...]) -> bool:
    rows = [i for i, _ in pairs]
    cols = [j for _, j in pairs]
    return len(set(rows)) == len(rows) and len(set(cols)) == len(cols)


def optimum(cost: np.ndarray, maximize: bool) -> float:
    rows, cols = scipy_lsa(cost, maximize=maximize)
    return float(cost[rows, cols].sum())


def check_matrix_trace(trace: Trace) -> None:
    steps = trace.steps
    assert all(isinstance(s, MatrixStep) for s in steps)
    kinds = [s.kind for s in steps]
    assert kinds[0] == "start" and kinds[-1] == "assign"
    start = kinds.index("row_reduction")
    assert kinds[start + 1] == "column_reduction"
    working = steps[start - 1].matrix  # after the maximize / pad steps
    n = working.shape[0]
    assert working.shape == (n, n) == trace.square.shape
    forbidden = ~np.isfinite(working)
    previous_cover: MatrixStep | None = None
    for step in steps[start:]:
        a = step.matrix
        assert a.shape == (n, n)
        # The reduced matrix stays >= 0 and keeps the forbidden pairs forbidden ...
        assert (a[~forbidden] >= 0).all(), step.kind
        assert np.isinf(a[forbidden]).all()
        # ... and differs from the working matrix by a row term plus a column term,
        # so every complete assignment changed by the same amount.
        if not forbidden.any():
            d = working - a
            assert np.allclose(d, d[:, :1] + d[:1, :] - d[0, 0], atol=TOL)
            # Every complete assignment got cheaper by exactly step.taken_off.
            for perm in (np.arange(n), np.roll(np.arange(n), 1)):
                drop = working[np.arange(n), perm].sum() - a[np.arange(n), perm].sum()
                assert drop == pytest.approx(step.taken_off, abs=TOL * n * 100)
        zeros = a == 0
        if step.kind in ("cover", "adjust", "assign"):
            assert is_matching(step.matching)
            assert all(zeros[i, j] for i, j in step.matching) or step.kind == "adjust"
        if step.kind == "cover":
            covered = np.zeros((n, n), bool)
            covered[list(step.covered_rows), :] = True
            covered[:, list(step.covered_cols)] = True
            assert not (zeros & ~covered).any(), "a zero is left uncovered"
            # Konig: the fewest lines equal the largest set of independent zeros.
            assert step.n_lines == matching_size(zeros) == len(step.matching)
            if step.n_lines < n:
                uncovered = a[~covered]
                assert step.minimum == pytest.approx(float(uncovered.min()))
                assert step.minimum > 0
                assert step.minimum_at is not None
                assert a[step.minimum_at] == step.minimum and not covered[step.minimum_at]
            else:
                assert step.minimum is None
            previous_cover = step
        if step.kind == "adjust":
            assert previous_cover is not None and previous_cover.minimum == step.minimum
            before, m = previous_cover.matrix, step.minimum
            rows_c = np.isin(np.arange(n), step.covered_rows)[:, None]
            cols_c = np.isin(np.arange(n), step.covered_cols)[None, :]
            expected = np.where(
                ~rows_c & ~cols_c, before - m, np.where(rows_c & cols_c, before + m, before)
            )
            np.testing.assert_allclose(a, expected)
            assert a[step.minimum_at] == 0
    final = steps[-1]
    optimum_working = working[tuple(zip(*final.matching, strict=True))].sum()
    assert final.taken_off == pytest.approx(optimum_working, abs=TOL * n * 100)
    assert len(final.matching) == n and is_matching(final.matching)
    assert all(final.matrix[i, j] == 0 for i, j in final.matching)


def check_graph_trace(trace: Trace) -> None:
    w = trace.square
    n = w.shape[0]
    finite = np.isfinite(w)
    best = optimum(trace.cost, trace.maximize)
    sign = -1.0 if trace.maximize else 1.0
    scale = max(1.0, float(np.abs(w[finite]).max(initial=0.0)))
    tol = 1e-9 * scale * n * 10
    previous: GraphStep | None = None
    for step in trace.steps:
        assert isinstance(step, GraphStep)
        rl, cl = np.array(step.row_labels), np.array(step.col_labels)
        gap = sign * (w - rl[:, None] - cl[None, :])  # the slack, >= 0 when feasible
        # Feasible labels: l(row) + l(col) <= cost (>= when maximising), every edge.
        assert (gap[finite] >= -tol).all(), step.kind
        tight = {(int(i), int(j)) for i, j in zip(*np.nonzero(finite & (gap <= tol)), strict=True)}
        assert set(step.equality_edges) == tight
        assert is_matching(step.matching)
        assert set(step.matching) <= tight, "a matched edge is not an equality edge"
        assert set(step.tree_edges) <= tight
        # Weak duality at every step: the labels bound the optimum.
        assert sign * (rl.sum() + cl.sum()) <= sign * best + tol
        if step.kind == "slack":
            outside = [j for j in range(n) if j not in step.tree_cols]
            pairs = {(i, j) for i in step.tree_rows for j in outside}
            assert {(i, j) for i, j, _ in step.slacks} == pairs
            for i, j, s in step.slacks:
                assert s == pytest.approx(gap[i, j], abs=tol) or np.isinf(gap[i, j])
            assert step.min_slack == min(s for _, _, s in step.slacks) > tol
        if step.kind == "revise":
            assert previous is not None and previous.kind == "slack"
            delta = previous.min_slack
            assert delta is not None and step.min_slack == delta
            moved_r = np.array(step.row_labels) - np.array(previous.row_labels)
            moved_c = np.array(step.col_labels) - np.array(previous.col_labels)
            in_s = np.isin(np.arange(n), step.tree_rows)
            in_t = np.isin(np.arange(n), step.tree_cols)
            np.testing.assert_allclose(moved_r, np.where(in_s, -sign * -delta, 0.0), atol=tol)
            np.testing.assert_allclose(moved_c, np.where(in_t, -sign * delta, 0.0), atol=tol)
            assert step.min_slack_edge in tight
        if step.kind == "augment":
            path = step.path
            assert len(path) % 2 == 1 and set(path) <= tight
            matched = set(step.matching)
            assert all((e in matched) == (t % 2 == 1) for t, e in enumerate(path))
            assert path[0][0] not in {i for i, _ in step.matching}
            assert path[-1][1] not in {j for _, j in step.matching}
            # root -> column (shared with the next, matched edge) -> row (shared) -> ...
            assert all(path[t][1] == path[t + 1][1] for t in range(0, len(path) - 1, 2))
            assert all(path[t][0] == path[t + 1][0] for t in range(1, len(path) - 1, 2))
        previous = step
    final = trace.steps[-1]
    assert final.kind == "final" and len(final.matching) == n
    labels = sum(final.row_labels) + sum(final.col_labels)
    assert labels == pytest.approx(sum(w[i, j] for i, j in final.matching), abs=tol)


def check_trace(trace: Trace) -> None:
    if trace.method == "matrix":
        check_matrix_trace(trace)
    else:
        check_graph_trace(trace)
    n, m = trace.cost.shape
    assert len(trace.rows) == min(n, m)
    assert list(trace.rows) == sorted(trace.rows) and is_matching(
        tuple(zip(trace.rows, trace.cols, strict=True))
    )
    expected = optimum(trace.cost, trace.maximize)
    assert trace.total_cost == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert trace.total_cost == pytest.approx(float(trace.cost[trace.rows, trace.cols].sum()))
    for step in trace.steps:
        assert step.title and "\n" not in step.title and step.description


shapes = st.tuples(st.integers(1, 5), st.integers(1, 5))
int_costs = shapes.flatmap(lambda s: hnp.arrays(np.int64, s, elements=st.integers(0, 9)))
tie_costs = shapes.flatmap(lambda s: hnp.arrays(np.int64, s, elements=st.integers(0, 2)))
float_costs = shapes.flatmap(
    lambda s: hnp.arrays(
        np.float64, s, elements=st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 3))
    )
)
methods = st.sampled_from(["matrix", "graph"])


@settings(max_examples=40)
@given(cost=int_costs, method=methods, maximize=st.booleans())
def test_integer_costs(cost: np.ndarray, method: str, maximize: bool) -> None:
    check_trace(explain(cost, method, maximize=maximize))


@settings(max_examples=30)
@given(cost=tie_costs, method=methods, maximize=st.booleans())
def test_many_ties(cost: np.ndarray, method: str, maximize: bool) -> None:
    check_trace(explain(cost, method, maximize=maximize))


@settings(max_examples=30)
@given(cost=float_costs, method=methods, maximize=st.booleans())
def test_float_costs(cost: np.ndarray, method: str, maximize: bool) -> None:
    check_trace(explain(cost, method, maximize=maximize))


@settings(max_examples=30)
@given(cost=int_costs, method=methods, maximize=st.booleans(), data=st.data())
def test_forbidden_pairs(
    cost: np.ndarray, method: str, maximize: bool, data: st.DataObject
) -> None:
    c = cost.astype(float)
    mask = data.draw(hnp.arrays(np.bool_, c.shape))
    c[mask] = -np.inf if maximize else np.inf
    try:
        expected = optimum(c, maximize)
    except ValueError:
        with pytest.raises(InfeasibleAssignmentError):
            explain(c, method, maximize=maximize)
        return
    trace = explain(c, method, maximize=maximize)
    check_trace(trace)
    assert trace.total_cost == pytest.approx(expected)


@settings(max_examples=20)
@given(cost=int_costs, method=methods, shift=st.integers(-20, 20), data=st.data())
def test_metamorphic(cost: np.ndarray, method: str, shift: int, data: st.DataObject) -> None:
    """Transposing keeps the total; adding a constant to a row adds it to the total."""
    base = explain(cost, method).total_cost
    assert explain(cost.T, method).total_cost == pytest.approx(base)
    if cost.shape[0] <= cost.shape[1]:  # every row is assigned
        row = data.draw(st.integers(0, cost.shape[0] - 1))
        moved = cost.copy()
        moved[row] += shift
        assert explain(moved, method).total_cost == pytest.approx(base + shift)


@pytest.mark.parametrize("method", ["matrix", "graph"])
def test_agrees_with_solve_and_names_rows(method: str) -> None:
    cost = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    trace = explain(cost, method, row_names=["a", "b", "c"], col_names=["x", "y", "z"])
    result = solve(cost)
    assert trace.total_cost == result.total_cost == 5
    assert trace.row_names == ("a", "b", "c") and "a" in trace.to_text()


@pytest.mark.parametrize("method", ["matrix", "graph"])
def test_rectangular_is_padded_with_a_step(method: str) -> None:
    trace = explain([[1, 2, 3], [4, 5, 6]], method)
    assert trace.row_names[-1] == "dummy 1" and trace.square.shape == (3, 3)
    assert len(trace.rows) == 2 and trace.total_cost == 6
    if method == "matrix":
        assert [s.kind for s in trace.steps][:2] == ["start", "pad"]
    else:
        assert "padded" in trace.steps[0].description
    wide = explain(np.array([[1, 2, 3], [4, 5, 6]]).T, method)
    assert wide.col_names[-1] == "dummy 1" and wide.total_cost == 6


def test_maximize_matrix_method_states_the_conversion() -> None:
    trace = explain([[1, 5], [4, 2]], "matrix", maximize=True)
    assert trace.steps[1].kind == "maximize"
    np.testing.assert_array_equal(trace.steps[1].matrix, [[4, 0], [1, 3]])
    assert trace.total_cost == 9


def test_one_by_one() -> None:
    for method in ("matrix", "graph"):
        trace = explain([[7]], method)
        assert trace.total_cost == 7 and trace.cols.tolist() == [0]


@pytest.mark.parametrize(
    ("cost", "match"),
    [
        ([[1.0, np.nan], [2.0, 3.0]], "NaN"),
        ([[1.0, -np.inf], [2.0, 3.0]], "-inf"),
        ([["a", "b"], ["c", "d"]], "non-numeric"),
        ([1.0, 2.0], "2-D"),
        (np.zeros((2, 2, 2)), "2-D"),
        (np.zeros((0, 3)), "empty"),
    ],
)
def test_bad_input_gets_the_solvers_errors(cost: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        explain(cost)  # type: ignore[arg-type]


def test_infeasible_names_a_hall_violator() -> None:
    cost = np.array([[1.0, np.inf, np.inf], [2.0, np.inf, np.inf], [1.0, 2.0, 3.0]])
    for method in ("matrix", "graph"):
        with pytest.raises(InfeasibleAssignmentError, match=r"rows \[0, 1\]") as info:
            explain(cost, method)
        assert info.value.rows == (0, 1) and info.value.reachable_cols == (0,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "simplex"}, "method='simplex'"),
        ({"maximize": "yes"}, "maximize='yes'"),
        ({"row_names": ["a"]}, "row_names"),
        ({"col_names": ["x", "x"]}, "distinct"),
    ],
)
def test_bad_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        explain([[1, 2], [3, 4]], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method", ["matrix", "graph"])
def test_larger_random_matrices(method: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = rng.integers(8, 13, size=2)
    cost = rng.integers(0, 30, size=(n, m)) if seed % 2 else rng.random((n, m)) * 100
    check_trace(explain(cost, method, maximize=bool(seed % 3 == 0)))


def test_trace_arrays_are_read_only_and_not_the_callers() -> None:
    cost = np.array([[4.0, 1.0], [2.0, 0.5]])
    trace = explain(cost, "matrix")
    assert trace.cost is not cost and cost.flags.writeable
    cost[0, 0] = 100.0
    assert trace.cost[0, 0] == 4.0
    for array in (trace.cost, trace.rows, trace.cols, trace.steps[1].matrix):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
