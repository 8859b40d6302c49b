"""Guardrails over HTTP against a live server: the registry, apply, and guarded chat completions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serve_live import Live, sse_events, start_live

from tessera.llm.backends import GenerationParams, get_backend
from tessera.llm.guard import apply_guardrail
from tessera.llm.serve import RateLimit

EMAILS = {"sensitive_information": {"entities": ["EMAIL", "PHONE"], "action": "ANONYMIZE"}}
COMPETITORS = {
    "words": {"words": ["globex"], "action": "BLOCK"},
    "blocked_input_message": "We only talk about our own products.",
}
#: Masks every word of an answer: shows that the answer itself was checked.
EVERY_WORD = {
    "sensitive_information": {
        "regexes": [{"name": "WORD", "pattern": r"\S+"}],
        "action": "ANONYMIZE",
        "sources": ["output"],
    }
}
QUESTION = [
    {"role": "system", "content": "you are a cat"},
    {"role": "user", "content": "what is the sun"},
]


@pytest.fixture(scope="module")
def stored(live: Live) -> Live:
    """The live server with guardrails ``emails@production``, ``competitors``, ``every-word``."""
    writer = live.client("guardrails:write")
    for name, body in (
        ("emails", EMAILS),
        ("competitors", COMPETITORS),
        ("every-word", EVERY_WORD),
    ):
        assert writer.post("/v1/guardrails", json={"name": name, "body": body}).status_code == 201
        assert writer.post(f"/v1/guardrails/{name}/versions", json={}).status_code == 201
    writer.put("/v1/guardrails/emails/labels/production", json={"version": 1})
    return live


def test_guardrail_lifecycle_and_validation(stored: Live) -> None:
    writer, reader = stored.client("guardrails:write"), stored.client("guardrails:read")
    bad = {"sensitive_information": {"entities": ["EMAL"], "action": "MASK"}}
    refused = writer.post("/v1/guardrails", json={"name": "bad", "body": bad})
    message = refused.json()["error"]["message"]
    assert refused.status_code == 400
    assert "sensitive_information.entities[0].type='EMAL'" in message
    assert "sensitive_information.action='MASK'" in message
    assert reader.get("/v1/guardrails/bad").status_code == 404  # nothing was stored
    assert reader.post("/v1/guardrails", json={"name": "x", "body": EMAILS}).status_code == 403

    created = writer.post(
        "/v1/guardrails", json={"name": "g", "body": {"words": {"words": ["foo"]}}}
    )
    # Stored in normal form: the defaults written out.
    assert created.json()["body"]["words"] == {
        "profanity": False, "words": ["foo"], "action": "BLOCK", "sources": ["input", "output"],
    }  # fmt: skip
    assert writer.post("/v1/guardrails/g/versions", json={"message": "one"}).json()["number"] == 1
    stricter = {"words": {"words": ["foo", "bar"]}}
    assert writer.put("/v1/guardrails/g/draft", json={"body": stricter}).status_code == 200
    assert writer.put("/v1/guardrails/g/draft", json={"body": bad}).status_code == 400
    assert writer.post("/v1/guardrails/g/versions", json={}).json()["number"] == 2
    assert writer.put("/v1/guardrails/g/labels/production", json={"version": 1}).json() == {
        "latest": 2,
        "production": 1,
    }
    assert reader.get("/v1/guardrails/g").json()["versions"] == [1, 2]
    listed = {entry["name"] for entry in reader.get("/v1/guardrails").json()}
    assert {"emails", "competitors", "every-word", "g"} <= listed

    applier = stored.client("guardrails:apply")

    def action(ref: str, text: str) -> str:
        answer = applier.post("/v1/guardrails/apply", json={"guardrail": ref, "text": text})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["action"])

    assert (action("g@production", "a bar"), action("g", "a bar")) == ("NONE", "INTERVENED")
    assert writer.delete("/v1/guardrails/g/labels/production").json() == {"latest": 2}
    assert writer.delete("/v1/guardrails/g").json() == {"deleted": "g"}
    missing = applier.post("/v1/guardrails/apply", json={"guardrail": "g", "text": "a"})
    assert missing.status_code == 404 and "name='g'" in missing.json()["error"]["message"]


@settings(max_examples=15)
@given(
    words=st.lists(
        st.sampled_from(["call", "me", "at", "ann@example.org", "+1 650 253 0000", "x"]), max_size=8
    ),
    source=st.sampled_from(["input", "output"]),
)
def test_apply_over_http_equals_the_library(stored: Live, words: list[str], source: str) -> None:
    text = " ".join(words)
    answer = stored.client("guardrails:apply").post(
        "/v1/guardrails/apply",
        json={"guardrail": "emails@production", "text": text, "source": source},
    )
    assert answer.status_code == 200, answer.text
    expected = apply_guardrail(EMAILS, text, source=source).to_dict()  # type: ignore[arg-type]
    assert answer.json() == {"guardrail": "emails@production", "version": 1, **expected}


def test_inline_configurations_need_write_and_are_checked(stored: Live) -> None:
    body = {"guardrail": COMPETITORS, "text": "Is Globex cheaper?"}
    refused = stored.client("guardrails:apply").post("/v1/guardrails/apply", json=body)
    assert refused.status_code == 403 and "guardrails:write" in refused.json()["error"]["message"]
    admin = stored.client("admin")
    answer = admin.post("/v1/guardrails/apply", json=body).json()
    assert (answer["guardrail"], answer["version"]) == ("inline", None)
    assert answer["text"] == "We only talk about our own products."
    assert answer["assessments"]["words"][0]["match"] == "Globex"
    broken = admin.post("/v1/guardrails/apply", json={**body, "guardrail": {"words": {}}})
    assert broken.status_code == 400 and "words=" in broken.json()["error"]["message"]
    needs_source = {"guardrail": {"grounding": {}}, "text": "It was 1899.", "source": "output"}
    answer = admin.post("/v1/guardrails/apply", json=needs_source)
    assert answer.status_code == 400 and "grounding_source" in answer.json()["error"]["message"]
    scopes = stored.client("models:invoke").post("/v1/guardrails/apply", json=body)
    assert scopes.status_code == 403


def _chat(client: Any, guardrail: Any, messages: Any = QUESTION, **extra: Any) -> Any:
    body = {"messages": messages, "max_tokens": 6, "guardrail": guardrail, **extra}
    return client.post("/v1/chat/completions", json=body)


def test_chat_checks_the_last_user_message_before_the_model(stored: Live) -> None:
    tiny = get_backend(stored.client("admin").get("/v1/models").json()["data"][0]["id"])
    client = stored.client("admin")
    asked = [*QUESTION[:1], {"role": "user", "content": "mail ann@example.org the sun"}]
    masked = _chat(client, "emails@production", asked)
    assert masked.status_code == 200, masked.text
    seen = [*QUESTION[:1], {"role": "user", "content": "mail {EMAIL} the sun"}]
    direct = tiny.chat(seen, GenerationParams(max_tokens=6))
    answer = masked.json()
    assert answer["choices"][0]["message"]["content"] == direct.text  # the model saw the mask
    assert answer["usage"]["prompt_tokens"] == direct.prompt_tokens
    assert answer["guardrail"] == {
        "ref": "emails@production", "version": 1, "action": "INTERVENED",
        "input_action": "INTERVENED", "output_action": "NONE",
    }  # fmt: skip

    blocked = _chat(
        client, {"ref": "competitors", "trace": True}, [{"role": "user", "content": "globex?"}]
    )
    answer = blocked.json()
    assert answer["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "We only talk about our own products."},
        "finish_reason": "content_filter",
    }
    assert answer["guardrail"]["output_action"] is None  # no answer was generated
    assert answer["guardrail"]["trace"]["input"]["assessments"]["words"][0]["match"] == "globex"
    # Only a key that may also apply guardrails may ask for one.
    refused = _chat(stored.client("models:invoke"), "emails")
    assert refused.status_code == 403 and "guardrails:apply" in refused.json()["error"]["message"]


def test_chat_answers_are_checked_streamed_or_not(stored: Live) -> None:
    client = stored.client("admin")
    plain = client.post("/v1/chat/completions", json={"messages": QUESTION, "max_tokens": 6})
    text = plain.json()["choices"][0]["message"]["content"]
    guarded = _chat(client, {"ref": "every-word", "trace": True}).json()
    assert guarded["choices"][0]["message"]["content"] == re.sub(r"\S+", "{WORD}", text)
    assert guarded["usage"] == plain.json()["usage"]
    findings = guarded["guardrail"]["trace"]["output"]["assessments"]["sensitive_information"]
    assert [f["match"] for f in findings] == text.split()
    assert guarded["guardrail"]["trace"]["input"]["assessments"] == {}  # output-only policy

    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "messages": QUESTION,
            "max_tokens": 6,
            "guardrail": "every-word",
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ) as response:
        assert response.status_code == 200
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert content == guarded["choices"][0]["message"]["content"]
    assert chunks[-2]["guardrail"]["action"] == guarded["guardrail"]["action"]
    assert chunks[-1]["usage"] == guarded["usage"]


def test_chat_guardrail_errors(stored: Live) -> None:
    client = stored.client("admin")
    unknown = _chat(client, "nobody@production")
    assert unknown.status_code == 404
    writer = stored.client("guardrails:write")
    grounded = {"grounding": {"grounding_threshold": 0.7, "relevance_threshold": None}}
    writer.post("/v1/guardrails", json={"name": "grounded", "body": grounded})
    no_source = _chat(client, "grounded@draft")
    assert no_source.status_code == 400
    assert no_source.json()["error"]["param"] == "guardrail.groundingSource"
    relevance = {"grounding": {"grounding_threshold": None, "relevance_threshold": 0.3}}
    writer.post("/v1/guardrails", json={"name": "relevant", "body": relevance})
    no_question = _chat(client, "relevant@draft", [{"role": "system", "content": "hi"}])
    assert no_question.status_code == 400 and no_question.json()["error"]["param"] == "messages"
    typo = _chat(client, {"ref": "emails", "tracing": True})
    assert typo.status_code == 400  # OpenAI's status for a body it cannot accept


@pytest.fixture(scope="module")
def modelless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server whose only model does not exist: any model call fails."""
    folder = tmp_path_factory.mktemp("modelless")
    yield from start_live(
        folder / "tessera.db",
        models=(f"tessera:{folder / 'no-model'}",),
        rate_limit=RateLimit(1000, burst=1000),
    )


