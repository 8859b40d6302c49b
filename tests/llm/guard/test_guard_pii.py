"""Sensitive-information filters: every entity both ways with exact spans, checksums, masking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban, luhn

from tessera.llm.guard import apply_guardrail

#: The types Tessera had before Bedrock's list, under their older names (kept as aliases:
#: a finding carries the name the configuration used). Bedrock's other types have their
#: own tests in test_guard_pii_bedrock.py.
CLASSIC = [
    "CREDIT_CARD", "IBAN", "US_SSN", "UK_NINO", "DE_TAX_ID", "FR_NIR", "ES_NIF",
    "IT_FISCAL_CODE", "NL_BSN", "EMAIL", "URL", "IP_ADDRESS", "MAC_ADDRESS", "PHONE", "UK_NHS",
]  # fmt: skip
ALL = {
    "sensitive_information": {
        "entities": CLASSIC,
        "action": "DETECT",
        "phone_regions": ["US", "GB", "DE", "FR"],
    }
}

# (text, the value in it, its type): each must be found with exactly this span.
POSITIVES = [
    ("Write to jane.doe+news@example.co.uk today.", "jane.doe+news@example.co.uk", "EMAIL"),
    ("Call (415) 555-0132 after six.", "(415) 555-0132", "PHONE"),
    ("Our London desk: +44 20 7946 0958.", "+44 20 7946 0958", "PHONE"),
    ("Pay with 4111 1111 1111 1111 please.", "4111 1111 1111 1111", "CREDIT_CARD"),
    ("Amex 3782-822463-10005 on file.", "3782-822463-10005", "CREDIT_CARD"),
    ("IBAN DE89 3704 0044 0532 0130 00 and thanks.", "DE89 3704 0044 0532 0130 00", "IBAN"),
    ("Send to GB82WEST12345698765432.", "GB82WEST12345698765432", "IBAN"),
    ("The host is 192.168.1.20.", "192.168.1.20", "IP_ADDRESS"),
    ("Ping 2001:db8::8a2e:370:7334 now", "2001:db8::8a2e:370:7334", "IP_ADDRESS"),
    ("MAC 00:1A:2B:3C:4D:5E is blocked.", "00:1A:2B:3C:4D:5E", "MAC_ADDRESS"),
    ("Cisco style 001a.2b3c.4d5e here", "001a.2b3c.4d5e", "MAC_ADDRESS"),
    ("See https://example.com/a?b=1).", "https://example.com/a?b=1", "URL"),
    ("Visit www.example.org/help, then log in.", "www.example.org/help", "URL"),
    ("SSN 123-45-6789 on the form.", "123-45-6789", "US_SSN"),
    ("NINO AB 12 34 56 C, thanks.", "AB 12 34 56 C", "UK_NINO"),
    ("My NHS number is 943 476 5919.", "943 476 5919", "UK_NHS"),
    ("Steuer-ID 36 574 261 809.", "36 574 261 809", "DE_TAX_ID"),
    ("NIR 1 84 12 76 451 089 46 ok", "1 84 12 76 451 089 46", "FR_NIR"),
    ("DNI 12345678Z y NIE X1234567L", "12345678Z", "ES_NIF"),
    ("Codice fiscale RSSMRA85T10A562S.", "RSSMRA85T10A562S", "IT_FISCAL_CODE"),
    ("BSN 111222333 graag.", "111222333", "NL_BSN"),
]

# Near misses: the pattern fits but the value is invalid, or the text is not PII at all.
NEGATIVES = [
    "Card 4111 1111 1111 1112 was refused.",  # Luhn fails
    "IBAN DE89 3704 0044 0532 0130 01 bounced.",  # mod 97 fails
    "Version 3.11.4 and build 10.0.19045 shipped.",
    "Host 999.168.1.20 is not an address.",
    "Order 4821-7734-1190 ships Tuesday.",
    "ISBN 978-3-16-148410-0 is the second edition.",
    "SSN 000-12-3456 is never issued.",
    "NINO GB 12 34 56 C is not allocated.",
    "Steuer-ID 36 574 261 808 has a bad check digit.",
    "DNI 12345678A has the wrong letter.",
    "Codice RSSMRA85T10A562X is wrong.",
    "Email me at noon, room 455.",
    "Meet at 12:30:45 on 2024-03-15.",
    "The ratio a:b:c was 1:2:3.",
    "C++ scope :: and a tail ::",
]


def _found(text: str) -> list[tuple[str, str]]:
    result = apply_guardrail(ALL, text)
    return [(f.type, text[f.start : f.end]) for f in result.findings if f.start is not None]


@pytest.mark.parametrize(("text", "value", "kind"), POSITIVES)
def test_each_entity_is_found_with_its_exact_span(text: str, value: str, kind: str) -> None:
    result = apply_guardrail(ALL, text)
    start = text.index(value)
    match = [f for f in result.findings if f.type == kind]
    assert match, f"{kind} not found in {text!r}: {result.findings}"
    assert (match[0].start, match[0].end, match[0].match) == (start, start + len(value), value)
    assert match[0].action == "DETECTED"
    assert result.action == "NONE"  # DETECT reports, it does not intervene


@pytest.mark.parametrize("text", NEGATIVES)
def test_near_misses_are_not_flagged(text: str) -> None:
    assert _found(text) == []


def test_only_the_listed_entities_are_looked_for() -> None:
    config = {"sensitive_information": {"entities": ["EMAIL"]}}
    text = "ann@example.org, 4111 1111 1111 1111"
    assert [f.type for f in apply_guardrail(config, text).findings] == ["EMAIL"]


def _luhn_numbers() -> st.SearchStrategy[str]:
    prefixes = st.sampled_from(["4", "51", "55", "37", "6011"])
    return st.builds(
        lambda prefix, body: prefix + body[: 15 - len(prefix)],
        prefixes,
        st.text("0123456789", min_size=15, max_size=15),
    ).map(lambda body: body + luhn.calc_check_digit(body))


@settings(max_examples=40)
@given(number=_luhn_numbers(), position=st.integers(0, 15), delta=st.integers(1, 9))
def test_valid_cards_are_found_and_one_digit_changed_are_not(
    number: str, position: int, delta: int
) -> None:
    assert luhn.is_valid(number)
    text = f"Card: {number}. Thanks."
    assert ("CREDIT_CARD", number) in _found(text)
    digit = str((int(number[position]) + delta) % 10)
    corrupted = number[:position] + digit + number[position + 1 :]
    assert not luhn.is_valid(corrupted)  # Luhn catches every single-digit change
    assert all(kind != "CREDIT_CARD" for kind, _ in _found(f"Card: {corrupted}. Thanks."))


def _ibans() -> st.SearchStrategy[str]:
    def build(country: str, bban: str) -> str:
        check = iban.calc_check_digits(country + "00" + bban)
        return country + check + bban

    german = st.text("0123456789", min_size=18, max_size=18).map(lambda b: build("DE", b))
    british = st.builds(
        lambda bank, digits: build("GB", bank + digits),
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4),
        st.text("0123456789", min_size=14, max_size=14),
    )
    return german | british


@settings(max_examples=40)
@given(value=_ibans(), grouped=st.booleans(), position=st.integers(4, 21), delta=st.integers(1, 9))
def test_valid_ibans_are_found_and_one_digit_changed_are_not(
    value: str, grouped: bool, position: int, delta: int
) -> None:
    assert iban.is_valid(value)
    shown = iban.format(value) if grouped else value
    assert ("IBAN", shown) in _found(f"Pay to {shown} by Monday.")
    digits = [i for i, c in enumerate(value) if c.isdigit() and i >= 4]
    at = digits[position % len(digits)]
    corrupted = value[:at] + str((int(value[at]) + delta) % 10) + value[at + 1 :]
    assert not iban.is_valid(corrupted)
    assert all(kind != "IBAN" for kind, _ in _found(f"Pay to {corrupted} by Monday."))


VALUES = [value for _, value, _ in POSITIVES]


@settings(max_examples=40)
@given(
    picks=st.lists(st.sampled_from(VALUES), min_size=1, max_size=4),
    fillers=st.lists(st.sampled_from(["Hello", "see", "and", "or call", "thanks!"]), min_size=5),
)
def test_anonymisation_never_leaves_an_original_value(picks: list[str], fillers: list[str]) -> None:
    parts = []
    for i, value in enumerate(picks):
        parts += [fillers[i % len(fillers)], value + ","]
    text = " ".join(parts) + " " + fillers[-1]
    config = {
        **ALL,
        "sensitive_information": {**ALL["sensitive_information"], "action": "ANONYMIZE"},
    }
    result = apply_guardrail(config, text)
    assert result.action == "INTERVENED"
    for value in picks:
        assert value not in result.text
    # Every finding's span is replaced by exactly one {TYPE} tag, in order.
    tags = [f"{{{f.type}}}" for f in result.findings]
    positions = [result.text.index(tag) for tag in dict.fromkeys(tags)]
    assert positions == sorted(positions)


def test_overlapping_entities_keep_the_longest_and_mask_all() -> None:
    config = {
        "sensitive_information": {
            "entities": ["URL", "IP_ADDRESS", "EMAIL"],
            "action": "ANONYMIZE",
            "regexes": [{"name": "TICKET", "pattern": r"TCK-\d{4}"}],
        }
    }
    text = "Open http://10.0.0.7/admin?u=ann@example.org or ticket TCK-1234."
    result = apply_guardrail(config, text)
    assert [(f.type, f.match) for f in result.findings] == [
        ("URL", "http://10.0.0.7/admin?u=ann@example.org"),
        ("TICKET", "TCK-1234"),
    ]
    assert result.text == "Open {URL} or ticket {TICKET}."


def test_a_custom_regex_wins_a_tie_with_a_built_in_type() -> None:
    config = {
        "sensitive_information": {
            "entities": ["EMAIL"],
            "regexes": [{"name": "STAFF_EMAIL", "pattern": r"\w+@corp\.example\.com"}],
        }
    }
    result = apply_guardrail(config, "ask bob@corp.example.com")
    assert [(f.type, f.match) for f in result.findings] == [("STAFF_EMAIL", "bob@corp.example.com")]


def test_context_decides_between_same_extent_readings() -> None:
    config = {"sensitive_information": {"entities": ["PHONE", "UK_NHS"]}}
    assert apply_guardrail(config, "NHS number 943 476 5919").findings[0].type == "UK_NHS"
    assert apply_guardrail(config, "phone 943 476 5919").findings[0].type == "PHONE"


def test_block_and_anonymise_per_entity() -> None:
    config = {
        "blocked_input_message": "Blocked: remove the card number.",
        "sensitive_information": {
            "entities": ["EMAIL", {"type": "CREDIT_CARD", "action": "BLOCK"}],
            "action": "ANONYMIZE",
        },
    }
    masked = apply_guardrail(config, "mail ann@example.org")
    assert (masked.action, masked.text) == ("INTERVENED", "mail {EMAIL}")
    assert not masked.blocked
    blocked = apply_guardrail(config, "mail ann@example.org, card 4111111111111111")
    assert (blocked.action, blocked.text) == ("INTERVENED", "Blocked: remove the card number.")
    assert blocked.blocked
    assert [f.action for f in blocked.findings] == ["ANONYMIZED", "BLOCKED"]
    output = apply_guardrail(config, "4111111111111111", source="output")
    assert output.text == "Sorry, I can't provide that response."


def test_sources_limit_where_a_policy_runs() -> None:
    config = {"sensitive_information": {"entities": ["EMAIL"], "sources": ["output"]}}
    assert apply_guardrail(config, "ann@example.org", source="input").assessments == {}
    assert apply_guardrail(config, "ann@example.org", source="output").action == "INTERVENED"


@settings(max_examples=30)
@given(
    case=st.sampled_from(POSITIVES),
    prefix=st.sampled_from(["", "Hi. ", "Note -- ", "Ünïcode ✓ first: "]),
    suffix=st.sampled_from(["", " Bye.", " (see above)", "\nThanks"]),
)
def test_text_around_a_value_only_shifts_its_span(
    case: tuple[str, str, str], prefix: str, suffix: str
) -> None:
    text, value, kind = case
    plain = [(f.type, f.start, f.end) for f in apply_guardrail(ALL, text).findings]
    framed = apply_guardrail(ALL, prefix + text + suffix).findings
    shift = len(prefix)
    assert [(f.type, f.start - shift, f.end - shift) for f in framed] == plain  # type: ignore[operator]


def test_a_word_inside_an_entity_is_masked_once_with_nothing_left() -> None:
    config = {
        "sensitive_information": {"entities": ["EMAIL"], "action": "ANONYMIZE"},
        "words": {"words": ["example", "org"], "action": "ANONYMIZE"},
    }
    result = apply_guardrail(config, "write to ann@example.org, example")
    assert result.text == "write to {EMAIL}, {CUSTOM_WORD}"
    assert "ann" not in result.text and "example.org" not in result.text


@settings(max_examples=60)
@given(text=st.text(st.sampled_from("0123456789 -.:@/()+abcDEFxyz_$*\n"), max_size=80))
def test_any_text_gives_in_bounds_disjoint_spans_and_masks_them(text: str) -> None:
    config = {
        "sensitive_information": {**ALL["sensitive_information"], "action": "ANONYMIZE"},
        "words": {"profanity": True, "action": "DETECT"},
    }
    result = apply_guardrail(config, text)
    pii = result.assessments["sensitive_information"]
    spans = sorted((f.start or 0, f.end or 0) for f in pii)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))
    assert result.text.count("{") - text.count("{") == len(pii)
