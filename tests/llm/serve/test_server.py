"""The service's guards against a real server on loopback: keys, scopes, size, rate, audit."""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_live import Live, make_keys, start_live

from tessera.errors import InvalidInputError
from tessera.llm.serve import RateLimit, check_host, create_app, start_server

MODEL = "tessera:/nonexistent-model-never-loaded"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """No model is ever loaded here: these tests stop at the guards or at validation."""
    db = tmp_path_factory.mktemp("guarded") / "tessera.db"
    yield from start_live(
        db, models=(MODEL,), max_body_bytes=4096, rate_limit=RateLimit(1000, burst=1000)
    )


#: OpenAI's error codes by status where one status means one case; null otherwise.
CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def _error(response: httpx.Response, status: int, error_type: str, code: str | None = None) -> str:
    """The message of an error response, after checking its status and OpenAI's shape."""
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) >= {"type", "message", "param", "code"}, body
    assert body["type"] == error_type
    assert body["code"] == (code or CODES.get(status)), body
    message: str = body["message"]
    return message


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "no API key was sent"),
        ({"Authorization": "Bearer"}, "no API key was sent"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "uses the 'Basic' scheme"),
        ({"Authorization": "Bearer sk-not-ours"}, "the API key is not valid"),
        ({"Authorization": "Bearer tsk_000000000000_" + "a" * 43}, "the API key is not valid"),
    ],
)
def test_401_with_a_bearer_challenge(guarded: Live, headers: dict[str, str], says: str) -> None:
    response = httpx.get(f"{guarded.url}/v1/models", headers=headers)
    assert says in _error(response, 401, "authentication_error")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_secret_and_a_revoked_key_are_401(guarded: Live) -> None:
    admin = guarded.client("admin")
    made = admin.post("/v1/keys", json={"name": "short-lived", "scopes": ["models:invoke"]})
    assert made.status_code == 201
    key, key_id = made.json()["key"], made.json()["id"]
    assert made.json()["scopes"] == ["models:invoke"]
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    ok = httpx.get(f"{guarded.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200
    bad = httpx.get(f"{guarded.url}/v1/models", headers={"Authorization": f"Bearer {forged}"})
    # One message for malformed, unknown and wrong keys: a 401 tells an attacker nothing.
    assert "the API key is not valid" in _error(bad, 401, "authentication_error")
    assert admin.delete(f"/v1/keys/{key_id}").json()["revoked_at"]
    gone = httpx.get(f"{guarded.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert "was revoked" in _error(gone, 401, "authentication_error")
    listed = {k["id"]: k for k in admin.get("/v1/keys").json()}
    assert listed[key_id]["revoked_at"] and "key" not in listed[key_id]
    assert all("secret" not in str(k) for k in listed.values())


#: (method, path, JSON body or None, the scope it needs)
ROUTES = [
    ("GET", "/v1/models", None, "models:invoke"),
    ("POST", "/v1/chat/completions", {"messages": []}, "models:invoke"),
    ("GET", "/v1/keys", None, "admin"),
    ("GET", "/v1/audit", None, "admin"),
]


@pytest.mark.parametrize(("method", "path", "body", "needed"), ROUTES)
def test_each_route_admits_exactly_the_keys_whose_scopes_allow_it(
    guarded: Live, method: str, path: str, body: Any, needed: str
) -> None:
    for scope in guarded.keys:
        response = guarded.client(scope).request(method, path, json=body)
        allowed = scope in ("admin", needed)
        if allowed:
            # Admitted: the route answers (the chat body here is invalid on purpose: 400).
            assert response.status_code in (200, 400), (scope, response.text)
        else:
            message = _error(response, 403, "permission_error")
            assert f"needs {needed!r}" in message and f"[{scope}]" in message


def test_openapi_document_declares_the_bearer_scheme(guarded: Live) -> None:
    document = httpx.get(f"{guarded.url}/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    operation = document["paths"]["/v1/chat/completions"]["post"]
    assert {"bearer": []} in operation["security"]
    # Errors are documented as they are sent: OpenAI's error object, never FastAPI's 422
    # body; the OpenAI routes refuse a body with 400, the service's own routes with 422.
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    assert operation["x-openai-compatible"] is True
    assert operation["responses"]["400"]["content"] == error and "422" not in operation["responses"]
    keys = document["paths"]["/v1/keys"]["post"]
    assert keys["responses"]["422"]["content"] == error and "x-openai-compatible" not in keys
    assert all(
        op["responses"]["default"]["content"] == error
        for ops in document["paths"].values()
        for op in ops.values()
    )
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "/healthz" in document["paths"]
    assert httpx.get(f"{guarded.url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{guarded.url}/docs").status_code == 401  # no CDN-backed pages


def test_every_route_but_the_public_ones_needs_a_key_and_names_its_scope(guarded: Live) -> None:
    from tessera.llm.serve import SCOPES

    document = httpx.get(f"{guarded.url}/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path == "/healthz":
                assert "security" not in operation
                continue
            assert {"bearer": []} in operation.get("security", []), (method, path)
            described = operation.get("description", "")
            assert any(f"`{scope}`" in described for scope in SCOPES), (method, path)
            # And the server agrees: without a key, every one of them is refused.
            concrete = path.replace("{", "").replace("}", "")
            response = httpx.request(method.upper(), f"{guarded.url}{concrete}")
            assert response.status_code == 401, (method, path)


def test_body_size_limit_declared_and_chunked(guarded: Live) -> None:
    client = guarded.client("models:invoke")
    big = b'{"messages": [' + b" " * 5000 + b"]}"
    declared = client.post("/v1/chat/completions", content=big)
    message = _error(declared, 413, "request_too_large")
    assert "5016 bytes; the limit is 4096" in message and "--max-body-bytes" in message

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts
        yield b'{"messages": ['
        for _ in range(10):
            yield b" " * 1000
        yield b"]}"

    chunked = client.post("/v1/chat/completions", content=chunks())
    assert "limit is 4096" in _error(chunked, 413, "request_too_large")
    # Just under the limit is read and validated as usual.
    small = client.post("/v1/chat/completions", content=b'{"messages": []}')
    assert small.status_code == 400


def test_validation_errors_name_the_field(guarded: Live) -> None:
    client = guarded.client("models:invoke")
    wrong = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "temperature": 7},
    )
    assert "temperature=7.0 is invalid: it must be a number in [0, 2]" in _error(
        wrong, 400, "invalid_request_error"
    )
    assert wrong.json()["error"]["param"] == "temperature"
    # The OpenAI routes answer a body they cannot accept with OpenAI's 400, not 422.
    unknown = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "presence_penalty": 1},
    )
    assert "presence_penalty=1 is invalid: Extra inputs are not permitted" in _error(
        unknown, 400, "invalid_request_error"
    )
    role = client.post("/v1/chat/completions", json={"messages": [{"role": "x", "content": ""}]})
    assert "messages.0.role" in _error(role, 400, "invalid_request_error")
    model = client.post(
        "/v1/chat/completions",
        json={"model": "tessera:/etc", "messages": [{"role": "user", "content": "hi"}]},
    )
    message = _error(model, 404, "not_found_error", "model_not_found")
    assert f"this server serves ['{MODEL}']" in message
    # The service's own routes keep the 422 they document for a body of the wrong shape.
    shape = guarded.client("admin").post("/v1/keys", json={"name": "x", "scopes": 3})
    assert "scopes=3 is invalid" in _error(shape, 422, "invalid_request_error")


