"""``tessera assign``: happy paths and one clear line per bad file, through typer's CliRunner."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
from typer.testing import CliRunner

from tessera.cli import _assign  # noqa: F401  (registers the command on the app)
from tessera.cli._app import app

runner = CliRunner()

TAXI_CSV = """person,Taxi 1,Taxi 2,Taxi 3
Ana,9,2,7
Ben,6,4,3
Cleo,5,8,1
Dev,7,6,9
"""
TAXI = np.array([[9, 2, 7], [6, 4, 3], [5, 8, 1], [7, 6, 9]], dtype=float)


def write(tmp_path: Path, text: str, name: str = "costs.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: str | Path):
    return runner.invoke(app, ["assign", *map(str, args)])


def pairs_in(output: str, names: list[str]) -> dict[str, str]:
    """The row -> column pairs of the rich table (rows named in ``names``)."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) == 3 and cells[0] in names:
            found[cells[0]] = cells[1]
    return found


def total_in(output: str) -> float:
    match = re.search(r"Total cost: (-?[\d.e+]+) \((minimum|maximum)\)", output)
    assert match, output
    return float(match.group(1))


@pytest.mark.parametrize("maximize", [False, True])
def test_matrix_csv(tmp_path: Path, maximize: bool) -> None:
    path = write(tmp_path, TAXI_CSV)
    result = invoke(path, *(["--maximize"] if maximize else []))
    assert result.exit_code == 0, result.output
    rows, cols = scipy.optimize.linear_sum_assignment(TAXI, maximize=maximize)
    assert total_in(result.output) == TAXI[rows, cols].sum()
    people = ["Ana", "Ben", "Cleo", "Dev"]
    shown = pairs_in(result.output, people)
    taxis = ["Taxi 1", "Taxi 2", "Taxi 3"]
    # 4 people, 3 taxis: three assigned, the fourth listed as unassigned.
    assert len(shown) == 3 and len(set(shown.values())) == 3
    cost = sum(TAXI[people.index(p), taxis.index(t)] for p, t in shown.items())
    assert cost == total_in(result.output)
    left = next(p for p in people if p not in shown)
    assert f"Unassigned rows: {left}" in result.output
    assert "person" in result.output  # the index column's header
    assert "Dual certificate (proof of optimality): checked" in result.output


def test_forbidden_cells_are_never_used(tmp_path: Path) -> None:
    text = "who,X,Y,Z\na,1,,50\nb,inf,2,50\nc,1,1,INF\n"
    result = invoke(write(tmp_path, text))
    assert result.exit_code == 0, result.output
    # a-X + b-Z + c-Y = 52 beats a-Z + b-Y + c-X = 53; every other choice is forbidden.
    assert pairs_in(result.output, ["a", "b", "c"]) == {"a": "X", "b": "Z", "c": "Y"}
    assert total_in(result.output) == 52


def test_forbidden_cells_stay_forbidden_when_maximizing(tmp_path: Path) -> None:
    text = "who,X,Y\na,,1\nb,1,100\n"
    result = invoke(write(tmp_path, text), "--maximize")
    assert result.exit_code == 0, result.output
    # Without the forbidden pair the maximum would take b->Y (100); it must be a->Y, b->X.
    assert pairs_in(result.output, ["a", "b"]) == {"a": "Y", "b": "X"}
    assert total_in(result.output) == 2


def test_edge_list(tmp_path: Path) -> None:
    text = "row,col,cost\nAna,T1,9\nAna,T2,2\nBen,T1,6\nBen,T2,4\nCleo,T3,1\nCleo,T1,5\n"
    result = invoke(write(tmp_path, text))
    assert result.exit_code == 0, result.output
    assert pairs_in(result.output, ["Ana", "Ben", "Cleo"]) == {
        "Ana": "T2",
        "Ben": "T1",
        "Cleo": "T3",
    }
    assert total_in(result.output) == 9


