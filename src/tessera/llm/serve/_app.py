"""The FastAPI application: its guards, the admin routes, and the routers of each area."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict

from tessera import __version__
from tessera._validation import bad_value, check_positive_int
from tessera.llm.serve._audit import AuditLog
from tessera.llm.serve._edge import CatchAllMiddleware
from tessera.llm.serve._http import AdminKey, ServiceState, install_error_handlers, service
from tessera.llm.serve._keys import KeyStore
from tessera.llm.serve._middleware import AuditMiddleware, AuthMiddleware, BodyLimitMiddleware
from tessera.llm.serve._ratelimit import RateLimit, RateLimiter

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

#: The default request body limit: 1 MiB.
DEFAULT_MAX_BODY_BYTES = 1 << 20

admin = APIRouter(prefix="/v1", tags=["admin"])


class NewKey(BaseModel):
    """The body of ``POST /v1/keys``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    scopes: list[str]


@admin.get("/keys", summary="List API keys (never their secrets)")
def get_keys(request: Request, _key: AdminKey) -> list[dict[str, Any]]:
    """Scope ``admin``."""
    return [asdict(record) for record in service(request).keys.list()]


@admin.post("/keys", status_code=201, summary="Create an API key (returned once)")
def post_key(body: NewKey, request: Request, _key: AdminKey) -> dict[str, Any]:
    """Scope ``admin``. The answer holds the new key; it is not stored and not shown again."""
    store = service(request).keys
    key_id, key = store.create(body.name, body.scopes)
    return {**asdict(store.get(key_id)), "key": key}


@admin.delete("/keys/{key_id}", summary="Revoke an API key")
def delete_key(key_id: str, request: Request, _key: AdminKey) -> Any:
    """Scope ``admin``. The key stays listed with its revocation time."""
    return asdict(service(request).keys.revoke(key_id))


@admin.post(
    "/keys/{key_id}/aws-credentials",
    status_code=201,
    summary="Issue AWS credentials (SigV4, for boto3) for a key (returned once)",
)
def post_aws_credentials(key_id: str, request: Request, _key: AdminKey) -> dict[str, str]:
    """Scope ``admin``. The secret is stored encrypted and not shown again (issue 23)."""
    from tessera.llm.serve._bedrock_auth import credential_store

    issued = credential_store(service(request)).issue(key_id)
    return {
        "key_id": issued.key_id,
        "access_key_id": issued.access_key_id,
        "secret_access_key": issued.secret_access_key,
    }


