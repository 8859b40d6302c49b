"""``/v1/flows``: validate, save, version, invoke (events streamed by SSE) and trace flows.

Flows run in the service's process with its policy: Code nodes may call only the
functions the server was started with (``allowed_code``), Retrieval nodes read only inside
its ``retrieval_roots``, Storage nodes write and read only inside its ``storage_roots``
(none unless the operator names some), and Prompt and Model nodes use only the models it
serves. The policy is checked the same way when a flow is validated, saved
(``POST /v1/flows/save``, and a draft committed as a version) and run: a flow that breaks
it is a 422 listing every problem, and nothing is stored. A flow can still write inside
the storage roots and run the allowed code, so storing one (``flows:write``) is trusted
work; invoking an unsaved, inline document therefore needs ``flows:write`` as well as
``flows:invoke``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tessera.errors import InvalidInputError
from tessera.llm.flows._traces import MAX_TRACE_LIMIT
from tessera.llm.serve._chat import stream_in_thread
from tessera.llm.serve._http import (
    ApiError,
    FlowsInvokeKey,
    FlowsReadKey,
    FlowsWriteKey,
    ServiceState,
    json_default,
    service,
)
from tessera.llm.serve._prompts_routes import open_prompts
from tessera.llm.serve._store_routes import add_store_routes

__all__ = [
    "InlineInvokeBody",
    "InvokeBody",
    "SaveBody",
    "ValidateBody",
    "router",
    "set_storage_roots",
    "storage_roots",
]

router = APIRouter(prefix="/v1/flows", tags=["flows"])


_POLICY_REGISTRY = "flows:policy"
_STORAGE_ROOTS = "flows:storage_roots"


def set_storage_roots(state: ServiceState, storage_roots: Sequence[str | Path]) -> None:
    """Check the operator's storage roots and keep them with the service's state.

    Raises :class:`~tessera.errors.InvalidInputError` when a root is not an existing folder.
    """
    from tessera.llm.flows._policy import check_storage_roots

    state.extras[_STORAGE_ROOTS] = check_storage_roots(storage_roots)


def storage_roots(state: ServiceState) -> tuple[Path, ...]:
    """The resolved folders the service's Storage nodes may use (none unless set)."""
    roots: tuple[Path, ...] = state.extras.get(_STORAGE_ROOTS, ())
    return roots


def open_flows(state: ServiceState) -> Any:
    """The service's :class:`~tessera.llm.flows.FlowRegistry`, holding the service's policy.

    Its saves and commits refuse a flow whose Code nodes, Retrieval or Storage folders the
    server would refuse to run (the routes of the versioned store use it too).
    """
    found = state.extras.get(_POLICY_REGISTRY)
    if found is None:
        from tessera.llm.flows import FlowRegistry

        registry = FlowRegistry(
            state.db_path,
            allowed_code=state.allowed_code,
            retrieval_roots=state.retrieval_roots,
            storage_roots=storage_roots(state),
        )
        found = state.extras.setdefault(_POLICY_REGISTRY, registry)
    return found


class ValidateBody(BaseModel):
    """``POST /v1/flows/validate``: a flow document (JSON)."""

    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any]


class SaveBody(BaseModel):
    """``POST /v1/flows/save``: validate and store as the next version of its name."""

    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any]
    message: str = ""
    label: str | None = None
    tags: list[str] = Field(default_factory=list)


class InvokeBody(BaseModel):
    """``POST /v1/flows/{ref}/invoke``: the Input node's document; stream events or not."""

    model_config = ConfigDict(extra="forbid")
    inputs: Any
    stream: bool = False


class InlineInvokeBody(InvokeBody):
    """``POST /v1/flows/invoke``: an unsaved flow document and its inputs."""

    document: dict[str, Any]


def _backend_factory(state: ServiceState) -> Any:
    from tessera.llm.backends import get_backend

    def served(model_id: str | None) -> Any:
        model = model_id or "tessera"
        if model not in state.models:
            raise InvalidInputError(
                f"model={model!r} is not served here; this server serves "
                f"{list(state.models)}. Name one of those in the flow, or start the server "
                f"with --model {model}."
            )
        return get_backend(model)

    return served


def _run_options(state: ServiceState, version: int | None) -> dict[str, Any]:
    return {
        "allowed_code": state.allowed_code,
        "retrieval_roots": state.retrieval_roots,
        "storage_roots": storage_roots(state),
        "registry": open_prompts(state),
        "backend_factory": _backend_factory(state),
        "db": state.db_path,
        "flow_version": version,
    }


