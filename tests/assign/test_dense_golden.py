"""The golden cases, solved by the dense solver, checked against brute force and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from golden import GOLDEN, brute_force, case_ids, cost_array, feasible_cases

from tessera.assign import InfeasibleAssignmentError, linear_sum_assignment, solve


def assert_hall_violator(cost: np.ndarray, maximize: bool, err: InfeasibleAssignmentError) -> None:
    """The rows named by the error really reach only the columns it names, and too few."""
    allowed = np.isfinite(cost)
    if err.axis == "cols":
        allowed = allowed.T
    else:
        assert err.axis == "rows"
    rows = list(err.rows)
    assert rows, "the error must name the violating set"
    reach = np.flatnonzero(allowed[rows].any(axis=0)).tolist()
    assert reach == list(err.reachable_cols)
    assert len(reach) < len(rows)
    # The message shows them, so the user can see why.
    assert str(rows[: min(len(rows), 20)])[1:-1] in str(err)


@pytest.mark.parametrize("case", GOLDEN, ids=case_ids(GOLDEN))
def test_golden_values_are_right(case: dict) -> None:
    """The golden totals themselves agree with brute force and with scipy."""
    cost = cost_array(case)
    assert brute_force(cost, case["maximize"]) == case["total"]
    if case["infeasible"]:
        with pytest.raises(ValueError, match="infeasible"):
            scipy.optimize.linear_sum_assignment(cost, maximize=case["maximize"])
    else:
        r, c = scipy.optimize.linear_sum_assignment(cost, maximize=case["maximize"])
        assert cost[r, c].sum() == pytest.approx(case["total"], rel=1e-12)


@pytest.mark.parametrize("transpose", [False, True], ids=["as_is", "transposed"])
@pytest.mark.parametrize("case", feasible_cases(), ids=case_ids(feasible_cases()))
def test_golden_feasible(case: dict, transpose: bool) -> None:
    cost = cost_array(case)
    if transpose:
        cost = cost.T
    maximize = case["maximize"]
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    assert cost[rows, cols].sum() == pytest.approx(case["total"], rel=1e-12)
    result = solve(cost, maximize=maximize)
    assert result.total_cost == pytest.approx(case["total"], rel=1e-12)
    assert np.array_equal(result.rows, rows) and np.array_equal(result.cols, cols)
    assert result.verify(cost)
    assert result.dual_objective() == pytest.approx(case["total"], rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("transpose", [False, True], ids=["as_is", "transposed"])
@pytest.mark.parametrize(
    "case",
    [c for c in GOLDEN if c["infeasible"]],
    ids=case_ids([c for c in GOLDEN if c["infeasible"]]),
)
def test_golden_infeasible(case: dict, transpose: bool) -> None:
    cost = cost_array(case)
    if transpose:
        cost = cost.T
    for call in (linear_sum_assignment, solve):
        with pytest.raises(InfeasibleAssignmentError, match="cost matrix is infeasible") as info:
            call(cost, maximize=case["maximize"])
        assert isinstance(info.value, ValueError)
        assert_hall_violator(cost, case["maximize"], info.value)
