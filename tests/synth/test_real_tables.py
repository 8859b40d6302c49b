"""Real tables in synth: identifiers regenerated, text generated, dates as time, kinds printed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tessera._tables import read_table, write_table
from tessera.cli._app import app
from tessera.errors import InvalidInputError
from tessera.synth import GaussianCopula, customers

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _register() -> None:
    from tessera.cli import _synth  # noqa: F401


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return customers(2000, random_state=1)


@pytest.fixture(scope="module")
def model(table: pd.DataFrame) -> GaussianCopula:
    return GaussianCopula().fit(table)


def test_identifiers_are_new_keys_in_the_same_format(model, table) -> None:
    synthetic = model.sample(3000, random_state=0)
    for column, prefix in (("customer_id", "C"), ("household", "H")):
        values = synthetic[column]
        assert not set(values) & set(table[column]), column
        width = len(table[column].iloc[0]) - 1
        assert values.str.fullmatch(prefix + r"\d{" + str(width) + "}").all()
    assert synthetic["customer_id"].is_unique
    # Households keep their sizes: rows per key as in the data.
    real_sizes = table["household"].value_counts().value_counts(normalize=True).sort_index()
    fake_sizes = synthetic["household"].value_counts().value_counts(normalize=True).sort_index()
    assert fake_sizes.reindex(real_sizes.index, fill_value=0).sub(real_sizes).abs().max() < 0.05


def test_pieces_of_one_table_never_share_keys(model) -> None:
    first = model.sample(500, random_state=0, first_row=0)
    second = model.sample(500, random_state=1, first_row=500)
    assert not set(first["customer_id"]) & set(second["customer_id"])


def test_zero_rows_keep_the_columns(model, table) -> None:
    empty = model.sample(0, random_state=0)
    assert len(empty) == 0
    assert list(empty.columns) == list(model.sample(3, random_state=0).columns)


def test_text_is_generated_never_copied(model, table) -> None:
    synthetic = model.sample(2000, random_state=0)
    notes = synthetic["note"].dropna()
    assert not set(notes) & set(table["note"].dropna())
    assert synthetic["note"].isna().mean() == pytest.approx(table["note"].isna().mean(), abs=0.04)
    words = notes.str.split().str.len()
    assert words.mean() == pytest.approx(
        table["note"].dropna().str.split().str.len().mean(), abs=0.5
    )


def test_dates_are_sampled_as_time_with_their_resolution(model, table) -> None:
    synthetic = model.sample(4000, random_state=0)
    real = pd.to_datetime(table["signup"], format="%d/%m/%Y")
    fake = synthetic["signup"]
    assert fake.dtype.kind == "M"
    assert (fake == fake.dt.normalize()).all()  # whole days, as the data
    assert fake.between(real.min(), real.max()).all()
    # New dates appear (time is continuous), and the spread is kept.
    assert len(set(fake) - set(real)) > 0
    assert abs(fake.median() - real.median()) < pd.Timedelta(days=60)


def test_drop_and_keep(table) -> None:
    dropped = GaussianCopula(identifiers="drop", text="drop").fit(table)
    assert "customer_id" not in dropped.sample(10, random_state=0).columns
    assert "note" not in dropped.output_columns_
    kept = GaussianCopula(identifiers="keep", segment_by=None).fit(table[["household", "age"]])
    assert set(kept.sample(50, random_state=0)["household"]) <= set(table["household"])


def test_save_load_keeps_generated_columns(model, tmp_path) -> None:
    loaded = GaussianCopula.load(model.save(tmp_path / "m.json"))
    a = model.sample(50, random_state=3)
    b = loaded.sample(50, random_state=3)
    pd.testing.assert_frame_equal(a, b)
    assert loaded.types_.kinds() == model.types_.kinds()
    assert "identifier" in str(loaded.describe())


def test_conditions_on_a_generated_column_are_refused(model) -> None:
    with pytest.raises(InvalidInputError, match="generated rather than modelled"):
        model.sample(3, conditions={"customer_id": "C000001"})


def test_no_modelled_column_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="nothing to model"):
        GaussianCopula().fit(pd.DataFrame({"id": [f"K{i:04d}" for i in range(50)]}))


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet", ".jsonl"])
def test_cli_fit_prints_kinds_and_sample_keeps_the_date_format(table, tmp_path, suffix) -> None:
    data = write_table(table.head(600), tmp_path / f"real{suffix}")
    model_path = tmp_path / "model.json"
    fit = runner.invoke(app, ["synth", "fit", str(data), "-o", str(model_path)])
    assert fit.exit_code == 0, fit.output
    assert "customer_id  identifier" in fit.output
    assert "signup       datetime (%d/%m/%Y)" in fit.output
    out = tmp_path / "out.csv"
    sample = runner.invoke(
        app,
        [
            "synth",
            "sample",
            str(model_path),
            "-n",
            "700",
            "-o",
            str(out),
            "--seed",
            "1",
            "--chunk-size",
            "300",
            "-q",
        ],
    )
    assert sample.exit_code == 0, sample.output
    frame = read_table(out)
    assert frame["signup"].str.fullmatch(r"\d\d/\d\d/\d{4}").all()
    assert frame["customer_id"].is_unique  # unique across the chunks too
    assert not set(frame["customer_id"]) & set(table["customer_id"].head(600))


def test_cli_types_and_schema_override(table, tmp_path) -> None:
    data = write_table(table.head(300), tmp_path / "real.csv")
    schema = tmp_path / "schema.yaml"
    schema.write_text("columns:\n  region: text\n")
    fit = runner.invoke(
        app,
        [
            "synth",
            "fit",
            str(data),
            "-o",
            str(tmp_path / "m.json"),
            "--schema",
            str(schema),
            "--types",
            "products=category,signup=datetime:%d/%m/%Y",
        ],
    )
    assert fit.exit_code == 0, fit.output
    assert "region       text" in fit.output and "products     category" in fit.output
    bad = runner.invoke(
        app, ["synth", "fit", str(data), "-o", str(tmp_path / "m.json"), "--types", "age=money"]
    )
    assert bad.exit_code == 1 and "the kind must be one of" in bad.output


def test_cli_excel_with_a_csv_name_says_so(table, tmp_path) -> None:
    workbook = write_table(table.head(20), tmp_path / "real.xlsx")
    wrong = tmp_path / "real.csv"
    wrong.write_bytes(workbook.read_bytes())
    result = runner.invoke(app, ["synth", "fit", str(wrong), "-o", str(tmp_path / "m.json")])
    assert result.exit_code == 1 and "zip archive" in result.output
    assert "Traceback" not in result.output


def test_cli_privacy_flag(table, tmp_path) -> None:
    data = write_table(table.head(400), tmp_path / "real.csv")
    model_path = tmp_path / "m.json"
    fit = runner.invoke(app, ["synth", "fit", str(data), "-o", str(model_path), "--privacy"])
    assert fit.exit_code == 0, fit.output
    assert GaussianCopula.load(model_path).privacy is True


def test_cli_constraints_from_the_option_and_the_schema(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"price": np.round(rng.uniform(1, 9, 300), 2), "qty": rng.integers(1, 9, 300)}
    )
    frame["total"] = np.round(frame["price"] * frame["qty"], 2)
    frame["low"] = rng.normal(size=300).round(2)
    frame["high"] = (frame["low"] + rng.exponential(size=300)).round(2)
    data = write_table(frame, tmp_path / "orders.csv")
    schema = tmp_path / "schema.yaml"
    schema.write_text('constraints:\n  - "total = price * qty"\n')
    model_path = tmp_path / "m.json"
    fit = runner.invoke(
        app,
        [
            "synth",
            "fit",
            str(data),
            "-o",
            str(model_path),
            "--schema",
            str(schema),
            "--constraint",
            "low <= high",
        ],
    )
    assert fit.exit_code == 0, fit.output
    assert "constraint kept exactly: total = price * qty" in fit.output
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["synth", "sample", str(model_path), "-n", "500", "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    sampled = pd.read_csv(out)
    assert (sampled["total"] == np.round(sampled["price"] * sampled["qty"], 2)).all()
    assert (sampled["low"] <= sampled["high"]).all()


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.sampled_from(["", "C", "HH-", "id_", "2024-"]),
    suffix=st.sampled_from(["", "-X", "/a"]),
    numbers=st.lists(st.integers(0, 10**6), min_size=1, max_size=60),
    padded=st.booleans(),
    n=st.integers(1, 300),
    seed=st.integers(0, 2**16),
)
def test_regenerated_keys_are_never_real_keys(prefix, suffix, numbers, padded, n, seed) -> None:
    from tessera.synth._generated import IdentifierModel

    width = len(str(max(numbers))) + 1 if padded else 0
    real = pd.Series([f"{prefix}{k:0{width}d}{suffix}" for k in numbers], name="key")
    model = IdentifierModel.fit(real)
    keys = model.sample(n, np.random.default_rng(seed), first_row=seed % 1000)
    assert not set(keys) & set(real)
    if model.style == "pattern":
        assert all(k.startswith(prefix) and k.endswith(suffix) for k in keys)