def test_a_blocked_chat_never_calls_the_model(modelless: Live, tmp_path: Path) -> None:
    admin = modelless.client("admin")
    admin.post("/v1/guardrails", json={"name": "competitors", "body": COMPETITORS})
    blocked = _chat(admin, "competitors@draft", [{"role": "user", "content": "and Globex?"}])
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["usage"]["total_tokens"] == 0
    passed = _chat(admin, "competitors@draft", [{"role": "user", "content": "and you?"}])
    assert passed.status_code >= 400  # this one reached the (missing) model


def test_flows_on_the_server_use_its_stored_guardrails(stored: Live) -> None:
    node = {
        "name": "guard",
        "type": "Guardrail",
        "configuration": {"guardrail": "emails@production"},
        "inputs": [{"name": "content", "type": "String"}],
        "outputs": [{"name": "content", "type": "String"}],
    }
    document = {
        "name": "guarded",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            node,
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [
            {"name": "a", "type": "Data", "source": "in", "target": "guard",
             "configuration": {"data": {"sourceOutput": "document", "targetInput": "content"}}},
            {"name": "b", "type": "Data", "source": "guard", "target": "out",
             "configuration": {"data": {"sourceOutput": "content", "targetInput": "document"}}},
        ],
    }  # fmt: skip
    admin = stored.client("admin")
    run = admin.post("/v1/flows/invoke", json={"document": document, "inputs": "ann@example.org"})
    assert run.status_code == 200, run.text
    assert run.json()["outputs"] == {"out": "{EMAIL}"}
    (event,) = [e for e in run.json()["events"] if e["kind"] == "guardrail"]
    assert (event["node"], event["data"]["guardrail"]) == ("guard", "emails@production")
    trace = admin.get(f"/v1/flows/traces/{run.json()['run_id']}").json()
    assert "guardrail" in [e["kind"] for e in trace["events"]]


