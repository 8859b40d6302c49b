"""k_best: brute-force ranking of all assignments, certificates, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from golden import GOLDEN, case_ids, cost_array, feasible_cases
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.assign import Assignment, RankedAssignment, k_best, solve
from tessera.errors import InfeasibleAssignmentError, InvalidInputError


def all_totals(cost: np.ndarray, maximize: bool) -> list[float]:
    """Total of every complete assignment avoiding forbidden pairs, best first."""
    c = cost.T if cost.shape[0] > cost.shape[1] else cost
    n, m = c.shape
    totals = []
    for perm in itertools.permutations(range(m), n):
        total = float(c[np.arange(n), list(perm)].sum()) if n else 0.0
        if math.isfinite(total):
            totals.append(total)
    return sorted(totals, reverse=maximize)


@st.composite
def small_problems(draw: st.DrawFn) -> tuple[np.ndarray, bool, int]:
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        cost = rng.integers(0, 4, (n, m)).astype(float)  # many equal totals
    else:
        cost = rng.normal(0, 10, (n, m))
    maximize = draw(st.booleans())
    if draw(st.booleans()):
        cost[rng.random((n, m)) < 0.3] = -np.inf if maximize else np.inf
    if draw(st.booleans()):
        cost = cost.T
    return cost, maximize, draw(st.integers(1, 40))


@settings(max_examples=60)
@given(small_problems())
def test_ranking_matches_brute_force(problem: tuple[np.ndarray, bool, int]) -> None:
    cost, maximize, k = problem
    totals = all_totals(cost, maximize)
    if not totals:
        with pytest.raises(InfeasibleAssignmentError):
            k_best(cost, k, maximize=maximize)
        return
    ranked = k_best(cost, k, maximize=maximize)
    assert len(ranked) == min(k, len(totals))  # fewer than k exist: all of them
    np.testing.assert_allclose([a.total_cost for a in ranked], totals[:k], rtol=1e-9, atol=1e-9)
    pairs = {tuple(zip(a.rows.tolist(), a.cols.tolist(), strict=True)) for a in ranked}
    assert len(pairs) == len(ranked)  # distinct
    for rank, a in enumerate(ranked, 1):
        assert a.rank == rank
        assert a.rows.size == min(cost.shape) and (np.diff(a.rows) > 0).all()
        assert len(set(a.cols.tolist())) == a.cols.size
        assert np.isfinite(cost[a.rows, a.cols]).all()
        assert a.total_cost == pytest.approx(cost[a.rows, a.cols].sum(), rel=1e-12, abs=1e-12)
        assert a.verify(cost)  # optimal within its Murty subproblem
        assert set(a.fixed) <= set(zip(a.rows.tolist(), a.cols.tolist(), strict=True))
        assert not set(a.forbidden) & set(zip(a.rows.tolist(), a.cols.tolist(), strict=True))


@pytest.mark.parametrize("case", GOLDEN, ids=case_ids(GOLDEN))
def test_golden_first_is_the_optimum(case: dict) -> None:
    cost = cost_array(case)
    if case["infeasible"]:
        with pytest.raises(InfeasibleAssignmentError, match="infeasible"):
            k_best(cost, 3, maximize=case["maximize"])
        return
    ranked = k_best(cost, 3, maximize=case["maximize"])
    assert ranked[0].total_cost == pytest.approx(case["total"], rel=1e-12)
    assert ranked[0].fixed == () and ranked[0].forbidden == ()
    assert Assignment.verify(ranked[0], cost)


@pytest.mark.parametrize("case", feasible_cases()[:6], ids=case_ids(feasible_cases()[:6]))
def test_transposing_keeps_the_ranking(case: dict) -> None:
    cost = cost_array(case)
    a = [r.total_cost for r in k_best(cost, 8, maximize=case["maximize"])]
    b = [r.total_cost for r in k_best(cost.T, 8, maximize=case["maximize"])]
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_fewer_than_k_returns_all() -> None:
    ranked = k_best(np.arange(9.0).reshape(3, 3), 100)
    assert len(ranked) == 6  # 3! assignments


def test_second_best_is_not_globally_optimal() -> None:
    """The plain certificate rejects rank 2; the subproblem certificate accepts it."""
    cost = np.array([[1.0, 5.0], [5.0, 1.0]])
    first, second = k_best(cost, 2)
    assert second.total_cost == 10.0 and isinstance(second, RankedAssignment)
    assert second.verify(cost)
    assert not Assignment.verify(second, cost)
    assert "rank=2" in repr(second)


def test_larger_problem_starts_with_solve() -> None:
    cost = np.random.default_rng(4).integers(0, 50, (12, 15)).astype(float)
    ranked = k_best(cost, 25)
    totals = [a.total_cost for a in ranked]
    assert totals[0] == solve(cost).total_cost
    assert totals == sorted(totals)
    assert all(a.verify(cost) for a in ranked)


def test_adding_a_constant_to_a_row_shifts_every_total() -> None:
    cost = np.random.default_rng(6).random((5, 5))
    shifted = cost.copy()
    shifted[3] += 2.0
    a = [r.total_cost for r in k_best(cost, 15)]
    b = [r.total_cost for r in k_best(shifted, 15)]
    np.testing.assert_allclose(np.array(a) + 2.0, b, rtol=1e-12)


@pytest.mark.parametrize("k", [0, -2])
def test_k_below_one(k: int) -> None:
    with pytest.raises(InvalidInputError, match=rf"k={k} is invalid: it must be >= 1"):
        k_best([[1.0]], k)


@pytest.mark.parametrize("k", [1.5, "3", True])
def test_k_not_an_int(k: object) -> None:
    with pytest.raises(InvalidInputError, match="k=.* it must be an integer"):
        k_best([[1.0]], k)  # type: ignore[arg-type]


def test_bad_matrix_is_refused_like_solve() -> None:
    with pytest.raises(InvalidInputError, match="NaN"):
        k_best([[1.0, np.nan]], 2)


def test_infeasible_names_a_hall_violator() -> None:
    with pytest.raises(InfeasibleAssignmentError, match=r"rows \[0, 1\]"):
        k_best([[1.0, np.inf, np.inf], [2.0, np.inf, np.inf], [3.0, 4.0, 5.0]], 2)


def test_the_best_of_a_constant_matrix_is_scipys_identity() -> None:
    ranked = k_best(np.full((4, 4), 2.5), 3)
    assert ranked[0].cols.tolist() == [0, 1, 2, 3]
    assert len({tuple(a.cols.tolist()) for a in ranked}) == 3
    assert all(a.total_cost == 10.0 for a in ranked)
