"""The store: one table of documents, one of versions, one of labels, one of counters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from tessera._validation import bad_value
from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.llm import _db
from tessera.llm._versioned._checks import (
    check_body,
    check_label,
    check_name,
    check_tags,
    check_text,
    parse_ref,
)
from tessera.llm._versioned._schema import (
    MIGRATIONS,
    Draft,
    Version,
    check_records,
    export_record,
    insert_records,
)

__all__ = ["VersionedStore"]


class VersionedStore:
    """Versioned JSON documents of one ``kind`` in the tessera database.

    Parameters
    ----------
    kind : str
        The namespace: ``"prompt"``, ``"flow"``, ``"guardrail"``, ... Documents of
        different kinds never see each other.
    db : str or Path, default=None
        The SQLite file; ``None`` means ``$TESSERA_HOME/tessera.db``.

    Notes
    -----
    A reference (:meth:`resolve`) is ``NAME`` (the latest version), ``NAME@3``,
    ``NAME@production`` (a label), ``NAME@latest`` or ``NAME@draft``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = VersionedStore("prompt", db=pathlib.Path(tempfile.mkdtemp()) / "t.db")
    >>> _ = store.create("hello", {"text": "Hi"})
    >>> store.commit("hello", "first").number
    1
    >>> store.set_label("hello", "production", 1)
    >>> store.resolve("hello@production").body
    {'text': 'Hi'}
    """

    def __init__(self, kind: str, db: str | Path | None = None) -> None:
        self.kind = check_name(kind, "kind")
        self.db = Path(db) if db is not None else _db.database_path()
        with self._connect() as conn:
            _db.migrate(conn, "versioned", MIGRATIONS)

    def __repr__(self) -> str:
        return f"VersionedStore(kind={self.kind!r}, db={str(self.db)!r})"

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(_db.connect(self.db)) as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn, _db.transaction(conn):
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for reads that take several queries."""
        with self._connect() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    # -- lookups (inside an open connection) ---------------------------------------------

    def _item(self, conn: sqlite3.Connection, name: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM versioned_items WHERE kind = ? AND name = ?", (self.kind, name)
        ).fetchone()
        if row is None:
            known = self._names(conn)
            hint = f"Known: {', '.join(known[:10])}." if known else "The store is empty."
            raise NotFoundError(
                f"name={name!r}: no {self.kind} of that name. {hint} "
                f"Create it first, or check the spelling."
            )
        return row

    def _names(self, conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute(
            "SELECT name FROM versioned_items WHERE kind = ? ORDER BY name", (self.kind,)
        )
        return [r["name"] for r in rows]

    def _latest_number(self, conn: sqlite3.Connection, name: str) -> int | None:
        row = conn.execute(
            "SELECT MAX(number) FROM versioned_versions WHERE kind = ? AND name = ?",
            (self.kind, name),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def _labels(self, conn: sqlite3.Connection, name: str) -> dict[str, int]:
        rows = conn.execute(
            "SELECT label, number FROM versioned_labels WHERE kind = ? AND name = ? ORDER BY label",
            (self.kind, name),
        )
        labels = {r["label"]: int(r["number"]) for r in rows}
        latest = self._latest_number(conn, name)
        if latest is not None:
            labels["latest"] = latest
        return dict(sorted(labels.items()))

    def _version(self, conn: sqlite3.Connection, name: str, number: int) -> Version:
        self._item(conn, name)
        row = conn.execute(
            "SELECT * FROM versioned_versions WHERE kind = ? AND name = ? AND number = ?",
            (self.kind, name, number),
        ).fetchone()
        if row is None:
            numbers = [v for v in self._numbers(conn, name)]
            known = ", ".join(map(str, numbers)) if numbers else "none yet (commit the draft)"
            raise NotFoundError(
                f"version={number!r}: {self.kind} {name!r} has no version {number}. "
                f"Its versions: {known}."
            )
        labels = tuple(k for k, v in self._labels(conn, name).items() if v == number)
        return Version(
            name=name,
            number=number,
            body=json.loads(row["body"]),
            message=row["message"],
            created_at=row["created_at"],
            labels=labels,
        )

    def _numbers(self, conn: sqlite3.Connection, name: str) -> list[int]:
        rows = conn.execute(
            "SELECT number FROM versioned_versions WHERE kind = ? AND name = ? ORDER BY number",
            (self.kind, name),
        )
        return [int(r["number"]) for r in rows]

    def _draft(self, conn: sqlite3.Connection, name: str) -> Draft:
        row = self._item(conn, name)
        return Draft(
            name=name,
            body=json.loads(row["draft"]),
            description=row["description"],
            tags=tuple(json.loads(row["tags"])),
            updated_at=row["draft_updated_at"],
        )

    def _label_number(self, conn: sqlite3.Connection, name: str, label: str) -> int:
        labels = self._labels(conn, name)
        if label not in labels:
            self._item(conn, name)
            if label == "latest":
                raise NotFoundError(
                    f"label='latest': {self.kind} {name!r} has no committed version yet. "
                    f"Commit its draft, or refer to the draft as '{name}@draft'."
                )
            known = ", ".join(labels) if labels else "none"
            raise NotFoundError(
                f"label={label!r}: {self.kind} {name!r} has no such label (its labels: {known}). "
                f"Set it with set_label, or use a version number."
            )
        return labels[label]

    # -- drafts --------------------------------------------------------------------------

    def create(
        self,
        name: str,
        body: dict[str, Any],
        *,
        description: str = "",
        tags: Sequence[str] = (),
    ) -> Draft:
        """Create a document with ``body`` as its draft (no version yet).

        Raises
        ------
        ConflictError
            A document of this kind and name exists.
        """
        check_name(name)
        text = check_body(body)
        check_text("description", description)
        tag_list = check_tags(tags)
        with self._write() as conn:
            exists = conn.execute(
                "SELECT 1 FROM versioned_items WHERE kind = ? AND name = ?", (self.kind, name)
            ).fetchone()
            if exists is not None:
                raise ConflictError(
                    f"name={name!r}: a {self.kind} of that name exists already. "
                    f"Change its draft with update_draft, or pick another name."
                )
            conn.execute(
                "INSERT INTO versioned_items VALUES (?, ?, ?, ?, ?, ?)",
                (self.kind, name, description, json.dumps(tag_list), text, _db.now()),
            )
            return self._draft(conn, name)

    def update_draft(self, name: str, body: dict[str, Any]) -> Draft:
        """Replace the draft's body; versions are untouched."""
        check_name(name)
        text = check_body(body)
        with self._write() as conn:
            self._item(conn, name)
            conn.execute(
                "UPDATE versioned_items SET draft = ?, draft_updated_at = ? "
                "WHERE kind = ? AND name = ?",
                (text, _db.now(), self.kind, name),
            )
            return self._draft(conn, name)

    def draft(self, name: str) -> Draft:
        """The current draft."""
        check_name(name)
        with self._read() as conn:
            return self._draft(conn, name)

    def set_tags(self, name: str, tags: Sequence[str]) -> None:
        """Replace the document's tags (duplicates dropped, order kept)."""
        check_name(name)
        tag_list = check_tags(tags)
        with self._write() as conn:
            self._item(conn, name)
            conn.execute(
                "UPDATE versioned_items SET tags = ? WHERE kind = ? AND name = ?",
                (json.dumps(tag_list), self.kind, name),
            )

    def set_description(self, name: str, description: str) -> None:
        """Replace the document's description."""
        check_name(name)
        check_text("description", description)
        with self._write() as conn:
            self._item(conn, name)
            conn.execute(
                "UPDATE versioned_items SET description = ? WHERE kind = ? AND name = ?",
                (description, self.kind, name),
            )

    # -- versions ------------------------------------------------------------------------

    def commit(self, name: str, message: str = "") -> Version:
        """Snapshot the draft as the next version number; return it.

        The number is one more than the highest ever given to ``name`` (deleted versions
        included), assigned under the database write lock.
        """
        check_name(name)
        check_text("message", message)
        with self._write() as conn:
            item = self._item(conn, name)
            row = conn.execute(
                "SELECT last_number FROM versioned_counters WHERE kind = ? AND name = ?",
                (self.kind, name),
            ).fetchone()
            number = (0 if row is None else int(row[0])) + 1
            conn.execute(
                "INSERT INTO versioned_counters VALUES (?, ?, ?) ON CONFLICT (kind, name) "
                "DO UPDATE SET last_number = excluded.last_number",
                (self.kind, name, number),
            )
            conn.execute(
                "INSERT INTO versioned_versions VALUES (?, ?, ?, ?, ?, ?)",
                (self.kind, name, number, item["draft"], message, _db.now()),
            )
            return self._version(conn, name, number)

    def get(self, name: str, version: int | None = None, label: str | None = None) -> Version:
        """A version by number, by label, or (neither given) the latest."""
        check_name(name)
        if version is not None and label is not None:
            raise InvalidInputError(
                f"version={version!r}, label={label!r}: give one of them, not both."
            )
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1
        ):
            raise bad_value("version", version, "it must be an int >= 1", "Pass version=1.")
        if label is not None and label != "latest":
            check_label(label)
        with self._read() as conn:
            if version is None:
                version = self._label_number(conn, name, label or "latest")
            return self._version(conn, name, version)

    def resolve(self, ref: str) -> Version | Draft:
        """``NAME``, ``NAME@3``, ``NAME@production``, ``NAME@latest`` or ``NAME@draft``."""
        name, selector = parse_ref(ref)
        if selector == "draft":
            return self.draft(name)
        if selector is None or selector == "latest":
            return self.get(name)
        if selector.isdigit():
            return self.get(name, version=int(selector))
        check_label(selector, "ref")
        return self.get(name, label=selector)

    def versions(self, name: str) -> list[Version]:
        """Every existing version, oldest first."""
        check_name(name)
        with self._read() as conn:
            return [self._version(conn, name, n) for n in self._numbers(conn, name)]

    def names(self) -> list[str]:
        """The documents of this kind, sorted."""
        with self._read() as conn:
            return self._names(conn)

    # -- labels --------------------------------------------------------------------------

    def set_label(self, name: str, label: str, version: int) -> None:
        """Point ``label`` at ``version`` (moving it if it pointed elsewhere)."""
        check_name(name)
        check_label(label)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise bad_value("version", version, "it must be an int >= 1", "Pass version=1.")
        with self._write() as conn:
            self._version(conn, name, version)
            conn.execute(
                "INSERT INTO versioned_labels VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, name, label) DO UPDATE SET number = excluded.number",
                (self.kind, name, label, version),
            )

    def delete_label(self, name: str, label: str) -> None:
        """Remove ``label``; the version it pointed at stays."""
        check_name(name)
        check_label(label)
        with self._write() as conn:
            self._label_number(conn, name, label)
            conn.execute(
                "DELETE FROM versioned_labels WHERE kind = ? AND name = ? AND label = ?",
                (self.kind, name, label),
            )

    def labels(self, name: str) -> dict[str, int]:
        """Label -> version number, sorted by label; ``latest`` included once committed."""
        check_name(name)
        with self._read() as conn:
            self._item(conn, name)
            return self._labels(conn, name)

    # -- deletion ------------------------------------------------------------------------

    def delete_version(self, name: str, version: int, *, force: bool = False) -> None:
        """Delete one version; its number is never given again.

        Raises
        ------
        ConflictError
            Labels point at the version and ``force`` is false; with ``force`` they go too.
        """
        check_name(name)
        with self._write() as conn:
            self._version(conn, name, version)
            pointing = [
                label
                for label, number in self._labels(conn, name).items()
                if number == version and label != "latest"
            ]
            if pointing and not force:
                raise ConflictError(
                    f"version={version!r}: labels {', '.join(pointing)} of {self.kind} {name!r} "
                    f"point at it. Move or delete them first, or pass force=True to delete "
                    f"them with the version."
                )
            conn.execute(
                "DELETE FROM versioned_versions WHERE kind = ? AND name = ? AND number = ?",
                (self.kind, name, version),
            )

    def delete(self, name: str) -> None:
        """Delete the document: draft, versions, labels (its numbers stay retired)."""
        check_name(name)
        with self._write() as conn:
            self._item(conn, name)
            conn.execute(
                "DELETE FROM versioned_items WHERE kind = ? AND name = ?", (self.kind, name)
            )

    # -- export / import -----------------------------------------------------------------

    def export_records(self, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Everything about each document as plain data, for :meth:`import_records`.

        Each record holds ``name``, ``description``, ``tags``, ``draft`` (``body``,
        ``updated_at``), ``last_number`` (the highest number ever given), ``versions``
        (``number``, ``body``, ``message``, ``created_at``) and ``labels``.
        """
        with self._read() as conn:
            chosen = self._names(conn) if names is None else [check_name(n) for n in names]
            records = []
            for name in chosen:
                counter = conn.execute(
                    "SELECT last_number FROM versioned_counters WHERE kind = ? AND name = ?",
                    (self.kind, name),
                ).fetchone()
                records.append(
                    export_record(
                        self._draft(conn, name),
                        [self._version(conn, name, n) for n in self._numbers(conn, name)],
                        self._labels(conn, name),
                        0 if counter is None else int(counter[0]),
                    )
                )
            return records

    def import_records(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Recreate documents from :meth:`export_records` output, all or nothing.

        Numbers, timestamps, labels and the retired-number counter are kept as given.
        Returns the imported names.

        Raises
        ------
        ConflictError
            A document of one of the names exists already (nothing is imported).
        """
        checked = check_records(records)
        with self._write() as conn:
            return insert_records(conn, self.kind, checked)
