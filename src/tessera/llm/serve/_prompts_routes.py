"""``/v1/prompts``: the prompt registry over HTTP (:class:`tessera.llm.prompts.PromptRegistry`).

Besides the versioned-store routes (:mod:`._store_routes`): render a prompt with
variables (``POST /v1/prompts/{ref}/render``), run its variants side by side
(``POST /v1/prompts/{ref}/run``) and compare two (``GET /v1/prompts/{ref}/diff/{other}``).
References are ``NAME``, ``NAME@3``, ``NAME@production``, ``NAME@latest``, ``NAME@draft``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tessera.llm.serve._http import ApiError, PromptsReadKey, ServiceState, service
from tessera.llm.serve._store_routes import add_store_routes

__all__ = ["RenderBody", "RunBody", "open_prompts", "router"]

router = APIRouter(prefix="/v1/prompts", tags=["prompts"])


def open_prompts(state: ServiceState) -> Any:
    """The service's :class:`~tessera.llm.prompts.PromptRegistry`."""
    return state.registry("prompts")


class RenderBody(BaseModel):
    """``POST /v1/prompts/{ref}/render``: the template's variables."""

    model_config = ConfigDict(extra="forbid")
    variables: dict[str, Any] = Field(default_factory=dict)


@router.post("/{ref}/render", summary="Render a prompt with variables")
async def render(
    ref: str, body: RenderBody, request: Request, _key: PromptsReadKey
) -> dict[str, Any]:
    """Scope ``prompts:read``. A text prompt gives ``{"text"}``, a chat prompt
    ``{"messages"}``; a missing, unknown or mistyped variable is a 400 naming it.
    """
    registry = open_prompts(service(request))
    rendered = await run_in_threadpool(registry.render, ref, body.variables)
    if isinstance(rendered, str):
        return {"ref": ref, "text": rendered}
    return {"ref": ref, "messages": rendered}


class RunBody(RenderBody):
    """``POST /v1/prompts/{ref}/run``: variables, and which variants (default: all)."""

    variants: list[str] | None = None


@router.post("/{ref}/run", summary="Run a prompt's variants side by side")
async def run(ref: str, body: RunBody, request: Request, key: PromptsReadKey) -> dict[str, Any]:
    """Scopes ``prompts:read`` and ``models:invoke``. Each variant's model must be one this
    server serves; the variants run one after the other.
    """
    if not key.allows("models:invoke"):
        raise ApiError(
            403,
            f"key {key.id} may read prompts but not run models: running a prompt also "
            "needs 'models:invoke'.",
        )
    state = service(request)
    registry = open_prompts(state)
    prompt = await run_in_threadpool(registry.prompt, ref)
    names = body.variants if body.variants is not None else [v.name for v in prompt.variants]
    for name in names:
        model = prompt.variant(name).model
        if model not in state.models:
            raise ApiError(
                400,
                f"variant {name!r} of {ref!r} runs on model={model!r}, which this server does "
                f"not serve ({list(state.models)}). Start it with --model {model}, or run "
                "another variant.",
                param="variants",
            )
    runs = await run_in_threadpool(registry.run, ref, body.variables, names)
    return {"ref": ref, "runs": [asdict(r) for r in runs]}


@router.get("/{ref}/diff/{other}", summary="Compare two prompts or two versions of one")
async def diff(ref: str, other: str, request: Request, _key: PromptsReadKey) -> dict[str, Any]:
    """Scope ``prompts:read``. ``/v1/prompts/greet@1/diff/greet@2``: a unified YAML diff
    and the changed fields.
    """
    registry = open_prompts(service(request))
    found = await run_in_threadpool(registry.diff, ref, other)
    return {**asdict(found), "identical": found.identical}


add_store_routes(router, open_prompts, "prompts:read", "prompts:write")
