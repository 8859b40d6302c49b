"""assert_segment_performance: masks, column==value dicts, callables, intervals, small segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tessera.errors import InvalidInputError
from tessera.mltest import MLTestFailure, SegmentScore, assert_segment_performance


def _patients(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "sex": rng.choice(["F", "M"], n),
            "marker": rng.normal(size=n),
        }
    )
    return frame, (frame["marker"] > 0).astype(int).to_numpy()


def _good(X: pd.DataFrame) -> np.ndarray:
    return (X["marker"] > 0).astype(int).to_numpy()


def _bad_for_the_old(X: pd.DataFrame) -> np.ndarray:
    # The deliberate bug: for patients over 75 the model answers the opposite.
    labels = _good(X)
    return np.where(X["age"] > 75, 1 - labels, labels)


SEGMENTS = {
    "women": {"sex": "F"},
    "over 75": lambda X: X["age"] > 75,
    "under 30": None,  # filled in per frame below (a boolean mask)
}


def _segments(X: pd.DataFrame) -> dict:
    return {**SEGMENTS, "under 30": (X["age"] < 30).to_numpy()}


def test_a_good_model_passes_every_segment_with_intervals() -> None:
    X, y = _patients()
    scores = assert_segment_performance(_good, X, y, _segments(X), min_score=0.95)
    assert [s.name for s in scores] == ["women", "over 75", "under 30"]
    assert all(isinstance(s, SegmentScore) and s.passed and s.score == 1.0 for s in scores)
    assert sum(s.size for s in scores[:1]) == int((X["sex"] == "F").sum())


def test_a_model_broken_on_one_segment_fails_it_with_its_interval() -> None:
    X, y = _patients()
    with pytest.raises(MLTestFailure) as info:
        assert_segment_performance(_bad_for_the_old, X, y, _segments(X), min_score=0.7)
    failure = info.value
    assert "1 of 3 segments fail: segment 'over 75'" in failure.measured
    assert "accuracy 0 [95% CI 0-0]" in failure.measured
    assert "misses accuracy >= 0.7" in failure.measured and failure.where == "segments 'over 75'"
    women = failure.details["scores"][0]
    assert women.passed and women.low <= women.score <= women.high


def test_a_small_segment_fails_on_its_own() -> None:
    X, y = _patients(200)
    with pytest.raises(MLTestFailure) as info:
        assert_segment_performance(
            _good,
            X,
            y,
            {"very old": X["age"] > 87, "all": X["age"] > 0},
            min_score=0.5,
            min_size=30,
        )
    assert "segment 'very old' has" in info.value.measured
    assert "fewer than min_size=30: its score cannot be trusted" in info.value.measured
    assert "1 of 2 segments fail" in info.value.measured


def test_lower_bound_is_stricter_than_the_score() -> None:
    rng = np.random.default_rng(1)
    X = np.zeros((60, 1))
    y = rng.integers(0, 2, 60)
    noisy = y.copy()
    noisy[:9] = 1 - noisy[:9]  # 51 of 60 right: 0.85
    segments = {"all": np.ones(60, dtype=bool)}
    (score,) = assert_segment_performance(lambda X: noisy, X, y, segments, min_score=0.8)
    assert score.low < 0.8 < score.score == 0.85
    with pytest.raises(MLTestFailure, match=r"95% bound misses accuracy >= 0.8"):
        assert_segment_performance(
            lambda X: noisy, X, y, segments, min_score=0.8, require="lower_bound"
        )


def test_regression_metric_and_per_segment_bars() -> None:
    X = np.linspace(0, 1, 100).reshape(-1, 1)
    y = X[:, 0] * 2

    def predict(X: np.ndarray) -> np.ndarray:
        return X[:, 0] * 2 + np.where(X[:, 0] > 0.5, 0.3, 0.0)  # off by 0.3 on the top half

    segments = {"low": X[:, 0] <= 0.5, "high": X[:, 0] > 0.5}
    assert_segment_performance(
        predict, X, y, segments, metric="mae", min_score={"low": 0.01, "high": 0.5}
    )
    with pytest.raises(MLTestFailure, match=r"segment 'high' \(50 rows\): mae 0.3 .*mae <= 0.1"):
        assert_segment_performance(predict, X, y, segments, metric="mae", min_score=0.1)


def test_segment_argument_errors() -> None:
    X, y = _patients(100)
    with pytest.raises(InvalidInputError, match=r"^segments\['x'\]=.* boolean mask of 100 rows"):
        assert_segment_performance(_good, X, y, {"x": [1, 0]}, min_score=0.5)
    with pytest.raises(InvalidInputError, match=r"no such column 'country'"):
        assert_segment_performance(_good, X, y, {"x": {"country": "FR"}}, min_score=0.5)
    with pytest.raises(InvalidInputError, match=r"need X to be a DataFrame"):
        assert_segment_performance(lambda X: y, X.to_numpy(), y, {"x": {"sex": "F"}}, min_score=0)
    with pytest.raises(InvalidInputError, match=r"^min_score=.* no bar for segment\(s\) \['b'\]"):
        assert_segment_performance(
            _good, X, y, {"a": X["age"] > 0, "b": X["age"] > 0}, min_score={"a": 0.5}
        )
    with pytest.raises(InvalidInputError, match=r"^segments=\{\} is invalid"):
        assert_segment_performance(_good, X, y, {}, min_score=0.5)
    with pytest.raises(InvalidInputError, match=r"^require='mean'"):
        assert_segment_performance(_good, X, y, {"a": X["age"] > 0}, min_score=0.5, require="mean")
