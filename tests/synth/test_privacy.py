"""Privacy metrics of quality_report against a holdout: a copy leaks, a fresh sample does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.synth import GaussianCopula, customers, quality_report
from tessera.synth._marginals import ContinuousMarginal, DiscreteMarginal
from tessera.synth._privacy import _auc


@pytest.fixture(scope="module")
def halves() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    full = customers(3000, random_state=5)
    return full.iloc[:1000], full.iloc[1000:2000], full.iloc[2000:].reset_index(drop=True)


def test_auc_matches_scikit_learn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    a, b = rng.normal(0.3, 1, 200), np.round(rng.normal(0, 1, 300), 1)
    labels = np.r_[np.ones(a.size), np.zeros(b.size)]
    assert _auc(a, b) == pytest.approx(roc_auc_score(labels, np.r_[a, b]))


def test_a_copy_of_the_training_rows_leaks_everything(halves) -> None:
    train, holdout, _ = halves
    report = quality_report(train, train.copy(), holdout=holdout, ml_efficacy=False)
    p = report.privacy
    assert p is not None
    assert p["exact_copy_rate"] == 1.0 and p["min_distance"] == 0.0
    assert p["dcr_closer_to_train"] > 0.95
    assert p["distance_attack_auc"] > 0.95


def test_fresh_rows_of_the_same_population_leak_nothing(halves) -> None:
    train, holdout, fresh = halves
    report = quality_report(train, fresh, holdout=holdout, ml_efficacy=False)
    p = report.privacy
    assert p is not None
    assert p["exact_copy_rate"] == pytest.approx(p["holdout_copy_rate"], abs=0.01)
    assert 0.44 < p["dcr_closer_to_train"] < 0.56
    assert 0.44 < p["distance_attack_auc"] < 0.56


def test_copula_rows_are_like_fresh_rows_and_keys_are_new(halves) -> None:
    train, holdout, _ = halves
    synthetic = GaussianCopula().fit(train).sample(1000, random_state=0)
    report = quality_report(train, synthetic, holdout=holdout, ml_efficacy=False)
    assert report.identifier_copies == {"customer_id": 0.0, "household": 0.0}
    assert set(report.ignored) == {"customer_id", "household", "note"}
    p = report.privacy
    assert p is not None and p["exact_copy_rate"] == 0.0
    assert p["distance_attack_auc"] < 0.56
    assert "distance-attack AUC" in report.summary()
    assert "Identifiers, text and privacy" in report.to_html()


def test_kept_identifiers_are_counted_as_real_keys(halves) -> None:
    train, _, _ = halves
    columns = ["household", "age", "segment"]
    model = GaussianCopula(identifiers="keep").fit(train[columns])
    report = quality_report(train[columns], model.sample(500, random_state=0), ml_efficacy=False)
    assert report.identifier_copies["household"] == 1.0


def test_holdout_must_have_the_real_columns(halves) -> None:
    train, holdout, _ = halves
    with pytest.raises(InvalidInputError, match="holdout"):
        quality_report(train, train, holdout=holdout[["age"]], ml_efficacy=False)


def _stored_numbers(document: dict) -> list[float]:
    out: list[float] = []
    for column in document["columns"]:
        marginal = column["marginal"]
        if marginal["kind"] == "continuous":
            out.extend(marginal["x_knots"])
    for segment in document["segments"]:
        out.extend(_stored_numbers(segment["model"]))
    return out


def test_privacy_mode_stores_no_value_held_by_fewer_than_ten_rows(halves) -> None:
    train, _, _ = halves
    plain = GaussianCopula().fit(train).to_dict()
    private = GaussianCopula(privacy=True).fit(train).to_dict()
    numbers = train[["age", "income", "balance"]].stack()
    counts = numbers.value_counts()
    rare = set(counts[counts < 10].index)
    assert set(_stored_numbers(plain)) & rare  # plain knots are the data's values
    assert not set(_stored_numbers(private)) & rare
    assert train["balance"].min() not in _stored_numbers(private)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(20, 400), seed=st.integers(0, 2**16))
def test_binned_knots_are_means_of_at_least_ten_rows(n: int, seed: int) -> None:
    values = np.random.default_rng(seed).lognormal(size=n).round(3)
    marginal = ContinuousMarginal.fit(values, decimals=3, min_count=10)
    assert marginal.x_knots.size == max(2, min(n // 10, 2000))
    assert np.all(np.diff(marginal.x_knots) >= 0)
    assert values.min() <= marginal.x_knots[0] and marginal.x_knots[-1] <= values.max()
    # The binned marginal is the real one to within a bin.
    sample = marginal.sample(np.random.default_rng(1).standard_normal(20_000))
    assert abs(np.median(sample) - np.median(values)) <= np.ptp(values) * 12 / n + 1e-3


def test_rare_labels_and_numbers_are_not_kept() -> None:
    labels = np.array(["a"] * 30 + ["b"] * 12 + ["c"] * 3, dtype=object)
    marginal = DiscreteMarginal.fit(labels, min_count=10)
    assert sorted(marginal.values) == ["a", "b"]
    numbers = np.array([1.0] * 20 + [2.0] * 15 + [9.0] * 2)
    assert sorted(DiscreteMarginal.fit(numbers, min_count=10).values) == [1.0, 2.0]


def test_privacy_mode_keeps_quality_and_gives_nothing_away(halves) -> None:
    train, holdout, _ = halves
    model = GaussianCopula(privacy=True).fit(train)
    synthetic = model.sample(1000, random_state=0)
    scored = quality_report(holdout, synthetic, ml_efficacy=False)
    assert scored.scores["overall"] > 0.9
    privacy = quality_report(train, synthetic, holdout=holdout, ml_efficacy=False).privacy
    assert privacy is not None and privacy["distance_attack_auc"] <= 0.55
    loaded = GaussianCopula.from_dict(model.to_dict())
    assert loaded.privacy is True


@pytest.mark.browser
def test_report_with_privacy_renders(halves, tmp_path, browser) -> None:  # type: ignore[no-untyped-def]
    train, holdout, _ = halves
    synthetic = GaussianCopula().fit(train).sample(800, random_state=0)
    report = quality_report(train, synthetic, holdout=holdout, ml_efficacy=False)
    path = report.save_html(tmp_path / "report.html")
    with browser.open(path) as page:
        assert page.errors == []
        assert page.outside_requests == []
        assert page.count("img") == 2
        text = page.text("body")
        assert "distance-attack AUC" in text and "not scored: note" in text


def test_drop_near_copies_enforces_the_minimum_distance(halves) -> None:
    from tessera.synth import drop_near_copies

    train, holdout, fresh = halves
    mixed = pd.concat([train.head(100), fresh.head(400)], ignore_index=True)
    kept = drop_near_copies(mixed, train, min_distance=0.0)
    assert len(kept) == 400 and kept.index.min() >= 100  # exact copies gone, the rest kept
    far = drop_near_copies(mixed, train, min_distance=0.5)
    report = quality_report(train, far, holdout=holdout, ml_efficacy=False)
    assert report.privacy is not None and report.privacy["min_distance"] >= 0.5
    with pytest.raises(InvalidInputError, match="min_distance"):
        drop_near_copies(mixed, train, min_distance=-1.0)
    with pytest.raises(InvalidInputError, match="synthetic.columns"):
        drop_near_copies(mixed[["age"]], train, min_distance=0.1)
