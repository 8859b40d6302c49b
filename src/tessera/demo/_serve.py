"""The demo's service section: ``tessera.llm.serve`` on loopback, called over real HTTP.

The tour starts the service on 127.0.0.1 (a free port) with a database in a temporary
folder (never ``$TESSERA_HOME/tessera.db``), creates three keys, makes real requests with
httpx and shows each one as its request line, the key sent, the status and the body:
the liveness check, a chat completion without a key (401), with a key of the wrong scope
(403), with the right one (200, then the same request streamed), a body over the size
limit (413), the OpenAPI document and the audit log. Then it stops the server and
removes the folder. Keys never reach the page: the curl line reads ``$TESSERA_KEY``.
"""

from __future__ import annotations

import html
import json
import shlex
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.demo._page import LLM_INSTALL, Section, skipped_section
from tessera.errors import MissingExtraError

__all__ = [
    "BODY_LIMIT",
    "MAX_TOKENS",
    "QUESTION",
    "Call",
    "ServeTour",
    "run_tour",
    "serve_section",
    "tour_section",
]

#: What the chat calls ask (a short answer: the section takes seconds).
QUESTION = "Name three colours of the rainbow."
MAX_TOKENS = 16
#: The demo server's request body limit in bytes (larger bodies get 413).
BODY_LIMIT = 4096
_CHAT = "/v1/chat/completions"
#: The keys the tour creates: (name, scope).
_KEYS = (
    ("demo-chat", "models:invoke"),
    ("demo-prompts", "prompts:read"),
    ("demo-admin", "admin"),
)
_TITLE = "The HTTP service: tessera.llm.serve"
_WRAP = ' style="white-space:pre-wrap;text-align:left;margin:0"'
_INSTALL = LLM_INSTALL


@dataclass(frozen=True)
class Call:
    """One HTTP exchange of the tour, as the page shows it.

    Attributes
    ----------
    what : str
        What the call shows (``"chat, no key"``).
    method, path : str
        The request line.
    key : str
        Which key was sent (``"none"`` or the key's scope), never the key itself.
    status : int
        The response status.
    body : str
        The response body, shortened.
    seconds : float
        Wall time of the exchange.
    """

    what: str
    method: str
    path: str
    key: str
    status: int
    body: str
    seconds: float


@dataclass(frozen=True)
class ServeTour:
    """What the tour did and saw.

    Attributes
    ----------
    url : str
        Where the server listened.
    database : str
        The temporary database (removed when the tour ends).
    model : str
        The model id served.
    key_ids : dict of str to str
        Scope -> id of the key created for it (ids are not secrets).
    calls : list of Call
        Every request, in order.
    answer, streamed : str
        The chat answer, plain and joined from the streamed chunks.
    usage, stream_usage : dict
        Token usage of the plain answer and of the streamed one.
    chunks : int
        ``chat.completion.chunk`` events in the stream.
    done : bool
        Whether the stream ended with ``data: [DONE]``.
    openapi_paths : int
        Paths in ``GET /openapi.json``.
    audit : list of dict
        The audit log (``GET /v1/audit``), oldest first.
    curl : str
        The chat call as a curl command, the key read from ``$TESSERA_KEY``.
    """

    url: str
    database: str
    model: str
    key_ids: dict[str, str]
    calls: list[Call]
    answer: str
    streamed: str
    usage: dict[str, int]
    stream_usage: dict[str, int]
    chunks: int
    done: bool
    openapi_paths: int
    audit: list[dict[str, Any]]
    curl: str


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(response: Any, limit: int) -> str:
    try:
        text = json.dumps(response.json(), ensure_ascii=False)
    except ValueError:
        text = response.text
    return _cut(text, limit)


