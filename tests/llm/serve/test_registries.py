"""Prompts and flows over HTTP against a live server: versions, labels, render, invoke, traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serve_live import Live, sse_events

from tessera.llm.backends import GenerationParams, get_backend, register_endpoint

GREETING = {"type": "text", "text": "Hello {{name}}!", "variables": {"name": {}}}


@pytest.fixture(scope="module")
def tiny_id(tiny_llama: Any) -> str:
    return f"tessera:{tiny_llama.folder}"


def test_prompt_lifecycle(live: Live) -> None:
    writer, reader = live.client("prompts:write"), live.client("prompts:read")
    created = writer.post("/v1/prompts", json={"name": "greet", "body": GREETING, "tags": ["t"]})
    assert created.status_code == 201, created.text
    assert created.json()["body"]["text"] == "Hello {{name}}!"
    again = writer.post("/v1/prompts", json={"name": "greet", "body": GREETING})
    assert again.status_code == 409 and "exists already" in again.json()["error"]["message"]
    assert reader.post("/v1/prompts", json={"name": "x", "body": GREETING}).status_code == 403

    v1 = writer.post("/v1/prompts/greet/versions", json={"message": "first"})
    assert (v1.status_code, v1.json()["number"], v1.json()["message"]) == (201, 1, "first")
    changed = {**GREETING, "text": "Good day, {{name}}."}
    assert writer.put("/v1/prompts/greet/draft", json={"body": changed}).status_code == 200
    assert writer.post("/v1/prompts/greet/versions", json={}).json()["number"] == 2
    labels = writer.put("/v1/prompts/greet/labels/production", json={"version": 1})
    assert labels.json() == {"latest": 2, "production": 1}

    shown = reader.get("/v1/prompts/greet").json()
    assert shown["versions"] == [1, 2] and shown["draft"]["tags"] == ["t"]
    assert reader.get("/v1/prompts").json() == [
        {"name": "greet", "labels": {"latest": 2, "production": 1}}
    ]
    assert [v["number"] for v in reader.get("/v1/prompts/greet/versions").json()] == [1, 2]
    assert reader.get("/v1/prompts/greet/versions/2").json()["body"]["text"] == changed["text"]

    def render(ref: str, **variables: Any) -> Any:
        return reader.post(f"/v1/prompts/{ref}/render", json={"variables": variables})

    assert render("greet@production", name="Ada").json() == {
        "ref": "greet@production",
        "text": "Hello Ada!",
    }
    assert render("greet", name="Ada").json()["text"] == "Good day, Ada."
    missing = render("greet@1")
    assert missing.status_code == 400 and "name" in missing.json()["error"]["message"]
    unknown = render("greet@1", name="Ada", colour="red")
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]["message"]

    diff = reader.get("/v1/prompts/greet@1/diff/greet@2").json()
    assert not diff["identical"] and "-text: Hello {{name}}!" in diff["unified"]
    assert [c["path"] for c in diff["changes"]] == ["text"]

    # Deleting: a label, then the version it pointed at, then the prompt.
    assert writer.delete("/v1/prompts/greet/labels/production").json() == {"latest": 2}
    assert writer.delete("/v1/prompts/greet/versions/1").status_code == 200
    assert reader.get("/v1/prompts/greet").json()["versions"] == [2]
    assert reader.post("/v1/prompts/greet@1/render", json={}).status_code == 404
    assert writer.delete("/v1/prompts/greet").json() == {"deleted": "greet"}
    assert reader.get("/v1/prompts/greet").status_code == 404
    # Writes reached the audit log under the writer's key.
    audit = live.client("admin").get("/v1/audit", params={"key_id": live.key_ids["prompts:write"]})
    paths = {(e["method"], e["path"], e["status"]) for e in audit.json()}
    assert ("DELETE", "/v1/prompts/greet", 200) in paths
    assert ("POST", "/v1/prompts", 409) in paths


def test_chat_prompt_renders_messages(live: Live) -> None:
    body = {
        "type": "chat",
        "system": "be {{tone}}",
        "messages": [{"role": "user", "content": "hi {{name}}"}],
        "variables": {"name": {}, "tone": {"default": "kind"}},
    }
    writer = live.client("prompts:write")
    assert writer.post("/v1/prompts", json={"name": "chatty", "body": body}).status_code == 201
    rendered = writer.post("/v1/prompts/chatty@draft/render", json={"variables": {"name": "Bo"}})
    assert rendered.json()["messages"] == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "hi Bo"},
    ]
    bad = writer.post("/v1/prompts", json={"name": "bad", "body": {"type": "text"}})
    assert bad.status_code == 400 and "text" in bad.json()["error"]["message"]


def _flow(name: str, prompt_ref: str) -> dict[str, Any]:
    def data(source: str, output: str, target: str, port: str) -> dict[str, Any]:
        config = {"data": {"sourceOutput": output, "targetInput": port}}
        return {"type": "Data", "source": source, "target": target, "configuration": config}

    return {
        "name": name,
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "Object"}]},
            {
                "name": "ask",
                "type": "Prompt",
                "configuration": {"prompt": prompt_ref},
                "inputs": [{"name": "animal", "type": "String", "expression": "$.data.animal"}],
                "outputs": [{"name": "modelCompletion", "type": "String"}],
            },
            {
                "name": "out",
                "type": "Output",
                "inputs": [{"name": "document", "type": "String", "expression": "$.data"}],
            },
        ],
        "connections": [
            data("in", "document", "ask", "animal"),
            data("ask", "modelCompletion", "out", "document"),
        ],
    }


def _ask_body(model: str) -> dict[str, Any]:
    return {
        "type": "chat",
        "system": "answer simply",
        "messages": [{"role": "user", "content": "what is a {{animal}}"}],
        "variables": {"animal": {}},
        "variants": [{"name": "main", "model": model, "max_tokens": 4}],
    }


EXPECTED_MESSAGES = [
    {"role": "system", "content": "answer simply"},
    {"role": "user", "content": "what is a dog"},
]


@pytest.fixture(scope="module")
def ask_prompt(live: Live, tiny_id: str) -> str:
    writer = live.client("prompts:write")
    assert writer.post("/v1/prompts", json={"name": "ask", "body": _ask_body(tiny_id)}).is_success
    writer.post("/v1/prompts/ask/versions", json={"message": "v1"})
    writer.put("/v1/prompts/ask/labels/production", json={"version": 1})
    return "ask@production"


def test_flow_validate_save_invoke_and_trace(live: Live, tiny_id: str, ask_prompt: str) -> None:
    reader, writer = live.client("flows:read"), live.client("flows:write")
    invoker = live.client("flows:invoke")
    flow = _flow("animals", ask_prompt)

    broken = {**flow, "connections": flow["connections"][:1]}
    report = reader.post("/v1/flows/validate", json={"document": broken}).json()
    assert report["valid"] is False
    assert any(p["node"] == "out" for p in report["problems"])
    assert reader.post("/v1/flows/validate", json={"document": flow}).json() == {
        "valid": True,
        "problems": [],
    }
    refused = writer.post("/v1/flows/save", json={"document": broken})
    assert refused.status_code == 422
    assert any(p["node"] == "out" for p in refused.json()["error"]["problems"])

    assert reader.post("/v1/flows/save", json={"document": flow}).status_code == 403
    saved = writer.post("/v1/flows/save", json={"document": flow, "label": "production"})
    assert saved.status_code == 201 and saved.json()["number"] == 1
    assert reader.get("/v1/flows/animals/labels").json() == {"latest": 1, "production": 1}

    direct = get_backend(tiny_id).chat(EXPECTED_MESSAGES, GenerationParams(max_tokens=4))
    assert invoker.post("/v1/flows/animals/invoke", json={"inputs": {}}).status_code == 400
    # Streamed or not, inputs of the wrong type are refused before the response starts.
    for stream in (False, True):
        wrong = invoker.post("/v1/flows/animals/invoke", json={"inputs": "dog", "stream": stream})
        assert wrong.status_code == 400, wrong.text
        assert "declares its document Object" in wrong.json()["error"]["message"]
    assert invoker.post("/v1/flows/nothing/invoke", json={"inputs": {}}).status_code == 404
    ran = invoker.post("/v1/flows/animals@production/invoke", json={"inputs": {"animal": "dog"}})
    assert ran.status_code == 200, ran.text
    result = ran.json()
    assert result["outputs"] == {"out": direct.text}
    assert result["events"][0]["kind"] == "flow_start"
    assert result["events"][-1]["kind"] == "flow_end"

    with invoker.stream(
        "POST", "/v1/flows/animals/invoke", json={"inputs": {"animal": "dog"}, "stream": True}
    ) as response:
        assert response.status_code == 200
        lines = list(response.iter_lines())
    kinds = [line[len("event: ") :] for line in lines if line.startswith("event: ")]
    assert kinds[0] == "flow_start" and kinds[-1] == "flow_end"
    assert kinds == [e["kind"] for e in result["events"]]

    traces = reader.get("/v1/flows/traces", params={"flow": "animals"}).json()
    assert result["run_id"] in {t["run_id"] for t in traces}
    assert {t["flow_version"] for t in traces} == {1}
    stored = reader.get(f"/v1/flows/traces/{result['run_id']}").json()
    assert stored["status"] == "succeeded" and stored["outputs"] == {"out": direct.text}
    assert [e["kind"] for e in stored["events"]] == kinds
    assert reader.get("/v1/flows/traces/nope").status_code == 404


def test_prompt_variants_run_side_by_side_on_served_models(
    live: Live, tiny_id: str, ask_prompt: str
) -> None:
    body = {"variables": {"animal": "dog"}}
    refused = live.client("prompts:read").post(f"/v1/prompts/{ask_prompt}/run", json=body)
    assert refused.status_code == 403 and "models:invoke" in refused.json()["error"]["message"]
    ran = live.client("admin").post(f"/v1/prompts/{ask_prompt}/run", json=body)
    assert ran.status_code == 200, ran.text
    [run] = ran.json()["runs"]
    direct = get_backend(tiny_id).chat(EXPECTED_MESSAGES, GenerationParams(max_tokens=4))
    assert (run["variant"], run["model"], run["text"]) == ("main", tiny_id, direct.text)
    assert run["completion_tokens"] == direct.completion_tokens
    unknown = live.client("admin").post(
        f"/v1/prompts/{ask_prompt}/run", json={**body, "variants": ["nope"]}
    )
    assert unknown.status_code == 400 and "'nope'" in unknown.json()["error"]["message"]


@settings(max_examples=15)
@given(name=st.text(max_size=30))
def test_render_over_http_equals_the_library(live: Live, name: str) -> None:
    """Metamorphic: the HTTP layer adds nothing to and loses nothing of the rendered text."""
    from tessera.llm.prompts import render

    client = live.client("prompts:write")
    if client.get("/v1/prompts/echo").status_code == 404:
        client.post("/v1/prompts", json={"name": "echo", "body": GREETING})
    response = client.post("/v1/prompts/echo@draft/render", json={"variables": {"name": name}})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == render(GREETING, {"name": name})


def test_inline_flows_need_write_and_served_models(live: Live, tiny_id: str) -> None:
    inline = _flow("inline", "ask@production")
    body = {"document": inline, "inputs": {"animal": "dog"}}
    refused = live.client("flows:invoke").post("/v1/flows/invoke", json=body)
    assert refused.status_code == 403 and "flows:write" in refused.json()["error"]["message"]
    admin = live.client("admin")
    assert admin.post("/v1/flows/invoke", json=body).json()["outputs"]["out"]
    # A Prompt whose variant names a model this server does not serve fails, by name.
    writer = live.client("prompts:write")
    writer.post("/v1/prompts", json={"name": "far", "body": _ask_body("tessera:/etc")})
    writer.post("/v1/prompts/far/versions", json={})
    failed = admin.post(
        "/v1/flows/invoke", json={"document": _flow("far", "far"), "inputs": {"animal": "x"}}
    )
    assert failed.status_code == 400
    error = failed.json()["error"]
    assert "'tessera:/etc' is not served here" in error["message"]
    far = admin.post("/v1/prompts/far/run", json={"variables": {"animal": "x"}})
    assert far.status_code == 400 and "'tessera:/etc', which this" in far.json()["error"]["message"]
    assert error["node"] == "ask" and error["run_id"]
    trace = admin.get(f"/v1/flows/traces/{error['run_id']}").json()
    assert trace["status"] == "failed"


def test_a_flow_whose_prompt_variant_calls_our_server(
    live: Live, tiny_id: str, tmp_path: Path
) -> None:
    """A flow run here, its Prompt node's model behind our own server's chat endpoint."""
    from tessera.llm.flows import run_flow

    register_endpoint("selfflow", f"{live.url}/v1", api_key=live.keys["models:invoke"])
    flow = _flow("remote", "unused")
    flow["nodes"][1]["configuration"] = {"inline": _ask_body(f"selfflow:{tiny_id}")}
    result = run_flow(flow, {"animal": "dog"}, trace=False, db=tmp_path / "t.db")
    direct = get_backend(tiny_id).chat(EXPECTED_MESSAGES, GenerationParams(max_tokens=4))
    assert result.outputs == {"out": direct.text}
    # The request really went through the service: it is in the audit log.
    entries = live.client("admin").get(
        "/v1/audit", params={"key_id": live.key_ids["models:invoke"], "limit": 1}
    )
    assert entries.json()[0]["path"] == "/v1/chat/completions"
    assert entries.json()[0]["status"] == 200


def test_sse_helper_reads_chat_streams(live: Live) -> None:
    """The SSE reader used above rejects anything but data lines and blank separators."""
    client = live.client("models:invoke")
    request = {"messages": [{"role": "user", "content": "a"}], "max_tokens": 2, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=request) as response:
        events = sse_events(response)
    assert events[-1] == "[DONE]" and len(events) >= 3
