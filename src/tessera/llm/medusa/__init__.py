"""Medusa multi-token decoding: heads, candidate trees, tree-attention decoding, training.

Importing this module imports torch (the ``llm`` extra).
"""

from __future__ import annotations

from tessera.llm.medusa._decode import DecodeStats, Sampling, medusa_generate, plain_generate
from tessera.llm.medusa._export import (
    ExportFormat,
    export_fasterdecoding,
    export_heads,
    export_vllm,
)
from tessera.llm.medusa._heads import MedusaConfig, MedusaHeads
from tessera.llm.medusa._io import HeadsMetadata, load_heads, save_heads
from tessera.llm.medusa._tree import MedusaTree, build_tree, expected_accept_length

__all__ = [
    "DecodeStats",
    "ExportFormat",
    "HeadsMetadata",
    "MedusaConfig",
    "MedusaHeads",
    "MedusaTree",
    "Sampling",
    "build_tree",
    "expected_accept_length",
    "export_fasterdecoding",
    "export_heads",
    "export_vllm",
    "load_heads",
    "medusa_generate",
    "plain_generate",
    "save_heads",
]
