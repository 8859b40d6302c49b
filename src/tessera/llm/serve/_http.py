"""What every route shares: the service state, scope checks and one JSON error shape.

Every error body has the shape of OpenAI's error object, so OpenAI clients show the
message and raise their usual exceptions::

    {"error": {"type": "permission_error", "message": "...", "param": null, "code": null}}

``code`` is OpenAI's string code where OpenAI has one for the case (``invalid_api_key``,
``rate_limit_exceeded``, ``model_not_found``, ``context_length_exceeded``), else null;
the HTTP status is the response's status, never the code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from tessera.errors import ConflictError, MissingExtraError, NotFoundError, TesseraError
from tessera.llm.serve._audit import AuditLog
from tessera.llm.serve._keys import AuthenticationError, KeyRecord, KeyStore
from tessera.llm.serve._ratelimit import RateLimiter

__all__ = [
    "ApiError",
    "OpenAIRoute",
    "ServiceState",
    "error_body",
    "error_response",
    "install_error_handlers",
    "require",
    "service",
    "status_of",
]

#: The OpenAPI security scheme; requests are checked by the auth middleware before this.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key from `tessera keys create NAME --scopes ...`: "
    "`Authorization: Bearer tsk_<id>_<secret>`.",
)

logger = logging.getLogger("tessera.llm.serve")

#: The request-state entry where the auth middleware puts the caller's KeyRecord.
KEY_STATE = "tessera_key"

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "upstream_error",
    503: "unavailable_error",
}

#: OpenAI's string codes for what is the same case whatever the route.
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


#: OpenAI's error object, as /openapi.json documents every error response.
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "Every error: OpenAI's error object, with extra fields where they help "
    "(a flow's `problems`, a failed run's `run_id` and `node`).",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message", "param", "code"],
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


class OpenAIRoute(APIRoute):
    """A route of the OpenAI-compatible API: a body it cannot accept is a 400 (OpenAI's
    status, which its clients raise as ``BadRequestError``), not FastAPI's 422.

    Its operation in /openapi.json is marked ``x-openai-compatible``.
    """

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        kwargs["openapi_extra"] = {
            "x-openai-compatible": True,
            **(kwargs.get("openapi_extra") or {}),
        }
        super().__init__(path, endpoint, **kwargs)


class ApiError(Exception):
    """An error the service answers with ``status`` and a JSON body.

    Parameters
    ----------
    status : int
        The HTTP status.
    message : str
        What went wrong and how to fix it (never a secret).
    param : str or None
        The request field at fault, if any.
    headers : dict, optional
        Extra response headers (``WWW-Authenticate``, ``Retry-After``).
    code : str or None
        OpenAI's error code for the case (see :func:`error_response`).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.headers = headers or {}
        self.code = code


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    code: str | None = None,
) -> JSONResponse:
    """The JSON error body every failure uses: OpenAI's error object.

    Parameters
    ----------
    status : int
        The HTTP status; it sets ``type`` (``invalid_request_error``,
        ``authentication_error``, ...).
    message : str
        What went wrong and how to fix it.
    param : str or None, default=None
        The request field at fault.
    headers : dict or None, default=None
        Extra response headers.
    extra : dict or None, default=None
        Fields added to the error object, such as a flow's ``problems``.
    code : str or None, default=None
        OpenAI's string code; None for the status's own (``invalid_api_key`` for 401,
        ``rate_limit_exceeded`` for 429) or null.
    """
    body = error_body(status, message, param=param, code=code, extra=extra)
    return JSONResponse(body, status_code=status, headers=headers)


