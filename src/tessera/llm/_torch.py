"""Lazy, checked imports of the ``llm`` extra (torch, transformers)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from tessera.errors import MissingExtraError

__all__ = ["require"]


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the ``llm`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtraError(
            f"tessera.llm needs {module!r}, which is not installed. "
            "Install the extra: pip install 'tessera[llm]'."
        ) from exc


def set_threads(threads: int | None) -> None:
    """Use ``threads`` intra-op threads in torch (``None`` leaves torch's choice)."""
    if threads is not None:
        torch: Any = require("torch")
        torch.set_num_threads(threads)
