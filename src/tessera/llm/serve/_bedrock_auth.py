"""Admit a request signed with SigV4 (what boto3 sends), for the auth middleware.

The order keeps refusals cheap: the header is parsed and the date checked first, then a
token is taken from the failed-login buckets of the client and of the access key id (429
when either is empty), the body is read (at most the body limit: SigV4 signs its SHA-256),
the secret decrypted, and the signature compared in constant time. A request that passes
gives its failed-login token back, carries its API key's record (scopes, checked per
route) and takes a token from that key's request bucket, like a bearer key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
import re
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive, Scope, Send

from tessera.errors import NotFoundError
from tessera.llm.serve._aws import aws_error_response
from tessera.llm.serve._aws_credentials import AwsCredentialStore
from tessera.llm.serve._http import KEY_STATE, ServiceState
from tessera.llm.serve._sigv4 import (
    SignatureError,
    canonical_request,
    parse_authorization,
    parse_presigned,
    presigned_time,
    request_time,
    signature_of,
)

if TYPE_CHECKING:
    from tessera.llm.serve._middleware import AuthMiddleware

__all__ = ["SIGNING_SERVICE", "admit_presigned", "admit_sigv4", "credential_store", "is_presigned"]

logger = logging.getLogger("tessera.llm.serve")

#: The signing name of every Bedrock API (bedrock, bedrock-runtime, bedrock-agent, ...).
SIGNING_SERVICE = "bedrock"
_KNOWN_SIZE = 4096
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS secret access key and signing method (the secret is the one `tessera "
    "keys aws KEY_ID` printed for this access key id)."
)
_UNKNOWN = (
    "The security token included in the request is invalid: the access key id is not one "
    "of this server's, or its API key was revoked. Issue credentials with `tessera keys aws "
    "KEY_ID`."
)


def _throttle(middleware: AuthMiddleware, address: str | None, access: str) -> Any:
    """Take a failed-login token; the 429 to answer when a bucket is empty, else None."""
    wait, limited = middleware.failed_logins.acquire(address, access)
    if wait <= 0:
        return None
    retry = max(1, math.ceil(wait))
    limit = middleware.failed_logins.limit
    message = (
        f"too many failed authentications {limited}: the limit is {limit.per_second:g} "
        f"per second with bursts of {limit.burst}. Retry after {retry} s."
    )
    return aws_error_response(429, message, headers={"Retry-After": str(retry)})


def credential_store(state: ServiceState) -> AwsCredentialStore:
    """The service's AWS credential store (opened once, on first use)."""
    found = state.extras.get("aws_credentials")
    if found is None:
        found = state.extras.setdefault("aws_credentials", AwsCredentialStore(state.db_path))
    assert isinstance(found, AwsCredentialStore)
    return found


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, list[Message]] | None:
    """The whole body (None past ``limit`` bytes) and the messages that carried it."""
    chunks: list[bytes] = []
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _check(signed: Any, scope: Scope, body: bytes, secret: str, amz_date: str, query: str) -> bool:
    headers: dict[str, list[str]] = {}
    for name, value in scope.get("headers", ()):
        headers.setdefault(bytes(name).decode("latin-1").lower(), []).append(
            bytes(value).decode("latin-1")
        )
    raw_path = scope.get("raw_path") or str(scope["path"]).encode("utf-8")
    canonical = canonical_request(
        scope["method"],
        bytes(raw_path).decode("latin-1").split("?", 1)[0],
        query,
        headers,
        signed.signed_headers,
        hashlib.sha256(body).hexdigest(),
    )
    expected = signature_of(secret, signed, amz_date, canonical)
    return hmac.compare_digest(expected, signed.signature)


def _check_service(signed: Any) -> None:
    if signed.service != SIGNING_SERVICE:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: {SIGNING_SERVICE!r} (the "
            f"request is scoped to {signed.service!r}). Use a Bedrock client.",
        )


async def admit_sigv4(
    middleware: AuthMiddleware, scope: Scope, receive: Receive, send: Send, header: str
) -> None:
    """Verify the SigV4 signature of a request; pass it on, or answer in AWS's shape."""
    amz_date = ""
    for name, value in scope.get("headers", ()):
        if name == b"x-amz-date":
            amz_date = bytes(value).decode("latin-1")
    try:
        signed = parse_authorization(header)
        _check_service(signed)
        request_time(amz_date, signed, dt.datetime.now(dt.UTC))
    except SignatureError as exc:
        status = 400 if exc.code == "IncompleteSignatureException" else 403
        await aws_error_response(status, exc.message, code=exc.code)(scope, receive, send)
        return
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    await _admit(middleware, scope, receive, send, signed, amz_date, query)


