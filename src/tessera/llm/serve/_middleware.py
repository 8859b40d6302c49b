"""The service's guards, as plain ASGI middleware, outermost first.

1. :class:`AuditMiddleware` records every state-changing request with its final status
   (refusals by the guards below included).
2. :class:`AuthMiddleware` refuses URLs that carry a key (400: they end up in logs),
   admits only requests with a valid key (401 otherwise) and takes a token from the
   key's bucket (429 with ``Retry-After`` when it is empty), before any of the body is
   read. A key it has not seen pass yet costs an argon2 check, so first it takes a token
   from the failed-login buckets of the client's address and of the key id (429 when
   either is empty, before any hashing; given back when the key passes), then queues
   the check on the key store's few hashing threads (503 when their queue is full).
3. :class:`BodyLimitMiddleware` refuses bodies over the size limit (413), by their
   ``Content-Length`` up front and by counting the bytes of a chunked body.

Scope checks (403) are per route (:func:`tessera.llm.serve._http.require`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from urllib.parse import parse_qsl, quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.llm.serve._http import KEY_STATE, ServiceState, error_response
from tessera.llm.serve._keys import (
    AuthenticationError,
    KeyRecord,
    contains_key,
    key_id_of,
    redact_keys,
)
from tessera.llm.serve._ratelimit import BusyError, FailedLoginLimiter, RateLimit

__all__ = [
    "CREDENTIAL_PARAMS",
    "PUBLIC_PATHS",
    "AuditMiddleware",
    "AuthMiddleware",
    "BodyLimitMiddleware",
]

logger = logging.getLogger("tessera.llm.serve")

#: Paths anyone may read: the OpenAPI document and the liveness check.
PUBLIC_PATHS = frozenset({"/openapi.json", "/healthz"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Query parameters other APIs read credentials from; this service never does, and a
#: URL is written to access logs, proxies' logs and browser history.
CREDENTIAL_PARAMS = frozenset(
    {"access_token", "api-key", "api_key", "apikey", "auth", "authorization", "key", "token"}
)


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
                redact_keys(scope["path"]),
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
    """Refuse keys in URLs, authenticate the bearer key and apply the per-key rate limit.

    Parameters
    ----------
    app : ASGI application
        What admitted requests go to.
    state : ServiceState
        The key store and the per-key request limiter.
    failed_logins : RateLimit or None, default=None
        The failed-login buckets, one per client address and one per key id; None for
        the tighter of the request limit and 1 per second with bursts of 10.
    max_body_bytes : int, default=1 MiB
        The most a SigV4-signed body may hold (the signature covers its SHA-256, so it is
        read here, before the request goes on).
    """

    def __init__(
        self,
        app: ASGIApp,
        state: ServiceState,
        failed_logins: RateLimit | None = None,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        self.app = app
        self.state = state
        self.max_body_bytes = max_body_bytes
        if failed_logins is None:
            limit = state.limiter.limit
            failed_logins = RateLimit(min(limit.per_second, 1.0), burst=min(limit.burst, 10))
        self.failed_logins = FailedLoginLimiter(failed_logins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _key_in_url(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.upper().startswith("AWS4-"):  # boto3's SigV4 (issue 23)
            from tessera.llm.serve._bedrock_auth import admit_sigv4

            await admit_sigv4(self, scope, receive, send, header)
            return
        if not header:  # a presigned SigV4 URL (issue 23)
            from tessera.llm.serve._bedrock_auth import admit_presigned, is_presigned

            if is_presigned(scope):
                await admit_presigned(self, scope, receive, send)
                return
        challenge = {"WWW-Authenticate": 'Bearer realm="tessera"'}
        try:
            if header and scheme.lower() != "bearer":
                raise AuthenticationError(
                    f"the Authorization header uses the {scheme[:20]!r} scheme; send "
                    "'Authorization: Bearer <key>'"
                )
            found = await self._authenticate(scope, token.strip())
        except AuthenticationError as exc:
            challenge["WWW-Authenticate"] += ', error="invalid_token"' if token else ""
            await _refusal(scope, 401, str(exc), challenge)(scope, receive, send)
            return
        if isinstance(found, Response):
            await _in_shape(scope, found)(scope, receive, send)
            return
        scope.setdefault("state", {})[KEY_STATE] = found
        wait = self.state.limiter.acquire(f"key:{found.id}")
        if wait > 0:
            limited = f"requests with key {found.id}"
            refused = _too_many(wait, limited, self.state.limiter.limit)
            await _in_shape(scope, refused)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope, key: str) -> KeyRecord | Response:
        """The key's record, or the response that refuses to check it now (429, 503).

        :class:`AuthenticationError` for a key that is missing, malformed, unknown, wrong
        or revoked.
        """
        keys = self.state.keys
        key_id = key_id_of(key)  # missing or malformed: refused without any hashing
        # Only a key that passed before is worth a worker thread (to read its revocation);
        # wrong keys never occupy one.
        if keys.knows(key):
            record = await run_in_threadpool(keys.cached, key)
            if record is not None:
                return record
        client = _client(scope)
        wait, limited = self.failed_logins.acquire(client, key_id)
        if wait > 0:
            return _too_many(wait, f"failed authentications {limited}", self.failed_logins.limit)
        try:
            future = keys.submit(key)
        except BusyError as exc:
            self.failed_logins.refund(client, key_id)  # nothing was checked
            return error_response(503, str(exc), headers={"Retry-After": "1"})
        # Awaited, not run here: the check runs on the key store's own threads, and the
        # event loop goes on serving other requests meanwhile.
        record = await asyncio.wrap_future(future)
        self.failed_logins.refund(client, key_id)  # a key that passes is no failure
        return record


def _refusal(scope: Scope, status: int, message: str, headers: dict[str, str]) -> Response:
    """A refusal in the shape of the API asked: AWS's on the Bedrock routes."""
    from tessera.llm.serve._aws import aws_error_response, is_aws_request

    if is_aws_request(scope):
        return aws_error_response(403 if status == 401 else status, message, headers=headers)
    return error_response(status, message, headers=headers)


