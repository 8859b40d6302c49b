"""validate_config on real YAML and JSON files: line numbers, unknown keys, schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest

from tessera.errors import InvalidInputError
from tessera.mltest import MLTestFailure, validate_config


class Optimiser(pydantic.BaseModel):
    name: str = "adam"
    learning_rate: float = pydantic.Field(gt=0)


class Layer(pydantic.BaseModel):
    units: int = pydantic.Field(ge=1)
    activation: str = "relu"


class TrainConfig(pydantic.BaseModel):  # extra="ignore", pydantic's default: we still reject
    epochs: int
    optimiser: Optimiser
    layers: list[Layer] = []
    tags: dict[str, str] = {}


class StrictConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    epochs: int


class OpenConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    epochs: int


GOOD = """\
epochs: 10
optimiser:
  name: sgd
  learning_rate: 0.01
layers:
  - units: 64
  - units: 8
    activation: tanh
"""


def _write(tmp_path: Path, text: str, name: str = "train.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_yaml_file_gives_the_model(tmp_path: Path) -> None:
    config = validate_config(_write(tmp_path, GOOD), TrainConfig)
    assert isinstance(config, TrainConfig) and config.layers[1].activation == "tanh"
    assert config.optimiser.learning_rate == 0.01


def test_errors_carry_their_yaml_line_numbers(tmp_path: Path) -> None:
    text = (
        GOOD.replace("learning_rate: 0.01", "learning_rate: -1")
        .replace("  - units: 8", "  - units: 8\n    dropout: 0.5")
        .replace("epochs: 10", "epochs: ten")
    )
    path = _write(tmp_path, text)
    with pytest.raises(MLTestFailure) as info:
        validate_config(path, TrainConfig)
    failure = info.value
    message = str(failure)
    assert "expected: train.yaml to match TrainConfig" in message
    assert "3 error(s):" in message
    assert "train.yaml:1 epochs: Input should be a valid integer" in message
    assert "(got 'ten')" in message
    assert "train.yaml:4 optimiser.learning_rate: Input should be greater than 0 (got -1)" in (
        message
    )
    assert "train.yaml:8 layers.1.dropout: unknown key (not in the model)" in message
    assert [e[0] for e in failure.details["errors"]] == [1, 4, 8]


def test_a_missing_key_points_at_the_mapping_that_lacks_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "epochs: 3\noptimiser:\n  name: sgd\n")
    with pytest.raises(MLTestFailure, match=r"yaml:2 optimiser.learning_rate: Field required"):
        validate_config(path, TrainConfig)


def test_unknown_keys_under_forbid_allow_and_in_dict_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "epochs: 3\nepoch: 4\n")
    with pytest.raises(MLTestFailure, match=r"train.yaml:2 epoch: unknown key") as info:
        validate_config(path, StrictConfig)
    assert "1 error(s)" in str(info.value)  # reported once, not by pydantic and by us
    assert validate_config(path, OpenConfig).epoch == 4  # extra="allow" is the author's choice
    tagged = _write(tmp_path, GOOD + "tags:\n  team: vision\n", "tags.yaml")
    assert validate_config(tagged, TrainConfig).tags == {"team": "vision"}


def test_a_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "epochs: 3\noptimiser:\n  name: [sgd\n  learning_rate: 0.1\n")
    with pytest.raises(MLTestFailure) as info:
        validate_config(path, TrainConfig)
    assert "expected: train.yaml to parse as YAML" in str(info.value)
    assert info.value.where.startswith(f"{path}:")
    assert info.value.details["errors"][0][0] in (3, 4, 5)


def test_json_files_with_a_model_and_with_a_json_schema(tmp_path: Path) -> None:
    data = {"epochs": 3, "optimiser": {"learning_rate": 0.1, "momentum": 0.9}}
    path = _write(tmp_path, json.dumps(data, indent=2), "train.json")
    with pytest.raises(MLTestFailure, match=r"train.json:5 optimiser.momentum: unknown key"):
        validate_config(path, TrainConfig)
    pytest.importorskip("jsonschema", reason="jsonschema is not installed (pip install -e .[dev])")
    schema = {
        "title": "train",
        "type": "object",
        "required": ["epochs"],
        "properties": {
            "epochs": {"type": "integer", "minimum": 1},
            "optimiser": {"type": "object", "properties": {"learning_rate": {"type": "number"}}},
        },
    }
    with pytest.raises(MLTestFailure) as info:
        validate_config(path, schema)
    assert "to match JSON Schema train" in str(info.value)
    assert "train.json:5 optimiser.momentum: unknown key (not in the schema)" in str(info.value)
    bad_epochs = _write(tmp_path, '{\n  "epochs": 0\n}\n', "zero.json")
    with pytest.raises(MLTestFailure, match=r"zero.json:2 epochs: 0 is less than the minimum of 1"):
        validate_config(bad_epochs, schema)
    assert validate_config(_write(tmp_path, "epochs: 2\n", "ok.yml"), schema) == {"epochs": 2}
    open_schema = {**schema, "additionalProperties": True}
    assert validate_config(_write(tmp_path, "epochs: 2\nx: 1\n", "open.yml"), open_schema)["x"] == 1


def test_a_json_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "epochs": 3,\n}\n', "bad.json")
    with pytest.raises(MLTestFailure, match=r"to parse as JSON") as info:
        validate_config(path, StrictConfig)
    assert info.value.where == f"{path}:3"


def test_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^path='.*train.toml' is invalid: it must end in"):
        validate_config(tmp_path / "train.toml", TrainConfig)
    with pytest.raises(InvalidInputError, match=r"^path='.*nowhere.yaml' is invalid: no such file"):
        validate_config(tmp_path / "nowhere.yaml", TrainConfig)
    path = _write(tmp_path, GOOD)
    with pytest.raises(InvalidInputError, match=r"^model_or_schema=.* pydantic model class"):
        validate_config(path, dict)
    pytest.importorskip("jsonschema", reason="jsonschema is not installed (pip install -e .[dev])")
    with pytest.raises(InvalidInputError, match=r"not a valid JSON Schema"):
        validate_config(path, {"type": "no-such-type"})