@router.post("/validate", summary="Every problem of a flow, each with node and field")
async def validate(body: ValidateBody, request: Request, _key: FlowsReadKey) -> dict[str, Any]:
    """Scope ``flows:read``. Checked against this server's Code allow-list, retrieval roots
    and storage roots, as saving and running check it."""
    from tessera.llm.flows import validate_flow

    state = service(request)
    problems = await run_in_threadpool(
        validate_flow,
        body.document,
        allowed_code=state.allowed_code,
        retrieval_roots=state.retrieval_roots,
        storage_roots=storage_roots(state),
    )
    return {"valid": not problems, "problems": [asdict(p) for p in problems]}


@router.post("/save", status_code=201, summary="Validate and store as the next version")
async def save(body: SaveBody, request: Request, _key: FlowsWriteKey) -> dict[str, Any]:
    """Scope ``flows:write``. Validated as ``/v1/flows/validate`` validates (the server's
    Code allow-list, retrieval roots and storage roots included): a 422 lists every problem
    and nothing is stored. Saving a document equal to the latest version returns it."""
    registry = open_flows(service(request))
    version = await run_in_threadpool(
        registry.save, body.document, message=body.message, label=body.label, tags=body.tags
    )
    return asdict(version)


@router.post("/invoke", summary="Run an unsaved flow document")
async def invoke_inline(body: InlineInvokeBody, request: Request, key: FlowsInvokeKey) -> Any:
    """Scopes ``flows:invoke`` and ``flows:write`` (an inline document is unreviewed code)."""
    if not key.allows("flows:write"):
        raise ApiError(
            403,
            f"key {key.id} may invoke stored flows only: running an inline document also "
            "needs 'flows:write'. Save the flow (POST /v1/flows/save) and invoke it by name.",
        )
    return await _invoke(service(request), body.document, None, body)


@router.post("/{ref}/invoke", summary="Run a stored flow (NAME, NAME@3, NAME@label)")
async def invoke(ref: str, body: InvokeBody, request: Request, _key: FlowsInvokeKey) -> Any:
    """Scope ``flows:invoke``. With ``"stream": true`` the run's events come as server-sent
    events (``event: <kind>``, ``data: {kind, node, data, at}``) as they happen.
    """
    state = service(request)
    stored = await run_in_threadpool(open_flows(state).stored, ref)
    return await _invoke(state, stored.spec, stored.version, body)


async def _invoke(state: ServiceState, flow: Any, version: int | None, body: InvokeBody) -> Any:
    from tessera.llm.flows import run_flow, stream_flow

    options = _run_options(state, version)
    if not body.stream:
        result = await run_in_threadpool(run_flow, flow, body.inputs, **options)
        return {
            "run_id": result.run_id,
            "outputs": _jsonable(result.outputs),
            "events": [_jsonable(e.to_dict()) for e in result.events],
        }
    events = stream_in_thread(stream_flow(flow, body.inputs, **options))
    # The first event comes after validation and the input check: their errors get a status.
    first = await anext(events)
    return StreamingResponse(
        _sse(first, events), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=json_default))


def _event(kind: str, payload: Any) -> bytes:
    text = json.dumps(payload, default=json_default, ensure_ascii=False)
    return format_sse_event(data_str=text, event=kind)


async def _sse(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    yield _event(first.kind, first.to_dict())
    try:
        async for event in rest:
            yield _event(event.kind, event.to_dict())
    except Exception as exc:  # noqa: BLE001 - the run already sent its `error` event
        from tessera.llm.flows import FlowRunError

        if not isinstance(exc, FlowRunError):
            yield _event("error", {"kind": "error", "data": {"message": str(exc)}})


@router.get("/traces", summary="Recent runs, newest first")
async def traces(
    request: Request,
    _key: FlowsReadKey,
    flow: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TRACE_LIMIT)] = 20,
    status: Literal["running", "succeeded", "failed", "cancelled"] | None = None,
) -> list[dict[str, Any]]:
    """Scope ``flows:read``. ``?flow=NAME&limit=20&status=failed`` (``limit`` 1 to 10,000)."""
    from tessera.llm.flows import list_traces

    db = service(request).db_path
    found = await run_in_threadpool(list_traces, flow, limit=limit, status=status, db=db)
    return [_jsonable(asdict(t)) for t in found]


@router.get("/traces/{run_id}", summary="One run with every event")
async def trace(run_id: str, request: Request, _key: FlowsReadKey) -> dict[str, Any]:
    """Scope ``flows:read``."""
    from tessera.llm.flows import get_trace

    found = await run_in_threadpool(get_trace, run_id, db=service(request).db_path)
    result: dict[str, Any] = _jsonable(asdict(found))
    return result


add_store_routes(router, open_flows, "flows:read", "flows:write")
