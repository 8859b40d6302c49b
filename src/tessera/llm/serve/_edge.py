"""The last line of the service's error handling, next to the routes.

* :class:`TextBodyMiddleware` refuses a request body whose JSON holds a lone UTF-16
  surrogate (``"\\ud800"``). Python's JSON parser accepts one, but no such string can be
  encoded as UTF-8, so it would fail wherever the text goes next (SQLite, the
  tokenizer, a JSON response) as a 500. It is refused once, here, with a 400 naming the
  field, as OpenAI's API does with a body it cannot read.
* :class:`CatchAllMiddleware` turns any exception a route did not expect into a logged
  500 in the JSON error shape, and keeps the connection usable.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera._validation import bad_value

__all__ = ["BodyError", "CatchAllMiddleware", "TextBodyMiddleware", "lone_surrogate"]

logger = logging.getLogger("tessera.llm.serve")

#: A JSON escape of a surrogate code point (``\ud800``-``\udfff``), or the UTF-8-style
#: bytes of one (ED A0-BF), which Python's JSON parser also accepts.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


class BodyError(HTTPException):
    """A request body refused before validation: 400 naming the field (``param``).

    An :class:`~starlette.exceptions.HTTPException`, so that FastAPI lets it through from
    reading the body, to the error handlers.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(400, message)
        self.param = param


def lone_surrogate(value: Any) -> tuple[str, str, int] | None:
    """The first string in a parsed JSON value that holds a lone surrogate.

    Returns
    -------
    tuple of (str, str, int) or None
        Where it is (``messages.0.content``; ``a field name in ...`` for an object's key), the
        string, and the index of the surrogate in it; None when every string is text.
    """
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:  # iterative: JSON may nest deeper than Python's recursion limit
        path, item = pending.pop()
        if isinstance(item, str):
            where = path
            texts = [(where, item)]
        elif isinstance(item, dict):
            texts = [(f"a field name in {path}" if path else "a field name", key) for key in item]
            children = [
                (f"{path}.{key}" if path else str(key), child) for key, child in item.items()
            ]
            pending.extend(reversed(children))
        elif isinstance(item, list):
            children = [(f"{path}.{i}" if path else str(i), child) for i, child in enumerate(item)]
            pending.extend(reversed(children))
            continue
        else:
            continue
        for where, text in texts:
            if text.isascii():
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                return where, text, exc.start
    return None


def check_text_body(body: bytes) -> None:
    """Raise :class:`BodyError` if ``body`` is JSON holding a lone surrogate."""
    if not _MAYBE_SURROGATE.search(body):  # the common case: no parse, no walk
        return
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # not JSON: FastAPI reports it as such
        return
    found = lone_surrogate(parsed)
    if found is None:  # only surrogate pairs, which are characters beyond U+FFFF
        return
    where, text, index = found
    error = bad_value(
        where or "the body",
        text,
        f"it holds a lone UTF-16 surrogate (U+{ord(text[index]):04X} at character {index}), "
        "which is not a character",
        "Send text: a character beyond U+FFFF as UTF-8 or as a surrogate pair (\\ud83d\\ude00).",
    )
    raise BodyError(str(error), param=where or None)


class TextBodyMiddleware:
    """Check a request body as it is read: a lone surrogate is a 400 (:class:`BodyError`).

    The body is checked when its last chunk arrives, so the route that reads it gets the
    error (through the error handlers) instead of the body. Bodies are bounded by the
    body-size limit outside this middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body = b"".join(chunks)
                    chunks.clear()
                    check_text_body(body)
            return message

        await self.app(scope, checked_receive, send)


class CatchAllMiddleware:
    """Answer an unexpected exception with a logged 500 in the JSON error shape.

    The traceback goes to the ``tessera.llm.serve`` logger with an incident id, which the
    response names (never the exception's text: it may hold what the client must not
    see). The exception is not raised further, so the server keeps the connection open.
    When the response had already started (a stream), it is raised on: the server then
    closes the connection, which is how a client learns that the stream broke.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception(
                "unexpected error (incident %s) in %s %s", incident, scope["method"], scope["path"]
            )
            if started:
                raise
            from tessera.llm.serve._http import error_response

            response = error_response(500, unexpected_message(incident))
            await response(scope, receive, send)


def unexpected_message(incident: str) -> str:
    """What a client is told about an unexpected error."""
    return (
        f"the server failed on this request (incident {incident}; the details are in its "
        "log). Retry; if it fails again, report the incident id."
    )
