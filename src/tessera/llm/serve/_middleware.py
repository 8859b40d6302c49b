"""The service's guards, as plain ASGI middleware, outermost first.

1. :class:`AuditMiddleware` records every state-changing request with its final status
   (refusals by the guards below included).
2. :class:`AuthMiddleware` admits only requests with a valid key (401 otherwise) and takes
   a token from the key's bucket (429 with ``Retry-After`` when it is empty), before any
   of the body is read.
3. :class:`BodyLimitMiddleware` refuses bodies over the size limit (413), by their
   ``Content-Length`` up front and by counting the bytes of a chunked body.

Scope checks (403) are per route (:func:`tessera.llm.serve._http.require`).
"""

from __future__ import annotations

import logging
import math

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.llm.serve._http import KEY_STATE, ServiceState, error_response
from tessera.llm.serve._keys import AuthenticationError, KeyRecord

__all__ = ["PUBLIC_PATHS", "AuditMiddleware", "AuthMiddleware", "BodyLimitMiddleware"]

logger = logging.getLogger("tessera.llm.serve")

#: Paths anyone may read: the OpenAPI document and the liveness check.
PUBLIC_PATHS = frozenset({"/openapi.json", "/healthz"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class AuditMiddleware:
    """Write one audit row per POST/PUT/PATCH/DELETE, before its response goes out."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READ_METHODS:
            await self.app(scope, receive, send)
            return
        recorded = False

        async def record(status: int) -> None:
            nonlocal recorded
            recorded = True
            key: KeyRecord | None = scope.get("state", {}).get(KEY_STATE)
            await run_in_threadpool(
                self.state.audit.record,
                method=scope["method"],
                path=scope["path"],
                status=status,
                key_id=key.id if key else None,
                key_name=key.name if key else None,
                client=_client(scope),
            )
            logger.info(
                "%s %s -> %d (key %s)",
                scope["method"],
                scope["path"],
                status,
                key.id if key else "none",
            )

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not recorded:
                await record(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            if not recorded:
                await record(500)
            raise


class AuthMiddleware:
    """Authenticate the bearer key and apply the per-key rate limit."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="tessera"'}
        try:
            if header and scheme.lower() != "bearer":
                raise AuthenticationError(
                    f"the Authorization header uses the {scheme[:20]!r} scheme; send "
                    "'Authorization: Bearer <key>'"
                )
            record = await run_in_threadpool(self.state.keys.authenticate, token.strip() or None)
        except AuthenticationError as exc:
            # Failed attempts are limited per client address: argon2 checks are costly.
            wait = self.state.limiter.acquire(f"client:{_client(scope)}")
            if wait > 0:
                await self._too_many(scope, receive, send, wait, "failed authentications")
                return
            challenge["WWW-Authenticate"] += ', error="invalid_token"' if token else ""
            await error_response(401, str(exc), headers=challenge)(scope, receive, send)
            return
        scope.setdefault("state", {})[KEY_STATE] = record
        wait = self.state.limiter.acquire(f"key:{record.id}")
        if wait > 0:
            await self._too_many(scope, receive, send, wait, f"requests with key {record.id}")
            return
        await self.app(scope, receive, send)

    async def _too_many(
        self, scope: Scope, receive: Receive, send: Send, wait: float, what: str
    ) -> None:
        limit = self.state.limiter.limit
        retry = max(1, math.ceil(wait))
        message = (
            f"too many {what}: the limit is {limit.per_second:g} per second with bursts of "
            f"{limit.burst}. Retry after {retry} s."
        )
        response = error_response(429, message, headers={"Retry-After": str(retry)})
        await response(scope, receive, send)


class BodyLimitMiddleware:
    """413 for request bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self, size: str) -> str:
        return (
            f"the request body is {size} bytes; the limit is {self.max_bytes} bytes. "
            "Send less, or start the server with a larger --max-body-bytes."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                response = error_response(400, f"Content-Length={declared[:20]!r} is not a number")
                await response(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await error_response(413, self._message(declared))(scope, receive, send)
                return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException: FastAPI lets those through from body reading.
                    raise HTTPException(413, self._message(f"more than {received}"))
            return message

        await self.app(scope, counted_receive, send)
