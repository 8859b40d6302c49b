"""assert_invariant, assert_directional and the ready transforms on numpy and pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from tessera.errors import InvalidInputError
from tessera.mltest import (
    MLTestFailure,
    Transform,
    add_noise,
    assert_directional,
    assert_invariant,
    perturb_column,
    scale_column,
    set_value,
    shuffle_column,
)


def _loans(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 15, n),
            "debt": rng.normal(20, 8, n),
            "customer_id": rng.permutation(n).astype(float),
            "city": rng.choice(["Paris", "Lyon", "Nice"], n),
        },
        index=[f"c{i}" for i in range(n)],
    )
    logit = 0.15 * (frame["income"] - 50) - 0.3 * (frame["debt"] - 20)
    approved = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, approved.to_numpy()


def _model(columns: list[str]):  # noqa: ANN202
    X, y = _loans()
    select = ColumnTransformer([("keep", "passthrough", columns)])
    return make_pipeline(select, LogisticRegression(max_iter=1000)).fit(X, y), X


def test_a_model_that_ignores_the_id_is_invariant_to_shuffling_it() -> None:
    model, X = _model(["income", "debt"])
    assert assert_invariant(model.predict_proba, X, shuffle_column("customer_id")) == 1.0
    assert assert_invariant(model.predict, X, set_value("city", "Nice")) == 1.0


def test_a_model_that_learned_the_id_fails_and_lists_the_rows_that_moved() -> None:
    model, X = _model(["income", "debt", "customer_id"])
    with pytest.raises(MLTestFailure) as info:
        assert_invariant(model.predict_proba, X, shuffle_column("customer_id", seed=3))
    failure = info.value
    assert "under shuffle_column('customer_id', seed=3) on at least 100.0% of rows" in (
        failure.expected
    )
    assert "rows that moved (largest first): row " in failure.where and "(index 'c" in failure.where
    assert " -> " in failure.where
    change = failure.details["change"]
    assert change[failure.rows[0]] == change.max() > 1e-6
    assert list(change[list(failure.rows)]) == sorted(change[list(failure.rows)], reverse=True)


def test_min_pass_rate_and_small_noise() -> None:
    model, X = _model(["income", "debt"])
    noisy = add_noise(0.5, columns=["income"], seed=1)
    rate = assert_invariant(model.predict, X, noisy, min_pass_rate=0.8)  # labels, mostly kept
    assert 0.8 <= rate < 1.0
    with pytest.raises(MLTestFailure, match=r"on at least 100.0% of rows"):
        assert_invariant(model.predict, X, noisy)
    with pytest.raises(MLTestFailure, match=r"the same label"):
        assert_invariant(lambda X: np.where(X["income"] > 50, "yes", "no"), X, noisy)


def test_directional_income_up_debt_down_on_pandas_and_numpy() -> None:
    model, X = _model(["income", "debt"])
    assert (
        assert_directional(
            model.predict_proba, X, perturb_column("income", 10.0), direction="increase", output=1
        )
        == 1.0
    )
    assert (
        assert_directional(
            model.predict_proba, X, perturb_column("debt", 5.0), direction="decrease", output=1
        )
        == 1.0
    )
    array = X[["income", "debt"]].to_numpy()
    weights = model[-1].coef_[0]

    def raw(X: np.ndarray) -> np.ndarray:
        return X @ weights

    assert assert_directional(raw, array, perturb_column(0, 1.0), direction="increase") == 1.0


def test_a_model_with_the_wrong_sign_fails_directional() -> None:
    X, _ = _loans()

    def backwards(X: pd.DataFrame) -> np.ndarray:  # the bug: income lowers the score
        return 1 / (1 + np.exp(0.1 * (X["income"].to_numpy() - 50)))

    with pytest.raises(MLTestFailure) as info:
        assert_directional(backwards, X, perturb_column("income", 5.0), direction="increase")
    failure = info.value
    assert "predictions to rise or stay under perturb_column('income', +5)" in failure.expected
    assert "300 of 300 rows (100.0%) moved the wrong way" in failure.measured
    signed = failure.details["signed_change"]
    assert signed[failure.rows[0]] == signed.min()


def test_directional_tolerance_accepts_small_moves_and_negative_tolerance_demands_a_move() -> None:
    X = np.zeros((5, 2))
    flat = perturb_column(0, 1.0)
    assert assert_directional(lambda X: X[:, 1], X, flat) == 1.0  # ignoring the feature passes
    with pytest.raises(MLTestFailure, match=r"\(tolerance -0.01\)"):
        assert_directional(lambda X: X[:, 1], X, flat, tolerance=-0.01)
    assert assert_directional(lambda X: -1e-9 * X[:, 0], X, flat, tolerance=1e-6) == 1.0


def test_transforms_copy_and_work_on_numpy_and_pandas() -> None:
    X, _ = _loans(20)
    before = X.copy()
    for transform in (
        perturb_column("income", 1.0),
        scale_column("income", 2.0),
        shuffle_column("city"),
        set_value("city", "Lyon"),
        add_noise(0.1),
    ):
        out = transform(X)
        assert out is not X and list(out.index) == list(X.index)
        assert isinstance(transform, Transform) and str(transform) == transform.description
    pd.testing.assert_frame_equal(X, before)
    noisy = add_noise(0.1, seed=0)(X)
    assert (noisy["city"] == X["city"]).all() and not np.allclose(noisy["debt"], X["debt"])
    ints = np.arange(6).reshape(3, 2)
    assert perturb_column(0, 0.5)(ints)[:, 0].tolist() == [0.5, 2.5, 4.5]
    assert ints[0, 0] == 0


def test_transform_and_argument_errors() -> None:
    X, _ = _loans(10)
    with pytest.raises(InvalidInputError, match=r"^column='age' is invalid: no such column"):
        perturb_column("age", 1.0)(X)
    with pytest.raises(InvalidInputError, match=r"^column='city' is invalid: .* numeric column"):
        scale_column("city", 2.0)(X)
    with pytest.raises(InvalidInputError, match=r"^column=5 is invalid: .* \[0, 2\)"):
        perturb_column(5, 1.0)(np.zeros((3, 2)))
    with pytest.raises(InvalidInputError, match=r"^X=.* need a 2-D"):
        perturb_column(0, 1.0)(np.zeros(3))
    with pytest.raises(InvalidInputError, match=r"^scale=-1"):
        add_noise(-1)
    predict = lambda X: X["income"].to_numpy()  # noqa: E731
    with pytest.raises(InvalidInputError, match=r"returned X itself"):
        assert_invariant(predict, X, lambda X: X)
    with pytest.raises(InvalidInputError, match=r"changed the number of rows \(10 -> 5\)"):
        assert_invariant(predict, X, lambda X: X.head(5))
    with pytest.raises(InvalidInputError, match=r"^min_pass_rate=0"):
        assert_invariant(predict, X, add_noise(0.1), min_pass_rate=0)
    with pytest.raises(InvalidInputError, match=r"^direction='up'"):
        assert_directional(predict, X, add_noise(0.1), direction="up")
    with pytest.raises(InvalidInputError, match=r"^output=3 is invalid"):
        assert_directional(lambda X: np.zeros((10, 2)), X, add_noise(0.1), output=3)
    with pytest.raises(InvalidInputError, match=r"one numeric score per row"):
        assert_directional(lambda X: np.zeros((10, 2)), X, add_noise(0.1))
