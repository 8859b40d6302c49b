"""Metamorphic tests: changes that must not move the answer, and changes that move it one way."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tessera.assign import linear_sum_assignment, solve


@st.composite
def int_costs(draw, max_side: int = 8):
    n = draw(st.integers(1, max_side))
    m = draw(st.integers(1, max_side))
    return draw(arrays(np.int64, (n, m), elements=st.integers(-500, 500)))


@st.composite
def unique_optimum_costs(draw, max_side: int = 8):
    """Floats from a seeded generator: ties have probability zero, so the optimum is unique."""
    n = draw(st.integers(1, max_side))
    m = draw(st.integers(1, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.random((n, m))


def total(cost: np.ndarray, maximize: bool = False) -> float:
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    return float(np.asarray(cost, dtype=np.float64)[rows, cols].sum())


@settings(max_examples=60)
@given(cost=unique_optimum_costs(), seed=st.integers(0, 2**32 - 1), maximize=st.booleans())
def test_permuting_rows_and_cols_permutes_the_answer(
    cost: np.ndarray, seed: int, maximize: bool
) -> None:
    rng = np.random.default_rng(seed)
    p = rng.permutation(cost.shape[0])
    q = rng.permutation(cost.shape[1])
    base = solve(cost, maximize=maximize)
    moved = solve(cost[p][:, q], maximize=maximize)
    assert math.isclose(moved.total_cost, base.total_cost, rel_tol=1e-12, abs_tol=1e-12)
    # Row p[i] of the original is row i of the permuted problem, column q[j] likewise.
    pairs = {(int(p[i]), int(q[j])) for i, j in zip(moved.rows, moved.cols, strict=True)}
    assert pairs == set(zip(base.rows.tolist(), base.cols.tolist(), strict=True))


@settings(max_examples=60)
@given(cost=int_costs(), seed=st.integers(0, 2**32 - 1), maximize=st.booleans())
def test_permuting_keeps_the_cost_with_ties(cost: np.ndarray, seed: int, maximize: bool) -> None:
    rng = np.random.default_rng(seed)
    permuted = cost[rng.permutation(cost.shape[0])][:, rng.permutation(cost.shape[1])]
    assert total(permuted, maximize) == total(cost, maximize)


@settings(max_examples=60)
@given(cost=int_costs(), shift=st.integers(-1000, 1000), data=st.data())
def test_adding_a_constant_to_a_line_adds_it_to_the_cost(
    cost: np.ndarray, shift: int, data: st.DataObject
) -> None:
    """Every line of the smaller side is assigned once, so its shift lands in the total."""
    n, m = cost.shape
    shifted = cost.copy()
    if n <= m:
        shifted[data.draw(st.integers(0, n - 1)), :] += shift
    else:
        shifted[:, data.draw(st.integers(0, m - 1))] += shift
    assert total(shifted) == total(cost) + shift
    assert total(shifted, True) == total(cost, True) + shift


@settings(max_examples=60)
@given(cost=int_costs(), factor=st.integers(1, 1000), maximize=st.booleans())
def test_scaling_scales_the_cost(cost: np.ndarray, factor: int, maximize: bool) -> None:
    assert total(cost * factor, maximize) == factor * total(cost, maximize)


@settings(max_examples=60)
@given(cost=int_costs(), maximize=st.booleans())
def test_negative_scaling_swaps_min_and_max(cost: np.ndarray, maximize: bool) -> None:
    assert total(-cost, not maximize) == -total(cost, maximize)


@settings(max_examples=60)
@given(cost=int_costs(), maximize=st.booleans())
def test_transposing_keeps_the_cost(cost: np.ndarray, maximize: bool) -> None:
    assert total(cost.T, maximize) == total(cost, maximize)


@settings(max_examples=40)
@given(cost=int_costs(), maximize=st.booleans())
def test_raising_an_unused_entry_keeps_the_answer(cost: np.ndarray, maximize: bool) -> None:
    """Making an unassigned pair worse (costlier, or cheaper when maximising) changes nothing."""
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    unused = np.ones(cost.shape, bool)
    unused[rows, cols] = False
    if not unused.any():
        return
    worse = cost.copy()
    i, j = np.argwhere(unused)[0]
    worse[i, j] += -10_000 if maximize else 10_000
    assert total(worse, maximize) == total(cost, maximize)
