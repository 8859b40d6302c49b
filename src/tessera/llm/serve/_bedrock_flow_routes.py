"""bedrock-agent's flow operations and bedrock-agent-runtime's InvokeFlow, at Bedrock's paths.

CreateFlow, GetFlow, UpdateFlow, DeleteFlow, ListFlows, PrepareFlow, CreateFlowVersion,
GetFlowVersion, ListFlowVersions, CreateFlowAlias, GetFlowAlias and ListFlowAliases over
the flow registry (the service's policy applies: a flow the server would not run is a
ValidationException listing every problem); InvokeFlow runs a flow through an alias and
answers in AWS's event-stream framing (``flowOutputEvent`` per Output node that ran,
``flowTraceEvent`` per node input and output when ``enableTrace`` is set, then
``flowCompletionEvent``).

A flow's id is its tessera name; ``DRAFT`` is the registry's draft, versions its versions,
and an alias is a label pointing at a version (``TSTALIASID``, Bedrock's test alias, runs
the draft). Definitions are translated by :mod:`tessera.llm.bedrock._flows` with the
server's bindings (``--bedrock-model``, ``--bedrock-bindings``). Scopes: ``flows:read``,
``flows:write`` and ``flows:invoke``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm.serve._aws import AwsError, AwsRoute, event_message
from tessera.llm.serve._bedrock_agent_routes import ARN_PREFIX, page
from tessera.llm.serve._http import (
    FlowsInvokeKey,
    FlowsReadKey,
    FlowsWriteKey,
    ServiceState,
    service,
)

__all__ = ["TEST_ALIAS", "router"]

router = APIRouter(tags=["bedrock-agent"], route_class=AwsRoute, include_in_schema=False)
#: Bedrock's alias of a flow's working draft.
TEST_ALIAS = "TSTALIASID"
_ROLE = "arn:aws:iam::000000000000:role/tessera-local"


def _bindings(state: ServiceState) -> Any:
    from dataclasses import replace

    from tessera.llm.bedrock import Bindings

    base: Bindings = state.extras.get("bedrock_bindings") or Bindings()
    models = {model: model for model in state.models}
    models.update(base.models)
    models.update(state.extras.get("bedrock_models", {}))
    return replace(base, models=models)


def _name(identifier: str) -> str:
    return identifier.rsplit(":flow/", 1)[-1].split(":", 1)[0]


def _registry(state: ServiceState) -> Any:
    from tessera.llm.serve._flows_routes import open_flows

    return open_flows(state)


async def _body(request: Request) -> Any:
    from tessera.llm.serve._bedrock_routes import request_json

    body = await request_json(request)
    if not isinstance(body, dict):
        raise InvalidInputError("the body is invalid: it must be a JSON object.")
    return body


def _document(state: ServiceState, body: dict[str, Any], name: str) -> dict[str, Any]:
    from tessera.llm.bedrock import flow_from_bedrock

    definition = body.get("definition") or {"nodes": [], "connections": []}
    spec = flow_from_bedrock(
        {"definition": definition, "description": body.get("description", "")},
        bindings=_bindings(state),
        name=name,
    )
    document: dict[str, Any] = spec.to_dict()
    return document


def _answer(state: ServiceState, registry: Any, name: str, version: str | None) -> dict[str, Any]:
    from tessera.llm._versioned import Version
    from tessera.llm.bedrock import flow_to_bedrock

    ref = f"{name}@draft" if version in (None, "DRAFT") else f"{name}@{version}"
    found = registry.resolve(ref)
    body = flow_to_bedrock(found.body, bindings=_bindings(state))
    stamp = found.created_at if isinstance(found, Version) else found.updated_at
    number = str(found.number) if isinstance(found, Version) else "DRAFT"
    answer = {
        "name": name,
        "id": name,
        "arn": f"{ARN_PREFIX}:flow/{name}",
        "executionRoleArn": _ROLE,
        "status": "Prepared",
        "version": number,
        "createdAt": stamp,
        "updatedAt": stamp,
        "definition": body["definition"],
    }
    if body.get("description"):
        answer["description"] = body["description"]
    return answer


@router.post("/flows/", status_code=201, summary="CreateFlow (bedrock-agent)")
async def create_flow(request: Request, _key: FlowsWriteKey) -> Any:
    """Scope ``flows:write``. The definition becomes the flow's draft (validated)."""
    state = service(request)
    body = await _body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise AwsError(400, "ValidationException", "name is required: name the flow.")
    registry = _registry(state)

    def create() -> dict[str, Any]:
        document = _document(state, body, name)
        registry.create(name, document, description=body.get("description") or "")
        return _answer(state, registry, name, None)

    return JSONResponse(await run_in_threadpool(create), status_code=201)


