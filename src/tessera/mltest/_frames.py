"""DataFrame contracts, checked by pandera (wrapped, not rebuilt)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tessera._validation import bad_value
from tessera.errors import MissingExtraError
from tessera.mltest._failure import MLTestFailure, recorded

__all__ = ["assert_frame_contract"]


def _pandera() -> Any:
    try:
        import pandera.pandas as pandera
    except ImportError:  # pragma: no cover - pandera is a core dependency
        raise MissingExtraError(
            "assert_frame_contract needs pandera: pip install pandera"
        ) from None
    return pandera


@recorded("assert_frame_contract")
def assert_frame_contract(df: Any, schema: Any, *, show: int = 3) -> Any:
    """Assert that a DataFrame meets its contract (a pandera schema), listing every violation.

    The schema is checked lazily, so one failure lists every broken column
    and check at once, with the offending values and the rows they sit in.

    Parameters
    ----------
    df : pandas.DataFrame
        The data.
    schema : pandera.pandas.DataFrameSchema or pandera.pandas.DataFrameModel subclass
        The contract: columns, dtypes, checks, nullability, strictness.
    show : int, default=3
        How many offending values to list per broken check.

    Returns
    -------
    pandas.DataFrame
        The validated frame (with pandera's coercions, where the schema asks).

    Examples
    --------
    >>> import pandas as pd
    >>> import pandera.pandas as pa
    >>> from tessera.mltest import assert_frame_contract
    >>> schema = pa.DataFrameSchema({"age": pa.Column(int, pa.Check.in_range(0, 120))})
    >>> assert_frame_contract(pd.DataFrame({"age": [31, 64]}), schema).shape
    (2, 1)
    >>> assert_frame_contract(pd.DataFrame({"age": [31, 640]}), schema)
    Traceback (most recent call last):
    ...
    tessera.mltest.MLTestFailure: assert_frame_contract failed
      expected: ...
      measured: 1 violation(s): column 'age' fails in_range(0, 120) on 1 row(s), e.g. 640 at index 1
    ...
    """
    import pandas as pd

    pa = _pandera()
    if not isinstance(df, pd.DataFrame):
        raise bad_value(
            "df",
            df,
            "it must be a pandas DataFrame",
            "Wrap arrays first: pd.DataFrame(X, columns=names).",
        )
    if isinstance(schema, type) and issubclass(schema, pa.DataFrameModel):
        schema = schema.to_schema()  # type: ignore[attr-defined]
    if not isinstance(schema, pa.DataFrameSchema):
        raise bad_value(
            "schema",
            schema,
            "it must be a pandera DataFrameSchema or DataFrameModel",
            "Build one with pandera.pandas.DataFrameSchema({...}).",
        )
    try:
        return schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    problems: list[str] = []
    positions: list[int] = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        values = ", ".join(repr(_plain(v)) for v in group["failure_case"].head(show))
        labels = [v for v in group["index"].tolist() if v is not None and not _is_nan(v)]
        where = f" at index {', '.join(map(repr, labels[:show]))}" if labels else ""
        subject = "the frame" if column is None or _is_nan(column) else f"column {column!r}"
        count = f" on {len(group)} row(s)" if labels else ""
        problems.append(f"{subject} fails {check}{count}, e.g. {values}{where}")
        if labels and df.index.is_unique:
            found = df.index.get_indexer(labels)
            positions.extend(int(p) for p in found if p >= 0)
    raise MLTestFailure(
        "assert_frame_contract",
        expected=f"the {len(df)}-row frame to meet schema {schema.name or '(unnamed)'} "
        f"({len(schema.columns)} columns{', strict' if schema.strict else ''})",
        measured=f"{len(problems)} violation(s): " + "; ".join(problems),
        where=f"{len(set(positions))} offending row(s)"
        + (f", positions {sorted(set(positions))[:10]}" if positions else ""),
        rows=tuple(sorted(set(positions))),
        details={"failure_cases": cases},
    )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
