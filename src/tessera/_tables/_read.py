"""Read a table file into a DataFrame: CSV/TSV, Parquet, Excel, JSON lines.

The format is decided by the file's suffix in one place (:data:`FORMATS`); a file whose
bytes say something else (an Excel workbook named ``.csv``, a CSV that is not UTF-8)
gets an error that names the file, what was found and what to do. Text formats are read
with every cell as a string, so that the column typing (:mod:`tessera._tables._types`)
decides what a column is: ``007`` stays an identifier, ``2024-03-01`` becomes a date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tessera.errors import InvalidInputError, MissingExtraError

__all__ = ["FORMATS", "read_table", "table_format", "write_table"]

#: Suffix -> format name. Everything the readers accept, in one table.
FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_PARQUET_MAGIC = b"PAR1"


def _error(path: Path, problem: str, fix: str) -> InvalidInputError:
    return InvalidInputError(f"{path}: {problem}. {fix}")


def table_format(path: str | Path) -> str:
    """The format of a table file from its suffix (``csv``, ``tsv``, ``parquet``, ...)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".xls":
        raise _error(
            target,
            "the old Excel format (.xls) is not read",
            "Save the sheet as .xlsx (or CSV) and pass that file.",
        )
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise _error(
            target,
            f"the suffix {suffix or '(none)'!r} is not a table format Tessera reads",
            f"Pass a file ending in one of {known}.",
        )
    return FORMATS[suffix]


def _need(module: str, extra: str, what: str) -> None:
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{what} need {module}: pip install 'tessera[{extra}]'.") from None


def read_table(path: str | Path, *, sheet: str | int | None = None) -> Any:
    """Read a table file into a pandas DataFrame.

    Parameters
    ----------
    path : str or Path
        ``.csv`` / ``.txt`` (comma, semicolon or tab, sniffed), ``.tsv`` / ``.tab``,
        ``.parquet`` / ``.pq``, ``.xlsx`` / ``.xlsm`` (the first sheet unless ``sheet``),
        ``.jsonl`` / ``.ndjson`` / ``.json`` (one JSON object per line, or one array).
    sheet : str, int or None, default=None
        The Excel sheet to read (name or 0-based position).

    Returns
    -------
    pandas.DataFrame
        Text formats (CSV, TSV) give string cells (missing cells ``NaN``); the typing
        layer converts them. Parquet, Excel and JSON keep their own types.

    Raises
    ------
    InvalidInputError
        No such file, a folder, an unknown suffix, or bytes that are not that format.
    MissingExtraError
        Parquet without pyarrow, Excel without openpyxl.
    """
    import pandas as pd

    target = Path(path)
    kind = table_format(target)
    if not target.exists():
        raise _error(target, "no such file", "Check the path.")
    if target.is_dir():
        raise _error(target, "this is a folder, not a table file", "Pass the path of a file.")
    with target.open("rb") as handle:
        head = handle.read(4096)
    if kind in ("csv", "tsv", "jsonl"):
        _check_text(target, head, kind)
    try:
        if kind == "parquet":
            _need("pyarrow", "parquet", "Parquet files")
            if not head.startswith(_PARQUET_MAGIC):
                raise _error(target, "the file is not Parquet", "Pass a Parquet file.")
            return pd.read_parquet(target)
        if kind == "excel":
            _need("openpyxl", "excel", "Excel files")
            if not head.startswith(_ZIP_MAGIC):
                raise _error(
                    target, "the file is not an Excel workbook (.xlsx)", "Pass a .xlsx file."
                )
            return pd.read_excel(target, sheet_name=0 if sheet is None else sheet)
        if kind == "jsonl":
            lines = not head.lstrip().startswith(b"[")
            return pd.read_json(target, lines=lines, orient="records", dtype=False)
        sep = "\t" if kind == "tsv" else None
        return pd.read_csv(
            target,
            sep=sep,
            engine="python" if sep is None else "c",
            dtype=str,
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise _error(
            target, f"could not be read as {kind} ({exc})", "Check the file's contents."
        ) from None


def _check_text(path: Path, head: bytes, kind: str) -> None:
    if head.startswith(_ZIP_MAGIC):
        raise _error(
            path,
            f"the file is a zip archive (an Excel workbook?), not {kind} text",
            "Rename it to .xlsx if it is a workbook, or export the sheet as CSV (UTF-8).",
        )
    if head.startswith((_OLE_MAGIC, _PARQUET_MAGIC)) or b"\x00" in head:
        raise _error(
            path, f"the file holds binary data, not {kind} text", "Export it as CSV (UTF-8)."
        )
    try:
        path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error(
            path,
            f"byte {exc.start} is not UTF-8 text",
            "Save the file as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet program).",
        ) from None


def write_table(
    frame: Any, path: str | Path, *, date_formats: dict[str, str] | None = None
) -> Path:
    """Write a DataFrame as CSV, TSV, Parquet, Excel or JSON lines (by the suffix).

    ``date_formats`` maps datetime columns to the ``strftime`` format to write them in
    text formats (the format they were read in), so dates keep their look.
    """
    target = Path(path)
    kind = table_format(target)
    out = frame
    if date_formats and kind in ("csv", "tsv", "jsonl", "excel"):
        out = frame.copy()
        for name, fmt in date_formats.items():
            if name in out.columns and fmt != "ISO8601":
                out[name] = out[name].dt.strftime(fmt)
    if kind == "parquet":
        _need("pyarrow", "parquet", "Parquet files")
        out.to_parquet(target, index=False)
    elif kind == "excel":
        _need("openpyxl", "excel", "Excel files")
        out.to_excel(target, index=False)
    elif kind == "jsonl":
        out.to_json(target, orient="records", lines=True, date_format="iso")
    else:
        out.to_csv(target, index=False, sep="\t" if kind == "tsv" else ",")
    return target
