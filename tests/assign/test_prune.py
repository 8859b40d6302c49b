"""Candidate pruning with a dual certificate: never a wrong answer, taken where it pays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment as scipy_lsa

from tessera.assign import _prune, solve
from tessera.assign._dense import PRUNE_MIN_SIZE


def _family(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "floats":
        return rng.random((n, n))
    if kind == "ints":
        return rng.integers(0, 1000, (n, n)).astype(np.int32)
    if kind == "ties":
        return rng.integers(0, 3, (n, n)).astype(np.int32)
    if kind == "float32":
        return rng.normal(size=(n, n)).astype(np.float32)
    if kind == "offsets":  # column offsets dwarf the differences between rows
        return rng.random((n, n)) + 100.0 * rng.random(n)[None, :]
    if kind == "geometric":
        a, b = rng.random((2, n, 1)), rng.random((2, 1, n))
        return np.hypot(a[0] - b[0], a[1] - b[1])
    if kind == "forbidden":
        c = rng.random((n, n))
        c[rng.random((n, n)) < 0.5] = np.inf
        c[np.arange(n), rng.permutation(n)] = rng.random(n)  # keeps it feasible
        return c
    if kind == "outer":  # a_i * b_j: the optimum sits far from every row's cheapest pairs
        return np.outer(rng.permutation(n) + 1.0, rng.permutation(n) + 1.0)
    raise AssertionError(kind)


KINDS = ["floats", "ints", "ties", "float32", "offsets", "geometric", "forbidden", "outer"]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    n=st.integers(1, 40),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_certified_answer_is_optimal(kind: str, n: int, k: int, seed: int) -> None:
    c = _family(kind, n, np.random.default_rng(seed))
    x = np.empty(n, np.int64)
    y = np.empty(n, np.int64)
    v = np.empty(n)
    if not _prune.solve_pruned(c, x, y, v, k):
        return  # the caller solves densely; nothing was claimed
    cf = c.astype(np.float64)
    rows, cols = scipy_lsa(cf)
    best = cf[rows, cols].sum()
    assert sorted(x.tolist()) == list(range(n))
    assert (y[x] == np.arange(n)).all()
    assert cf[np.arange(n), x].sum() == pytest.approx(best, rel=1e-12, abs=1e-9)
    u = cf[np.arange(n), x] - v[x]
    finite = np.isfinite(cf)
    reduced = np.where(finite, cf - u[:, None] - v[None, :], np.inf)
    assert reduced.min() >= -1e-12 * max(1.0, np.abs(cf[finite]).max())


@pytest.mark.parametrize(
    ("kind", "n"),
    [("floats", 600), ("ints", 600), ("ties", 600), ("float32", 600), ("offsets", 600)]
    # Nearby points compete for the same columns: more candidates, so larger n.
    + [("geometric", 1500)],
)
def test_pruning_certifies_the_common_families(kind: str, n: int) -> None:
    # The point of pruning: these are solved on candidates, not densely.
    c = _family(kind, n, np.random.default_rng(7))
    x, y, v = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n)
    assert _prune.solve_pruned(c, x, y, v, _prune.CANDIDATES_PER_ROW)
    cf = c.astype(np.float64)
    rows, cols = scipy_lsa(cf)
    assert cf[np.arange(n), x].sum() == pytest.approx(cf[rows, cols].sum(), rel=1e-12)


def test_a_structured_matrix_falls_back_to_the_dense_solver() -> None:
    n = PRUNE_MIN_SIZE
    i = np.arange(1, n + 1, dtype=np.float64)
    c = np.outer(i, i)
    x, y, v = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n)
    assert not _prune.solve_pruned(c, x, y, v, _prune.CANDIDATES_PER_ROW)
    result = solve(c)  # the public path still answers, densely
    assert result.cols.tolist() == list(range(n - 1, -1, -1))
    assert result.verify(c)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("maximize", [False, True])
def test_solve_above_the_pruning_size_matches_scipy(kind: str, maximize: bool) -> None:
    c = _family(kind, PRUNE_MIN_SIZE + 13, np.random.default_rng(11))
    if maximize and kind == "forbidden":
        c = np.where(np.isinf(c), -np.inf, c)
    result = solve(c, maximize=maximize)
    cf = c.astype(np.float64)
    rows, cols = scipy_lsa(cf, maximize=maximize)
    assert result.total_cost == pytest.approx(cf[rows, cols].sum(), rel=1e-12)
    assert result.verify(c)


def test_an_entirely_forbidden_column_is_left_to_the_dense_solver() -> None:
    c = np.random.default_rng(3).random((PRUNE_MIN_SIZE, PRUNE_MIN_SIZE))
    c[:, 5] = np.inf
    x, y, v = (np.empty(c.shape[0], np.int64), np.empty(c.shape[0], np.int64), np.empty(c.shape[0]))
    assert not _prune.solve_pruned(c, x, y, v, _prune.CANDIDATES_PER_ROW)
