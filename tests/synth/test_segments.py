"""Segmented copulas: classes that differ in several directions keep their association."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tessera.errors import InvalidInputError
from tessera.synth import GaussianCopula, quality_report


@pytest.fixture(scope="module")
def classes() -> pd.DataFrame:
    """Three classes: A high in x, low in y; B low in both; C high in y (not one order)."""
    rng = np.random.default_rng(0)
    centres = {"A": (3.0, -3.0, 0.0), "B": (-3.0, -3.0, 0.0), "C": (0.0, 3.0, 0.0)}
    frames = []
    for label, (cx, cy, cz) in centres.items():
        n = 300
        x = rng.normal(cx, 1.0, n)
        y = rng.normal(cy, 1.0, n) + (0.8 if label == "C" else -0.8) * (x - cx)
        frames.append(pd.DataFrame({"x": x, "y": y, "z": rng.normal(cz, 1, n), "label": label}))
    return pd.concat(frames, ignore_index=True)


def test_auto_segments_and_keeps_class_means(classes: pd.DataFrame) -> None:
    model = GaussianCopula().fit(classes)
    assert model.segment_by_ == "label"
    synthetic = model.sample(6000, random_state=0)
    real_means = classes.groupby("label")[["x", "y"]].mean()
    fake_means = synthetic.groupby("label")[["x", "y"]].mean()
    assert np.allclose(real_means, fake_means, atol=0.15)
    # Within-class correlations of opposite signs survive.
    corr = synthetic.groupby("label")[["x", "y"]].corr().xs("x", level=1)["y"]
    assert corr["A"] < -0.4 and corr["C"] > 0.4


def test_segmenting_beats_a_single_copula(classes: pd.DataFrame) -> None:
    single = GaussianCopula(segment_by=None).fit(classes)
    segmented = GaussianCopula().fit(classes)
    score_single = quality_report(classes, single.sample(900, random_state=1), ml_efficacy=False)
    score_seg = quality_report(classes, segmented.sample(900, random_state=1), ml_efficacy=False)
    assert score_seg.scores["pair_trends"] > score_single.scores["pair_trends"] + 0.05


def test_conditions_with_segments(classes: pd.DataFrame) -> None:
    model = GaussianCopula().fit(classes)
    only_c = model.sample(500, conditions={"label": "C"}, random_state=2)
    assert (only_c["label"] == "C").all() and only_c["y"].mean() > 2
    # A high x makes class A (x ~ 3) far likelier than B (x ~ -3).
    high_x = model.sample(2000, conditions={"x": 3.0}, random_state=3)
    assert (high_x["x"] == 3.0).all()
    shares = high_x["label"].value_counts(normalize=True)
    assert shares.get("A", 0) > 0.6 and shares.get("B", 0) < 0.05


def test_round_trip_and_describe(classes: pd.DataFrame, tmp_path) -> None:
    model = GaussianCopula().fit(classes)
    loaded = GaussianCopula.load(model.save(tmp_path / "m.json"))
    pd.testing.assert_frame_equal(
        loaded.sample(200, random_state=5), model.sample(200, random_state=5)
    )
    description = model.describe()
    assert sorted(description.segments["label"]) == ["A", "B", "C"]
    assert "one copula per segment" in str(description)


def test_explicit_and_invalid_segment_by(classes: pd.DataFrame) -> None:
    assert GaussianCopula(segment_by="label").fit(classes).segment_by_ == "label"
    with pytest.raises(InvalidInputError, match="segment_by='x'.*categorical"):
        GaussianCopula(segment_by="x").fit(classes)
    with pytest.raises(InvalidInputError, match="segment_by='nope'"):
        GaussianCopula(segment_by="nope").fit(classes)
