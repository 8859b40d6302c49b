"""bedrock-agent's prompt operations over the prompt registry, at Bedrock's paths.

CreatePrompt, GetPrompt, UpdatePrompt, DeletePrompt, ListPrompts and CreatePromptVersion
for boto3's ``bedrock-agent`` client. A prompt's id is its tessera name (the ARN
``arn:aws:bedrock:local:000000000000:prompt/NAME`` names it too); Bedrock's ``DRAFT`` is
the registry's draft and its numbered versions are the registry's versions. Bodies are
translated by :mod:`tessera.llm.bedrock._prompts`; a variant's ``modelId`` must be
served or bound (``tessera serve --bedrock-model``). Scopes: ``prompts:read`` to read,
``prompts:write`` to change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tessera.errors import InvalidInputError
from tessera.llm.serve._aws import AwsError, AwsRoute
from tessera.llm.serve._http import PromptsReadKey, PromptsWriteKey, ServiceState, service

__all__ = ["ARN_PREFIX", "page", "router"]

router = APIRouter(tags=["bedrock-agent"], route_class=AwsRoute, include_in_schema=False)
#: Resource ARNs name this region and account (nothing here is in AWS).
ARN_PREFIX = "arn:aws:bedrock:local:000000000000"


def _name_and_version(identifier: str, kind: str) -> tuple[str, str | None]:
    """``NAME`` or ``arn:...:<kind>/NAME[:VERSION]`` -> (name, version or None)."""
    marker = f":{kind}/"
    if identifier.startswith("arn:") and marker in identifier:
        rest = identifier.split(marker, 1)[1]
        name, _, version = rest.partition(":")
        return name, version or None
    return identifier, None


def _ref(name: str, version: str | None) -> str:
    if version is None or version.upper() == "DRAFT":
        return f"{name}@draft"
    if not version.isdigit() or len(version) > 5:
        raise AwsError(
            400,
            "ValidationException",
            f"promptVersion={version!r} is invalid: it is DRAFT or a version number. Pass one.",
        )
    return f"{name}@{int(version)}"


async def _body(request: Request) -> Any:
    from tessera.llm.serve._bedrock_routes import request_json

    return await request_json(request)


def _bindings(state: ServiceState) -> Any:
    from tessera.llm.bedrock import Bindings

    models = {model: model for model in state.models}
    models.update(state.extras.get("bedrock_models", {}))
    return Bindings(models=models)


def _prompt_answer(registry: Any, name: str, version: str | None) -> dict[str, Any]:
    from tessera.llm._versioned import Version
    from tessera.llm.bedrock import prompt_to_bedrock

    found = registry.resolve(_ref(name, version))
    draft = registry.draft(name)
    body = prompt_to_bedrock(name, found.body, description=draft.description, tags=draft.tags)
    body.pop("tags", None)  # not part of GetPrompt's answer
    stamp = found.created_at if isinstance(found, Version) else found.updated_at
    number = str(found.number) if isinstance(found, Version) else "DRAFT"
    arn = f"{ARN_PREFIX}:prompt/{name}" + (f":{number}" if number != "DRAFT" else "")
    return {
        **body,
        "id": name,
        "arn": arn,
        "version": number,
        "createdAt": stamp,
        "updatedAt": stamp,
    }


def _create(
    registry: Any, body: Any, bindings: Any, *, update: str | None = None
) -> dict[str, Any]:
    from tessera.llm.bedrock import prompt_from_bedrock

    if not isinstance(body, dict):
        raise InvalidInputError("the body is invalid: it must be a JSON object (CreatePrompt).")
    body = {k: v for k, v in body.items() if k not in ("clientToken", "customerEncryptionKeyArn")}
    if update is not None:
        body.setdefault("name", update)
        if body["name"] != update:
            raise AwsError(
                400,
                "ValidationException",
                f"name={body['name']!r} is invalid: a "
                f"prompt cannot be renamed (it is {update!r}). Keep the name.",
            )
    prompt = prompt_from_bedrock(body, bindings=bindings)
    if update is None:
        registry.create(prompt.name, prompt.body, description=prompt.description, tags=prompt.tags)
    else:
        registry.draft(update)  # 404 for a prompt that does not exist
        registry.update_draft(update, prompt.body)
        registry.set_description(update, prompt.description)
    return _prompt_answer(registry, prompt.name, None)


@router.post("/prompts/", status_code=201, summary="CreatePrompt (bedrock-agent)")
async def create_prompt(request: Request, _key: PromptsWriteKey) -> Any:
    """Scope ``prompts:write``. The prompt is created with a draft (version ``DRAFT``)."""
    state = service(request)
    body = await _body(request)
    answer = await run_in_threadpool(_create, state.registry("prompts"), body, _bindings(state))
    return JSONResponse(answer, status_code=201)


@router.get("/prompts/{identifier:path}/", summary="GetPrompt (bedrock-agent)")
async def get_prompt(
    identifier: str, request: Request, _key: PromptsReadKey, promptVersion: str | None = None
) -> Any:
    """Scope ``prompts:read``. The draft, or the version ``promptVersion`` names."""
    name, in_arn = _name_and_version(identifier, "prompt")
    registry = service(request).registry("prompts")
    return await run_in_threadpool(_prompt_answer, registry, name, promptVersion or in_arn)


@router.put("/prompts/{identifier:path}/", summary="UpdatePrompt (bedrock-agent)")
async def update_prompt(identifier: str, request: Request, _key: PromptsWriteKey) -> Any:
    """Scope ``prompts:write``. Replaces the draft; versions stay."""
    name, _ = _name_and_version(identifier, "prompt")
    state = service(request)
    body = await _body(request)
    registry = state.registry("prompts")
    return await run_in_threadpool(_create, registry, body, _bindings(state), update=name)


@router.delete("/prompts/{identifier:path}/", summary="DeletePrompt (bedrock-agent)")
async def delete_prompt(
    identifier: str, request: Request, _key: PromptsWriteKey, promptVersion: str | None = None
) -> Any:
    """Scope ``prompts:write``. The whole prompt, or one version (``promptVersion``)."""
    name, in_arn = _name_and_version(identifier, "prompt")
    version = promptVersion or in_arn
    registry = service(request).registry("prompts")
    if version is None or version.upper() == "DRAFT":
        await run_in_threadpool(registry.delete, name)
        return {"id": name, "version": "DRAFT"}
    number = int(_ref(name, version).rsplit("@", 1)[1])
    await run_in_threadpool(lambda: registry.delete_version(name, number, force=True))
    return {"id": name, "version": str(number)}


def page(items: list[dict[str, Any]], max_results: int | None, token: str | None) -> dict[str, Any]:
    start = 0
    if token:
        if not token.isdigit() or len(token) > 9:
            raise AwsError(
                400,
                "ValidationException",
                f"nextToken={token[:20]!r} is invalid: pass the nextToken of the previous answer.",
            )
        start = int(token)
    size = max_results or 1000
    if not 1 <= size <= 1000:
        raise AwsError(
            400,
            "ValidationException",
            f"maxResults={size} is invalid: it is 1 to 1000. Pass a smaller number.",
        )
    found: dict[str, Any] = {"items": items[start : start + size]}
    if start + size < len(items):
        found["nextToken"] = str(start + size)
    return found


def _summaries(registry: Any, identifier: str | None) -> list[dict[str, Any]]:
    out = []
    names = [_name_and_version(identifier, "prompt")[0]] if identifier else registry.names()
    for name in names:
        draft = registry.draft(name)
        base = {"name": name, "id": name}
        if draft.description:
            base["description"] = draft.description
        stamps = {"createdAt": draft.updated_at, "updatedAt": draft.updated_at}
        out.append({**base, "arn": f"{ARN_PREFIX}:prompt/{name}", "version": "DRAFT", **stamps})
        if identifier:  # one prompt: its versions too
            for version in registry.versions(name):
                stamps = {"createdAt": version.created_at, "updatedAt": version.created_at}
                arn = f"{ARN_PREFIX}:prompt/{name}:{version.number}"
                out.append({**base, "arn": arn, "version": str(version.number), **stamps})
    return out


@router.get("/prompts/", summary="ListPrompts (bedrock-agent)")
async def list_prompts(
    request: Request,
    _key: PromptsReadKey,
    promptIdentifier: str | None = None,
    maxResults: int | None = None,
    nextToken: str | None = None,
) -> Any:
    """Scope ``prompts:read``. Every prompt's draft; with ``promptIdentifier``, that
    prompt's draft and versions."""
    registry = service(request).registry("prompts")
    items = await run_in_threadpool(_summaries, registry, promptIdentifier)
    found = page(items, maxResults, nextToken)
    answer: dict[str, Any] = {"promptSummaries": found["items"]}
    if "nextToken" in found:
        answer["nextToken"] = found["nextToken"]
    return answer


@router.post("/prompts/{identifier:path}/versions", status_code=201, summary="CreatePromptVersion")
async def create_prompt_version(identifier: str, request: Request, _key: PromptsWriteKey) -> Any:
    """Scope ``prompts:write``. Commits the draft as the next version."""
    name, _ = _name_and_version(identifier, "prompt")
    body = await _body(request)
    message = body.get("description", "") if isinstance(body, dict) else ""
    if not isinstance(message, str):
        raise AwsError(400, "ValidationException", "description is invalid: it must be a string.")
    registry = service(request).registry("prompts")

    def commit() -> dict[str, Any]:
        version = registry.commit(name, message)
        return _prompt_answer(registry, name, str(version.number))

    return JSONResponse(await run_in_threadpool(commit), status_code=201)
