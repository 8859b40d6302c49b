"""A local LLM stack: runtime, Medusa decoding heads.

Needs the ``llm`` extra (torch, transformers); importing :mod:`tessera.llm` itself is
light, torch loads on first use.
"""

from __future__ import annotations

from typing import Any

from tessera.llm._model import DEFAULT_MODEL

__all__ = [
    "Constraint",
    "ConstraintState",
    "DEFAULT_MODEL",
    "Generation",
    "Runtime",
    "TextStream",
    "compile_constraint",
    "default_heads_folder",
    "default_weights",
    "is_batch_invariant",
    "load",
    "load_model",
    "make_batch_invariant",
]


def __getattr__(name: str) -> Any:
    if name in ("Constraint", "ConstraintState", "compile_constraint"):
        from tessera.llm import _structured

        return getattr(_structured, name)
    if name in (
        "Generation",
        "Runtime",
        "TextStream",
        "load",
        "default_heads_folder",
        "default_weights",
    ):
        from tessera.llm import _runtime

        return getattr(_runtime, name)
    if name in ("make_batch_invariant", "is_batch_invariant"):
        from tessera.llm import _invariant

        return getattr(_invariant, name)
    if name == "load_model":
        from tessera.llm import _model

        return _model.load_model
    raise AttributeError(f"module 'tessera.llm' has no attribute {name!r}")
