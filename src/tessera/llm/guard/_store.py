"""Guardrail configurations in the versioned registry shared with prompts and flows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tessera.errors import NotFoundError
from tessera.llm._versioned import Version, VersionedStore
from tessera.llm.guard._config import GuardrailConfig

__all__ = ["load_guardrail", "save_guardrail"]

KIND = "guardrail"


def _store(db: str | Path | None) -> VersionedStore:
    return VersionedStore(kind=KIND, db=db)


def save_guardrail(
    name: str,
    config: GuardrailConfig | Mapping[str, Any],
    *,
    message: str = "",
    db: str | Path | None = None,
) -> Version:
    """Validate ``config`` and commit it as the next version of guardrail ``name``.

    The guardrail is created on first save; later saves replace its draft and commit it.

    Returns
    -------
    Version
        The new version (its ``number`` counts 1, 2, ...; ``latest`` points at it).
    """
    guard = config if isinstance(config, GuardrailConfig) else GuardrailConfig.from_mapping(config)
    store = _store(db)
    body = guard.to_mapping()
    try:
        store.update_draft(name, body)
    except NotFoundError:
        store.create(name, body, description=guard.description)
    return store.commit(name, message)


def load_guardrail(ref: str, *, db: str | Path | None = None) -> GuardrailConfig:
    """The configuration at ``ref``: ``NAME``, ``NAME@3``, ``NAME@production``, ``NAME@draft``."""
    return GuardrailConfig.from_mapping(_store(db).resolve(ref).body)
