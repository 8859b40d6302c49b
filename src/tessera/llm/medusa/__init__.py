"""Medusa multi-token decoding: heads, candidate trees, tree-attention decoding, training.

Importing this module imports torch (the ``llm`` extra).
"""

from __future__ import annotations

from tessera.llm.medusa._bench import (
    DecodingComparison,
    MethodResult,
    compare_decoding,
    head_accuracy,
)
from tessera.llm.medusa._datastore import Datastore, build_datastore
from tessera.llm.medusa._decode import DecodeStats, Sampling, medusa_generate, plain_generate
from tessera.llm.medusa._default import DEFAULT_RECIPE, train_default_heads
from tessera.llm.medusa._distill import DistillationData, generate_self_distillation_data
from tessera.llm.medusa._export import (
    ExportFormat,
    export_fasterdecoding,
    export_heads,
    export_vllm,
)
from tessera.llm.medusa._heads import MedusaConfig, MedusaHeads
from tessera.llm.medusa._io import HeadsMetadata, load_heads, save_heads
from tessera.llm.medusa._medusa2 import Medusa2Result, train_medusa2
from tessera.llm.medusa._prompts import heldout_prompts, training_prompts
from tessera.llm.medusa._train import TrainResult, train_medusa
from tessera.llm.medusa._tree import MedusaTree, build_tree, expected_accept_length

__all__ = [
    "DEFAULT_RECIPE",
    "Datastore",
    "DecodeStats",
    "DecodingComparison",
    "DistillationData",
    "ExportFormat",
    "HeadsMetadata",
    "Medusa2Result",
    "MedusaConfig",
    "MedusaHeads",
    "MedusaTree",
    "MethodResult",
    "Sampling",
    "TrainResult",
    "build_datastore",
    "build_tree",
    "compare_decoding",
    "expected_accept_length",
    "export_fasterdecoding",
    "export_heads",
    "export_vllm",
    "generate_self_distillation_data",
    "head_accuracy",
    "heldout_prompts",
    "load_heads",
    "medusa_generate",
    "plain_generate",
    "save_heads",
    "train_default_heads",
    "train_medusa",
    "train_medusa2",
    "training_prompts",
]