@router.get("/flows/", summary="ListFlows (bedrock-agent)")
async def list_flows(
    request: Request,
    _key: FlowsReadKey,
    maxResults: int | None = None,
    nextToken: str | None = None,
) -> Any:
    """Scope ``flows:read``. Every flow's summary."""
    registry = _registry(service(request))

    def summaries() -> list[dict[str, Any]]:
        out = []
        for name in registry.names():
            draft = registry.draft(name)
            out.append(
                {
                    "name": name,
                    "id": name,
                    "arn": f"{ARN_PREFIX}:flow/{name}",
                    "status": "Prepared",
                    "version": "DRAFT",
                    "createdAt": draft.updated_at,
                    "updatedAt": draft.updated_at,
                }
            )
        return out

    found = page(await run_in_threadpool(summaries), maxResults, nextToken)
    answer: dict[str, Any] = {"flowSummaries": found["items"]}
    if "nextToken" in found:
        answer["nextToken"] = found["nextToken"]
    return answer


@router.get("/flows/{identifier}/versions/{version}/", summary="GetFlowVersion (bedrock-agent)")
async def get_flow_version(
    identifier: str, version: str, request: Request, _key: FlowsReadKey
) -> Any:
    """Scope ``flows:read``."""
    state = service(request)
    if not version.isdigit() or len(version) > 5:
        raise AwsError(
            400, "ValidationException", f"flowVersion={version!r} is invalid: pass a number."
        )
    return await run_in_threadpool(_answer, state, _registry(state), _name(identifier), version)


@router.get("/flows/{identifier}/versions", summary="ListFlowVersions (bedrock-agent)")
async def list_flow_versions(identifier: str, request: Request, _key: FlowsReadKey) -> Any:
    """Scope ``flows:read``. The draft, then each version."""
    registry = _registry(service(request))
    name = _name(identifier)

    def summaries() -> list[dict[str, Any]]:
        draft = registry.draft(name)
        out = [
            {
                "id": name,
                "arn": f"{ARN_PREFIX}:flow/{name}",
                "status": "Prepared",
                "version": "DRAFT",
                "createdAt": draft.updated_at,
            }
        ]
        out += [
            {
                "id": name,
                "arn": f"{ARN_PREFIX}:flow/{name}",
                "status": "Prepared",
                "version": str(v.number),
                "createdAt": v.created_at,
            }
            for v in registry.versions(name)
        ]
        return out

    return {"flowVersionSummaries": await run_in_threadpool(summaries)}


@router.post("/flows/{identifier}/versions", status_code=201, summary="CreateFlowVersion")
async def create_flow_version(identifier: str, request: Request, _key: FlowsWriteKey) -> Any:
    """Scope ``flows:write``. Commits the draft (validated) as the next version."""
    state = service(request)
    body = await _body(request)
    registry = _registry(state)
    name = _name(identifier)

    def commit() -> dict[str, Any]:
        version = registry.commit(name, str(body.get("description") or ""))
        return _answer(state, registry, name, str(version.number))

    return JSONResponse(await run_in_threadpool(commit), status_code=201)


def _alias(name: str, alias: str, version: str, stamp: str) -> dict[str, Any]:
    return {
        "name": alias,
        "id": alias,
        "flowId": name,
        "arn": f"{ARN_PREFIX}:flow/{name}/alias/{alias}",
        "routingConfiguration": [{"flowVersion": version}],
        "createdAt": stamp,
        "updatedAt": stamp,
    }


@router.post("/flows/{identifier}/aliases", status_code=201, summary="CreateFlowAlias")
async def create_flow_alias(identifier: str, request: Request, _key: FlowsWriteKey) -> Any:
    """Scope ``flows:write``. An alias is a label on the version it routes to."""
    registry = _registry(service(request))
    body = await _body(request)
    name = _name(identifier)
    alias = body.get("name")
    routing = body.get("routingConfiguration") or []
    version = routing[0].get("flowVersion") if routing and isinstance(routing[0], dict) else None
    if not isinstance(alias, str) or not isinstance(version, str) or not version.isdigit():
        raise AwsError(
            400,
            "ValidationException",
            "CreateFlowAlias needs a name and "
            "routingConfiguration [{flowVersion: '<number>'}] (a version, not DRAFT: "
            f"the draft is reached through {TEST_ALIAS}).",
        )
    await run_in_threadpool(registry.set_label, name, alias, int(version))
    now = dt.datetime.now(dt.UTC).isoformat()
    return JSONResponse(_alias(name, alias, version, now), status_code=201)


