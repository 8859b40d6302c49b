"""The AWS wire conventions of the Bedrock routes: error bodies and codes, event streams.

AWS's JSON services answer an error with its code in the ``x-amzn-ErrorType`` header and
``{"message": ...}`` as the body; botocore reads the code from there and raises the
client's exception of that name (``client.exceptions.ValidationException``, or a
``ClientError`` whose ``response["Error"]["Code"]`` is the code). Every failure on a
Bedrock route, the refusals of the auth middleware included, is answered so.

Streamed answers (ConverseStream, InvokeModelWithResponseStream, InvokeFlow) use AWS's
event-stream framing (``application/vnd.amazon.eventstream``): each message is a prelude
(total length, headers length, CRC32 of those 8 bytes), headers (``:event-type``,
``:content-type``, ``:message-type``), a JSON payload and a CRC32 of the whole message,
all big-endian, as botocore's ``EventStreamBuffer`` parses them.
"""

from __future__ import annotations

import json
import logging
import struct
import uuid
import zlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Scope

from tessera.errors import TesseraError

__all__ = [
    "AWS_PATH_PREFIXES",
    "AwsError",
    "AwsRoute",
    "aws_error_response",
    "code_for_status",
    "event_message",
    "exception_message",
    "is_aws_request",
]

logger = logging.getLogger("tessera.llm.serve")

#: Paths of the Bedrock APIs (bedrock-runtime, bedrock-agent, bedrock-agent-runtime and
#: bedrock's guardrails); the tessera API lives under ``/v1``.
AWS_PATH_PREFIXES = (
    "/model/",
    "/guardrail/",
    "/guardrails",
    "/prompts",
    "/flows",
    "/model-customization-jobs",
)

_CODES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    405: "ValidationException",
    409: "ConflictException",
    413: "ValidationException",
    422: "ValidationException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    502: "ModelErrorException",
    503: "ServiceUnavailableException",
}


def code_for_status(status: int) -> str:
    """AWS's error code for an HTTP status (``InternalServerException`` for others)."""
    return _CODES.get(status, "InternalServerException")


class AwsError(Exception):
    """An error a Bedrock route answers with an AWS error code.

    Parameters
    ----------
    status : int
        The HTTP status.
    code : str
        AWS's error code (``ValidationException``, ``ResourceNotFoundException``...).
    message : str
        What went wrong and how to fix it.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def aws_error_response(
    status: int, message: str, *, code: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An AWS-shaped error: the code in ``x-amzn-ErrorType`` and ``__type``, ``message``."""
    code = code or code_for_status(status)
    extra = {
        "x-amzn-ErrorType": code,
        "x-amzn-RequestId": str(uuid.uuid4()),
        **(headers or {}),
    }
    extra.pop("WWW-Authenticate", None)
    return JSONResponse({"__type": code, "message": message}, status_code=status, headers=extra)


def is_aws_request(scope: Scope) -> bool:
    """Whether a request is for a Bedrock route or signed with SigV4."""
    path = str(scope.get("path", ""))
    if path.startswith(AWS_PATH_PREFIXES):
        return True
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bytes(value).startswith(b"AWS4-")
    return False


def _as_aws(exc: Exception) -> JSONResponse:
    from tessera.llm.serve._http import ApiError, status_of

    if isinstance(exc, AwsError):
        return aws_error_response(exc.status, exc.message, code=exc.code)
    if isinstance(exc, ApiError):
        return aws_error_response(exc.status, exc.message, headers=exc.headers)
    if isinstance(exc, HTTPException):
        return aws_error_response(exc.status_code, str(exc.detail))
    if isinstance(exc, RequestValidationError):
        return aws_error_response(400, f"the request is invalid: {exc.errors()[:3]}")
    assert isinstance(exc, TesseraError)
    status = status_of(exc)
    return aws_error_response(403 if status == 401 else status, str(exc))


class AwsRoute(APIRoute):
    """A Bedrock route: every error it raises is answered in AWS's shape (see module)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (AwsError, HTTPException, RequestValidationError, TesseraError) as exc:
                return _as_aws(exc)
            except Exception as exc:
                from tessera.llm.serve._http import ApiError

                if isinstance(exc, ApiError):
                    return _as_aws(exc)
                raise

        return handle


def _headers(values: Mapping[str, str]) -> bytes:
    out = bytearray()
    for name, value in values.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += b"\x07" + struct.pack(">H", len(raw_value)) + raw_value  # 7: a string
    return bytes(out)


def _frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    encoded = _headers(headers)
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_message(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """One event of an event stream, its payload the event's members as JSON."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return _frame(headers, body)


def exception_message(exception_type: str, message: str) -> bytes:
    """An error inside an event stream (the status line has gone): botocore raises it."""
    body = json.dumps({"message": message}, ensure_ascii=False).encode("utf-8")
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return _frame(headers, body)
