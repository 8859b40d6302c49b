"""bedrock-agent flow operations and bedrock-agent-runtime InvokeFlow through boto3 (issue 23)."""

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
TITAN = "amazon.titan-text-express-v1"
ROLE = "arn:aws:iam::123456789012:role/flows"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def flows_live(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Any) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("bedrock-flows") / "tessera.db"
    model = f"tessera:{tiny_llama.folder}"
    yield from start_live(
        db, models=(model,), rate_limit=RateLimit(1000, burst=1000), bedrock_models={TITAN: model}
    )


@pytest.fixture(scope="module")
def clients(flows_live: Live) -> dict[str, Any]:
    store = AwsCredentialStore(flows_live.db)
    try:
        creds = store.issue(flows_live.key_ids["admin"])
        reader = store.issue(flows_live.key_ids["flows:read"])
    finally:
        store.close()

    def make(service: str, issued: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=flows_live.url,
            region_name="us-east-1",
            aws_access_key_id=issued.access_key_id,
            aws_secret_access_key=issued.secret_access_key,
            config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
        )

    return {
        "agent": make("bedrock-agent", creds),
        "runtime": make("bedrock-agent-runtime", creds),
        "reader": make("bedrock-agent", reader),
    }


def test_condition_flow_lifecycle_and_invoke(clients: dict[str, Any]) -> None:
    agent, runtime = clients["agent"], clients["runtime"]
    source = fixture("flow_condition.json")
    created = agent.create_flow(
        name=source["name"], executionRoleArn=ROLE, definition=source["definition"]
    )
    assert created["id"] == "PriceCheck" and created["version"] == "DRAFT"
    assert created["definition"] == source["definition"]
    assert agent.prepare_flow(flowIdentifier="PriceCheck")["status"] == "Prepared"
    version = agent.create_flow_version(flowIdentifier="PriceCheck")
    assert version["version"] == "1"
    alias = agent.create_flow_alias(
        flowIdentifier="PriceCheck", name="live", routingConfiguration=[{"flowVersion": "1"}]
    )
    assert alias["id"] == "live"
    assert agent.get_flow_alias(flowIdentifier="PriceCheck", aliasIdentifier="live")[
        "routingConfiguration"
    ] == [{"flowVersion": "1"}]
    assert [
        a["id"] for a in agent.list_flow_aliases(flowIdentifier="PriceCheck")["flowAliasSummaries"]
    ] == ["live"]
    assert [
        v["version"]
        for v in agent.list_flow_versions(flowIdentifier="PriceCheck")["flowVersionSummaries"]
    ] == ["DRAFT", "1"]
    assert (
        agent.get_flow_version(flowIdentifier="PriceCheck", flowVersion="1")["definition"]
        == source["definition"]
    )
    assert [f["id"] for f in agent.list_flows()["flowSummaries"]] == ["PriceCheck"]

    response = runtime.invoke_flow(
        flowIdentifier="PriceCheck",
        flowAliasIdentifier="live",
        inputs=[
            {
                "nodeName": "FlowInput",
                "nodeOutputName": "document",
                "content": {
                    "document": {
                        "item": "mango",
                        "retailPrice": 12,
                        "marketPrice": 9,
                        "type": "produce",
                    }
                },
            }
        ],
        enableTrace=True,
    )
    events = list(response["responseStream"])
    outputs = [e["flowOutputEvent"] for e in events if "flowOutputEvent" in e]
    assert outputs == [
        {"nodeName": "Flagged", "nodeType": "FlowOutputNode", "content": {"document": "mango"}}
    ]
    assert events[-1] == {"flowCompletionEvent": {"completionReason": "SUCCESS"}}
    assert any("flowTraceEvent" in e for e in events)
    assert response["executionId"]

    draft = runtime.invoke_flow(
        flowIdentifier="PriceCheck",
        flowAliasIdentifier="TSTALIASID",
        inputs=[
            {
                "nodeName": "FlowInput",
                "nodeOutputName": "document",
                "content": {
                    "document": {"item": "soap", "retailPrice": 1, "marketPrice": 9, "type": "home"}
                },
            }
        ],
    )
    outputs = [e["flowOutputEvent"] for e in draft["responseStream"] if "flowOutputEvent" in e]
    assert outputs[0]["nodeName"] == "Fine"
    agent.create_flow_version(flowIdentifier="PriceCheck")
    moved = agent.update_flow_alias(
        flowIdentifier="PriceCheck",
        aliasIdentifier="live",
        name="live",
        routingConfiguration=[{"flowVersion": "2"}],
    )
    assert moved["routingConfiguration"] == [{"flowVersion": "2"}]
    with pytest.raises(agent.exceptions.ConflictException):  # "live" points at it
        agent.delete_flow_version(flowIdentifier="PriceCheck", flowVersion="2")
    agent.delete_flow_alias(flowIdentifier="PriceCheck", aliasIdentifier="live")
    assert agent.delete_flow_version(flowIdentifier="PriceCheck", flowVersion="2")["version"] == "2"
    agent.delete_flow(flowIdentifier="PriceCheck")
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.get_flow(flowIdentifier="PriceCheck")