@router.get("/flows/{identifier}/aliases/{alias}", summary="GetFlowAlias (bedrock-agent)")
async def get_flow_alias(identifier: str, alias: str, request: Request, _key: FlowsReadKey) -> Any:
    """Scope ``flows:read``."""
    registry = _registry(service(request))
    name = _name(identifier)
    labels = await run_in_threadpool(registry.labels, name)
    if alias not in labels:
        raise NotFoundError(
            f"alias={alias!r} is invalid: flow {name!r} has aliases {sorted(labels)}."
        )
    version = registry.get(name, labels[alias])
    return _alias(name, alias, str(labels[alias]), version.created_at)


@router.put("/flows/{identifier}/aliases/{alias}", summary="UpdateFlowAlias (bedrock-agent)")
async def update_flow_alias(
    identifier: str, alias: str, request: Request, _key: FlowsWriteKey
) -> Any:
    """Scope ``flows:write``. Points the alias (a label) at another version."""
    registry = _registry(service(request))
    body = await _body(request)
    name = _name(identifier)
    routing = body.get("routingConfiguration") or []
    version = routing[0].get("flowVersion") if routing and isinstance(routing[0], dict) else None
    if not isinstance(version, str) or not version.isdigit() or len(version) > 5:
        raise AwsError(
            400, "ValidationException", "routingConfiguration must be [{flowVersion: '<number>'}]."
        )
    labels = await run_in_threadpool(registry.labels, name)
    if alias not in labels:
        raise NotFoundError(
            f"alias={alias!r} is invalid: flow {name!r} has aliases {sorted(labels)}."
        )
    await run_in_threadpool(registry.set_label, name, alias, int(version))
    now = dt.datetime.now(dt.UTC).isoformat()
    return _alias(name, alias, version, now)


@router.delete("/flows/{identifier}/aliases/{alias}", summary="DeleteFlowAlias (bedrock-agent)")
async def delete_flow_alias(
    identifier: str, alias: str, request: Request, _key: FlowsWriteKey
) -> Any:
    """Scope ``flows:write``. Removes the label; the version stays."""
    registry = _registry(service(request))
    name = _name(identifier)
    await run_in_threadpool(registry.delete_label, name, alias)
    return {"flowId": name, "id": alias}


@router.delete("/flows/{identifier}/versions/{version}/", summary="DeleteFlowVersion")
async def delete_flow_version(
    identifier: str, version: str, request: Request, _key: FlowsWriteKey
) -> Any:
    """Scope ``flows:write``. Refused while an alias points at it, as Bedrock (without
    ``skipResourceInUseCheck``)."""
    if not version.isdigit() or len(version) > 5:
        raise AwsError(
            400, "ValidationException", f"flowVersion={version!r} is invalid: pass a number."
        )
    registry = _registry(service(request))
    name = _name(identifier)
    force = request.query_params.get("skipResourceInUseCheck", "false").lower() == "true"
    await run_in_threadpool(lambda: registry.delete_version(name, int(version), force=force))
    return {"id": name, "version": version}


@router.get("/flows/{identifier}/aliases", summary="ListFlowAliases (bedrock-agent)")
async def list_flow_aliases(identifier: str, request: Request, _key: FlowsReadKey) -> Any:
    """Scope ``flows:read``. Every label but ``latest``."""
    registry = _registry(service(request))
    name = _name(identifier)
    labels = await run_in_threadpool(registry.labels, name)
    now = dt.datetime.now(dt.UTC).isoformat()
    items = [_alias(name, a, str(v), now) for a, v in sorted(labels.items()) if a != "latest"]
    return {"flowAliasSummaries": items}


@router.get("/flows/{identifier}/", summary="GetFlow (bedrock-agent)")
async def get_flow(identifier: str, request: Request, _key: FlowsReadKey) -> Any:
    """Scope ``flows:read``. The draft's definition, in Bedrock's shape."""
    state = service(request)
    return await run_in_threadpool(_answer, state, _registry(state), _name(identifier), None)


@router.put("/flows/{identifier}/", summary="UpdateFlow (bedrock-agent)")
async def update_flow(identifier: str, request: Request, _key: FlowsWriteKey) -> Any:
    """Scope ``flows:write``. Replaces the draft; versions stay."""
    state = service(request)
    body = await _body(request)
    registry = _registry(state)
    name = _name(identifier)

    def update() -> dict[str, Any]:
        registry.draft(name)  # 404 first
        registry.update_draft(name, _document(state, body, name))
        return _answer(state, registry, name, None)

    return await run_in_threadpool(update)


