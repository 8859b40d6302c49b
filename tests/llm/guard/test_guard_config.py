"""Guardrail configuration: validation messages, YAML, round trips, the versioned registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm.guard import (
    ENTITY_TYPES,
    GuardrailConfig,
    apply_guardrail,
    load_guardrail,
    save_guardrail,
)

BAD = [
    (
        {"sensitive_information": {"entities": ["EMAIL", "PASSPORT"]}},
        ["sensitive_information.entities[1].type='PASSPORT'", "unknown entity type", "EMAIL"],
    ),
    (
        {"sensitive_information": {"entities": ["EMAIL"], "action": "MASK"}},
        ["sensitive_information.action='MASK'", "'BLOCK', 'ANONYMIZE', 'NONE' or 'DETECT'"],
    ),
    (
        {"sensitive_information": {"regexes": [{"name": "ID", "pattern": "(unclosed"}]}},
        ["regexes[0].pattern='(unclosed'", "not a valid regular expression"],
    ),
    (
        {"sensitive_information": {"regexes": [{"name": "ID", "pattern": "x*"}]}},
        ["pattern='x*'", "matches the empty string"],
    ),
    ({"sensitive_information": {}}, ["lists no entities and no regexes"]),
    (
        {"sensitive_information": {"entities": ["EMAIL", "email"]}},
        ["entity types listed twice: EMAIL"],
    ),
    ({"words": {"profanity": False}}, ["set profanity: true or list some words"]),
    ({"words": {"words": ["..."]}}, ["has no letter or digit"]),
    ({"word_filter": {}}, ["word_filter={}", "Extra inputs are not permitted", "Remove it"]),
    (
        {"denied_topics": [{"name": "x", "definition": "d", "threshold": 1.5}]},
        ["denied_topics[0].threshold=1.5", "less than or equal to 1"],
    ),
    ({"denied_topics": [{"name": "x"}]}, ["denied_topics[0].definition", "Field required"]),
    (
        {"grounding": {"grounding_threshold": None, "relevance_threshold": None}},
        ["both thresholds are null"],
    ),
    ({"prompt_attack": {"threshold": -0.1}}, ["prompt_attack.threshold=-0.1"]),
    (
        {"sensitive_information": {"entities": ["PHONE"], "phone_regions": ["XX"]}},
        ["'XX' is not an ISO 3166 region code"],
    ),
]


@pytest.mark.parametrize(("mapping", "fragments"), BAD)
def test_each_bad_field_is_named_with_its_value_and_rule(
    mapping: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(InvalidInputError) as info:
        GuardrailConfig.from_mapping(mapping)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert "docs/how-to/guardrails.md" in message
    with pytest.raises(ValueError):  # callers may catch the builtin
        apply_guardrail(mapping, "text")


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(InvalidInputError) as info:
        GuardrailConfig.from_mapping({"words": {"action": "NOPE", "words": ["x"]}, "extra": 1})
    message = str(info.value)
    assert message.startswith("guardrail configuration is invalid:")
    assert "words.action='NOPE'" in message and "extra=1" in message


@pytest.mark.parametrize("value", [None, ["EMAIL"], "EMAIL"])
def test_a_non_mapping_is_refused(value: Any) -> None:
    with pytest.raises(InvalidInputError, match="must be a mapping"):
        GuardrailConfig.from_mapping(value)


def test_bad_yaml_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        GuardrailConfig.from_yaml("words: [unclosed")


@pytest.mark.parametrize(
    ("name", "value"),
    [("text", 3), ("source", "both"), ("grounding_source", b"bytes"), ("query", 1.5)],
)
def test_bad_arguments_of_apply_guardrail(name: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"text": "hello", name: value}
    with pytest.raises(InvalidInputError, match=f"{name}="):
        apply_guardrail({"words": {"words": ["x"]}}, **kwargs)


def test_yaml_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(
        "blocked_input_message: No.\n"
        "sensitive_information:\n  entities: [EMAIL, {type: IBAN, action: BLOCK}]\n"
        "words:\n  profanity: true\n",
        encoding="utf-8",
    )
    config = GuardrailConfig.load(path)
    assert config.sensitive_information is not None
    assert config.sensitive_information.action_for("EMAIL") == "ANONYMIZE"
    assert config.sensitive_information.action_for("IBAN") == "BLOCK"
    assert GuardrailConfig.from_yaml(config.to_yaml()) == config


configs = st.fixed_dictionaries(
    {
        "sensitive_information": st.fixed_dictionaries(
            {
                "entities": st.lists(st.sampled_from(ENTITY_TYPES), min_size=1, unique=True),
                "action": st.sampled_from(["BLOCK", "ANONYMIZE", "DETECT"]),
            }
        ),
        "words": st.fixed_dictionaries(
            {"profanity": st.just(True), "words": st.lists(st.sampled_from(["a1", "b c"]))}
        ),
        "denied_topics": st.lists(
            st.builds(
                lambda n, t: {"name": n, "definition": "d " + n, "threshold": t},
                st.sampled_from(["t1", "t2"]),
                st.floats(0, 1),
            ),
            max_size=1,
        ),
    }
)


@given(mapping=configs)
def test_mapping_round_trip(mapping: dict[str, Any]) -> None:
    config = GuardrailConfig.from_mapping(mapping)
    assert GuardrailConfig.from_mapping(config.to_mapping()) == config
    assert GuardrailConfig.from_yaml(config.to_yaml()) == config


def test_saved_versions_in_the_registry(tmp_path: Path) -> None:
    db = tmp_path / "tessera.db"
    first = save_guardrail("support", {"words": {"words": ["globex"]}}, message="v1", db=db)
    second = save_guardrail(
        "support", {"words": {"words": ["globex", "initech"]}}, message="v2", db=db
    )
    assert (first.number, second.number) == (1, 2)
    assert load_guardrail("support@1", db=db).words.words == ("globex",)  # type: ignore[union-attr]
    latest = load_guardrail("support", db=db)
    assert latest.words is not None and latest.words.words == ("globex", "initech")
    with pytest.raises(NotFoundError):
        load_guardrail("nobody", db=db)
    with pytest.raises(InvalidInputError, match="entities"):
        save_guardrail("support", {"sensitive_information": {"entities": ["NOPE"]}}, db=db)
    assert load_guardrail("support", db=db) == latest  # a refused config commits nothing
