"""The store: one table of documents, one of versions, one of labels, one of counters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.llm import _db
from tessera.llm._versioned._checks import (
    check_body,
    check_label,
    check_name,
    check_number,
    check_tags,
    check_text,
    check_version,
    parse_ref,
    parse_version,
)
from tessera.llm._versioned._schema import (
    ITEM_COLUMNS,
    MIGRATIONS,
    VERSION_COLUMNS,
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

    Optimistic concurrency: every write of a draft's body gives it the next revision
    (:attr:`Draft.revision`). :meth:`update_draft` and :meth:`commit` take the revision the
    caller read as ``base_revision`` and refuse (:class:`~tessera.errors.ConflictError`,
    nothing written) when another writer has changed the draft since, so two writers
    never overwrite or commit each other's text unseen. A commit reads the draft and
    stores the version in one write transaction: the version holds exactly the text of
    the revision it was checked against.

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
            revision=int(row["draft_revision"]),
        )

    def _next_revision(self, conn: sqlite3.Connection, name: str, current: int) -> int:
        """Give ``name``'s draft its next revision (inside the write transaction).

        One more than both the draft's revision and the highest ever given to ``name``
        (kept after a deletion), so that a revision a client holds never comes back.
        """
        row = conn.execute(
            "SELECT last_revision FROM versioned_counters WHERE kind = ? AND name = ?",
            (self.kind, name),
        ).fetchone()
        revision = max(current, 0 if row is None else int(row[0])) + 1
        conn.execute(
            "INSERT INTO versioned_counters (kind, name, last_number, last_revision) "
            "VALUES (?, ?, 0, ?) ON CONFLICT (kind, name) "
            "DO UPDATE SET last_revision = excluded.last_revision",
            (self.kind, name, revision),
        )
        return revision

    def _stale(self, name: str, base_revision: int, current: int, action: str) -> ConflictError:
        """The error of a write whose ``base_revision`` is not the draft's revision."""
        return ConflictError(
            f"base_revision={base_revision}: the draft of {self.kind} {name!r} is at revision "
            f"{current}: another writer changed it after you read it, so nothing was "
            f"{action}. Re-read the draft (revision {current}), check or redo your change on "
            f"it, and retry with base_revision={current}."
        )

    def _check_base(self, row: sqlite3.Row, base_revision: int | None, action: str) -> None:
        current = int(row["draft_revision"])
        if base_revision is not None and base_revision != current:
            raise self._stale(row["name"], base_revision, current, action)

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
            revision = self._next_revision(conn, name, 0)
            conn.execute(
                f"INSERT INTO versioned_items ({ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.kind, name, description, json.dumps(tag_list), text, _db.now(), revision),
            )
            return self._draft(conn, name)

    def update_draft(
        self, name: str, body: dict[str, Any], *, base_revision: int | None = None
    ) -> Draft:
        """Replace the draft's body, giving it the next revision; versions are untouched.

        Parameters
        ----------
        name : str
            The document.
        body : dict
            The new body (JSON data).
        base_revision : int or None, default=None
            The revision of the draft this change was made on (:attr:`Draft.revision`);
            when given, the write happens only if the draft is still at it.

        Returns
        -------
        Draft
            The new draft, with its new ``revision``.

        Raises
        ------
        ConflictError
            ``base_revision`` is not the draft's revision: another writer changed it.
            Nothing was written; the message names the current revision.
        """
        check_name(name)
        text = check_body(body)
        base = None if base_revision is None else check_number("base_revision", base_revision)
        with self._write() as conn:
            item = self._item(conn, name)
            self._check_base(item, base, "written")
            revision = self._next_revision(conn, name, int(item["draft_revision"]))
            conn.execute(
                "UPDATE versioned_items SET draft = ?, draft_updated_at = ?, draft_revision = ? "
                "WHERE kind = ? AND name = ?",
                (text, _db.now(), revision, self.kind, name),
            )
            return self._draft(conn, name)

    def draft(self, name: str) -> Draft:
        """The current draft, with its ``revision``."""
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

    def commit(self, name: str, message: str = "", *, base_revision: int | None = None) -> Version:
        """Snapshot the draft as the next version number; return it.

        The number is one more than the highest ever given to ``name`` (deleted versions
        included). The draft is read and the version stored in one write transaction
        (``BEGIN IMMEDIATE``): no other write comes between them.

        Parameters
        ----------
        name : str
            The document.
        message : str, default=""
            Recorded with the version.
        base_revision : int or None, default=None
            The revision of the draft the caller means to commit (:attr:`Draft.revision`);
            when given, the version holds exactly that revision's body, or nothing is
            committed.

        Raises
        ------
        ConflictError
            ``base_revision`` is not the draft's revision: another writer changed the
            draft. Nothing was committed; the message names the current revision.
        """
        check_name(name)
        check_text("message", message)
        base = None if base_revision is None else check_number("base_revision", base_revision)
        with self._write() as conn:
            item = self._item(conn, name)
            self._check_base(item, base, "committed")
            row = conn.execute(
                "SELECT last_number FROM versioned_counters WHERE kind = ? AND name = ?",
                (self.kind, name),
            ).fetchone()
            number = (0 if row is None else int(row[0])) + 1
            conn.execute(
                "INSERT INTO versioned_counters (kind, name, last_number) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, name) DO UPDATE SET last_number = excluded.last_number",
                (self.kind, name, number),
            )
            conn.execute(
                f"INSERT INTO versioned_versions ({VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (self.kind, name, number, item["draft"], message, _db.now()),
            )
            return self._version(conn, name, number)

    def get(self, name: str, version: int | None = None, label: str | None = None) -> Version:
        """A version by number, by label, or (neither given) the latest.

        Raises
        ------
        NotFoundError
            No such document, version or label (a number past 2**63 - 1 included).
        """
        check_name(name)
        if version is not None and label is not None:
            raise InvalidInputError(
                f"version={version!r}, label={label!r}: give one of them, not both."
            )
        if version is not None:
            check_version(version)
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
        number = parse_version(selector)
        if number is not None:
            return self.get(name, version=number)
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
        check_version(version)
        with self._write() as conn:
            self._version(conn, name, version)
            conn.execute(
                "INSERT INTO versioned_labels (kind, name, label, number) VALUES (?, ?, ?, ?) "
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
        check_version(version)
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
        ``updated_at``, ``revision``), ``last_number`` (the highest number ever given), ``versions``
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
