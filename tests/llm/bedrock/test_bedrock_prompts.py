"""Bedrock prompts (CreatePrompt JSON) imported and exported: round trips (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tessera.errors import InvalidInputError
from tessera.llm.bedrock import (
    Bindings,
    export_prompt,
    import_prompt,
    load_bindings,
    prompt_from_bedrock,
    prompt_to_bedrock,
)
from tessera.llm.prompts import PromptRegistry

DATA = Path(__file__).parent / "data"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def bindings() -> Bindings:
    return load_bindings(DATA / "bindings.yaml")


@pytest.mark.parametrize("name", ["prompt_text.json", "prompt_chat.json"])
def test_import_then_export_gives_the_same_json(
    name: str, bindings: Bindings, tmp_path: Path
) -> None:
    original = fixture(name)
    db = tmp_path / "t.db"
    import_prompt(original, db=db, bindings=bindings)
    assert export_prompt(f"{original['name']}@draft", db=db) == original
    PromptRegistry(db).commit(original["name"], "imported")
    assert export_prompt(original["name"], db=db) == original


def test_text_prompt_renders_and_keeps_variants(bindings: Bindings, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    import_prompt(fixture("prompt_text.json"), db=db, bindings=bindings)
    registry = PromptRegistry(db)
    rendered = registry.render("MakePlaylist@draft", {"genre": "jazz", "number": "5"})
    assert rendered == "Make me a jazz playlist consisting of the following number of songs: 5."
    body = registry.prompt("MakePlaylist@draft")
    assert [v.name for v in body.variants] == ["variantOne", "variantTwo"]
    assert body.variant("variantTwo").stop == ["\n\nHuman:"]
    assert body.variant("variantOne").temperature == 0.8


def test_chat_prompt_renders_system_first(bindings: Bindings) -> None:
    prompt = prompt_from_bedrock(fixture("prompt_chat.json"), bindings=bindings)
    assert prompt.body["type"] == "chat"
    assert prompt.body["system"].startswith("You are a support agent for {{company}}")
    assert [m["role"] for m in prompt.body["messages"]] == ["user", "assistant", "user"]


def test_documented_defaults_are_written_on_export(bindings: Bindings) -> None:
    minimal = {
        "name": "Short",
        "variants": [
            {
                "name": "v",
                "templateType": "TEXT",
                "templateConfiguration": {
                    "text": {"text": "Hi {{who}}", "inputVariables": [{"name": "who"}]}
                },
                "modelId": "amazon.titan-text-express-v1",
            }
        ],
    }
    prompt = prompt_from_bedrock(minimal, bindings=bindings)
    exported = prompt_to_bedrock(prompt.name, prompt.body)
    expected = {**minimal, "defaultVariant": "v"}
    expected["variants"] = [
        {
            **minimal["variants"][0],
            "inferenceConfiguration": {
                "text": {"maxTokens": 256, "temperature": 0.0, "topP": 1.0, "stopSequences": []}
            },
        }
    ]
    assert exported == expected


def test_an_unbound_model_id_is_an_error_naming_the_field() -> None:
    with pytest.raises(InvalidInputError, match=r"variants\[0\]\.modelId.*--bind"):
        prompt_from_bedrock(fixture("prompt_text.json"))


def test_variants_with_different_templates_are_refused(bindings: Bindings) -> None:
    body = fixture("prompt_text.json")
    body["variants"][1]["templateConfiguration"]["text"]["text"] = "Other {{genre}} {{number}}"
    with pytest.raises(InvalidInputError, match=r"variants\[1\]\.templateConfiguration"):
        prompt_from_bedrock(body, bindings=bindings)


def test_agent_variants_are_not_supported(bindings: Bindings) -> None:
    body = fixture("prompt_text.json")
    body["variants"][0]["genAiResource"] = {"agent": {"agentIdentifier": "arn:aws:bedrock:x"}}
    with pytest.raises(InvalidInputError, match="genAiResource"):
        prompt_from_bedrock(body, bindings=bindings)


def test_bindings_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("modles: {}\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="bindings.modles"):
        load_bindings(path)


def test_cli_imports_and_exports_bedrock_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tessera.cli import (
        _prompts,  # noqa: F401  (registers the command)
        app,
    )

    db = str(tmp_path / "t.db")
    runner = CliRunner()
    source = DATA / "prompt_chat.json"
    refused = runner.invoke(
        app, ["prompts", "import", str(source), "--format", "bedrock", "--db", db]
    )
    assert refused.exit_code == 1 and "modelId" in refused.output
    bound = ["--bind", "anthropic.claude-3-haiku-20240307-v1:0=tessera"]
    done = runner.invoke(
        app, ["prompts", "import", str(source), "-f", "bedrock", *bound, "--db", db]
    )
    assert done.exit_code == 0, done.output
    again = runner.invoke(
        app, ["prompts", "import", str(source), "-f", "bedrock", *bound, "--replace", "--db", db]
    )
    assert again.exit_code == 0, again.output
    out = tmp_path / "out.json"
    exported = runner.invoke(
        app,
        ["prompts", "export", "SupportReply@draft", "-f", "bedrock", "-o", str(out), "--db", db],
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text(encoding="utf-8")) == fixture("prompt_chat.json")


def test_tool_configuration_becomes_the_variants_tools(bindings: Bindings) -> None:
    body = fixture("prompt_chat.json")
    prompt = prompt_from_bedrock(body, bindings=bindings)
    (variant,) = prompt.body["variants"]
    assert variant["tools"][0]["name"] == "lookup_order"
    assert variant["tools"][0]["parameters"]["required"] == ["order"]
    chosen = json.loads(json.dumps(body))
    tools = chosen["variants"][0]["templateConfiguration"]["chat"]["toolConfiguration"]
    tools["toolChoice"] = {"tool": {"name": "lookup_order"}}
    forced = prompt_from_bedrock(chosen, bindings=bindings)
    assert forced.body["variants"][0]["tool_choice"] == "lookup_order"
    assert prompt_to_bedrock(forced.name, forced.body) == chosen
