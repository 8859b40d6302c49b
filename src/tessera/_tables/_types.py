"""Column typing shared by split, synth and their reports.

Every column of a table gets one of seven kinds (:data:`KINDS`):

- ``numeric`` -- numbers with a fractional part;
- ``integer`` -- whole numbers (also floats that are all whole);
- ``category`` -- a label from a limited set (strings, pandas categoricals);
- ``boolean`` -- ``bool`` columns and text columns of true/false (yes/no, t/f, y/n);
- ``datetime`` -- ``datetime64`` columns, and text that parses as dates under one
  format, which is detected (:data:`DATE_FORMATS`) and reported;
- ``text`` -- free text: three words or more on average, mostly distinct values;
- ``identifier`` -- keys: text with a distinct value on (nearly) every row, text whose
  values share one letters-and-digits shape with many distinct values, or a column
  whose name says it is a key (``id``, ``customer_id``, ``uuid``, ``ref`` ...) with
  many distinct values.

Detection is a guess from the values: every kind can be given instead (``overrides``;
the CLI's ``--types`` and a YAML schema), and the kinds are printed so that a wrong
guess is seen. :func:`apply_types` converts a frame to the kinds (numbers parsed from
text, dates parsed with their format, booleans mapped); the original rows are not
changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera._validation import bad_value

__all__ = [
    "DATE_FORMATS",
    "KINDS",
    "ColumnType",
    "TableTypes",
    "apply_types",
    "check_types",
    "infer_types",
]

KINDS = ("numeric", "integer", "category", "boolean", "datetime", "text", "identifier")

#: Date formats tried on text columns, in this order; the first that parses every
#: non-missing value wins (day-first before month-first when both parse: say which
#: with ``--types col=datetime:%m/%d/%Y``).
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d %b %Y",
    "%b %d, %Y",
    "ISO8601",
)

_TRUE = {"true", "t", "yes", "y"}
_FALSE = {"false", "f", "no", "n"}
_KEY_NAME = re.compile(r"(?:^|[_\W])(?:id|uuid|guid|key|ref|code|number|no|nr)$", re.IGNORECASE)
# customerId, orderID -- case-sensitive, so that "paid" and "valid" are not keys.
_KEY_NAME_CAMEL = re.compile(r"[a-z](?:Id|ID)$")
#: Rows sampled to detect a column's kind (dates, shapes, word counts).
_SAMPLE = 2000


@dataclass(frozen=True)
class ColumnType:
    """The kind of one column, why, and (for dates) the format it is written in.

    Attributes
    ----------
    name : str
        The column.
    kind : str
        One of :data:`KINDS`.
    reason : str
        Why: ``"given"`` for an override, else the evidence of the detection.
    format : str or None
        For ``datetime`` read from text, the ``strptime`` format (or ``"ISO8601"``).
    """

    name: str
    kind: str
    reason: str
    format: str | None = None


@dataclass(frozen=True)
class TableTypes:
    """The kinds of a table's columns, in the table's order."""

    columns: list[ColumnType] = field(default_factory=list)

    def __getitem__(self, name: str) -> ColumnType:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def of(self, *kinds: str) -> list[str]:
        """Names of the columns of the given kinds."""
        return [c.name for c in self.columns if c.kind in kinds]

    def kinds(self) -> dict[str, str]:
        """``{column: kind}``."""
        return {c.name: c.kind for c in self.columns}

    def date_formats(self) -> dict[str, str]:
        """``{column: format}`` of the datetime columns read from text."""
        return {c.name: c.format for c in self.columns if c.kind == "datetime" and c.format}

    def lines(self) -> list[str]:
        """One line per column: name, kind, format, reason (for terminals and reports)."""
        width = max((len(c.name) for c in self.columns), default=0)
        out = []
        for c in self.columns:
            shown = f"{c.kind} ({c.format})" if c.format else c.kind
            out.append(f"{c.name:<{width}}  {shown:<22}  {c.reason}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _strings(series: Any) -> Any:
    """The non-missing values of a text column as stripped strings (a sample)."""
    present = series.dropna()
    if len(present) > _SAMPLE:
        present = present.sample(_SAMPLE, random_state=0)
    return present.astype(str).str.strip()


def _is_text_dtype(series: Any) -> bool:
    import pandas as pd

    return bool(
        pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)
    )


def detect_date_format(values: Any) -> str | None:
    """The first of :data:`DATE_FORMATS` under which every value parses, or ``None``."""
    import pandas as pd

    uniques = pd.Series(pd.unique(values), dtype=object).astype(str)
    if uniques.empty or not uniques.str.contains(r"\d").all():
        return None  # every date format has digits
    if uniques.str.fullmatch(r"[+-]?\d+(\.\d*)?").all():
        return None  # plain numbers are not dates (20240301 stays a number)
    head = uniques.iloc[:20]
    for fmt in DATE_FORMATS:
        # A few values rule most formats out; the rest are checked on every distinct value.
        if pd.to_datetime(head, format=fmt, errors="coerce").isna().any():
            continue
        if pd.to_datetime(uniques, format=fmt, errors="coerce").notna().all():
            return fmt
    return None


def _numbers(values: Any) -> Any:
    """The values as floats if every one is a plain number (no leading zeros), else None."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        return None
    # "007" is a code, not seven: leading zeros keep a column text.
    if values.str.fullmatch(r"[+-]?0\d+").any():
        return None
    return numbers.to_numpy(dtype=float)