def test_quoted_names_semicolons_and_bom(tmp_path: Path) -> None:
    text = '\ufeff"name";"Car, red";"Car, blue"\n"Smith, Ann";3;1\nLee;2;5\n'
    result = invoke(write(tmp_path, text))
    assert result.exit_code == 0, result.output
    assert pairs_in(result.output, ["Smith, Ann", "Lee"]) == {
        "Smith, Ann": "Car, blue",
        "Lee": "Car, red",
    }


def test_names_with_brackets_are_printed_verbatim(tmp_path: Path) -> None:
    text = "[who],[bold]X,Y\n[red]a,1,\nb[1],2,3\n"
    result = invoke(write(tmp_path, text), "--maximize")
    assert result.exit_code == 0, result.output
    assert pairs_in(result.output, ["[red]a", "b[1]"]) == {"[red]a": "[bold]X", "b[1]": "Y"}
    assert "[who]" in result.output


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["assign", "-h"])
    assert result.exit_code == 0
    for option in ("--maximize", "--explain", "--out", "COSTS.csv", "matrix|graph"):
        assert option in result.output


BAD_FILES = {
    "missing": (None, "no such file"),
    "empty": ("", "the file is empty"),
    "blank_lines": ("\n \n", "the file is empty"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not UTF-8 text"),
    "nul_bytes": ("a,b\x00c\n", "binary data"),
    "no_columns": ("just words\nmore words\n", "line 1: the header has no column names"),
    "header_only": ("who,X,Y\n", "line 1: there are no rows after the header"),
    "ragged_short": ("who,X,Y\na,1,2\nb,3\n", "line 3: the row has 2 cells but the header has 3"),
    "ragged_long": ("who,X,Y\na,1,2,3\n", "line 2: the row has 4 cells but the header has 3"),
    "non_numeric": ("who,X,Y\na,1,2\nb,3,abc\n", "line 3, column 'Y': cell 'abc' is not a number"),
    "nan": ("who,X,Y\na,nan,2\nb,3,4\n", "line 2, column 'X': cell 'nan' is not a usable cost"),
    "minus_inf": ("who,X,Y\na,1,-inf\nb,3,4\n", "cell '-inf' is not a usable cost"),
    "duplicate_row": (
        "who,X,Y\na,1,2\na,3,4\n",
        "line 3: row name 'a' appears twice (first on line 2)",
    ),
    "duplicate_col": ("who,X,X\na,1,2\n", "line 1, header: column name 'X' appears twice"),
    "empty_row_name": ("who,X\n,1\n", "line 2: a row name is empty"),
    "empty_col_name": ("who,X,\na,1,2\n", "a column name is empty"),
    "edge_ragged": (
        "row,col,cost\na,X,1\nb,Y\n",
        "line 3: the line has 2 cells but an edge list has 3",
    ),
    "edge_duplicate": (
        "row,col,cost\na,X,1\na,X,2\n",
        "the pair (a, X) appears twice (first on line 2)",
    ),
    "edge_empty": ("row,col,cost\n", "the edge list has no pairs"),
    "edge_bad_cost": (
        "row,col,cost\na,X,cheap\n",
        "line 2, column 'cost': cell 'cheap' is not a number",
    ),
    "infeasible": (
        "who,X,Y,Z\na,1,,\nb,2,inf,\nc,1,2,3\n",
        "rows [a, b] (2) can only be assigned to columns [X] (1)",
    ),
    "infeasible_tall": (
        "who,X,Y\na,,1\nb,,2\nc,,3\n",
        "columns [X] (1) can only be assigned to rows [none] (0)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_one_clear_line(tmp_path: Path, case: str) -> None:
    content, expected = BAD_FILES[case]
    path = tmp_path / f"{case}.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    result = invoke(path)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}")
    assert expected in lines[0]
    assert "Traceback" not in result.output


def test_folder_instead_of_file(tmp_path: Path) -> None:
    result = invoke(tmp_path)
    assert result.exit_code == 1
    assert "this is a folder, not a CSV file" in result.stderr


def test_bad_out_suffix(tmp_path: Path) -> None:
    result = invoke(write(tmp_path, TAXI_CSV), "--out", tmp_path / "trace.txt")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "--out='trace.txt' is invalid: its suffix .txt" in result.stderr
    assert ".html, .gif, .svg, .png" in result.stderr


def test_unknown_explain_method_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(write(tmp_path, TAXI_CSV), "--explain", "magic")
    assert result.exit_code == 2
    assert "magic" in result.output and "matrix" in result.output


def tessera_script() -> str:
    """The installed ``tessera`` console script of this interpreter's environment."""
    found = shutil.which("tessera", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("the tessera console script is not installed next to this interpreter")
    return found


def test_console_script_end_to_end(tmp_path: Path) -> None:
    """The real entry point, in a fresh process: the table, the total, then a bad file."""
    script = tessera_script()
    good = subprocess.run(
        [script, "assign", str(write(tmp_path, TAXI_CSV))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert "Total cost: 9 (minimum)" in good.stdout
    assert f"Optimal assignment for {tmp_path / 'costs.csv'} (4 rows x 3 columns)" in good.stdout
    assert pairs_in(good.stdout, ["Ana", "Ben", "Cleo", "Dev"]) == {
        "Ana": "Taxi 2",
        "Ben": "Taxi 1",
        "Cleo": "Taxi 3",
    }
    bad = subprocess.run(
        [script, "assign", str(write(tmp_path, "who,X\na,oops\n", "bad.csv"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'bad.csv'}, line 2, column 'X': cell 'oops' is not a number. "
        "Write a number, or leave the cell empty (or write inf) to forbid the pair."
    ]


@pytest.mark.parametrize("method", ["matrix", "graph"])
def test_explain_prints_the_trace(tmp_path: Path, method: str) -> None:
    from tessera.assign import explain

    result = invoke(write(tmp_path, TAXI_CSV), "--explain", method)
    assert result.exit_code == 0, result.output
    trace = explain(TAXI, method, row_names=["Ana", "Ben", "Cleo", "Dev"])
    assert f"Hungarian method ({method} method), minimise" in result.output
    for k, step in enumerate(trace.steps):
        assert f"Step {k + 1}/{len(trace.steps)} [{step.kind}]" in result.output
    # The table comes first, then the trace.
    assert result.output.index("Total cost: 9") < result.output.index("Hungarian method")


MAGIC = {".html": b"<!DOCTYPE html>", ".svg": b"<svg", ".png": b"\x89PNG", ".gif": b"GIF89a"}


@pytest.mark.parametrize("suffix", list(MAGIC))
def test_out_writes_the_explainer(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / "nested" / f"trace{suffix}"
    result = invoke(write(tmp_path, TAXI_CSV), "--out", target, "--explain", "matrix")
    assert result.exit_code == 0, result.output
    assert target.read_bytes().lstrip()[: len(MAGIC[suffix])] == MAGIC[suffix]
    assert f"Wrote the matrix explainer to {target}" in result.output.replace("\n", "")
    if suffix == ".html":
        page = target.read_text(encoding="utf-8")
        assert "Cleo" in page and "http://" not in page.replace("http://www.w3.org", "")


def test_out_alone_uses_the_graph_method(tmp_path: Path) -> None:
    target = tmp_path / "trace.html"
    result = invoke(write(tmp_path, TAXI_CSV), "--out", target)
    assert result.exit_code == 0, result.output
    assert "graph method" in target.read_text(encoding="utf-8")
    assert "Hungarian method" not in result.output  # no --explain: no trace printed


def test_explain_refuses_big_tables(tmp_path: Path) -> None:
    names = [f"c{j}" for j in range(41)]
    rows = [f"r{i}," + ",".join(str((i * j) % 7) for j in range(41)) for i in range(41)]
    path = write(tmp_path, "\n".join(["who," + ",".join(names), *rows]) + "\n")
    result = invoke(path, "--explain", "graph")
    assert result.exit_code == 1 and result.stdout == ""
    assert "41 x 41, too big to explain step by step (at most 40" in result.stderr
    assert invoke(path).exit_code == 0  # solving alone is fine