def error_body(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"error": {...}}`` as :func:`error_response` sends it (also for errors reported
    inside an event stream, whose status line has gone)."""
    error: dict[str, Any] = {
        "type": _TYPES.get(status, "server_error"),
        "message": message,
        "param": param,
        "code": code or _CODES.get(status),
    }
    return {"error": {**error, **(extra or {})}}


@dataclass
class ServiceState:
    """What the routes of one app share (``app.state.tessera``).

    Attributes
    ----------
    keys : KeyStore
        API keys.
    audit : AuditLog
        The audit log.
    limiter : RateLimiter
        Per-key token buckets.
    models : tuple of str
        Model ids the service answers for; the first is the default.
    db_path : str or None
        The database the registries use (None: ``$TESSERA_HOME/tessera.db``).
    allowed_code : tuple of str
        Code-node functions flows may call (see :func:`tessera.llm.flows.code_allowed`).
    retrieval_roots : tuple of pathlib.Path
        Resolved folders flows' Retrieval nodes may read inside of (the shipped knowledge
        folders and the operator's ``--retrieval-root`` folders).
    guardrail : str or None
        A stored guardrail (``NAME@label``) the operator applies to every chat completion.
    extras : dict
        Registries opened on first use, by area.
    """

    keys: KeyStore
    audit: AuditLog
    limiter: RateLimiter
    models: tuple[str, ...]
    db_path: str | None
    allowed_code: tuple[str, ...] = ()
    retrieval_roots: tuple[Path, ...] = ()
    guardrail: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _model_locks: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def registry(self, area: Literal["prompts", "flows"]) -> Any:
        """The area's registry in the service's database, made once, on first use."""
        found = self.extras.get(area)
        if found is None:
            from tessera.llm.flows import FlowRegistry
            from tessera.llm.prompts import PromptRegistry

            make = PromptRegistry if area == "prompts" else FlowRegistry
            found = self.extras.setdefault(area, make(self.db_path))
        return found

    def model_lock(self, model_id: str) -> asyncio.Semaphore:
        """The admission queue of a model: ``async with`` it around a generation.

        As many generations run at once as the model's backend serves
        (:attr:`~tessera.llm.backends.Backend.max_concurrency`; the local model decodes
        them together); the others wait on the event loop, without a thread, and are let
        in in arrival order (asyncio's semaphore wakes its waiters first in, first out).
        """
        lock = self._model_locks.get(model_id)
        if lock is None:
            from tessera.llm.backends import get_backend

            slots = get_backend(model_id).max_concurrency
            lock = self._model_locks.setdefault(model_id, asyncio.Semaphore(slots))
        return lock


def service(request: Request) -> ServiceState:
    """The :class:`ServiceState` of the app serving ``request``."""
    state: ServiceState = request.app.state.tessera
    return state


def require(scope: str) -> Any:
    """A dependency that admits keys granting ``scope`` (403 otherwise) and returns the key."""

    def check(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> KeyRecord:
        record: KeyRecord | None = request.scope.get("state", {}).get(KEY_STATE)
        if record is None:  # the auth middleware admits no request without a key
            raise ApiError(401, "no API key was sent", headers={"WWW-Authenticate": "Bearer"})
        if not record.allows(scope):
            held = ", ".join(record.scopes)
            needs = repr(scope) if scope == "admin" else f"{scope!r} (or 'admin')"
            raise ApiError(
                403,
                f"key {record.id} ({record.name!r}) has scopes [{held}]; this request needs "
                f"{needs}. Create a key with `tessera keys create NAME --scopes {scope}`.",
            )
        return record

    return Depends(check)


#: Route parameters that admit a key with the named scope (and return its record).
AdminKey = Annotated[KeyRecord, require("admin")]
ModelsKey = Annotated[KeyRecord, require("models:invoke")]
PromptsReadKey = Annotated[KeyRecord, require("prompts:read")]
PromptsWriteKey = Annotated[KeyRecord, require("prompts:write")]
FlowsReadKey = Annotated[KeyRecord, require("flows:read")]
FlowsWriteKey = Annotated[KeyRecord, require("flows:write")]
FlowsInvokeKey = Annotated[KeyRecord, require("flows:invoke")]


def _validation_message(errors: Sequence[Any]) -> tuple[str, str | None]:
    parts: list[str] = []
    first: str | None = None
    sources = {str(error.get("loc", ("body",))[0]) for error in errors}
    for error in errors[:5]:
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]  # the field's own name, as OpenAI's param gives it
        where = ".".join(str(p) for p in loc)
        first = first or where or None
        value = error.get("input")
        shown = json.dumps(value, default=str)[:60] if "input" in error else ""
        detail = f"{where}={shown}" if where else "the body"
        parts.append(f"{detail} is invalid: {error.get('msg', 'invalid')}")
    if len(errors) > 5:
        parts.append(f"... and {len(errors) - 5} more")
    what = "request body" if sources == {"body"} else "request"
    return "; ".join(parts) + f". Fix the {what} (see /openapi.json).", first


def _not_json_message(error: Any, document: Any) -> str:
    """ "The body is not valid JSON", where, and why (``error``: FastAPI's json_invalid)."""
    position = error.get("loc", ("body", 0))[-1]
    why = (error.get("ctx") or {}).get("error", "JSON decode error")
    if isinstance(document, str | bytes) and isinstance(position, int):
        text = document if isinstance(document, str) else document.decode("utf-8", "replace")
        line = text.count("\n", 0, position) + 1
        column = position - text.rfind("\n", 0, position)
        where = f"line {line} column {column} (char {position})"
    else:
        where = f"char {position}"
    return f"the body is not valid JSON: {why} at {where}. Send one JSON object."


def _is_openai_route(request: Request) -> bool:
    return isinstance(request.scope.get("route"), OpenAIRoute)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure in the JSON error shape, with the status its cause maps to.

    Library errors map through :func:`status_of`; a body FastAPI cannot validate is a
    422 (400 on the OpenAI routes, :class:`OpenAIRoute`), a body that is not JSON a 400
    saying where. Two middlewares, innermost, complete it
    (:mod:`tessera.llm.serve._edge`): bodies holding lone UTF-16 surrogates are refused
    with 400, and an unexpected exception is a logged 500 in the same shape.
    """
    from tessera.llm.serve._edge import CatchAllMiddleware, TextBodyMiddleware, unexpected_message

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(
            exc.status, exc.message, param=exc.param, headers=exc.headers, code=exc.code
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        from tessera.llm.serve._aws import aws_error_response, is_aws_request

        if is_aws_request(request.scope):  # a Bedrock path no route matched (issue 23)
            return aws_error_response(exc.status_code, str(exc.detail))
        headers = dict(exc.headers) if exc.headers else None
        message = str(exc.detail)
        cause = exc.__cause__
        if isinstance(cause, UnicodeDecodeError):  # FastAPI's "error parsing the body"
            message = (
                f"the body is not valid UTF-8 (byte {cause.start}: {cause.reason}). "
                "Send JSON encoded as UTF-8."
            )
        param = getattr(exc, "param", None)
        return error_response(exc.status_code, message, headers=headers, param=param)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        if errors and errors[0].get("type") == "json_invalid":
            return error_response(400, _not_json_message(errors[0], exc.body))
        message, param = _validation_message(errors)
        return error_response(400 if _is_openai_route(request) else 422, message, param=param)

    async def on_tessera(_: Request, exc: Exception) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        extra: dict[str, Any] = {}
        problems = getattr(exc, "problems", None)
        if problems is not None:  # a flow's validation problems, each with node and field
            extra["problems"] = [
                {"node": p.node, "field": p.field, "message": p.message} for p in problems
            ]
        if getattr(exc, "run_id", None):  # a failed flow run: its trace is stored
            extra["run_id"] = exc.run_id  # type: ignore[attr-defined]
            extra["node"] = getattr(exc, "node", None)
        code = code_of(exc)
        # "max_tokens=300 is invalid: ..." names the field (the backend names this API's).
        param = str(exc).split("=", 1)[0] if code == "context_length_exceeded" else None
        return error_response(
            status, str(exc), headers=headers, extra=extra, code=code, param=param
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only what escapes the outer middlewares comes here (a route's own failures are
        # answered by CatchAllMiddleware); Starlette then raises it on and closes the
        # connection.
        incident = uuid.uuid4().hex[:12]
        logger.error(
            "unexpected error (incident %s) in %s %s",
            incident,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return error_response(500, unexpected_message(incident))

    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_errors(generate_openapi())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(TesseraError, on_tessera)
    app.add_exception_handler(Exception, on_unexpected)
    # Added before any other middleware, so these two sit innermost, next to the routes.
    app.add_middleware(TextBodyMiddleware)
    app.add_middleware(CatchAllMiddleware)


def _document_errors(document: dict[str, Any]) -> None:
    """Document the errors the service answers with, in place of FastAPI's 422 body
    (``{"detail": [...]}``, which this service never sends): every operation's ``default``
    response is the error object; its 422 is 400 on the OpenAI-compatible routes."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            invalid = responses.pop("422", None)
            if operation.get("x-openai-compatible"):
                responses["400"] = {
                    "description": "A request OpenAI would refuse",
                    "content": error,
                }
            elif invalid is not None:
                responses["422"] = {"description": "A body of the wrong shape", "content": error}
            responses["default"] = {"description": "An error (see its status)", "content": error}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):  # in this order
        if f'"#/components/schemas/{unused}"' not in json.dumps(document):
            schemas.pop(unused, None)


def code_of(exc: Exception) -> str | None:
    """OpenAI's error code for a library error, or None where OpenAI has none."""
    from tessera.errors import ContextLengthError

    return "context_length_exceeded" if isinstance(exc, ContextLengthError) else None


def status_of(exc: Exception) -> int:
    """The HTTP status of a library error."""
    if getattr(exc, "problems", None) is not None:  # a flow that breaks rules
        return 422
    from tessera.llm.backends import EndpointError

    checks: list[tuple[type[Exception], int]] = [
        (NotFoundError, 404),
        (ConflictError, 409),
        (AuthenticationError, 401),
        (EndpointError, 502),
        (MissingExtraError, 503),
    ]
    return next((status for kind, status in checks if isinstance(exc, kind)), 400)


def json_default(value: Any) -> Any:
    """``json.dumps`` default for dataclasses, pydantic models and paths in responses."""
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=str)
