"""Table specs: validation with line numbers, generation, chunks, seeds, files, Dask."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tessera.errors import InvalidInputError
from tessera.synth import chunk_plan, generate_chunk, generate_table, parse_spec, write_chunks
from tessera.synth._stream import spec_writer

SPEC = textwrap.dedent(
    """\
    seed: 3
    rows: 2500
    columns:
      id: {type: sequence, start: 10}
      age: {type: distribution, name: norm, params: {loc: 40, scale: 10}, round: 0, min: 18}
      income: {type: distribution, name: lognorm, params: {s: 0.5, scale: 30000}, round: 2}
      segment: {type: categorical, values: {A: 0.6, B: 0.3, C: 0.1}, missing: 0.1}
      signup: {type: datetime, start: "2024-01-01", end: "2024-03-31", unit: D}
      name: {type: person, field: name, locale: fr_FR}
      email: {type: person, field: email, locale: fr_FR}
      spend: {type: derived, expr: "income / 100 + age", round: 1}
    correlations:
      - [age, income, 0.6]
    """
)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return generate_table(parse_spec(SPEC))


def test_columns_follow_the_spec(table: pd.DataFrame) -> None:
    assert list(table.columns) == [
        "id",
        "age",
        "income",
        "segment",
        "signup",
        "name",
        "email",
        "spend",
    ]
    assert table["id"].tolist() == list(range(10, 2510))
    assert table["age"].dtype == np.int64 and table["age"].min() >= 18
    assert stats.kstest(np.log(table["income"]), stats.norm(np.log(30000), 0.5).cdf).pvalue > 1e-3
    freq = table["segment"].value_counts(normalize=True, dropna=False)
    assert freq["A"] == pytest.approx(0.54, abs=0.03)
    assert table["segment"].isna().mean() == pytest.approx(0.1, abs=0.02)
    assert table["signup"].between("2024-01-01", "2024-03-31").all()
    assert np.allclose(table["spend"], (table["income"] / 100 + table["age"]).round(1))
    rho = stats.spearmanr(table["age"], table["income"]).statistic
    expected = 6 / np.pi * np.arcsin(0.6 / 2)  # Spearman of a Gaussian copula
    assert rho == pytest.approx(expected, abs=0.05)


def test_chunking_and_workers_do_not_change_rows(table: pd.DataFrame, tmp_path) -> None:
    spec = parse_spec(SPEC)
    small_chunks = generate_table(spec, chunk_size=100_000)
    pd.testing.assert_frame_equal(small_chunks, table)
    one = write_chunks(spec_writer(spec), 3000, tmp_path / "a.csv", chunk_size=700, seed=5)
    two = write_chunks(
        spec_writer(spec), 3000, tmp_path / "b.csv", chunk_size=700, seed=5, workers=2
    )
    assert one.read_text() == two.read_text()
    assert len(pd.read_csv(one)) == 3000
    other = write_chunks(spec_writer(spec), 3000, tmp_path / "c.csv", chunk_size=700, seed=6)
    assert other.read_text() != one.read_text()


def test_parquet_streaming(tmp_path) -> None:
    spec = parse_spec(SPEC)
    path = generate_table(spec, 1200, tmp_path / "t.parquet", chunk_size=500)
    frame = pd.read_parquet(path)
    assert len(frame) == 1200 and frame["id"].is_monotonic_increasing


def test_chunk_plan_covers_rows() -> None:
    plan = chunk_plan(1001, 250, 0)
    assert [s for s, _, _ in plan] == [0, 250, 500, 750, 1000]
    assert sum(n for _, n, _ in plan) == 1001


def test_dask_partitions_match_local_chunks(tmp_path) -> None:
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    spec = parse_spec(SPEC)
    plan = chunk_plan(1500, 500, 11)
    parts = [dask.delayed(generate_chunk)(spec, s, n, q) for s, n, q in plan]
    frame = dd.from_delayed(parts, meta=generate_chunk(spec, 0, 0, plan[0][2]))
    with dask.config.set(scheduler="synchronous"):
        frame.to_parquet(tmp_path / "parts", write_index=False)
    written = pd.read_parquet(tmp_path / "parts").sort_values("id", ignore_index=True)
    local = generate_table(spec, 1500, chunk_size=500, seed=11)
    # Parquet brings missing categories back as <NA> where pandas made None.
    for frame_ in (written, local):
        frame_["segment"] = frame_["segment"].astype(object).where(frame_["segment"].notna(), "-")
    pd.testing.assert_frame_equal(written[local.columns], local, check_dtype=False)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "rows: 3\ncolumns:\n  a:\n    type: distribution\n    name: norm\n    sclae: 2\n",
            ["spec:6", "unknown key"],
        ),
        ("columns:\n  a: {type: distribution, name: normal}\n", ["spec:2", "Did you mean 'norm'"]),
        ("columns:\n  a: {type: person, field: ssn}\n", ["spec:2", "field"]),
        (
            "columns:\n  a: {type: categorical, values: [x]}\ncorrelations:\n  - [a, b, 0.5]\n",
            ["not a distribution"],
        ),
        ("colums:\n  a: {type: sequence}\n", ["spec:1", "unknown key"]),
        ("columns: [1, 2\n", ["not valid YAML"]),
        (
            "columns:\n  a: {type: distribution, name: norm}\n"
            "  b: {type: distribution, name: norm}\n  c: {type: distribution, name: norm}\n"
            "correlations:\n  - [a, b, 0.9]\n"
            "  - [a, c, 0.9]\n  - [b, c, -0.9]\n",
            ["not positive definite"],
        ),
    ],
)
def test_bad_specs_name_the_line(text: str, needles: list[str]) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_spec(text)
    for needle in needles:
        assert needle in str(info.value)


def test_bad_derived_expression() -> None:
    spec = parse_spec("columns:\n  a: {type: sequence}\n  b: {type: derived, expr: 'a +* 2'}\n")
    with pytest.raises(InvalidInputError, match="columns.b.expr"):
        generate_table(spec, 5)


def test_rows_required_and_output_kind(tmp_path) -> None:
    spec = parse_spec("columns:\n  a: {type: sequence}\n")
    with pytest.raises(InvalidInputError, match="rows"):
        generate_table(spec)
    with pytest.raises(InvalidInputError, match=r"\.csv or \.parquet"):
        generate_table(spec, 3, tmp_path / "x.xlsx")
