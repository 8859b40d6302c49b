"""YAML exports read back to the same strings (PyYAML folds a raw U+0085 into a space)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.llm._yaml import dump_yaml

TRICKY = ["\x85", "a\x85b", "line\nnext\x85", "\u2028", "x\u2029", "a\rb", "tab\there", " "]


@pytest.mark.parametrize("blocks", [False, True])
@pytest.mark.parametrize("value", TRICKY)
def test_tricky_strings_round_trip(value: str, blocks: bool) -> None:
    assert yaml.safe_load(dump_yaml({"k": value, "list": [value]}, blocks=blocks)) == {
        "k": value,
        "list": [value],
    }


def test_stock_pyyaml_loses_next_line() -> None:
    """The reason for dump_yaml: if PyYAML stops folding it, this test says so."""
    dumped = yaml.safe_dump({"k": "a\x85b"}, allow_unicode=True)
    assert yaml.safe_load(dumped) != {"k": "a\x85b"}


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
    st.booleans(),
)
def test_any_text_round_trips(value: str, blocks: bool) -> None:
    assert yaml.safe_load(dump_yaml({"k": value}, blocks=blocks)) == {"k": value}


def test_multi_line_strings_are_blocks_only_when_asked() -> None:
    assert "|" in dump_yaml({"k": "one\ntwo"}, blocks=True)
    assert "|" not in dump_yaml({"k": "one\ntwo"})