def _shape(value: str) -> str:
    shape = re.sub(r"[A-Za-z]+", "A", value)
    return re.sub(r"\d+", "9", shape)


def _detect(name: str, series: Any) -> ColumnType:
    import pandas as pd

    n = int(series.notna().sum())
    key_name = bool(_KEY_NAME.search(name) or _KEY_NAME_CAMEL.search(name))
    distinct = int(series.nunique(dropna=True))
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnType(name, "boolean", "bool values")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return ColumnType(name, "datetime", "datetime values")
    if isinstance(series.dtype, pd.CategoricalDtype):
        return ColumnType(name, "category", "categorical dtype")
    if n == 0:
        return ColumnType(name, "category", "no values")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.dropna().to_numpy(dtype=float)
        return _numeric_kind(name, values, distinct, n, key_name)
    if not _is_text_dtype(series):
        return ColumnType(name, "category", f"{series.dtype} values")
    text = _strings(series)
    lowered = set(text.str.lower().unique())
    if lowered and lowered <= _TRUE | _FALSE and len(lowered) <= 2:
        return ColumnType(name, "boolean", f"values {sorted(lowered)}")
    numbers = _numbers(text)
    if numbers is not None:
        return _numeric_kind(name, numbers, distinct, n, key_name)
    fmt = detect_date_format(text)
    if fmt is not None:
        return ColumnType(name, "datetime", "every value parses as a date", fmt)
    ratio = distinct / n
    words = float(text.str.split().str.len().mean())
    if words >= 3.0 and (ratio >= 0.5 or distinct > 100):
        return ColumnType(name, "text", f"{words:.1f} words a value, {ratio:.0%} distinct")
    if ratio >= 0.95 and n > 1 and words <= 2.0:
        return ColumnType(name, "identifier", f"{ratio:.0%} of {n} values distinct")
    if key_name and distinct > 20:
        return ColumnType(name, "identifier", f"key-like name, {distinct} distinct values")
    if distinct > max(20, 0.05 * n) and words <= 1.0:
        top = text.map(_shape).value_counts(normalize=True)
        if top.iloc[0] >= 0.95 and "9" in top.index[0]:
            return ColumnType(
                name, "identifier", f"one shape {top.index[0]!r}, {distinct} distinct values"
            )
    return ColumnType(name, "category", f"{distinct} distinct labels")


def _numeric_kind(name: str, values: np.ndarray, distinct: int, n: int, key: bool) -> ColumnType:
    whole = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    if key and whole and distinct > 20 and distinct >= 0.05 * n:
        return ColumnType(name, "identifier", f"key-like name, {distinct} distinct whole numbers")
    if whole:
        return ColumnType(name, "integer", "whole numbers")
    return ColumnType(name, "numeric", "numbers")


def _parse_override(column: str, value: Any) -> tuple[str, str | None]:
    text = str(value).strip()
    kind, _, fmt = text.partition(":")
    kind = kind.strip().lower()
    aliases = {"float": "numeric", "int": "integer", "bool": "boolean", "id": "identifier"}
    kind = aliases.get(kind, kind)
    if kind not in KINDS:
        raise bad_value(
            f"types[{column!r}]",
            value,
            f"the kind must be one of {', '.join(KINDS)}",
            "Write e.g. signup=datetime or signup=datetime:%d/%m/%Y.",
        )
    if fmt and kind != "datetime":
        raise bad_value(
            f"types[{column!r}]",
            value,
            "only datetime takes a format (after a colon)",
            f"Write {column}={kind}.",
        )
    return kind, fmt.strip() or None


