"""Bedrock guardrails (CreateGuardrail bodies) imported and exported (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tessera.errors import InvalidInputError
from tessera.llm.bedrock import (
    export_guardrail,
    guardrail_from_bedrock,
    guardrail_to_bedrock,
    import_guardrail,
)
from tessera.llm.guard import apply_guardrail

DATA = Path(__file__).parent / "data"


def fixture() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "guardrail.json").read_text(encoding="utf-8"))
    return loaded


def test_import_then_export_gives_the_same_json(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    version = import_guardrail(fixture(), db=db)
    assert version.number == 1
    assert export_guardrail("support-guardrail", db=db) == fixture()


def test_imported_policies_apply() -> None:
    body = fixture()
    del body["topicPolicyConfig"], body["contentPolicyConfig"]  # no embedding model here
    config = guardrail_from_bedrock(body)
    result = apply_guardrail(config, "Write to ann@example.org about BK-123456", "input")
    assert result.text == "Write to {EMAIL} about {booking_ref}"
    blocked = apply_guardrail(config, "what about competitor-x?", "input")
    assert blocked.blocked and blocked.text == "Sorry, I can't help with that request."


def test_defaults_written_explicitly_are_left_out_on_export() -> None:
    body = fixture()
    topic = body["topicPolicyConfig"]["topicsConfig"][0]
    topic.update(inputAction="BLOCK", outputAction="BLOCK", inputEnabled=True, outputEnabled=True)
    body["wordPolicyConfig"]["wordsConfig"][0]["inputAction"] = "BLOCK"
    body["contentPolicyConfig"]["filtersConfig"][0]["inputAction"] = "BLOCK"
    assert guardrail_to_bedrock(guardrail_from_bedrock(body)) == fixture()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda b: b["contentPolicyConfig"]["filtersConfig"].append(
                {"type": "HATE", "inputStrength": "EXTREME", "outputStrength": "HIGH"}
            ),
            "filtersConfig[1].inputStrength",
        ),
        (
            lambda b: b["topicPolicyConfig"]["topicsConfig"][0].update(outputAction="NONE"),
            "topicsConfig[0].outputAction",
        ),
        (
            lambda b: b["sensitiveInformationPolicyConfig"]["piiEntitiesConfig"][0].update(
                action="MASK"
            ),
            "piiEntitiesConfig[0].action",
        ),
        (lambda b: b.update(unknownField=1), "unknownField"),
        (
            lambda b: b["contentPolicyConfig"]["filtersConfig"].append(
                {"type": "SPAM", "inputStrength": "HIGH", "outputStrength": "HIGH"}
            ),
            "filtersConfig[1].type",
        ),
        (
            lambda b: b["sensitiveInformationPolicyConfig"]["piiEntitiesConfig"].append(
                {"type": "NOT_A_TYPE", "action": "BLOCK"}
            ),
            "entities",
        ),
    ],
)
def test_what_tessera_cannot_apply_is_refused_naming_the_field(change: Any, field: str) -> None:
    body = fixture()
    change(body)
    with pytest.raises(InvalidInputError, match=field.replace("[", r"\[").replace("]", r"\]")):
        guardrail_from_bedrock(body)


def test_cli_imports_and_exports_bedrock_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tessera.cli import (
        _guard,  # noqa: F401  (registers the command)
        app,
    )

    db = str(tmp_path / "t.db")
    runner = CliRunner()
    source = DATA / "guardrail.json"
    done = runner.invoke(app, ["guard", "import", str(source), "--format", "bedrock", "--db", db])
    assert done.exit_code == 0, done.output
    out = tmp_path / "out.json"
    exported = runner.invoke(
        app, ["guard", "export", "support-guardrail", "-f", "bedrock", "-o", str(out), "--db", db]
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text(encoding="utf-8")) == fixture()


def test_content_filters_map_onto_the_guards_content_filters() -> None:
    body = fixture()
    body["contentPolicyConfig"]["filtersConfig"] += [
        {"type": "HATE", "inputStrength": "HIGH", "outputStrength": "MEDIUM"},
        {
            "type": "VIOLENCE",
            "inputStrength": "LOW",
            "outputStrength": "NONE",
            "outputAction": "NONE",
            "outputEnabled": False,
        },
    ]
    config = guardrail_from_bedrock(body)
    hate = next(f for f in config.content_filters if f.type == "HATE")
    assert (hate.input_strength, hate.output_strength) == ("HIGH", "MEDIUM")
    violence = next(f for f in config.content_filters if f.type == "VIOLENCE")
    assert violence.output_enabled is False and violence.action_for("output") == "DETECT"
    assert guardrail_to_bedrock(config) == body


def test_the_older_prompt_attack_policy_exports_as_a_filter() -> None:
    from tessera.llm.guard import GuardrailConfig

    config = GuardrailConfig.from_mapping({"prompt_attack": {"threshold": 0.65}})
    filters = guardrail_to_bedrock(config)["contentPolicyConfig"]["filtersConfig"]
    assert filters == [
        {"type": "PROMPT_ATTACK", "inputStrength": "MEDIUM", "outputStrength": "NONE"}
    ]


def test_a_get_guardrail_answer_imports_as_its_create_body() -> None:
    from tessera.llm.serve._bedrock_guardrail_routes import policies_of

    create = fixture()
    answer = {
        **policies_of(create),
        "guardrailId": "abc123def456",
        "guardrailArn": "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123def456",
        "version": "DRAFT",
        "status": "READY",
        "createdAt": "2026-12-01T10:00:00Z",
        "updatedAt": "2026-12-01T10:00:00Z",
    }
    answer["topicPolicy"]["tier"] = {"tierName": "CLASSIC"}
    assert guardrail_to_bedrock(guardrail_from_bedrock(answer)) == create


def test_a_get_prompt_answer_imports_as_its_create_body(tmp_path: Path) -> None:
    from tessera.llm.bedrock import Bindings, prompt_from_bedrock, prompt_to_bedrock

    create = json.loads((DATA / "prompt_text.json").read_text(encoding="utf-8"))
    create.pop("tags")  # GetPrompt's answer has none
    answer = {
        **create,
        "id": "PROMPT1234",
        "arn": "arn:aws:bedrock:x",
        "version": "DRAFT",
        "createdAt": "2026-12-01T10:00:00Z",
        "updatedAt": "2026-12-01T10:00:00Z",
    }
    bindings = Bindings(
        models={
            "amazon.titan-text-express-v1": "tessera",
            "anthropic.claude-3-haiku-20240307-v1:0": "tessera",
        }
    )
    prompt = prompt_from_bedrock(answer, bindings=bindings)
    assert prompt_to_bedrock(prompt.name, prompt.body, description=prompt.description) == create