@admin.get("/audit", summary="The audit log of writes, newest first")
def get_audit(
    request: Request,
    _key: AdminKey,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    key_id: str | None = None,
    after_id: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> list[dict[str, Any]]:
    """Scope ``admin``. Who (key id and name), what (method, path), when, and the status."""
    entries = service(request).audit.entries(limit=limit, key_id=key_id, after_id=after_id)
    return [asdict(entry) for entry in entries]


async def _health() -> dict[str, str]:
    # On the event loop: liveness must not wait for a free worker thread.
    return {"status": "ok", "version": __version__}


def create_app(
    *,
    db_path: str | Path | None = None,
    models: Sequence[str] = ("tessera",),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    rate_limit: RateLimit | None = None,
    allowed_code: Sequence[str] = (),
    retrieval_roots: Sequence[str | Path] = (),
    storage_roots: Sequence[str | Path] = (),
    guardrail: str | None = None,
    bedrock_models: Mapping[str, str] | None = None,
    bedrock_bindings: str | Path | None = None,
) -> FastAPI:
    """The tessera HTTP service as a FastAPI application (run it with uvicorn).

    Parameters
    ----------
    db_path : str or Path or None, default=None
        The database with the keys, audit log, prompts, flows and traces; None for
        ``$TESSERA_HOME/tessera.db``.
    models : sequence of str, default=("tessera",)
        Model ids (:func:`tessera.llm.backends.get_backend`) that chat completions may
        name; the first is the default. Only these: a client cannot make the server load
        an arbitrary path.
    max_body_bytes : int, default=1 MiB
        Larger request bodies are refused with 413.
    rate_limit : RateLimit or None, default=None
        Per-key token bucket; None for ``RateLimit()`` (10 per second, bursts of 40).
    allowed_code : sequence of str, default=()
        What flows' Code nodes may call: ``"package.module:function"`` (that function) or
        ``"package.module:*"`` (the public functions defined in that module, not the names
        it imports, its classes or its ``_private`` helpers); none by default. Validating,
        saving and running a flow all check it.
    retrieval_roots : sequence of str or Path, default=()
        Folders flows' Retrieval nodes may read inside of, besides the knowledge folders
        shipped with tessera; a flow naming another folder is refused at validate, save
        and run (422).
    storage_roots : sequence of str or Path, default=()
        Folders flows' Storage nodes may write and read ``<key>.json``/``<key>.txt``
        inside of; none by default, so a flow with a Storage node is refused at validate,
        save and run (422) until the operator names where flows may write.
    guardrail : str or None, default=None
        A stored guardrail (``NAME``, ``NAME@3``, ``NAME@label``) applied to every chat
        completion, whatever the key's scopes; a request may not name another. It must
        exist when the app is created (checked) and must not need a grounding source.
    bedrock_models : mapping of str to str or None, default=None
        Bedrock model ids (``anthropic.claude-3-haiku-20240307-v1:0``) that the Bedrock
        routes answer with one of ``models``, so that an app runs unchanged; the served
        ids themselves are always accepted.
    bedrock_bindings : str or Path or None, default=None
        A bindings file (:func:`tessera.llm.bedrock.load_bindings`) for the Bedrock
        flows this service stores and runs: knowledge bases, S3 buckets and Lambda
        functions mapped to local folders and allow-listed functions.

    Returns
    -------
    fastapi.FastAPI
        Every route but ``/openapi.json`` and ``/healthz`` needs
        ``Authorization: Bearer <key>``.
    """
    max_body_bytes = check_positive_int("max_body_bytes", max_body_bytes)
    served = _check_models(models)
    if rate_limit is not None and not isinstance(rate_limit, RateLimit):
        raise bad_value(
            "rate_limit", rate_limit, "it must be a RateLimit", "Pass RateLimit(10, burst=40)."
        )
    path = str(db_path) if db_path is not None else None
    state = ServiceState(
        keys=KeyStore(path),
        audit=AuditLog(path),
        limiter=RateLimiter(rate_limit or RateLimit()),
        models=served,
        db_path=path,
        allowed_code=_check_code(allowed_code),
        retrieval_roots=_check_roots(retrieval_roots),
        guardrail=_check_guardrail(guardrail, path),
    )
    app = FastAPI(
        title="tessera",
        version=__version__,
        summary="Prompts, flows and OpenAI-compatible chat completions on local models.",
        docs_url=None,  # the interactive pages load scripts from a CDN; the JSON suffices
        redoc_url=None,
    )
    from tessera.llm.serve import _chat, _flows_routes, _guard_routes, _prompts_routes

    _flows_routes.set_storage_roots(state, storage_roots)
    state.extras["bedrock_models"] = _check_bedrock_models(bedrock_models, served)
    if bedrock_bindings is not None:
        from tessera.llm.bedrock import load_bindings

        state.extras["bedrock_bindings"] = load_bindings(bedrock_bindings)
    app.state.tessera = state
    install_error_handlers(app)
    app.add_api_route("/healthz", _health, methods=["GET"], summary="Liveness (no key)")
    app.include_router(_chat.router)
    app.include_router(_prompts_routes.router)
    app.include_router(_flows_routes.router)
    app.include_router(_guard_routes.router)
    app.include_router(admin)
    from tessera.llm.serve import (
        _bedrock_agent_routes,
        _bedrock_customization_routes,
        _bedrock_flow_routes,
        _bedrock_guardrail_routes,
        _bedrock_routes,
    )

    app.include_router(_bedrock_routes.router)
    app.include_router(_bedrock_agent_routes.router)
    app.include_router(_bedrock_guardrail_routes.router)
    app.include_router(_bedrock_flow_routes.router)
    app.include_router(_bedrock_customization_routes.router)
    # add_middleware puts each new one outside the previous ones.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(AuthMiddleware, state=state, max_body_bytes=max_body_bytes)
    app.add_middleware(AuditMiddleware, state=state)
    # Outermost too: what escapes a middleware above is answered in the error shape.
    app.add_middleware(CatchAllMiddleware)
    return app


def _check_guardrail(guardrail: str | None, db_path: str | None) -> str | None:
    """Fail at start-up, not at the first request, on a guardrail that cannot apply."""
    if guardrail is None:
        return None
    from tessera.llm.serve._guard_routes import GuardrailStore

    store = GuardrailStore(db_path)
    config, _ = store.config(guardrail)  # NotFoundError / InvalidInputError name the ref
    grounding = config.grounding
    if grounding is not None and grounding.grounding_threshold is not None:
        raise bad_value(
            "guardrail",
            guardrail,
            "a guardrail enforced on every chat completion cannot check grounding: requests "
            "carry no reference text",
            "Use a guardrail whose grounding.grounding_threshold is null.",
        )
    return guardrail


def _check_bedrock_models(
    bound: Mapping[str, str] | None, served: tuple[str, ...]
) -> dict[str, str]:
    checked = dict(bound or {})
    for bedrock_id, model in checked.items():
        if model not in served:
            raise bad_value(
                "bedrock_models",
                {bedrock_id: model},
                f"{model!r} is not one of the served models {list(served)}",
                "Bind each Bedrock model id to a served model.",
            )
    return checked


def _check_code(allowed_code: Sequence[str]) -> tuple[str, ...]:
    from tessera.llm.flows._policy import check_allowed_code

    return check_allowed_code(allowed_code)


def _check_roots(retrieval_roots: Sequence[str | Path]) -> tuple[Path, ...]:
    from tessera.llm.flows._policy import check_retrieval_roots

    return check_retrieval_roots(retrieval_roots)


def _check_models(models: Sequence[str]) -> tuple[str, ...]:
    if isinstance(models, str):
        models = (models,)
    served = tuple(models)
    if not served or not all(isinstance(m, str) and m.strip() for m in served):
        raise bad_value(
            "models",
            models,
            "it must be a non-empty list of model ids",
            "Pass ('tessera',) or ('tessera:/path/to/model',).",
        )
    if len(set(served)) != len(served):
        raise bad_value("models", models, "model ids must be distinct", "Drop the repeats.")
    return served
