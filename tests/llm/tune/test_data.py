"""The data rules: every problem of every record, with its line number, in one error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.llm.tune import DataValidationError, check_records, read_records

GOOD = {
    "system": "Answer briefly.",
    "messages": [
        {"role": "user", "content": "What is two and two?"},
        {"role": "assistant", "content": "four"},
    ],
}


def _line(record: object) -> str:
    return json.dumps(record)


def _problems(*lines: str) -> list[tuple[int, str]]:
    _, problems = check_records(lines)
    return [(p.line, p.field) for p in problems]


def test_a_good_record_has_no_problem_and_keeps_its_fields() -> None:
    records, problems = check_records([_line(GOOD)])
    assert problems == []
    (record,) = records
    assert record.system == "Answer briefly." and record.line == 1
    assert record.chat()[0] == {"role": "system", "content": "Answer briefly."}
    assert [m["role"] for m in record.chat()[1:]] == ["user", "assistant"]


def test_system_is_optional() -> None:
    records, problems = check_records([_line({"messages": GOOD["messages"]})])
    assert problems == [] and records[0].system is None
    assert records[0].chat()[0]["role"] == "user"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("{not json", "json"),
        (_line(["a", "list"]), "record"),
        (_line({**GOOD, "prompt": "x"}), "record"),
        (_line({**GOOD, "system": ""}), "system"),
        (_line({**GOOD, "system": 3}), "system"),
        (_line({"system": "s"}), "messages"),
        (_line({"messages": []}), "messages"),
        (_line({"messages": "hello"}), "messages"),
        (_line({"messages": ["hello", GOOD["messages"][1]]}), "messages[0]"),
        (
            _line({"messages": [GOOD["messages"][0], {"role": "bot", "content": "x"}]}),
            "messages[1].role",
        ),
        (
            _line({"messages": [{"role": "system", "content": "x"}, GOOD["messages"][1]]}),
            "messages[0].role",
        ),
        (
            _line({"messages": [GOOD["messages"][1], GOOD["messages"][0]]}),
            "messages[0].role",
        ),
        (_line({"messages": [GOOD["messages"][0]]}), "messages[0].role"),
        (
            _line({"messages": [GOOD["messages"][0], {"role": "assistant", "content": "  "}]}),
            "messages[1].content",
        ),
        (
            _line({"messages": [GOOD["messages"][0], {"role": "assistant", "content": 7}]}),
            "messages[1].content",
        ),
        (
            _line({"messages": [GOOD["messages"][0], {"role": "assistant"}]}),
            "messages[1].content",
        ),
        (
            _line(
                {
                    "messages": [
                        GOOD["messages"][0],
                        {"role": "assistant", "content": "x", "name": "bob"},
                    ]
                }
            ),
            "messages[1]",
        ),
    ],
)
def test_each_rule_is_reported_on_its_line_and_field(line: str, field: str) -> None:
    assert (2, field) in _problems(_line(GOOD), line, _line(GOOD))


def test_alternation_names_the_message_and_the_expected_role() -> None:
    user = GOOD["messages"][0]
    _, problems = check_records([_line({"messages": [user, user, GOOD["messages"][1]]})])
    # Positions decide the expected role: both the second user and the reply after it.
    assert [p.field for p in problems] == ["messages[1].role", "messages[2].role"]
    problem = problems[0]
    assert "must be 'assistant'" in problem.message and "alternate" in problem.message
    # The message shows the value and suggests the fix.
    assert "messages[1].role='user'" in problem.message and "Merge" in problem.message


def test_all_problems_of_a_file_are_raised_together(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    lines = [
        _line(GOOD),
        "{oops",
        "",  # blank lines are skipped but counted
        _line({"messages": [GOOD["messages"][0]]}),
        _line({**GOOD, "system": ""}),
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError) as info:
        read_records(path)
    error = info.value
    assert [(p.line, p.field) for p in error.problems] == [
        (2, "json"),
        (4, "messages[0].role"),
        (5, "system"),
    ]
    text = str(error)
    assert str(path) in text and "3 problem(s) in 4 record(s)" in text
    assert "line 2: json" in text and "line 4:" in text and "line 5:" in text
    assert isinstance(error, InvalidInputError) and isinstance(error, ValueError)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="existing JSONL file"):
        read_records(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DataValidationError, match="no records"):
        read_records(empty)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(_line(GOOD).replace("four", "vier \xe9").encode("latin-1"))
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        read_records(latin, argument="validation")


def test_many_problems_are_listed_in_full_on_the_error_but_cut_in_its_message() -> None:
    from tessera.llm.tune._data import SHOWN_PROBLEMS

    _, problems = check_records(["{"] * (SHOWN_PROBLEMS + 5))
    error = DataValidationError("big.jsonl", problems, len(problems))
    assert len(error.problems) == SHOWN_PROBLEMS + 5
    assert "... and 5 more" in str(error)


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1).filter(
    lambda s: s.strip() != ""
)


@settings(max_examples=40)
@given(turns=st.lists(st.tuples(_text, _text), min_size=1, max_size=4), system=st.none() | _text)
def test_any_alternating_conversation_is_valid_and_round_trips(
    turns: list[tuple[str, str]], system: str | None
) -> None:
    messages = []
    for question, answer in turns:
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    record = {"messages": messages} | ({} if system is None else {"system": system})
    records, problems = check_records([json.dumps(record)])
    assert problems == []
    assert records[0].chat()[-len(messages) :] == messages
    # Metamorphic: dropping the last reply always breaks the "ends with assistant" rule,
    # and swapping the first two messages always breaks alternation.
    _, cut = check_records([json.dumps({**record, "messages": messages[:-1]})])
    assert any(p.field == f"messages[{len(messages) - 2}].role" for p in cut)
    swapped = [messages[1], messages[0], *messages[2:]]
    _, bad = check_records([json.dumps({**record, "messages": swapped})])
    assert {p.field for p in bad} >= {"messages[0].role", "messages[1].role"}
