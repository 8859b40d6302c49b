"""Medusa multi-token decoding: heads, candidate trees, tree-attention decoding, training.

Importing this module imports torch (the ``llm`` extra).
"""

from __future__ import annotations

from tessera.llm.medusa._heads import MedusaConfig, MedusaHeads
from tessera.llm.medusa._io import HeadsMetadata, load_heads, save_heads

__all__ = ["HeadsMetadata", "MedusaConfig", "MedusaHeads", "load_heads", "save_heads"]