def test_rate_limit_per_key_with_retry_after(tmp_path: Path) -> None:
    for live in start_live(
        tmp_path / "tessera.db", models=(MODEL,), rate_limit=RateLimit(0.5, burst=3)
    ):
        reader, other = live.client("models:invoke"), live.client("admin")
        statuses = [reader.get("/v1/models").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = reader.get("/v1/models")
        message = _error(limited, 429, "rate_limit_error")
        assert "0.5 per second with bursts of 3" in message
        assert int(limited.headers["Retry-After"]) == 2  # one token at 0.5/s
        assert other.get("/v1/models").status_code == 200  # another key has its own bucket
        # Failed authentications are limited per client address.
        bad = {"Authorization": "Bearer tsk_000000000000_" + "b" * 43}
        failures = [httpx.get(f"{live.url}/v1/models", headers=bad) for _ in range(4)]
        assert [r.status_code for r in failures] == [401, 401, 401, 429]


def test_audit_log_records_every_write_with_who_and_status(guarded: Live) -> None:
    admin = guarded.client("admin")
    last = admin.get("/v1/audit", params={"limit": 1}).json()
    after = last[0]["id"] if last else 0
    guarded.client("models:invoke").post("/v1/chat/completions", json={"messages": []})
    guarded.client("prompts:read").post("/v1/chat/completions", json={"messages": []})
    httpx.post(f"{guarded.url}/v1/chat/completions", json={})
    guarded.client("models:invoke").get("/v1/models")  # a read: not audited
    entries = admin.get("/v1/audit", params={"after_id": after}).json()
    assert [(e["key_name"], e["method"], e["path"], e["status"]) for e in entries] == [
        (None, "POST", "/v1/chat/completions", 401),
        ("test-prompts:read", "POST", "/v1/chat/completions", 403),
        ("test-models:invoke", "POST", "/v1/chat/completions", 400),
    ]
    assert entries[2]["key_id"] == guarded.key_ids["models:invoke"]
    assert all(e["client"] == "127.0.0.1" and e["at"] for e in entries)
    only = admin.get(
        "/v1/audit", params={"after_id": after, "key_id": guarded.key_ids["prompts:read"]}
    ).json()
    assert [e["status"] for e in only] == [403]
    zero = admin.get("/v1/audit", params={"limit": 0})
    assert zero.status_code == 422 and zero.json()["error"]["param"] == "limit"
    assert zero.json()["error"]["message"].startswith('limit="0" is invalid: ')


def test_no_secret_reaches_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for live in start_live(
        tmp_path / "tessera.db", models=(MODEL,), log_level="debug", max_body_bytes=100
    ):
        key = live.keys["admin"]
        client = live.client("admin")
        client.get("/v1/models")
        client.post("/v1/chat/completions", json={"messages": []})
        client.post("/v1/chat/completions", content=b"x" * 200)
        client.post("/v1/keys", json={"name": "x", "scopes": ["admin"]})
        forged = key[:-2] + "zz"
        httpx.get(f"{live.url}/v1/models", headers={"Authorization": f"Bearer {forged}"})
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "POST /v1/chat/completions -> 400" in text  # the logs are there...
    secret = key.split("_", 2)[2]
    assert secret not in text and secret[:20] not in text  # ...without the key
    assert forged.split("_", 2)[2] not in text


def test_binding_beyond_loopback_needs_a_decision() -> None:
    assert check_host("127.0.0.1") == "127.0.0.1" and check_host("::1") == "::1"
    with pytest.raises(InvalidInputError, match="host='0.0.0.0' is invalid: it is not a loop"):
        check_host("0.0.0.0")
    assert check_host("0.0.0.0", allow_public=True) == "0.0.0.0"


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"models": ()}, "models=() is invalid"),
        ({"models": ("a", "a")}, "distinct"),
        ({"max_body_bytes": 0}, "max_body_bytes=0 is invalid"),
        ({"rate_limit": 5}, "rate_limit=5 is invalid"),
    ],
)
def test_create_app_checks_its_arguments(tmp_path: Path, kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(says)):
        create_app(db_path=tmp_path / "tessera.db", **kwargs)