def is_presigned(scope: Scope) -> bool:
    """Whether the query string carries a presigned SigV4 signature."""
    return b"X-Amz-Signature=" in bytes(scope.get("query_string", b""))


async def admit_presigned(
    middleware: AuthMiddleware, scope: Scope, receive: Receive, send: Send
) -> None:
    """Verify a presigned (query-string) SigV4 request; pass it on, or refuse it.

    The signature is redacted from the query string first, so that the access and audit
    logs never hold a URL that still works.
    """
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    scope["query_string"] = re.sub(
        r"(^|&)X-Amz-Signature=[^&]*", r"\1X-Amz-Signature=[redacted]", query
    ).encode("latin-1")
    try:
        presigned = parse_presigned(query)
        _check_service(presigned.signed)
        presigned_time(presigned, dt.datetime.now(dt.UTC))
    except SignatureError as exc:
        status = 400 if exc.code == "IncompleteSignatureException" else 403
        await aws_error_response(status, exc.message, code=exc.code)(scope, receive, send)
        return
    await _admit(
        middleware,
        scope,
        receive,
        send,
        presigned.signed,
        presigned.amz_date,
        presigned.unsigned_query,
    )


async def _admit(
    middleware: AuthMiddleware,
    scope: Scope,
    receive: Receive,
    send: Send,
    signed: Any,
    amz_date: str,
    signed_query: str,
) -> None:
    """Check the signature of a parsed, dated request (header or query form)."""
    state = middleware.state
    client = scope.get("client")
    address = str(client[0]) if client else None
    # Access key ids that passed recently skip the failed-login buckets (a burst of good
    # requests never drains them); others take a token first, given back when they pass.
    known: dict[str, None] = state.extras.setdefault("sigv4_passed", {})
    trusted = signed.access_key_id in known
    if not trusted:
        refused = _throttle(middleware, address, signed.access_key_id)
        if refused is not None:
            await refused(scope, receive, send)
            return
    read = await _read_body(receive, middleware.max_body_bytes)
    if read is None:
        message = (
            f"the request body is larger than {middleware.max_body_bytes} bytes. Send less, "
            "or start the server with a larger --max-body-bytes."
        )
        await aws_error_response(413, message)(scope, receive, send)
        return
    body, messages = read
    found = await run_in_threadpool(credential_store(state).secret, signed.access_key_id)
    record = None
    if found is None:
        # The same work as for a known id, so that timing does not tell which ids exist.
        _check(signed, scope, body, "tessera-no-such-access-key", amz_date, signed_query)
    else:
        key_id, secret = found
        if not _check(signed, scope, body, secret, amz_date, signed_query):
            if trusted:  # a failure counts, whoever it claims to be
                known.pop(signed.access_key_id, None)
                _throttle(middleware, address, signed.access_key_id)
            await aws_error_response(403, _MISMATCH, code="InvalidSignatureException")(
                scope, receive, send
            )
            return
        try:
            record = await run_in_threadpool(state.keys.get, key_id)
        except NotFoundError:
            record = None
    if record is None or record.revoked_at is not None:
        known.pop(signed.access_key_id, None)
        await aws_error_response(403, _UNKNOWN, code="UnrecognizedClientException")(
            scope, receive, send
        )
        return
    if not trusted:
        middleware.failed_logins.refund(address, signed.access_key_id)
        known[signed.access_key_id] = None
        while len(known) > _KNOWN_SIZE:
            known.pop(next(iter(known)))
    scope.setdefault("state", {})[KEY_STATE] = record
    wait = state.limiter.acquire(f"key:{record.id}")
    if wait > 0:
        retry = max(1, math.ceil(wait))
        limit = state.limiter.limit
        message = (
            f"too many requests with key {record.id}: the limit is {limit.per_second:g} per "
            f"second with bursts of {limit.burst}. Retry after {retry} s."
        )
        response = aws_error_response(429, message, headers={"Retry-After": str(retry)})
        await response(scope, receive, send)
        return
    await middleware.app(scope, _replay(messages, receive), send)
