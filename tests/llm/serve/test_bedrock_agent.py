"""bedrock-agent's prompt operations through the real boto3 client (issue 23)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("cryptography")

from botocore.config import Config  # noqa: E402
from serve_live import Live, start_live  # noqa: E402

from tessera.llm.serve import RateLimit  # noqa: E402
from tessera.llm.serve._aws_credentials import AwsCredentialStore  # noqa: E402

DATA = Path(__file__).parents[1] / "bedrock" / "data"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN = "amazon.titan-text-express-v1"


@pytest.fixture(scope="module")
def agent_live(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Any) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("bedrock-agent") / "tessera.db"
    model = f"tessera:{tiny_llama.folder}"
    yield from start_live(
        db,
        models=(model,),
        rate_limit=RateLimit(1000, burst=1000),
        bedrock_models={HAIKU: model, TITAN: model},
    )


@pytest.fixture(scope="module")
def agent_clients(agent_live: Live) -> dict[str, Any]:
    store = AwsCredentialStore(agent_live.db)
    try:
        issued = {s: store.issue(k) for s, k in agent_live.key_ids.items()}
    finally:
        store.close()
    return {
        scope: boto3.client(
            "bedrock-agent",
            endpoint_url=agent_live.url,
            region_name="us-east-1",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            config=Config(retries={"total_max_attempts": 1}),
        )
        for scope, creds in issued.items()
    }


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


def strip(answer: dict[str, Any]) -> dict[str, Any]:
    drop = {"ResponseMetadata", "id", "arn", "version", "createdAt", "updatedAt"}
    return {k: v for k, v in answer.items() if k not in drop}


def test_prompt_lifecycle(agent_clients: dict[str, Any]) -> None:
    agent = agent_clients["prompts:write"]
    source = fixture("prompt_text.json")
    tags = source.pop("tags")
    created = agent.create_prompt(**source, tags=tags)
    assert created["id"] == "MakePlaylist" and created["version"] == "DRAFT"
    assert strip(created) == source
    got = agent.get_prompt(promptIdentifier="MakePlaylist")
    assert strip(got) == source
    version = agent.create_prompt_version(promptIdentifier="MakePlaylist", description="v1")
    assert version["version"] == "1"
    changed = json.loads(json.dumps(source))
    changed["description"] = "Now with a new description."
    changed["variants"][0]["inferenceConfiguration"]["text"]["temperature"] = 0.5
    updated = agent.update_prompt(
        promptIdentifier="MakePlaylist", **{k: v for k, v in changed.items()}
    )
    assert updated["variants"][0]["inferenceConfiguration"]["text"]["temperature"] == 0.5
    old = agent.get_prompt(promptIdentifier=version["arn"])
    assert old["version"] == "1"
    assert old["variants"][0]["inferenceConfiguration"]["text"]["temperature"] == 0.8
    listed = agent.list_prompts()["promptSummaries"]
    assert [p["id"] for p in listed] == ["MakePlaylist"]
    versions = agent.list_prompts(promptIdentifier="MakePlaylist")["promptSummaries"]
    assert [p["version"] for p in versions] == ["DRAFT", "1"]
    paged = agent.list_prompts(promptIdentifier="MakePlaylist", maxResults=1)
    assert len(paged["promptSummaries"]) == 1 and paged["nextToken"]
    deleted = agent.delete_prompt(promptIdentifier="MakePlaylist", promptVersion="1")
    assert deleted["version"] == "1"
    agent.delete_prompt(promptIdentifier="MakePlaylist")
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.get_prompt(promptIdentifier="MakePlaylist")


def test_chat_prompt_with_tools_round_trips(agent_clients: dict[str, Any]) -> None:
    agent = agent_clients["admin"]
    source = fixture("prompt_chat.json")
    agent.create_prompt(**source)
    assert strip(agent.get_prompt(promptIdentifier="SupportReply")) == source
    with pytest.raises(agent.exceptions.ConflictException):
        agent.create_prompt(**source)


def test_prompt_errors_are_bedrock_exceptions(agent_clients: dict[str, Any]) -> None:
    reader = agent_clients["prompts:read"]
    with pytest.raises(reader.exceptions.AccessDeniedException):
        reader.create_prompt(**fixture("prompt_chat.json"))
    writer = agent_clients["prompts:write"]
    unbound = fixture("prompt_chat.json")
    unbound["name"] = "Unbound"
    unbound["variants"][0]["modelId"] = "meta.llama3-8b-instruct-v1:0"
    with pytest.raises(writer.exceptions.ValidationException) as caught:
        writer.create_prompt(**unbound)
    assert "variants[0].modelId" in str(caught.value)
    with pytest.raises(writer.exceptions.ResourceNotFoundException):
        writer.get_prompt(promptIdentifier="NoSuchPrompt")
    with pytest.raises(writer.exceptions.ValidationException):
        writer.get_prompt(promptIdentifier="SupportReply", promptVersion="x1")


def test_unknown_bedrock_paths_answer_in_aws_shape(agent_live: Live) -> None:
    import httpx

    response = httpx.get(agent_live.url + "/flows/x/y/z/nothing-here")
    assert response.status_code in (403, 404)
    assert response.headers.get("x-amzn-ErrorType")


@pytest.fixture(scope="module")
def control(agent_live: Live, agent_clients: dict[str, Any]) -> dict[str, Any]:
    """boto3 ``bedrock`` clients (guardrails), one per scope."""
    store = AwsCredentialStore(agent_live.db)
    try:
        issued = {s: store.issue(k) for s, k in agent_live.key_ids.items()}
    finally:
        store.close()
    return {
        scope: boto3.client(
            "bedrock",
            endpoint_url=agent_live.url,
            region_name="us-east-1",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            config=Config(retries={"total_max_attempts": 1}),
        )
        for scope, creds in issued.items()
    }


def test_guardrail_lifecycle(agent_live: Live, control: dict[str, Any]) -> None:
    bedrock = control["guardrails:write"]
    source = fixture("guardrail.json")
    created = bedrock.create_guardrail(**source)
    assert created["guardrailId"] == "support-guardrail" and created["version"] == "DRAFT"
    got = bedrock.get_guardrail(guardrailIdentifier="support-guardrail")
    assert got["status"] == "READY" and got["version"] == "DRAFT"
    assert got["wordPolicy"]["managedWordLists"] == [{"type": "PROFANITY"}]
    assert got["sensitiveInformationPolicy"]["piiEntities"][0] == {
        "type": "EMAIL",
        "action": "ANONYMIZE",
    }
    assert got["topicPolicy"]["topics"][0]["name"] == "Investment advice"
    version = bedrock.create_guardrail_version(
        guardrailIdentifier="support-guardrail", description="v1"
    )
    assert version["version"] == "1"
    changed = {**source, "blockedInputMessaging": "No."}
    bedrock.update_guardrail(guardrailIdentifier="support-guardrail", **changed)
    assert (
        bedrock.get_guardrail(guardrailIdentifier="support-guardrail")["blockedInputMessaging"]
        == "No."
    )
    first = bedrock.get_guardrail(guardrailIdentifier=created["guardrailArn"], guardrailVersion="1")
    assert first["blockedInputMessaging"] == source["blockedInputMessaging"]
    listed = bedrock.list_guardrails(guardrailIdentifier="support-guardrail")["guardrails"]
    assert [g["version"] for g in listed] == ["DRAFT", "1"]
    # Once deleted, bedrock-runtime's ApplyGuardrail no longer finds it.
    store = AwsCredentialStore(agent_live.db)
    creds = store.issue(agent_live.key_ids["guardrails:apply"])
    store.close()
    runtime = boto3.client(
        "bedrock-runtime",
        endpoint_url=agent_live.url,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
    )
    bedrock.delete_guardrail(guardrailIdentifier="support-guardrail", guardrailVersion="1")
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_guardrail(guardrailIdentifier="support-guardrail", guardrailVersion="1")
    bedrock.delete_guardrail(guardrailIdentifier="support-guardrail")
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.apply_guardrail(
            guardrailIdentifier="support-guardrail",
            guardrailVersion="DRAFT",
            source="INPUT",
            content=[{"text": {"text": "hi"}}],
        )


def test_guardrail_errors_are_bedrock_exceptions(control: dict[str, Any]) -> None:
    reader = control["guardrails:read"]
    with pytest.raises(reader.exceptions.AccessDeniedException):
        reader.create_guardrail(**fixture("guardrail.json"))
    writer = control["guardrails:write"]
    body = fixture("guardrail.json")
    body["name"] = "hateful"
    body["contentPolicyConfig"]["filtersConfig"].append(
        {"type": "SPAM", "inputStrength": "HIGH", "outputStrength": "HIGH"}
    )
    with pytest.raises(writer.exceptions.ValidationException) as caught:
        writer.create_guardrail(**body)
    assert "filtersConfig[1].type" in str(caught.value)
