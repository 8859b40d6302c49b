"""One test per bad input: the error type, and a message that names the problem and the fix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from tessera.assign import InfeasibleAssignmentError, linear_sum_assignment, solve
from tessera.errors import InvalidInputError, InvalidTypeError, TesseraError

SOLVERS = [linear_sum_assignment, solve]
inf = np.inf
NAME = "cost(_matrix)?"  # solve says cost, the scipy drop-in cost_matrix


@pytest.fixture(params=SOLVERS, ids=["linear_sum_assignment", "solve"])
def solver(request: pytest.FixtureRequest):
    return request.param


def test_nan(solver) -> None:
    cost = np.array([[1.0, 2.0], [np.nan, 3.0]])
    with pytest.raises(InvalidInputError, match=rf"invalid numeric entries: {NAME}\[1, 0\] is NaN"):
        solver(cost)
    with pytest.raises(ValueError, match="invalid numeric entries"):  # scipy says the same
        scipy.optimize.linear_sum_assignment(cost)


def test_minus_inf(solver) -> None:
    with pytest.raises(InvalidInputError, match=rf"{NAME}\[0, 1\] is -inf.*\+inf to forbid a pair"):
        solver([[1.0, -inf], [2.0, 3.0]])


def test_plus_inf_with_maximize(solver) -> None:
    with pytest.raises(InvalidInputError, match=rf"{NAME}\[1, 1\] is \+inf with maximize=True"):
        solver([[1.0, 2.0], [2.0, inf]], maximize=True)


def test_minus_inf_is_a_forbidden_pair_when_maximizing(solver) -> None:
    rows, cols = tuple(solver([[-inf, 1.0], [5.0, -inf]], maximize=True))
    assert cols.tolist() == [1, 0]


def test_strings_in_a_list_are_a_value_error_like_scipy(solver) -> None:
    # scipy converts a list entry by entry with float(): "could not convert string to float".
    with pytest.raises(InvalidInputError, match=r"non-numeric entries.*'a'.*Convert the matrix"):
        solver([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match="could not convert string to float"):
        scipy.optimize.linear_sum_assignment([["a", "b"], ["c", "d"]])


def test_numeric_strings_and_decimals_in_a_list_are_numbers_like_scipy(solver) -> None:
    from decimal import Decimal

    for cost in ([["1", "5"], ["5", "1"]], [[Decimal(1), Decimal(5)], [Decimal(5), Decimal(1)]]):
        rows, cols = tuple(solver(cost))
        assert cols.tolist() == [0, 1] == scipy.optimize.linear_sum_assignment(cost)[1].tolist()


@pytest.mark.parametrize(
    "cost",
    [
        np.array([["1", "5"], ["5", "1"]]),
        np.array([["a", "b"], ["c", "d"]]),
        np.array([[1, 5], [5, 1]], dtype=object),
        np.array([[object(), 1], [1, 1]], dtype=object),
        np.ones((2, 2), dtype=np.longdouble),
        np.ones((2, 2), dtype="datetime64[s]"),
    ],
    ids=["numeric-str", "str", "object-int", "object", "longdouble", "datetime"],
)
def test_arrays_that_do_not_cast_safely_to_float64_are_a_type_error_like_scipy(
    solver, cost: np.ndarray
) -> None:
    with pytest.raises(InvalidTypeError, match=r"Cannot cast array data from dtype\(.*'safe'"):
        solver(cost)
    with pytest.raises(TypeError, match="Cannot cast array data"):
        scipy.optimize.linear_sum_assignment(cost)


def test_complex(solver) -> None:
    with pytest.raises(InvalidTypeError, match=rf"complex dtype complex128.*{NAME}\.real") as info:
        solver(np.array([[1 + 2j, 3], [4, 5]]))
    assert isinstance(info.value, TypeError) and isinstance(info.value, TesseraError)


def test_ragged_list(solver) -> None:
    with pytest.raises(InvalidInputError, match="rectangular numeric matrix.*equal-length rows"):
        solver([[1, 2], [3]])


@pytest.mark.parametrize("shape", [(3,), (2, 2, 2), ()], ids=["1d", "3d", "0d"])
def test_wrong_number_of_dimensions(solver, shape: tuple[int, ...]) -> None:
    cost = np.ones(shape)
    with pytest.raises(
        InvalidInputError, match=rf"expected a matrix \(2-D array\), got a {len(shape)}-D"
    ):
        solver(cost)


@pytest.mark.parametrize("shape", [(0, 0), (0, 4), (4, 0)])
def test_empty_shapes_return_empty_like_scipy(shape: tuple[int, int]) -> None:
    expected = scipy.optimize.linear_sum_assignment(np.zeros(shape))
    rows, cols = linear_sum_assignment(np.zeros(shape))
    for got, want in zip((rows, cols), expected, strict=True):
        assert got.shape == want.shape == (0,) and got.dtype == want.dtype
    result = solve(np.zeros(shape))
    assert result.total_cost == 0.0 and result.verify(np.zeros(shape))
    assert result.row_potentials.shape == (shape[0],)
    assert result.col_potentials.shape == (shape[1],)


def test_all_inf_row(solver) -> None:
    with pytest.raises(
        InfeasibleAssignmentError, match=r"rows \[1\] \(1 of them\).*columns \[\]"
    ) as e:
        solver([[1.0, 2.0, 3.0], [inf, inf, inf], [4.0, 5.0, 6.0]])
    assert e.value.rows == (1,) and e.value.reachable_cols == () and e.value.axis == "rows"


def test_all_inf_column(solver) -> None:
    cost = np.array([[1.0, inf], [2.0, inf]])
    with pytest.raises(InfeasibleAssignmentError, match=r"cost matrix is infeasible") as info:
        solver(cost)
    err = info.value
    # Rows 0 and 1 can only use column 0: a Hall violator.
    assert err.rows == (0, 1) and err.reachable_cols == (0,)


def test_all_inf_column_of_a_tall_matrix_names_columns(solver) -> None:
    """In a tall matrix every column must be used; an all-inf column is the violator."""
    cost = np.array([[inf, 1.0], [inf, 2.0], [inf, 3.0]])
    with pytest.raises(
        InfeasibleAssignmentError, match=r"columns \[0\] \(1 of them\).*rows \[\]"
    ) as e:
        solver(cost)
    assert e.value.axis == "cols" and e.value.rows == (0,) and e.value.reachable_cols == ()


def test_infeasible_names_a_real_hall_violator(solver) -> None:
    """Rows 0, 2 and 4 can only reach columns 1 and 3: the error says so, and it is true."""
    rng = np.random.default_rng(7)
    cost = rng.integers(1, 9, (6, 6)).astype(float)
    cost[[0, 2, 4]] = inf
    cost[0, 1] = cost[2, 3] = cost[4, 1] = cost[4, 3] = 1.0
    with pytest.raises(InfeasibleAssignmentError) as info:
        solver(cost)
    err = info.value
    assert err.axis == "rows"
    rows, reach = list(err.rows), list(err.reachable_cols)
    assert len(reach) < len(rows)
    assert np.flatnonzero(np.isfinite(cost[rows]).any(axis=0)).tolist() == reach
    assert set(rows) >= {0, 2, 4} or set(rows) <= {0, 2, 4}
    assert f"rows {rows}" in str(err) and f"columns {reach}" in str(err)
    assert "Make more of these pairs finite" in str(err)


@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0], ids=repr)
def test_maximize_must_be_a_bool_in_solve(value: object) -> None:
    with pytest.raises(InvalidInputError, match=r"maximize=.* must be a bool"):
        solve([[1.0]], maximize=value)


@pytest.mark.parametrize("value", [1, 0, "yes", "", None, 1.0, 0.0, [], np.int8(1)], ids=repr)
def test_maximize_is_read_by_truth_value_in_linear_sum_assignment(value: object) -> None:
    cost = [[1.0, 2.0], [3.0, 5.0]]
    ours = linear_sum_assignment(cost, maximize=value)
    theirs = scipy.optimize.linear_sum_assignment(cost, maximize=value)  # type: ignore[arg-type]
    assert [a.tolist() for a in ours] == [a.tolist() for a in theirs]
    assert ours[1].tolist() == ([0, 1] if value else [1, 0])


def test_maximize_accepts_numpy_bool(solver) -> None:
    rows, cols = tuple(solver([[1.0, 2.0], [3.0, 5.0]], maximize=np.bool_(True)))
    assert cols.tolist() == [0, 1]


def test_errors_are_value_errors_like_scipy() -> None:
    """Code written for scipy (``except ValueError``) keeps working."""
    for bad in ([[np.nan]], [[-inf]], [[inf]], np.ones(3)):
        with pytest.raises(ValueError):
            linear_sum_assignment(bad)
