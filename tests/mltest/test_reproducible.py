"""seed_everything and assert_reproducible on numpy, scikit-learn and nested results."""

from __future__ import annotations

import os
import random

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from tessera.errors import InvalidInputError
from tessera.mltest import (
    MLTestFailure,
    assert_reproducible,
    seed_everything,
    tiny_classification,
)


def _fresh_seed() -> int:
    return int.from_bytes(os.urandom(4), "little")


def test_seed_everything_reseeds_random_and_numpy() -> None:
    seed_everything(3)
    first = (random.random(), np.random.rand())  # noqa: NPY002 - the global generator is the point
    seed_everything(3)
    assert (random.random(), np.random.rand()) == first  # noqa: NPY002
    seed_everything(4)
    assert (random.random(), np.random.rand()) != first  # noqa: NPY002


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "0"])
def test_seed_everything_rejects_bad_seeds(seed: object) -> None:
    with pytest.raises(InvalidInputError, match=r"^seed=.* integer in \[0, 2\*\*32\)"):
        seed_everything(seed)  # type: ignore[arg-type]


def test_a_seeded_random_forest_is_reproducible_as_an_estimator_and_as_predictions() -> None:
    X, y = tiny_classification(seed=0)

    def train(seed: int) -> RandomForestClassifier:
        return RandomForestClassifier(n_estimators=5, random_state=seed).fit(X, y)

    model = assert_reproducible(train, seed=7)  # compares every tree's nodes and values
    assert isinstance(model, RandomForestClassifier)
    assert_reproducible(lambda seed: train(seed).predict_proba(X), seed=7, runs=3)


def test_an_unseeded_random_forest_fails_and_says_where() -> None:
    X, y = tiny_classification(seed=0)

    def train(seed: int) -> RandomForestClassifier:
        return RandomForestClassifier(n_estimators=5, random_state=_fresh_seed()).fit(X, y)

    with pytest.raises(MLTestFailure) as info:
        assert_reproducible(train, seed=7)
    failure = info.value
    assert "runs of train(seed=7) to agree" in failure.expected
    assert failure.measured.startswith("run 1 differs from run 0: result['estimators_'][0]")
    assert "the seed reached random, numpy" in failure.where


def test_global_numpy_randomness_is_covered_by_the_reseeding() -> None:
    # Code that draws from np.random's global state is reproducible once it is reseeded.
    assert_reproducible(lambda seed: np.random.normal(size=5), seed=1)  # noqa: NPY002
    differs = r"result\[\d\]: -?\d\.\d+ vs -?\d\.\d+ \(\|diff\| .*; \d of 5 values differ\)"
    with pytest.raises(MLTestFailure, match=differs):
        assert_reproducible(
            lambda seed: np.random.default_rng().normal(size=5),
            seed=1,  # a fresh, unseeded RNG
        )


def test_nested_results_tolerance_and_compare() -> None:
    def train(seed: int) -> dict:
        rng = np.random.default_rng(seed)
        jitter = np.random.default_rng().normal(0, 1e-9, 3)  # below the tolerance
        return {
            "weights": rng.normal(size=3) + jitter,
            "history": [1.0, 0.5],
            "frame": pd.DataFrame({"a": [1, 2]}),
            "name": "run",
        }

    assert_reproducible(train, seed=0, rtol=0.0, atol=1e-6)
    with pytest.raises(MLTestFailure, match=r"result\['weights'\]\[\d\]"):
        assert_reproducible(train, seed=0, rtol=0.0, atol=0.0)
    assert_reproducible(train, seed=0, compare=lambda a, b: a["name"] == b["name"])
    with pytest.raises(MLTestFailure, match=r"compare\(first, run 1\) returned False"):
        assert_reproducible(train, seed=0, compare=lambda a, b: a is b)


def test_structural_differences_are_named() -> None:
    calls = iter([{"a": 1}, {"b": 1}])
    with pytest.raises(MLTestFailure, match=r"keys only in the first run \['a'\]"):
        assert_reproducible(lambda seed: next(calls), seed=0)
    shapes = iter([np.zeros(3), np.zeros(4)])
    with pytest.raises(MLTestFailure, match=r"shape \(3,\) in the first run, \(4,\)"):
        assert_reproducible(lambda seed: next(shapes), seed=0)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match=r"^runs=1 is invalid"):
        assert_reproducible(lambda seed: 1, seed=0, runs=1)
    with pytest.raises(InvalidInputError, match=r"^train=3 is invalid: it must be callable"):
        assert_reproducible(3, seed=0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"^atol=-1 is invalid"):
        assert_reproducible(lambda seed: 1, seed=0, atol=-1)
    with pytest.raises(InvalidInputError, match=r"unfitted estimator"):
        assert_reproducible(lambda seed: LogisticRegression(), seed=0)
