"""The one SQLite database under ``$TESSERA_HOME`` that tessera.llm keeps its state in.

Registries (prompts, flows, guardrails), run traces, API keys and the audit log all live in
``$TESSERA_HOME/tessera.db``. Each component owns its tables and applies its own numbered
migrations with :func:`migrate`; the ``schema_migrations`` table records what ran, so
components evolve independently and a database written by an older tessera is upgraded
in place on first use.

The database file is created readable and writable by its owner only (0600, as are its
``-wal`` and ``-shm`` files), in a folder (``$TESSERA_HOME``) only its owner may enter.

Connections use WAL mode (readers never block the writer), a 30 s busy timeout (two
writers wait for each other instead of failing) and foreign keys. Writes go through
:func:`transaction`, which takes the write lock up front (``BEGIN IMMEDIATE``), so a
read-modify-write sequence cannot interleave with another process's.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tessera.llm._home import tessera_home

__all__ = ["connect", "database_path", "migrate", "now", "transaction"]

#: How long a connection waits for another writer's lock before failing, in milliseconds.
BUSY_TIMEOUT_MS = 30_000


def database_path() -> Path:
    """``$TESSERA_HOME/tessera.db``."""
    return tessera_home() / "tessera.db"


def now() -> str:
    """The current UTC time as ISO 8601 text (what every table stores)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def connect(path: str | Path | None = None) -> sqlite3.Connection:
    """Open the database (default :func:`database_path`) ready for concurrent use.

    The connection is in autocommit mode: wrap writes in :func:`transaction`. Rows come
    back as :class:`sqlite3.Row` (index by column name). It may be shared across threads
    (``check_same_thread=False``) provided the caller serialises its use.
    """
    target = Path(path) if path is not None else database_path()
    _create_private(target)
    conn = sqlite3.connect(
        target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL (it persists in the file), retrying while another connection locks it.

    Switching a new database's journal mode needs a lock that SQLite does not wait for
    (the busy timeout does not apply), so two connections opening a new file at once can
    get "database is locked"; the second one retries until the first has switched, within
    the busy timeout. A database already in WAL needs no switch.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.001
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(2 * pause, 0.05)


def _create_private(target: Path) -> None:
    """Create the database file (and its folder) readable by its owner only.

    SQLite would create the file 0644 (less the umask); created here first, empty (an
    empty file is an empty database), with mode 0600 and ``O_CREAT``, which leaves an
    existing file alone. SQLite gives the ``-wal`` and ``-shm`` files it creates later the
    database file's mode, so they are 0600 too. A folder made here is 0700.
    """
    if str(target) == ":memory:":
        return
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not target.exists():
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back when the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """Split a migration script into complete SQL statements."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"migration ends inside a statement: {pending.strip()[:80]!r}")
    return statements


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[str]) -> int:
    """Bring ``component``'s tables up to date; return its schema version.

    Parameters
    ----------
    conn : sqlite3.Connection
        From :func:`connect`.
    component : str
        A stable name ("prompts", "flows", "keys", ...).
    migrations : sequence of str
        SQL scripts; script ``i`` takes the schema from version ``i`` to ``i + 1``.
        Append new scripts, never edit applied ones.

    Returns
    -------
    int
        ``len(migrations)``. Each missing script runs in one transaction with its record,
        so concurrent first uses apply it exactly once.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL,"
        " PRIMARY KEY (component, version))"
    )
    row = conn.execute(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?",
        (component,),
    ).fetchone()
    if int(row[0]) >= len(migrations):
        return len(migrations)
    with transaction(conn):
        # Re-read under the write lock: another process may have migrated meanwhile.
        row = conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?",
            (component,),
        ).fetchone()
        for version in range(int(row[0]), len(migrations)):
            for statement in _statements(migrations[version]):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)",
                (component, version + 1, now()),
            )
    return len(migrations)