def test_playlist_flow_runs_on_the_local_model(clients: dict[str, Any]) -> None:
    agent, runtime = clients["agent"], clients["runtime"]
    source = fixture("flow_playlist.json")
    agent.create_flow(
        name=source["name"],
        description=source["description"],
        executionRoleArn=ROLE,
        definition=source["definition"],
    )
    got = agent.get_flow(flowIdentifier="MakePlaylistFlow")
    assert got["definition"] == source["definition"]
    response = runtime.invoke_flow(
        flowIdentifier="MakePlaylistFlow",
        flowAliasIdentifier="TSTALIASID",
        inputs=[
            {
                "nodeName": "FlowInputNode",
                "nodeOutputName": "document",
                "content": {"document": {"genre": "jazz", "number": 3}},
            }
        ],
    )
    outputs = [e["flowOutputEvent"] for e in response["responseStream"] if "flowOutputEvent" in e]
    assert outputs[0]["nodeName"] == "FlowOutputNode"
    assert isinstance(outputs[0]["content"]["document"], str)


def test_flow_errors_are_bedrock_exceptions(clients: dict[str, Any]) -> None:
    agent = clients["agent"]
    body = fixture("flow_playlist.json")
    body["definition"]["nodes"][1]["configuration"]["prompt"]["sourceConfiguration"]["inline"][
        "modelId"
    ] = "meta.llama3"
    with pytest.raises(agent.exceptions.ValidationException) as caught:
        agent.create_flow(name="Unbound", executionRoleArn=ROLE, definition=body["definition"])
    assert "MakePlaylist" in str(caught.value) and "modelId" in str(caught.value)
    with pytest.raises(clients["reader"].exceptions.AccessDeniedException):
        clients["reader"].create_flow(
            name="X", executionRoleArn=ROLE, definition=body["definition"]
        )
    with pytest.raises(clients["runtime"].exceptions.ResourceNotFoundException):
        clients["runtime"].invoke_flow(
            flowIdentifier="Nope",
            flowAliasIdentifier="TSTALIASID",
            inputs=[{"nodeName": "In", "nodeOutputName": "document", "content": {"document": "x"}}],
        )


def test_hostile_bodies_on_agent_routes_get_4xx_never_5xx(flows_live: Live) -> None:
    """Correctly signed but hostile requests on every bedrock-agent and bedrock route."""
    import datetime as dt

    import httpx

    from tessera.llm.serve._sigv4 import sign

    store = AwsCredentialStore(flows_live.db)
    creds = store.issue(flows_live.key_ids["admin"])
    store.close()
    host = flows_live.url.split("//", 1)[1]
    bodies = [
        b"not json",
        b"[]",
        b'{"name": "\\ud800"}',
        b'{"name": "x", "definition": {"nodes": [{"type": "Nope"}], "connections": 5}}',
        b'{"name": "x", "definition": {"nodes": "x"}}',
        b'{"name": "x", "variants": [{"templateType": "CHAT"}]}',
        b'{"name": "x", "variants": 7}',
        b'{"name": "../../etc", "blockedInputMessaging": "a", "blockedOutputsMessaging": "b"}',
        b'{"inputs": [{"content": {"document": {"a": 1}}}]}',
        b'{"name": 1, "routingConfiguration": [{"flowVersion": "99999999999999999999"}]}',
        b'{"' + b"a" * 1000 + b'": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    ]
    calls = [
        ("POST", "/prompts/"),
        ("PUT", "/prompts/x/"),
        ("POST", "/prompts/x/versions"),
        ("GET", "/prompts/x/?promptVersion=99999999999999999999"),
        ("GET", "/prompts/?maxResults=0&nextToken=abc"),
        ("POST", "/flows/"),
        ("PUT", "/flows/x/"),
        ("POST", "/flows/x/"),
        ("POST", "/flows/x/versions"),
        ("POST", "/flows/x/aliases"),
        ("POST", "/flows/x/aliases/TSTALIASID"),
        ("GET", "/flows/x/versions/99999999999999999999/"),
        ("POST", "/guardrails"),
        ("PUT", "/guardrails/x"),
        ("POST", "/guardrails/x"),
        ("GET", "/guardrails/x?guardrailVersion=-1"),
        ("DELETE", "/guardrails/x?guardrailVersion=99999999999999999999"),
    ]
    with httpx.Client(base_url=flows_live.url, timeout=60) as http:
        for method, path in calls:
            raw_path, _, query = path.partition("?")
            for body in bodies if method in ("POST", "PUT") else [b""]:
                stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
                headers = {"host": host, "x-amz-date": stamp, "content-type": "application/json"}
                headers["authorization"] = sign(
                    creds.secret_access_key,
                    creds.access_key_id,
                    method=method,
                    path=raw_path,
                    query=query,
                    headers=headers,
                    body=body,
                )
                response = http.request(method, path, content=body, headers=headers)
                # Some are valid (CreateFlow without a definition is): never a 5xx, and
                # every refusal in AWS's shape.
                assert response.status_code < 500, (method, path, body[:60], response.text)
                if response.status_code >= 400:
                    assert response.headers.get("x-amzn-ErrorType"), (method, path, response.text)
