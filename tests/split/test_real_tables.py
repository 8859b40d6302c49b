"""Real tables in split: dates by value, ids left out, text by its words, groups by membership."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tessera.cli._app import app
from tessera.split import split_report, train_val_test_split
from tessera.synth import customers

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _register() -> None:
    from tessera.cli import _split  # noqa: F401


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return customers(900, random_state=2)


@pytest.fixture(scope="module")
def parts(table: pd.DataFrame) -> list[pd.DataFrame]:
    return train_val_test_split(table, groups="household", random_state=0)


def test_dates_written_as_text_are_compared_by_value(table, parts) -> None:
    report = split_report(parts, groups="household")
    signup = [c for c in report.columns if c.column == "signup"]
    assert {c.kind for c in signup} == {"datetime"}
    # A balanced split of dates is stable by value (as text they were 900 categories).
    assert max(c.psi for c in signup) < 0.1 and max(c.ks for c in signup) < 0.15
    assert report.frames[0]["signup"].dtype.kind == "M"


def test_the_same_dates_as_categories_would_look_unstable(parts) -> None:
    typed_as_labels = split_report(parts, groups="household", types={"signup": "category"})
    signup = [c for c in typed_as_labels.columns if c.column == "signup"]
    assert max(c.total_variation for c in signup) > 0.5


def test_identifiers_are_left_out_with_the_reason_and_text_compared_by_words(parts) -> None:
    report = split_report(parts, groups="household")
    assert set(report.ignored) == {"customer_id", "household"}
    assert report.ignored["customer_id"].startswith("identifier")
    assert {c.column for c in report.columns}.isdisjoint(report.ignored)
    note = [c for c in report.columns if c.column == "note"]
    assert [c.kind for c in note] == ["text", "text"]
    assert all(0 <= c.total_variation < 0.2 and 0 <= c.ks < 0.2 for c in note)


def test_group_column_is_judged_by_membership(table, parts) -> None:
    report = split_report(parts, groups="household")
    (check,) = report.groups
    assert check.ok and check.n_groups == table["household"].nunique()
    assert sum(check.groups_per_part.values()) == check.n_groups
    # A random split by rows breaks households: the check says which.
    rng = np.random.default_rng(0)
    order = rng.permutation(len(table))
    broken = [table.iloc[order[:600]], table.iloc[order[600:]]]
    bad = split_report(broken, groups="household").groups[0]
    assert not bad.ok and len(bad.shared) > 50


def test_groups_kept_together_by_the_split(parts) -> None:
    sets = [set(p["household"]) for p in parts]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def test_text_and_html_say_what_was_left_out(parts) -> None:
    report = split_report(parts, groups="household")
    buffer = io.StringIO()
    report.print(Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert "text column note: word frequencies vs train" in text
    assert "group column household:" in text and "none in two parts" in text
    page = report.to_html()
    assert "Columns left out of the comparison" in page and "judged by membership" in page
    assert "PSI" in page


def test_dates_enter_the_split_distance_by_value() -> None:
    # Two clusters of dates far apart: a balanced split puts half of each in each part.
    days = np.r_[np.zeros(50), np.full(50, 3000)] + np.arange(100) % 7
    stamps = pd.Timestamp("2010-01-01") + pd.to_timedelta(days, unit="D")
    frame = pd.DataFrame({"when": stamps.strftime("%Y-%m-%d")})
    train, test = train_val_test_split(frame, sizes=(0.5, 0.5), random_state=0)
    early = train["when"] < "2012"
    assert early.sum() == 25


def test_cli_split_prints_kinds_and_judges_the_group(table, tmp_path) -> None:
    data = tmp_path / "customers.xlsx"
    table.to_excel(data, index=False)
    result = runner.invoke(
        app,
        [
            "split",
            str(data),
            "--out",
            str(tmp_path / "parts"),
            "--group",
            "household",
            "--seed",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "signup       datetime (%d/%m/%Y)" in result.output
    assert "none in two parts" in result.output
    assert "left out: customer_id" in result.output
    train = pd.read_csv(tmp_path / "parts" / "train.csv", dtype=str)
    assert train["signup"].str.fullmatch(r"\d\d/\d\d/\d{4}").all()


@pytest.mark.browser
def test_report_with_groups_loads_in_a_browser(browser, parts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = split_report(parts, groups="household").write_html(tmp_path / "report.html")
    with browser.open(path) as page:
        assert page.errors == []
        assert page.outside_requests == []
        # One PCA picture and one per compared column (not the 3 left out).
        assert page.count("img") == 1 + 8
