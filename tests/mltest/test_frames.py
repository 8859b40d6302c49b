"""assert_frame_contract wraps pandera: every violation listed with its rows."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from tessera.errors import InvalidInputError
from tessera.mltest import MLTestFailure, assert_frame_contract

SCHEMA = pa.DataFrameSchema(
    {
        "age": pa.Column(int, pa.Check.in_range(0, 120)),
        "country": pa.Column(str, pa.Check.isin(["FR", "DE", "IT"])),
        "income": pa.Column(float, nullable=True),
    },
    strict=True,
    name="customers",
)


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {"age": [31, 45, 67], "country": ["FR", "DE", "IT"], "income": [41.0, None, 58.5]},
        index=["a", "b", "c"],
    )


def test_a_frame_that_meets_the_contract_is_returned() -> None:
    frame = _customers()
    out = assert_frame_contract(frame, SCHEMA)
    pd.testing.assert_frame_equal(out, frame)


def test_every_violation_is_listed_with_its_index_and_rows() -> None:
    frame = _customers()
    frame.loc["b", "age"] = 420
    frame.loc["c", "country"] = "XX"
    frame["extra"] = 1
    with pytest.raises(MLTestFailure) as info:
        assert_frame_contract(frame, SCHEMA)
    failure = info.value
    assert "the 3-row frame to meet schema customers (3 columns, strict)" in failure.expected
    assert "3 violation(s)" in failure.measured
    assert "column 'age' fails in_range(0, 120) on 1 row(s), e.g. 420 at index 'b'" in (
        failure.measured
    )
    assert "column 'country' fails isin(['FR', 'DE', 'IT'])" in failure.measured
    assert "fails column_in_schema, e.g. 'extra'" in failure.measured
    assert failure.rows == (1, 2)


def test_a_dataframe_model_and_a_missing_column() -> None:
    class Customers(pa.DataFrameModel):
        age: int = pa.Field(ge=0)
        country: str

    assert_frame_contract(_customers()[["age", "country"]], Customers)
    with pytest.raises(MLTestFailure, match=r"column_in_dataframe, e.g. 'country'"):
        assert_frame_contract(_customers()[["age"]], Customers)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match=r"^df=.* must be a pandas DataFrame"):
        assert_frame_contract([[1, 2]], SCHEMA)
    with pytest.raises(InvalidInputError, match=r"^schema=.* pandera DataFrameSchema"):
        assert_frame_contract(_customers(), {"age": int})