def check_types(names: Sequence[str], overrides: Mapping[str, Any] | None) -> None:
    """Raise a clear error unless every override names one of ``names`` with a known
    kind (and only ``datetime`` a format); what :func:`infer_types` checks first, for
    callers that see the columns before the rows (an out-of-core table)."""
    given = dict(overrides or {})
    unknown = [c for c in given if c not in names]
    if unknown:
        raise bad_value(
            "types",
            {c: given[c] for c in unknown},
            f"no such column(s) {unknown}",
            f"Use columns of the table: {list(names)[:12]}.",
        )
    for name, value in given.items():
        _parse_override(name, value)


def infer_types(frame: Any, overrides: Mapping[str, Any] | None = None) -> TableTypes:
    """Detect every column's kind; ``overrides`` (``{column: kind}``) win.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table (as read: text cells are fine).
    overrides : mapping, optional
        ``{column: kind}`` with a kind from :data:`KINDS` (also ``float``, ``int``,
        ``bool``, ``id``); ``"datetime:%d/%m/%Y"`` gives the date format.

    Returns
    -------
    TableTypes
        One :class:`ColumnType` per column, in the frame's order.

    Examples
    --------
    >>> import pandas as pd
    >>> from tessera._tables import infer_types
    >>> frame = pd.DataFrame({"id": ["C001", "C002", "C003"], "day": ["2024-01-02"] * 3})
    >>> infer_types(frame).kinds()
    {'id': 'identifier', 'day': 'datetime'}
    """
    given = dict(overrides or {})
    names = [str(c) for c in frame.columns]
    check_types(names, given)
    columns = []
    for original, name in zip(frame.columns, names, strict=True):
        series = frame[original]
        if name not in given:
            columns.append(_detect(name, series))
            continue
        kind, fmt = _parse_override(name, given[name])
        if kind == "datetime" and fmt is None and _is_text_dtype(series):
            fmt = detect_date_format(_strings(series))
            if fmt is None:
                raise bad_value(
                    f"types[{name!r}]",
                    "datetime",
                    f"no date format of {len(DATE_FORMATS)} known ones parses every value "
                    f"(e.g. {_strings(series).head(3).tolist()})",
                    f"Give the format: {name}=datetime:%d/%m/%Y (strptime codes).",
                )
        columns.append(ColumnType(name, kind, "given", fmt))
    return TableTypes(columns)


def apply_types(frame: Any, types: TableTypes) -> Any:
    """A copy of ``frame`` with each column converted to its kind.

    Numbers and integers parsed from text (integers with missing values as ``Int64``;
    numeric columns are left as they are), dates parsed with their format (a value that
    does not parse is an error naming it). Booleans written as words (yes/no) keep
    their words, so that output looks like input; categories, text and identifiers stay
    as they are (strings stay strings).
    """
    import pandas as pd

    out = {}
    for original in frame.columns:
        name = str(original)
        column = types[name]
        series = frame[original]
        out[original] = _convert(series, column, pd)
    return pd.DataFrame(out, index=frame.index)


def _convert(series: Any, column: ColumnType, pd: Any) -> Any:
    kind = column.kind
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            return series
        present = series.notna()
        fmt = column.format or "ISO8601"
        parsed = pd.to_datetime(series.where(present, None), format=fmt, errors="coerce")
        bad = present & parsed.isna()
        if bad.any():
            raise bad_value(
                f"data[{column.name!r}]",
                series[bad].iloc[0],
                f"it does not parse as a date with format {fmt!r}",
                f"Fix the value, give its format (--types {column.name}=datetime:FORMAT), "
                f"or type the column otherwise (--types {column.name}=category). Out of "
                "core, kinds are detected on a sample: a value outside it can differ.",
            )
        return parsed
    if kind in ("numeric", "integer"):
        if pd.api.types.is_bool_dtype(series.dtype):
            return series.astype(int)
        if pd.api.types.is_numeric_dtype(series.dtype):
            return series
        numbers = pd.to_numeric(series, errors="coerce")
        bad = series.notna() & numbers.isna()
        if bad.any():
            raise bad_value(
                f"data[{column.name!r}]",
                series[bad].iloc[0],
                f"it is not a number (the column is typed {kind})",
                f"Fix the value, or type the column otherwise: --types {column.name}=category.",
            )
        if kind == "integer":
            whole = numbers.dropna()
            if (whole == whole.round()).all():
                return numbers.round().astype("Int64" if numbers.isna().any() else "int64")
        return numbers.astype(float)
    if kind == "boolean" or isinstance(series.dtype, pd.CategoricalDtype):
        return series
    if _is_text_dtype(series):
        return series
    return series.astype(object).where(series.notna(), None)