def _in_shape(scope: Scope, response: Response) -> Response:
    """``response`` (an error in the JSON error shape), in AWS's shape on Bedrock routes."""
    from tessera.llm.serve._aws import aws_error_response, is_aws_request

    if not is_aws_request(scope) or not isinstance(response, JSONResponse):
        return response
    message = json.loads(bytes(response.body))["error"]["message"]
    headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
    return aws_error_response(response.status_code, message, headers=headers)


def _too_many(wait: float, what: str, limit: RateLimit) -> Response:
    retry = max(1, math.ceil(wait))
    message = (
        f"too many {what}: the limit is {limit.per_second:g} per second with bursts of "
        f"{limit.burst}. Retry after {retry} s."
    )
    return error_response(429, message, headers={"Retry-After": str(retry)})


def _key_in_url(scope: Scope) -> Response | None:
    """A 400 for a URL that carries a key or a credential parameter; None for others.

    Before answering, the key is redacted from the request's path and query string, so
    that what logs the URL afterwards (the server's access log, the audit log) never
    sees it.
    """
    path = scope["path"]
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    pairs = parse_qsl(query, keep_blank_values=True)
    named = [name for name, value in pairs if name.lower() in CREDENTIAL_PARAMS and value]
    carried = [name for name, value in pairs if contains_key(name) or contains_key(value)]
    in_path = contains_key(path) or contains_key(query)
    if not (named or carried or in_path):
        return None
    cleaned = [
        (redact_keys(name), "[redacted]" if name.lower() in CREDENTIAL_PARAMS else redact_keys(v))
        for name, v in pairs
    ]
    scope["query_string"] = urlencode(cleaned, safe="[]").encode("ascii")
    scope["path"] = redact_keys(path)
    scope["raw_path"] = quote(scope["path"]).encode("ascii")
    where = (named or carried)[0] if named or carried else None
    message = (
        "API keys are not accepted in URLs"
        + (f" (query parameter {where!r})" if where else "")
        + ": URLs are written to access logs, proxies and browser history. Send the key in "
        "the Authorization header: 'Authorization: Bearer <key>'. If this key was sent "
        "in a URL before, revoke it (`tessera keys revoke ID`) and create another."
    )
    return error_response(400, message, param=where)


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
