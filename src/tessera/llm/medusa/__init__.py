"""Medusa multi-token decoding: heads, candidate trees, tree-attention decoding, training.

Importing this module imports torch (the ``llm`` extra).
"""

from __future__ import annotations

from tessera.llm.medusa._export import (
    ExportFormat,
    export_fasterdecoding,
    export_heads,
    export_vllm,
)
from tessera.llm.medusa._heads import MedusaConfig, MedusaHeads
from tessera.llm.medusa._io import HeadsMetadata, load_heads, save_heads

__all__ = [
    "ExportFormat",
    "HeadsMetadata",
    "MedusaConfig",
    "MedusaHeads",
    "export_fasterdecoding",
    "export_heads",
    "export_vllm",
    "load_heads",
    "save_heads",
]
