"""solve_sparse: golden cases, scipy cross-checks, metamorphic relations, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from golden import GOLDEN, brute_force, case_ids, cost_array
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from tessera.assign import Assignment, SparseAssignment, solve_sparse
from tessera.errors import InfeasibleAssignmentError, InvalidInputError, InvalidTypeError


def edges_of(cost: np.ndarray, maximize: bool = False) -> tuple[np.ndarray, ...]:
    """The allowed pairs of a dense matrix as (row, col, weight), zeros included."""
    allowed = np.isfinite(cost)
    row, col = np.nonzero(allowed)
    return row, col, cost[row, col]


def as_csr(cost: np.ndarray) -> sp.csr_array:
    """A CSR graph whose stored entries are exactly the finite entries (explicit zeros kept)."""
    row, col, w = edges_of(cost)
    return sp.csr_array((w, (row, col)), shape=cost.shape)


def scipy_total(cost: np.ndarray, maximize: bool) -> float | None:
    try:
        r, c = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
    except ValueError:
        return None
    return float(cost[r, c].sum())


def assert_violator(pattern: np.ndarray, err: InfeasibleAssignmentError) -> None:
    """The named rows really have edges only to the named columns, and too few of them."""
    allowed = pattern.T if err.axis == "cols" else pattern
    rows = list(err.rows)
    assert rows
    reach = np.flatnonzero(allowed[rows].any(axis=0)).tolist()
    assert reach == list(err.reachable_cols)
    assert len(reach) < len(rows)
    assert str(rows[: min(len(rows), 20)])[1:-1] in str(err)


# -- golden cases, shared with the dense and batch solvers ----------------------------


@pytest.mark.parametrize("case", GOLDEN, ids=case_ids(GOLDEN))
@pytest.mark.parametrize("form", ["tuple", "csr", "csc", "coo"])
@pytest.mark.parametrize("method", ["sparse", "dense"])
def test_golden(case: dict, form: str, method: str) -> None:
    cost = cost_array(case)
    maximize = case["maximize"]
    graph: object
    kwargs: dict = {"method": method}
    if form == "tuple":
        graph = edges_of(cost)
        kwargs["shape"] = cost.shape
    else:
        graph = {"csr": sp.csr_array, "csc": sp.csc_array, "coo": sp.coo_array}[form](as_csr(cost))
    if case["infeasible"]:
        with pytest.raises(InfeasibleAssignmentError, match="infeasible") as info:
            solve_sparse(graph, maximize=maximize, **kwargs)
        assert_violator(np.isfinite(cost), info.value)
        return
    result = solve_sparse(graph, maximize=maximize, **kwargs)
    assert isinstance(result, SparseAssignment) and isinstance(result, Assignment)
    assert result.total_cost == pytest.approx(case["total"], rel=1e-12)
    assert np.all(np.diff(result.rows) > 0)
    assert result.verify(graph, shape=kwargs.get("shape"))
    assert result.verify(cost)  # the dense certificate holds too (missing edge = inf)


# -- randomized cross-checks ----------------------------------------------------------


@st.composite
def sparse_problems(draw: st.DrawFn, max_side: int = 7) -> tuple[np.ndarray, bool]:
    n = draw(st.integers(1, max_side))
    m = draw(st.integers(1, max_side))
    density = draw(st.sampled_from([0.3, 0.6, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        cost = rng.integers(-5, 6, (n, m)).astype(float)  # many ties and zeros
    else:
        cost = rng.normal(0, 100, (n, m))
    cost[rng.random((n, m)) > density] = np.inf
    return cost, draw(st.booleans())


@settings(max_examples=60)
@given(sparse_problems(), st.sampled_from(["sparse", "auto"]))
def test_matches_dense_scipy(problem: tuple[np.ndarray, bool], method: str) -> None:
    """Same optimum as scipy's dense solver on the same finite pattern, or both infeasible."""
    cost, maximize = problem
    dense = np.where(np.isfinite(cost), cost, -np.inf if maximize else np.inf)
    expected = scipy_total(dense, maximize)
    graph = edges_of(cost)
    if expected is None:
        with pytest.raises(InfeasibleAssignmentError) as info:
            solve_sparse(graph, shape=cost.shape, maximize=maximize, method=method)
        assert_violator(np.isfinite(cost), info.value)
        return
    result = solve_sparse(graph, shape=cost.shape, maximize=maximize, method=method)
    assert result.total_cost == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert result.verify(graph, shape=cost.shape)
    assert np.isfinite(cost[result.rows, result.cols]).all()


