"""Run traces: every flow run, its inputs, each event and its outputs, in the tessera database.

:class:`TraceWriter` is what the runner holds while a flow runs: it inserts the run's row
when it starts, one row per event as the event happens (so a run that dies half-way still
shows how far it got), and the outputs, status and end time when it finishes.
:func:`list_traces` and :func:`get_trace` read them back.

Values are stored as JSON. Anything JSON cannot hold as is (a dataclass, a pydantic model,
a path, a set) is converted by pydantic's ``to_jsonable_python``, and what that cannot
convert either is stored as its ``str()``, so a trace never fails a run.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from tessera._validation import bad_value, check_positive_int
from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm import _db
from tessera.llm._versioned import check_number

__all__ = [
    "MAX_TRACE_LIMIT",
    "Trace",
    "TraceEvent",
    "TraceStatus",
    "TraceSummary",
    "TraceWriter",
    "get_trace",
    "list_traces",
]

#: The most runs :func:`list_traces` returns at once (``limit``), as the audit log's route.
MAX_TRACE_LIMIT = 10_000

TraceStatus = Literal["running", "succeeded", "failed", "cancelled"]
_STATUSES: tuple[str, ...] = ("running", "succeeded", "failed", "cancelled")

_COMPONENT = "flow_traces"
_MIGRATIONS = [
    """
    CREATE TABLE flow_traces (
        run_id TEXT PRIMARY KEY,
        flow_name TEXT NOT NULL,
        flow_version INTEGER,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
        inputs TEXT NOT NULL,
        outputs TEXT,
        error TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        duration_ms REAL
    );
    CREATE INDEX flow_traces_by_flow ON flow_traces (flow_name, started_at);
    CREATE INDEX flow_traces_by_start ON flow_traces (started_at);
    CREATE TABLE flow_trace_events (
        run_id TEXT NOT NULL REFERENCES flow_traces (run_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        node TEXT,
        data TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    """
]


class EventLike(Protocol):
    """What :meth:`TraceWriter.record` needs of an event (``FlowEvent`` has it)."""

    @property
    def kind(self) -> str: ...
    @property
    def node(self) -> str | None: ...
    @property
    def data(self) -> Any: ...


@dataclass(frozen=True)
class TraceEvent:
    """One stored event of a run, in the order it happened (``seq`` from 0)."""

    seq: int
    kind: str
    node: str | None
    data: Any
    at: str


@dataclass(frozen=True)
class TraceSummary:
    """One run as :func:`list_traces` shows it (no events)."""

    run_id: str
    flow_name: str
    flow_version: int | None
    status: TraceStatus
    inputs: Any
    outputs: Any
    error: str | None
    started_at: str
    ended_at: str | None
    duration_ms: float | None
    event_count: int


@dataclass(frozen=True)
class Trace(TraceSummary):
    """One run with every event, from :func:`get_trace`."""

    events: tuple[TraceEvent, ...] = ()

    def node_outputs(self, node: str) -> list[Any]:
        """The data of every ``node_output`` event of ``node`` (one per run of the node)."""
        return [e.data for e in self.events if e.kind == "node_output" and e.node == node]


def _to_json(value: Any) -> str:
    from pydantic_core import to_jsonable_python

    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)


def _open(db: str | Path | sqlite3.Connection | None) -> tuple[sqlite3.Connection, bool]:
    """A migrated connection and whether this module opened it (and so must close it)."""
    if isinstance(db, sqlite3.Connection):
        _db.migrate(db, _COMPONENT, _MIGRATIONS)
        return db, False
    conn = _db.connect(db)
    _db.migrate(conn, _COMPONENT, _MIGRATIONS)
    return conn, True


class TraceWriter:
    """Record one flow run as it happens.

    Parameters
    ----------
    flow_name : str
        The flow's ``name``.
    inputs : Any
        What the run was given (stored as JSON).
    flow_version : int or None, default=None
        The saved version that ran (None for a flow run from a file or an unsaved draft).
    run_id : str or None, default=None
        The run's id; a new UUID (32 hex digits) when None.
    db : path, sqlite3.Connection or None, default=None
        The database (default ``$TESSERA_HOME/tessera.db``). A connection passed in is
        used and left open; otherwise the writer opens one and closes it at :meth:`finish`.

    Notes
    -----
    Use it as a context manager around the run. Leaving the block normally without having
    called :meth:`finish` marks the run ``succeeded`` (no outputs); an exception marks it
    ``failed`` with the exception's message; ``GeneratorExit`` or ``KeyboardInterrupt``
    (a consumer stopped reading a stream) marks it ``cancelled``. Exceptions are never
    swallowed.

    Examples
    --------
    >>> with TraceWriter("support", {"document": "hi"}, db=tmp / "t.db") as trace:  # doctest: +SKIP
    ...     for event in events:
    ...         trace.record(event)
    ...     trace.finish(outputs={"out": "answer"})
    """

    def __init__(
        self,
        flow_name: str,
        inputs: Any,
        *,
        flow_version: int | None = None,
        run_id: str | None = None,
        db: str | Path | sqlite3.Connection | None = None,
    ) -> None:
        if not isinstance(flow_name, str) or not flow_name:
            raise bad_value(
                "flow_name", flow_name, "it must be a non-empty string", "Pass the flow's name."
            )
        if flow_version is not None:
            check_number("flow_version", flow_version)  # SQLite's integers end at 2**63 - 1
        self.flow_name = flow_name
        self.flow_version = flow_version
        self.run_id = run_id if run_id is not None else uuid.uuid4().hex
        self.status: TraceStatus = "running"
        self._seq = 0
        self._start = time.perf_counter()
        self._conn, self._owned = _open(db)
        with _db.transaction(self._conn):
            self._conn.execute(
                "INSERT INTO flow_traces (run_id, flow_name, flow_version, status, inputs,"
                " started_at) VALUES (?, ?, ?, 'running', ?, ?)",
                (self.run_id, flow_name, flow_version, _to_json(inputs), _db.now()),
            )

    def record(self, event: EventLike | Mapping[str, Any]) -> None:
        """Store one event (a ``FlowEvent`` or a mapping with kind, node, data[, at])."""
        if self.status != "running":
            raise InvalidInputError(
                f"run_id={self.run_id!r} is {self.status}: a finished trace takes no more "
                "events. Record every event before calling finish()."
            )
        if isinstance(event, Mapping):
            kind, node, data, at = (
                event.get("kind"),
                event.get("node"),
                event.get("data"),
                event.get("at"),
            )
        else:
            kind, node, data, at = event.kind, event.node, event.data, getattr(event, "at", None)
        if not isinstance(kind, str) or not kind:
            raise bad_value("event.kind", kind, "it must be a non-empty string", "Name the event.")
        self._conn.execute(
            "INSERT INTO flow_trace_events (run_id, seq, kind, node, data, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (self.run_id, self._seq, kind, node, _to_json(data), str(at or _db.now())),
        )
        self._seq += 1

    def finish(
        self,
        *,
        outputs: Any = None,
        status: TraceStatus = "succeeded",
        error: str | None = None,
    ) -> None:
        """Store the outputs, the status and the end time; close an owned connection."""
        if status not in _STATUSES or status == "running":
            raise bad_value(
                "status",
                status,
                "a finished run is 'succeeded', 'failed' or 'cancelled'",
                "Pass one of those.",
            )
        if self.status != "running":
            raise InvalidInputError(
                f"run_id={self.run_id!r} is already {self.status}: finish() runs once."
            )
        elapsed_ms = (time.perf_counter() - self._start) * 1000.0
        with _db.transaction(self._conn):
            self._conn.execute(
                "UPDATE flow_traces SET status = ?, outputs = ?, error = ?, ended_at = ?,"
                " duration_ms = ? WHERE run_id = ?",
                (status, _to_json(outputs), error, _db.now(), elapsed_ms, self.run_id),
            )
        self.status = status
        if self._owned:
            self._conn.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.status != "running":
            return
        if exc is None:
            self.finish()
        elif isinstance(exc, GeneratorExit | KeyboardInterrupt):
            self.finish(status="cancelled", error=type(exc).__name__)
        else:
            self.finish(status="failed", error=f"{type(exc).__name__}: {exc}")


_SUMMARY_COLUMNS = (
    "t.run_id, t.flow_name, t.flow_version, t.status, t.inputs, t.outputs, t.error,"
    " t.started_at, t.ended_at, t.duration_ms,"
    " (SELECT COUNT(*) FROM flow_trace_events e WHERE e.run_id = t.run_id) AS event_count"
)


def _summary_fields(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "run_id": row["run_id"],
        "flow_name": row["flow_name"],
        "flow_version": row["flow_version"],
        "status": row["status"],
        "inputs": json.loads(row["inputs"]),
        "outputs": json.loads(row["outputs"]) if row["outputs"] is not None else None,
        "error": row["error"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "duration_ms": row["duration_ms"],
        "event_count": int(row["event_count"]),
    }


def list_traces(
    flow: str | None = None,
    *,
    limit: int = 20,
    status: TraceStatus | None = None,
    db: str | Path | sqlite3.Connection | None = None,
) -> list[TraceSummary]:
    """The most recent runs first, optionally of one flow and with one status.

    Parameters
    ----------
    flow : str or None, default=None
        Only runs of the flow with this name.
    limit : int, default=20
        At most this many runs, from 1 to :data:`MAX_TRACE_LIMIT` (10,000).
    status : {'running', 'succeeded', 'failed', 'cancelled'} or None, default=None
        Only runs with this status.
    db : path, sqlite3.Connection or None, default=None
        The database (default ``$TESSERA_HOME/tessera.db``).

    Raises
    ------
    InvalidInputError
        When ``limit`` is not an int from 1 to 10,000 or ``status`` is not a status.
    """
    _check_limit(limit)
    if status is not None and status not in _STATUSES:
        choices = ", ".join(repr(s) for s in _STATUSES)
        raise bad_value("status", status, f"it must be one of {choices}", "Pass one of those.")
    where, args = [], []
    if flow is not None:
        where.append("t.flow_name = ?")
        args.append(flow)
    if status is not None:
        where.append("t.status = ?")
        args.append(status)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    conn, owned = _open(db)
    try:
        rows = conn.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM flow_traces t{clause}"
            " ORDER BY t.started_at DESC, t.rowid DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
    finally:
        if owned:
            conn.close()
    return [TraceSummary(**_summary_fields(row)) for row in rows]


def _check_limit(limit: Any) -> int:
    number = check_positive_int("limit", limit)
    if number > MAX_TRACE_LIMIT:
        raise bad_value(
            "limit",
            limit,
            f"it must be from 1 to {MAX_TRACE_LIMIT:_}",
            f"Pass at most {MAX_TRACE_LIMIT:_}, or narrow the runs by flow or status.",
        )
    return number


def get_trace(run_id: str, *, db: str | Path | sqlite3.Connection | None = None) -> Trace:
    """One run with all its events, in order.

    Raises
    ------
    NotFoundError
        When no run has this id.
    """
    conn, owned = _open(db)
    try:
        row = conn.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM flow_traces t WHERE t.run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"run_id={run_id!r} is invalid: no flow run has this id. List the recorded"
                " runs with list_traces() or `tessera flows traces`."
            )
        events = conn.execute(
            "SELECT seq, kind, node, data, at FROM flow_trace_events WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()
    finally:
        if owned:
            conn.close()
    return Trace(
        **_summary_fields(row),
        events=tuple(
            TraceEvent(e["seq"], e["kind"], e["node"], json.loads(e["data"]), e["at"])
            for e in events
        ),
    )
