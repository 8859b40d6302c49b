"""Paused InvokeFlow executions (multi-turn ``INPUT_REQUIRED``), kept in the database.

When a flow stops at an AskUser node (a Bedrock Agent node bound to ``ask-user``), the
execution is stored under its ``executionId``: the flow version it ran, the input
document, the replies so far, the outputs of the nodes that had finished, the node that
asks, and the API key that started it (only that key may continue it). A continuation
adds the reply and runs on from there (:class:`tessera.llm.flows.Resume`); an execution
that completes is deleted, and one left waiting longer than :data:`EXPIRY` is forgotten
(continuing it is a ResourceNotFoundException).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.llm import _db

__all__ = ["EXPIRY", "Execution", "ExecutionStore"]

#: How long a paused execution waits for its reply.
EXPIRY = dt.timedelta(hours=24)

_COMPONENT = "bedrock_flow_executions"
_MIGRATIONS = [
    """
    CREATE TABLE bedrock_flow_executions (
        execution_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        flow TEXT NOT NULL,
        flow_ref TEXT NOT NULL,
        document TEXT NOT NULL,
        answers TEXT NOT NULL,
        recorded TEXT NOT NULL,
        waiting_node TEXT NOT NULL,
        waiting_label TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """
]


@dataclass(frozen=True)
class Execution:
    """A paused execution (see the module)."""

    execution_id: str
    key_id: str
    flow: str
    flow_ref: str
    document: Any
    answers: dict[str, Any]
    recorded: dict[str, Any]
    waiting_node: str
    waiting_label: str


class ExecutionStore:
    """Paused executions in the service's database (one connection, serialised)."""

    def __init__(self, path: str | Path | None) -> None:
        self._conn = _db.connect(path)
        self._lock = threading.Lock()
        _db.migrate(self._conn, _COMPONENT, _MIGRATIONS)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def put(self, execution: Execution) -> None:
        """Store (or replace) a paused execution."""
        row = (
            execution.execution_id,
            execution.key_id,
            execution.flow,
            execution.flow_ref,
            json.dumps(execution.document),
            json.dumps(execution.answers),
            json.dumps(execution.recorded),
            execution.waiting_node,
            execution.waiting_label,
            _db.now(),
        )
        with self._lock, _db.transaction(self._conn):
            self._conn.execute(
                "DELETE FROM bedrock_flow_executions WHERE updated_at < ?", (self._cutoff(),)
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO bedrock_flow_executions VALUES (?,?,?,?,?,?,?,?,?,?)",
                row,
            )

    @staticmethod
    def _cutoff() -> str:
        return (dt.datetime.now(dt.UTC) - EXPIRY).isoformat(timespec="microseconds")

    def get(self, execution_id: str) -> Execution | None:
        """The paused execution, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM bedrock_flow_executions WHERE execution_id = ? AND updated_at >= ?",
                (execution_id, self._cutoff()),
            ).fetchone()
        if row is None:
            return None
        return Execution(
            execution_id=row["execution_id"],
            key_id=row["key_id"],
            flow=row["flow"],
            flow_ref=row["flow_ref"],
            document=json.loads(row["document"]),
            answers=json.loads(row["answers"]),
            recorded=json.loads(row["recorded"]),
            waiting_node=row["waiting_node"],
            waiting_label=row["waiting_label"],
        )

    def delete(self, execution_id: str) -> None:
        """Forget an execution (it completed)."""
        with self._lock, _db.transaction(self._conn):
            self._conn.execute(
                "DELETE FROM bedrock_flow_executions WHERE execution_id = ?", (execution_id,)
            )
