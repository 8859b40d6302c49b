"""Multi-turn InvokeFlow (INPUT_REQUIRED, executionId) through boto3 (issue 23)."""

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
ROLE = "arn:aws:iam::123456789012:role/flows"
ARN = "arn:aws:bedrock:us-east-1:123456789012:agent-alias/PLANNER1/LIVE1"
QUESTIONS = {"first": "What is your name?", "second": "Which colour?"}


@pytest.fixture(scope="module")
def turns_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("bedrock-turns")
    bindings = base / "bindings.yaml"
    bindings.write_text(f"agents:\n  {ARN}: ask-user\n", encoding="utf-8")
    yield from start_live(
        base / "tessera.db",
        models=("tessera",),
        rate_limit=RateLimit(1000, burst=1000),
        bedrock_bindings=bindings,
    )


@pytest.fixture(scope="module")
def clients(turns_live: Live) -> dict[str, Any]:
    store = AwsCredentialStore(turns_live.db)
    try:
        admin = store.issue(turns_live.key_ids["admin"])
        other = store.issue(turns_live.key_ids["flows:invoke"])
    finally:
        store.close()

    def make(service: str, creds: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=turns_live.url,
            region_name="us-east-1",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
        )

    agent = make("bedrock-agent", admin)
    source = json.loads((DATA / "flow_ask.json").read_text(encoding="utf-8"))
    created = agent.create_flow(
        name=source["name"], executionRoleArn=ROLE, definition=source["definition"]
    )
    assert created["definition"] == source["definition"]
    return {
        "agent": agent,
        "runtime": make("bedrock-agent-runtime", admin),
        "other": make("bedrock-agent-runtime", other),
    }


def _start(runtime: Any) -> tuple[str, list[dict[str, Any]]]:
    response = runtime.invoke_flow(
        flowIdentifier="Survey",
        flowAliasIdentifier="TSTALIASID",
        inputs=[
            {
                "nodeName": "FlowInput",
                "nodeOutputName": "document",
                "content": {"document": QUESTIONS},
            }
        ],
    )
    return response["executionId"], list(response["responseStream"])


def _reply(
    runtime: Any, execution: str, node: str, text: Any, **entry: Any
) -> list[dict[str, Any]]:
    response = runtime.invoke_flow(
        flowIdentifier="Survey",
        flowAliasIdentifier="TSTALIASID",
        executionId=execution,
        inputs=[
            {
                "nodeName": node,
                "nodeInputName": "agentInputText",
                "content": {"document": text},
                **entry,
            }
        ],
    )
    assert response["executionId"] == execution
    return list(response["responseStream"])


def test_a_flow_asks_twice_and_the_client_continues_with_the_execution_id(
    clients: dict[str, Any],
) -> None:
    runtime = clients["runtime"]
    execution, events = _start(runtime)
    assert events == [
        {
            "flowMultiTurnInputRequestEvent": {
                "nodeName": "AskName",
                "nodeType": "AgentNode",
                "content": {"document": "What is your name?"},
            }
        },
        {"flowCompletionEvent": {"completionReason": "INPUT_REQUIRED"}},
    ]
    events = _reply(runtime, execution, "AskName", "Ada")
    assert events == [
        {
            "flowMultiTurnInputRequestEvent": {
                "nodeName": "AskColour",
                "nodeType": "AgentNode",
                "content": {"document": "Which colour?"},
            }
        },
        {"flowCompletionEvent": {"completionReason": "INPUT_REQUIRED"}},
    ]
    events = _reply(runtime, execution, "AskColour", "blue")
    outputs = {
        e["flowOutputEvent"]["nodeName"]: e["flowOutputEvent"]["content"]["document"]
        for e in events[:-1]
    }
    assert outputs == {"Name": "Ada", "Blue": "blue"} and len(events) == 3
    assert events[-1] == {"flowCompletionEvent": {"completionReason": "SUCCESS"}}
    # A completed execution is gone.
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        _reply(runtime, execution, "AskColour", "red")


