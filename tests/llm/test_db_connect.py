"""Opening a new database from many threads at once: every connection ends up in WAL."""

from __future__ import annotations

import threading
from pathlib import Path

from tessera.llm import _db


def _race(path: Path, threads: int) -> tuple[list[str], list[BaseException]]:
    """Open ``path`` from ``threads`` threads released together; their modes and errors."""
    start = threading.Barrier(threads)
    modes: list[str] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            start.wait()
            conn = _db.connect(path)
            try:
                modes.append(conn.execute("PRAGMA journal_mode").fetchone()[0])
            finally:
                conn.close()
        except BaseException as exc:  # handed to the test thread
            failures.append(exc)

    workers = [threading.Thread(target=open_one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return modes, failures


def test_connections_racing_on_a_new_file_all_open_in_wal(tmp_path: Path) -> None:
    # Switching a new file to WAL takes a lock SQLite does not wait for; before the retry,
    # a good share of these races failed with "database is locked".
    for attempt in range(25):
        modes, failures = _race(tmp_path / f"race{attempt}.db", 6)
        assert not failures, failures
        assert modes == ["wal"] * 6
