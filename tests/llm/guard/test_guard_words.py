"""Word filters: the profanity list and custom words, whole words, through obfuscations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.llm.guard import apply_guardrail, profanity_list

PROFANITY = {"words": {"profanity": True, "action": "BLOCK"}}

FOUND = [
    ("What the fuck is this?", "fuck"),
    ("This is SHIT.", "SHIT"),
    ("sh1t happens", "sh1t"),
    ("$hit happens", "$hit"),
    ("you @ss", "@ss"),
    ("f.u.c.k this", "f.u.c.k"),
    ("f u c k this", "f u c k"),
    ("f-u-c-k this", "f-u-c-k"),
    ("shiiiiit, again", "shiiiiit"),
    ("f*ck off", "f*ck"),
    ("fucking hell", "fucking"),
    ("you son of a bitch!", "son of a bitch"),
    ("b1tch3s everywhere", "b1tch3s"),
]
CLEAN = [
    "Please assess the class of glass.",
    "Scunthorpe and Penistone are towns.",
    "Room 455 is on the left.",
    "Add cumin and a pinch of salt.",
    "hello, shell, shitake? no: shiitake.",
    "I was a bit late.",
    "The cocktail was great.",
]


@pytest.mark.parametrize(("text", "match"), FOUND)
def test_profanity_is_found_through_obfuscations(text: str, match: str) -> None:
    result = apply_guardrail(PROFANITY, text)
    start = text.index(match)
    assert [(f.type, f.start, f.end) for f in result.findings] == [
        ("PROFANITY", start, start + len(match))
    ]
    assert result.action == "INTERVENED"
    assert result.text == "Sorry, I can't respond to that request."


@pytest.mark.parametrize("text", CLEAN)
def test_clean_text_and_words_inside_words_pass(text: str) -> None:
    result = apply_guardrail(PROFANITY, text)
    assert (result.action, result.findings, result.text) == ("NONE", (), text)


def test_custom_words_and_phrases_whole_words_only() -> None:
    config = {"words": {"words": ["acme widget", "globex"], "action": "ANONYMIZE"}}
    result = apply_guardrail(config, "Unlike the ACME  Widget, Globex-brand kettles; globexes no.")
    assert [f.match for f in result.findings] == ["ACME  Widget", "Globex"]
    assert result.text == "Unlike the {CUSTOM_WORD}, {CUSTOM_WORD}-brand kettles; globexes no."


def test_detect_reports_without_intervening() -> None:
    result = apply_guardrail({"words": {"profanity": True, "action": "DETECT"}}, "oh shit")
    assert result.action == "NONE"
    assert result.text == "oh shit"
    assert result.findings[0].action == "DETECTED"


def test_the_shipped_list_is_lower_case_and_unique() -> None:
    words = profanity_list()
    assert len(words) >= 40
    assert all(w == w.lower().strip() for w in words)
    assert len(set(words)) == len(words)


@given(word=st.sampled_from(profanity_list()), case=st.sampled_from(["upper", "title", "lower"]))
def test_every_listed_word_is_found_in_any_case(word: str, case: str) -> None:
    shown = getattr(word, case)()
    text = f"well, {shown}!"
    result = apply_guardrail(PROFANITY, text)
    assert [f.match for f in result.findings] == [shown]


@given(word=st.sampled_from(profanity_list()), glue=st.sampled_from(["x", "9", "é"]))
def test_a_listed_word_glued_to_letters_is_not_a_whole_word(word: str, glue: str) -> None:
    assert apply_guardrail(PROFANITY, f"{glue}{word}{glue}").findings == ()
