"""Tables shared by split and synth: one reader for table files, one column typing.

- :func:`read_table` / :func:`write_table` -- CSV, TSV, Parquet, Excel, JSON lines;
- :func:`infer_types` -- each column's kind (numeric, integer, category, boolean,
  datetime with its format, text, identifier), overridable; :func:`apply_types`
  converts a frame to them; :func:`load_types` reads ``--types`` and YAML schemas.
"""

from __future__ import annotations

from tessera._tables._read import FORMATS, read_table, table_format, write_table
from tessera._tables._schema import load_constraints, load_types, parse_types
from tessera._tables._types import (
    DATE_FORMATS,
    KINDS,
    ColumnType,
    TableTypes,
    apply_types,
    check_types,
    infer_types,
)

__all__ = [
    "DATE_FORMATS",
    "FORMATS",
    "KINDS",
    "ColumnType",
    "TableTypes",
    "apply_types",
    "check_types",
    "infer_types",
    "load_constraints",
    "load_types",
    "parse_types",
    "read_table",
    "table_format",
    "write_table",
]
