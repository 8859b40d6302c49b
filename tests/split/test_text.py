"""Free text in split: TF-IDF components in the distance, word use compared in the report."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tessera.cli._app import app
from tessera.split import split_report, train_val_test_split
from tessera.split._columns import distance_view, text_features

TOPICS = {
    "billing": "invoice payment refund charge card statement overdue",
    "delivery": "parcel courier shipping delayed tracking address depot",
    "account": "password login locked email reset profile security",
}
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _register() -> None:
    from tessera.cli import _split  # noqa: F401


def tickets(n: int, seed: int) -> pd.DataFrame:
    """Support tickets: three topics with their own words, a number unrelated to them."""
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    topic = rng.choice(len(names), size=n, p=[0.45, 0.35, 0.20])
    words = {k: v.split() for k, v in TOPICS.items()}
    notes = [
        " ".join(rng.choice(words[names[t]], size=rng.integers(3, 8))) + " please help"
        for t in topic
    ]
    return pd.DataFrame(
        {"amount": rng.gamma(2.0, 50.0, size=n), "note": notes, "topic": np.array(names)[topic]}
    )


def topic_gap(parts: list[pd.DataFrame], whole: pd.DataFrame) -> float:
    """The largest gap between a part's topic shares and the whole table's."""
    overall = whole["topic"].value_counts(normalize=True)
    return max(
        float(
            (
                p["topic"].value_counts(normalize=True).reindex(overall.index, fill_value=0.0)
                - overall
            )
            .abs()
            .max()
        )
        for p in parts
    )


def test_balanced_split_keeps_topics_that_only_the_text_tells() -> None:
    # The topic column is not given to the split: only the note's words carry it.
    ours, chance = [], []
    for seed in range(6):
        frame = tickets(300, seed)
        parts = train_val_test_split(frame.drop(columns="topic"), random_state=seed)
        ours.append(topic_gap([frame.loc[p.index] for p in parts], frame))
        order = np.random.default_rng(100 + seed).permutation(len(frame))
        random_parts = [
            frame.iloc[order[:180]],
            frame.iloc[order[180:240]],
            frame.iloc[order[240:]],
        ]
        chance.append(topic_gap(random_parts, frame))
    assert np.mean(ours) < 0.5 * np.mean(chance)
    assert max(ours) < 0.06


def test_text_left_out_when_typed_as_identifier_balances_no_better_than_chance() -> None:
    # Metamorphic: the same split without the words loses the topic balance.
    with_words, without = [], []
    for seed in range(6):
        frame = tickets(300, seed)
        data = frame.drop(columns="topic")
        parts = train_val_test_split(data, random_state=seed)
        with_words.append(topic_gap([frame.loc[p.index] for p in parts], frame))
        parts = train_val_test_split(data, random_state=seed, types={"note": "identifier"})
        without.append(topic_gap([frame.loc[p.index] for p in parts], frame))
    assert np.mean(with_words) < np.mean(without)


def test_text_features_are_a_function_of_the_words() -> None:
    frame = tickets(120, 0)
    features = text_features(frame["note"])
    assert features is not None and features.shape == (120, 3)
    again = text_features(frame["note"])
    np.testing.assert_allclose(features, again)
    # Rows with the same words get the same numbers, word order and case aside.
    doubled = pd.concat([frame["note"], frame["note"].str.upper()], ignore_index=True)
    both = text_features(doubled)
    assert both is not None
    np.testing.assert_allclose(both[:120], both[120:], atol=1e-9)
    # Topics separate on the components: rows of one topic sit nearer their own centre.
    centres = {t: features[(frame["topic"] == t).to_numpy()].mean(axis=0) for t in TOPICS}
    nearest = [
        min(centres, key=lambda t, row=row: np.linalg.norm(row - centres[t])) for row in features
    ]
    assert np.mean(np.array(nearest) == frame["topic"].to_numpy()) > 0.9


def test_distance_view_names_the_components_and_leaves_out_text_without_repeated_words() -> None:
    frame = tickets(60, 1)
    view, types, ignored = distance_view(frame, {})
    assert types["note"].kind == "text"
    assert [c for c in view.columns if str(c).startswith("note")] == [
        "note [text 1]",
        "note [text 2]",
        "note [text 3]",
    ]
    assert "note" not in ignored
    unique_words = frame.assign(note=[f"word{i}a word{i}b word{i}c" for i in range(60)])
    view, _, ignored = distance_view(unique_words, {"note": "text"})
    assert ignored["note"].startswith("free text with too few repeated words")
    assert not any(str(c).startswith("note") for c in view.columns)


def test_report_of_identical_parts_shows_no_text_difference_and_a_skewed_part_does() -> None:
    frame = tickets(200, 2)
    same = split_report([frame, frame.copy()])
    (row,) = [c for c in same.columns if c.column == "note"]
    assert row.kind == "text" and row.total_variation == pytest.approx(0.0, abs=1e-12)
    assert row.ks == pytest.approx(0.0)
    billing = frame[frame["topic"] == "billing"]
    skewed = split_report([frame, billing])
    (row,) = [c for c in skewed.columns if c.column == "note"]
    assert row.total_variation > 0.3 and row.ks > 0.3
    buffer = io.StringIO()
    skewed.print(Console(file=buffer, width=200))
    assert "text column note: word frequencies vs train" in buffer.getvalue()


def test_cli_split_reports_the_text_column(tmp_path) -> None:
    data = tmp_path / "tickets.csv"
    tickets(150, 3).drop(columns="topic").to_csv(data, index=False)
    result = runner.invoke(
        app, ["split", str(data), "--out", str(tmp_path / "parts"), "--seed", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "note" in result.output and "text" in result.output
    assert "text column note: word frequencies vs train" in result.output
    parts = [pd.read_csv(tmp_path / "parts" / f"{name}.csv") for name in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == 150
