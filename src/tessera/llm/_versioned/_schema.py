"""What the store keeps: its SQL tables, the Draft and Version values, the export records."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from tessera.errors import ConflictError
from tessera.llm._versioned._checks import (
    MAX_NUMBER,
    check_body,
    check_label,
    check_name,
    check_tags,
    invalid_from_pydantic,
)

__all__ = [
    "Draft",
    "ITEM_COLUMNS",
    "MIGRATIONS",
    "VERSION_COLUMNS",
    "Version",
    "check_records",
    "export_record",
    "insert_records",
]

#: Inserts name their columns: migrations add columns at the end.
ITEM_COLUMNS = "kind, name, description, tags, draft, draft_updated_at, draft_revision"
VERSION_COLUMNS = "kind, name, number, body, message, created_at"

MIGRATIONS = [
    """
    CREATE TABLE versioned_items (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        tags TEXT NOT NULL,
        draft TEXT NOT NULL,
        draft_updated_at TEXT NOT NULL,
        PRIMARY KEY (kind, name)
    );
    CREATE TABLE versioned_versions (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        number INTEGER NOT NULL,
        body TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (kind, name, number),
        FOREIGN KEY (kind, name) REFERENCES versioned_items (kind, name) ON DELETE CASCADE
    );
    CREATE TABLE versioned_labels (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        label TEXT NOT NULL,
        number INTEGER NOT NULL,
        PRIMARY KEY (kind, name, label),
        FOREIGN KEY (kind, name, number)
            REFERENCES versioned_versions (kind, name, number) ON DELETE CASCADE
    );
    -- The highest number ever given, kept after deletions so that numbers are never reused.
    CREATE TABLE versioned_counters (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        last_number INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
    );
    """,
    # Draft revisions (optimistic concurrency): the draft's revision counts every write of
    # its body; the counter keeps the highest ever given, so that a document deleted and
    # created again never repeats a revision a client may still hold.
    """
    ALTER TABLE versioned_items ADD COLUMN draft_revision INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE versioned_counters ADD COLUMN last_revision INTEGER NOT NULL DEFAULT 0;
    """,
]


@dataclass(frozen=True)
class Draft:
    """The editable state of a document: its body, description and tags.

    ``revision`` counts the writes of the body (1 when created, one more on every
    :meth:`~VersionedStore.update_draft`); pass it back as ``base_revision`` to update or
    commit only the draft you read.
    """

    name: str
    body: dict[str, Any]
    description: str
    tags: tuple[str, ...]
    updated_at: str
    revision: int = 1


@dataclass(frozen=True)
class Version:
    """An immutable snapshot of a draft; ``labels`` includes ``"latest"`` when it is."""

    name: str
    number: int
    body: dict[str, Any]
    message: str
    created_at: str
    labels: tuple[str, ...]


class _VersionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    number: int = Field(ge=1, le=MAX_NUMBER)
    body: dict[str, Any]
    message: str = ""
    created_at: str


class _DraftRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    body: dict[str, Any]
    updated_at: str
    revision: int = Field(default=1, ge=1, le=MAX_NUMBER)


class _Record(BaseModel):
    """One document as :meth:`VersionedStore.export_records` writes it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    description: str = ""
    tags: list[str] = []
    draft: _DraftRecord
    last_number: int = Field(default=0, ge=0, le=MAX_NUMBER)
    versions: list[_VersionRecord] = []
    labels: dict[str, int] = {}

    @model_validator(mode="after")
    def _consistent(self) -> _Record:
        check_name(self.name)
        check_tags(self.tags)
        numbers = [v.number for v in self.versions]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"version numbers repeat: {numbers}")
        for label, number in self.labels.items():
            check_label(label)
            if number not in numbers:
                raise ValueError(f"label {label!r} points at {number}, not one of {numbers}")
        if self.last_number < max(numbers, default=0):
            raise ValueError(f"last_number {self.last_number} < the highest version number")
        for body in [self.draft.body, *(v.body for v in self.versions)]:
            check_body(body)
        return self


def export_record(
    draft: Draft, versions: Sequence[Version], labels: Mapping[str, int], last_number: int
) -> dict[str, Any]:
    """One document as plain data (the form :func:`check_records` reads back)."""
    return {
        "name": draft.name,
        "description": draft.description,
        "tags": list(draft.tags),
        "draft": {"body": draft.body, "updated_at": draft.updated_at, "revision": draft.revision},
        "last_number": last_number,
        "versions": [
            {"number": v.number, "body": v.body, "message": v.message, "created_at": v.created_at}
            for v in versions
        ],
        "labels": {k: v for k, v in labels.items() if k != "latest"},
    }


_RECORDS = TypeAdapter(list[_Record])


def check_records(records: Sequence[Mapping[str, Any]]) -> list[_Record]:
    """Validate export records (types, names, labels, numbers) before anything is written."""
    try:
        return _RECORDS.validate_python(list(records))
    except ValidationError as exc:
        raise invalid_from_pydantic("records", exc) from None


def insert_records(conn: sqlite3.Connection, kind: str, checked: Sequence[_Record]) -> list[str]:
    """Insert checked records inside the caller's write transaction; names must be new."""
    for record in checked:
        name = record.name
        if conn.execute(
            "SELECT 1 FROM versioned_items WHERE kind = ? AND name = ?", (kind, name)
        ).fetchone():
            raise ConflictError(
                f"records: a {kind} named {name!r} exists already; nothing was "
                f"imported. Delete it first, or import into an empty database."
            )
        # After a deletion the counter remembers the revisions given: never repeat one.
        counter = conn.execute(
            "SELECT last_revision FROM versioned_counters WHERE kind = ? AND name = ?",
            (kind, name),
        ).fetchone()
        revision = max(record.draft.revision, 1 + (0 if counter is None else int(counter[0])))
        conn.execute(
            f"INSERT INTO versioned_items ({ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                name,
                record.description,
                json.dumps(check_tags(record.tags)),
                check_body(record.draft.body),
                record.draft.updated_at,
                revision,
            ),
        )
        conn.executemany(
            f"INSERT INTO versioned_versions ({VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (kind, name, v.number, check_body(v.body), v.message, v.created_at)
                for v in record.versions
            ],
        )
        conn.executemany(
            "INSERT INTO versioned_labels (kind, name, label, number) VALUES (?, ?, ?, ?)",
            [(kind, name, label, n) for label, n in record.labels.items()],
        )
        conn.execute(
            "INSERT INTO versioned_counters (kind, name, last_number, last_revision) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET "
            "last_number = MAX(last_number, excluded.last_number), "
            "last_revision = MAX(last_revision, excluded.last_revision)",
            (kind, name, record.last_number, revision),
        )
    return [record.name for record in checked]