class _Client:
    """An httpx client that records every exchange as a :class:`Call`."""

    def __init__(self, client: Any, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys
        self.calls: list[Call] = []

    def headers(self, scope: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"} if scope else {}

    def call(
        self,
        what: str,
        method: str,
        path: str,
        scope: str | None,
        *,
        limit: int = 240,
        **options: Any,
    ) -> Any:
        start = time.perf_counter()
        response = self.client.request(method, path, headers=self.headers(scope), **options)
        seconds = time.perf_counter() - start
        self.calls.append(
            Call(
                what,
                method,
                path,
                scope or "none",
                response.status_code,
                _compact(response, limit),
                seconds,
            )
        )
        return response

    def stream(
        self, path: str, scope: str, body: dict[str, Any]
    ) -> tuple[int, str, dict[str, int], bool]:
        """POST ``body``, read its server-sent events: (chunks, joined text, usage, done)."""
        start = time.perf_counter()
        lines: list[str] = []
        with self.client.stream("POST", path, headers=self.headers(scope), json=body) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data:")]
            status = response.status_code
        events = [json.loads(line[5:]) for line in lines if line[5:].strip() != "[DONE]"]
        pieces = [
            choice.get("delta", {}).get("content") or ""
            for event in events
            for choice in event.get("choices", [])
        ]
        usage: dict[str, int] = next((e["usage"] for e in reversed(events) if e.get("usage")), {})
        done = bool(lines) and lines[-1][5:].strip() == "[DONE]"
        shown = [_event_line(line) for line in lines]
        if len(shown) > 5:
            shown = [*shown[:3], f"… {len(shown) - 5} more events", *shown[-2:]]
        body_text = "\n".join(shown)
        seconds = time.perf_counter() - start
        self.calls.append(Call("chat, streamed", "POST", path, scope, status, body_text, seconds))
        return len(events), "".join(pieces), usage, done


def _event_line(line: str) -> str:
    """An event's line with the fields every chunk repeats (id, model, ...) elided."""
    payload = line[5:].strip()
    if payload == "[DONE]":
        return "data: [DONE]"
    event = json.loads(payload)
    kept = {k: event[k] for k in ("choices", "usage") if k in event}
    return _cut(f"data: {{…, {json.dumps(kept, ensure_ascii=False)[1:]}", 200)


def _curl(url: str, body: dict[str, Any]) -> str:
    return (
        f"curl -s {url}{_CHAT} \\\n"
        '  -H "Authorization: Bearer $TESSERA_KEY" -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(json.dumps(body))}"
    )


def _tour(
    http: _Client, url: str, database: Path, model: str, key_ids: dict[str, str]
) -> ServeTour:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": MAX_TOKENS,
    }
    http.call("liveness", "GET", "/healthz", None)
    http.call("chat, no key", "POST", _CHAT, None, json=body)
    http.call("chat, wrong scope", "POST", _CHAT, "prompts:read", json=body)
    plain = http.call("chat", "POST", _CHAT, "models:invoke", json=body, limit=800).json()
    streamed_body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    chunks, streamed, stream_usage, done = http.stream(_CHAT, "models:invoke", streamed_body)
    oversized = {"messages": [{"role": "user", "content": "x" * BODY_LIMIT}]}
    http.call("body over the limit", "POST", _CHAT, "models:invoke", json=oversized)
    paths = len(http.call("OpenAPI document", "GET", "/openapi.json", None).json()["paths"])
    audit = http.call("audit log", "GET", "/v1/audit", "admin", params={"limit": 50}).json()
    return ServeTour(
        url=url,
        database=str(database),
        model=model,
        key_ids=key_ids,
        calls=http.calls,
        answer=plain["choices"][0]["message"]["content"],
        streamed=streamed,
        usage=plain["usage"],
        stream_usage=stream_usage,
        chunks=chunks,
        done=done,
        openapi_paths=paths,
        audit=list(reversed(audit)),
        curl=_curl(url, body),
    )


def run_tour(model: str = "tessera") -> ServeTour:
    """Start the service with a temporary database, call it over HTTP, stop it.

    Parameters
    ----------
    model : str, default="tessera"
        The model id to serve (:func:`tessera.llm.backends.get_backend`); it is loaded
        (or reused, when this process loaded it already) before the server starts, so
        the timings are the requests' own.

    Returns
    -------
    ServeTour
        Every exchange and what it showed; the database is gone when this returns.
    """
    import httpx

    from tessera.llm.backends import GenerationParams, get_backend
    from tessera.llm.serve import create_app, create_key, start_server

    get_backend(model).chat([{"role": "user", "content": "Hi"}], GenerationParams(max_tokens=1))
    with tempfile.TemporaryDirectory(prefix="tessera-demo-serve-") as folder:
        database = Path(folder) / "tessera.db"
        made = {scope: create_key(name, [scope], path=database) for name, scope in _KEYS}
        app = create_app(db_path=database, models=(model,), max_body_bytes=BODY_LIMIT)
        state = app.state.tessera
        try:
            server = start_server(app)
            try:
                with httpx.Client(base_url=server.url, timeout=120) as client:
                    http = _Client(client, {scope: key for scope, (_, key) in made.items()})
                    key_ids = {scope: key_id for scope, (key_id, _) in made.items()}
                    return _tour(http, server.url, database, model, key_ids)
            finally:
                server.stop()
        finally:
            state.keys.close()
            state.audit.close()


def _skipped(reason: str) -> Section:
    return skipped_section(
        "serve",
        _TITLE,
        "starts the HTTP service on loopback and calls it",
        reason,
        _INSTALL,
    )


def _calls_html(calls: list[Call]) -> str:
    rows = "".join(
        f'<tr data-status="{c.status}"><td>{i}</td><td style="text-align:left">'
        f"{html.escape(c.what)}</td>"
        f'<td style="text-align:left"><code>{html.escape(c.method)} {html.escape(c.path)}</code>'
        f"</td><td>{html.escape(c.key)}</td><td><b>{c.status}</b></td>"
        f'<td style="text-align:left"><pre{_WRAP}>{html.escape(c.body)}</pre></td>'
        f"<td>{c.seconds:.2f}</td></tr>"
        for i, c in enumerate(calls, start=1)
    )
    return (
        '<table class="serve-calls"><tr><th>#</th><th>what</th><th>request</th><th>key sent</th>'
        f"<th>status</th><th>response body</th><th>seconds</th></tr>{rows}</table>"
    )


def _audit_html(entries: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{int(e['id'])}</td><td>{html.escape(e['key_name'] or '(no key)')}</td>"
        f"<td><code>{html.escape(e['key_id'] or '-')}</code></td>"
        f'<td style="text-align:left"><code>{html.escape(e["method"])} '
        f"{html.escape(e['path'])}</code></td><td>{int(e['status'])}</td></tr>"
        for e in entries
    )
    return (
        '<table class="serve-audit"><tr><th>id</th><th>key name</th><th>key id</th>'
        f"<th>what</th><th>status</th></tr>{rows}</table>"
    )


def tour_section(tour: ServeTour) -> Section:
    """The page section and terminal lines for a finished :class:`ServeTour`."""
    same = tour.streamed == tour.answer
    status = {c.what: c.status for c in tour.calls}
    usage = tour.usage
    keys = ", ".join(f"<code>{html.escape(s)}</code>" for _, s in _KEYS)
    body = (
        f"<p>The service ran on <code>{html.escape(tour.url)}</code> (a free loopback port) "
        f"serving the model <code>{html.escape(tour.model)}</code>, with the temporary "
        f'database <code class="serve-db">{html.escape(tour.database)}</code> (removed '
        f"afterwards), a body limit of {BODY_LIMIT} bytes and three keys, with the scopes "
        f"{keys}. Every row below is a real request made with httpx; keys are never "
        "shown.</p>"
        + _calls_html(tour.calls)
        + f'<h3>The answer</h3><pre{_WRAP} class="serve-answer">{html.escape(tour.answer)}'
        f"</pre><p>{usage.get('prompt_tokens', 0)} prompt tokens, "
        f"{usage.get('completion_tokens', 0)} completion tokens (at most {MAX_TOKENS}).</p>"
        f"<h3>The same request, streamed</h3><p>{tour.chunks} server-sent "
        "<code>chat.completion.chunk</code> events, "
        + ("then <code>data: [DONE]</code>" if tour.done else "<b>with no</b> <code>[DONE]</code>")
        + "; their "
        f'pieces joined read:</p><pre{_WRAP} class="serve-streamed">'
        f"{html.escape(tour.streamed)}</pre><p>Same text as the plain answer: "
        f"<b>{'yes' if same else 'NO'}</b>; usage {html.escape(json.dumps(tour.stream_usage))}"
        ".</p>"
        "<h3>The chat call with curl</h3><p>With the <code>models:invoke</code> key in the "
        "environment variable <code>TESSERA_KEY</code>:</p>"
        f'<pre class="serve-curl">{html.escape(tour.curl)}</pre>'
        f"<h3>The audit log</h3><p><code>GET /v1/audit</code> with the admin key: every "
        "write, refused ones included, with the key's id and name (never the key), the "
        "path (never the body) and the status.</p>"
        + _audit_html(tour.audit)
        + '<p class="muted">From the terminal: <code>tessera keys create my-app --scopes '
        "models:invoke</code>, <code>tessera serve</code>, <code>tessera keys audit</code>; "
        f"<code>GET /openapi.json</code> lists all {tour.openapi_paths} paths.</p>"
    )
    summary = [
        f"{tour.url} (temporary database): healthz {status['liveness']}, chat without a key "
        f"{status['chat, no key']}, with prompts:read {status['chat, wrong scope']}, with "
        f"models:invoke {status['chat']}, a {BODY_LIMIT}+ byte body "
        f"{status['body over the limit']}",
        f"answer: {tour.answer.strip()[:60]!r} ({usage.get('completion_tokens', 0)} tokens); "
        f"streamed in {tour.chunks} chunks, same text: {'yes' if same else 'NO'}",
        f"openapi.json: {tour.openapi_paths} paths; audit log: {len(tour.audit)} entries",
    ]
    return Section(key="serve", title=_TITLE, summary=summary, body_html=body)


def serve_section() -> Section:
    """Run :func:`run_tour` on the embedded model; a note instead without the extra."""
    from tessera.llm._model import default_gguf_path
    from tessera.llm._torch import require

    try:
        for module in ("torch", "transformers", "fastapi", "uvicorn", "httpx", "argon2"):
            require(module)
        default_gguf_path()
    except MissingExtraError as exc:
        return _skipped(str(exc))
    return tour_section(run_tour())
