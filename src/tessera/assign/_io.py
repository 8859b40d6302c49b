"""Read named cost tables from CSV files, and solve them with names in every message.

Two layouts are accepted, told apart by the header row:

- a **matrix**: a header row of column names (its first cell names the index
  column and may be empty), then one row per row name followed by its costs;
- an **edge list**: the header ``row,col,cost`` (``column`` also accepted),
  then one pair per line; pairs that are not listed are forbidden.

An empty cell or ``inf`` forbids a pair. Every error names the file, the line
(and column) at fault, the rule, and how to fix it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tessera._validation import short_repr
from tessera.assign._dense import solve
from tessera.assign._result import Assignment
from tessera.errors import InfeasibleAssignmentError, InvalidInputError

__all__ = ["CostTable", "read_cost_table", "solve_table"]

_FORBIDDEN = {"", "inf", "+inf", "infinity", "+infinity"}
_EDGE_HEADERS = (("row", "col", "cost"), ("row", "column", "cost"))
_FIX_CELL = "Write a number, or leave the cell empty (or write inf) to forbid the pair."


@dataclass(frozen=True, eq=False)
class CostTable:
    """A cost matrix with the names of its rows and columns.

    Attributes
    ----------
    cost : ndarray of float64, shape (n_rows, n_cols)
        Costs; ``inf`` marks a forbidden pair.
    row_names, col_names : tuple of str
        Distinct names, in the order they appear in the file.
    source : str
        Where the table came from, for messages.
    layout : {"matrix", "edges"}
        Which CSV layout the file used.
    index_name : str
        The header of the row names (the matrix's first header cell), or ``"row"``.
    """

    cost: NDArray[np.float64]
    row_names: tuple[str, ...]
    col_names: tuple[str, ...]
    source: str
    layout: Literal["matrix", "edges"]
    index_name: str = "row"

    def signed_cost(self, *, maximize: bool = False) -> NDArray[np.float64]:
        """The matrix to pass to the solvers: forbidden pairs ``-inf`` when maximising."""
        return np.where(np.isinf(self.cost), -np.inf, self.cost) if maximize else self.cost


def _error(source: str, where: str, problem: str, fix: str) -> InvalidInputError:
    place = f"{source}, {where}" if where else source
    return InvalidInputError(f"{place}: {problem}. {fix}")


def _parse_cost(text: str, source: str, where: str) -> float:
    cell = text.strip()
    if cell.lower() in _FORBIDDEN:
        return math.inf
    try:
        value = float(cell)
    except ValueError:
        raise _error(source, where, f"cell {short_repr(cell)} is not a number", _FIX_CELL) from None
    if math.isnan(value) or value == -math.inf:
        raise _error(source, where, f"cell {short_repr(cell)} is not a usable cost", _FIX_CELL)
    return value


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank CSV records of ``path`` with their line numbers."""
    source = str(path)
    if not path.exists():
        raise _error(source, "", "no such file", "Check the path, or create the file.")
    if path.is_dir():
        raise _error(source, "", "this is a folder, not a CSV file", "Pass the path of a file.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error(
            source,
            f"byte {exc.start}",
            "the file is not UTF-8 text, so it is not a CSV file",
            "Export the table as CSV (UTF-8).",
        ) from None
    if "\x00" in text:
        raise _error(source, "", "the file holds binary data, not CSV text", "Export as CSV.")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text.splitlines(), dialect)
    records: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                records.append((reader.line_num, row))
    except csv.Error as exc:
        raise _error(
            source, f"line {reader.line_num}", f"malformed CSV ({exc})", "Fix the quoting."
        ) from None
    if not records:
        raise _error(
            source,
            "",
            "the file is empty",
            "Write a header row of column names, then one row per row name.",
        )
    return records


def _check_distinct(names: list[str], source: str, lines: list[int], what: str) -> None:
    seen: dict[str, int] = {}
    for name, line in zip(names, lines, strict=True):
        if not name:
            raise _error(
                source, f"line {line}", f"a {what} name is empty", f"Give every {what} a name."
            )
        if name in seen:
            where = f"line {line}" if what == "row" else f"line {line}, header"
            raise _error(
                source,
                where,
                f"{what} name {short_repr(name)} appears twice"
                + (f" (first on line {seen[name]})" if what == "row" else ""),
                f"Give every {what} a distinct name.",
            )
        seen[name] = line


