"""bedrock's guardrail operations over the guardrail registry, at Bedrock's paths.

CreateGuardrail, GetGuardrail, ListGuardrails, UpdateGuardrail, DeleteGuardrail and
CreateGuardrailVersion for boto3's ``bedrock`` client. A guardrail's id is its tessera
name; ``DRAFT`` is the registry's draft and numbered versions its versions. Bodies are
translated by :mod:`tessera.llm.bedrock._guardrails` (so a body tessera cannot apply is a
ValidationException naming the field). Scopes: ``guardrails:read`` and
``guardrails:write``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tessera.errors import InvalidInputError
from tessera.llm.serve._aws import AwsError, AwsRoute
from tessera.llm.serve._bedrock_agent_routes import ARN_PREFIX, page
from tessera.llm.serve._http import require, service
from tessera.llm.serve._keys import KeyRecord

__all__ = ["policies_of", "router"]

router = APIRouter(tags=["bedrock"], route_class=AwsRoute, include_in_schema=False)
ReadKey = Annotated[KeyRecord, require("guardrails:read")]
WriteKey = Annotated[KeyRecord, require("guardrails:write")]

#: CreateGuardrail's ``...Config`` keys -> GetGuardrail's names for the same thing.
_RENAMES = {
    "topicPolicyConfig": "topicPolicy",
    "topicsConfig": "topics",
    "contentPolicyConfig": "contentPolicy",
    "filtersConfig": "filters",
    "wordPolicyConfig": "wordPolicy",
    "wordsConfig": "words",
    "managedWordListsConfig": "managedWordLists",
    "sensitiveInformationPolicyConfig": "sensitiveInformationPolicy",
    "piiEntitiesConfig": "piiEntities",
    "regexesConfig": "regexes",
    "contextualGroundingPolicyConfig": "contextualGroundingPolicy",
}


def policies_of(body: dict[str, Any]) -> dict[str, Any]:
    """A CreateGuardrail body's policies under GetGuardrail's names."""

    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            return {_RENAMES.get(k, k): rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    renamed: dict[str, Any] = rename(body)
    return renamed


def _arn(name: str) -> str:
    return f"{ARN_PREFIX}:guardrail/{name}"


def _name(identifier: str) -> str:
    return identifier.rsplit("guardrail/", 1)[-1]


def _ref(name: str, version: str | None) -> str:
    if version is None or version.upper() == "DRAFT":
        return f"{name}@draft"
    if not version.isdigit() or len(version) > 5:
        raise AwsError(
            400,
            "ValidationException",
            f"guardrailVersion={version!r} is invalid: it is DRAFT or a version number. Pass one.",
        )
    return f"{name}@{int(version)}"


def _config(body: Any) -> Any:
    from tessera.llm.bedrock import guardrail_from_bedrock

    if not isinstance(body, dict):
        raise InvalidInputError("the body is invalid: it must be a JSON object (CreateGuardrail).")
    body = {k: v for k, v in body.items() if k not in ("clientRequestToken", "tags", "kmsKeyId")}
    return guardrail_from_bedrock(body)


async def _body(request: Request) -> Any:
    from tessera.llm.serve._bedrock_routes import request_json

    return await request_json(request)


@router.post("/guardrails", status_code=202, summary="CreateGuardrail (bedrock)")
async def create_guardrail(request: Request, _key: WriteKey) -> Any:
    """Scope ``guardrails:write``. Creates the guardrail's draft."""
    from tessera.llm.serve._guard_routes import open_guardrails

    config = _config(await _body(request))
    store = open_guardrails(service(request))
    draft = await run_in_threadpool(
        lambda: store.create(config.name, config.to_mapping(), description=config.description)
    )
    answer = {
        "guardrailId": config.name,
        "guardrailArn": _arn(config.name),
        "version": "DRAFT",
        "createdAt": draft.updated_at,
    }
    return JSONResponse(answer, status_code=202)


@router.put("/guardrails/{identifier:path}", summary="UpdateGuardrail (bedrock)")
async def update_guardrail(identifier: str, request: Request, _key: WriteKey) -> Any:
    """Scope ``guardrails:write``. Replaces the draft; versions stay."""
    from tessera.llm.serve._guard_routes import open_guardrails

    name = _name(identifier)
    config = _config(await _body(request))
    if config.name != name:
        raise AwsError(
            400,
            "ValidationException",
            f"name={config.name!r} is invalid: a "
            f"guardrail cannot be renamed (it is {name!r}). Keep the name.",
        )
    store = open_guardrails(service(request))
    draft = await run_in_threadpool(lambda: store.update_draft(name, config.to_mapping()))
    answer = {
        "guardrailId": name,
        "guardrailArn": _arn(name),
        "version": "DRAFT",
        "updatedAt": draft.updated_at,
    }
    return JSONResponse(answer, status_code=202)


