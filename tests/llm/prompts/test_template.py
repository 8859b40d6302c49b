"""The template language: fields, {{#if}} blocks, escapes, standalone lines, every error."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.llm.prompts import parse, render, variables_used
from tessera.llm.prompts._template import render_nodes

NAMES = ("a", "b", "c")

# A template as a tree: ("text", str) | ("field", name, spaced) | ("if", name, then, else?).
# Literal text never holds "{{" (a single "{" is followed by a space) nor a backslash, so
# it serialises unambiguously; newlines are left out so that no block tag is standalone.
texts = st.text(alphabet="ab }{.", max_size=5).map(lambda t: t.replace("{", "{ "))
leaves = st.one_of(
    texts.map(lambda t: ("text", t)),
    st.tuples(st.just("field"), st.sampled_from(NAMES), st.booleans()),
)
trees = st.recursive(
    st.lists(leaves, max_size=4),
    lambda children: st.lists(
        st.one_of(
            leaves,
            st.tuples(
                st.just("if"),
                st.sampled_from(NAMES),
                children,
                st.one_of(st.none(), children),
            ),
        ),
        max_size=4,
    ),
    max_leaves=12,
)


def serialise(tree: list[Any]) -> str:
    out = []
    for node in tree:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "field":
            out.append(f"{{{{ {node[1]} }}}}" if node[2] else f"{{{{{node[1]}}}}}")
        else:
            _, name, then, otherwise = node
            block = f"{{{{#if {name}}}}}" + serialise(then)
            if otherwise is not None:
                block += "{{else}}" + serialise(otherwise)
            out.append(block + "{{/if}}")
    return "".join(out)


def reference(tree: list[Any], values: dict[str, str]) -> str:
    """The meaning of a tree, evaluated directly (no parser involved)."""
    out = []
    for node in tree:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "field":
            out.append(values[node[1]])
        else:
            _, name, then, otherwise = node
            out.append(reference(then if values[name] else (otherwise or []), values))
    return "".join(out)


@given(trees, st.lists(st.text(alphabet="xyz }", min_size=1, max_size=3), min_size=3, max_size=3))
def test_blocks_agree_with_the_reference_for_every_truth_assignment(
    tree: list[Any], words: list[str]
) -> None:
    nodes = parse(serialise(tree))
    # Brute force: every combination of empty (false) and non-empty (true) values.
    for truths in itertools.product([False, True], repeat=len(NAMES)):
        values = {n: (w if t else "") for n, w, t in zip(NAMES, words, truths, strict=True)}
        assert render_nodes(nodes, values) == reference(tree, values)


@given(trees, st.text(alphabet="xyz }{", max_size=4).map(lambda t: t.replace("{", "{ ")))
def test_rendering_with_every_variable_supplied_leaves_no_tag(tree: list[Any], word: str) -> None:
    template = serialise(tree)
    used = variables_used(parse(template))
    body = {"type": "text", "text": template, "variables": {n: {} for n in used}}
    assert "{{" not in render(body, dict.fromkeys(used, word))


@given(trees)
def test_variables_used_are_the_names_in_the_tree(tree: list[Any]) -> None:
    def names(tree: list[Any]) -> set[str]:
        found: set[str] = set()
        for node in tree:
            if node[0] == "field":
                found.add(node[1])
            elif node[0] == "if":
                found |= {node[1]} | names(node[2]) | names(node[3] or [])
        return found

    assert variables_used(parse(serialise(tree))) == names(tree)


def test_values_are_never_parsed_again() -> None:
    body = {"type": "text", "text": "<{{a}}>", "variables": {"a": {}}}
    assert render(body, {"a": "{{a}} {{#if a}}"}) == "<{{a}} {{#if a}}>"


def test_escaped_braces_are_literal() -> None:
    body = {"type": "text", "text": r"JSON: \{{ {{a}} }}", "variables": {"a": {}}}
    assert render(body, {"a": "x"}) == "JSON: {{ x }}"


def test_renaming_a_variable_everywhere_changes_nothing() -> None:
    template = "{{#if a}}[{{a}}]{{else}}none{{/if}} {{b}}"
    renamed = template.replace("{{a}}", "{{z}}").replace("#if a", "#if z")
    for a in ("", "q"):
        first = render(
            {"type": "text", "text": template, "variables": {"a": {}, "b": {}}}, {"a": a, "b": "1"}
        )
        second = render(
            {"type": "text", "text": renamed, "variables": {"z": {}, "b": {}}}, {"z": a, "b": "1"}
        )
        assert first == second


def test_block_tags_alone_on_their_lines_take_the_line() -> None:
    template = "Hello.\n{{#if formal}}\nDear Sir,\n  {{else}}  \nHi,\n{{/if}}\nBye."
    body = {"type": "text", "text": template, "variables": {"formal": {"type": "boolean"}}}
    assert render(body, {"formal": True}) == "Hello.\nDear Sir,\nBye."
    assert render(body, {"formal": False}) == "Hello.\nHi,\nBye."
    # Inline blocks keep their surroundings.
    inline = {"type": "text", "text": "a {{#if x}}b{{/if}} c\n", "variables": {"x": {}}}
    assert render(inline, {"x": ""}) == "a  c\n"


def test_truthiness_by_type() -> None:
    body = {
        "type": "text",
        "text": "{{#if n}}N{{/if}}{{#if s}}S{{/if}}{{#if f}}F{{/if}}",
        "variables": {"n": {"type": "number"}, "s": {}, "f": {"type": "boolean"}},
    }
    assert render(body, {"n": 0, "s": "", "f": False}) == ""
    assert render(body, {"n": 2.5, "s": "x", "f": True}) == "NSF"
    assert render(body, {"n": "0", "s": " ", "f": "false"}) == "S"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ a b }}", r"text, line 1, column 1: '\{\{ a b \}\}' is not a tag"),
        ("x\n  {{a", r"line 2, column 3: '\{\{a' is not a tag.*write \\\{\{ for a literal"),
        ("{{#if a}}x", r"text, line 1, column 1: \{\{#if a\}\} is never closed"),
        ("{{else}}", r"\{\{else\}\} without an open \{\{#if\}\}"),
        ("{{#if a}}1{{else}}2{{else}}3{{/if}}", r"\{\{else\}\} a second time"),
        ("x{{/if}}", r"\{\{/if\}\} without an open \{\{#if\}\}"),
        ("{{1a}}", "is not a tag"),
        ("{{#if}}", "is not a tag"),
    ],
)
def test_malformed_templates(template: str, expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        parse(template, "text")


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidInputError, match="a template is a string"):
        parse(3)  # type: ignore[arg-type]