@pytest.fixture(scope="module")
def enforcing(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Any) -> Iterator[Live]:
    """A server started with ``guardrail="emails@production"``: every chat is checked."""
    from tessera.llm._versioned import VersionedStore
    from tessera.llm.guard import GuardrailConfig, save_guardrail

    db = tmp_path_factory.mktemp("enforcing") / "tessera.db"
    version = save_guardrail("emails", GuardrailConfig.from_mapping(EMAILS), db=db)
    VersionedStore("guardrail", db).set_label("emails", "production", version.number)
    yield from start_live(
        db,
        models=(f"tessera:{tiny_llama.folder}",),
        rate_limit=RateLimit(1000, burst=1000),
        guardrail="emails@production",
    )


def test_an_enforced_guardrail_checks_every_key_and_cannot_be_swapped(enforcing: Live) -> None:
    tiny = get_backend(enforcing.client("admin").get("/v1/models").json()["data"][0]["id"])
    client = enforcing.client("models:invoke")  # no guardrails scope needed
    asked = [{"role": "user", "content": "mail ann@example.org the sun"}]
    body = {"messages": asked, "max_tokens": 6}
    answer = client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    seen = [{"role": "user", "content": "mail {EMAIL} the sun"}]
    expected = tiny.chat(seen, GenerationParams(max_tokens=6)).text
    assert answer.json()["choices"][0]["message"]["content"] == expected
    assert answer.json()["guardrail"]["ref"] == "emails@production"
    assert answer.json()["guardrail"]["input_action"] == "INTERVENED"
    same = client.post("/v1/chat/completions", json={**body, "guardrail": "emails@production"})
    assert same.status_code == 200
    other = client.post("/v1/chat/completions", json={**body, "guardrail": "emails@1"})
    assert other.status_code == 400 and other.json()["error"]["param"] == "guardrail"


def test_an_enforced_guardrail_must_exist_and_need_no_grounding_source(tmp_path: Path) -> None:
    from tessera.errors import InvalidInputError, NotFoundError
    from tessera.llm.guard import GuardrailConfig, save_guardrail
    from tessera.llm.serve import create_app

    db = tmp_path / "tessera.db"
    with pytest.raises(NotFoundError):
        create_app(db_path=db, guardrail="missing@production")
    grounded = {"grounding": {"grounding_threshold": 0.7, "relevance_threshold": None}}
    save_guardrail("grounded", GuardrailConfig.from_mapping(grounded), db=db)
    with pytest.raises(InvalidInputError, match="cannot check grounding"):
        create_app(db_path=db, guardrail="grounded")