@router.post("/flows/{identifier}/", status_code=202, summary="PrepareFlow (bedrock-agent)")
async def prepare_flow(identifier: str, request: Request, _key: FlowsWriteKey) -> Any:
    """Scope ``flows:write``. Validates the draft with the server's policy."""
    from tessera.llm.flows import require_valid

    state = service(request)
    registry = _registry(state)
    name = _name(identifier)
    spec = await run_in_threadpool(registry.flow, f"{name}@draft")
    from tessera.llm.serve._flows_routes import storage_roots

    await run_in_threadpool(
        lambda: require_valid(
            spec,
            allowed_code=state.allowed_code,
            retrieval_roots=state.retrieval_roots,
            storage_roots=storage_roots(state),
        )
    )
    return JSONResponse({"id": name, "status": "Prepared"}, status_code=202)


@router.delete("/flows/{identifier}/", summary="DeleteFlow (bedrock-agent)")
async def delete_flow(identifier: str, request: Request, _key: FlowsWriteKey) -> Any:
    """Scope ``flows:write``. The flow, its versions and aliases."""
    name = _name(identifier)
    await run_in_threadpool(_registry(service(request)).delete, name)
    return {"id": name}


def _document_of(value: Any) -> Any:
    return value.get("document") if isinstance(value, dict) else None


#: Bedrock's FlowExecutionId.
_EXECUTION_ID = re.compile(r"[0-9a-zA-Z._:-]{2,100}")
_EXECUTIONS = "bedrock_flow_executions"


def _executions(state: ServiceState) -> Any:
    from tessera.llm.serve._bedrock_executions import ExecutionStore

    found = state.extras.get(_EXECUTIONS)
    if found is None:
        found = state.extras.setdefault(_EXECUTIONS, ExecutionStore(state.db_path))
    return found


