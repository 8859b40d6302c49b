"""``tessera assign --out result.csv|json|parquet`` and the summary of large problems.

Each file is read back with a plain reader (csv, json, pyarrow) and compared with scipy's
answer on the same matrix, names included. The how-to's ``tessera assign`` commands are run
here too, and their printed output must be the page's.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
from typer.testing import CliRunner, Result

from tessera.assign._io import read_cost_table, solve_table
from tessera.assign._save import RESULT_SUFFIXES, AssignmentRecord, save_assignment
from tessera.cli import _assign  # noqa: F401  (registers the command on the app)
from tessera.cli._app import app
from tessera.errors import InvalidInputError, MissingExtraError

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
HOW_TO = ROOT / "docs" / "how-to" / "solve-from-csv.md"

PEOPLE = ["Ana", "Ben", "Cleo", "Dev"]
TAXIS = ["Taxi 1", "Taxi 2", "Taxi 3"]
TAXI = np.array([[9, 2, 7], [6, 4, 3], [5, 8, 1], [7, 6, 9]], dtype=float)
TAXI_CSV = "person,Taxi 1,Taxi 2,Taxi 3\nAna,9,2,7\nBen,6,4,3\nCleo,5,8,1\nDev,7,6,9\n"


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, ["assign", *map(str, args)])


def write_matrix(path: Path, cost: np.ndarray) -> Path:
    lines = ["who," + ",".join(f"c{j}" for j in range(cost.shape[1]))]
    lines += [f"r{i}," + ",".join(repr(float(x)) for x in row) for i, row in enumerate(cost)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_pairs(
    cost: np.ndarray, rows: list[str], cols: list[str], maximize: bool
) -> list[tuple[str, str, float]]:
    """scipy's answer, named."""
    r, c = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
    return [(rows[i], cols[j], float(cost[i, j])) for i, j in zip(r, c, strict=True)]


def read_back(path: Path) -> tuple[list[tuple[str, str, float]], dict[str, object]]:
    """The pairs and the other fields of a result file, read without tessera."""
    suffix = path.suffix
    if suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            assert reader.fieldnames == ["row", "column", "cost"]
            return [(r["row"], r["column"], float(r["cost"])) for r in reader], {}
    if suffix == ".json":
        document = json.loads(path.read_text(encoding="utf-8"))
        pairs = [(p["row"], p["column"], p["cost"]) for p in document.pop("pairs")]
        return pairs, document
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    assert table.column_names == ["row", "column", "cost"]
    info = json.loads(table.schema.metadata[b"tessera"])
    return [(r["row"], r["column"], r["cost"]) for r in table.to_pylist()], info


def _needs(suffix: str) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("suffix", RESULT_SUFFIXES)
def test_each_format_round_trips_with_names(tmp_path: Path, suffix: str, maximize: bool) -> None:
    _needs(suffix)
    costs = tmp_path / "taxi.csv"
    costs.write_text(TAXI_CSV, encoding="utf-8")
    target = tmp_path / "out" / f"result{suffix}"
    result = invoke(costs, "--out", target, *(["--maximize"] if maximize else []))
    assert result.exit_code == 0, result.output
    assert f"Wrote 3 pairs to {target}" in result.output.replace("\n", "")
    assert "Total cost:" in result.output  # the table is still printed
    pairs, info = read_back(target)
    assert pairs == expected_pairs(TAXI, PEOPLE, TAXIS, maximize)
    if suffix != ".csv":
        total = sum(cost for _, _, cost in pairs)
        assigned = {row for row, _, _ in pairs}
        assert info == {
            "total": total,
            "maximize": maximize,
            "optimal": True,
            "unassigned_rows": [p for p in PEOPLE if p not in assigned],
            "unassigned_columns": [],
        }


@pytest.mark.parametrize("suffix", RESULT_SUFFIXES)
def test_edge_list_labels_and_costs_are_exact(tmp_path: Path, suffix: str) -> None:
    """Names from an edge list (with commas, brackets) and non-round costs survive the file."""
    _needs(suffix)
    costs = tmp_path / "edges.csv"
    costs.write_text(
        'row,col,cost\n"Smith, Ann",[bold]X,0.1\n"Smith, Ann",Y,0.30000000000000004\n'
        "Lee,[bold]X,1e-17\nLee,Y,2.5\n",
        encoding="utf-8",
    )
    target = tmp_path / f"r{suffix}"
    assert invoke(costs, "-o", target).exit_code == 0
    pairs, _ = read_back(target)
    assert pairs == [("Smith, Ann", "Y", 0.30000000000000004), ("Lee", "[bold]X", 1e-17)]


def test_result_files_have_no_size_limit(tmp_path: Path) -> None:
    """The explainer's 40 x 40 limit is for pictures; an answer file is written at any size."""
    cost = np.random.default_rng(3).random((41, 41))  # no ties: one optimal answer
    target = tmp_path / "result.json"
    result = invoke(write_matrix(tmp_path / "c.csv", cost), "--out", target)
    assert result.exit_code == 0, result.output
    pairs, info = read_back(target)
    names = [f"r{i}" for i in range(41)], [f"c{j}" for j in range(41)]
    assert pairs == expected_pairs(cost, *names, maximize=False)
    assert info["total"] == sum(c for _, _, c in pairs)