def _matrix_table(source: str, records: list[tuple[int, list[str]]]) -> CostTable:
    header_line, header = records[0]
    col_names = [name.strip() for name in header[1:]]
    if not col_names:
        raise _error(
            source,
            f"line {header_line}",
            "the header has no column names (is the file comma-separated?)",
            "Start with a header row: an index cell, then one name per column, "
            "or use the edge-list header row,col,cost.",
        )
    _check_distinct(col_names, source, [header_line] * len(col_names), "column")
    body = records[1:]
    if not body:
        raise _error(
            source,
            f"line {header_line}",
            "there are no rows after the header",
            "Add one line per row: its name, then its costs.",
        )
    width = len(col_names) + 1
    cost = np.empty((len(body), len(col_names)), dtype=np.float64)
    row_names: list[str] = []
    for r, (line, row) in enumerate(body):
        if len(row) != width:
            raise _error(
                source,
                f"line {line}",
                f"the row has {len(row)} cells but the header has {width}",
                "Give every row its name and one cell per column (empty cells are fine).",
            )
        row_names.append(row[0].strip())
        for c, cell in enumerate(row[1:]):
            where = f"line {line}, column {short_repr(col_names[c])}"
            cost[r, c] = _parse_cost(cell, source, where)
    _check_distinct(row_names, source, [line for line, _ in body], "row")
    index_name = header[0].strip() or "row"
    return CostTable(cost, tuple(row_names), tuple(col_names), source, "matrix", index_name)


def _edge_table(source: str, records: list[tuple[int, list[str]]]) -> CostTable:
    rows: dict[str, int] = {}
    cols: dict[str, int] = {}
    entries: dict[tuple[int, int], tuple[float, int]] = {}
    for line, record in records[1:]:
        if len(record) != 3:
            raise _error(
                source,
                f"line {line}",
                f"the line has {len(record)} cells but an edge list has 3 (row,col,cost)",
                "Write one pair per line: row name, column name, cost.",
            )
        row, col = record[0].strip(), record[1].strip()
        if not row or not col:
            raise _error(
                source,
                f"line {line}",
                "a row or column name is empty",
                "Name both ends of every pair.",
            )
        i = rows.setdefault(row, len(rows))
        j = cols.setdefault(col, len(cols))
        value = _parse_cost(record[2], source, f"line {line}, column 'cost'")
        if (i, j) in entries:
            raise _error(
                source,
                f"line {line}",
                f"the pair ({row}, {col}) appears twice (first on line {entries[i, j][1]})",
                "List every pair once.",
            )
        entries[i, j] = (value, line)
    if not entries:
        raise _error(
            source,
            f"line {records[0][0]}",
            "the edge list has no pairs after its header",
            "Add one line per allowed pair: row,col,cost.",
        )
    cost = np.full((len(rows), len(cols)), np.inf)
    for (i, j), (value, _) in entries.items():
        cost[i, j] = value
    return CostTable(cost, tuple(rows), tuple(cols), source, "edges")


def read_cost_table(path: str | Path) -> CostTable:
    """Read a cost table from a CSV file (a named matrix, or an edge list).

    Parameters
    ----------
    path : str or path-like
        The CSV file. A header ``row,col,cost`` makes it an edge list;
        anything else is read as a matrix with a header row and an index column.

    Returns
    -------
    CostTable
        The costs (``inf`` where forbidden) and the names.

    Raises
    ------
    InvalidInputError
        A missing or non-text file, ragged rows, a cell that is not a number,
        NaN or ``-inf``, an empty or duplicated name, a duplicated pair. The
        message names the file and the line (and column) at fault.
    """
    file = Path(path)
    source = str(path)
    records = _read_rows(file)
    header = tuple(cell.strip().lower() for cell in records[0][1])
    if header in _EDGE_HEADERS:
        return _edge_table(source, records)
    return _matrix_table(source, records)


def solve_table(table: CostTable, *, maximize: bool = False) -> Assignment:
    """Solve a :class:`CostTable`; forbidden pairs stay forbidden when maximising.

    Raises
    ------
    InfeasibleAssignmentError
        With the names of the rows (or columns) that reach too few partners.
    """
    try:
        return solve(table.signed_cost(maximize=maximize), maximize=maximize)
    except InfeasibleAssignmentError as exc:
        if exc.axis == "cols":
            names, partners, side, other = table.col_names, table.row_names, "columns", "rows"
        else:
            names, partners, side, other = table.row_names, table.col_names, "rows", "columns"
        who = [names[i] for i in exc.rows]
        reach = [partners[j] for j in exc.reachable_cols]
        raise InfeasibleAssignmentError(
            f"{table.source}: no complete assignment avoids the forbidden pairs: {side} "
            f"{_listing(who)} ({len(who)}) can only be assigned to {other} {_listing(reach)} "
            f"({len(reach)}). Allow more pairs for them (fill in empty or inf cells), "
            f"or remove {len(who) - len(reach)} of those {side}.",
            rows=exc.rows,
            reachable_cols=exc.reachable_cols,
            axis=exc.axis,
        ) from None


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
    return f"[{shown}]" if names else "[none]"
