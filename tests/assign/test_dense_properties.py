"""Property tests of the dense solver: scipy and brute force as references, the certificate."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.optimize
from golden import brute_force
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tessera.assign import InfeasibleAssignmentError, linear_sum_assignment, solve

INTS = st.integers(-1000, 1000)
FLOATS = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def cost_matrices(
    draw, *, max_side: int = 9, elements=None, with_inf: bool = False, square: bool = False
):
    """Rectangular matrices in either direction; optional forbidden (inf) pairs."""
    n = draw(st.integers(1, max_side))
    m = n if square else draw(st.integers(1, max_side))
    kind = draw(st.sampled_from(["int", "float", "ties"])) if elements is None else "given"
    if kind == "int":
        c = draw(arrays(np.int64, (n, m), elements=INTS)).astype(np.float64)
    elif kind == "ties":
        c = draw(arrays(np.int64, (n, m), elements=st.integers(0, 3))).astype(np.float64)
    elif kind == "float":
        c = draw(arrays(np.float64, (n, m), elements=FLOATS))
    else:
        c = draw(arrays(np.float64, (n, m), elements=elements))
    if with_inf:
        forbid = draw(arrays(np.bool_, (n, m), elements=st.booleans()))
        c = np.where(forbid & (draw(st.integers(0, 3)) > 0), np.inf, c)
    return c


def scipy_total(cost: np.ndarray, maximize: bool) -> float | None:
    try:
        r, c = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
    except ValueError as exc:
        assert "infeasible" in str(exc)
        return None
    return float(cost[r, c].sum())


def tol(cost: np.ndarray) -> float:
    finite = cost[np.isfinite(cost)]
    return 1e-9 * max(1.0, float(np.abs(finite).max(initial=0.0))) * sum(cost.shape)


def check_against(cost: np.ndarray, maximize: bool, expected: float | None) -> None:
    """Solve both ways (tuple and certificate) and compare with ``expected``."""
    if expected is None:
        with pytest.raises(InfeasibleAssignmentError):
            solve(cost, maximize=maximize)
        with pytest.raises(InfeasibleAssignmentError):
            linear_sum_assignment(cost, maximize=maximize)
        return
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    assert len(rows) == min(cost.shape)
    assert np.all(np.diff(rows) > 0) and len(set(cols.tolist())) == len(cols)
    assert math.isclose(float(cost[rows, cols].sum()), expected, rel_tol=0, abs_tol=tol(cost))
    result = solve(cost, maximize=maximize)
    assert math.isclose(result.total_cost, expected, rel_tol=0, abs_tol=tol(cost))
    assert result.verify(cost)


@settings(max_examples=150)
@given(cost=cost_matrices(), maximize=st.booleans())
def test_matches_scipy(cost: np.ndarray, maximize: bool) -> None:
    check_against(cost, maximize, scipy_total(cost, maximize))


@settings(max_examples=100)
@given(cost=cost_matrices(with_inf=True), maximize=st.booleans())
def test_matches_scipy_with_forbidden_pairs(cost: np.ndarray, maximize: bool) -> None:
    if maximize:
        cost = np.where(np.isinf(cost), -np.inf, cost)
    check_against(cost, maximize, scipy_total(cost, maximize))


@settings(max_examples=100)
@given(cost=cost_matrices(max_side=5, with_inf=True), maximize=st.booleans())
def test_matches_brute_force(cost: np.ndarray, maximize: bool) -> None:
    if maximize:
        cost = np.where(np.isinf(cost), -np.inf, cost)
    check_against(cost, maximize, brute_force(cost, maximize))


@settings(max_examples=60)
@given(cost=cost_matrices(max_side=7), maximize=st.booleans(), data=st.data())
def test_swapped_pair_is_caught(cost: np.ndarray, maximize: bool, data: st.DataObject) -> None:
    """Swap the columns of two assigned rows: verify() is true only if the swap is optimal too."""
    result = solve(cost, maximize=maximize)
    k = len(result.rows)
    assume(k >= 2)
    a, b = data.draw(st.lists(st.integers(0, k - 1), min_size=2, max_size=2, unique=True))
    cols = result.cols.copy()
    cols[a], cols[b] = cols[b], cols[a]
    tampered = dataclasses.replace(result, cols=cols)
    swapped_total = float(cost[result.rows, cols].sum())
    still_optimal = math.isclose(swapped_total, result.total_cost, rel_tol=0, abs_tol=tol(cost))
    assert tampered.verify(cost) is still_optimal


@settings(max_examples=60)
@given(cost=cost_matrices(max_side=7), maximize=st.booleans(), data=st.data())
def test_perturbed_potential_is_caught(
    cost: np.ndarray, maximize: bool, data: st.DataObject
) -> None:
    result = solve(cost, maximize=maximize)
    n, m = cost.shape
    delta = 1.0 + 1e-3 * float(np.abs(cost).max())
    side = data.draw(st.sampled_from(["row", "col"]))
    index = data.draw(st.integers(0, (n if side == "row" else m) - 1))
    sign = data.draw(st.sampled_from([-1.0, 1.0]))
    u, v = result.row_potentials.copy(), result.col_potentials.copy()
    (u if side == "row" else v)[index] += sign * delta
    assert not dataclasses.replace(result, row_potentials=u, col_potentials=v).verify(cost)


@settings(max_examples=40)
@given(cost=cost_matrices(max_side=7), maximize=st.booleans())
def test_other_tampering_is_caught(cost: np.ndarray, maximize: bool) -> None:
    result = solve(cost, maximize=maximize)
    shift = 1.0 + 1e-3 * float(np.abs(cost).max())
    assert not dataclasses.replace(result, total_cost=result.total_cost + shift).verify(cost)
    assert not dataclasses.replace(result, rows=result.rows[:-1], cols=result.cols[:-1]).verify(
        cost
    )
    assert not result.verify(cost[:, :, None])
    if len(result.rows) >= 2:
        dup = result.cols.copy()
        dup[0] = dup[1]
        assert not dataclasses.replace(result, cols=dup).verify(cost)


@settings(max_examples=40)
@given(cost=cost_matrices(max_side=7, square=True), shift=st.integers(-50, 50))
def test_equivalent_duals_still_verify(cost: np.ndarray, shift: int) -> None:
    """Moving a constant from the column to the row potentials keeps a square certificate valid."""
    result = solve(cost)
    moved = dataclasses.replace(
        result,
        row_potentials=result.row_potentials + shift,
        col_potentials=result.col_potentials - shift,
    )
    assert moved.verify(cost)