@settings(max_examples=40)
@given(st.integers(6, 16), st.sampled_from([0.25, 0.5, 1.0]), st.integers(0, 2**32 - 1))
def test_square_graphs_priced_by_the_auction_match_scipy(n: int, density: float, seed: int) -> None:
    """Square graphs with many distinct costs take the auction start; same optimum."""
    rng = np.random.default_rng(seed)
    cost = rng.uniform(-1000, 1000, (n, n))
    cost[rng.random((n, n)) > density] = np.inf
    cost[np.arange(n), rng.permutation(n)] = rng.uniform(-1000, 1000, n)  # feasible
    expected = scipy_total(cost, False)
    result = solve_sparse(as_csr(cost), method="sparse")
    assert result.total_cost == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert result.verify(as_csr(cost))


@settings(max_examples=25)
@given(sparse_problems(max_side=5))
def test_brute_force_on_tiny(problem: tuple[np.ndarray, bool]) -> None:
    cost, maximize = problem
    dense = np.where(np.isfinite(cost), cost, -np.inf if maximize else np.inf)
    best = brute_force(dense, maximize)
    if best is None:
        with pytest.raises(InfeasibleAssignmentError):
            solve_sparse(as_csr(cost), maximize=maximize, method="sparse")
    else:
        result = solve_sparse(as_csr(cost), maximize=maximize, method="sparse")
        assert result.total_cost == pytest.approx(best, rel=1e-9, abs=1e-9)


def random_graph(n: int, m: int, degree: int, seed: int, kind: str = "uniform") -> sp.csr_array:
    """Random bipartite graph with a guaranteed full matching.

    ``kind``: weights uniform in [1, 1000), ``ties`` (integers 1..5, few
    distinct values), or ``outliers`` (1e12 plus uniform, 1% of them doubled).
    """
    rng = np.random.default_rng(seed)
    k = min(n, m)
    rows = np.concatenate([np.repeat(np.arange(n), degree), rng.permutation(n)[:k]])
    cols = np.concatenate([rng.integers(0, m, n * degree), rng.permutation(m)[:k]])
    weights = rng.uniform(1, 1000, rows.size)
    if kind == "ties":
        weights = rng.integers(1, 6, rows.size).astype(float)
    elif kind == "outliers":
        weights = 1e12 + weights
        weights[rng.random(rows.size) < 0.01] *= 2
    graph = sp.coo_array((weights, (rows, cols)), shape=(n, m)).tocsr()
    graph.sum_duplicates()
    return graph


@pytest.mark.parametrize(
    ("shape", "kind"),
    [
        ((2000, 2000), "uniform"),  # auction start
        ((2000, 2000), "ties"),  # column reduction start
        ((2000, 2000), "outliers"),  # eps from the typical spread, not the largest
        ((1500, 2000), "uniform"),
        ((2000, 1500), "uniform"),
    ],
)
def test_larger_graphs_match_scipy_sparse(shape: tuple[int, int], kind: str) -> None:
    graph = random_graph(*shape, degree=5, seed=sum(shape), kind=kind)
    r, c = min_weight_full_bipartite_matching(graph)
    result = solve_sparse(graph)
    assert result.total_cost == pytest.approx(float(graph[r, c].sum()), rel=1e-12)
    assert result.verify(graph)
    maxed = solve_sparse(graph, maximize=True)
    r, c = min_weight_full_bipartite_matching(graph, maximize=True)
    assert maxed.total_cost == pytest.approx(float(graph[r, c].sum()), rel=1e-12)
    assert maxed.verify(graph)


