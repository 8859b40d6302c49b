"""assert_backends_agree and assert_latency, both ways (no timing assertion can flake here)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tessera.errors import InvalidInputError
from tessera.mltest import (
    LatencyStats,
    MLTestFailure,
    assert_backends_agree,
    assert_latency,
    tiny_classification,
)


def _fitted() -> tuple[LogisticRegression, np.ndarray]:
    X, y = tiny_classification(seed=0)
    return LogisticRegression().fit(X, y), X


def _by_hand(model: LogisticRegression, dtype: type = np.float64):  # noqa: ANN202
    weights, bias = model.coef_[0].astype(dtype), model.intercept_.astype(dtype)

    def predict_proba(X: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(np.asarray(X, dtype=dtype) @ weights + bias)))
        return np.column_stack([1 - p, p])

    return predict_proba


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sklearn_and_a_hand_written_port_agree(dtype: type) -> None:
    model, X = _fitted()
    gap = assert_backends_agree(
        model.predict_proba,
        _by_hand(model, dtype),
        X,
        rtol=1e-5,
        atol=1e-6,
        names=("sklearn", f"numpy-{np.dtype(dtype).name}"),
    )
    assert gap < 1e-6


def test_a_port_with_a_bug_is_caught_with_its_worst_rows() -> None:
    model, X = _fitted()
    frame = pd.DataFrame(X, index=[f"u{i}" for i in range(len(X))])
    port = _by_hand(model)

    def buggy(X: pd.DataFrame) -> np.ndarray:
        out = port(X)
        out[[3, 40]] = out[[3, 40]][:, ::-1]  # two rows with the classes swapped
        return out

    with pytest.raises(MLTestFailure) as info:
        assert_backends_agree(model.predict_proba, buggy, frame, names=("sklearn", "port"))
    failure = info.value
    assert "2 of 60 rows differ" in failure.measured
    assert failure.where.startswith("worst rows: row ") and "(index 'u3')" in failure.where
    assert set(failure.rows) == {3, 40}
    assert "|sklearn - port| <= 1e-08 + 1e-05 * |port|" in failure.expected


def test_labels_shapes_and_nan() -> None:
    X = np.zeros((4, 1))
    assert (
        assert_backends_agree(lambda X: np.array(list("abca")), lambda X: np.array(list("abca")), X)
        == 0.0
    )
    with pytest.raises(MLTestFailure, match=r"1 of 4 rows differ.*"):
        assert_backends_agree(lambda X: np.array(list("abca")), lambda X: np.array(list("abcb")), X)
    with pytest.raises(MLTestFailure, match=r"a gave shape \(4,\), b gave shape \(4, 1\)"):
        assert_backends_agree(lambda X: np.zeros(4), lambda X: np.zeros((4, 1)), X)
    with pytest.raises(MLTestFailure, match=r"1 of 4 rows differ; largest \|difference\| inf"):
        assert_backends_agree(
            lambda X: np.array([1.0, np.nan, 3, 4]), lambda X: np.array([1.0, 2.0, 3, 4]), X
        )
    nan = np.array([np.nan, 1.0, 2.0, 3.0])
    assert assert_backends_agree(lambda X: nan, lambda X: nan.copy(), X) == 0.0


def test_backends_bad_arguments() -> None:
    X = np.zeros((2, 1))
    with pytest.raises(InvalidInputError, match=r"^rtol=-1"):
        assert_backends_agree(np.sum, np.sum, X, rtol=-1)
    with pytest.raises(InvalidInputError, match=r"^names=\('cpu',\)"):
        assert_backends_agree(np.sum, np.sum, X, names=("cpu",))


def test_a_fast_call_meets_a_generous_budget_and_warmup_is_not_timed() -> None:
    calls = []
    stats = assert_latency(
        lambda X: calls.append(1) or X.sum(),
        np.ones(10),
        p95_ms=10_000,
        p99_ms=20_000,
        warmup=4,
        repeats=12,
    )
    assert isinstance(stats, LatencyStats) and stats.calls == 12 and len(calls) == 16
    assert stats.p50_ms <= stats.p95_ms <= stats.p99_ms <= stats.max_ms
    assert stats.times_ms.shape == (12,)


def test_a_deliberately_slow_call_misses_the_budget() -> None:
    def slow(X: object) -> None:
        time.sleep(0.01)  # at least 10 ms per call, so a 1 ms budget cannot be met

    with pytest.raises(MLTestFailure) as info:
        assert_latency(slow, None, p95_ms=1.0, p99_ms=1.0, warmup=0, repeats=5)
    failure = info.value
    assert "p95 <= 1 ms and p99 <= 1 ms over 5 calls after 0 warm-up calls" in failure.expected
    assert "p95 " in failure.measured and "> 1 ms" in failure.measured
    assert failure.where.startswith("slowest calls: #")
    assert failure.details["stats"].p50_ms >= 10.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"p95_ms": 0}, "p95_ms"),
        ({"p95_ms": 5, "p99_ms": -1}, "p99_ms"),
        ({"p95_ms": 5, "repeats": 0}, "repeats"),
        ({"p95_ms": 5, "warmup": -1}, "warmup"),
    ],
)
def test_latency_bad_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"^{name}="):
        assert_latency(np.sum, np.ones(2), **kwargs)
