"""Model customization jobs kept in the service's database (SQLite, like the rest of serve).

Each job is one row: its name, the CreateModelCustomizationJob request, the base model,
its status (``InProgress``, ``Completed``, ``Failed``), times, the failure message or the
registered model, and the process that runs it (host and process id). A job whose
process is gone while it was ``InProgress`` (the server stopped or crashed mid-training)
is reported ``Failed`` with a message saying so, the first time it is read; the
registered models are in the model registry and stay either way.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.llm import _db

__all__ = ["Job", "JobStore", "STOPPED_MESSAGE"]

_COMPONENT = "bedrock_customization_jobs"
_MIGRATIONS = [
    """
    CREATE TABLE bedrock_customization_jobs (
        name TEXT PRIMARY KEY,
        request TEXT NOT NULL,
        base TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        ended_at TEXT,
        failure TEXT,
        model TEXT,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        seq INTEGER NOT NULL
    );
    """
]
#: The failure message of a job whose server stopped while it ran.
STOPPED_MESSAGE = (
    "the server stopped while this job was training (it runs in the server's process); "
    "create the job again under a new jobName"
)


@dataclass(frozen=True)
class Job:
    """One job's row."""

    name: str
    request: dict[str, Any]
    base: str
    status: str
    created: str
    ended: str | None
    failure: str | None
    model: str | None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _alive(host: str, pid: int) -> bool:
    if host != socket.gethostname():
        return True  # another machine's job: it cannot be checked from here
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobStore:
    """The jobs of one database (one connection, serialised)."""

    def __init__(self, path: str | Path | None) -> None:
        self._conn = _db.connect(path)
        self._lock = threading.Lock()
        _db.migrate(self._conn, _COMPONENT, _MIGRATIONS)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def create(self, name: str, request: dict[str, Any], base: str) -> bool:
        """Record a new job as ``InProgress`` in this process; False if the name is taken."""
        with self._lock, _db.transaction(self._conn):
            seq = self._conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM bedrock_customization_jobs"
            ).fetchone()[0]
            try:
                self._conn.execute(
                    "INSERT INTO bedrock_customization_jobs (name, request, base, status, "
                    "created_at, host, pid, seq) VALUES (?, ?, ?, 'InProgress', ?, ?, ?, ?)",
                    (
                        name,
                        json.dumps(request),
                        base,
                        _now(),
                        socket.gethostname(),
                        os.getpid(),
                        seq,
                    ),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def finish(self, name: str, *, model: str | None = None, failure: str | None = None) -> None:
        """Mark a job ``Completed`` (with its model) or ``Failed`` (with why)."""
        status = "Failed" if failure is not None else "Completed"
        with self._lock, _db.transaction(self._conn):
            self._conn.execute(
                "UPDATE bedrock_customization_jobs SET status = ?, ended_at = ?, failure = ?, "
                "model = ? WHERE name = ?",
                (status, _now(), failure, model, name),
            )

    def _job(self, row: Any) -> Job:
        if row["status"] == "InProgress" and not _alive(row["host"], row["pid"]):
            self.finish(row["name"], failure=STOPPED_MESSAGE)
            with self._lock:
                row = self._conn.execute(
                    "SELECT * FROM bedrock_customization_jobs WHERE name = ?", (row["name"],)
                ).fetchone()
        return Job(
            name=row["name"],
            request=json.loads(row["request"]),
            base=row["base"],
            status=row["status"],
            created=row["created_at"],
            ended=row["ended_at"],
            failure=row["failure"],
            model=row["model"],
        )

    def get(self, name: str) -> Job | None:
        """The job, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM bedrock_customization_jobs WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else self._job(row)

    def jobs(self) -> list[Job]:
        """Every job, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM bedrock_customization_jobs ORDER BY seq"
            ).fetchall()
        return [self._job(row) for row in rows]
