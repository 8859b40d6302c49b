"""Guardrails in real flows: the Guardrail node, branching on its action, a guarded Prompt node."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _flowdocs import data
from tessera.llm._versioned import VersionedStore
from tessera.llm.flows import FlowRunError, get_trace, run_flow, validate_flow
from tessera.llm.guard import apply_guardrail, save_guardrail
from tessera.llm.prompts import PromptRegistry

EMAILS = {"sensitive_information": {"entities": ["EMAIL"], "action": "ANONYMIZE"}}
BLOCK_WORDS = {"words": {"words": ["globex"], "action": "BLOCK"}}


def guard_flow(
    guardrail: Any, *, source: str = "input", document: str = "String"
) -> dict[str, Any]:
    """Input -> Guardrail -> Condition on its action -> Output ``clean`` or ``flagged``.

    ``flagged`` receives the guardrail's text; ``clean`` the input unchanged; ``report``
    the assessments whenever the guardrail ran.
    """
    grounded = document == "Object"
    inputs = [
        {
            "name": "content",
            "type": "String",
            "expression": "$.data.answer" if grounded else "$.data",
        }
    ]
    connections = [data("in", "document", "guard", "content")]
    if grounded:
        for port in ("groundingSource", "query"):
            inputs.append({"name": port, "type": "String", "expression": f"$.data.{port}"})
            connections.append(data("in", "document", "guard", port))
    nodes = [
        {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": document}]},
        {
            "name": "guard",
            "type": "Guardrail",
            "configuration": {"guardrail": guardrail, "source": source},
            "inputs": inputs,
            "outputs": [
                {"name": "content", "type": "String"},
                {"name": "action", "type": "String"},
                {"name": "assessments", "type": "Object"},
            ],
        },
        {
            "name": "route",
            "type": "Condition",
            "inputs": [{"name": "action", "type": "String"}],
            "configuration": {
                "conditions": [
                    {"name": "intervened", "expression": "action == 'INTERVENED'"},
                    {"name": "default"},
                ]
            },
        },
        {"name": "flagged", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        {"name": "clean", "type": "Output", "inputs": [{"name": "document", "type": document}]},
        {"name": "report", "type": "Output", "inputs": [{"name": "document", "type": "Object"}]},
    ]
    connections += [
        data("guard", "action", "route", "action"),
        data("guard", "content", "flagged", "document"),
        data("in", "document", "clean", "document"),
        data("guard", "assessments", "report", "document"),
        {"name": "c-int", "type": "Conditional", "source": "route", "target": "flagged",
         "configuration": {"conditional": {"condition": "intervened"}}},
        {"name": "c-def", "type": "Conditional", "source": "route", "target": "clean",
         "configuration": {"conditional": {"condition": "default"}}},
    ]  # fmt: skip
    return {"name": "guarded", "nodes": nodes, "connections": connections}


def test_a_condition_branches_on_the_guardrails_action(tessera_home: Path) -> None:
    flow = guard_flow(EMAILS)
    assert validate_flow(flow) == []
    masked = run_flow(flow, "Write to ann@example.org today.", trace=False)
    assert masked.outputs["flagged"] == "Write to {EMAIL} today."
    assert "clean" not in masked.outputs
    (finding,) = masked.outputs["report"]["sensitive_information"]
    assert (finding["type"], finding["start"], finding["end"]) == ("EMAIL", 9, 24)

    plain = run_flow(flow, "Write to Ann today.", trace=False)
    assert plain.outputs == {
        "clean": "Write to Ann today.",
        "report": {"sensitive_information": []},
    }


def test_a_blocked_input_becomes_the_blocked_message(tessera_home: Path) -> None:
    config = {**BLOCK_WORDS, "blocked_input_message": "No competitors, please."}
    result = run_flow(guard_flow(config), "Is Globex cheaper?", trace=False)
    assert result.outputs["flagged"] == "No competitors, please."
    (finding,) = result.outputs["report"]["words"]
    assert finding["action"] == "BLOCKED" and finding["match"] == "Globex"
    # The same words on the output side are answered with the output message.
    out = run_flow(guard_flow(config, source="output"), "Globex is cheaper.", trace=False)
    assert out.outputs["flagged"] == "Sorry, I can't provide that response."


@settings(max_examples=25)
@given(
    before=st.text(alphabet="abc XYZ.,", max_size=20),
    user=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    after=st.text(alphabet="abc XYZ.,", max_size=20),
)
def test_the_node_gives_what_apply_guardrail_gives(before: str, user: str, after: str) -> None:
    text = f"{before} {user}@example.org {after}"
    expected = apply_guardrail(EMAILS, text)
    result = run_flow(guard_flow(EMAILS), text, trace=False)
    assert result.outputs.get("flagged", result.outputs.get("clean")) == expected.text
    assert "@example.org" not in result.outputs["flagged"]


def test_registry_references_resolve_when_the_node_runs(tmp_path: Path) -> None:
    db = tmp_path / "tessera.db"
    registry = PromptRegistry(db)  # guardrails resolve in the prompt registry's database
    save_guardrail("support", EMAILS, db=db)
    save_guardrail("support", BLOCK_WORDS, db=db)
    VersionedStore("guardrail", db=db).set_label("support", "production", 1)
    flow = guard_flow("support@production")
    assert validate_flow(flow) == []
    run = run_flow(flow, "ann@example.org at Globex", registry=registry, db=db)
    assert run.outputs["flagged"] == "{EMAIL} at Globex"
    VersionedStore("guardrail", db=db).set_label("support", "production", 2)
    moved = run_flow(flow, "ann@example.org at Globex", registry=registry, db=db)
    assert moved.outputs["flagged"] == "Sorry, I can't respond to that request."
    # The trace records the guardrail's assessment with the reference it used.
    events = [e for e in get_trace(moved.run_id, db=db).events if e.kind == "guardrail"]
    assert [(e.node, e.data["guardrail"], e.data["action"]) for e in events] == [
        ("guard", "support@production", "INTERVENED")
    ]
    assert events[0].data["assessments"]["words"][0]["match"] == "Globex"

    missing = guard_flow("nobody@production")
    with pytest.raises(FlowRunError, match=r"node 'guard' failed: .*name='nobody'"):
        run_flow(missing, "hello", registry=registry, trace=False)


def test_inline_configurations_are_checked_when_validating() -> None:
    bad = {"sensitive_information": {"entities": ["EMAL"], "action": "MASK"}, "wrods": {}}
    flow = guard_flow(bad)
    flow["nodes"][1]["outputs"].append({"name": "score", "type": "Number"})
    flow["nodes"][1]["inputs"].append({"name": "query", "type": "Number"})
    problems = {p.field: p.message for p in validate_flow(flow) if p.node == "guard"}
    prefix = "configuration.guardrail."
    assert "unknown entity type" in problems[f"{prefix}sensitive_information.entities[0].type"]
    assert "'MASK'" in problems[f"{prefix}sensitive_information.action"]
    assert "not permitted" in problems[f"{prefix}wrods"]
    assert "remove it or rename it" in problems["outputs.score"]
    assert "declare type: String" in problems["inputs.query.type"]
    flow = guard_flow("not a ref@@x")
    fields = {(p.node, p.field) for p in validate_flow(flow)}
    assert ("guard", "configuration.guardrail") in fields


def test_grounding_inputs_reach_the_check(tessera_home: Path) -> None:
    config = {"grounding": {"grounding_threshold": 0.7, "relevance_threshold": 0.3}}
    flow = guard_flow(config, source="output", document="Object")
    assert validate_flow(flow) == []
    source = "The Eiffel Tower was completed in 1889 for the World's Fair."
    query = "When was the Eiffel Tower finished?"
    wrong = {
        "answer": "It was completed in 1899 for the Olympic Games.",
        "groundingSource": source,
        "query": query,
    }
    right = {**wrong, "answer": "The Eiffel Tower was completed in 1889."}
    flagged = run_flow(flow, wrong, trace=False)
    assert flagged.outputs["flagged"] == "Sorry, I can't provide that response."
    kept = run_flow(flow, right, trace=False)
    assert kept.outputs["clean"] == right
    scores = {f["type"]: f["score"] for f in kept.outputs["report"]["grounding"]}
    worse = {f["type"]: f["score"] for f in flagged.outputs["report"]["grounding"]}
    assert worse["GROUNDING"] < 0.7 <= scores["GROUNDING"]


# -- a guardrail attached to a Prompt node -------------------------------------------------


def prompt_flow(model: str, guardrail: dict[str, Any]) -> dict[str, Any]:
    body = {
        "type": "text",
        "text": "Answer: {{question}}",
        "variables": {"question": {}},
        "variants": [{"model": model, "max_tokens": 6}],
    }
    return {
        "name": "guarded-prompt",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "answer",
                "type": "Prompt",
                "configuration": {"inline": body, "guardrail": guardrail},
                "inputs": [{"name": "question", "type": "String"}],
                "outputs": [{"name": "modelCompletion", "type": "String"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [
            data("in", "document", "answer", "question"),
            data("answer", "modelCompletion", "out", "document"),
        ],
    }


def test_a_blocked_prompt_input_never_reaches_the_model(tmp_path: Path) -> None:
    # The model id names no model: calling it would fail the run.
    flow = prompt_flow(f"tessera:{tmp_path / 'no-model'}", {"guardrail": BLOCK_WORDS})
    assert validate_flow(flow) == []
    db = tmp_path / "t.db"
    result = run_flow(flow, "tell me about globex", db=db)
    assert result.outputs == {"out": "Sorry, I can't respond to that request."}
    events = [e for e in get_trace(result.run_id, db=db).events if e.kind == "guardrail"]
    assert [(e.node, e.data["source"], e.data["action"], e.data["message"]) for e in events] == [
        ("answer", "input", "INTERVENED", 0)
    ]
    with pytest.raises(FlowRunError, match="node 'answer' failed"):
        run_flow(flow, "tell me about cats", trace=False)  # passes the guardrail: model called


def test_the_model_sees_the_masked_prompt_and_the_answer_is_checked(
    tiny_llama: Any, tessera_home: Path
) -> None:
    from tessera.llm.backends import GenerationParams, get_backend

    model = f"tessera:{tiny_llama.folder}"
    masked_in = run_flow(
        prompt_flow(model, {"guardrail": EMAILS, "applyTo": "input"}),
        "mail ann@example.org",
        trace=False,
    )
    direct = get_backend(model).chat(
        [{"role": "user", "content": "Answer: mail {EMAIL}"}], GenerationParams(max_tokens=6)
    )
    assert masked_in.outputs["out"] == direct.text

    unguarded = run_flow(prompt_flow(model, {"guardrail": BLOCK_WORDS}), "the cat", trace=False)
    words = {
        "regexes": [{"name": "WORD", "pattern": r"\S+"}],
        "action": "ANONYMIZE",
        "sources": ["output"],
    }
    guard = {"guardrail": {"sensitive_information": words}, "applyTo": "output"}
    masked_out = run_flow(prompt_flow(model, guard), "the cat")
    completion = unguarded.outputs["out"]
    assert masked_out.outputs["out"] == re.sub(r"\S+", "{WORD}", completion)
    events = [e for e in masked_out.events if e.kind == "guardrail"]
    assert [e.data["source"] for e in events] == ["output"]
    assert len(events[0].data["assessments"]["sensitive_information"]) == len(completion.split())

    block_all = {"regexes": [{"name": "ANY", "pattern": r"[\s\S]+"}], "action": "BLOCK"}
    blocked = run_flow(
        prompt_flow(
            model,
            {
                "guardrail": {
                    "sensitive_information": block_all,
                    "blocked_output_message": "withheld",
                },
                "applyTo": "output",
            },
        ),
        "the cat",
        trace=False,
    )
    assert blocked.outputs["out"] == ("withheld" if completion else completion)


def test_prompt_guardrail_static_checks() -> None:
    guard = {
        "guardrail": {"words": {"words": []}},
        "applyTo": "input",
        "groundingSource": "context",
    }
    flow = prompt_flow("tessera", guard)
    problems: dict[str, str] = {}
    for problem in validate_flow(flow):
        problems[problem.field] = problems.get(problem.field, "") + problem.message
    assert "list some words" in problems["configuration.guardrail.guardrail.words"]
    grounding = problems["configuration.guardrail.groundingSource"]
    assert "not an input of the node" in grounding and "applyTo is 'input'" in grounding
    flow = prompt_flow("tessera", {"guardrail": "x", "applyTo": "sideways"})
    fields = {p.field for p in validate_flow(flow)}
    assert "configuration.guardrail.applyTo" in fields


def test_inside_an_iterator_each_item_is_checked_and_named(tessera_home: Path) -> None:
    flow = {
        "name": "each",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "Array"}]},
            {
                "name": "each",
                "type": "Iterator",
                "inputs": [{"name": "array", "type": "Array"}],
                "outputs": [
                    {"name": "arrayItem", "type": "String"},
                    {"name": "arraySize", "type": "Number"},
                ],
            },
            {
                "name": "guard",
                "type": "Guardrail",
                "configuration": {"guardrail": EMAILS},
                "inputs": [{"name": "content", "type": "String"}],
                "outputs": [{"name": "content", "type": "String"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [
            data("in", "document", "each", "array"),
            data("each", "arrayItem", "guard", "content"),
            data("guard", "content", "out", "document"),
        ],
    }
    texts = ["no address", "a@example.org", "b@example.org or c@example.org"]
    result = run_flow(flow, texts, trace=False)
    assert result.outputs["out"] == [apply_guardrail(EMAILS, t).text for t in texts]
    events = [(e.node, e.data["action"]) for e in result.events if e.kind == "guardrail"]
    assert events == [("guard[0]", "NONE"), ("guard[1]", "INTERVENED"), ("guard[2]", "INTERVENED")]


def test_a_chat_prompt_checks_its_user_messages_only(tiny_llama: Any, tessera_home: Path) -> None:
    body = {
        "type": "chat",
        "system": "Never mention globex.",
        "messages": [{"role": "user", "content": "{{question}}"}],
        "variables": {"question": {}},
        "variants": [{"model": f"tessera:{tiny_llama.folder}", "max_tokens": 4}],
    }
    flow = prompt_flow("unused", {"guardrail": BLOCK_WORDS, "applyTo": "input"})
    flow["nodes"][1]["configuration"]["inline"] = body
    assert validate_flow(flow) == []
    answered = run_flow(flow, "what is the sun", trace=False)
    checked = [
        (e.data["message"], e.data["action"]) for e in answered.events if e.kind == "guardrail"
    ]
    assert checked == [(1, "NONE")]  # message 0, the system message naming globex, is not checked
    blocked = run_flow(flow, "and globex?", trace=False)
    assert blocked.outputs["out"] == "Sorry, I can't respond to that request."
    (event,) = [e for e in blocked.events if e.kind == "guardrail"]
    assert event.data["message"] == 1  # the system message is message 0
