"""Labels on the assistant's tokens only; the prompt tokenised as at inference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("transformers")

import copy  # noqa: E402
from typing import Any  # noqa: E402

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm.tune import IGNORE_INDEX, Record, encode_record  # noqa: E402
from tessera.llm.tune._encode import length_problems  # noqa: E402

WORDS = "cat dog bird fish tree sun moon star sky sea one two three yes no".split()


@pytest.fixture(scope="module")
def tokenizer(tiny_llama: Any) -> Any:
    return tiny_llama.tokenizer


def _record(*contents: str, system: str | None = None) -> Record:
    roles = ("user", "assistant")
    messages = tuple({"role": roles[i % 2], "content": c} for i, c in enumerate(contents))
    return Record(system=system, messages=messages, line=7)


def _labelled(ids: list[int], labels: list[int]) -> list[list[int]]:
    """Runs of consecutive labelled tokens."""
    runs: list[list[int]] = []
    previous = False
    for token, label in zip(ids, labels, strict=True):
        if label != IGNORE_INDEX:
            assert label == token  # a label is the token itself (the model shifts)
            if not previous:
                runs.append([])
            runs[-1].append(token)
        previous = label != IGNORE_INDEX
    return runs


def test_only_the_replies_and_their_end_token_are_labelled(tokenizer: Any) -> None:
    record = _record("what is the sun", "the sun is a star", "and the moon", "a moon", system="yes")
    encoded = encode_record(record, tokenizer)
    assert encoded.line == 7 and len(encoded.labels) == len(encoded.input_ids)
    runs = _labelled(encoded.input_ids, encoded.labels)
    end = tokenizer.eos_token_id
    assert [tokenizer.decode(r[:-1]) for r in runs] == ["the sun is a star", "a moon"]
    assert all(r[-1] == end for r in runs)
    assert encoded.trained_tokens == sum(len(r) for r in runs) == 6 + 3
    # Everything else (system, user turns, role headers) is ignored by the loss.
    unlabelled = [
        t
        for t, label in zip(encoded.input_ids, encoded.labels, strict=True)
        if label == IGNORE_INDEX
    ]
    assert tokenizer.decode(unlabelled).split().count("what") == 1


def test_tokens_equal_the_whole_conversation_and_the_prompt_as_at_inference(
    tokenizer: Any,
) -> None:
    record = _record("what is the sun", "the sun is a star", system="you are a cat")
    encoded = encode_record(record, tokenizer)
    whole = tokenizer.apply_chat_template(record.chat(), tokenize=False)
    assert tokenizer(whole, add_special_tokens=False)["input_ids"] == encoded.input_ids
    prompt = tokenizer.apply_chat_template(
        record.chat()[:-1], add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    first = encoded.labels.index(next(label for label in encoded.labels if label != IGNORE_INDEX))
    assert encoded.input_ids[:first] == prompt_ids


def test_a_template_that_rewrites_earlier_turns_is_refused(tokenizer: Any) -> None:
    odd = copy.deepcopy(tokenizer)
    # Shows only the last message: adding a turn does not extend the text.
    odd.chat_template = "{{ messages[-1]['content'] }}"
    with pytest.raises(InvalidInputError, match="line 7"):
        encode_record(_record("one", "two", "three", "four"), odd)


def test_length_problems_name_the_line_and_the_limit(tokenizer: Any) -> None:
    encoded = encode_record(_record("what is the sun", "a star"), tokenizer)
    assert length_problems([encoded], len(encoded.input_ids)) == []
    (problem,) = length_problems([encoded], len(encoded.input_ids) - 1)
    assert problem.line == 7 and f"{len(encoded.input_ids)} tokens" in problem.message
    assert f"max_length={len(encoded.input_ids) - 1}" in problem.message


@settings(max_examples=40)
@given(
    turns=st.lists(
        st.tuples(
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
        ),
        min_size=1,
        max_size=3,
    ),
    system=st.none() | st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
)
def test_labelled_runs_are_exactly_the_replies(
    tokenizer: Any, turns: list[tuple[list[str], list[str]]], system: list[str] | None
) -> None:
    contents = [" ".join(words) for turn in turns for words in turn]
    record = _record(*contents, system=None if system is None else " ".join(system))
    encoded = encode_record(record, tokenizer)
    runs = _labelled(encoded.input_ids, encoded.labels)
    assert [tokenizer.decode(r[:-1]) for r in runs] == [" ".join(a) for _, a in turns]
    # Metamorphic: a longer user turn adds unlabelled tokens only.
    longer = list(contents)
    longer[0] += " sky"
    grown = encode_record(_record(*longer, system=record.system), tokenizer)
    assert grown.trained_tokens == encoded.trained_tokens
    assert len(grown.input_ids) == len(encoded.input_ids) + 1
