"""Where tessera.llm keeps its state: ``$TESSERA_HOME`` (default ``~/.tessera``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["models_dir", "tessera_home"]


def tessera_home() -> Path:
    """The folder that holds the database (keys, registries, traces) and model copies.

    ``$TESSERA_HOME`` when set, else ``~/.tessera``. The folder is created on first use,
    readable by its owner only (mode 0700: it holds API key hashes and the audit log); a
    folder that exists already keeps its mode.
    """
    root = os.environ.get("TESSERA_HOME")
    path = Path(root).expanduser() if root else Path.home() / ".tessera"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """``$TESSERA_HOME/models``: converted copies of GGUF models, one folder each."""
    path = tessera_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
