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
    check_body,
    check_label,
    check_name,
    check_tags,
    invalid_from_pydantic,
)

__all__ = ["Draft", "MIGRATIONS", "Version", "check_records", "export_record", "insert_records"]

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
    """
]


@dataclass(frozen=True)
class Draft:
    """The editable state of a document: its body, description and tags."""

    name: str
    body: dict[str, Any]
    description: str
    tags: tuple[str, ...]
    updated_at: str


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
    number: int = Field(ge=1)
    body: dict[str, Any]
    message: str = ""
    created_at: str


class _DraftRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    body: dict[str, Any]
    updated_at: str


class _Record(BaseModel):
    """One document as :meth:`VersionedStore.export_records` writes it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    description: str = ""
    tags: list[str] = []
    draft: _DraftRecord
    last_number: int = Field(default=0, ge=0)
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
        "draft": {"body": draft.body, "updated_at": draft.updated_at},
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
        conn.execute(
            "INSERT INTO versioned_items VALUES (?, ?, ?, ?, ?, ?)",
            (
                kind,
                name,
                record.description,
                json.dumps(check_tags(record.tags)),
                check_body(record.draft.body),
                record.draft.updated_at,
            ),
        )
        conn.executemany(
            "INSERT INTO versioned_versions VALUES (?, ?, ?, ?, ?, ?)",
            [
                (kind, name, v.number, check_body(v.body), v.message, v.created_at)
                for v in record.versions
            ],
        )
        conn.executemany(
            "INSERT INTO versioned_labels VALUES (?, ?, ?, ?)",
            [(kind, name, label, n) for label, n in record.labels.items()],
        )
        conn.execute(
            "INSERT INTO versioned_counters VALUES (?, ?, ?) ON CONFLICT (kind, name) "
            "DO UPDATE SET last_number = MAX(last_number, excluded.last_number)",
            (kind, name, record.last_number),
        )
    return [record.name for record in checked]
