"""min_weight_full_bipartite_matching: scipy's contract, checked against scipy itself."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import min_weight_full_bipartite_matching as scipy_matching

from tessera.assign import min_weight_full_bipartite_matching, solve_sparse
from tessera.errors import InfeasibleAssignmentError, InvalidInputError, InvalidTypeError

ZERO_WARNING = "explicit zero weights are removed before matching"


def outcome(function: Any, graph: Any, maximize: bool) -> tuple[str, Any, Any]:
    """('ok', row_ind, col_ind) or ('error', class name, message); warnings are recorded."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            row_ind, col_ind = function(graph, maximize=maximize)
        except (ValueError, TypeError) as err:
            return "error", type(err).__mro__, [str(w.message) for w in seen]
    return "ok", (row_ind, col_ind), [str(w.message) for w in seen]


def total(graph: Any, row_ind: np.ndarray, col_ind: np.ndarray) -> float:
    return float(sp.csr_array(graph)[row_ind, col_ind].sum()) if row_ind.size else 0.0


def random_graph(rng: np.random.Generator, fmt: str, index_dtype: Any = np.int32) -> Any:
    n, m = int(rng.integers(0, 9)), int(rng.integers(0, 9))
    density = float(rng.uniform(0.1, 0.9))
    k = int(rng.binomial(n * m, density)) if n * m else 0
    # int32 indices: scipy 1.17 fails on int64 ones in CSC and tall COO graphs
    # (see test_int64_indices_are_answered).
    row = rng.integers(0, max(n, 1), size=k).astype(index_dtype)
    col = rng.integers(0, max(m, 1), size=k).astype(index_dtype)  # repeats: scipy sums them
    weight = rng.integers(-5, 6, size=k).astype(float)  # zeros happen: scipy drops them
    if rng.random() < 0.3:
        weight = rng.normal(size=k)
    coo = sp.coo_array((weight, (row, col)), shape=(n, m))
    return coo if fmt == "coo" else coo.asformat(fmt)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("maximize", [False, True])
def test_same_verdict_and_total_as_scipy_on_random_graphs(fmt: str, maximize: bool) -> None:
    rng = np.random.default_rng(18_7 + 2 * ["csr", "csc", "coo"].index(fmt) + maximize)
    feasible = infeasible = 0
    for _ in range(150):
        graph = random_graph(rng, fmt)
        theirs = outcome(scipy_matching, graph, maximize)
        ours = outcome(min_weight_full_bipartite_matching, graph, maximize)
        assert ours[0] == theirs[0], (graph.toarray(), ours, theirs)
        assert ours[2] == theirs[2]  # the same warnings
        if theirs[0] == "error":
            infeasible += 1
            assert ValueError in ours[1] and ValueError in theirs[1]
            assert InfeasibleAssignmentError in ours[1]
            continue
        feasible += 1
        (our_rows, our_cols), (their_rows, their_cols) = ours[1], theirs[1]
        assert our_rows.dtype == their_rows.dtype and our_cols.dtype == their_cols.dtype
        assert our_rows.shape == their_rows.shape == (min(graph.shape),)
        assert (np.diff(our_rows) > 0).all()
        assert total(graph, our_rows, our_cols) == pytest.approx(
            total(graph, their_rows, their_cols), abs=1e-9
        )
    assert feasible > 20 and infeasible > 20


def test_stored_zeros_are_dropped_with_scipys_warning() -> None:
    graph = sp.csr_array((np.array([0.0, 5, 5, 1]), np.array([0, 1, 0, 1]), np.array([0, 2, 4])))
    with pytest.warns(UserWarning, match=ZERO_WARNING):
        row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    assert col_ind.tolist() == [1, 0]  # (0, 0) is no edge, though the cheapest
    # solve_sparse keeps its own rule: a stored zero is a free edge.
    assert solve_sparse(graph).cols.tolist() == [0, 1]


def test_a_stored_zero_alone_leaves_no_full_matching() -> None:
    graph = sp.csr_array((np.array([0.0]), np.array([0]), np.array([0, 1])), shape=(1, 1))
    with pytest.warns(UserWarning, match=ZERO_WARNING), pytest.raises(ValueError):
        min_weight_full_bipartite_matching(graph)


@pytest.mark.parametrize("fmt", ["coo", "csr"])
def test_duplicates_are_summed(fmt: str) -> None:
    # (0, 0) is stored twice, 1 and -5: summed to -4, the identity costs 0 < 5.
    row, col = np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 0, 1])
    coo = sp.coo_array((np.array([1.0, -5, 2, 3, 4]), (row, col)), shape=(2, 2))
    graph = coo if fmt == "coo" else sp.csr_array((coo.data, col, np.array([0, 3, 5])), (2, 2))
    assert min_weight_full_bipartite_matching(graph)[1].tolist() == [0, 1]
    with pytest.raises(InvalidInputError, match="more than once"):
        solve_sparse(coo)  # solve_sparse's own rule is unchanged