def _on_one_connection(live: Live, requests: list[tuple[str, str, bytes | None]]) -> list[Any]:
    """Send ``requests`` one after another on one keep-alive connection; return
    (status, JSON body, whether the server closes the connection) for each."""
    host, port = live.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Authorization": f"Bearer {live.keys['admin']}", "Content-Type": "application/json"}
    answers = []
    try:
        for method, path, body in requests:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            assert response.getheader("content-type") == "application/json"
            answers.append((response.status, json.loads(response.read()), response.will_close))
            assert connection.sock is not None, "the server dropped the connection"
    finally:
        connection.close()
    return answers


#: (path, JSON body with a lone surrogate, the field the 400 names), one per kind of body.
SURROGATES = [
    (
        "/v1/chat/completions",
        '{"messages": [{"role": "user", "content": "hi \\ud800"}]}',
        "messages.0.content",
    ),
    ("/v1/prompts", '{"name": "p", "body": {"type": "text", "text": "\\udfff"}}', "body.text"),
    ("/v1/prompts/p/versions", '{"message": "fix \\ud800"}', "message"),
    ("/v1/prompts/p/render", '{"variables": {"name": "\\udc00"}}', "variables.name"),
    ("/v1/prompts/p/render", '{"variables": {"\\ud800": "x"}}', "a field name in variables"),
    ("/v1/guardrails/apply", '{"guardrail": "g", "text": "\\ud83d"}', "text"),
    ("/v1/flows/f/invoke", '{"inputs": {"text": ["ok", "\\ud800"]}}', "inputs.text.1"),
    ("/v1/keys", '{"name": "\\ud800", "scopes": ["admin"]}', "name"),
]


