"""PromptRegistry: checked bodies, render by reference, diff, YAML export/import, run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.llm.prompts import EXPORT_FORMAT, PromptRegistry, check_body, render

CHAT: dict[str, Any] = {
    "type": "chat",
    "system": "You sort {{product}} tickets.",
    "messages": [
        {"role": "user", "content": "Ticket: {{ticket}}\n{{#if urgent}}\nURGENT\n{{/if}}"}
    ],
    "variables": {
        "product": {"default": "kettle"},
        "ticket": {"description": "the ticket text"},
        "urgent": {"type": "boolean", "default": False},
    },
    "variants": [
        {"name": "greedy", "max_tokens": 64},
        {"name": "creative", "temperature": 0.7, "top_k": 40, "stop": ["\n\n"], "seed": 1},
    ],
    "default_variant": "greedy",
}


@pytest.fixture()
def registry(tmp_path: Path) -> PromptRegistry:
    return PromptRegistry(db=tmp_path / "prompts.db")


def test_render_a_chat_prompt_by_reference(registry: PromptRegistry) -> None:
    registry.create("triage", CHAT, description="sort tickets", tags=["support"])
    registry.commit("triage", "first")
    assert registry.render("triage@1", {"ticket": "It leaks", "urgent": True}) == [
        {"role": "system", "content": "You sort kettle tickets."},
        {"role": "user", "content": "Ticket: It leaks\nURGENT\n"},
    ]
    registry.set_label("triage", "production", 1)
    assert registry.render("triage@production", {"ticket": "x", "product": "toaster"})[0] == {
        "role": "system",
        "content": "You sort toaster tickets.",
    }


def test_draft_and_versions_render_what_they_hold(registry: PromptRegistry) -> None:
    registry.create("t", {"type": "text", "text": "v1 {{x}}", "variables": {"x": {}}})
    registry.commit("t")
    registry.update_draft("t", {"type": "text", "text": "v2 {{x}}", "variables": {"x": {}}})
    assert registry.render("t", {"x": "!"}) == "v1 !"
    assert registry.render("t@draft", {"x": "!"}) == "v2 !"
    registry.commit("t")
    assert registry.render("t@latest", {"x": "!"}) == "v2 !"
    assert registry.render("t@1", {"x": "!"}) == "v1 !"


def test_bodies_are_stored_in_normal_form(registry: PromptRegistry) -> None:
    draft = registry.create("t", {"type": "text", "text": "hi"})
    assert draft.body["variants"] == [
        {
            "name": "default",
            "model": "tessera",
            "max_tokens": 256,
            "temperature": 0.0,
            "top_p": 1.0,
            "stop": [],
            "metadata": {},
        }
    ]
    assert draft.body["default_variant"] == "default"
    declared = registry.create("u", CHAT).body["variables"]
    assert declared["ticket"] == {
        "type": "string",
        "description": "the ticket text",
        "required": True,
    }
    assert declared["urgent"]["required"] is False
    assert "messages" not in draft.body
    # The normal form is a fixed point.
    assert check_body(draft.body).model_dump(mode="json", exclude_none=True)["text"] == "hi"
    assert registry.update_draft("t", draft.body).body == draft.body


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"type": "yaml"}, r"body\.type='yaml': Input should be 'text' or 'chat'"),
        ({"text": "x"}, "a chat prompt has 'messages'"),
        ({"messages": []}, "a chat prompt has 'messages'"),
        ({"messages": [{"role": "robot", "content": "x"}]}, r"messages\[0\]\.role='robot'"),
        ({"temprature": 1}, r"body\.temprature=1: Extra inputs are not permitted"),
        ({"variables": {"product": {}, "urgent": {}}}, r"uses \['ticket'\] but does not declare"),
        ({"variables": {**CHAT["variables"], "extra": {}}}, r"\['extra'\] are declared but"),
        ({"variables": {**CHAT["variables"], "1x": {}}}, "variable name '1x'"),
        ({"system": "{{#if urgent}}"}, r"body\.system, line 1, column 1: .* is never closed"),
        (
            {"messages": [{"role": "user", "content": "{{ticket"}]},
            r"body\.messages\[0\]\.content, line 1",
        ),
        (
            {"variables": {**CHAT["variables"], "urgent": {"type": "boolean", "default": "no"}}},
            "the default 'no' is not a boolean",
        ),
        (
            {"variables": {**CHAT["variables"], "ticket": {"required": False}}},
            "optional exactly when it has a default",
        ),
        (
            {"variables": {**CHAT["variables"], "product": {"default": "x", "required": True}}},
            "optional exactly when it has a default",
        ),
        ({"variants": []}, "1 to 5 variants, not 0"),
        ({"variants": [{"name": f"v{i}"} for i in range(6)]}, "1 to 5 variants, not 6"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, r"variant names repeat: \['a', 'a'\]"),
        ({"default_variant": "nope"}, "default_variant 'nope' is not one of"),
        ({"variants": [{"name": "a", "temperature": 3}]}, "temperature=3.0 is invalid"),
        ({"variants": [{"name": "a", "top_p": 0}]}, r"top_p=0\.0 is invalid"),
        ({"variants": [{"name": "a", "top_k": 0}]}, "top_k=0 is invalid"),
        ({"variants": [{"name": "a", "max_tokens": 0}]}, "max_tokens=0 is invalid"),
        ({"variants": [{"name": "a", "stop": [""]}]}, "stop=.*non-empty strings"),
        ({"variants": [{"name": "a", "stop": ["1", "2", "3", "4", "5"]}]}, "at most 4 stop"),
        ({"variants": [{"name": "a b"}]}, "variant name='a b' is invalid"),
        ({"variants": [{"name": "a", "model": " "}]}, "model is empty"),
        ({"variants": [{"name": "a", "metadata": "x"}]}, r"variants\[0\]\.metadata='x'"),
    ],
)
def test_every_bad_body_is_refused(
    registry: PromptRegistry, change: dict[str, Any], expected: str
) -> None:
    body = {**CHAT, **change}
    if body.get("default_variant") == "greedy" and "variants" in change:
        body.pop("default_variant")
    with pytest.raises(InvalidInputError, match=expected):
        registry.create("p", body)
    assert registry.names() == []


def test_a_bad_update_leaves_the_draft_alone(registry: PromptRegistry) -> None:
    registry.create("p", CHAT)
    with pytest.raises(InvalidInputError, match="does not declare"):
        registry.update_draft("p", {"type": "text", "text": "{{y}}"})
    assert registry.draft("p").body["system"] == CHAT["system"]
    with pytest.raises(InvalidInputError, match="a prompt body is a mapping"):
        registry.update_draft("p", "text")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, r"requires ticket \(the ticket text\), which were not given"),
        ({"ticket": "x", "tciket": "y"}, r"\['tciket'\] are not declared by 'p@1'"),
        ({"ticket": "x", "urgent": "yes"}, r"variables\['urgent'\]='yes' is invalid.*boolean"),
        ({"ticket": 3}, r"variables\['ticket'\]=3 is invalid.*declared as a string"),
        ({"ticket": None}, r"variables\['ticket'\]=None"),
        (["ticket"], r"variables=\['ticket'\] is invalid: pass a mapping"),
    ],
)
def test_render_refuses_bad_variables(
    registry: PromptRegistry, variables: Any, expected: str
) -> None:
    registry.create("p", CHAT)
    registry.commit("p")
    with pytest.raises(InvalidInputError, match=expected):
        registry.render("p@1", variables)


def test_numbers_and_booleans_are_read_from_text() -> None:
    body = {
        "type": "text",
        "text": "{{n}} {{f}}",
        "variables": {"n": {"type": "number"}, "f": {"type": "boolean"}},
    }
    assert render(body, {"n": "3", "f": "TRUE"}) == "3 true"
    assert render(body, {"n": "2.5", "f": False}) == "2.5 false"
    for bad in ("nan", "inf", "three"):
        with pytest.raises(InvalidInputError, match=r"variables\['n'\].*number"):
            render(body, {"n": bad, "f": True})
    with pytest.raises(InvalidInputError, match=r"variables\['n'\]=True"):
        render(body, {"n": True, "f": True})


def test_unknown_references(registry: PromptRegistry) -> None:
    with pytest.raises(NotFoundError, match="name='ghost': no prompt"):
        registry.render("ghost")
    registry.create("p", CHAT)
    with pytest.raises(NotFoundError, match="label='latest'"):
        registry.render("p", {"ticket": "x"})


def test_diff_reports_the_changed_fields(registry: PromptRegistry) -> None:
    registry.create("p", CHAT)
    registry.commit("p")
    changed = {
        **CHAT,
        "system": "You sort {{product}} tickets politely.",
        "variants": [CHAT["variants"][0] | {"max_tokens": 32}],
    }
    registry.update_draft("p", changed)
    registry.commit("p", "shorter")
    diff = registry.diff("p@1", "p@2")
    assert not diff.identical
    assert "--- p@1\n+++ p@2\n" in diff.unified
    assert "-system: You sort {{product}} tickets.\n" in diff.unified
    assert "+system: You sort {{product}} tickets politely.\n" in diff.unified
    by_path = {c.path: c for c in diff.changes}
    assert by_path["system"].change == "changed"
    assert by_path["variants[greedy].max_tokens"].before == 64
    assert by_path["variants[greedy].max_tokens"].after == 32
    assert by_path["variants[creative].temperature"].change == "removed"
    # Mirror image: swapping the sides swaps added/removed and before/after.
    back = {c.path: c for c in registry.diff("p@2", "p@1").changes}
    assert back.keys() == by_path.keys()
    for path, change in by_path.items():
        mirror = {"added": "removed", "removed": "added", "changed": "changed"}[change.change]
        assert (back[path].change, back[path].before, back[path].after) == (
            mirror,
            change.after,
            change.before,
        )
    same = registry.diff("p@2", "p@draft")
    assert same.identical and same.unified == ""


def _busy_registry(path: Path) -> PromptRegistry:
    registry = PromptRegistry(db=path)
    registry.create("triage", CHAT, description="sort tickets", tags=["support", "team:cx"])
    registry.commit("triage", "first")
    registry.update_draft("triage", {**CHAT, "system": "Sort:\n  {{product}}\n"})
    registry.commit("triage", "multi-line system")
    registry.commit("triage", "same again")
    registry.set_label("triage", "production", 1)
    registry.set_label("triage", "staging", 2)
    registry.delete_version("triage", 3)
    registry.create("draft-only", {"type": "text", "text": "just a draft"})
    return registry


def test_yaml_export_import_reproduces_the_state(tmp_path: Path) -> None:
    source = _busy_registry(tmp_path / "a.db")
    text = source.export_yaml()
    assert text.startswith(f"format: {EXPORT_FORMAT}\n")
    assert "system: |\n" in text  # multi-line templates stay readable
    target = PromptRegistry(db=tmp_path / "b.db")
    assert target.import_yaml(text) == ["draft-only", "triage"]
    assert target.export_yaml() == text
    assert target.labels("triage") == {"latest": 2, "production": 1, "staging": 2}
    assert target.draft("triage").tags == ("support", "team:cx")
    assert target.commit("triage").number == 4  # the deleted 3 stays retired
    # One prompt alone.
    assert "draft-only" not in source.export_yaml(["triage"])


def test_import_refuses_conflicts_and_bad_documents(tmp_path: Path) -> None:
    source = _busy_registry(tmp_path / "a.db")
    text = source.export_yaml()
    with pytest.raises(ConflictError, match="nothing was imported"):
        source.import_yaml(text)
    target = PromptRegistry(db=tmp_path / "b.db")
    with pytest.raises(InvalidInputError, match="is not valid YAML"):
        target.import_yaml("format: [")
    with pytest.raises(InvalidInputError, match="format=None is invalid"):
        target.import_yaml("prompts: []")
    broken = text.replace("Ticket: {{ticket}}", "Ticket: {{ticket", 1)
    with pytest.raises(InvalidInputError, match=r"records\[1\]\.draft\.body"):
        target.import_yaml(broken)
    assert target.names() == []


texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="{\\", exclude_categories=["Cs"]),
    max_size=30,
)


@settings(max_examples=25)
@given(text=texts, system=texts, stop=st.lists(texts.filter(bool), max_size=4))
def test_yaml_round_trip_of_arbitrary_text(text: str, system: str, stop: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        source = PromptRegistry(db=Path(folder) / "a.db")
        body = {
            "type": "chat",
            "system": system,
            "messages": [{"role": "user", "content": text}],
            "variants": [{"name": "v", "stop": stop, "metadata": {"note": text}}],
        }
        source.create("p", body, description=text)
        source.commit("p", message=system)
        exported = source.export_yaml()
        target = PromptRegistry(db=Path(folder) / "b.db")
        target.import_yaml(exported)
        assert target.export_records() == source.export_records()
        assert target.get("p").body["system"] == system


# -- running variants on a real (tiny, random) model -----------------------------------


def test_run_variants_side_by_side_on_the_tiny_model(
    registry: PromptRegistry, tiny_llama: Any
) -> None:
    from tessera.llm.backends import GenerationParams, get_backend

    model = f"tessera:{tiny_llama.folder}"
    body = {
        **CHAT,
        "variants": [
            {"name": "short", "model": model, "max_tokens": 3},
            {"name": "longer", "model": model, "max_tokens": 6, "metadata": {"why": "compare"}},
        ],
        "default_variant": "short",
    }
    registry.create("p", body)
    registry.commit("p")
    runs = registry.run("p@1", {"ticket": "the cat is a dog"})
    assert [r.variant for r in runs] == ["short", "longer"]
    for run, limit in zip(runs, (3, 6), strict=True):
        assert run.model == model
        assert 1 <= run.completion_tokens <= limit
        assert run.prompt_tokens > 0 and run.seconds > 0
        assert run.finish_reason in ("stop", "length")
    # run sends exactly the rendered messages with the variant's parameters.
    messages = registry.render("p@1", {"ticket": "the cat is a dog"})
    assert isinstance(messages, list)
    direct = get_backend(model).chat(messages, GenerationParams(max_tokens=6))
    assert runs[1].text == direct.text
    only = registry.run("p@1", {"ticket": "the cat is a dog"}, variants=["longer"])
    assert [r.variant for r in only] == ["longer"] and only[0].text == runs[1].text


def test_a_failing_variant_does_not_hide_the_others(
    registry: PromptRegistry, tiny_llama: Any
) -> None:
    """An unreachable endpoint gives its variant an error; the local variant still answers."""
    from tessera.llm.backends import register_endpoint

    register_endpoint("prompts-closed", "http://127.0.0.1:9/v1")  # nothing listens on port 9
    model = f"tessera:{tiny_llama.folder}"
    body = {
        **CHAT,
        "variants": [
            {"name": "remote", "model": "prompts-closed:some-model", "max_tokens": 3},
            {"name": "local", "model": model, "max_tokens": 3},
        ],
        "default_variant": "local",
    }
    registry.create("p", body)
    registry.commit("p")
    remote, local = registry.run("p", {"ticket": "the cat"})
    assert remote.finish_reason == "error" and remote.text == ""
    assert remote.error is not None and "cannot reach" in remote.error
    assert local.error is None and local.completion_tokens >= 1


def test_run_checks_variants_before_running(registry: PromptRegistry) -> None:
    registry.create("p", CHAT)
    registry.commit("p")
    with pytest.raises(InvalidInputError, match="variant='nope' is invalid"):
        registry.run("p", {"ticket": "x"}, variants=["nope"])
    with pytest.raises(InvalidInputError, match="pass a list of variant names"):
        registry.run("p", {"ticket": "x"}, variants="greedy")
    with pytest.raises(InvalidInputError, match="requires ticket"):
        registry.run("p", {})
