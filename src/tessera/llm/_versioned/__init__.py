"""A store of versioned JSON documents: a draft, immutable numbered versions, labels, tags.

Prompts, flows and guardrail configurations share this one store, each in its own
namespace (``kind``), in the tessera database (:mod:`tessera.llm._db`). A document has one
editable draft; :meth:`VersionedStore.commit` snapshots the draft as the next version
(1, 2, ...). Labels (``production``, ``staging``, ...) point at versions and move only when
told to; ``latest`` always means the highest existing version. Version numbers are never
reused, not even after a version, or the whole document, is deleted.

Each draft has a revision that every write of its body advances; ``update_draft`` and
``commit`` take the revision the caller read (``base_revision``) and refuse a stale one
with :class:`~tessera.errors.ConflictError`, so concurrent editors never lose a change.

Every write runs in one ``BEGIN IMMEDIATE`` transaction, so two writers (threads or
processes) committing the same document wait for each other and never lose or duplicate a
version. Each operation opens its own short-lived connection, so one store may be used from
several threads.
"""

from tessera.llm._versioned._checks import (
    MAX_NUMBER,
    RESERVED_LABELS,
    check_label,
    check_name,
    check_number,
    check_version,
    invalid_from_pydantic,
    parse_ref,
    parse_version,
)
from tessera.llm._versioned._schema import Draft, Version
from tessera.llm._versioned._store import VersionedStore

__all__ = [
    "Draft",
    "MAX_NUMBER",
    "RESERVED_LABELS",
    "Version",
    "VersionedStore",
    "check_label",
    "check_name",
    "check_number",
    "check_version",
    "invalid_from_pydantic",
    "parse_ref",
    "parse_version",
]
