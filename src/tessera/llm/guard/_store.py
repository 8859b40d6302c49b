"""Guardrail configurations in the versioned registry shared with prompts and flows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tessera.errors import ConflictError, NotFoundError
from tessera.llm._versioned import Version, VersionedStore
from tessera.llm._versioned._checks import check_label
from tessera.llm.guard._config import GuardrailConfig

__all__ = [
    "guardrail_versions",
    "list_guardrails",
    "load_guardrail",
    "save_guardrail",
    "set_label",
]

KIND = "guardrail"

#: How often a save writes and commits its draft before giving up on concurrent writers.
_SAVE_ATTEMPTS = 3


def _store(db: str | Path | None) -> VersionedStore:
    return VersionedStore(kind=KIND, db=db)


def save_guardrail(
    name: str,
    config: GuardrailConfig | Mapping[str, Any],
    *,
    message: str = "",
    label: str | None = None,
    db: str | Path | None = None,
) -> Version:
    """Validate ``config`` and commit it as the next version of guardrail ``name``.

    The guardrail is created on first save; later saves replace its draft and commit it.
    With ``label`` (``"production"``), the label is moved to the new version, so that
    ``load_guardrail("NAME@production")`` returns it.

    Returns
    -------
    Version
        The new version (its ``number`` counts 1, 2, ...; ``latest`` points at it). It holds
        exactly ``config``, even when other writers save the same guardrail at the same time.

    Raises
    ------
    ConflictError
        When other writers changed the draft between this save's write and its commit
        three times running; nothing of this save was committed, so save again.

    Notes
    -----
    The commit names the draft revision this save wrote (``base_revision``), so it never
    snapshots a concurrent writer's draft; when another writer got in between, the draft
    is written again and committed again.
    """
    guard = config if isinstance(config, GuardrailConfig) else GuardrailConfig.from_mapping(config)
    store = _store(db)
    body = guard.to_mapping()
    if label is not None:
        check_label(label)  # before anything is written
    version = None
    for _ in range(_SAVE_ATTEMPTS - 1):
        try:
            version = _write_and_commit(store, name, body, guard.description, message)
            break
        except ConflictError:
            continue  # another writer changed the draft in between: write ours again
    if version is None:
        version = _write_and_commit(store, name, body, guard.description, message)
    if label is None:
        return version
    store.set_label(name, label, version.number)
    return store.get(name, version.number)


def _write_and_commit(
    store: VersionedStore, name: str, body: dict[str, Any], description: str, message: str
) -> Version:
    """Write ``body`` as the draft of ``name`` (created if missing) and commit that draft.

    Raises :class:`ConflictError` when another writer changed the draft before the commit,
    or created the guardrail between this save's look and its ``create``.
    """
    try:
        draft = store.update_draft(name, body)
    except NotFoundError:
        draft = store.create(name, body, description=description)
    return store.commit(name, message, base_revision=draft.revision)


def load_guardrail(ref: str, *, db: str | Path | None = None) -> GuardrailConfig:
    """The configuration at ``ref``: ``NAME``, ``NAME@3``, ``NAME@production``, ``NAME@draft``."""
    return GuardrailConfig.from_mapping(_store(db).resolve(ref).body)


def set_label(
    name: str, label: str, version: int | None = None, *, db: str | Path | None = None
) -> Version:
    """Point ``label`` of guardrail ``name`` at ``version`` (default: the latest version).

    A label that pointed elsewhere moves. Returns the version it now points at.

    Raises
    ------
    NotFoundError
        When the guardrail, or that version of it, does not exist.
    InvalidInputError
        When ``label`` is not a valid label (``latest`` and ``draft`` are reserved).
    """
    store = _store(db)
    number = store.get(name).number if version is None else version
    store.set_label(name, label, number)
    return store.get(name, number)


def list_guardrails(*, db: str | Path | None = None) -> list[str]:
    """The names of the stored guardrails, sorted."""
    return _store(db).names()


def guardrail_versions(name: str, *, db: str | Path | None = None) -> list[Version]:
    """Every committed version of guardrail ``name``, oldest first, with its labels."""
    return _store(db).versions(name)
