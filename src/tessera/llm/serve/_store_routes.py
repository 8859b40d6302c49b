"""The routes every versioned store gets (prompts and flows): drafts, versions, labels.

``add_store_routes(router, open_store, read_scope, write_scope)`` adds, under the router's
prefix ``/v1/<plural>``::

    GET    /                         names, with their labels
    POST   /                         create (draft only)                       201
    GET    /{name}                   draft, version numbers, labels
    DELETE /{name}                   delete with every version
    PUT    /{name}/draft             replace the draft
    GET    /{name}/versions          every version
    POST   /{name}/versions          commit the draft as the next version       201
    GET    /{name}/versions/{n}      one version
    DELETE /{name}/versions/{n}      delete it (?force=true when a label points at it)
    GET    /{name}/labels            label -> version
    PUT    /{name}/labels/{label}    point a label at a version
    DELETE /{name}/labels/{label}    remove a label
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tessera.llm.serve._http import ServiceState, require, service

__all__ = ["CommitBody", "CreateBody", "DraftBody", "LabelBody", "add_store_routes"]


class CreateBody(BaseModel):
    """``POST /v1/<plural>``: a new document, its draft body, description and tags."""

    model_config = ConfigDict(extra="forbid")
    name: str
    body: dict[str, Any]
    description: str = ""
    tags: list[str] = Field(default_factory=list)


class DraftBody(BaseModel):
    """``PUT /v1/<plural>/{name}/draft``."""

    model_config = ConfigDict(extra="forbid")
    body: dict[str, Any]


class CommitBody(BaseModel):
    """``POST /v1/<plural>/{name}/versions``: the commit message."""

    model_config = ConfigDict(extra="forbid")
    message: str = ""


class LabelBody(BaseModel):
    """``PUT /v1/<plural>/{name}/labels/{label}``: the version it points at."""

    model_config = ConfigDict(extra="forbid")
    version: int


def add_store_routes(
    router: APIRouter,
    open_store: Callable[[ServiceState], Any],
    read_scope: str,
    write_scope: str,
) -> None:
    """Add the versioned-store routes to ``router`` (whose prefix is ``/v1/<plural>``).

    Parameters
    ----------
    router : APIRouter
        Gets the routes.
    open_store : callable
        ``ServiceState -> VersionedStore`` (a :class:`PromptRegistry`, a :class:`FlowRegistry`).
    read_scope, write_scope : str
        The scopes that reading and changing need (``"prompts:read"``, ...).
    """

    async def call(request: Request, method: str, *args: Any, **kwargs: Any) -> Any:
        # SQLite calls block (a writer may wait for the lock): never on the event loop.
        store = open_store(service(request))
        return await run_in_threadpool(getattr(store, method), *args, **kwargs)

    reads, read_doc = [require(read_scope)], f"Scope `{read_scope}`."
    writes, write_doc = [require(write_scope)], f"Scope `{write_scope}`."

    @router.get("", dependencies=reads, description=read_doc, summary="Names, with their labels")
    async def list_names(request: Request) -> list[dict[str, Any]]:
        def collect(store: Any) -> list[dict[str, Any]]:
            return [{"name": n, "labels": store.labels(n)} for n in store.names()]

        return await run_in_threadpool(collect, open_store(service(request)))

    @router.post(
        "", status_code=201, dependencies=writes, description=write_doc, summary="Create (a draft)"
    )
    async def create(body: CreateBody, request: Request) -> dict[str, Any]:
        draft = await call(
            request, "create", body.name, body.body, description=body.description, tags=body.tags
        )
        return asdict(draft)

    @router.get(
        "/{name}",
        dependencies=reads,
        description=read_doc,
        summary="Draft, version numbers and labels",
    )
    async def show(name: str, request: Request) -> dict[str, Any]:
        def collect(store: Any) -> dict[str, Any]:
            return {
                "draft": asdict(store.draft(name)),
                "versions": [v.number for v in store.versions(name)],
                "labels": store.labels(name),
            }

        return await run_in_threadpool(collect, open_store(service(request)))

    @router.delete(
        "/{name}", dependencies=writes, description=write_doc, summary="Delete with every version"
    )
    async def delete(name: str, request: Request) -> dict[str, Any]:
        await call(request, "delete", name)
        return {"deleted": name}

    @router.put(
        "/{name}/draft", dependencies=writes, description=write_doc, summary="Replace the draft"
    )
    async def update_draft(name: str, body: DraftBody, request: Request) -> dict[str, Any]:
        return asdict(await call(request, "update_draft", name, body.body))

    @router.get(
        "/{name}/versions",
        dependencies=reads,
        description=read_doc,
        summary="Every version, oldest first",
    )
    async def versions(name: str, request: Request) -> list[dict[str, Any]]:
        return [asdict(v) for v in await call(request, "versions", name)]

    @router.post(
        "/{name}/versions",
        status_code=201,
        dependencies=writes,
        description=write_doc,
        summary="Commit the draft",
    )
    async def commit(name: str, body: CommitBody, request: Request) -> dict[str, Any]:
        return asdict(await call(request, "commit", name, body.message))

    @router.get(
        "/{name}/versions/{number}", dependencies=reads, description=read_doc, summary="One version"
    )
    async def version(name: str, number: int, request: Request) -> dict[str, Any]:
        return asdict(await call(request, "get", name, number))

    @router.delete(
        "/{name}/versions/{number}",
        dependencies=writes,
        description=write_doc,
        summary="Delete a version",
    )
    async def delete_version(
        name: str, number: int, request: Request, force: bool = False
    ) -> dict[str, Any]:
        await call(request, "delete_version", name, number, force=force)
        return {"deleted": f"{name}@{number}"}

    @router.get(
        "/{name}/labels",
        dependencies=reads,
        description=read_doc,
        summary="Label -> version number",
    )
    async def labels(name: str, request: Request) -> dict[str, int]:
        found: dict[str, int] = await call(request, "labels", name)
        return found

    @router.put(
        "/{name}/labels/{label}",
        dependencies=writes,
        description=write_doc,
        summary="Point a label",
    )
    async def set_label(name: str, label: str, body: LabelBody, request: Request) -> dict[str, int]:
        await call(request, "set_label", name, label, body.version)
        found: dict[str, int] = await call(request, "labels", name)
        return found

    @router.delete(
        "/{name}/labels/{label}",
        dependencies=writes,
        description=write_doc,
        summary="Remove a label",
    )
    async def delete_label(name: str, label: str, request: Request) -> dict[str, int]:
        await call(request, "delete_label", name, label)
        found: dict[str, int] = await call(request, "labels", name)
        return found

    del list_names, create, show, delete, update_draft, versions, commit, version
    del delete_version, labels, set_label, delete_label
