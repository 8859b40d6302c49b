"""run_batch and ``tessera flows batch`` on a real multi-process LocalCluster, shared by the module.

The same records and metrics as the in-process batch; a worker killed mid-run (a Code node
that ends its process once) loses no record and duplicates none; each worker loads a model
once however many chunks it runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

distributed = pytest.importorskip("distributed")

import tessera.cli._flows  # noqa: E402, F401  (registers the commands)
from _dask_flows import CRASH_ONCE, count_loads, loads_counted  # noqa: E402
from _flowdocs import code_flow, data  # noqa: E402
from tessera.cli._app import app  # noqa: E402
from tessera.errors import InvalidInputError, TesseraError  # noqa: E402
from tessera.llm.flows import BatchResult, get_trace, run_batch  # noqa: E402
from tessera.llm.flows.examples import EXAMPLE_CODE  # noqa: E402

#: Input (Object {text}) -> Code support_category -> Output "category".
CATEGORY_FLOW = {
    "name": "categorise",
    "nodes": [
        {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "Object"}]},
        {
            "name": "code",
            "type": "Code",
            "configuration": {"function": "tessera.llm.flows.examples:support_category"},
            "inputs": [{"name": "completion", "type": "String", "expression": "$.data.text"}],
            "outputs": [{"name": "category", "type": "String"}],
        },
        {"name": "category", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
    ],
    "connections": [
        data("in", "document", "code", "completion"),
        data("code", "category", "category", "document"),
    ],
}
TEXTS = ["billing question", "where is my parcel", "the wifi drops", "hello there"]
EXPECTED = ["billing", "shipping", "technical", "account"]  # the last one fails ('other')


@pytest.fixture(scope="module")
def client(dask_client: Any) -> Any:
    """The shared LocalCluster (tests/conftest.py): two worker processes."""
    return dask_client


def _table(result: BatchResult) -> list[tuple[Any, ...]]:
    """Every field of every record but the ones that differ between any two runs."""
    return [
        (r.index, r.input, r.expected, r.output, r.score, r.passed, r.error) for r in result.records
    ]


def _metrics(result: BatchResult) -> tuple[Any, ...]:
    m = result.metrics
    return (m.records, m.passed, m.errors, m.accuracy, m.mean_score)


def test_same_records_and_metrics_as_in_process(client: Any, tmp_path: Path) -> None:
    records = [{"text": TEXTS[i % 4] + f" #{i}", "expected": EXPECTED[i % 4]} for i in range(30)]
    records[7] = {"text": 42, "expected": "billing"}  # the Code node fails on a number
    db = tmp_path / "traces.db"
    local = run_batch(CATEGORY_FLOW, records, allowed_code=[EXAMPLE_CODE], db=db)
    seen: list[tuple[int, int]] = []
    spread = run_batch(
        CATEGORY_FLOW,
        records,
        allowed_code=[EXAMPLE_CODE],
        db=db,
        scheduler=client,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert _table(spread) == _table(local)
    assert _metrics(spread) == _metrics(local)
    assert _metrics(local)[:3] == (30, 23, 1)  # 7 'other' (one of them the error)
    assert spread.records[7].error is not None
    assert seen[-1] == (30, 30) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    for record in spread.records[:3]:  # the workers traced their runs in the same database
        assert get_trace(record.run_id, db=db).outputs == {"category": record.output}


def test_a_worker_killed_mid_run_loses_and_duplicates_no_record(
    client: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed"
    texts = [f"record {i}" for i in range(40)]
    texts[23] = f"crash:{marker}"  # the first run of this record ends its worker process
    records = [{"input": t, "expected": t.upper()} for t in texts]
    records[23]["expected"] = "CRASHED ONCE"
    flow = code_flow(CRASH_ONCE)
    before = set(client.run(os.getpid).values())
    out = tmp_path / "t.jsonl"
    spread = run_batch(
        flow, records, allowed_code=[CRASH_ONCE], scheduler=client, trace=False, out=out
    )
    assert marker.exists()  # the crash happened
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != before  # a worker process was replaced
    assert [r.index for r in spread.records] == list(range(40))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["index"] for row in rows) == list(range(40))  # each exactly once
    assert spread.metrics.passed == 40 and spread.metrics.errors == 0
    local = run_batch(flow, records, allowed_code=[CRASH_ONCE], trace=False)  # marker: no crash
    assert _table(spread) == _table(local)


def test_a_record_that_kills_every_worker_is_named(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scheduler gives a task up after this many worker deaths (default 3): 0 here, so
    # that one death is enough.
    monkeypatch.setattr(client.cluster.scheduler, "allowed_failures", 0)
    records = [{"input": t, "expected": ""} for t in ("a", "b", "crash always", "c")]
    client.wait_for_workers(2, timeout=60)
    with pytest.raises(TesseraError, match=r"records \d+-\d+ were given up: every worker"):
        run_batch(
            code_flow(CRASH_ONCE), records, allowed_code=[CRASH_ONCE], scheduler=client, trace=False
        )


def _prompt_flow(model: str) -> dict[str, Any]:
    prompt = {
        "type": "text",
        "text": "{{topic}}",
        "variables": {"topic": {"type": "string"}},
        "variants": [{"name": "v", "model": model, "max_tokens": 3}],
    }
    return {
        "name": "complete",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "ask",
                "type": "Prompt",
                "configuration": {"inline": prompt},
                "inputs": [{"name": "topic", "type": "String"}],
                "outputs": [{"name": "modelCompletion", "type": "String"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [
            data("in", "document", "ask", "topic"),
            data("ask", "modelCompletion", "out", "document"),
        ],
    }


def test_each_worker_loads_the_model_once(client: Any, tiny_llama: Any, tmp_path: Path) -> None:
    model = f"tessera:{tiny_llama.folder}"
    words = "cat dog bird fish tree sun moon star sky sea river city".split()
    records = [{"input": f"the {w}", "expected": "-"} for w in words * 2]  # 24 records
    client.wait_for_workers(2, timeout=60)
    client.run(count_loads)
    spread = run_batch(_prompt_flow(model), records, scheduler=client, trace=False)
    loads = client.run(loads_counted)
    # 8 chunks of 3 records over 2 workers: one worker ran at least 4, yet loaded once.
    assert sorted(loads.values()) in ([0, 1], [1, 1]), loads
    local = run_batch(_prompt_flow(model), records, trace=False)
    assert _table(spread) == _table(local)  # greedy decoding: the same completions
    assert all(r.error is None and r.output for r in spread.records)


runner = CliRunner()


def test_cli_flows_batch_with_a_scheduler_address(client: Any, tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(CATEGORY_FLOW), encoding="utf-8")
    dataset = tmp_path / "data.jsonl"
    lines = [json.dumps({"text": t, "expected": e}) for t, e in zip(TEXTS, EXPECTED, strict=True)]
    dataset.write_text("\n".join(lines) + "\n")
    common = ["flows", "batch", str(flow), str(dataset), "--db", str(tmp_path / "t.db")]
    here = runner.invoke(app, [*common, "-o", str(tmp_path / "here.jsonl")])
    there = runner.invoke(
        app,
        [*common, "-o", str(tmp_path / "there.jsonl"), "--scheduler", client.scheduler.address],
    )
    assert here.exit_code == 0 and there.exit_code == 0, here.output + there.output
    assert "0.750" in there.output  # accuracy
    rows = {
        name: [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        for name in ("here", "there")
    }
    keep = ("index", "input", "expected", "output", "score", "passed", "error")
    assert [{k: r[k] for k in keep} for r in rows["here"]] == [
        {k: r[k] for k in keep} for r in rows["there"]
    ]
    bad = runner.invoke(app, [*common, "--scheduler", "not an address"])
    assert bad.exit_code == 1
    assert "scheduler='not an address' is invalid" in " ".join(bad.output.split())


def test_a_bad_scheduler_is_refused_before_any_record_runs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"scheduler=42 is invalid: it must be 'local'"):
        run_batch(CATEGORY_FLOW, [{"text": "x", "expected": "y"}], scheduler=42, trace=False)
