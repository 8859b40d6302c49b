"""One test of each kind from tessera.mltest on a scikit-learn churn model (defined below).

Run with ``pytest examples/mltest`` (the pytest plugin is loaded by Tessera's entry point).
"""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pydantic import BaseModel, ConfigDict, Field
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tessera.mltest import (
    assert_backends_agree,
    assert_can_overfit,
    assert_directional,
    assert_frame_contract,
    assert_invariant,
    assert_latency,
    assert_loss_decreases,
    assert_reproducible,
    assert_segment_performance,
    assert_sql_valid,
    perturb_column,
    set_value,
    shuffle_column,
    validate_config,
)

HERE = Path(__file__).parent

# -- the model under test (in a real project: its own module) ----------------------------


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    C: float = Field(gt=0)
    max_iter: int = Field(ge=10)


class FeatureConfig(BaseModel):
    numeric: list[str]
    categorical: list[str] = []


class TrainConfig(BaseModel):
    model: ModelConfig
    features: FeatureConfig
    seed: int = 0


def customers(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic customers; churn rises with charges and support calls, falls with tenure."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(10_000, 10_000 + n),
            "monthly_charges": rng.uniform(20, 120, n).round(2),
            "tenure_months": rng.integers(1, 72, n),
            "support_calls": rng.poisson(1.5, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(["north", "south", "east", "west"], n),
        }
    )
    logit = (
        0.04 * (frame["monthly_charges"] - 70)
        - 0.06 * (frame["tenure_months"] - 36)
        + 0.5 * (frame["support_calls"] - 1.5)
    )
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return frame, churned.astype(int).to_numpy()


def build(config: TrainConfig, random_state: int | None = None) -> Pipeline:
    """The pipeline: scale the numeric features, one-hot the plan, logistic regression."""
    columns = ColumnTransformer(
        [
            ("numeric", StandardScaler(), config.features.numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), config.features.categorical),
        ]
    )
    model = LogisticRegression(
        C=config.model.C, max_iter=config.model.max_iter, random_state=random_state
    )
    return Pipeline([("columns", columns), ("model", model)])


FEATURE_QUERY = """
SELECT c.customer_id, c.monthly_charges, c.tenure_months, c.plan,
       COUNT(t.id) AS support_calls
FROM customers AS c LEFT JOIN tickets AS t ON t.customer_id = c.customer_id
GROUP BY c.customer_id, c.monthly_charges, c.tenure_months, c.plan
"""


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config() -> TrainConfig:
    return validate_config(HERE / "train.yaml", TrainConfig)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return customers()


@pytest.fixture(scope="module")
def model(config: TrainConfig, data: tuple[pd.DataFrame, np.ndarray]):  # noqa: ANN201
    X, y = data
    return build(config, random_state=config.seed).fit(X, y)


# -- data and config ------------------------------------------------------------------------


def test_config_file_matches_the_model(config: TrainConfig) -> None:
    assert config.model.max_iter == 500 and "plan" in config.features.categorical


def test_input_data_meets_its_contract(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    schema = pa.DataFrameSchema(
        {
            "customer_id": pa.Column(int, unique=True),
            "monthly_charges": pa.Column(float, pa.Check.in_range(0, 500)),
            "tenure_months": pa.Column(int, pa.Check.ge(0)),
            "support_calls": pa.Column(int, pa.Check.ge(0)),
            "plan": pa.Column(str, pa.Check.isin(["basic", "plus", "pro"])),
            "region": pa.Column(str),
        },
        strict=True,
    )
    assert_frame_contract(data[0], schema)


def test_feature_query_plans_on_the_warehouse_schema() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(
        "CREATE TABLE customers (customer_id INTEGER, monthly_charges REAL, tenure_months INTEGER,"
        " plan TEXT);"
        "CREATE TABLE tickets (id INTEGER, customer_id INTEGER, opened TEXT);"
    )
    assert_sql_valid(FEATURE_QUERY, connection=db)


# -- training -------------------------------------------------------------------------------


def test_boosting_loss_goes_down(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    numeric = X[["monthly_charges", "tenure_months", "support_calls"]]
    boosting = GradientBoostingClassifier(n_estimators=60, random_state=0).fit(numeric, y)
    assert_loss_decreases(boosting.train_score_, min_relative_drop=0.2)


def test_a_tree_can_memorise_a_tiny_batch(tiny_classification) -> None:  # noqa: ANN001
    from sklearn.tree import DecisionTreeClassifier

    X, y = tiny_classification  # the plugin's seeded fixture
    tree = DecisionTreeClassifier(random_state=0)
    assert_can_overfit(tree.fit, tree.predict, X, y, threshold=1.0)


def test_training_is_reproducible(
    config: TrainConfig, data: tuple[pd.DataFrame, np.ndarray], ml_seed: int
) -> None:
    X, y = data
    assert_reproducible(
        lambda seed: build(config, random_state=seed).fit(X, y).predict_proba(X), seed=ml_seed
    )


# -- the artifact ---------------------------------------------------------------------------


def test_the_pickled_artifact_agrees_with_the_trained_model(model, data) -> None:  # noqa: ANN001
    X, _ = data
    artifact = pickle.loads(pickle.dumps(model))
    assert_backends_agree(
        model.predict_proba, artifact.predict_proba, X, names=("trained", "pickled"), rtol=0, atol=0
    )


@pytest.mark.ml_latency
def test_scoring_a_batch_meets_the_latency_budget(model, data) -> None:  # noqa: ANN001
    X, _ = data
    assert_latency(model.predict_proba, X.head(100), p95_ms=250.0, repeats=20)


def test_identifiers_and_region_do_not_change_the_answer(model, data) -> None:  # noqa: ANN001
    X, _ = data
    assert_invariant(model.predict_proba, X, shuffle_column("customer_id"))
    assert_invariant(model.predict_proba, X, set_value("region", "north"))


def test_more_support_calls_never_lower_the_churn_risk(model, data) -> None:  # noqa: ANN001
    X, _ = data
    assert_directional(
        model.predict_proba, X, perturb_column("support_calls", 2), direction="increase", output=1
    )
    assert_directional(
        model.predict_proba, X, perturb_column("tenure_months", 12), direction="decrease", output=1
    )


def test_priority_segments_are_served(model, data) -> None:  # noqa: ANN001
    X, y = data
    assert_segment_performance(
        model.predict,
        X,
        y,
        {
            "pro plan": {"plan": "pro"},
            "new customers": X["tenure_months"] < 12,
            "many calls": lambda X: X["support_calls"] >= 3,
        },
        metric="accuracy",
        min_score=0.7,
        min_size=40,
    )