@pytest.mark.parametrize(("path", "body", "field"), SURROGATES)
def test_a_lone_surrogate_is_a_400_naming_the_field_on_a_live_connection(
    guarded: Live, path: str, body: str, field: str
) -> None:
    """Valid JSON, but no text: it was a plain-text 500 that dropped the connection."""
    refused, after = _on_one_connection(
        guarded, [("POST", path, body.encode()), ("GET", "/v1/models", None)]
    )
    status, answer, closes = refused
    assert (status, closes) == (400, False), answer
    error = answer["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", field, None)
    assert error["message"].startswith(f"{field}=")
    assert "is invalid: it holds a lone UTF-16 surrogate" in error["message"]
    assert after[0] == 200  # the same connection serves the next request


def test_surrogate_pairs_and_raw_text_are_characters(guarded: Live) -> None:
    """A surrogate pair is one character beyond U+FFFF (what json.dumps escapes emoji to)."""
    client = guarded.client("admin")
    for content in ('"\\ud83d\\ude00 ok"', '"\u00e9t\u00e9 \U0001f600"'):
        body = '{"messages": [{"role": "user", "content": ' + content + '}], "model": ""}'
        response = client.post(
            "/v1/chat/completions",
            content=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        # Read past the text check: refused for the empty model id, not the text.
        assert response.json()["error"]["param"] == "model", response.text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"messages": [}', "Expecting value at line 1 column 15 (char 14)"),
        (
            b'{"messages": []\n "model": "x"}',
            "Expecting ',' delimiter at line 2 column 2 (char 17)",
        ),
        (b"", "Field required"),
        (b"\xff", "the body is not valid UTF-8 (byte 0: invalid start byte)"),
    ],
)
def test_a_body_that_is_not_json_says_so_and_where(guarded: Live, body: bytes, says: str) -> None:
    response = guarded.client("models:invoke").post(
        "/v1/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    message = _error(response, 400, "invalid_request_error")
    assert says in message
    if body and body != b"\xff":
        assert message.startswith("the body is not valid JSON: ")
    assert "={}" not in message  # what it said before: "14={} is invalid"


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server with one route that fails in a way no handler expects."""
    db = tmp_path_factory.mktemp("fragile") / "tessera.db"
    keys, key_ids = make_keys(db)
    app = create_app(db_path=db, models=(MODEL,), rate_limit=RateLimit(1000, burst=1000))

    def broken() -> None:
        raise RuntimeError("an internal detail the client must not see")

    app.add_api_route("/v1/broken", broken, methods=["GET", "POST"])
    server = start_server(app)
    live = Live(server.url, db, keys, key_ids, app)
    try:
        yield live
    finally:
        for client in live.clients:
            client.close()
        server.stop()


def test_an_unexpected_error_is_a_logged_500_in_the_error_shape(
    fragile: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="tessera.llm.serve")
    failed, again, after = _on_one_connection(
        fragile,
        [("GET", "/v1/broken", None), ("POST", "/v1/broken", b"{}"), ("GET", "/healthz", None)],
    )
    status, answer, closes = failed
    assert (status, closes) == (500, False)
    error = answer["error"]
    assert (error["type"], error["param"], error["code"]) == ("server_error", None, None)
    assert "internal detail" not in error["message"]
    incident = re.search(r"incident ([0-9a-f]{12})", error["message"])
    assert incident is not None, error["message"]
    logged = [r for r in caplog.records if incident.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is in the log
    assert "internal detail" in caplog.text
    assert again[0] == 500 and after[0] == 200
    audit = fragile.client("admin").get("/v1/audit", params={"limit": 1}).json()
    assert (audit[0]["method"], audit[0]["path"], audit[0]["status"]) == ("POST", "/v1/broken", 500)


def test_start_server_answers_without_nagle_delay() -> None:
    """The accepted connection has TCP_NODELAY, so a response written in two parts
    (headers, then body) never waits for the client's delayed ACK. asyncio sets it only
    on sockets whose proto is IPPROTO_TCP (a listening socket made with proto 0 lost it);
    uvloop sets it on every TCP connection. The server's end is found among the process's
    open files, whichever event loop owns it."""
    import os
    import socket

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    running = start_server(app)
    port = int(running.url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
            nodelay = []
            for name in os.listdir("/proc/self/fd"):
                try:  # a duplicate of the descriptor: the same socket, its own fd
                    other = socket.fromfd(int(name), socket.AF_INET, socket.SOCK_STREAM)
                except OSError:  # not a socket (or closed meanwhile)
                    continue
                with other:
                    try:
                        ends = (other.getsockname(), other.getpeername())
                    except OSError:  # not connected: the listening socket, or not IPv4
                        continue
                    if ends == (("127.0.0.1", port), client.getsockname()):
                        nodelay.append(other.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            assert len(nodelay) == 1
            assert nodelay[0]
    finally:
        running.stop()


async def _echo_body(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 200 with the size of the request body it read."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    answer = str(size).encode()
    length = [(b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": length})
    await send({"type": "http.response.body", "body": answer})


def _flood(port: int, start: bytes, piece: bytes, most: int) -> tuple[int, bytes]:
    """Send ``start`` then ``piece`` over and over until the server stops reading or
    ``most`` bytes went; the bytes sent and whatever the server answered."""
    import socket

    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.settimeout(30)
        try:
            client.sendall(start)
            while sent < most:
                client.sendall(piece)
                sent += len(piece)
        except OSError:  # the server closed the connection
            pass
        try:
            while chunk := client.recv(65536):
                answer += chunk
        except OSError:  # reset: the answer may be lost with the unread bytes
            pass
    return sent, answer


@pytest.mark.parametrize(
    ("start", "piece"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-Pad: " + b"a" * 1000 + b"\r\n"),  # many headers
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ", b"a" * 4096),  # one endless header
        (b"GET /", b"a" * 4096),  # an endless URL
    ],
    ids=["headers", "one-header", "url"],
)
def test_a_request_head_past_the_limit_is_refused_not_held(start: bytes, piece: bytes) -> None:
    """A client that sends a head without end is cut off (400) near MAX_HEAD_BYTES instead
    of the server holding all of it (httptools holds any head: 300 MB of headers grew the
    server by as much)."""
    from tessera.llm.serve._server import MAX_HEAD_BYTES

    running = start_server(_echo_body)
    port = int(running.url.rsplit(":", 1)[1])
    try:
        most = 64 * 2**20
        sent, answer = _flood(port, start, piece, most)
        assert sent < most  # the server stopped reading long before
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
        # and it still serves others
        assert httpx.get(running.url + "/", timeout=10).status_code == 200
    finally:
        running.stop()
    assert MAX_HEAD_BYTES <= 64 * 1024


def test_heads_under_the_limit_large_bodies_and_pipelined_requests_pass() -> None:
    """The head limit counts heads only: a head near the limit, a body of megabytes sent
    with its head in one write, and many requests pipelined in one write all get answers."""
    import socket

    from tessera.llm.serve._server import MAX_HEAD_BYTES

    running = start_server(_echo_body)
    port = int(running.url.rsplit(":", 1)[1])
    try:
        pad = "a" * (MAX_HEAD_BYTES - 1024)
        assert httpx.get(running.url + "/", headers={"X-Pad": pad}, timeout=10).text == "0"
        body = b"b" * (4 * 2**20)
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        pipelined = b"".join(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"c" * 5000
            for _ in range(40)
        )
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.settimeout(30)
            client.sendall(head + body + pipelined)
            answer = b""
            while answer.count(b"HTTP/1.1 200") < 41:
                chunk = client.recv(65536)
                assert chunk, answer[-300:]
                answer += chunk
        assert b"\r\n\r\n%d" % len(body) in answer
        assert answer.count(b"\r\n\r\n5000") == 40
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 needs a Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # exactly one
        (b"GET / HTTP/1.0\r\n\r\n", 200),  # HTTP/1.0 needs none
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),  # NUL in a header
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),  # obsolete folding
        (  # both lengths: the classic request-smuggling shape
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # a path that is not ASCII
    ],
    ids=[
        "no-host",
        "two-hosts",
        "http10",
        "nul",
        "folded",
        "te-and-cl",
        "negative",
        "huge",
        "utf8",
    ],
)
def test_malformed_requests_get_400_never_5xx(raw: bytes, status: int) -> None:
    with _connected(_echo_body) as client:
        client.sendall(raw)
        answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 %d" % status), answer[:200]


@contextmanager
def _connected(app: Any) -> Iterator[Any]:
    """A socket connected to ``app`` served by :func:`start_server` (10 s timeout)."""
    import socket

    running = start_server(app)
    port = int(running.url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.settimeout(10)
            yield client
    finally:
        running.stop()


def _shortened(monkeypatch: pytest.MonkeyPatch, name: str) -> float:
    """Set ``tessera.llm.serve._server``'s timeout ``name`` to half a second."""
    from tessera.llm.serve import _server

    if _server._http_protocol() == "h11":
        pytest.skip(f"httptools is not installed: uvicorn's h11 protocol has no {name}")
    monkeypatch.setattr(_server, name, 0.5)
    return 0.5


@pytest.fixture
def short_head_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    return _shortened(monkeypatch, "HEAD_TIMEOUT")


def _read_all(client: Any) -> bytes:
    answer = b""
    try:
        while chunk := client.recv(65536):
            answer += chunk
    except OSError:
        pass
    return answer


def _trickled(port: int, start: bytes, byte: bytes) -> tuple[float, bytes]:
    """Send ``start``, then ``byte`` every 50 ms (for at most 5 s) until the server closes
    the connection; the seconds that took and what the server answered."""
    import socket

    with socket.create_connection(("127.0.0.1", port)) as client:
        client.settimeout(10)
        began = time.monotonic()
        client.sendall(start)
        try:
            while time.monotonic() - began < 5:
                client.sendall(byte)
                time.sleep(0.05)
        except OSError:  # closed by the server
            pass
        answer = _read_all(client)
        return time.monotonic() - began, answer


def test_a_head_trickled_past_the_timeout_gets_408(short_head_timeout: float) -> None:
    """Slowloris: a client that sends its head a byte at a time is cut off once the head
    has taken longer than HEAD_TIMEOUT, however steadily the bytes come; so is a client
    that connects and sends nothing."""
    import socket

    running = start_server(_echo_body)
    port = int(running.url.rsplit(":", 1)[1])
    try:
        took, answer = _trickled(port, b"GET / HTTP/1.1\r\nHost: x\r\n", b"X")
        assert answer.startswith(b"HTTP/1.1 408") and took < 4
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.settimeout(10)
            began = time.monotonic()
            assert _read_all(client).startswith(b"HTTP/1.1 408")
            assert time.monotonic() - began < 4
    finally:
        running.stop()


def test_the_head_clock_does_not_run_during_a_response(short_head_timeout: float) -> None:
    """A response slower than HEAD_TIMEOUT, then the next request on the same connection,
    and a head sent in parts within the timeout: all answered."""
    import asyncio
    import socket

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(4 * short_head_timeout)
        await _echo_body(scope, receive, send)

    running = start_server(slow)
    port = int(running.url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.settimeout(10)
            for _ in range(2):
                client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                time.sleep(short_head_timeout / 4)
                client.sendall(b"\r\n")
                answer = client.recv(4096)
                assert answer.startswith(b"HTTP/1.1 200"), answer
    finally:
        running.stop()


@pytest.fixture
def short_body_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    return _shortened(monkeypatch, "BODY_TIMEOUT")


def test_a_body_trickled_past_the_timeout_gets_408(short_body_timeout: float) -> None:
    """Slow POST: a body sent a byte at a time is cut off once it has taken longer than
    BODY_TIMEOUT after its head; a body sent in parts within it is read whole."""
    import socket

    running = start_server(_echo_body)
    port = int(running.url.rsplit(":", 1)[1])
    try:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
        took, answer = _trickled(port, head, b"b")
        assert answer.startswith(b"HTTP/1.1 408") and took < 4
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.settimeout(10)
            client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
            time.sleep(short_body_timeout / 4)
            client.sendall(b"def")
            assert client.recv(4096).endswith(b"\r\n\r\n6")
    finally:
        running.stop()


def test_the_body_clock_waits_while_the_server_holds_off_reading(
    short_body_timeout: float,
) -> None:
    """An app that reads a 4 MB body late and slowly (uvicorn stops reading the socket
    while the app has not taken what it holds) takes far longer than BODY_TIMEOUT; the
    client sent everything at once, so the body is read whole."""
    import asyncio
    import socket

    async def slow_reader(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(6 * short_body_timeout)  # reading stops once 64 KiB wait
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
            await asyncio.sleep(0.1)
        answer = str(size).encode()
        length = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": length})
        await send({"type": "http.response.body", "body": answer})

    running = start_server(slow_reader)
    port = int(running.url.rsplit(":", 1)[1])
    body = b"b" * (4 * 2**20)
    try:
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.settimeout(30)
            began = time.monotonic()
            head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
            client.sendall(head + body)
            answer = _read_all_until(client, b"\r\n\r\n%d" % len(body))
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            assert time.monotonic() - began > 2 * short_body_timeout  # it did take long
    finally:
        running.stop()


def _read_all_until(client: Any, end: bytes) -> bytes:
    answer = b""
    while not answer.endswith(end):
        chunk = client.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def test_the_body_clock_waits_for_100_continue(short_body_timeout: float) -> None:
    """A client that sends ``Expect: 100-continue`` sends its body only once the app asks
    for it: an app that asks late still gets the body; a client that is asked and sends
    nothing is cut off."""
    import asyncio

    async def late(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(4 * short_body_timeout)
        await _echo_body(scope, receive, send)

    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    for app, sends in [(late, True), (_echo_body, False)]:
        with _connected(app) as client:
            client.sendall(head)
            assert client.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
            if sends:
                client.sendall(b"hello")
                assert client.recv(4096).endswith(b"\r\n\r\n5")
            else:
                began = time.monotonic()
                assert _read_all(client).startswith(b"HTTP/1.1 408")
                assert time.monotonic() - began < 4
