"""The audit log: every write the service (or ``tessera keys``) made, who made it, and how it ended.

One row per request whose method changes state (POST, PUT, PATCH, DELETE), refused ones
included (401, 403, 413, 429 are recorded too: an attacker's attempts are worth seeing),
plus key creation and revocation from the command line. Rows hold the key's id and name,
never a key, and the request path, never its body (anything shaped like a key in the path
is redacted before it is written).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from tessera._validation import bad_value, check_positive_int
from tessera.llm import _db
from tessera.llm.serve._keys import redact_keys

__all__ = ["AuditEntry", "AuditLog"]

_COMPONENT = "audit_log"
_MIGRATIONS = [
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        key_id TEXT,
        key_name TEXT,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        client TEXT
    );
    CREATE INDEX audit_log_by_key ON audit_log (key_id, id);
    """
]


@dataclass(frozen=True)
class AuditEntry:
    """One audited write.

    Attributes
    ----------
    id : int
        Increasing with time.
    at : str
        ISO 8601 UTC, when the response started.
    key_id, key_name : str or None
        Who: the authenticated key (None when authentication failed; ``key_name`` is
        ``"cli"`` for command-line actions).
    method, path : str
        What: the HTTP method and path (``CLI`` and a description for command-line actions).
    status : int
        How it ended: the HTTP status.
    client : str or None
        The client's address.
    """

    id: int
    at: str
    key_id: str | None
    key_name: str | None
    method: str
    path: str
    status: int
    client: str | None


class AuditLog:
    """The ``audit_log`` table of the tessera database.

    Parameters
    ----------
    path : str or Path or None, default=None
        The database file; None for ``$TESSERA_HOME/tessera.db``.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._conn = _db.connect(path)
        self._lock = threading.Lock()
        _db.migrate(self._conn, _COMPONENT, _MIGRATIONS)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def record(
        self,
        *,
        method: str,
        path: str,
        status: int,
        key_id: str | None = None,
        key_name: str | None = None,
        client: str | None = None,
    ) -> None:
        """Append one entry (committed before it returns); a key in ``path`` is redacted."""
        with self._lock, _db.transaction(self._conn):
            self._conn.execute(
                "INSERT INTO audit_log (at, key_id, key_name, method, path, status, client)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_db.now(), key_id, key_name, method, redact_keys(path), int(status), client),
            )

    def entries(
        self, *, limit: int = 100, key_id: str | None = None, after_id: int = 0
    ) -> list[AuditEntry]:
        """The newest ``limit`` entries (newest first), optionally of one key only.

        Parameters
        ----------
        limit : int, default=100
            At most this many (1 to 10000).
        key_id : str or None, default=None
            Only this key's entries.
        after_id : int, default=0
            Only entries with a larger id (to page forward or poll for new ones).
        """
        limit = check_positive_int("limit", limit)
        if limit > 10_000:
            raise bad_value("limit", limit, "at most 10000 entries", "Page with after_id.")
        sql = "SELECT * FROM audit_log WHERE id > ?"
        args: list[object] = [int(after_id)]
        if key_id is not None:
            sql += " AND key_id = ?"
            args.append(key_id)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [_entry(row) for row in rows]


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=row["at"],
        key_id=row["key_id"],
        key_name=row["key_name"],
        method=row["method"],
        path=row["path"],
        status=int(row["status"]),
        client=row["client"],
    )