def test_the_paused_execution_survives_a_new_server_and_is_checked(
    clients: dict[str, Any], turns_live: Live
) -> None:
    runtime = clients["runtime"]
    execution, _ = _start(runtime)
    # It is kept in the database, not in the process.
    from tessera.llm.serve._bedrock_executions import ExecutionStore

    store = ExecutionStore(turns_live.db)
    try:
        paused = store.get(execution)
    finally:
        store.close()
    assert paused is not None and paused.waiting_label == "AskName"
    # Another key may not continue it.
    with pytest.raises(clients["other"].exceptions.AccessDeniedException):
        _reply(clients["other"], execution, "AskName", "Ada")
    # The reply goes to the node that asked, to agentInputText, as text.
    refusals = [
        (("AskColour", "Ada"), {}, "waits for node 'AskName'"),
        (("AskName", 42), {}, "a reply is a string"),
        (("AskName", "Ada"), {"nodeInputName": "promptAttributes"}, "agentInputText"),
        (("Ask\u202eName\u0000", "Ada"), {}, "waits for node"),
    ]
    for (node, text), entry, message in refusals:
        with pytest.raises(runtime.exceptions.ValidationException) as caught:
            _reply(runtime, execution, node, text, **entry)
        assert message in caught.value.response["Error"]["Message"]
    # Those refusals left it waiting: the right reply still goes through.
    events = _reply(runtime, execution, "AskName", "\U0001f600 " * 2000)
    assert events[-1] == {"flowCompletionEvent": {"completionReason": "INPUT_REQUIRED"}}


def test_hostile_execution_ids_get_4xx(clients: dict[str, Any], turns_live: Live) -> None:
    import urllib.error
    import urllib.request

    runtime = clients["runtime"]
    for bad in ["x" * 101, "../../etc", "n\u00e9e", "12345678901234567890" * 4 + "zz"]:
        with pytest.raises(
            (runtime.exceptions.ValidationException, runtime.exceptions.ResourceNotFoundException)
        ) as caught:
            _reply(runtime, bad, "AskName", "Ada")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)
    # Unsigned bodies of the wrong shape never reach a 5xx either.
    key = turns_live.keys["admin"]
    for body in (
        {"inputs": [{"content": {"document": "x"}}], "executionId": 10**400},
        {"inputs": [{"content": {"document": "x"}}], "executionId": ["a"]},
        {"inputs": [{"content": {"document": "x"}, "nodeName": {"a": 1}}], "executionId": "ab"},
    ):
        request = urllib.request.Request(
            f"{turns_live.url}/flows/Survey/aliases/TSTALIASID",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        refused.value.close()
        assert 400 <= refused.value.code < 500


def test_a_client_may_name_a_new_execution(clients: dict[str, Any]) -> None:
    runtime = clients["runtime"]
    response = runtime.invoke_flow(
        flowIdentifier="Survey",
        flowAliasIdentifier="TSTALIASID",
        executionId="survey-of-ada.1",
        inputs=[
            {
                "nodeName": "FlowInput",
                "nodeOutputName": "document",
                "content": {"document": QUESTIONS},
            }
        ],
    )
    assert response["executionId"] == "survey-of-ada.1"
    events = list(response["responseStream"])
    assert events[-1] == {"flowCompletionEvent": {"completionReason": "INPUT_REQUIRED"}}
    assert (
        _reply(runtime, "survey-of-ada.1", "AskName", "Ada")[0]["flowMultiTurnInputRequestEvent"][
            "nodeName"
        ]
        == "AskColour"
    )


def test_an_execution_left_waiting_past_its_expiry_is_forgotten(
    clients: dict[str, Any], turns_live: Live
) -> None:
    import datetime as dt
    import sqlite3

    from tessera.llm.serve._bedrock_executions import EXPIRY

    runtime = clients["runtime"]
    execution, _ = _start(runtime)
    stale = (dt.datetime.now(dt.UTC) - EXPIRY - dt.timedelta(minutes=1)).isoformat()
    conn = sqlite3.connect(turns_live.db)
    try:
        with conn:
            conn.execute(
                "UPDATE bedrock_flow_executions SET updated_at = ? WHERE execution_id = ?",
                (stale, execution),
            )
    finally:
        conn.close()
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        _reply(runtime, execution, "AskName", "Ada")
