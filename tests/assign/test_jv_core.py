"""The numba core's two search strategies and its ARR budget, each against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment as scipy_lsa

from tessera.assign import _jv


def _state(c: np.ndarray, *, init: bool) -> tuple:
    n, m = c.shape
    x = np.full(n, -1, np.int64)
    y = np.full(m, -1, np.int64)
    v = np.zeros(m)
    free = np.arange(n, dtype=np.int64)
    numfree = n
    if init and n == m:
        fws, iws, _ = _jv.workspace(n, m)
        numfree = _jv._column_reduction(c, x, y, v, free, fws, iws)
    return x, y, v, free, numfree


def _check_optimal(c: np.ndarray, x: np.ndarray, y: np.ndarray, v: np.ndarray) -> None:
    n, m = c.shape
    rows, cols = scipy_lsa(c)
    assert c[np.arange(n), x].sum() == pytest.approx(c[rows, cols].sum(), rel=1e-12, abs=1e-9)
    assert sorted(x.tolist()) == sorted(set(x.tolist())) and (x >= 0).all()
    assert (y[x] == np.arange(n)).all()
    # The implicit row potentials make every reduced cost non-negative.
    u = c[np.arange(n), x] - v[x]
    reduced = c - u[:, None] - v[None, :]
    assert reduced.min() >= -1e-9 * max(1.0, np.abs(c).max()) * (n + m)


@pytest.mark.parametrize("search", ["levels", "single"])
@pytest.mark.parametrize("init", [True, False])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_each_search_is_optimal(search: str, init: bool, data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 9), label="n")
    m = data.draw(st.integers(n, 12), label="m")
    kind = data.draw(st.sampled_from(["ints", "ties", "floats", "outer"]), label="kind")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    if kind == "ints":
        c = rng.integers(0, 1000, (n, m)).astype(float)
    elif kind == "ties":
        c = rng.integers(0, 3, (n, m)).astype(float)
    elif kind == "floats":
        c = rng.normal(size=(n, m))
    else:  # the hard structured family, a_i * b_j
        c = np.outer(rng.permutation(n) + 1.0, rng.permutation(m) + 1.0)
    x, y, v, free, numfree = _state(c, init=init)
    augment = _jv._augment_levels if search == "levels" else _jv._augment_single
    status, _ = augment(c, x, y, v, free, numfree, *_jv.workspace(n, m))
    assert status == _jv.OK
    _check_optimal(c, x, y, v)


@pytest.mark.parametrize("n", [60, 150])
def test_hard_structured_cost_takes_the_single_column_search(n: int) -> None:
    i = np.arange(1, n + 1, dtype=float)
    c = np.outer(i, i)
    x = np.empty(n, np.int64)
    y = np.empty(n, np.int64)
    v = np.empty(n)
    assert _jv._row_values_distinct(c[1], np.empty(n))
    status, _ = _jv.solve_dense(c, x, y, v)
    assert status == _jv.OK
    _check_optimal(c, x, y, v)
    # Rearrangement inequality: the optimum pairs the largest with the smallest.
    assert (x == np.arange(n)[::-1]).all()


def test_row_values_distinct() -> None:
    assert _jv._row_values_distinct(np.array([3.0, 1.0, 2.0]), np.empty(3))
    assert not _jv._row_values_distinct(np.array([3.0, 1.0, 3.0]), np.empty(3))


def test_arr_step_budget_stops_long_chains_without_losing_optimality() -> None:
    # Real-valued costs make ARR run long chains; a budget of one step must
    # still leave a consistent state that the augmentation completes.
    rng = np.random.default_rng(7)
    c = rng.random((80, 80))
    x, y, v, free, numfree = _state(c, init=True)
    numfree = _jv._augmenting_row_reduction(c, x, y, v, free, numfree, 1)
    assigned = np.flatnonzero(x >= 0)
    assert (y[x[assigned]] == assigned).all()
    assert numfree + len(assigned) == 80
    status, _ = _jv._augment_levels(c, x, y, v, free, numfree, *_jv.workspace(80, 80))
    assert status == _jv.OK
    _check_optimal(c, x, y, v)


def test_infeasible_reports_status() -> None:
    c = np.array([[1.0, np.inf], [2.0, np.inf]])
    x = np.empty(2, np.int64)
    y = np.empty(2, np.int64)
    v = np.empty(2)
    status, _ = _jv.solve_dense(c, x, y, v)
    assert status == _jv.INFEASIBLE


def test_float32_total_is_summed_in_float64() -> None:
    from tessera.assign import solve

    rng = np.random.default_rng(5)
    c = rng.random((8, 6)).astype(np.float32)
    for maximize in (False, True):
        result = solve(c, maximize=maximize)
        rows, cols = scipy_lsa(c, maximize=maximize)
        assert result.total_cost == pytest.approx(c.astype(float)[rows, cols].sum(), abs=1e-12)
        assert result.verify(c)
