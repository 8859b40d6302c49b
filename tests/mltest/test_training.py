"""assert_loss_decreases, assert_training_decreases_loss and assert_can_overfit, both ways."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier

from tessera.errors import InvalidInputError
from tessera.mltest import (
    MLTestFailure,
    assert_can_overfit,
    assert_loss_decreases,
    assert_training_decreases_loss,
    tiny_classification,
    tiny_regression,
)


def _noisy_decay(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(-np.arange(n) / 40) + rng.normal(0, 0.05, n)


# -- assert_loss_decreases ---------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [np.asarray, list, pd.Series], ids=["numpy", "list", "pandas"])
def test_noisy_decreasing_loss_passes(wrap: object) -> None:
    losses = _noisy_decay()
    # Single steps go up about half of the time; the windows still see the trend.
    assert np.mean(np.diff(losses) > 0) > 0.3
    assert_loss_decreases(wrap(losses), window=20, min_relative_drop=0.5)  # type: ignore[operator]


def test_flat_loss_fails_with_both_windows_and_the_best_window() -> None:
    losses = 0.69 + np.random.default_rng(1).normal(0, 0.01, 100)
    with pytest.raises(MLTestFailure) as info:
        assert_loss_decreases(losses, window=10, min_relative_drop=0.1)
    message = str(info.value)
    assert "expected: the median loss of the last 10 steps at least 10.0% below" in message
    assert re.search(r"first window 0\.69\d*, last window 0\.6[89]\d*: a drop of 0\.\d%", message)
    assert "steps 0-9 vs 90-99" in message and "lowest window median" in message
    assert info.value.check == "assert_loss_decreases"


def test_diverging_loss_reports_a_rise() -> None:
    with pytest.raises(MLTestFailure, match=r"a rise of \d+"):
        assert_loss_decreases(np.linspace(1.0, 3.0, 50))


def test_nan_loss_names_the_first_bad_step() -> None:
    losses = list(np.linspace(1.0, 0.1, 30))
    losses[17] = float("nan")
    with pytest.raises(MLTestFailure) as info:
        assert_loss_decreases(losses)
    assert "step 17" in info.value.where and "nan" in info.value.measured


def test_one_spike_at_the_end_does_not_fail_a_falling_curve() -> None:
    losses = np.linspace(1.0, 0.1, 100)
    losses[-1] = 5.0  # one bad batch: the median of the last window ignores it
    assert_loss_decreases(losses, window=10, min_relative_drop=0.5)
    with pytest.raises(MLTestFailure):  # the same spike with single-step windows fails
        assert_loss_decreases(losses, window=1, min_relative_drop=0.5)


@pytest.mark.parametrize(
    ("losses", "kwargs", "name"),
    [
        ([1.0], {}, "losses"),
        ([[1.0, 2.0], [3.0, 4.0]], {}, "losses"),
        (["a", "b"], {}, "losses"),
        ([1.0, 0.5, 0.2], {"window": 2}, "window"),
        ([1.0, 0.5, 0.2], {"window": 0}, "window"),
        ([1.0, 0.5, 0.2], {"min_relative_drop": 1.5}, "min_relative_drop"),
    ],
)
def test_bad_arguments_name_themselves(losses: object, kwargs: dict, name: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"^{name}=.* is invalid: .*\. .+"):
        assert_loss_decreases(losses, **kwargs)


# -- assert_training_decreases_loss --------------------------------------------------------------


def _linear_regression_step(learning_rate: float):  # noqa: ANN202
    X, y = tiny_regression(seed=0)
    weights = np.zeros(X.shape[1] + 1)
    design = np.column_stack([X, np.ones(len(X))])

    def step() -> float:
        nonlocal weights
        residual = design @ weights - y
        weights = weights - learning_rate * 2 * design.T @ residual / len(y)
        return float(np.mean(residual**2))

    return step


def test_gradient_descent_passes_and_returns_losses() -> None:
    losses = assert_training_decreases_loss(_linear_regression_step(0.05), steps=40)
    assert losses.shape == (40,) and losses[-1] < losses[0]


def test_learning_rate_zero_fails_over_the_calls() -> None:
    with pytest.raises(MLTestFailure) as info:
        assert_training_decreases_loss(_linear_regression_step(0.0), steps=30)
    assert "over 30 calls of train_step" in info.value.measured
    assert "a drop of 0.0%" in info.value.measured


def test_train_step_returning_text_is_an_argument_error() -> None:
    with pytest.raises(InvalidInputError, match=r"step 0 returned 'loss'"):
        assert_training_decreases_loss(lambda: "loss", steps=3)


# -- assert_can_overfit --------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [False, True], ids=["numpy", "pandas"])
def test_decision_tree_memorises_random_labels(frame: bool) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    data = pd.DataFrame(X, columns=["a", "b", "c"]) if frame else X
    model = DecisionTreeClassifier(random_state=0)
    assert assert_can_overfit(model.fit, model.predict, data, y) == 1.0


def test_a_model_that_ignores_its_inputs_fails_and_lists_the_rows() -> None:
    X, y = tiny_classification(seed=0)
    frame = pd.DataFrame(X, index=[f"r{i}" for i in range(len(X))])
    model = DummyClassifier(strategy="most_frequent")
    with pytest.raises(MLTestFailure) as info:
        assert_can_overfit(model.fit, model.predict, frame, y)
    failure = info.value
    assert "training accuracy >= 0.99 after fitting the 60-row batch" in failure.expected
    assert "training accuracy = 0.5" in failure.measured
    assert "30 of 60 rows mispredicted" in failure.where and "(index 'r1')" in failure.where
    assert len(failure.rows) == 20 and all(y[r] == 1 for r in failure.rows)


def test_regression_with_a_lower_is_better_metric() -> None:
    X, y = tiny_regression(seed=2, noise=0.0)
    model = LinearRegression()
    assert assert_can_overfit(model.fit, model.predict, X, y, metric="mse", threshold=1e-12) < 1e-12
    broken = LinearRegression()
    with pytest.raises(MLTestFailure, match=r"training mse <= 1e-12") as info:
        assert_can_overfit(
            broken.fit, lambda X: broken.predict(X) + 0.1, X, y, metric="mse", threshold=1e-12
        )
    assert "worst rows" in info.value.where


def test_a_callable_metric_and_the_guards() -> None:
    X, y = tiny_classification(seed=3)
    model = DecisionTreeClassifier(random_state=0)
    score = assert_can_overfit(
        model.fit, model.predict, X, y, metric=lambda t, p: float(np.mean(t == p)), threshold=1.0
    )
    assert score == 1.0
    with pytest.raises(InvalidInputError, match="threshold=None is invalid"):
        assert_can_overfit(model.fit, model.predict, X, y, metric="mae")
    with pytest.raises(InvalidInputError, match=r"X=.* tiny batch .*max_rows=10"):
        assert_can_overfit(model.fit, model.predict, X, y, max_rows=10)
    with pytest.raises(InvalidInputError, match=r"metric='auc' is invalid: unknown metric"):
        assert_can_overfit(model.fit, model.predict, X, y, metric="auc")
    with pytest.raises(InvalidInputError, match=r"y=.* one target per row of X \(60\)"):
        assert_can_overfit(model.fit, model.predict, X, y[:10])
