"""The routes every versioned store gets (prompts and flows): drafts, versions, labels.

``add_store_routes(router, open_store, read_scope, write_scope)`` adds, under the router's
prefix ``/v1/<plural>``::

    GET    /                         names, with their labels
    POST   /                         create (draft only)                       201
    GET    /{name}                   draft, version numbers, labels            ETag
    DELETE /{name}                   delete with every version
    GET    /{name}/draft             the draft and its revision                ETag
    PUT    /{name}/draft             replace the draft                 If-Match, ETag
    GET    /{name}/versions          every version
    POST   /{name}/versions          commit the draft as the next version   If-Match, 201
    GET    /{name}/versions/{n}      one version
    DELETE /{name}/versions/{n}      delete it (?force=true when a label points at it)
    GET    /{name}/labels            label -> version
    PUT    /{name}/labels/{label}    point a label at a version
    DELETE /{name}/labels/{label}    remove a label

Optimistic concurrency: the draft's ``revision`` is its ETag (``ETag: "3"``). A draft
write or a commit sent with ``If-Match: "3"`` (or ``"base_revision": 3`` in the body)
happens only while the draft is at revision 3; otherwise the answer is 409 naming the
current revision and nothing is written. Without either, the last writer wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tessera._validation import short_repr
from tessera.llm.serve._http import ApiError, ServiceState, require, service

__all__ = [
    "CommitBody",
    "CreateBody",
    "DraftBody",
    "LabelBody",
    "add_store_routes",
    "base_revision",
    "etag",
]

_BASE_REVISION = Field(
    default=None,
    description="The draft revision this request was made on (its ETag, unquoted): the "
    "request is refused with 409 when the draft has changed since. Same as If-Match.",
)
IfMatch = Annotated[
    str | None,
    Header(
        description='The ETag of the draft read (`"3"`): refused with 409 when the draft has '
        "changed since. `*` matches any draft."
    ),
]
# A strong entity tag as this service writes it ("3"); the bare number is accepted too.
_ETAG = re.compile(r'"([0-9]{1,19})"|([0-9]{1,19})')


def etag(revision: int) -> str:
    """The ``ETag`` header value of a draft revision: ``"3"``."""
    return f'"{revision}"'


def base_revision(if_match: str | None, in_body: int | None) -> int | None:
    """The revision a write is conditional on, from ``If-Match`` and the body's field.

    ``None`` when neither is given (or ``If-Match: *``). The store checks the range
    (``tessera.llm._versioned.check_number``).

    Raises
    ------
    ApiError
        400: ``If-Match`` is not one ETag of a draft, or it differs from ``base_revision``.
    """
    from_header: int | None = None
    if if_match is not None and if_match.strip() != "*":
        found = _ETAG.fullmatch(if_match.strip())
        if found is None:
            raise ApiError(
                400,
                f"If-Match={short_repr(if_match)} is invalid: it takes the one ETag of the "
                f'draft you read, such as "3" (a weak W/ tag or a list never matches). Read '
                f"the draft (GET .../draft) and send its ETag.",
                param="If-Match",
            )
        from_header = int(found.group(1) or found.group(2))
    if from_header is not None and in_body is not None and from_header != in_body:
        raise ApiError(
            400,
            f"If-Match={if_match!r} and base_revision={in_body} disagree: send one of them.",
            param="base_revision",
        )
    return from_header if from_header is not None else in_body


class CreateBody(BaseModel):
    """``POST /v1/<plural>``: a new document, its draft body, description and tags."""

    model_config = ConfigDict(extra="forbid")
    name: str
    body: dict[str, Any]
    description: str = ""
    tags: list[str] = Field(default_factory=list)


class DraftBody(BaseModel):
    """``PUT /v1/<plural>/{name}/draft``: the new body, and the revision it was made on."""

    model_config = ConfigDict(extra="forbid")
    body: dict[str, Any]
    base_revision: int | None = _BASE_REVISION


class CommitBody(BaseModel):
    """``POST /v1/<plural>/{name}/versions``: the commit message, and the draft revision."""

    model_config = ConfigDict(extra="forbid")
    message: str = ""
    base_revision: int | None = _BASE_REVISION


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
    async def create(body: CreateBody, request: Request, response: Response) -> dict[str, Any]:
        draft = await call(
            request, "create", body.name, body.body, description=body.description, tags=body.tags
        )
        response.headers["ETag"] = etag(draft.revision)
        return asdict(draft)

    @router.get(
        "/{name}",
        dependencies=reads,
        description=read_doc,
        summary="Draft, version numbers and labels",
    )
    async def show(name: str, request: Request, response: Response) -> dict[str, Any]:
        """The ETag is the draft's revision (If-Match of draft writes and commits)."""

        def collect(store: Any) -> dict[str, Any]:
            return {
                "draft": asdict(store.draft(name)),
                "versions": [v.number for v in store.versions(name)],
                "labels": store.labels(name),
            }

        found = await run_in_threadpool(collect, open_store(service(request)))
        response.headers["ETag"] = etag(found["draft"]["revision"])
        return found

    @router.delete(
        "/{name}", dependencies=writes, description=write_doc, summary="Delete with every version"
    )
    async def delete(name: str, request: Request) -> dict[str, Any]:
        await call(request, "delete", name)
        return {"deleted": name}

    @router.get(
        "/{name}/draft",
        dependencies=reads,
        description=read_doc + " The ETag header is the draft's revision.",
        summary="The draft and its revision",
    )
    async def draft(name: str, request: Request, response: Response) -> dict[str, Any]:
        found = await call(request, "draft", name)
        response.headers["ETag"] = etag(found.revision)
        return asdict(found)

    @router.put(
        "/{name}/draft",
        dependencies=writes,
        description=write_doc + " With If-Match (or base_revision): 409 when the draft has "
        "changed since that revision. The ETag header is the new revision.",
        summary="Replace the draft",
    )
    async def update_draft(
        name: str, body: DraftBody, request: Request, response: Response, if_match: IfMatch = None
    ) -> dict[str, Any]:
        base = base_revision(if_match, body.base_revision)
        written = await call(request, "update_draft", name, body.body, base_revision=base)
        response.headers["ETag"] = etag(written.revision)
        return asdict(written)

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
        description=write_doc + " With If-Match (or base_revision) the version holds exactly "
        "that draft revision, or the answer is 409 and nothing is committed.",
        summary="Commit the draft",
    )
    async def commit(
        name: str, body: CommitBody, request: Request, if_match: IfMatch = None
    ) -> dict[str, Any]:
        base = base_revision(if_match, body.base_revision)
        return asdict(await call(request, "commit", name, body.message, base_revision=base))

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

    del list_names, create, show, delete, draft, update_draft, versions, commit, version
    del delete_version, labels, set_label, delete_label
