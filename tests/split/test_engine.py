"""The swap search: its pricing against brute force, what it must and must not change."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from tessera.split import part_indices
from tessera.split._engine import default_weights, energy_objective, pairwise
from tessera.split._kernels import exchange, row_part_sums, swap_coefficients


def energy(a: np.ndarray, b: np.ndarray) -> float:
    """The issue's definition, straight from scipy."""
    return float(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean())


def test_pairwise_matches_scipy() -> None:
    points = np.random.default_rng(0).normal(size=(40, 5))
    assert np.allclose(pairwise(points), cdist(points, points), atol=1e-9)


@settings(max_examples=25)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 4))
def test_swap_price_equals_brute_force_change(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6 * k
    points = rng.normal(size=(n, 3))
    dist = cdist(points, points)
    labels = np.repeat(np.arange(k), 6)
    rng.shuffle(labels)
    sizes = np.bincount(labels, minlength=k)
    weights = rng.random((k, k))
    weights = (weights + weights.T) / 2
    np.fill_diagonal(weights, 0)
    sums = row_part_sums(dist, labels, k)
    i = int(np.flatnonzero(labels == 0)[0])
    j = int(np.flatnonzero(labels == 1)[0])
    ci, cj, cd = swap_coefficients(weights, sizes, 0, 1)
    price = ci @ sums[i] + cj @ sums[j] + cd * dist[i, j]
    swapped = labels.copy()
    swapped[i], swapped[j] = 1, 0
    brute = energy_objective(dist, swapped, sizes, weights) - energy_objective(
        dist, labels, sizes, weights
    )
    assert price == pytest.approx(brute, abs=1e-9)


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000))
def test_exchange_lowers_the_objective_by_what_it_reports(seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(45, 3))
    dist = pairwise(points)
    labels = np.repeat([0, 1, 2], [27, 9, 9])
    rng.shuffle(labels)
    strata = np.zeros(45, dtype=np.int64)
    sizes = np.array([27, 9, 9])
    weights = default_weights(3)
    before = energy_objective(dist, labels, sizes, weights)
    result = labels.copy()
    drop = exchange(dist, result, strata, sizes, weights, 50)
    after = energy_objective(dist, result, sizes, weights)
    assert np.bincount(result, minlength=3).tolist() == [27, 9, 9]
    assert after <= before + 1e-12
    assert before - after == pytest.approx(drop, abs=1e-9)


def test_auto_beats_random_on_energy_distance() -> None:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    space = np.column_stack([X, y])
    space = (space - space.mean(0)) / space.std(0)

    def mean_energy(method: str, seed: int) -> float:
        train, val, test = part_indices(X, y, method=method, random_state=seed)
        return (energy(space[train], space[test]) + energy(space[train], space[val])) / 2

    auto = np.mean([mean_energy("auto", s) for s in range(3)])
    random = np.mean([mean_energy("random", s) for s in range(3)])
    twin = np.mean([mean_energy("twin", s) for s in range(3)])
    assert auto < 0.5 * random
    assert auto < twin


def test_rescaling_a_column_does_not_move_the_split() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 3))
    y = rng.integers(0, 2, 80)
    scaled = X * np.array([1000.0, 1.0, 0.001]) + 42.0
    a = part_indices(X, y, random_state=3)
    b = part_indices(scaled, y, random_state=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def test_a_constant_column_does_not_move_the_split() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(80, 3))
    padded = np.column_stack([X, np.full(80, 3.0)])
    a = part_indices(X, random_state=4)
    b = part_indices(padded, random_state=4)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def test_large_input_runs_in_blocks_and_stays_a_partition() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(4000, 4))
    parts = part_indices(X, sizes=(0.5, 0.3, 0.2), random_state=0)
    assert [p.size for p in parts] == [2000, 1200, 800]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(4000))


def test_seeds_give_different_splits_of_nearly_equal_quality() -> None:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    space = np.column_stack([X, y])
    space = (space - space.mean(0)) / space.std(0)
    splits, scores = [], []
    for seed in range(5):
        train, val, test = part_indices(X, y, random_state=seed)
        splits.append(tuple(test))
        scores.append((energy(space[train], space[test]) + energy(space[train], space[val])) / 2)
    assert len(set(splits)) == 5
    assert max(scores) < 1.3 * min(scores)


def test_blocks_past_the_memory_budget_are_recomputed_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The swap search gets the same distance matrices whether the walks kept them or not."""
    import tracemalloc

    from tessera.split import _engine

    rng = np.random.default_rng(3)
    points = rng.normal(size=(1000, 4))
    strata = rng.integers(0, 3, size=1000)
    sizes = np.array([600, 200, 200])

    def labels() -> tuple[np.ndarray, int]:
        tracemalloc.start()
        try:
            out = _engine.balanced_labels(
                points, sizes, strata, np.random.default_rng(7), block_size=200
            )
            return out, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    kept, kept_peak = labels()
    monkeypatch.setattr(_engine, "KEEP_DISTANCES_BYTES", 0)
    recomputed, recomputed_peak = labels()
    assert np.array_equal(kept, recomputed)
    block_bytes = 200 * 200 * 8
    # Five or more blocks of 200 rows: kept, their matrices add up; recomputed, one at a time.
    assert kept_peak - recomputed_peak > 2 * block_bytes
