"""A local LLM stack: runtime, Medusa decoding heads.

Needs the ``llm`` extra (torch, transformers); importing :mod:`tessera.llm` itself is
light, torch loads on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_MODEL", "load"]

DEFAULT_MODEL = "smollm2-135m-instruct"


def __getattr__(name: str) -> Any:
    if name == "load":
        from tessera.llm._runtime import load

        return load
    raise AttributeError(f"module 'tessera.llm' has no attribute {name!r}")
