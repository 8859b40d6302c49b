"""GaussianCopula: recovery of known marginals and correlations, guarantees, conditions, I/O."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tessera.errors import InvalidInputError, InvalidTypeError
from tessera.mltest import assert_reproducible
from tessera.synth import GaussianCopula


def _known_table(n: int = 4000, rho: float = 0.7, seed: int = 0) -> pd.DataFrame:
    """Gaussian copula with correlation rho: x ~ Exp(2), y ~ N(5, 2), k ~ Poisson(3), c."""
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal([0, 0, 0, 0], _corr(rho), size=n)
    u = stats.norm.cdf(z)
    return pd.DataFrame(
        {
            "x": np.round(stats.expon.ppf(u[:, 0], scale=2.0), 3),
            "y": np.round(stats.norm.ppf(u[:, 1], loc=5.0, scale=2.0), 2),
            "k": stats.poisson.ppf(u[:, 2], 3.0).astype(np.int64),
            "c": np.where(u[:, 3] < 0.2, "low", np.where(u[:, 3] < 0.7, "mid", "high")),
        }
    )


def _corr(rho: float) -> np.ndarray:
    corr = np.full((4, 4), rho)
    np.fill_diagonal(corr, 1.0)
    return corr


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _known_table()


@pytest.fixture(scope="module")
def model(table: pd.DataFrame) -> GaussianCopula:
    return GaussianCopula().fit(table)


def test_marginals_recovered(model: GaussianCopula, table: pd.DataFrame) -> None:
    synthetic = model.sample(20_000, random_state=1)
    for name in ("x", "y"):
        assert stats.ks_2samp(table[name], synthetic[name]).statistic < 0.03
    assert synthetic["y"].mean() == pytest.approx(5.0, abs=0.1)
    assert synthetic["y"].std() == pytest.approx(2.0, abs=0.1)
    real_freq = table["c"].value_counts(normalize=True)
    synth_freq = synthetic["c"].value_counts(normalize=True)
    assert (real_freq - synth_freq).abs().max() < 0.02
    assert synthetic["k"].mean() == pytest.approx(3.0, abs=0.1)


def test_latent_correlation_recovered(model: GaussianCopula) -> None:
    # The ordinal category's frequency order differs from its value order; whatever
    # layout the fit picks, the magnitude of the latent correlation is recovered.
    corr = np.abs(model.correlation_)
    off = corr[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off - 0.7) < 0.06), corr


def test_spearman_of_samples_matches_data(model: GaussianCopula, table: pd.DataFrame) -> None:
    synthetic = model.sample(20_000, random_state=2)
    real = table[["x", "y", "k"]].corr(method="spearman").to_numpy()
    fake = synthetic[["x", "y", "k"]].corr(method="spearman").to_numpy()
    assert np.abs(real - fake).max() < 0.05


def test_guarantees_bounds_rounding_types(model: GaussianCopula, table: pd.DataFrame) -> None:
    synthetic = model.sample(5000, random_state=3)
    assert list(synthetic.columns) == list(table.columns)
    assert synthetic["x"].between(table["x"].min(), table["x"].max()).all()
    assert np.allclose(synthetic["x"] * 1000, np.round(synthetic["x"] * 1000))
    assert np.allclose(synthetic["y"] * 100, np.round(synthetic["y"] * 100))
    assert synthetic["k"].dtype == np.int64
    assert set(synthetic["k"]) <= set(table["k"])
    assert set(synthetic["c"]) <= {"low", "mid", "high"}


def test_reproducible_and_seed_sensitive(model: GaussianCopula) -> None:
    first = assert_reproducible(lambda seed: model.sample(200, random_state=seed), seed=7)
    other = model.sample(200, random_state=8)
    assert not first.equals(other)


def test_missing_values_datetimes_booleans() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    value = rng.normal(size=n)
    value[rng.random(n) < 0.25] = np.nan
    flag = rng.random(n) < 0.3
    frame = pd.DataFrame({"when": when, "value": value, "flag": flag})
    synthetic = GaussianCopula().fit(frame).sample(20_000, random_state=0)
    assert synthetic["value"].isna().mean() == pytest.approx(0.25, abs=0.015)
    assert synthetic["when"].dtype.kind == "M"
    assert (synthetic["when"] == synthetic["when"].dt.normalize()).all()  # whole days
    assert synthetic["when"].between(frame["when"].min(), frame["when"].max()).all()
    assert synthetic["flag"].dtype == bool
    assert synthetic["flag"].mean() == pytest.approx(0.3, abs=0.015)


def test_conditions_fix_values_and_shift_the_rest(model: GaussianCopula) -> None:
    high = model.sample(4000, conditions={"c": "high"}, random_state=0)
    low = model.sample(4000, conditions={"c": "low"}, random_state=0)
    assert (high["c"] == "high").all() and (low["c"] == "low").all()
    # Positive dependence: the rest moves up with the category.
    assert high["y"].mean() > low["y"].mean() + 1.0
    point = model.sample(2000, conditions={"y": 7.0}, random_state=0)
    assert (point["y"] == 7.0).all()
    assert point["x"].median() > model.sample(2000, random_state=0)["x"].median()


def test_conditional_matches_rejection_sampling(model: GaussianCopula) -> None:
    # Metamorphic: conditioning on a category = keeping unconditional rows with that category.
    pool = model.sample(60_000, random_state=5)
    kept = pool[pool["c"] == "mid"]
    conditioned = model.sample(len(kept), conditions={"c": "mid"}, random_state=6)
    for name in ("x", "y"):
        assert stats.ks_2samp(kept[name], conditioned[name]).statistic < 0.03


def test_two_interval_conditions(model: GaussianCopula) -> None:
    pool = model.sample(80_000, random_state=9)
    kept = pool[(pool["c"] == "high") & (pool["k"] == 2)]
    conditioned = model.sample(3000, conditions={"c": "high", "k": 2}, random_state=1)
    assert (conditioned["k"] == 2).all()
    assert stats.ks_2samp(kept["y"], conditioned["y"]).statistic < 0.06


def test_save_load_round_trip(model: GaussianCopula, tmp_path) -> None:
    path = model.save(tmp_path / "model.json")
    document = json.loads(path.read_text())
    assert document["format"] == "tessera.synth.GaussianCopula" and document["version"] == 1
    loaded = GaussianCopula.load(path)
    pd.testing.assert_frame_equal(
        loaded.sample(300, random_state=4), model.sample(300, random_state=4)
    )


def test_describe(model: GaussianCopula) -> None:
    description = model.describe()
    assert list(description.columns.index) == ["x", "y", "k", "c"]
    assert description.columns.loc["c", "marginal"] == "discrete"
    assert description.correlation.shape == (4, 4)
    assert "latent correlation" in str(description)


@settings(max_examples=15)
@given(
    n=st.integers(3, 60),
    shift=st.floats(-1e3, 1e3, allow_nan=False),
    seed=st.integers(0, 2**16),
)
def test_any_small_numeric_table_stays_in_range(n: int, shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n) + shift, "b": rng.integers(0, 4, n)})
    synthetic = GaussianCopula().fit(frame).sample(50, random_state=seed)
    assert synthetic["a"].between(frame["a"].min(), frame["a"].max()).all()
    assert set(synthetic["b"]) <= set(frame["b"])


def test_affine_change_of_a_column_moves_samples_the_same_way(table: pd.DataFrame) -> None:
    # Metamorphic: rescaling a continuous column rescales its samples, nothing else moves.
    changed = table.assign(y=table["y"] * 10 + 3)
    a = GaussianCopula().fit(table).sample(500, random_state=0)
    b = GaussianCopula().fit(changed).sample(500, random_state=0)
    assert np.allclose(b["y"], a["y"] * 10 + 3, atol=0.06)
    pd.testing.assert_series_equal(a["x"], b["x"])


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda m: GaussianCopula().fit([[1, 2]]), InvalidTypeError, "pandas DataFrame"),
        (lambda m: GaussianCopula().fit(pd.DataFrame({"a": [1.0]})), InvalidInputError, "2 rows"),
        (
            lambda m: GaussianCopula(shrinkage=2).fit(pd.DataFrame({"a": [1, 2]})),
            InvalidInputError,
            "shrinkage=2",
        ),
        (lambda m: GaussianCopula().sample(3), InvalidInputError, "not fitted"),
        (lambda m: m.sample(-1), InvalidInputError, "n=-1"),
        (lambda m: m.sample(3, random_state="a"), InvalidTypeError, "random_state='a'"),
        (lambda m: m.sample(3, conditions={"zz": 1}), InvalidInputError, "'zz' is not a fitted"),
        (lambda m: m.sample(3, conditions={"c": "huge"}), InvalidInputError, "not one of"),
        (lambda m: m.sample(3, conditions={"x": 1e9}), InvalidInputError, "outside the fitted"),
        (
            lambda m: GaussianCopula().fit(pd.DataFrame({"a": [np.nan, np.nan]})),
            InvalidInputError,
            "no non-missing",
        ),
    ],
)
def test_bad_arguments(model: GaussianCopula, call, error, needle: str) -> None:
    with pytest.raises(error, match=needle.replace("(", r"\(").replace("[", r"\[")):
        call(model)


def test_load_rejects_other_documents(tmp_path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InvalidInputError, match="GaussianCopula.save"):
        GaussianCopula.load(path)
