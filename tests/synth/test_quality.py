"""quality_report: scores against independent references, metamorphic checks, the page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tessera.errors import InvalidInputError, InvalidTypeError
from tessera.synth import GaussianCopula, quality_report


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "y": 2 * x + rng.normal(size=n),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"),
            "c": np.where(x + rng.normal(size=n) > 0, "yes", "no"),
        }
    )


def test_identical_tables_score_one(real: pd.DataFrame) -> None:
    report = quality_report(real, real, ml_efficacy=False)
    assert report.scores["overall"] == pytest.approx(1.0)
    assert report.scores["coverage"] == pytest.approx(1.0)


def test_shapes_match_scipy_ks(real: pd.DataFrame) -> None:
    other = real.assign(x=real["x"] + 0.5)
    report = quality_report(real, other, ml_efficacy=False)
    shapes = report.column_shapes.set_index("column")["score"]
    assert shapes["x"] == pytest.approx(1 - stats.ks_2samp(real["x"], other["x"]).statistic)
    assert shapes["y"] == pytest.approx(1.0)


def test_pair_trend_reacts_to_broken_dependence(real: pd.DataFrame) -> None:
    # Metamorphic: shuffling a column keeps its shape and destroys its pair trends.
    rng = np.random.default_rng(1)
    shuffled = real.assign(y=rng.permutation(real["y"].to_numpy()))
    report = quality_report(real, shuffled, ml_efficacy=False)
    shapes = report.column_shapes.set_index("column")["score"]
    assert shapes["y"] == pytest.approx(1.0)
    trends = report.pair_trends.set_index(["column_1", "column_2"])["score"]
    real_corr = np.corrcoef(real["x"], real["y"])[0, 1]
    fake_corr = np.corrcoef(real["x"], shuffled["y"])[0, 1]
    assert trends[("x", "y")] == pytest.approx(1 - abs(real_corr - fake_corr) / 2)
    assert trends[("x", "y")] < 0.65
    assert (
        report.scores["pair_trends"]
        < quality_report(real, real, ml_efficacy=False).scores["pair_trends"]
    )


def test_category_tvd_and_coverage(real: pd.DataFrame) -> None:
    only_yes = real.assign(c="yes")
    report = quality_report(real, only_yes, ml_efficacy=False)
    shapes = report.column_shapes.set_index("column")["score"]
    assert shapes["c"] == pytest.approx((real["c"] == "yes").mean())
    coverage = report.coverage.set_index("column")["score"]
    assert coverage["c"] == pytest.approx(0.5)


def test_ml_efficacy_copula_vs_noise(real: pd.DataFrame) -> None:
    good = GaussianCopula().fit(real).sample(len(real), random_state=0)
    rng = np.random.default_rng(2)
    noise = good.assign(c=rng.permutation(good["c"].to_numpy()))
    on_good = quality_report(real, good, target="c").ml_efficacy
    on_noise = quality_report(real, noise, target="c").ml_efficacy
    assert on_good is not None and on_noise is not None
    assert on_good["task"] == "classification"
    assert on_good["ratio"] > 0.85 > on_noise["ratio"]


def test_summary_and_html(real: pd.DataFrame, tmp_path) -> None:
    synthetic = GaussianCopula().fit(real).sample(400, random_state=0)
    report = quality_report(real, synthetic, target="y")
    assert report.ml_efficacy is not None and report.ml_efficacy["task"] == "regression"
    assert "overall quality" in report.summary()
    page = report.save_html(tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "http://" not in page and "https://" not in page and "<script" not in page


@pytest.mark.browser
def test_report_page_renders(real: pd.DataFrame, tmp_path, browser) -> None:
    synthetic = GaussianCopula().fit(real).sample(600, random_state=0)
    path = quality_report(real, synthetic).save_html(tmp_path / "report.html")
    with browser.open(path) as page:
        assert page.errors == []
        assert page.outside_requests == []
        assert page.count("img") == 2
        widths = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        assert all(w > 300 for w in widths)  # the figures decoded
        assert "overall" in page.text("table")


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda r: quality_report(r.to_numpy(), r), InvalidTypeError, "real="),
        (lambda r: quality_report(r, r[["x", "y"]]), InvalidInputError, "synthetic.columns"),
        (lambda r: quality_report(r, r, target="z"), InvalidInputError, "target='z'"),
        (lambda r: quality_report(r, r.head(1)), InvalidInputError, "at least 2 rows"),
    ],
)
def test_bad_arguments(real: pd.DataFrame, call, error, needle: str) -> None:
    with pytest.raises(error, match=needle):
        call(real)
