"""The scipy drop-in contract: same return types, dtypes and shapes on every input layout."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.optimize

import tessera.assign
from tessera.assign import Assignment, linear_sum_assignment, solve

RNG = np.random.default_rng(20261127)
BASE = RNG.integers(0, 50, (7, 11))

INPUTS = {
    "list_of_lists": BASE.tolist(),
    "tuple_of_tuples": tuple(tuple(r) for r in BASE.tolist()),
    "int64": BASE,
    "int32": BASE.astype(np.int32),
    "uint8": BASE.astype(np.uint8),
    "float32": BASE.astype(np.float32),
    "float64": BASE.astype(np.float64),
    "bool": BASE > 25,
    "fortran_order": np.asfortranarray(BASE),
    "non_contiguous": np.repeat(BASE, 2, axis=1)[:, ::2],
    "transposed_view": np.ascontiguousarray(BASE.T).T,
    "tall": BASE.T,
    "reversed_strides": BASE[::-1, ::-1],
    "read_only": np.frombuffer(BASE.tobytes(), dtype=BASE.dtype).reshape(BASE.shape),
}


@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
@pytest.mark.parametrize("name", list(INPUTS))
def test_same_as_scipy(name: str, maximize: bool) -> None:
    cost = INPUTS[name]
    before = np.array(cost, copy=True)
    want_rows, want_cols = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    for got, want in zip((rows, cols), (want_rows, want_cols), strict=True):
        assert type(got) is np.ndarray
        assert got.dtype == want.dtype and got.shape == want.shape and got.ndim == 1
    assert np.array_equal(rows, np.sort(rows))
    arr = np.asarray(cost, dtype=np.float64)
    assert arr[rows, cols].sum() == arr[want_rows, want_cols].sum()
    assert np.array_equal(np.asarray(cost), before), "the input must not be modified"


def test_square_rows_are_arange() -> None:
    rows, _ = linear_sum_assignment(RNG.random((9, 9)))
    assert rows.tolist() == list(range(9))


def test_tall_rows_are_sorted_and_cover_every_column() -> None:
    rows, cols = linear_sum_assignment(RNG.random((12, 5)))
    assert np.all(np.diff(rows) > 0) and sorted(cols.tolist()) == list(range(5))


def test_solve_result_is_frozen_and_unpacks() -> None:
    cost = RNG.random((4, 6))
    result = solve(cost)
    assert isinstance(result, Assignment)
    rows, cols = result
    assert np.array_equal(rows, result.rows) and np.array_equal(cols, result.cols)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.total_cost = 0.0  # type: ignore[misc]
    assert result.rows.dtype == np.int64 and result.row_potentials.dtype == np.float64
    assert result.row_potentials.shape == (4,) and result.col_potentials.shape == (6,)
    assert isinstance(result.total_cost, float)
    assert "Assignment(total_cost=" in repr(result)


def test_maximize_result_keeps_the_original_sign() -> None:
    cost = np.array([[1.0, 9.0], [8.0, 2.0]])
    result = solve(cost, maximize=True)
    assert result.total_cost == 17.0 and result.maximize and result.verify(cost)
    assert result.dual_objective() == pytest.approx(17.0)


def test_public_surface() -> None:
    assert tessera.assign.__all__ == sorted(tessera.assign.__all__)
    for name in ("Assignment", "InfeasibleAssignmentError", "linear_sum_assignment", "solve"):
        assert name in tessera.assign.__all__
    public = {n for n in dir(tessera.assign) if not n.startswith("_")}
    assert set(tessera.assign.__all__) <= public


@pytest.mark.parametrize(
    ("n", "m", "kind"),
    [
        (200, 200, "int"),
        (300, 300, "float"),
        (250, 400, "int"),
        (400, 250, "float"),
        (500, 500, "ties"),
        (300, 300, "structured"),
    ],
)
def test_larger_random_problems_match_scipy(n: int, m: int, kind: str) -> None:
    """Quick stress at sizes where the solver's heuristics (ARR, transfers) really run."""
    rng = np.random.default_rng(n * 1000 + m)
    if kind == "int":
        cost = rng.integers(0, 1000, (n, m)).astype(np.float64)
    elif kind == "float":
        cost = rng.random((n, m))
    elif kind == "ties":
        cost = rng.integers(0, 10, (n, m)).astype(np.float64)
    else:
        cost = np.outer(np.arange(1, n + 1), np.arange(1, m + 1)).astype(np.float64)
    for maximize in (False, True):
        want_rows, want_cols = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
        want = cost[want_rows, want_cols].sum()
        result = solve(cost, maximize=maximize)
        assert result.total_cost == pytest.approx(want, rel=1e-12, abs=1e-9)
        assert result.verify(cost)


def test_first_parameter_is_scipys_cost_matrix() -> None:
    rows, cols = linear_sum_assignment(cost_matrix=BASE, maximize=True)
    expected = scipy.optimize.linear_sum_assignment(cost_matrix=BASE, maximize=True)
    assert [rows.tolist(), cols.tolist()] == [a.tolist() for a in expected]


@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (3, 5), (5, 3), (1, 4), (4, 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
@pytest.mark.parametrize("maximize", [False, True])
def test_constant_matrix_gives_the_identity_like_scipy(
    shape: tuple[int, int], dtype: type, maximize: bool
) -> None:
    """scipy answers a constant matrix with the identity (its issue #11602); so do we."""
    cost = np.full(shape, 3 if dtype is not np.bool_ else 1, dtype=dtype)
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    expected = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
    assert [rows.tolist(), cols.tolist()] == [a.tolist() for a in expected]
    k = min(shape)
    assert rows.tolist() == cols.tolist() == list(range(k))
    result = solve(cost, maximize=maximize)
    assert result.cols.tolist() == list(range(k)) and result.verify(cost)


@pytest.mark.parametrize("where", [(0, 0), (0, 1), (7, 7), (7, 0)])
def test_one_entry_off_a_constant_matrix_is_still_optimal(where: tuple[int, int]) -> None:
    """The identity shortcut applies only when every entry is equal."""
    for delta in (-1.0, 1.0):
        cost = np.ones((8, 8))
        cost[where] += delta
        result = solve(cost)
        assert result.verify(cost)
        rows, cols = scipy.optimize.linear_sum_assignment(cost)
        assert result.total_cost == cost[rows, cols].sum()


@pytest.mark.parametrize("dtype", ["int16", "uint16", "int32", "uint32", "int64", "uint64"])
@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
def test_integer_edges_same_total_as_scipy(dtype: str, maximize: bool) -> None:
    """Entries at the edges of int32 (where the compact int32 copy stops fitting)."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(7)
    edges = [info.min, info.min + 1, -(2**31), -(2**31) + 1, 2**31 - 1, 2**31, info.max]
    values = np.array([e for e in edges if info.min <= e <= info.max], dtype=dtype)
    for _ in range(20):
        cost = rng.choice(values, size=(4, 5)).astype(dtype)
        rows, cols = linear_sum_assignment(cost, maximize=maximize)
        want_rows, want_cols = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
        as_float = cost.astype(np.float64)
        assert as_float[rows, cols].sum() == as_float[want_rows, want_cols].sum()
