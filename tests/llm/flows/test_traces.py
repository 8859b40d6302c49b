"""TraceWriter, list_traces and get_trace on a real SQLite file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm import _db
from tessera.llm.flows._traces import MAX_TRACE_LIMIT, TraceWriter, get_trace, list_traces


@dataclass(frozen=True)
class Event:
    kind: str
    node: str | None
    data: Any
    at: str = "2026-01-01T00:00:00+00:00"


def test_a_run_is_stored_with_its_events_in_order(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with TraceWriter("support", {"text": "hi"}, flow_version=3, db=db) as trace:
        trace.record(Event("flow_start", None, {}))
        trace.record({"kind": "node_output", "node": "classify", "data": {"label": "billing"}})
        trace.record(Event("flow_end", None, {"status": "succeeded"}))
        trace.finish(outputs={"answer": "ok"})
    stored = get_trace(trace.run_id, db=db)
    assert stored.flow_name == "support"
    assert stored.flow_version == 3
    assert stored.status == "succeeded"
    assert stored.inputs == {"text": "hi"}
    assert stored.outputs == {"answer": "ok"}
    assert [e.kind for e in stored.events] == ["flow_start", "node_output", "flow_end"]
    assert [e.seq for e in stored.events] == [0, 1, 2]
    assert stored.events[0].at == "2026-01-01T00:00:00+00:00"
    assert stored.node_outputs("classify") == [{"label": "billing"}]
    assert stored.event_count == 3
    assert stored.ended_at is not None and stored.ended_at >= stored.started_at
    assert stored.duration_ms is not None and stored.duration_ms >= 0


def test_events_are_visible_while_the_run_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    trace = TraceWriter("f", None, db=db)
    trace.record(Event("flow_start", None, {}))
    running = get_trace(trace.run_id, db=db)
    assert running.status == "running" and running.event_count == 1
    assert running.ended_at is None
    trace.finish(status="failed", error="node 'x' failed")
    assert get_trace(trace.run_id, db=db).error == "node 'x' failed"


def test_an_exception_marks_the_run_failed_and_propagates(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with pytest.raises(RuntimeError, match="boom"), TraceWriter("f", 1, db=db) as trace:
        trace.record(Event("node_input", "a", {"x": 1}))
        raise RuntimeError("boom")
    stored = get_trace(trace.run_id, db=db)
    assert (stored.status, stored.error) == ("failed", "RuntimeError: boom")


def test_a_stream_closed_early_is_cancelled(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    ids = []

    def stream() -> Iterator[int]:
        with TraceWriter("f", 1, db=db) as trace:
            ids.append(trace.run_id)
            for i in range(10):
                trace.record(Event("node_output", "n", {"i": i}))
                yield i

    events = stream()
    assert [next(events), next(events)] == [0, 1]
    events.close()
    stored = get_trace(ids[0], db=db)
    assert (stored.status, stored.event_count) == ("cancelled", 2)


def test_values_json_cannot_hold_are_converted(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with TraceWriter("f", {"path": Path("/a/b"), "set": {3}}, db=db) as trace:
        trace.record(Event("node_output", "n", {"obj": object(), "event": Event("k", None, 1)}))
    stored = get_trace(trace.run_id, db=db)
    assert stored.inputs == {"path": "/a/b", "set": [3]}
    data = stored.events[0].data
    assert data["obj"].startswith("<object object")
    assert data["event"]["kind"] == "k"


def test_list_filters_and_orders_newest_first(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    ids = []
    for i, (name, status) in enumerate(
        [("a", "succeeded"), ("b", "failed"), ("a", "failed"), ("a", "succeeded")]
    ):
        with TraceWriter(name, i, db=db) as trace:
            trace.finish(status=status, outputs=i)
        ids.append(trace.run_id)
    assert [t.run_id for t in list_traces(db=db)] == ids[::-1]
    assert [t.inputs for t in list_traces("a", db=db)] == [3, 2, 0]
    assert [t.inputs for t in list_traces("a", status="failed", db=db)] == [2]
    assert [t.inputs for t in list_traces(limit=2, db=db)] == [3, 2]
    assert list_traces("nobody", db=db) == []


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    _db.migrate(_db.connect(db), "warm", [])  # create the file before the threads race

    def run(worker: int) -> None:
        for i in range(5):
            with TraceWriter(f"w{worker}", i, db=db) as trace:
                for j in range(4):
                    trace.record(Event("node_output", "n", {"j": j}))

    threads = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    traces = list_traces(limit=100, db=db)
    assert len(traces) == 20
    assert all(t.status == "succeeded" and t.event_count == 4 for t in traces)


def test_a_connection_can_be_shared(tmp_path: Path) -> None:
    conn = _db.connect(tmp_path / "t.db")
    with TraceWriter("f", 1, db=conn) as trace:
        trace.record(Event("flow_start", None, {}))
    assert get_trace(trace.run_id, db=conn).event_count == 1
    conn.execute("SELECT 1")  # still open: the caller owns it
    conn.close()


def test_the_default_database_is_under_tessera_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    with TraceWriter("f", 1) as trace:
        pass
    assert (tmp_path / "tessera.db").is_file()
    assert get_trace(trace.run_id).status == "succeeded"


# -- bad input ----------------------------------------------------------------------------------


def test_unknown_run_id(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"run_id='nope' .*tessera flows traces"):
        get_trace("nope", db=tmp_path / "t.db")


def test_finished_traces_take_nothing_more(tmp_path: Path) -> None:
    trace = TraceWriter("f", 1, db=tmp_path / "t.db")
    trace.finish()
    with pytest.raises(InvalidInputError, match="finished trace takes no more events"):
        trace.record(Event("flow_start", None, {}))
    with pytest.raises(InvalidInputError, match="finish\\(\\) runs once"):
        trace.finish()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flow_name": ""}, "flow_name='' is invalid"),
        ({"flow_version": 0}, "flow_version=0 is invalid"),
        ({"flow_version": 2**63}, "flow_version=9223372036854775808 is invalid"),
    ],
)
def test_bad_writer_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"flow_name": "f", "inputs": 1, "db": tmp_path / "t.db", **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        TraceWriter(**arguments)


def test_bad_status_and_limit(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    trace = TraceWriter("f", 1, db=db)
    with pytest.raises(InvalidInputError, match="status='running' is invalid"):
        trace.finish(status="running")
    with pytest.raises(InvalidInputError, match="status='done' is invalid"):
        list_traces(status="done", db=db)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="limit=0 is invalid"):
        list_traces(limit=0, db=db)
    with pytest.raises(InvalidInputError, match="event.kind=None is invalid"):
        trace.record({"node": "x"})


@pytest.mark.parametrize("limit", [10_001, 2**63, 10**30, -1, True, 2.0])
def test_a_limit_outside_1_to_10000_is_refused_before_sqlite(tmp_path: Path, limit: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"^limit=.* is invalid: it must be"):
        list_traces(limit=limit, db=tmp_path / "t.db")


def test_the_largest_limit_is_answered(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    TraceWriter("f", 1, db=db).finish()
    assert len(list_traces(limit=MAX_TRACE_LIMIT, db=db)) == 1