def test_large_infeasible_names_a_hall_violator() -> None:
    graph = random_graph(300, 300, degree=3, seed=7).tolil()
    graph[:, 5] = 0  # column 5 keeps no stored edge ...
    graph = graph.tocsr()
    graph.eliminate_zeros()
    with pytest.raises(InfeasibleAssignmentError, match="infeasible") as info:
        solve_sparse(graph)
    pattern = np.zeros(graph.shape, bool)
    pattern[graph.nonzero()] = True
    assert_violator(pattern, info.value)


# -- metamorphic relations ------------------------------------------------------------


@settings(max_examples=30)
@given(sparse_problems(), st.integers(0, 2**32 - 1))
def test_permuting_rows_and_columns_keeps_the_optimum(
    problem: tuple[np.ndarray, bool], seed: int
) -> None:
    cost, maximize = problem
    rng = np.random.default_rng(seed)
    pr, pc = rng.permutation(cost.shape[0]), rng.permutation(cost.shape[1])
    try:
        base = solve_sparse(as_csr(cost), maximize=maximize, method="sparse")
    except InfeasibleAssignmentError:
        with pytest.raises(InfeasibleAssignmentError):
            solve_sparse(as_csr(cost[pr][:, pc]), maximize=maximize, method="sparse")
        return
    moved = solve_sparse(as_csr(cost[pr][:, pc]), maximize=maximize, method="sparse")
    assert moved.total_cost == pytest.approx(base.total_cost, rel=1e-9, abs=1e-9)


@settings(max_examples=30)
@given(sparse_problems(), st.floats(-50, 50), st.data())
def test_adding_a_constant_to_a_row_adds_it_to_the_total(
    problem: tuple[np.ndarray, bool], shift: float, data: st.DataObject
) -> None:
    cost, maximize = problem
    if cost.shape[0] > cost.shape[1]:
        cost = cost.T  # every row of the smaller side is assigned
    row = data.draw(st.integers(0, cost.shape[0] - 1))
    try:
        base = solve_sparse(as_csr(cost), maximize=maximize, method="sparse")
    except InfeasibleAssignmentError:
        return
    shifted = cost.copy()
    shifted[row] += shift
    result = solve_sparse(edges_of(shifted), shape=cost.shape, maximize=maximize, method="sparse")
    assert result.total_cost == pytest.approx(base.total_cost + shift, rel=1e-9, abs=1e-7)


def test_maximize_is_minimize_of_the_negation() -> None:
    graph = random_graph(300, 400, degree=4, seed=3)
    negated = graph.copy()
    negated.data = -negated.data
    assert solve_sparse(graph, maximize=True).total_cost == pytest.approx(
        -solve_sparse(negated).total_cost, rel=1e-12
    )


# -- semantics ------------------------------------------------------------------------


def test_explicit_zero_is_an_edge_and_missing_is_forbidden() -> None:
    # Only the explicit zeros make a full matching possible.
    graph = sp.csr_array((np.array([0.0, 0.0, 5.0]), (np.array([0, 1, 0]), np.array([1, 0, 0]))))
    result = solve_sparse(graph)
    assert result.cols.tolist() == [1, 0] and result.total_cost == 0.0


def test_inf_edge_is_forbidden() -> None:
    result = solve_sparse(([0, 0, 1, 1], [0, 1, 0, 1], [np.inf, 1.0, 2.0, 9.0]))
    assert result.cols.tolist() == [1, 0] and result.total_cost == 3.0


def test_empty_graphs() -> None:
    for shape in [(0, 0), (0, 3), (3, 0)]:
        result = solve_sparse(sp.csr_array(shape))
        assert result.rows.size == 0 and result.total_cost == 0.0
        assert result.row_potentials.shape == (shape[0],)


def test_shape_is_inferred_for_the_tuple_form() -> None:
    result = solve_sparse(([0, 1], [2, 0], [1.0, 2.0]))
    assert result.col_potentials.shape == (3,) and result.total_cost == 3.0


def test_verify_rejects_a_wrong_certificate() -> None:
    graph = random_graph(50, 50, degree=3, seed=1)
    result = solve_sparse(graph)
    bad = SparseAssignment(
        rows=result.rows,
        cols=result.cols,
        total_cost=result.total_cost,
        row_potentials=result.row_potentials + 1.0,
        col_potentials=result.col_potentials,
    )
    assert not bad.verify(graph)


