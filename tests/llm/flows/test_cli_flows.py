"""``tessera flows``: every command through typer's CliRunner, on real files and a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from _flowdocs import data, echo_flow, search_flow
from tessera.cli import _flows  # noqa: F401  (registers the commands on the app)
from tessera.cli._app import app

runner = CliRunner()

ECHO = echo_flow()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def write_flow(folder: Path, document: dict[str, object], name: str = "echo.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["flows", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_validate_prints_every_problem(home: Path) -> None:
    good = write_flow(home, ECHO)
    code, out, _ = invoke("validate", good)
    assert (code, out.strip()) == (0, "echo: valid (2 nodes, 1 connections)")
    broken = {**ECHO, "connections": [], "nodes": [*ECHO["nodes"], {"name": "x", "type": "Nope"}]}
    code, _, err = invoke("validate", write_flow(home, broken, "broken.yaml"))
    assert code == 1
    problems = [line for line in err.splitlines() if line.startswith("- ")]
    assert len(problems) >= 2
    assert any("'Nope'" in line for line in problems)
    assert f"error: {len(problems)} problem(s)" in err


def test_the_shipped_example_validates_by_name(home: Path) -> None:
    code, out, _ = invoke("validate", "support-ticket")
    assert code == 0 and "support-ticket: valid" in out


def test_run_stream_and_traces(home: Path) -> None:
    flow = write_flow(home, ECHO)
    code, out, err = invoke("run", flow, "--input", '"hello"')
    assert code == 0, err
    assert json.loads(out) == {"out": "hello"}
    run_id = err.split()[1]

    code, out, _ = invoke("run", flow, "--input", '"again"', "--stream")
    assert code == 0
    lines = out.splitlines()
    kinds = [line.split()[1] for line in lines if line[:2].isdigit()]
    assert kinds[0] == "flow_start" and kinds[-1] == "flow_end"
    assert "flow_output" in kinds

    code, out, _ = invoke("traces", "--flow", "echo")
    assert code == 0 and run_id in out and out.count("succeeded") == 2
    code, out, _ = invoke("trace", run_id)
    assert code == 0
    assert out.splitlines()[0].startswith(f"run {run_id}: echo, succeeded")
    assert 'outputs: {"out": "hello"}' in out
    code, _, err = invoke("trace", "no-such-run")
    assert code == 1 and "error: run_id='no-such-run'" in err


def test_input_from_a_file_and_bad_input(home: Path) -> None:
    flow = write_flow(home, ECHO)
    (home / "in.json").write_text('"from a file"', encoding="utf-8")
    code, out, _ = invoke("run", flow, "--input", f"@{home / 'in.json'}", "--no-trace")
    assert code == 0 and json.loads(out) == {"out": "from a file"}
    code, _, err = invoke("run", flow, "--input", "not json")
    assert code == 1 and "--input='not json' is invalid: it must be JSON" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = invoke("run", flow, "--input", "42")
    assert code == 1 and "declares its document String" in err


def test_save_versions_label_and_run_by_reference(home: Path) -> None:
    flow = write_flow(home, ECHO)
    code, out, _ = invoke("save", flow, "--message", "first", "--label", "production")
    assert (code, out.strip()) == (0, "echo version 1 (latest, production)")
    changed = write_flow(home, {**ECHO, "description": "v2"}, "echo2.yaml")
    assert invoke("save", changed)[1].strip() == "echo version 2 (latest)"
    code, out, _ = invoke("versions", "echo")
    assert code == 0 and "first" in out and "production" in out
    assert invoke("label", "echo", "production", "2")[1].strip() == "echo@production -> version 2"
    code, out, _ = invoke("run", "echo@production", "--input", '"x"')
    assert code == 0 and json.loads(out) == {"out": "x"}
    code, out, _ = invoke("traces")
    assert "echo@2 " in out  # the version that ran is recorded
    code, _, err = invoke("run", "nothing@production", "--input", '"x"')
    assert code == 1 and "error:" in err


@pytest.mark.parametrize("limit", ["0", "10001", str(10**30)])
def test_traces_refuses_a_limit_outside_1_to_10000(home: Path, limit: str) -> None:
    code, out, err = invoke("traces", "--limit", limit)
    assert code != 0 and not out
    assert "limit" in err and "Traceback" not in err


def test_batch_prints_metrics_and_writes_the_table(home: Path) -> None:
    flow = write_flow(home, ECHO)
    dataset = home / "data.jsonl"
    dataset.write_text(
        '{"input": "a", "expected": "a"}\n{"input": "b", "expected": "c"}\n', encoding="utf-8"
    )
    code, out, err = invoke("batch", flow, dataset, "--out", home / "table.csv")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("│"))
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[:5] == ["2", "1", "0.500", "0.500", "0"]
    assert (home / "table.csv").read_text(encoding="utf-8").startswith("index,run_id,input")
    code, _, err = invoke("batch", flow, dataset, "--evaluator", "os:system")
    assert code == 1 and "allow-list" in err


def test_retrieval_reads_only_inside_the_roots_given(home: Path) -> None:
    kb = home / "kb"
    kb.mkdir()
    (kb / "kettle.md").write_text("# Descaling\n\nUse white vinegar.", encoding="utf-8")
    flow = write_flow(home, search_flow("kb"), "search.yaml")
    code, _, err = invoke("validate", flow)
    assert code == 1 and "configuration.folder" in err and "--retrieval-root" in err
    code, _, err = invoke("run", flow, "--input", '"vinegar"', "--no-trace")
    assert code == 1 and "outside the folders retrieval may read" in err
    code, out, _ = invoke("validate", flow, "--retrieval-root", kb)
    assert code == 0 and "valid" in out
    code, out, err = invoke("run", flow, "--input", '"vinegar"', "--retrieval-root", home)
    assert code == 0, err
    assert json.loads(out)["out"][0]["source"] == "kettle.md"
    records = home / "records.jsonl"
    records.write_text('{"input": "vinegar", "expected": "x"}\n', encoding="utf-8")
    code, _, err = invoke("batch", flow, records, "--retrieval-root", home / "missing")
    assert code == 1 and "retrieval_roots=" in err


def test_storage_writes_only_inside_the_roots_given(home: Path) -> None:
    note = {
        "name": "note",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "store",
                "type": "Storage",
                "configuration": {"folder": "notes", "mode": "write", "format": "text"},
                "inputs": [
                    {"name": "key", "type": "String"},
                    {"name": "content", "type": "String"},
                ],
                "outputs": [{"name": "location", "type": "String"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [
            {**data("in", "document", "store", "key"), "name": "key"},
            {**data("in", "document", "store", "content"), "name": "content"},
            data("store", "location", "out", "document"),
        ],
    }
    flow = write_flow(home, note, "note.yaml")
    code, _, err = invoke("validate", flow)
    assert code == 1 and "configuration.folder" in err and "--storage-root" in err
    code, _, err = invoke("run", flow, "--input", '"hello"', "--no-trace")
    assert code == 1 and "outside the folders Storage nodes may write" in err
    assert not (home / "notes").exists()
    code, out, _ = invoke("validate", flow, "--storage-root", home)
    assert code == 0 and "valid" in out
    code, out, err = invoke("run", flow, "--input", '"hello"', "--storage-root", home)
    assert code == 0, err
    assert (home / "notes" / "hello.txt").read_text(encoding="utf-8") == "hello"
    code, _, err = invoke("run", flow, "--input", '"../escape"', "--storage-root", home)
    assert code == 1 and "key='../escape' is invalid" in err
    assert not (home / "escape.txt").exists()
    records = home / "records.jsonl"
    records.write_text('{"input": "again", "expected": "x"}\n', encoding="utf-8")
    code, _, err = invoke("batch", flow, records, "--storage-root", home / "missing")
    assert code == 1 and "storage_roots=" in err
    code, _, err = invoke("batch", flow, records, "--storage-root", home)
    assert code == 0, err
    assert (home / "notes" / "again.txt").is_file()
