"""Property tests: the JSONPath subset against direct indexing, the condition evaluator
against Python's own ``eval`` on generated safe expressions, and injection attempts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.llm.flows import validate_flow
from tessera.llm.flows._expr import FUNCTIONS, check_expression, evaluate
from tessera.llm.flows._jsonpath import compile_path, select

IDENTIFIER_KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda k: k not in ("where", "wherenot")  # jsonpath-ng keywords: quote them as ['where']
)
ODD_KEYS = st.from_regex(r"[a-z][a-z _-]{0,5}", fullmatch=True)
SCALARS = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(IDENTIFIER_KEYS | ODD_KEYS, inner, max_size=4)
    ),
    max_leaves=25,
)


@st.composite
def documents_with_paths(draw: st.DrawFn) -> tuple[Any, str, Any]:
    """A document, a path into it that exists, and the value found by direct indexing."""
    document = draw(DOCUMENTS)
    text, current = "$.data", document
    while draw(st.booleans()):
        if isinstance(current, dict) and current:
            key = draw(st.sampled_from(sorted(current)))
            dotted = key.isidentifier() and key not in ("where", "wherenot")
            text += f".{key}" if dotted and draw(st.booleans()) else f"['{key}']"
            current = current[key]
        elif isinstance(current, list) and current:
            index = draw(st.integers(-len(current), len(current) - 1))
            text += f"[{index}]"
            current = current[index]
        else:
            break
    return document, text, current


@settings(max_examples=80, deadline=None)
@given(documents_with_paths())
def test_jsonpath_selects_what_direct_indexing_finds(case: tuple[Any, str, Any]) -> None:
    document, text, expected = case
    assert select(text, document) == expected


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(IDENTIFIER_KEYS, SCALARS, max_size=4), IDENTIFIER_KEYS)
def test_jsonpath_missing_field_is_an_error_not_none(document: dict, key: str) -> None:
    if key in document:
        assert select(f"$.data.{key}", document) == document[key]
    else:
        with pytest.raises(InvalidInputError, match=f"no field '{key}'"):
            select(f"$.data.{key}", document)


@pytest.mark.parametrize(
    ("value", "path", "match"),
    [
        ([1, 2], "$.data[2]", "out of range"),
        ([1, 2], "$.data[-3]", "out of range"),
        ({"a": 1}, "$.data[0]", "not an array"),
        ([1], "$.data.a", "not an object"),
        ("text", "$.data.a", "not an object"),
    ],
)
def test_jsonpath_steps_that_do_not_fit_the_value_say_where(
    value: Any, path: str, match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        select(path, value)


@pytest.mark.parametrize(
    "path",
    ["$.data[*]", "$.data..a", "$.data[0:2]", "$.data.a,b", "$.data[1,2]", "$.text", "$",
     "data.a", "$.data[?(@.a)]", "$.data.*", "", "$.data.`this`"],
)  # fmt: skip
def test_jsonpath_outside_the_subset_is_rejected(path: str) -> None:
    with pytest.raises(InvalidInputError, match=r"Use \$\.data"):
        compile_path(path)


ENV_NAMES = ("a", "b", "s", "t", "flag", "xs")
ENVIRONMENTS = st.fixed_dictionaries(
    {
        "a": st.integers(-20, 20),
        "b": st.integers(-20, 20),
        "s": st.text("abAB ", max_size=4),
        "t": st.text("abAB ", max_size=4),
        "flag": st.booleans(),
        "xs": st.lists(st.integers(-3, 3), max_size=4),
    }
)


def _numbers() -> st.SearchStrategy[str]:
    leaves = st.integers(-30, 30).map(str) | st.sampled_from(["a", "b", "len(s)", "len(xs)"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%"]), inner).map(
            lambda p: f"({p[0]} {p[1]} {p[2]})"
        )
        calls = st.tuples(st.sampled_from(["abs", "-"]), inner).map(lambda p: f"{p[0]}({p[1]})")
        pairs = st.tuples(st.sampled_from(["max", "min"]), inner, inner).map(
            lambda p: f"{p[0]}({p[1]}, {p[2]})"
        )
        return binary | calls | pairs

    return st.recursive(leaves, extend, max_leaves=6)


def _booleans() -> st.SearchStrategy[str]:
    numbers = _numbers()
    comparisons = st.tuples(numbers, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), numbers)
    leaves = (
        comparisons.map(lambda p: f"{p[0]} {p[1]} {p[2]}")
        | st.sampled_from(
            [
                "flag",
                "s == t",
                "lower(s) == lower(t)",
                "s in t",
                "upper(s) != s",
                "startswith(t, s)",
                "endswith(s, 'a')",
                "contains(xs, 1)",
                "strip(s) == ''",
            ]
        )
        | numbers.map(lambda n: f"{n} in xs")
        | numbers.map(lambda n: f"{n} not in [1, 2, 3]")
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        pairs = st.tuples(inner, st.sampled_from(["and", "or"]), inner)
        return pairs.map(lambda p: f"({p[0]} {p[1]} {p[2]})") | inner.map(lambda e: f"not ({e})")

    return st.recursive(leaves, extend, max_leaves=5)


@settings(max_examples=150, deadline=None)
@given(_booleans(), ENVIRONMENTS)
def test_condition_expressions_agree_with_python(text: str, env: dict[str, Any]) -> None:
    assert check_expression(text, ENV_NAMES) is None, text
    try:
        expected = eval(text, {"__builtins__": {}}, {**FUNCTIONS, **env})  # noqa: S307
    except ZeroDivisionError:
        with pytest.raises(InvalidInputError, match="ZeroDivisionError"):
            evaluate(text, env)
        return
    assert evaluate(text, env) == expected


@pytest.mark.parametrize(
    "attempt",
    [
        "__import__('os').system('echo pwned')",
        "x.__class__.__bases__",
        "x.upper()",
        "(lambda: 1)()",
        "[c for c in x]",
        "open('/etc/passwd')",
        "eval('1')",
        "getattr(x, 'upper')",
        "x ** 99999999",
        "__builtins__",
        "_secret",
        "f'{x}'",
        "len(x, key=1)",
        "(y := 1)",
        "{'a': 1}['a']",
        "b'bytes'",
        "x" * 1001,
        "x; y",
        "",
    ],
)
def test_injection_attempts_are_refused_before_anything_runs(attempt: str) -> None:
    reason = check_expression(attempt, ["x"])
    assert reason is not None
    with pytest.raises(InvalidInputError, match="is invalid"):
        evaluate(attempt, {"x": "text"})
    flow = {
        "name": "inject",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "route",
                "type": "Condition",
                "inputs": [{"name": "x", "type": "String"}],
                "configuration": {
                    "conditions": [{"name": "c", "expression": attempt}, {"name": "d"}]
                },
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [
            {"type": "Data", "source": "in", "target": "route",
             "configuration": {"data": {"sourceOutput": "document", "targetInput": "x"}}},
            {"type": "Data", "source": "in", "target": "out",
             "configuration": {"data": {"sourceOutput": "document", "targetInput": "document"}}},
            {"type": "Conditional", "source": "route", "target": "out",
             "configuration": {"conditional": {"condition": "c"}}},
        ],
    }  # fmt: skip
    problems = validate_flow(flow)
    assert [(p.node, p.field) for p in problems] == [
        ("route", "configuration.conditions[0].expression")
    ]


def test_evaluation_errors_name_the_expression() -> None:
    with pytest.raises(InvalidInputError, match="failed: TypeError"):
        evaluate("x + 1", {"x": "text"})
    with pytest.raises(InvalidInputError, match="failed: KeyError"):
        evaluate("d['missing']", {"d": {}})
    assert evaluate("d['k'][0] == 'v'", {"d": {"k": ["v"]}}) is True


@pytest.mark.parametrize("attempt", ["[1] * 100000000", "x * 100000000", "'a' * 10000000"])
def test_expressions_cannot_build_huge_values(attempt: str) -> None:
    assert check_expression(attempt, ["x"]) is None  # allowed syntax, refused when too big
    with pytest.raises(InvalidInputError, match="IterableTooLong"):
        evaluate(attempt, {"x": "abc"})