@router.post("/guardrails/{identifier:path}", status_code=202, summary="CreateGuardrailVersion")
async def create_guardrail_version(identifier: str, request: Request, _key: WriteKey) -> Any:
    """Scope ``guardrails:write``. Commits the draft as the next version."""
    from tessera.llm.serve._guard_routes import open_guardrails

    name = _name(identifier)
    body = await _body(request)
    message = body.get("description", "") if isinstance(body, dict) else ""
    if not isinstance(message, str):
        raise AwsError(400, "ValidationException", "description is invalid: it must be a string.")
    store = open_guardrails(service(request))
    version = await run_in_threadpool(store.commit, name, message)
    return JSONResponse({"guardrailId": name, "version": str(version.number)}, status_code=202)


def _get(store: Any, name: str, version: str | None) -> dict[str, Any]:
    from tessera.llm._versioned import Version
    from tessera.llm.bedrock import guardrail_to_bedrock

    found = store.resolve(_ref(name, version))
    body = guardrail_to_bedrock(found.body)
    stamp = found.created_at if isinstance(found, Version) else found.updated_at
    number = str(found.number) if isinstance(found, Version) else "DRAFT"
    return {
        **policies_of(body),
        "guardrailId": name,
        "guardrailArn": _arn(name),
        "version": number,
        "status": "READY",
        "createdAt": stamp,
        "updatedAt": stamp,
    }


@router.get("/guardrails/{identifier:path}", summary="GetGuardrail (bedrock)")
async def get_guardrail(
    identifier: str, request: Request, _key: ReadKey, guardrailVersion: str | None = None
) -> Any:
    """Scope ``guardrails:read``. The draft, or the version ``guardrailVersion`` names."""
    from tessera.llm.serve._guard_routes import open_guardrails

    store = open_guardrails(service(request))
    return await run_in_threadpool(_get, store, _name(identifier), guardrailVersion)


def _summaries(store: Any, identifier: str | None) -> list[dict[str, Any]]:
    out = []
    names = [_name(identifier)] if identifier else store.names()
    for name in names:
        draft = store.draft(name)
        base = {"id": name, "name": name, "arn": _arn(name), "status": "READY"}
        if draft.description:
            base["description"] = draft.description
        out.append(
            {
                **base,
                "version": "DRAFT",
                "createdAt": draft.updated_at,
                "updatedAt": draft.updated_at,
            }
        )
        if identifier:
            for version in store.versions(name):
                out.append(
                    {
                        **base,
                        "version": str(version.number),
                        "createdAt": version.created_at,
                        "updatedAt": version.created_at,
                    }
                )
    return out


@router.get("/guardrails", summary="ListGuardrails (bedrock)")
async def list_guardrails(
    request: Request,
    _key: ReadKey,
    guardrailIdentifier: str | None = None,
    maxResults: int | None = None,
    nextToken: str | None = None,
) -> Any:
    """Scope ``guardrails:read``. Every guardrail's draft; with ``guardrailIdentifier``,
    that guardrail's draft and versions."""
    from tessera.llm.serve._guard_routes import open_guardrails

    store = open_guardrails(service(request))
    items = await run_in_threadpool(_summaries, store, guardrailIdentifier)
    found = page(items, maxResults, nextToken)
    answer: dict[str, Any] = {"guardrails": found["items"]}
    if "nextToken" in found:
        answer["nextToken"] = found["nextToken"]
    return answer


@router.delete("/guardrails/{identifier:path}", status_code=202, summary="DeleteGuardrail")
async def delete_guardrail(
    identifier: str, request: Request, _key: WriteKey, guardrailVersion: str | None = None
) -> Any:
    """Scope ``guardrails:write``. The whole guardrail, or one version."""
    from tessera.llm.serve._guard_routes import open_guardrails

    name = _name(identifier)
    store = open_guardrails(service(request))
    if guardrailVersion is None or guardrailVersion.upper() == "DRAFT":
        await run_in_threadpool(store.delete, name)
    else:
        number = int(_ref(name, guardrailVersion).rsplit("@", 1)[1])
        await run_in_threadpool(lambda: store.delete_version(name, number, force=True))
    return JSONResponse({}, status_code=202)
