"""Repeated splits are different balanced splits (issue 18, item 1).

The data and seeds here were not used to choose ``DIVERSE_SWAP_GROUPS`` (that
was Gaussian data drawn with ``default_rng(n)``, seed 0, iris and wine).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import ShuffleSplit

from tessera.split import BalancedShuffleSplit, energy_distance

SEEDS = (3, 17, 29)


def _mean_jaccard(tests: list[np.ndarray]) -> float:
    sets = [set(t.tolist()) for t in tests]
    return float(np.mean([len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2)]))


def _zscored(X: np.ndarray) -> np.ndarray:
    return np.asarray((X - X.mean(axis=0)) / X.std(axis=0))


def _measure(cv_of_seed: type, X: np.ndarray, y: np.ndarray | None) -> tuple[int, float, float]:
    """(fewest distinct test sets in 10, mean Jaccard, mean train-test energy) over SEEDS."""
    space = _zscored(X)
    distinct: list[int] = []
    jaccards: list[float] = []
    energies: list[float] = []
    for seed in SEEDS:
        splits = list(cv_of_seed(10, test_size=0.2, random_state=seed).split(X, y))
        tests = [test for _, test in splits]
        distinct.append(len({tuple(t.tolist()) for t in tests}))
        jaccards.append(_mean_jaccard(tests))
        energies.extend(energy_distance(space[tr], space[te]) for tr, te in splits)
    return min(distinct), float(np.mean(jaccards)), float(np.mean(energies))


@pytest.mark.parametrize("n", [40, 60, 100, 300])
def test_repetitions_differ_like_shuffle_split_and_stay_balanced(n: int) -> None:
    X = np.random.default_rng(9000 + n).normal(size=(n, 4))
    distinct, jaccard, energy = _measure(BalancedShuffleSplit, X, None)
    _, random_jaccard, random_energy = _measure(ShuffleSplit, X, None)
    assert distinct == 10
    assert jaccard <= 1.5 * random_jaccard
    assert energy <= random_energy


@pytest.mark.parametrize("load", [load_breast_cancer, load_diabetes], ids=lambda f: f.__name__)
def test_repetitions_differ_on_real_data(load: object) -> None:
    X, y = load(return_X_y=True)  # type: ignore[operator]
    distinct, jaccard, energy = _measure(BalancedShuffleSplit, X, y)
    _, random_jaccard, random_energy = _measure(ShuffleSplit, X, y)
    assert distinct == 10
    assert jaccard <= 1.5 * random_jaccard
    assert energy <= 0.5 * random_energy


def test_repetitions_with_groups_differ() -> None:
    X = np.random.default_rng(4).normal(size=(120, 3))
    groups = np.arange(120) // 3
    cv = BalancedShuffleSplit(10, test_size=0.2, random_state=0)
    tests = [test for _, test in cv.split(X, groups=groups)]
    assert len({tuple(t.tolist()) for t in tests}) == 10
    assert _mean_jaccard(tests) <= 0.25  # random: 0.111 expected
    for train, test in cv.split(X, groups=groups):
        assert not set(groups[train]) & set(groups[test])


def test_same_seed_same_splits() -> None:
    X = np.random.default_rng(1).normal(size=(50, 2))
    first = [te for _, te in BalancedShuffleSplit(5, random_state=3).split(X)]
    again = [te for _, te in BalancedShuffleSplit(5, random_state=3).split(X)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