def _flow_input(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise AwsError(
            400,
            "ValidationException",
            "inputs must hold one entry: {nodeName, "
            "nodeOutputName, content: {document}} for the flow's Input node.",
        )
    content = inputs[0].get("content")
    if not isinstance(content, dict) or "document" not in content:
        raise AwsError(400, "ValidationException", "inputs[0].content must be {document: ...}.")
    entry: dict[str, Any] = inputs[0]
    return entry


def _continued(paused: Any, entry: dict[str, Any], name: str, key_id: str) -> dict[str, Any]:
    """The replies of a paused execution with this continuation's added (checked)."""
    if paused.key_id != key_id:
        raise AwsError(
            403,
            "AccessDeniedException",
            "this execution was started with another API key; only that key may continue it.",
        )
    if paused.flow != name:
        raise AwsError(
            400,
            "ValidationException",
            f"executionId={paused.execution_id!r} is an execution of flow {paused.flow!r}, "
            f"not {name!r}; continue it with flowIdentifier={paused.flow!r}.",
        )
    node = entry.get("nodeName")
    if node not in (paused.waiting_label, paused.waiting_node):
        raise AwsError(
            400,
            "ValidationException",
            f"inputs[0].nodeName={node!r:.100} is invalid: this execution waits for node "
            f"{paused.waiting_label!r}; send the reply to it (the nodeName of the "
            "flowMultiTurnInputRequestEvent).",
        )
    port = entry.get("nodeInputName", "agentInputText")
    if port != "agentInputText":
        raise AwsError(
            400,
            "ValidationException",
            f"inputs[0].nodeInputName={port!r:.100} is invalid: a reply goes to the "
            "agentInputText input; set nodeInputName='agentInputText'.",
        )
    answer = entry["content"]["document"]
    if not isinstance(answer, str):
        raise AwsError(
            400,
            "ValidationException",
            f"inputs[0].content.document={answer!r:.80} is invalid: a reply is a string "
            "(agentInputText); send the text.",
        )
    return {**paused.answers, paused.waiting_label: answer}


@router.post("/flows/{identifier}/aliases/{alias}", summary="InvokeFlow (bedrock-agent-runtime)")
async def invoke_flow(identifier: str, alias: str, request: Request, key: FlowsInvokeKey) -> Any:
    """Scope ``flows:invoke``. ``inputs`` holds one entry for the Input node:
    ``{nodeName, nodeOutputName, content: {document}}``; or, with the ``executionId`` of an
    execution that asked for input (``INPUT_REQUIRED``), the reply: ``{nodeName: the node
    that asked, nodeInputName: agentInputText, content: {document: text}}``."""
    import uuid

    from tessera.llm.flows import InputRequired, Resume, stream_flow
    from tessera.llm.serve._bedrock_executions import Execution
    from tessera.llm.serve._flows_routes import _run_options

    state = service(request)
    body = await _body(request)
    entry = _flow_input(body)
    registry = _registry(state)
    store = _executions(state)
    name = _name(identifier)
    execution_id = body.get("executionId")
    resume: Any = None
    paused = None
    if execution_id is not None:
        if not isinstance(execution_id, str) or not _EXECUTION_ID.fullmatch(execution_id):
            raise AwsError(
                400,
                "ValidationException",
                f"executionId={execution_id!r:.120} is invalid: it must be 2 to 100 letters, "
                "digits or ._:- (the executionId an earlier InvokeFlow answered with).",
            )
        paused = await run_in_threadpool(store.get, execution_id)
    if paused is None:
        ref = f"{name}@draft" if alias == TEST_ALIAS else f"{name}@{alias}"
        stored = await run_in_threadpool(registry.stored, ref)
        starts = {n.name for n in stored.spec.nodes if n.type == "Input"}
        node = entry.get("nodeName")
        if execution_id is not None and (not isinstance(node, str) or node not in starts):
            raise AwsError(
                404,
                "ResourceNotFoundException",
                f"executionId={execution_id!r} names no execution waiting for input: it "
                "completed, or never asked. Invoke the flow's Input node to start again.",
            )
        # A new execution: under the id the client chose (as Bedrock allows), or a new one.
        document = entry["content"]["document"]
        execution_id = execution_id or uuid.uuid4().hex
    else:
        answers = _continued(paused, entry, name, key.id)
        stored = await run_in_threadpool(registry.stored, paused.flow_ref)
        document = paused.document
        resume = Resume(answers=answers, recorded=paused.recorded)
    options = _run_options(state, stored.version)
    recorded = dict(resume.recorded) if resume is not None else {}

    def run() -> tuple[list[Any], Any]:
        events: list[Any] = []
        iterator = stream_flow(stored.spec, document, **options, resume=resume)
        try:
            for event in iterator:
                events.append(event)
        except InputRequired as asking:
            return events, asking
        return events, None

    events, asking = await run_in_threadpool(run)
    if asking is not None:
        finished = {e.node: e.data for e in events if e.kind == "node_output" and e.node}
        pause = Execution(
            execution_id=execution_id,
            key_id=key.id,
            flow=name,
            flow_ref=f"{name}@{stored.version}" if stored.version else f"{name}@draft",
            document=document,
            answers=dict(resume.answers) if resume is not None else {},
            recorded={**recorded, **finished},
            waiting_node=asking.node_name,
            waiting_label=asking.node,
        )
        await run_in_threadpool(store.put, pause)
    elif resume is not None:
        await run_in_threadpool(store.delete, execution_id)
    trace = bool(body.get("enableTrace"))
    top = {n.name for n in stored.spec.nodes if n.type == "Output"}
    if asking is not None:
        outputs = {
            e.node: e.data["document"]
            for e in events
            if e.kind == "flow_output" and e.node in top and e.node not in recorded
        }
    else:
        ended = events[-1].data["outputs"] if events and events[-1].kind == "flow_end" else {}
        outputs = {node: value for node, value in ended.items() if node not in recorded}

    def frames() -> Any:
        if trace:
            for event in events:
                if event.kind not in ("node_input", "node_output") or event.node is None:
                    continue
                key = "nodeInputTrace" if event.kind == "node_input" else "nodeOutputTrace"
                side = "nodeInputName" if event.kind == "node_input" else "nodeOutputName"
                fields = [
                    {side: port, "content": {"document": value}}
                    for port, value in event.data.items()
                ]
                payload = {"nodeName": event.node, "timestamp": event.at, "fields": fields}
                yield event_message("flowTraceEvent", {"trace": {key: payload}})
        for node, document in outputs.items():
            output = {
                "nodeName": node,
                "nodeType": "FlowOutputNode",
                "content": {"document": document},
            }
            yield event_message("flowOutputEvent", output)
        if asking is not None:
            request_event = {
                "nodeName": asking.node,
                "nodeType": "AgentNode",
                "content": {"document": asking.question},
            }
            yield event_message("flowMultiTurnInputRequestEvent", request_event)
            yield event_message("flowCompletionEvent", {"completionReason": "INPUT_REQUIRED"})
        else:
            yield event_message("flowCompletionEvent", {"completionReason": "SUCCESS"})

    return StreamingResponse(
        frames(),
        media_type="application/vnd.amazon.eventstream",
        headers={"x-amz-bedrock-flow-execution-id": execution_id},
    )
