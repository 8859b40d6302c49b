"""bedrock-runtime through the real boto3 client against a real tessera serve (issue 23).

Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream and ApplyGuardrail,
signed with SigV4 by botocore; wrong signatures, expired dates, unknown access keys and
keys without the scope are refused with AWS's error codes; hostile bodies get a 4xx.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Iterator
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("cryptography")

from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from serve_live import Live, start_live  # noqa: E402

from tessera.llm.serve import RateLimit  # noqa: E402
from tessera.llm.serve._aws_credentials import AwsCredentialStore, key_file_of  # noqa: E402
from tessera.llm.serve._guard_routes import GuardrailStore  # noqa: E402

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
GUARDRAIL = {
    "blocked_input_message": "Blocked by policy.",
    "sensitive_information": {"entities": ["EMAIL"], "action": "ANONYMIZE"},
    "words": {"words": ["zorblax"], "action": "BLOCK"},
}


@pytest.fixture(scope="module")
def bedrock(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Any) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("bedrock") / "tessera.db"
    model = f"tessera:{tiny_llama.folder}"
    store = GuardrailStore(db)
    store.create("support", GUARDRAIL)
    store.commit("support", "first")
    yield from start_live(
        db,
        # The embedded model too (loaded only by the tool-use test): structured decoding
        # needs its fast tokenizer, which the tiny random model lacks.
        models=(model, "tessera"),
        rate_limit=RateLimit(1000, burst=1000),
        bedrock_models={HAIKU: model},
    )


@pytest.fixture(scope="module")
def creds(bedrock: Live) -> dict[str, Any]:
    store = AwsCredentialStore(bedrock.db)
    try:
        return {scope: store.issue(key_id) for scope, key_id in bedrock.key_ids.items()}
    finally:
        store.close()


def client(live: Live, creds: Any, service: str = "bedrock-runtime", **overrides: str) -> Any:
    options = {
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": creds.secret_access_key,
        **overrides,
    }
    return boto3.client(
        service,
        endpoint_url=live.url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
        **options,
    )


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_converse_answers_in_bedrock_shape(bedrock: Live, creds: dict[str, Any]) -> None:
    runtime = client(bedrock, creds["models:invoke"])
    answer = runtime.converse(
        modelId=HAIKU,
        messages=user("Hello"),
        system=[{"text": "Be brief."}],
        inferenceConfig={"maxTokens": 5, "temperature": 0},
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    message = answer["output"]["message"]
    assert message["role"] == "assistant" and isinstance(message["content"][0]["text"], str)
    assert answer["stopReason"] in ("end_turn", "max_tokens")
    usage = answer["usage"]
    assert usage["outputTokens"] <= 5 and usage["inputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]


def test_converse_stream_is_an_aws_event_stream(bedrock: Live, creds: dict[str, Any]) -> None:
    runtime = client(bedrock, creds["models:invoke"])
    plain = runtime.converse(
        modelId=HAIKU, messages=user("Tell me"), inferenceConfig={"maxTokens": 8}
    )
    streamed = runtime.converse_stream(
        modelId=HAIKU, messages=user("Tell me"), inferenceConfig={"maxTokens": 8}
    )
    events = list(streamed["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == [
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    assert text == plain["output"]["message"]["content"][0]["text"]  # greedy: the same answer
    assert events[-2]["messageStop"]["stopReason"] == plain["stopReason"]
    assert events[-1]["metadata"]["usage"]["outputTokens"] == plain["usage"]["outputTokens"]


def test_invoke_model_with_the_anthropic_messages_body(
    bedrock: Live, creds: dict[str, Any]
) -> None:
    runtime = client(bedrock, creds["models:invoke"])
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 6,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }
    response = runtime.invoke_model(
        modelId=HAIKU, body=json.dumps(body), contentType="application/json"
    )
    message = json.loads(response["body"].read())
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["type"] == "text"
    assert message["stop_reason"] in ("end_turn", "max_tokens")
    assert message["usage"]["output_tokens"] <= 6

    streamed = runtime.invoke_model_with_response_stream(modelId=HAIKU, body=json.dumps(body))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in streamed["body"]]
    kinds = [chunk["type"] for chunk in chunks]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text == message["content"][0]["text"]
    assert (
        chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"]
        == message["usage"]["output_tokens"]
    )


def test_apply_guardrail_anonymises_and_blocks(bedrock: Live, creds: dict[str, Any]) -> None:
    runtime = client(bedrock, creds["guardrails:apply"])
    masked = runtime.apply_guardrail(
        guardrailIdentifier="support",
        guardrailVersion="1",
        source="INPUT",
        content=[{"text": {"text": "Mail ann@example.org please"}}],
    )
    assert masked["action"] == "GUARDRAIL_INTERVENED"
    assert masked["outputs"] == [{"text": "Mail {EMAIL} please"}]
    pii = masked["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"]
    assert pii == [
        {"match": "ann@example.org", "type": "EMAIL", "action": "ANONYMIZED", "detected": True}
    ]
    blocked = runtime.apply_guardrail(
        guardrailIdentifier="support",
        guardrailVersion="DRAFT",
        source="OUTPUT",
        content=[{"text": {"text": "a zorblax here"}}],
    )
    assert blocked["action"] == "GUARDRAIL_INTERVENED"
    assert blocked["assessments"][0]["wordPolicy"]["customWords"][0]["match"] == "zorblax"
    clean = runtime.apply_guardrail(
        guardrailIdentifier="support",
        guardrailVersion="1",
        source="INPUT",
        content=[{"text": {"text": "nothing to see"}}],
    )
    assert clean["action"] == "NONE" and clean["outputs"] == []
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.apply_guardrail(
            guardrailIdentifier="nope",
            guardrailVersion="1",
            source="INPUT",
            content=[{"text": {"text": "x"}}],
        )


def test_converse_with_a_guardrail_intervenes_and_traces(
    bedrock: Live, creds: dict[str, Any]
) -> None:
    runtime = client(bedrock, creds["admin"])
    answer = runtime.converse(
        modelId=HAIKU,
        messages=user("say zorblax"),
        guardrailConfig={
            "guardrailIdentifier": "support",
            "guardrailVersion": "1",
            "trace": "enabled",
        },
    )
    assert answer["stopReason"] == "guardrail_intervened"
    assert answer["output"]["message"]["content"][0]["text"] == "Blocked by policy."
    words = answer["trace"]["guardrail"]["inputAssessment"]["support"]["wordPolicy"]
    assert words["customWords"][0]["action"] == "BLOCKED"
    streamed = runtime.converse_stream(
        modelId=HAIKU,
        messages=user("say zorblax"),
        guardrailConfig={"guardrailIdentifier": "support", "guardrailVersion": "1"},
    )
    events = list(streamed["stream"])
    assert events[-2]["messageStop"]["stopReason"] == "guardrail_intervened"


def test_a_key_without_the_scope_is_access_denied(bedrock: Live, creds: dict[str, Any]) -> None:
    runtime = client(bedrock, creds["prompts:read"])
    with pytest.raises(runtime.exceptions.AccessDeniedException) as caught:
        runtime.converse(modelId=HAIKU, messages=user("Hi"))
    assert "models:invoke" in str(caught.value)
    models_only = client(bedrock, creds["models:invoke"])
    with pytest.raises(models_only.exceptions.AccessDeniedException):
        models_only.converse(
            modelId=HAIKU,
            messages=user("Hi"),
            guardrailConfig={"guardrailIdentifier": "support", "guardrailVersion": "1"},
        )


def test_wrong_secret_unknown_key_and_expired_date_are_refused(
    bedrock: Live, creds: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = creds["models:invoke"]
    wrong = client(bedrock, good, aws_secret_access_key="x" * 40)
    with pytest.raises(ClientError) as caught:
        wrong.converse(modelId=HAIKU, messages=user("Hi"))
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unknown = client(bedrock, good, aws_access_key_id="TSKA" + "Z" * 16)
    with pytest.raises(ClientError) as caught:
        unknown.converse(modelId=HAIKU, messages=user("Hi"))
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"
    import botocore.auth

    late = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: late)
    expired = client(bedrock, good)
    with pytest.raises(ClientError) as caught:
        expired.converse(modelId=HAIKU, messages=user("Hi"))
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "expired" in caught.value.response["Error"]["Message"]


def test_revoked_key_stops_its_credentials(bedrock: Live, creds: dict[str, Any]) -> None:
    from tessera.llm.serve import KeyStore

    keys = KeyStore(bedrock.db)
    try:
        key_id, _ = keys.create("to-revoke", ["models:invoke"])
        store = AwsCredentialStore(bedrock.db)
        issued = store.issue(key_id)
        store.close()
        runtime = client(bedrock, issued)
        assert runtime.converse(
            modelId=HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 1}
        )
        keys.revoke(key_id)
    finally:
        keys.close()
    with pytest.raises(ClientError) as caught:
        runtime.converse(modelId=HAIKU, messages=user("Hi"))
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_secrets_are_encrypted_at_rest(bedrock: Live, creds: dict[str, Any]) -> None:
    raw = b"".join(p.read_bytes() for p in bedrock.db.parent.glob("tessera.db*"))
    for issued in creds.values():
        assert issued.secret_access_key.encode() not in raw
        assert issued.secret_access_key not in repr(issued)
    mode = stat.S_IMODE(os.stat(key_file_of(bedrock.db)).st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"messages": user("Hi"), "inferenceConfig": {"topP": 1.5}}, "inferenceConfig.topP"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}],
                    }
                ]
            },
            "image",
        ),
        ({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}, "messages[0].role"),
        (
            {
                "messages": user("Hi"),
                "toolConfig": {
                    "tools": [
                        {"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "array"}}}}
                    ]
                },
            },
            "inputSchema.json.type",
        ),
    ],
)
def test_invalid_converse_requests_are_validation_errors(
    bedrock: Live, creds: dict[str, Any], call: dict[str, Any], field: str
) -> None:
    runtime = client(bedrock, creds["models:invoke"])
    with pytest.raises(runtime.exceptions.ValidationException) as caught:
        runtime.converse(modelId=HAIKU, **call)
    assert field in str(caught.value)


def test_unknown_model_is_a_validation_error(bedrock: Live, creds: dict[str, Any]) -> None:
    runtime = client(bedrock, creds["models:invoke"])
    with pytest.raises(runtime.exceptions.ValidationException) as caught:
        runtime.converse(modelId="meta.llama3-8b-instruct-v1:0", messages=user("Hi"))
    assert "--bedrock-model" in str(caught.value)


def test_hostile_bodies_get_4xx_never_5xx(bedrock: Live, creds: dict[str, Any]) -> None:
    """Correctly signed but hostile bodies, and unsigned or malformed Authorization headers."""
    import httpx

    from tessera.llm.serve._sigv4 import sign

    good = creds["admin"]
    host = bedrock.url.split("//", 1)[1]
    bodies = [
        b"not json",
        b'{"messages": "\\ud800"}',
        b'{"messages": [{"role": "user", "content": [{"text": "\\ud800"}]}]}',
        b'{"messages": [{"role": "user", "content": [{"text": "x"}]}], '
        b'"inferenceConfig": {"maxTokens": 99999999999999999999999}}',
        b"[]",
        b'{"messages": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
        b"\xff\xfe",
    ]
    paths = [
        f"/model/{HAIKU}/converse",
        f"/model/{HAIKU}/invoke",
        "/guardrail/support/version/1/apply",
        "/guardrail/support/version/abc/apply",
    ]
    with httpx.Client(base_url=bedrock.url, timeout=60) as http:
        for path in paths:
            raw_path = path.replace(":", "%3A")
            for body in bodies:
                stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
                headers = {"host": host, "x-amz-date": stamp, "content-type": "application/json"}
                headers["authorization"] = sign(
                    good.secret_access_key,
                    good.access_key_id,
                    method="POST",
                    path=raw_path,
                    headers=headers,
                    body=body,
                )
                response = http.post(raw_path, content=body, headers=headers)
                assert 400 <= response.status_code < 500, (path, body[:40], response.text)
                assert response.headers.get("x-amzn-ErrorType"), response.text
        for authorization in [
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=x",
            "",
            "Bearer nope",
        ]:
            response = http.post(paths[0], content=b"{}", headers={"authorization": authorization})
            assert response.status_code in (400, 403), response.text
            assert "__type" in response.json()


def test_converse_with_a_prompt_arn_renders_the_stored_prompt(
    bedrock: Live, creds: dict[str, Any]
) -> None:
    from tessera.llm.bedrock import Bindings, import_prompt

    body = {
        "name": "Greeter",
        "variants": [
            {
                "name": "v1",
                "templateType": "TEXT",
                "templateConfiguration": {
                    "text": {"text": "Say hello to {{who}}.", "inputVariables": [{"name": "who"}]}
                },
                "modelId": HAIKU,
                "inferenceConfiguration": {"text": {"maxTokens": 4}},
            }
        ],
    }
    model = dict(bedrock.app.state.tessera.extras["bedrock_models"])[HAIKU]
    import_prompt(body, db=bedrock.db, bindings=Bindings(models={HAIKU: model}))
    runtime = client(bedrock, creds["admin"])
    arn = "arn:aws:bedrock:local:000000000000:prompt/Greeter"
    answer = runtime.converse(modelId=arn, promptVariables={"who": {"text": "Ann"}})
    assert answer["usage"]["outputTokens"] <= 4  # the variant's maxTokens
    streamed = runtime.converse_stream(modelId=arn, promptVariables={"who": {"text": "Ann"}})
    events = list(streamed["stream"])
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    assert text == answer["output"]["message"]["content"][0]["text"]
    models_only = client(bedrock, creds["models:invoke"])
    with pytest.raises(models_only.exceptions.AccessDeniedException):
        models_only.converse(modelId=arn, promptVariables={"who": {"text": "Ann"}})


def test_converse_tool_use_round_trip(bedrock: Live, creds: dict[str, Any]) -> None:
    runtime = client(bedrock, creds["models:invoke"])
    weather = {
        "toolSpec": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "inputSchema": {
                "json": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "maxLength": 12}},
                    "required": ["city"],
                }
            },
        }
    }
    config = {"tools": [weather], "toolChoice": {"tool": {"name": "get_weather"}}}
    asked = user("What is the weather in Paris?")
    answer = runtime.converse(
        modelId="tessera", messages=asked, toolConfig=config, inferenceConfig={"maxTokens": 64}
    )
    assert answer["stopReason"] == "tool_use"
    (block,) = answer["output"]["message"]["content"]
    call = block["toolUse"]
    assert call["name"] == "get_weather" and isinstance(call["input"]["city"], str)
    streamed = runtime.converse_stream(
        modelId="tessera", messages=asked, toolConfig=config, inferenceConfig={"maxTokens": 64}
    )
    events = list(streamed["stream"])
    assert events[1]["contentBlockStart"]["start"]["toolUse"]["name"] == "get_weather"
    assert json.loads(events[2]["contentBlockDelta"]["delta"]["toolUse"]["input"]) == call["input"]
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    # The result goes back as a toolResult block; the model then answers (text or a call).
    history = [
        *asked,
        {"role": "assistant", "content": [{"toolUse": call}]},
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": call["toolUseId"],
                        "content": [{"json": {"sky": "clear"}}],
                    }
                }
            ],
        },
    ]
    follow = runtime.converse(
        modelId="tessera",
        messages=history,
        inferenceConfig={"maxTokens": 4},
        toolConfig={"tools": [weather]},
    )
    assert follow["stopReason"] in ("end_turn", "max_tokens", "tool_use")


def test_credentials_issued_over_http_listed_and_revoked_by_the_cli(
    bedrock: Live, creds: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from tessera.cli import (
        _serve,  # noqa: F401  (registers the commands)
        app,
    )

    admin = bedrock.client("admin")
    issued = admin.post(f"/v1/keys/{bedrock.key_ids['models:invoke']}/aws-credentials")
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["access_key_id"].startswith("TSKA") and len(body["secret_access_key"]) == 40
    refused = bedrock.client("models:invoke").post(
        f"/v1/keys/{bedrock.key_ids['models:invoke']}/aws-credentials"
    )
    assert refused.status_code == 403
    runtime = client(
        bedrock,
        creds["models:invoke"],
        aws_access_key_id=body["access_key_id"],
        aws_secret_access_key=body["secret_access_key"],
    )
    assert runtime.converse(modelId=HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 1})
    runner = CliRunner()
    listed = runner.invoke(app, ["keys", "aws-list", "--db", str(bedrock.db)])
    assert listed.exit_code == 0 and body["access_key_id"] in listed.output
    assert body["secret_access_key"] not in listed.output
    revoked = runner.invoke(
        app, ["keys", "aws-revoke", body["access_key_id"], "--db", str(bedrock.db)]
    )
    assert revoked.exit_code == 0, revoked.output
    with pytest.raises(ClientError) as caught:
        runtime.converse(modelId=HAIKU, messages=user("Hi"))
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_zz_failed_signatures_are_throttled(bedrock: Live, creds: dict[str, Any]) -> None:
    """Last in the module: it drains the loopback client's failed-login bucket."""
    wrong = client(bedrock, creds["models:invoke"], aws_secret_access_key="y" * 40)
    codes = []
    for _ in range(14):
        with pytest.raises(ClientError) as caught:
            wrong.converse(modelId=HAIKU, messages=user("Hi"))
        codes.append(caught.value.response["Error"]["Code"])
    assert "InvalidSignatureException" in codes
    assert codes[-1] == "ThrottlingException"
    assert isinstance(caught.value, wrong.exceptions.ThrottlingException)
