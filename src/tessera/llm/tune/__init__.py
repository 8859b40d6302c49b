"""LoRA fine-tuning on the CPU, and custom model versions loadable by name.

- :func:`fine_tune` -- check Bedrock-style JSONL chat records, train a LoRA adapter on the
  assistant tokens, write the metrics CSVs and a loss plot;
- :func:`register_model` -- store the result as ``custom:<name>@<version>``, which
  :func:`tessera.llm.load` and ``get_backend("tessera:custom:<name>")`` accept;
- :func:`read_records` / :func:`check_records` -- the data rules on their own;
- :func:`train_heads` -- Medusa heads for a tuned model.

Importing this package is light; torch and peft load when training starts.
"""

from __future__ import annotations

from tessera.llm.tune._data import (
    DataProblem,
    DataValidationError,
    Record,
    check_records,
    read_records,
)
from tessera.llm.tune._encode import IGNORE_INDEX, Encoded, encode_dataset, encode_record
from tessera.llm.tune._metrics import (
    TRAINING_COLUMNS,
    TRAINING_CSV,
    VALIDATION_COLUMNS,
    VALIDATION_CSV,
    MetricRow,
)
from tessera.llm.tune._params import BASE_LEARNING_RATE, LLAMA_TARGET_MODULES, TuneParams
from tessera.llm.tune._registry import (
    CUSTOM_PREFIX,
    CustomModel,
    get_model,
    list_models,
    register_model,
    train_heads,
)
from tessera.llm.tune._train import TuneResult, fine_tune

__all__ = [
    "BASE_LEARNING_RATE",
    "CUSTOM_PREFIX",
    "CustomModel",
    "DataProblem",
    "DataValidationError",
    "Encoded",
    "IGNORE_INDEX",
    "LLAMA_TARGET_MODULES",
    "MetricRow",
    "Record",
    "TRAINING_COLUMNS",
    "TRAINING_CSV",
    "TuneParams",
    "TuneResult",
    "VALIDATION_COLUMNS",
    "VALIDATION_CSV",
    "check_records",
    "encode_dataset",
    "encode_record",
    "fine_tune",
    "get_model",
    "list_models",
    "read_records",
    "register_model",
    "train_heads",
]