# -- bad input: one test each, with the message ---------------------------------------


def test_nan_edge() -> None:
    with pytest.raises(InvalidInputError, match=r"edge \(1, 0\) is NaN"):
        solve_sparse(([0, 1], [1, 0], [1.0, np.nan]))


def test_minus_inf_edge() -> None:
    with pytest.raises(InvalidInputError, match=r"edge \(0, 1\) is -inf"):
        solve_sparse(sp.csr_array(np.array([[0.0, -np.inf], [1.0, 0.0]])))


def test_plus_inf_edge_when_maximizing() -> None:
    with pytest.raises(InvalidInputError, match=r"\+inf with maximize=True"):
        solve_sparse(([0, 1], [1, 0], [np.inf, 2.0]), maximize=True)


def test_duplicate_edge_in_tuple_form() -> None:
    with pytest.raises(InvalidInputError, match=r"edge \(1, 2\) more than once"):
        solve_sparse(([0, 1, 1], [0, 2, 2], [1.0, 2.0, 3.0]))


def test_duplicate_edge_in_coo_matrix() -> None:
    coo = sp.coo_array((np.array([1.0, 2.0, 3.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))))
    with pytest.raises(InvalidInputError, match=r"sum_duplicates"):
        solve_sparse(coo)


def test_dense_array_is_refused_with_a_pointer() -> None:
    with pytest.raises(InvalidInputError, match="tessera.assign.solve"):
        solve_sparse(np.eye(3))


def test_string_weights() -> None:
    with pytest.raises(InvalidInputError, match="non-numeric"):
        solve_sparse(([0], [0], ["a"]))


def test_complex_weights() -> None:
    with pytest.raises(InvalidTypeError, match="complex"):
        solve_sparse(([0], [0], [1 + 2j]))


def test_float_indices() -> None:
    with pytest.raises(InvalidInputError, match="integer row indices"):
        solve_sparse(([0.5], [0], [1.0]))


def test_negative_index() -> None:
    with pytest.raises(InvalidInputError, match="negative column index -1"):
        solve_sparse(([0], [-1], [1.0]))


def test_index_outside_shape() -> None:
    with pytest.raises(InvalidInputError, match=r"row index 4, outside shape\[0\]=2"):
        solve_sparse(([4], [0], [1.0]), shape=(2, 2))


def test_lengths_differ() -> None:
    with pytest.raises(InvalidInputError, match="lengths 2, 2, 1"):
        solve_sparse(([0, 1], [0, 1], [1.0]))


def test_bad_shape() -> None:
    with pytest.raises(InvalidInputError, match="shape=.* pair of non-negative ints"):
        solve_sparse(([0], [0], [1.0]), shape=(2, -1))


def test_shape_disagrees_with_sparse_matrix() -> None:
    with pytest.raises(InvalidInputError, match=r"differs from graph.shape=\(2, 2\)"):
        solve_sparse(sp.csr_array(np.eye(2)), shape=(3, 3))


def test_unknown_method() -> None:
    with pytest.raises(InvalidInputError, match="method='fast' is invalid"):
        solve_sparse(sp.csr_array(np.eye(2)), method="fast")


def test_dense_graph_takes_the_dense_solver_with_the_same_answer() -> None:
    cost = np.random.default_rng(9).uniform(1, 100, (60, 80))
    cost[np.random.default_rng(10).random(cost.shape) < 0.5] = np.inf
    graph = as_csr(cost)
    auto, sparse = solve_sparse(graph), solve_sparse(graph, method="sparse")
    assert auto.total_cost == pytest.approx(sparse.total_cost, rel=1e-12)
    assert auto.verify(graph) and sparse.verify(graph)


def test_maximize_must_be_bool() -> None:
    with pytest.raises(InvalidInputError, match="maximize='yes'"):
        solve_sparse(sp.csr_array(np.eye(2)), maximize="yes")


def test_row_without_edges() -> None:
    with pytest.raises(InfeasibleAssignmentError, match=r"rows \[1\]") as info:
        solve_sparse(([0, 0], [0, 1], [1.0, 2.0]), shape=(2, 2))
    assert info.value.rows == (1,) and info.value.reachable_cols == ()
