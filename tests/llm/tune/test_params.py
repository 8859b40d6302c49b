"""Hyperparameters: Bedrock's names and ranges, clear errors outside them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.llm.tune import BASE_LEARNING_RATE, LLAMA_TARGET_MODULES, TuneParams


def test_defaults_follow_bedrock_and_a_llama_lora() -> None:
    params = TuneParams()
    assert params.epoch_count == 2 and params.learning_rate == BASE_LEARNING_RATE
    assert params.target_modules == LLAMA_TARGET_MODULES and params.dtype == "float32"


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("epoch_count", 0, r"must be >= 1"),
        ("epoch_count", 11, r"\[1, 10\]"),
        ("epoch_count", 2.0, "integer"),
        ("batch_size", 257, r"\[1, 256\]"),
        ("learning_rate_multiplier", 0.05, r"\[0.1, 2\]"),
        ("learning_rate_multiplier", 2.5, r"\[0.1, 2\]"),
        ("learning_rate_multiplier", float("nan"), "finite"),
        ("early_stopping_threshold", -0.1, r"\[0, 0.1\]"),
        ("early_stopping_threshold", 0.2, r"\[0, 0.1\]"),
        ("early_stopping_patience", 11, r"\[1, 10\]"),
        ("lora_rank", 0, ">= 1"),
        ("lora_dropout", 0.9, r"\[0, 0.5\]"),
        ("target_modules", (), "non-empty"),
        ("max_length", 1, ">= 2"),
        ("dtype", "float16", "'float32', 'bfloat16'"),
        ("seed", -1, ">= 0"),
    ],
)
def test_values_outside_their_range_name_the_field_and_value(
    field: str, value: object, rule: str
) -> None:
    with pytest.raises(InvalidInputError, match=rule) as info:
        TuneParams(**{field: value})  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{field}=")


def test_bedrock_mappings_with_string_values() -> None:
    params = TuneParams.from_mapping(
        {
            "epochCount": "3",
            "batchSize": "4",
            "learningRateMultiplier": "0.5",
            "earlyStoppingThreshold": "0.001",
            "earlyStoppingPatience": "3",
            "target_modules": ["q_proj", "v_proj"],
        }
    )
    assert (params.epoch_count, params.batch_size, params.early_stopping_patience) == (3, 4, 3)
    assert params.learning_rate == pytest.approx(0.5 * BASE_LEARNING_RATE)
    assert params.target_modules == ("q_proj", "v_proj")
    assert params.to_dict()["learning_rate"] == pytest.approx(5e-4)
    with pytest.raises(InvalidInputError, match="unknown hyperparameter 'epochs'"):
        TuneParams.from_mapping({"epochs": 2})
    with pytest.raises(InvalidInputError, match="must be a number"):
        TuneParams.from_mapping({"epochCount": "two"})
    with pytest.raises(InvalidInputError, match=r"\[1, 10\]"):
        TuneParams.from_mapping({"epochCount": "12"})


def test_comma_separated_target_modules() -> None:
    assert TuneParams(target_modules="q_proj, v_proj").target_modules == ("q_proj", "v_proj")  # type: ignore[arg-type]


@given(multiplier=st.floats(0.1, 2.0))
def test_the_rate_scales_with_the_multiplier(multiplier: float) -> None:
    assert TuneParams(learning_rate_multiplier=multiplier).learning_rate == pytest.approx(
        multiplier * BASE_LEARNING_RATE
    )
