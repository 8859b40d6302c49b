"""solve_batch: golden cases, per-problem scipy cross-checks, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from golden import GOLDEN, case_ids, cost_array
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.assign import Assignment, BatchAssignment, solve, solve_batch
from tessera.errors import InfeasibleAssignmentError, InvalidInputError, InvalidTypeError


def scipy_total(cost: np.ndarray, maximize: bool) -> float | None:
    try:
        r, c = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
    except ValueError:
        return None
    return float(cost[r, c].sum())


@pytest.mark.parametrize("case", GOLDEN, ids=case_ids(GOLDEN))
def test_golden(case: dict) -> None:
    """Each golden case, stacked with its row- and column-permuted copies."""
    cost = cost_array(case)
    rng = np.random.default_rng(0)
    pr, pc = rng.permutation(cost.shape[0]), rng.permutation(cost.shape[1])
    stack = np.stack([cost, cost[pr], cost[:, pc]])
    if case["infeasible"]:
        with pytest.raises(InfeasibleAssignmentError, match=r"costs\[0\] is infeasible \(3 probl"):
            solve_batch(stack, maximize=case["maximize"])
        return
    result = solve_batch(stack, maximize=case["maximize"])
    np.testing.assert_allclose(result.total_costs, case["total"], rtol=1e-12)
    assert result.verify(stack)


@st.composite
def stacks(draw: st.DrawFn) -> tuple[np.ndarray, bool]:
    b = draw(st.integers(1, 12))
    n = draw(st.integers(1, 7))
    m = draw(st.integers(1, 7))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        costs = rng.integers(0, 4, (b, n, m)).astype(float)  # ties
    else:
        costs = rng.normal(0, 10, (b, n, m))
    maximize = draw(st.booleans())
    if draw(st.booleans()):
        costs[rng.random(costs.shape) < 0.25] = -np.inf if maximize else np.inf
    return costs, maximize


@settings(max_examples=60)
@given(stacks())
def test_matches_scipy_problem_by_problem(problem: tuple[np.ndarray, bool]) -> None:
    costs, maximize = problem
    expected = [scipy_total(c, maximize) for c in costs]
    infeasible = [p for p, t in enumerate(expected) if t is None]
    if infeasible:
        with pytest.raises(InfeasibleAssignmentError, match=rf"costs\[{infeasible[0]}\]") as info:
            solve_batch(costs, maximize=maximize)
        # The named rows (or columns) of that problem really reach too few partners.
        allowed = np.isfinite(costs[infeasible[0]])
        allowed = allowed.T if info.value.axis == "cols" else allowed
        reach = np.flatnonzero(allowed[list(info.value.rows)].any(axis=0))
        assert reach.tolist() == list(info.value.reachable_cols)
        assert len(reach) < len(info.value.rows)
        return
    result = solve_batch(costs, maximize=maximize)
    np.testing.assert_allclose(result.total_costs, expected, rtol=1e-9, atol=1e-9)
    assert result.verify(costs)
    for p in range(len(costs)):
        assert (np.diff(result.rows[p]) > 0).all()
        assert result.total_costs[p] == pytest.approx(
            costs[p][result.rows[p], result.cols[p]].sum()
        )


@settings(max_examples=40)
@given(stacks())
def test_mask_marks_exactly_the_infeasible_problems(problem: tuple[np.ndarray, bool]) -> None:
    costs, maximize = problem
    expected = [scipy_total(c, maximize) for c in costs]
    result = solve_batch(costs, maximize=maximize, infeasible="mask")
    assert result.feasible is not None
    assert result.feasible.tolist() == [t is not None for t in expected]
    for p, t in enumerate(expected):
        if t is None:
            assert np.isnan(result.total_costs[p]) and (result.cols[p] == -1).all()
            with pytest.raises(InfeasibleAssignmentError, match=f"problem {p} of the batch"):
                result[p]
        else:
            assert result.total_costs[p] == pytest.approx(t, rel=1e-9, abs=1e-9)
            assert result[p].verify(costs[p])
    assert result.verify(costs)


def test_mask_verify_rejects_a_masked_problem_with_pairs() -> None:
    costs = np.zeros((3, 2, 2))
    costs[1, 0, :] = np.inf
    result = solve_batch(costs, infeasible="mask")
    assert result.feasible.tolist() == [True, False, True] and result.verify(costs)
    cols = result.cols.copy()
    cols[1] = [0, 1]
    tampered = BatchAssignment(
        result.rows,
        cols,
        result.total_costs,
        result.row_potentials,
        result.col_potentials,
        feasible=result.feasible,
    )
    assert not tampered.verify(costs)


def test_infeasible_option_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="infeasible='skip' is invalid"):
        solve_batch(np.zeros((1, 2, 2)), infeasible="skip")


def test_a_bigger_stack_agrees_with_solve() -> None:
    costs = np.random.default_rng(5).integers(0, 100, (300, 16, 16)).astype(float)
    result = solve_batch(costs)
    assert result.verify(costs)
    assert len(result) == 300
    for p in (0, 150, 299):
        single = solve(costs[p])
        assert result[p].total_cost == single.total_cost
        assert result[p].verify(costs[p])


def test_indexing_and_iteration() -> None:
    costs = np.random.default_rng(1).random((4, 3, 5))
    result = solve_batch(costs)
    assert isinstance(result, BatchAssignment)
    items = list(result)
    assert len(items) == 4 and all(isinstance(a, Assignment) for a in items)
    assert [a.total_cost for a in items] == result.total_costs.tolist()
    assert "4 problems" in repr(result)


def test_adding_a_constant_to_a_row_adds_it_to_each_total() -> None:
    costs = np.random.default_rng(2).random((50, 6, 8))
    shifted = costs.copy()
    shifted[:, 2, :] += 7.5
    np.testing.assert_allclose(
        solve_batch(shifted).total_costs, solve_batch(costs).total_costs + 7.5, rtol=1e-12
    )


def test_verify_rejects_a_tampered_certificate() -> None:
    costs = np.random.default_rng(3).random((20, 5, 5))
    result = solve_batch(costs)
    u = result.row_potentials.copy()
    u[7, 0] += 0.5
    bad = BatchAssignment(
        rows=result.rows,
        cols=result.cols,
        total_costs=result.total_costs,
        row_potentials=u,
        col_potentials=result.col_potentials,
    )
    assert not bad.verify(costs)
    assert not result.verify(costs[:19])


@pytest.mark.parametrize("shape", [(0, 3, 3), (4, 0, 3), (4, 3, 0)])
def test_empty(shape: tuple[int, int, int]) -> None:
    result = solve_batch(np.zeros(shape))
    assert result.rows.shape == (shape[0], min(shape[1:])) and result.total_costs.shape == (
        shape[0],
    )
    assert result.verify(np.zeros(shape))


# -- bad input ------------------------------------------------------------------------


def test_nan_names_the_problem() -> None:
    costs = np.zeros((5, 3, 3))
    costs[3, 1, 2] = np.nan
    with pytest.raises(InvalidInputError, match=r"costs\[3, 1, 2\] \(problem 3\) is NaN"):
        solve_batch(costs)


def test_minus_inf() -> None:
    costs = np.zeros((2, 2, 2))
    costs[1, 0, 0] = -np.inf
    with pytest.raises(InvalidInputError, match=r"costs\[1, 0, 0\] \(problem 1\) is -inf"):
        solve_batch(costs)


def test_plus_inf_when_maximizing() -> None:
    costs = np.zeros((2, 2, 2))
    costs[0, 1, 1] = np.inf
    with pytest.raises(InvalidInputError, match=r"\+inf with maximize=True"):
        solve_batch(costs, maximize=True)


def test_two_dimensional_input() -> None:
    with pytest.raises(InvalidInputError, match=r"2-D array of shape \(3, 3\).*solve"):
        solve_batch(np.eye(3))


def test_ragged_list() -> None:
    with pytest.raises(InvalidInputError, match="costs is invalid.*by shape"):
        solve_batch([np.zeros((2, 2)), np.zeros((3, 3))])


def test_strings() -> None:
    with pytest.raises(InvalidInputError, match="non-numeric"):
        solve_batch([[["a", "b"], ["c", "d"]]])


def test_complex() -> None:
    with pytest.raises(InvalidTypeError, match="complex"):
        solve_batch(np.zeros((1, 2, 2), complex))


def test_maximize_must_be_bool() -> None:
    with pytest.raises(InvalidInputError, match="maximize=1"):
        solve_batch(np.zeros((1, 2, 2)), maximize=1)


def test_infeasible_names_the_problem_and_count() -> None:
    costs = np.zeros((6, 3, 3))
    costs[2, :, 0] = np.inf  # column 0 forbidden everywhere
    costs[4, 0, :] = np.inf  # row 0 forbidden everywhere
    with pytest.raises(InfeasibleAssignmentError, match=r"costs\[2\].*2 problems.*\[2, 4\]"):
        solve_batch(costs)


@pytest.mark.parametrize("shape", [(3, 4, 4), (2, 3, 5), (2, 5, 3)])
def test_constant_problems_get_scipys_identity(shape: tuple[int, int, int]) -> None:
    costs = np.full(shape, 7.0)
    costs[0] = np.arange(shape[1] * shape[2]).reshape(shape[1:])  # one that is not constant
    result = solve_batch(costs)
    for k in range(1, shape[0]):
        rows, cols = scipy.optimize.linear_sum_assignment(costs[k])
        assert result.rows[k].tolist() == rows.tolist()
        assert result.cols[k].tolist() == cols.tolist()
    assert result.verify(costs)
