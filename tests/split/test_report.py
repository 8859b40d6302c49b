"""split_report: its statistics against scipy, and its HTML and terminal renderings."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy.spatial.distance import cdist
from scipy.stats import ks_2samp

from tessera.errors import InvalidInputError
from tessera.split import energy_distance, split_report, train_val_test_split


def frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.exponential(size=n),
            "kind": rng.choice(["a", "b", "c"], n),
            "y": rng.integers(0, 2, n),
        }
    )


def test_energy_distance_matches_the_definition() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 3)), rng.normal(1, 1, size=(20, 3))
    expected = 2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean()
    assert energy_distance(a, b) == pytest.approx(expected)
    assert energy_distance(a, a) == pytest.approx(0.0, abs=1e-12)


def test_energy_distance_of_large_parts_is_a_bounded_sample() -> None:
    """Parts of 300,000 and 100,000 rows (a full distance matrix would take 240 GB): the
    seeded sample keeps memory small, gives the same value on every call, and estimates
    the exact value (a shift of 0.5 in one column)."""
    import tracemalloc

    from tessera.split._report import ENERGY_MAX_ROWS

    rng = np.random.default_rng(2)
    a = rng.normal(size=(300_000, 3))
    b = rng.normal(size=(100_000, 3)) + np.array([0.5, 0.0, 0.0])
    tracemalloc.start()
    value = energy_distance(a, b)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 2**20
    assert energy_distance(a, b) == value
    # the exact value on samples of the same size drawn independently: the estimate's scale
    exact = energy_distance(a[:ENERGY_MAX_ROWS], b[:ENERGY_MAX_ROWS])
    assert value == pytest.approx(exact, abs=0.02)
    assert 0.09 < value < 0.17


def test_statistics_agree_with_scipy_and_direct_counts() -> None:
    data = frame()
    train, val, test = train_val_test_split(data, target="y", method="random", random_state=0)
    report = split_report([train, val, test], target="y")
    assert report.names == ["train", "val", "test"] and report.sizes == [72, 24, 24]
    x_val = next(c for c in report.columns if c.column == "x" and c.part == "val")
    assert x_val.ks == pytest.approx(ks_2samp(train.x, val.x).statistic)
    kind_test = next(c for c in report.columns if c.column == "kind" and c.part == "test")
    shares = [
        s["kind"].value_counts(normalize=True).reindex(list("abc"), fill_value=0)
        for s in (train, test)
    ]
    assert kind_test.total_variation == pytest.approx(0.5 * (shares[0] - shares[1]).abs().sum())
    assert 0.0 <= kind_test.chi2_pvalue <= 1.0 and kind_test.psi >= 0
    assert set(report.class_balance) == {"train", "val", "test"}
    assert sum(report.class_balance["val"].values()) == pytest.approx(1.0)


def test_identical_parts_show_no_divergence_and_shifted_parts_do() -> None:
    data = frame(60)
    same = split_report([data, data.copy()])
    assert same.energy["test"] == pytest.approx(0.0, abs=1e-12)
    assert same.worst("ks") == 0.0 and same.worst("psi") == pytest.approx(0.0, abs=1e-12)
    shifted = data.copy()
    shifted["x"] += 3
    moved = split_report([data, shifted])
    assert moved.worst("ks") > 0.8 and moved.energy["test"] > 0.3


def test_auto_split_reports_lower_divergence_than_random() -> None:
    data = frame(300, seed=3)
    auto = split_report(train_val_test_split(data, target="y", random_state=0), "y")
    random = split_report(
        train_val_test_split(data, target="y", method="random", random_state=0), "y"
    )
    assert max(auto.energy.values()) < max(random.energy.values())


def test_html_is_self_contained() -> None:
    data = frame(80)
    page = split_report(train_val_test_split(data, target="y", random_state=0), "y").to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) == 1 + 4  # the PCA scatter and one picture per column
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(href|src)=\"(https?:)?//", page)


def test_terminal_summary_names_every_part() -> None:
    data = frame(60)
    report = split_report(train_val_test_split(data, random_state=0))
    buffer = io.StringIO()
    report.print(Console(file=buffer, width=100))
    text = buffer.getvalue()
    assert "Split report" in text and "val" in text and "test" in text


def test_identifier_columns_are_left_out() -> None:
    data = frame(60)
    data["name"] = [f"id{i}" for i in range(60)]
    data["code"] = np.arange(60)
    report = split_report(train_val_test_split(data, random_state=0), id_columns=["code"])
    assert report.identifiers == ["name", "code"]
    assert {c.column for c in report.columns} == {"x", "z", "kind", "y"}


def test_bad_inputs() -> None:
    data = frame(30)
    with pytest.raises(InvalidInputError, match=r"target='nope'.*no such column"):
        split_report([data, data], target="nope")
    with pytest.raises(InvalidInputError, match=r"parts=.*at least two parts"):
        split_report([data])
    with pytest.raises(InvalidInputError, match=r"same columns"):
        split_report([data, data[["x"]]])


@pytest.mark.browser
def test_report_loads_in_a_browser_without_errors(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = frame(90)
    data["name"] = [f"id{i}" for i in range(90)]
    path = split_report(train_val_test_split(data, target="y", random_state=0), "y").write_html(
        tmp_path / "report.html"
    )
    with browser.open(path) as page:
        assert page.errors == []
        assert page.outside_requests == []
        assert page.count("img") == 1 + 4  # the identifier column gets no picture
        assert page.evaluate(
            "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
        )