def test_a_sum_of_zero_stays_an_edge_as_in_scipy() -> None:
    row, col = np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 0, 1])
    graph = sp.coo_array((np.array([1.0, -1, 2, 3, 4]), (row, col)), shape=(2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = min_weight_full_bipartite_matching(graph)[1].tolist()
    assert ours == scipy_matching(graph)[1].tolist() == [0, 1]


@pytest.mark.parametrize(
    ("shape", "dtypes"),
    [
        ((2, 3), ("int64", "int32")),
        ((3, 2), ("int32", "int64")),
        ((0, 0), ("int64", "int32")),
        ((2, 0), ("int32", "int64")),
    ],
)
def test_index_dtypes_are_scipys(shape: tuple[int, int], dtypes: tuple[str, str]) -> None:
    graph = sp.csr_array(np.arange(1.0, 1 + shape[0] * shape[1]).reshape(shape))
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    assert (str(row_ind.dtype), str(col_ind.dtype)) == dtypes
    assert row_ind.size == col_ind.size == min(shape)


def test_infeasible_uses_scipys_text_and_names_the_rows() -> None:
    graph = sp.csr_array(np.array([[1.0, 0], [2, 0]]))
    with pytest.raises(InfeasibleAssignmentError, match="^no full matching exists: ") as info:
        min_weight_full_bipartite_matching(graph)
    assert info.value.rows == (0, 1) and info.value.reachable_cols == (0,)


@pytest.mark.parametrize("maximize", [1, 0, "yes", None, np.True_])
def test_maximize_is_read_by_its_truth_value(maximize: Any) -> None:
    graph = sp.csr_array(np.array([[1.0, 2], [3, 4]]))
    expected = [0, 1] if maximize else [1, 0]
    assert min_weight_full_bipartite_matching(graph, maximize)[1].tolist() == expected
    assert min_weight_full_bipartite_matching(biadjacency=graph, maximize=maximize)[1].tolist() == (
        expected
    )


def test_inf_is_a_missing_edge() -> None:
    graph = sp.csr_array(np.array([[np.inf, 1], [2, np.inf]]))
    assert min_weight_full_bipartite_matching(graph)[1].tolist() == [1, 0]
    assert min_weight_full_bipartite_matching(-graph, maximize=True)[1].tolist() == [1, 0]


@pytest.mark.parametrize(
    "graph",
    [np.eye(2), [[1.0, 2], [3, 4]], sp.lil_array(np.eye(2)), sp.dok_array(np.eye(2))],
    ids=["ndarray", "list", "lil", "dok"],
)
def test_dense_and_other_formats_raise_typeerror_as_scipy(graph: Any) -> None:
    with pytest.raises(TypeError):
        scipy_matching(graph)
    with pytest.raises(InvalidTypeError, match="graph must be"):
        min_weight_full_bipartite_matching(graph)


@pytest.mark.parametrize(
    ("entries", "maximize"),
    [
        ([[np.nan, 1], [2, 3]], False),
        ([[-np.inf, 1], [2, 3]], False),
        ([[np.inf, 1], [2, 3]], True),
    ],
)
def test_invalid_weights_raise_valueerror(entries: list[list[float]], maximize: bool) -> None:
    with pytest.raises(InvalidInputError, match="invalid edge cost"):
        min_weight_full_bipartite_matching(sp.csr_array(np.array(entries)), maximize=maximize)


def test_input_is_not_modified() -> None:
    graph = sp.coo_array(
        (np.array([0.0, 1, 1, 2]), (np.array([0, 0, 0, 1]), np.array([0, 1, 1, 0])))
    )
    before = (graph.data.copy(), graph.row.copy(), graph.col.copy())
    with pytest.warns(UserWarning, match=ZERO_WARNING):
        min_weight_full_bipartite_matching(graph)
    assert all(
        (a == b).all() for a, b in zip(before, (graph.data, graph.row, graph.col), strict=True)
    )


@pytest.mark.parametrize("fmt", ["csc", "coo"])
def test_int64_indices_are_answered(fmt: str) -> None:
    # scipy 1.17 raises "index pointer size ... should be ..." here (a CSC graph,
    # or a tall COO one, with int64 indices); the answer must not depend on them.
    rng = np.random.default_rng(7)
    for _ in range(60):
        state = rng.bit_generator.state
        narrow = random_graph(rng, fmt)
        rng.bit_generator.state = state
        wide = random_graph(rng, fmt, np.int64)
        ours = outcome(min_weight_full_bipartite_matching, wide, False)
        theirs = outcome(scipy_matching, narrow, False)
        assert ours[0] == theirs[0]
        if ours[0] == "ok":
            assert total(wide, *ours[1]) == pytest.approx(total(narrow, *theirs[1]), abs=1e-9)


def test_docstring_examples_run() -> None:
    import doctest

    from tessera.assign import _scipy_sparse

    result = doctest.testmod(_scipy_sparse, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
