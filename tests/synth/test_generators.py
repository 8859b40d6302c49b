"""Generators: known parameters recovered, seeds, shapes, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tessera.errors import InvalidInputError
from tessera.mltest import assert_reproducible
from tessera.synth import (
    blobs,
    classification,
    distribution,
    linear,
    low_rank,
    regression,
    time_series,
)


def test_linear_recovers_coefficients() -> None:
    X, y = linear(5000, coef=[2.0, -1.0], intercept=3.0, noise=0.5, random_state=0)
    design = np.column_stack([X, np.ones(len(y))])
    fitted, *_ = np.linalg.lstsq(design, y, rcond=None)
    assert np.allclose(fitted, [2.0, -1.0, 3.0], atol=0.05)
    residual = y - design @ fitted
    assert residual.std() == pytest.approx(0.5, abs=0.03)
    frame = linear(10, n_features=3, random_state=0, as_frame=True)
    assert list(frame.columns) == ["x0", "x1", "x2", "y"]


def test_time_series_components() -> None:
    flat = time_series(700, seasonalities=[(7, 2.0)], noise=0.0, random_state=1)
    assert flat["time"].iloc[1] - flat["time"].iloc[0] == pd.Timedelta(days=1)
    # A pure weekly wave repeats every 7 steps.
    assert np.allclose(flat["value"].to_numpy()[7:], flat["value"].to_numpy()[:-7])
    trend = time_series(1000, trend=0.5, seasonalities=[], noise=1.0, random_state=2)
    slope = np.polyfit(np.arange(1000), trend["value"], 1)[0]
    assert slope == pytest.approx(0.5, abs=0.01)
    regimes = time_series(300, seasonalities=[], changepoints=[100, 200], noise=0.0, random_state=3)
    assert regimes["regime"].tolist() == [0] * 100 + [1] * 100 + [2] * 100
    assert regimes["value"].iloc[:100].nunique() == 1  # no change before the first point


def test_low_rank_structure() -> None:
    X = low_rank(2000, 3, 20, noise=0.1, random_state=0)
    singular = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    assert singular[2] > 10 * singular[3]
    assert int(np.linalg.matrix_rank(low_rank(100, 2, 8, noise=0.0, random_state=0))) == 2


def test_sklearn_wrappers() -> None:
    X, y = classification(200, n_features=5, random_state=0)
    assert X.shape == (200, 5) and set(np.unique(y)) == {0, 1}
    X2, y2 = classification(200, n_features=5, random_state=0)
    assert np.array_equal(X, X2)
    assert regression(50, n_features=4, random_state=0)[0].shape == (50, 4)
    frame = blobs(60, centers=3, random_state=1, as_frame=True)
    assert frame["target"].nunique() == 3
    with pytest.raises(InvalidInputError, match="make_classification arguments"):
        classification(10, n_feature=3)
    with pytest.raises(InvalidInputError, match="n_samples"):
        blobs(10, n_samples=3)


@pytest.mark.parametrize(
    ("name", "params", "reference"),
    [
        ("norm", {"loc": 2.0, "scale": 3.0}, stats.norm(2.0, 3.0)),
        ("expon", {"scale": 2.0}, stats.expon(scale=2.0)),
        ("gamma", {"a": 2.5}, stats.gamma(2.5)),
    ],
)
def test_distribution_matches_scipy(name: str, params: dict, reference) -> None:
    draws = distribution(name, 4000, random_state=0, **params)
    assert stats.kstest(draws, reference.cdf).pvalue > 0.001


def test_discrete_distribution() -> None:
    draws = distribution("binom", 20_000, n=10, p=0.3, random_state=1)
    assert draws.mean() == pytest.approx(3.0, abs=0.05)
    assert draws.min() >= 0 and draws.max() <= 10


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 50))
def test_generators_reproducible(seed: int, n: int) -> None:
    for make in (
        lambda s: linear(n, random_state=s),
        lambda s: time_series(n, random_state=s),
        lambda s: low_rank(n, 2, 4, random_state=s),
        lambda s: distribution("poisson", n, mu=3, random_state=s),
    ):
        first = make(seed)
        second = make(seed)
        if isinstance(first, tuple):
            assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
        elif isinstance(first, pd.DataFrame):
            pd.testing.assert_frame_equal(first, second)
        else:
            assert np.array_equal(first, second)


def test_seed_sensitive() -> None:
    first = assert_reproducible(lambda seed: low_rank(50, 2, 5, random_state=seed), seed=1)
    assert not np.array_equal(first, low_rank(50, 2, 5, random_state=2))


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: distribution("normal", 3), "Did you mean 'norm'"),
        (lambda: distribution("binom", 3, n=10), "missing: \\['p'\\]"),
        (lambda: distribution("norm", 3, mu=0), "Unknown: \\['mu'\\]"),
        (lambda: distribution("binom", 3, n=10, p=1.5), "outside the distribution's domain"),
        (lambda: linear(0), "n=0"),
        (lambda: linear(5, noise=-1), "noise=-1"),
        (lambda: time_series(10, seasonalities=[(0, 1)]), "period > 0"),
        (lambda: time_series(10, changepoints=[0]), "changepoints"),
        (lambda: low_rank(10, 0, 3), "latent_dim=0"),
    ],
)
def test_bad_arguments(call, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        call()