@pytest.mark.parametrize("name", ["result.txt", "result", "result.csv.gz", "result.xlsx"])
def test_unknown_suffix_lists_the_accepted_ones(tmp_path: Path, name: str) -> None:
    costs = tmp_path / "taxi.csv"
    costs.write_text(TAXI_CSV, encoding="utf-8")
    result = invoke(costs, "--out", tmp_path / name)
    assert result.exit_code == 1 and result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith(f"error: --out={name!r} is invalid: its suffix ")
    for suffix in (*RESULT_SUFFIXES, ".html", ".gif", ".svg", ".png"):
        assert suffix in line
    assert not (tmp_path / name).exists()


def test_parquet_without_pyarrow_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    costs = tmp_path / "taxi.csv"
    costs.write_text(TAXI_CSV, encoding="utf-8")
    result = invoke(costs, "--out", tmp_path / "r.parquet")
    assert result.exit_code == 1 and result.stdout == ""  # refused before any work
    assert "pip install 'tessera[parquet]'" in result.stderr
    with pytest.raises(MissingExtraError, match=re.escape("tessera[parquet]")):
        save_assignment(_taxi_record(), tmp_path / "r.parquet")


def _taxi_record() -> AssignmentRecord:
    table = read_cost_table(ROOT / "examples" / "taxi.csv")
    result = solve_table(table)
    return AssignmentRecord.of(table, result, optimal=result.verify(table.cost))


def test_save_assignment_refuses_an_unknown_suffix(tmp_path: Path) -> None:
    message = (
        "path='r.tsv' is invalid: its suffix .tsv is not one of .csv, .json, .parquet. "
        "Name the file e.g. result.csv."
    )
    with pytest.raises(InvalidInputError) as info:
        save_assignment(_taxi_record(), tmp_path / "r.tsv")
    assert str(info.value) == message


def test_a_2000_by_2000_problem_prints_a_summary(tmp_path: Path) -> None:
    cost = np.random.default_rng(18).random((2000, 2000))
    result = invoke(write_matrix(tmp_path / "big.csv", cost))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) < 30, result.output
    assert "(2000 rows x 2000 columns)" in lines[0]
    assert "1,995 more pairs (2,000 in all)" in result.output
    assert "--out result.csv" in result.output and "--full" in result.output
    assert "Dual certificate (proof of optimality): checked" in result.output
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    total = float(re.search(r"Total cost: (\S+)", result.output).group(1))  # type: ignore[union-attr]
    assert total == pytest.approx(cost[rows, cols].sum(), rel=1e-5)  # printed to 6 digits


def test_a_summary_lists_a_few_unassigned_names(tmp_path: Path) -> None:
    cost = np.random.default_rng(1).random((60, 90))
    result = invoke(write_matrix(tmp_path / "wide.csv", cost))
    assert result.exit_code == 0, result.output
    assert "Unassigned columns: " in result.output
    assert "... (30 in all)" in result.output.replace("\n", "")


def test_full_prints_every_pair(tmp_path: Path) -> None:
    cost = np.random.default_rng(60).random((60, 60))
    path = write_matrix(tmp_path / "c60.csv", cost)
    summary = invoke(path)
    full = invoke(path, "--full")
    assert summary.exit_code == 0 and full.exit_code == 0, full.output
    row_line = re.compile(r"^│ r\d+ ")
    assert sum(bool(row_line.match(line)) for line in summary.output.splitlines()) == 5
    shown = [line for line in full.output.splitlines() if row_line.match(line)]
    assert len(shown) == 60
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    for line, i, j in zip(shown, rows, cols, strict=True):
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        assert cells[:2] == [f"r{i}", f"c{j}"]
    assert "more pairs" not in full.output and "--full" not in full.output


def test_fifty_pairs_still_print_the_whole_table(tmp_path: Path) -> None:
    cost = np.random.default_rng(50).random((50, 50))
    result = invoke(write_matrix(tmp_path / "c50.csv", cost))
    assert result.exit_code == 0, result.output
    assert sum(line.startswith("│ r") for line in result.output.splitlines()) == 50
    assert "more pairs" not in result.output


def _console_commands(text: str) -> list[tuple[str, str]]:
    """``$ tessera assign ...`` lines of the page's console blocks, with the output shown."""
    found = []
    for block in re.findall(r"^```console\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
        for part in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = part.partition("\n")
            found.append((command, output))
    return found


def test_the_how_to_commands_print_what_the_page_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command of the how-to on a file of the repository runs (in a scratch copy, so
    that its --out files land there) and prints exactly what the page shows."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    text = HOW_TO.read_text(encoding="utf-8")
    ran = 0
    for command, shown in _console_commands(text):
        words = command.split()
        assert words[:2] == ["tessera", "assign"], command
        if not Path(words[2]).exists():
            continue  # the page's bad-file example names a file of the reader's
        result = runner.invoke(app, words[1:], terminal_width=100)
        assert result.exit_code == 0, result.output
        assert result.output == shown, command
        ran += 1
        if "--out" in words:
            written = Path(words[words.index("--out") + 1])
            if written.suffix in (".csv", ".json"):
                assert written.read_text(encoding="utf-8") in text, f"{written} differs"
    assert ran >= 2
