"""One reader and one column typing for split and synth: formats, kinds, overrides, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera._tables import (
    apply_types,
    infer_types,
    load_types,
    parse_types,
    read_table,
    write_table,
)
from tessera.errors import InvalidInputError
from tessera.synth import customers

EXPECTED = {
    "customer_id": "identifier",
    "household": "identifier",
    "age": "integer",
    "income": "numeric",
    "segment": "category",
    "region": "category",
    "products": "integer",
    "balance": "numeric",
    "signup": "datetime",
    "active": "boolean",
    "note": "text",
}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return customers(400, random_state=3)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".xlsx", ".jsonl"])
def test_every_format_reads_back_with_the_same_kinds(table, tmp_path, suffix: str) -> None:
    path = write_table(table, tmp_path / f"customers{suffix}")
    frame = read_table(path)
    assert frame.shape == table.shape
    types = infer_types(frame)
    assert types.kinds() == EXPECTED
    assert types["signup"].format == "%d/%m/%Y"
    typed = apply_types(frame, types)
    expected = pd.to_datetime(table["signup"], format="%d/%m/%Y")
    assert (typed["signup"] == expected).all()
    assert typed["customer_id"].tolist() == table["customer_id"].tolist()


def test_leading_zeros_keep_a_code_text(tmp_path) -> None:
    path = tmp_path / "codes.csv"
    path.write_text("zip,n\n" + "".join(f"{i:05d},{i}\n" for i in range(0, 3000, 7)))
    frame = read_table(path)
    types = infer_types(frame)
    assert types["zip"].kind == "identifier" and types["n"].kind == "integer"
    assert apply_types(frame, types)["zip"].iloc[0] == "00000"


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["2024-03-01", "2024-12-31"], "%Y-%m-%d"),
        (["31/12/2024", "01/03/2024"], "%d/%m/%Y"),
        (["12/31/2024", "03/01/2024"], "%m/%d/%Y"),
        (["2024-03-01 10:00:05", "2024-03-02 11:30:00"], "%Y-%m-%d %H:%M:%S"),
        (["1 Mar 2024", "31 Dec 2024"], "%d %b %Y"),
    ],
)
def test_date_formats_are_detected(values: list[str], fmt: str) -> None:
    types = infer_types(pd.DataFrame({"d": values * 5}))
    assert types["d"].kind == "datetime" and types["d"].format == fmt


@settings(max_examples=40, deadline=None)
@given(
    days=st.lists(st.integers(0, 40_000), min_size=2, max_size=30),
    fmt=st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d %H:%M:%S"]),
)
def test_dates_written_in_a_format_parse_back_to_themselves(days: list[int], fmt: str) -> None:
    stamps = pd.Timestamp("1950-01-01") + pd.to_timedelta(days, unit="D")
    frame = pd.DataFrame({"d": stamps.strftime(fmt)})
    types = infer_types(frame)
    assert types["d"].kind == "datetime"
    parsed = apply_types(frame, types)["d"]
    assert (parsed.to_numpy() == stamps.to_numpy()).all()


def test_numbers_are_never_dates() -> None:
    types = infer_types(pd.DataFrame({"x": ["20240301", "20240302", "20240303"]}))
    assert types["x"].kind == "integer"


def test_overrides_win_and_take_a_format() -> None:
    frame = pd.DataFrame({"d": ["03/01/2024", "04/01/2024"], "n": [1, 2], "c": ["a", "b"]})
    types = infer_types(frame, {"d": "datetime:%m/%d/%Y", "n": "category", "c": "id"})
    assert types.kinds() == {"d": "datetime", "n": "category", "c": "identifier"}
    assert types["d"].reason == "given"
    assert apply_types(frame, types)["d"].iloc[0] == pd.Timestamp("2024-03-01")


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"nope": "integer"}, "no such column"),
        ({"n": "money"}, "the kind must be one of"),
        ({"n": "integer:%Y"}, "only datetime takes a format"),
        ({"c": "datetime"}, "no date format"),
    ],
)
def test_bad_overrides_name_the_column_and_the_fix(overrides: dict, needle: str) -> None:
    frame = pd.DataFrame({"n": [1, 2], "c": ["a", "b"]})
    with pytest.raises(InvalidInputError, match=needle):
        infer_types(frame, overrides)


def test_types_text_and_schema_file(tmp_path) -> None:
    assert parse_types("a=datetime, b=identifier") == {"a": "datetime", "b": "identifier"}
    with pytest.raises(InvalidInputError, match="--types"):
        parse_types("a")
    schema = tmp_path / "schema.yaml"
    schema.write_text("columns:\n  a: {type: datetime, format: '%d/%m/%Y'}\n  b: text\n")
    assert load_types(schema, "b=category") == {"a": "datetime:%d/%m/%Y", "b": "category"}
    schema.write_text("- a\n- b\n")
    with pytest.raises(InvalidInputError, match="map column names to kinds"):
        load_types(schema)


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("t.csv", b"PK\x03\x04rest", "zip archive"),
        ("t.csv", b"a,b\n\xff\xfe,1\n", "not UTF-8"),
        ("t.xls", b"x", "old Excel format"),
        ("t.sav", b"x", "not a table format"),
        ("t.xlsx", b"a,b\n1,2\n", "not an Excel workbook"),
        ("t.parquet", b"a,b\n", "not Parquet"),
    ],
)
def test_unreadable_files_say_why(tmp_path, name: str, content: bytes, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=needle):
        read_table(path)


def test_missing_file_and_folder(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    folder = tmp_path / "d.csv"
    folder.mkdir()
    with pytest.raises(InvalidInputError, match="folder"):
        read_table(folder)


def test_detection_keeps_plain_numeric_tables_as_they_are() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": range(100), "y": rng.normal(size=100), "flag": rng.random(100) < 0.5}
    )
    types = infer_types(frame)
    assert types.kinds() == {"x": "integer", "y": "numeric", "flag": "boolean"}
    assert apply_types(frame, types).equals(frame)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("paid", "integer"),
        ("valid", "integer"),
        ("customerId", "identifier"),
        ("order_id", "identifier"),
        ("ID", "identifier"),
        ("zip code", "identifier"),
        ("amount", "integer"),
    ],
)
def test_key_like_names(name: str, kind: str) -> None:
    frame = pd.DataFrame({name: np.arange(200) * 3})
    assert infer_types(frame)[name].kind == kind
