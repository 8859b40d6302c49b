"""Bedrock's DoWhile Loop through boto3's CreateFlow and InvokeFlow (issue 23)."""

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


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def loop_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("bedrock-loop") / "tessera.db"
    yield from start_live(
        db,
        models=("tessera",),
        rate_limit=RateLimit(1000, burst=1000),
        allowed_code=("tessera.llm.flows.inline:python",),
    )


@pytest.fixture(scope="module")
def clients(loop_live: Live) -> dict[str, Any]:
    store = AwsCredentialStore(loop_live.db)
    try:
        creds = store.issue(loop_live.key_ids["admin"])
    finally:
        store.close()

    def make(service: str, validate: bool = True) -> Any:
        return boto3.client(
            service,
            endpoint_url=loop_live.url,
            region_name="us-east-1",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            config=Config(
                retries={"total_max_attempts": 1},
                read_timeout=120,
                parameter_validation=validate,
            ),
        )

    return {
        "agent": make("bedrock-agent"),
        "runtime": make("bedrock-agent-runtime"),
        # botocore checks shapes before sending; this one sends what it is given.
        "raw": make("bedrock-agent", validate=False),
    }


def _invoke(runtime: Any, flow: str, document: Any, **options: Any) -> list[dict[str, Any]]:
    response = runtime.invoke_flow(
        flowIdentifier=flow,
        flowAliasIdentifier="TSTALIASID",
        inputs=[
            {
                "nodeName": "FlowInput",
                "nodeOutputName": "document",
                "content": {"document": document},
            }
        ],
        **options,
    )
    return list(response["responseStream"])


def test_loop_flow_is_created_read_back_and_invoked(clients: dict[str, Any]) -> None:
    agent, runtime = clients["agent"], clients["runtime"]
    source = fixture("flow_loop.json")
    created = agent.create_flow(
        name=source["name"], executionRoleArn=ROLE, definition=source["definition"]
    )
    assert created["definition"] == source["definition"]
    assert agent.get_flow(flowIdentifier="CountUp")["definition"] == source["definition"]
    assert agent.prepare_flow(flowIdentifier="CountUp")["status"] == "Prepared"
    events = _invoke(runtime, "CountUp", 0, enableTrace=True)
    outputs = [e["flowOutputEvent"] for e in events if "flowOutputEvent" in e]
    assert outputs == [
        {"nodeName": "FlowOutput", "nodeType": "FlowOutputNode", "content": {"document": 5}}
    ]
    traced = [
        e["flowTraceEvent"]["trace"]["nodeOutputTrace"]["nodeName"]
        for e in events
        if "nodeOutputTrace" in e.get("flowTraceEvent", {}).get("trace", {})
    ]
    assert [n for n in traced if n.endswith("/Step")] == [f"Counter[{i}]/Step" for i in range(1, 6)]
    assert events[-1] == {"flowCompletionEvent": {"completionReason": "SUCCESS"}}


def test_loop_bound_and_its_validation_error_through_boto3(clients: dict[str, Any]) -> None:
    agent, runtime = clients["agent"], clients["runtime"]
    source = fixture("flow_loop.json")
    controller = source["definition"]["nodes"][1]["configuration"]["loop"]["definition"]["nodes"][2]
    controller["configuration"]["loopController"]["maxIterations"] = 2
    agent.create_flow(name="CountTwo", executionRoleArn=ROLE, definition=source["definition"])
    outputs = [
        e["flowOutputEvent"] for e in _invoke(runtime, "CountTwo", 0) if "flowOutputEvent" in e
    ]
    assert outputs[0]["content"] == {"document": 2}
    # maxIterations past Bedrock's 1..1000 (botocore checks only the minimum): CreateFlow
    # keeps the draft as Bedrock does, and PrepareFlow and InvokeFlow refuse it, naming the
    # node inside the loop and the field.
    controller["configuration"]["loopController"]["maxIterations"] = 5000
    agent.create_flow(name="CountMany", executionRoleArn=ROLE, definition=source["definition"])
    with pytest.raises(agent.exceptions.ValidationException) as caught:
        agent.prepare_flow(flowIdentifier="CountMany")
    message = caught.value.response["Error"]["Message"]
    assert "Counter/Check" in message and "maxIterations" in message and "1000" in message
    with pytest.raises(runtime.exceptions.ValidationException) as caught:
        _invoke(runtime, "CountMany", 0)
    assert "Counter/Check" in caught.value.response["Error"]["Message"]


def _nested(depth: int) -> dict[str, Any]:
    """``depth`` Loops nested, each inner one wired to outputs it lacks: refused, with every
    level's problems named (and no recursion error on the way)."""
    source = fixture("flow_loop.json")
    definition = source["definition"]
    for _ in range(depth - 1):
        inner = definition["nodes"][1]["configuration"]["loop"]["definition"]
        wrapped = json.loads(json.dumps(inner))
        wrapped["nodes"][1] = json.loads(json.dumps(definition["nodes"][1]))
        wrapped["nodes"][1]["name"] = "Step"
        inner.clear()
        inner.update(wrapped)
    return definition


def test_hostile_loop_definitions_get_4xx_never_5xx(clients: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError

    agent, runtime = clients["raw"], clients["runtime"]
    source = fixture("flow_loop.json")

    def variant(change: Any) -> dict[str, Any]:
        definition = json.loads(json.dumps(source["definition"]))
        change(definition["nodes"][1]["configuration"]["loop"]["definition"])
        return definition

    def controller(update: dict[str, Any]) -> Any:
        return lambda d: d["nodes"][2]["configuration"]["loopController"].update(update)

    hostile = [
        variant(lambda d: d.update(nodes=[])),
        variant(lambda d: d["nodes"].append(dict(d["nodes"][0], name="Again"))),
        variant(controller({"maxIterations": 10**30})),
        variant(controller({"maxIterations": -(10**30)})),
        variant(controller({"continueCondition": {"name": "\u202e\u0000", "expression": "1"}})),
        variant(controller({"continueCondition": {"name": "c", "expression": "(" * 5000}})),
        variant(lambda d: d["nodes"].pop(2)),
        variant(lambda d: d["nodes"][2]["inputs"][0].update(category="Sideways")),
        variant(lambda d: d["nodes"][0].update(name="loop-state")),
        variant(lambda d: d["nodes"][0]["outputs"][0].update(name="\U0001f600")),
        _nested(40),
    ]
    # (Shapes botocore cannot serialise, a string for a list, are sent raw by
    # test_bedrock_flows_wire's hostile-body test.)
    for index, definition in enumerate(hostile):
        name = f"Hostile{index}"
        try:
            agent.create_flow(name=name, executionRoleArn=ROLE, definition=definition)
            agent.prepare_flow(flowIdentifier=name)
            _invoke(runtime, name, 0)
        except ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            assert 400 <= status < 500, (index, exc.response["Error"])
        else:
            raise AssertionError(f"hostile definition {index} was accepted")
