"""Write a solved :class:`~tessera.assign._io.CostTable` to a file: CSV, JSON or Parquet.

Every format holds one record per assigned pair, ``row``, ``column``, ``cost``, with the
names read from the cost table. JSON adds the total, the direction and whether the dual
certificate proved the answer optimal; Parquet keeps those in its schema metadata.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera._validation import bad_value
from tessera.assign._io import CostTable
from tessera.assign._result import Assignment
from tessera.errors import MissingExtraError

__all__ = ["RESULT_SUFFIXES", "AssignmentRecord", "check_result_path", "save_assignment"]

#: The file suffixes :func:`save_assignment` writes, in the order messages list them.
RESULT_SUFFIXES = (".csv", ".json", ".parquet")
_FIELDS = ("row", "column", "cost")


@dataclass(frozen=True)
class AssignmentRecord:
    """A solved table in named form: what the result files hold.

    Attributes
    ----------
    pairs : list of (str, str, float)
        ``(row name, column name, cost)`` per assigned pair, in row order.
    total : float
        The total cost of the pairs.
    maximize : bool
        Whether the total was maximised.
    optimal : bool
        Whether the dual certificate checks out (a proof of optimality).
    unassigned_rows, unassigned_columns : list of str
        Names left without a partner (rectangular tables).
    """

    pairs: list[tuple[str, str, float]]
    total: float
    maximize: bool
    optimal: bool
    unassigned_rows: list[str]
    unassigned_columns: list[str]

    @classmethod
    def of(cls, table: CostTable, result: Assignment, *, optimal: bool) -> AssignmentRecord:
        """Name the pairs of ``result``, an answer for ``table``."""
        rows, cols = result.rows.tolist(), result.cols.tolist()
        pairs = [
            (table.row_names[i], table.col_names[j], float(table.cost[i, j]))
            for i, j in zip(rows, cols, strict=True)
        ]
        used_rows, used_cols = set(rows), set(cols)
        return cls(
            pairs=pairs,
            total=float(result.total_cost),
            maximize=bool(result.maximize),
            optimal=optimal,
            unassigned_rows=[n for k, n in enumerate(table.row_names) if k not in used_rows],
            unassigned_columns=[n for k, n in enumerate(table.col_names) if k not in used_cols],
        )

    def summary(self) -> dict[str, Any]:
        """Everything but the pairs, as JSON-ready values."""
        return {
            "total": self.total,
            "maximize": self.maximize,
            "optimal": self.optimal,
            "unassigned_rows": self.unassigned_rows,
            "unassigned_columns": self.unassigned_columns,
        }


def _write_csv(record: AssignmentRecord, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(_FIELDS)
        writer.writerows((row, col, repr(cost)) for row, col, cost in record.pairs)


def _write_json(record: AssignmentRecord, path: Path) -> None:
    document = {
        **record.summary(),
        "pairs": [dict(zip(_FIELDS, pair, strict=True)) for pair in record.pairs],
    }
    path.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "Parquet files need pyarrow: pip install 'tessera[parquet]', "
            "or write .csv or .json instead."
        ) from None


def _write_parquet(record: AssignmentRecord, path: Path) -> None:
    _need_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, cols, costs = zip(*record.pairs, strict=True) if record.pairs else ((), (), ())
    table = pa.table(
        {
            "row": pa.array(rows, pa.string()),
            "column": pa.array(cols, pa.string()),
            "cost": pa.array(costs, pa.float64()),
        },
        metadata={"tessera": json.dumps(record.summary(), allow_nan=False)},
    )
    pq.write_table(table, path)


_WRITERS: dict[str, Callable[[AssignmentRecord, Path], None]] = {
    ".csv": _write_csv,
    ".json": _write_json,
    ".parquet": _write_parquet,
}


def check_result_path(path: str | Path) -> Path:
    """Check that :func:`save_assignment` can write ``path``'s format, before any work.

    Raises
    ------
    InvalidInputError
        The suffix is not one of :data:`RESULT_SUFFIXES`.
    MissingExtraError
        ``.parquet`` without pyarrow (the ``parquet`` extra).
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in _WRITERS:
        accepted = ", ".join(RESULT_SUFFIXES)
        # The name, not the whole path: a long folder would push the suffix out of the repr.
        raise bad_value(
            "path",
            target.name,
            f"its suffix {suffix or '(none)'} is not one of {accepted}",
            "Name the file e.g. result.csv.",
        )
    if suffix == ".parquet":
        _need_pyarrow()
    return target


def save_assignment(record: AssignmentRecord, path: str | Path) -> Path:
    """Write the named pairs to ``path``, choosing the format from its suffix.

    Parameters
    ----------
    record : AssignmentRecord
        The answer, named (see :meth:`AssignmentRecord.of`).
    path : str or path-like
        ``.csv``: the header ``row,column,cost``, then one line per pair.
        ``.json``: an object ``{"total", "maximize", "optimal", "unassigned_rows",
        "unassigned_columns", "pairs": [{"row", "column", "cost"}, ...]}``.
        ``.parquet``: the columns ``row``, ``column``, ``cost``; the rest of the JSON
        object in the schema metadata under ``b"tessera"``. Parent folders are created.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InvalidInputError
        The suffix is not one of :data:`RESULT_SUFFIXES`.
    MissingExtraError
        ``.parquet`` without pyarrow (the ``parquet`` extra).
    """
    target = check_result_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _WRITERS[target.suffix.lower()](record, target)
    return target
