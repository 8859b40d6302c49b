"""Fine-tuning hyperparameters: Bedrock's names and ranges, plus the LoRA settings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from tessera._validation import bad_value, check_in, check_positive_int

__all__ = ["BASE_LEARNING_RATE", "LLAMA_TARGET_MODULES", "TuneParams"]

#: The learning rate that ``learning_rate_multiplier=1`` stands for (AdamW on the LoRA
#: weights, linear decay after a 10% warm-up). Chosen on the benchmark task of
#: ``benchmarks/tune_eval.py``: SmolLM2-135M learns it in one epoch at this rate.
BASE_LEARNING_RATE = 1e-3

#: LoRA on every linear layer of a Llama block (attention and MLP), as QLoRA recommends.
LLAMA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

#: Bedrock hyperparameter names accepted by :meth:`TuneParams.from_mapping`.
_BEDROCK_NAMES = {
    "epochCount": "epoch_count",
    "batchSize": "batch_size",
    "learningRateMultiplier": "learning_rate_multiplier",
    "earlyStoppingThreshold": "early_stopping_threshold",
    "earlyStoppingPatience": "early_stopping_patience",
}


def _number(name: str, value: Any, low: float, high: float, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_value(name, value, "it must be a finite number", fix)
    if not low <= value <= high:
        raise bad_value(name, value, f"it must lie in [{low:g}, {high:g}]", fix)
    return float(value)


def _int_in(name: str, value: Any, low: int, high: int) -> int:
    number = check_positive_int(name, value, minimum=low)
    if number > high:
        raise bad_value(name, value, f"it must lie in [{low}, {high}]", f"Pass {low}..{high}.")
    return number


@dataclass(frozen=True)
class TuneParams:
    """How to fine-tune: Bedrock's hyperparameters and the LoRA adapter's shape.

    Parameters
    ----------
    epoch_count : int, default=2
        Passes over the training data, 1 to 10 (Bedrock ``epochCount``).
    batch_size : int, default=8
        Records per optimiser step, 1 to 256 (Bedrock ``batchSize``). The loss is the
        mean over the batch's assistant tokens.
    learning_rate_multiplier : float, default=1.0
        0.1 to 2; the learning rate is this times :data:`BASE_LEARNING_RATE`
        (Bedrock ``learningRateMultiplier``).
    early_stopping_threshold : float, default=0.001
        The least drop of validation loss, 0 to 0.1, that counts as an improvement for
        early stopping (Bedrock ``earlyStoppingThreshold``).
    early_stopping_patience : int, default=2
        Stop after this many validations in a row without improvement, 1 to 10
        (Bedrock ``earlyStoppingPatience``). Needs validation data.
    validations_per_epoch : int, default=4
        How often the validation loss is measured, 1 to 100 times an epoch.
    lora_rank : int, default=8
        Rank ``r`` of the LoRA update, 1 to 256.
    lora_alpha : float, default=16.0
        LoRA scaling numerator (the update is scaled by ``alpha / r``).
    lora_dropout : float, default=0.05
        Dropout on the LoRA input, in [0, 0.5].
    target_modules : tuple of str, default=LLAMA_TARGET_MODULES
        Names of the linear layers that get adapters.
    max_length : int or None, default=None
        Longest record in tokens; None means the model's context length.
    dtype : {"float32", "bfloat16"}, default="float32"
        The frozen base weights' type (LoRA weights are always float32). float32 is the
        default: measured on SmolLM2-135M on this project's CPU it trains as fast as
        bf16 and its loss curve is the reference (see docs/how-to/fine-tune.md).
    seed : int, default=0
        Seeds the LoRA initialisation, dropout and the shuffling of records.
    """

    epoch_count: int = 2
    batch_size: int = 8
    learning_rate_multiplier: float = 1.0
    early_stopping_threshold: float = 0.001
    early_stopping_patience: int = 2
    validations_per_epoch: int = 4
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = LLAMA_TARGET_MODULES
    max_length: int | None = None
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        _int_in("epoch_count", self.epoch_count, 1, 10)
        _int_in("batch_size", self.batch_size, 1, 256)
        _number(
            "learning_rate_multiplier",
            self.learning_rate_multiplier,
            0.1,
            2.0,
            "Pass a multiplier between 0.1 and 2 (1 is the documented base rate).",
        )
        _number(
            "early_stopping_threshold",
            self.early_stopping_threshold,
            0.0,
            0.1,
            "Pass 0.001 (a drop of validation loss smaller than this is no improvement).",
        )
        _int_in("early_stopping_patience", self.early_stopping_patience, 1, 10)
        _int_in("validations_per_epoch", self.validations_per_epoch, 1, 100)
        _int_in("lora_rank", self.lora_rank, 1, 256)
        _number("lora_alpha", self.lora_alpha, 1e-3, 1024.0, "Pass 16 (twice the rank).")
        _number("lora_dropout", self.lora_dropout, 0.0, 0.5, "Pass 0.05.")
        modules = self.target_modules
        if isinstance(modules, str):
            modules = tuple(m.strip() for m in modules.split(",") if m.strip())
            object.__setattr__(self, "target_modules", modules)
        if (
            not isinstance(modules, tuple | list)
            or not modules
            or not all(isinstance(m, str) and m for m in modules)
        ):
            raise bad_value(
                "target_modules",
                modules,
                "it must be a non-empty list of layer names",
                f"Pass {list(LLAMA_TARGET_MODULES[:4])} (attention only) or leave the default.",
            )
        object.__setattr__(self, "target_modules", tuple(modules))
        if self.max_length is not None:
            check_positive_int("max_length", self.max_length, minimum=2)
        check_in("dtype", self.dtype, ("float32", "bfloat16"))
        check_positive_int("seed", self.seed, minimum=0)

    @property
    def learning_rate(self) -> float:
        """``learning_rate_multiplier * BASE_LEARNING_RATE``."""
        return self.learning_rate_multiplier * BASE_LEARNING_RATE

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the model's metadata file."""
        values = asdict(self)
        values["target_modules"] = list(self.target_modules)
        values["learning_rate"] = self.learning_rate
        return values

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TuneParams:
        """Build from a mapping of these field names or Bedrock's (``"epochCount"``, ...).

        Bedrock passes hyperparameters as strings (``{"epochCount": "2"}``); numeric
        strings are converted. Unknown names are errors.
        """
        known = {f.name: f for f in fields(cls)}
        data: dict[str, Any] = {}
        for key, value in values.items():
            name = _BEDROCK_NAMES.get(key, key)
            if name not in known:
                raise bad_value(
                    "hyperparameters",
                    key,
                    f"unknown hyperparameter {key!r}",
                    f"Use {sorted(_BEDROCK_NAMES)} or {sorted(known)}.",
                )
            if isinstance(value, str) and name not in ("dtype", "target_modules"):
                try:
                    value = int(value) if value.strip().lstrip("-").isdigit() else float(value)
                except ValueError:
                    raise bad_value(
                        key, value, "it must be a number", 'Write the number, e.g. "2".'
                    ) from None
            data[name] = (
                tuple(value) if name == "target_modules" and isinstance(value, list) else value
            )
        return cls(**data)
