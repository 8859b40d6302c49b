"""Bedrock's sensitive-information types: names, checksums, context words, per-source actions."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.us import rtn

from tessera.errors import InvalidInputError
from tessera.llm.guard import BEDROCK_ENTITY_TYPES, GuardrailConfig, apply_guardrail
from tessera.llm.guard._identifiers import itin_is_valid, vin_check_digit, vin_is_valid

#: Bedrock's piiEntitiesConfig types, as its API reference lists them.
BEDROCK = """ADDRESS AGE AWS_ACCESS_KEY AWS_SECRET_KEY CA_HEALTH_NUMBER CA_SOCIAL_INSURANCE_NUMBER
CREDIT_DEBIT_CARD_CVV CREDIT_DEBIT_CARD_EXPIRY CREDIT_DEBIT_CARD_NUMBER DRIVER_ID EMAIL
INTERNATIONAL_BANK_ACCOUNT_NUMBER IP_ADDRESS LICENSE_PLATE MAC_ADDRESS NAME PASSWORD PHONE PIN
SWIFT_CODE UK_NATIONAL_HEALTH_SERVICE_NUMBER UK_NATIONAL_INSURANCE_NUMBER
UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER URL USERNAME US_BANK_ACCOUNT_NUMBER US_BANK_ROUTING_NUMBER
US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER US_PASSPORT_NUMBER US_SOCIAL_SECURITY_NUMBER
VEHICLE_IDENTIFICATION_NUMBER""".split()

ALL = {"sensitive_information": {"entities": BEDROCK, "action": "DETECT"}}

# (text, value, type): found with exactly this span.
POSITIVES = [
    ("My name is Sarah Thompson, hi.", "Sarah Thompson", "NAME"),
    ("Ask Dr. Rajesh Patel tomorrow.", "Rajesh Patel", "NAME"),
    ("Send it to 42 Oak Avenue, Springfield, IL 62704.", "42 Oak Avenue, Springfield, IL 62704",
     "ADDRESS"),
    ("Our office: 221B Baker Street, London NW1 6XE", "221B Baker Street, London NW1 6XE",
     "ADDRESS"),
    ("Return it to PO Box 1234, Austin, TX 78701.", "PO Box 1234, Austin, TX 78701", "ADDRESS"),
    ("I am 34 years old.", "34", "AGE"),
    ("A 73-year-old man was hurt.", "73", "AGE"),
    ("key AKIANLMYTBX2KJQEVTAV leaked", "AKIANLMYTBX2KJQEVTAV", "AWS_ACCESS_KEY"),
    ("aws_secret_access_key = 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",
     "roOx9ye17SWjAEVaSZJ0oVeMmLRLTq10V7suW9zr", "AWS_SECRET_KEY"),
    ("My health card number is 5477900301.", "5477900301", "CA_HEALTH_NUMBER"),
    ("My SIN is 582 928 198.", "582 928 198", "CA_SOCIAL_INSURANCE_NUMBER"),
    ("The CVV is 482.", "482", "CREDIT_DEBIT_CARD_CVV"),
    ("Card expires 03/28, ok?", "03/28", "CREDIT_DEBIT_CARD_EXPIRY"),
    ("Pay with 4111 1111 1111 1111.", "4111 1111 1111 1111", "CREDIT_DEBIT_CARD_NUMBER"),
    ("Driving licence: MORGA753116SM9IJ", "MORGA753116SM9IJ", "DRIVER_ID"),
    ("DL# S53041587 issued in Florida.", "S53041587", "DRIVER_ID"),
    ("IBAN GB82 WEST 1234 5698 7654 32 ok", "GB82 WEST 1234 5698 7654 32",
     "INTERNATIONAL_BANK_ACCOUNT_NUMBER"),
    ("The car's plate is AB12 CDE.", "AB12 CDE", "LICENSE_PLATE"),
    ("License plate 7XYZ123 was seen.", "7XYZ123", "LICENSE_PLATE"),
    ("My password is Tr0ub4dor&3.", "Tr0ub4dor&3", "PASSWORD"),
    ("My PIN is 4821.", "4821", "PIN"),
    ("The SWIFT code is DEUTDEFF.", "DEUTDEFF", "SWIFT_CODE"),
    ("Wire via BOFAUS3NXXX today.", "BOFAUS3NXXX", "SWIFT_CODE"),
    ("NHS number 943 476 5919 please.", "943 476 5919", "UK_NATIONAL_HEALTH_SERVICE_NUMBER"),
    ("NI number AB123456C.", "AB123456C", "UK_NATIONAL_INSURANCE_NUMBER"),
    ("My UTR is 6621450789.", "6621450789", "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER"),
    ("My username is jsmith_88.", "jsmith_88", "USERNAME"),
    ("Follow @sunny_trails now", "@sunny_trails", "USERNAME"),
    ("Account number: 12345678901 at the bank.", "12345678901", "US_BANK_ACCOUNT_NUMBER"),
    ("The ABA routing number is 280648486.", "280648486", "US_BANK_ROUTING_NUMBER"),
    ("My ITIN is 926-60-7864.", "926-60-7864", "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER"),
    ("Passport no. C03005988 expires.", "C03005988", "US_PASSPORT_NUMBER"),
    ("SSN 536-22-8145 on file.", "536-22-8145", "US_SOCIAL_SECURITY_NUMBER"),
    ("The VIN is 3C5C5FME7PXBMYL1Y.", "3C5C5FME7PXBMYL1Y", "VEHICLE_IDENTIFICATION_NUMBER"),
]  # fmt: skip

NEAR_MISSES = [
    "The building is 90 years old and needs a new roof.",  # an age, not a person's
    "The plan costs 34 dollars a month for 7 users.",
    "The commit hash is 3f9a2c4e1b7d8e6f5a4c3b2a1d0e9f8e7d6c5b4a and it passed.",
    "The order number 5477900302 was cancelled.",  # no health-card context
    "My SIN is 582 928 199, did I type it right?",  # Luhn fails
    "We have 482 seats and 317 tickets sold.",
    "The meeting is on 09/27 at noon.",  # a date, no card context
    "The license for the software is MIT and version 2.1 is current.",
    "Room AB12 is on the second floor.",
    "I forgot my password, how do I reset it?",
    "Pin the notice to the board near room 4821.",
    "The CUSTOMER file is on the shared drive.",  # OM is Oman, but no SWIFT context
    "The SWIFT code DEUTXXFF is not valid for any country.",
    "My UTR is 6621450788, is that one valid?",
    "Usernames must be unique.",
    "The routing number 034059288 came back invalid.",
    "The ITIN 993-44-5678 does not exist: the middle group is out of range.",
    "The passport office is open from 9 to 5.",
    "The serial 3C5C5FME8PXBMYL1Y on the engine does not match anything.",
    "Meet me at the station at 10:30, platform 4.",
    "Elm Street is closed for repairs this weekend.",
]


def _found(text: str, config: dict[str, object] = ALL) -> list[tuple[str, str]]:
    result = apply_guardrail(config, text)
    return [(f.type, text[f.start : f.end]) for f in result.findings if f.start is not None]


def test_every_bedrock_type_is_known_under_its_bedrock_name() -> None:
    assert sorted(BEDROCK_ENTITY_TYPES) == sorted(BEDROCK)
    assert len(BEDROCK) == 31


@pytest.mark.parametrize(("text", "value", "kind"), POSITIVES)
def test_each_bedrock_type_is_found_with_its_exact_span(text: str, value: str, kind: str) -> None:
    assert (kind, value) in _found(text)


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_bedrock_near_misses_are_not_flagged(text: str) -> None:
    assert _found(text) == []


def test_old_names_are_aliases_and_findings_keep_the_configured_name() -> None:
    text = "Card 4111 1111 1111 1111, SSN 536-22-8145."
    old = {"sensitive_information": {"entities": ["CREDIT_CARD", "US_SSN"], "action": "DETECT"}}
    assert _found(text, old) == [("CREDIT_CARD", "4111 1111 1111 1111"), ("US_SSN", "536-22-8145")]
    new = {"sensitive_information": {"entities": ["CREDIT_DEBIT_CARD_NUMBER"]}}
    assert apply_guardrail(new, text).text == "Card {CREDIT_DEBIT_CARD_NUMBER}, SSN 536-22-8145."


def test_an_alias_and_its_bedrock_name_together_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="entity types listed twice"):
        GuardrailConfig.from_mapping(
            {"sensitive_information": {"entities": ["IBAN", "INTERNATIONAL_BANK_ACCOUNT_NUMBER"]}}
        )


def test_actions_per_source_as_bedrock() -> None:
    config = {
        "sensitive_information": {
            "entities": [
                {"type": "EMAIL", "input_action": "BLOCK", "output_action": "ANONYMIZE"},
                {"type": "PIN", "action": "NONE", "output_enabled": False},
            ]
        }
    }
    text = "Mail ann@example.org, my PIN is 4821."
    given_in = apply_guardrail(config, text, source="input")
    assert given_in.blocked
    assert {(f.type, f.action) for f in given_in.findings} == {
        ("EMAIL", "BLOCKED"),
        ("PIN", "DETECTED"),
    }
    given_out = apply_guardrail(config, text, source="output")
    assert given_out.text == "Mail {EMAIL}, my PIN is 4821."
    assert [f.type for f in given_out.findings] == ["EMAIL"]  # PIN is off on outputs


# --- checksums: valid generated values are found, one changed character is rejected ------

_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@st.composite
def _vins(draw: st.DrawFn) -> str:
    chars = draw(st.lists(st.sampled_from(_VIN_CHARS), min_size=17, max_size=17))
    chars[0] = draw(st.sampled_from("123456789JKLSTVWYZ"))
    chars[3] = draw(st.sampled_from(string.digits))  # a digit and a letter: not a word
    chars[4] = draw(st.sampled_from("ABCDEFGH"))
    vin = "".join(chars)
    return vin[:8] + vin_check_digit(vin) + vin[9:]


@settings(max_examples=40)
@given(vin=_vins(), position=st.integers(0, 16), replacement=st.sampled_from(_VIN_CHARS))
def test_valid_vins_are_found_and_one_character_changed_are_not(
    vin: str, position: int, replacement: str
) -> None:
    assert vin_is_valid(vin)
    assert ("VEHICLE_IDENTIFICATION_NUMBER", vin) in _found(f"Car {vin} for sale.")
    changed = vin[:position] + replacement + vin[position + 1 :]
    if changed != vin and not vin_is_valid(changed):
        kinds = [kind for kind, _ in _found(f"Car {changed} for sale.")]
        assert "VEHICLE_IDENTIFICATION_NUMBER" not in kinds


@st.composite
def _routing_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["01", "02", "11", "21", "26", "32", "61", "67", "72"]))
    body = prefix + draw(st.text(string.digits, min_size=6, max_size=6))
    return next(body + d for d in string.digits if rtn.is_valid(body + d))


@settings(max_examples=40)
@given(number=_routing_numbers(), position=st.integers(0, 8), delta=st.integers(1, 9))
def test_routing_numbers_pass_aba_and_one_digit_changed_fail(
    number: str, position: int, delta: int
) -> None:
    assert ("US_BANK_ROUTING_NUMBER", number) in _found(f"Routing number {number} please.")
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    assert not rtn.is_valid(changed)  # weights 3, 7, 1 catch every single-digit change
    kinds = [kind for kind, _ in _found(f"Routing number {changed} please.")]
    assert "US_BANK_ROUTING_NUMBER" not in kinds


@st.composite
def _luhn_digits(draw: st.DrawFn, length: int, first: str) -> str:
    body = draw(st.sampled_from(first)) + draw(
        st.text(string.digits, min_size=length - 2, max_size=length - 2)
    )
    return body + luhn.calc_check_digit(body)


@settings(max_examples=40)
@given(number=_luhn_digits(9, "1234567"), position=st.integers(0, 8), delta=st.integers(1, 9))
def test_sins_pass_luhn_and_one_digit_changed_fail(number: str, position: int, delta: int) -> None:
    shown = f"{number[:3]} {number[3:6]} {number[6:]}"
    assert ("CA_SOCIAL_INSURANCE_NUMBER", shown) in _found(f"My SIN is {shown}.")
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    shown = f"{changed[:3]} {changed[3:6]} {changed[6:]}"
    kinds = [kind for kind, _ in _found(f"My SIN is {shown}.")]
    assert "CA_SOCIAL_INSURANCE_NUMBER" not in kinds


@settings(max_examples=40)
@given(number=_luhn_digits(10, "123456789"), position=st.integers(0, 9), delta=st.integers(1, 9))
def test_ontario_health_numbers_pass_luhn_and_one_digit_changed_fail(
    number: str, position: int, delta: int
) -> None:
    assert ("CA_HEALTH_NUMBER", number) in _found(f"OHIP number {number}.")
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    from stdnum.ca import bc_phn

    if not bc_phn.is_valid(changed):  # a BC number is the other valid reading
        assert "CA_HEALTH_NUMBER" not in [kind for kind, _ in _found(f"OHIP number {changed}.")]


@settings(max_examples=40)
@given(
    area=st.text(string.digits, min_size=2, max_size=2),
    group=st.integers(0, 99),
    serial=st.text(string.digits, min_size=4, max_size=4),
)
def test_itins_are_found_exactly_when_their_group_is_issued(
    area: str, group: int, serial: str
) -> None:
    value = f"9{area}-{group:02d}-{serial}"
    issued = 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99
    assert itin_is_valid(value) == issued
    found = ("US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER", value) in _found(f"ITIN {value}.")
    assert found == issued


@pytest.mark.parametrize(
    ("code", "valid"),
    [("DEUTDEFF", True), ("NWBKGB2L", True), ("DEUTXXFF", False), ("BARCQQ22", False)],
)
def test_swift_codes_need_a_real_country(code: str, valid: bool) -> None:
    found = ("SWIFT_CODE", code) in _found(f"BIC: {code}")
    assert found == valid


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # A given name and surname Faker's lists know, where spaCy sees no person.
        ("Sophie Laurent wrote the report with Ben Carter.", ["Sophie Laurent", "Ben Carter"]),
        # One word alone: kept after a title, dropped when it is no name Faker knows.
        ("Please ask Dr. Nakamura about it.", ["Nakamura"]),
        ("Email me at sarah.t@example.com or call +1 415-555-0132.", []),
        ("Follow me on Twitter, I'm @sunny_trails.", []),
        # A login written in lower case is a username, not a name.
        ("Account login k.watanabe was disabled.", []),
    ],
)
def test_names_read_as_names(text: str, names: list[str]) -> None:
    config = {"sensitive_information": {"entities": ["NAME"], "action": "DETECT"}}
    found = [text[f.start or 0 : f.end or 0] for f in apply_guardrail(config, text).findings]
    assert found == names


def test_lower_case_particles_are_the_only_lower_case_words_a_name_keeps() -> None:
    from tessera.llm.guard._ner import _looks_like_a_name

    assert _looks_like_a_name("Ludwig van Beethoven", titled=False)
    assert not _looks_like_a_name("login k.watanabe", titled=False)
    assert not _looks_like_a_name("Keys", titled=False)
    assert _looks_like_a_name("Keys", titled=True)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Continental streets, name first and number after, with the postcode before the town.
        ("Post it to Mariahilfer Straße 5, 1060 Wien.", "Mariahilfer Straße 5, 1060 Wien"),
        ("Deliver to Lindenstraße 7, 50674 Köln please", "Lindenstraße 7, 50674 Köln"),
        ("Keys at Keizersgracht 12, 1015 CS Amsterdam.", "Keizersgracht 12, 1015 CS Amsterdam"),
        ("Our shop: Calle Mayor 5, 28013 Madrid", "Calle Mayor 5, 28013 Madrid"),
        # Australian state and postcode, New Zealand postcode, Canadian province and postcode.
        ("Office: 12 Collins Street, Melbourne VIC 3000.", "12 Collins Street, Melbourne VIC 3000"),
        ("The depot is at 9 Cuba Street, Wellington 6011.", "9 Cuba Street, Wellington 6011"),
        ("Send to 200 Bay Street East, Toronto, ON M5J 2J2 today",
         "200 Bay Street East, Toronto, ON M5J 2J2"),
        # A street named after a person, with an initial: one address, no name inside it.
        ("Meet at 4 Dr Ralph D Abernathy Boulevard, Atlanta, GA 30310.",
         "4 Dr Ralph D Abernathy Boulevard, Atlanta, GA 30310"),
    ],
)  # fmt: skip
def test_addresses_in_other_countries_formats(text: str, value: str) -> None:
    assert _found(text) == [("ADDRESS", value)]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # Streets and places named after people are not people.
        ("Walk down Abbey Road with Paul McCartney.", ["Paul McCartney"]),
        ("Take the bus along Nelson Mandela Boulevard to the stadium.", []),
        # Surnames that are also street words stay names.
        ("Please thank Nathan Lane for the tickets.", ["Nathan Lane"]),
        # A role word opening the sentence is not part of the name.
        ("Manager Tom Riley Hart called twice.", ["Tom Riley Hart"]),
        # Names outside the first nine locales, and letters outside ASCII.
        ("Signed: Ayşe Kaya", ["Ayşe Kaya"]),
    ],
)
def test_names_beside_streets_and_from_more_locales(text: str, names: list[str]) -> None:
    config = {"sensitive_information": {"entities": ["NAME"], "action": "DETECT"}}
    found = [text[f.start or 0 : f.end or 0] for f in apply_guardrail(config, text).findings]
    assert found == names


@settings(max_examples=60, deadline=None)
@given(year=st.integers(1900, 2099))
def test_a_year_after_the_town_is_not_read_as_a_postcode(year: int) -> None:
    # The risk noted in review: a four-digit postcode rule (New Zealand, Australia without
    # its state) would take "10 Main Street, Boston 2024" as one address.
    text = f"Our office at 10 Main Street, Boston {year} was a good year for it."
    assert _found(text) == [("ADDRESS", "10 Main Street, Boston")]


@settings(max_examples=60, deadline=None)
@given(code=st.integers(1000, 9999).filter(lambda n: not 1900 <= n <= 2099))
def test_a_four_digit_postcode_after_the_town_still_counts(code: int) -> None:
    text = f"The depot is at 9 Cuba Street, Wellington {code}."
    assert _found(text) == [("ADDRESS", f"9 Cuba Street, Wellington {code}")]


def test_a_year_like_postcode_counts_with_its_state_or_country() -> None:
    assert _found("Level 3, 50 Bridge Street, Sydney NSW 2000") == [
        ("ADDRESS", "Level 3, 50 Bridge Street, Sydney NSW 2000")
    ]
    assert _found("Write to 4 Pitt Street, Sydney 2000, Australia.") == [
        ("ADDRESS", "4 Pitt Street, Sydney 2000")
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Street-first streets without a German suffix word, Nordic and Swiss forms.
        ("Deliver to Kurfürstendamm 21, 10719 Berlin now.", "Kurfürstendamm 21, 10719 Berlin"),
        ("We stayed at Nørrebrogade 12, 2200 København.", "Nørrebrogade 12, 2200 København"),
        ("Pick-up: Drottninggatan 45, 111 21 Stockholm", "Drottninggatan 45, 111 21 Stockholm"),
        ("The school is at Rua Augusta 100, 1100-053 Lisboa.", "Rua Augusta 100, 1100-053 Lisboa"),
        # A town and a county before the postcode; a PO box with a Canadian postcode.
        ("Forward mail to 4 Privet Drive, Little Whinging, Surrey GU1 1AA.",
         "4 Privet Drive, Little Whinging, Surrey GU1 1AA"),
        ("Return the form to PO Box 880, Halifax, NS B3J 2T3.", "PO Box 880, Halifax, NS B3J 2T3"),
        ("Write to PO Box 17, Wellington 6140 for details.", "PO Box 17, Wellington 6140"),
        ("Office at 8 Lambton Quay, Wellington 6011 is shut.", "8 Lambton Quay, Wellington 6011"),
    ],
)  # fmt: skip
def test_addresses_of_the_tuning_addition(text: str, value: str) -> None:
    assert _found(text) == [("ADDRESS", value)]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # spaCy's small model labels unseen names ORG, GPE or NORP; cues make them people.
        ("ok so Marcus said the meeting moved to 3", ["Marcus"]),
        ("Thanks again, Priya!", ["Priya"]),
        ("The book is dedicated to Wojciech, who never stopped asking questions.", ["Wojciech"]),
        ("Quote from Pieter de Vries, the spokesperson.", ["Pieter de Vries"]),
        # A title makes any capitalised word a name; the title stays out of the span.
        ("Dear Ms Okafor, your appointment is confirmed.", ["Okafor"]),
        # Hyphenated given names, Irish names, surnames with O' after a cue word.
        ("Can you cc Anne-Marie Dubois on the next email?", ["Anne-Marie Dubois"]),
        ("Seán Ó Briain will chair the session.", ["Seán Ó Briain"]),
        ("Tell Bridget O'Sullivan the parcel is in the porch.", ["Bridget O'Sullivan"]),
        # Near misses: rooms, days, stations and places after a travel verb.
        ("The meeting is in the Franklin Room on Washington Street.", []),
        ("Martin Luther King Jr Day falls on the third Monday of January.", []),
        ("Call Victoria Station lost property if you left a bag.", []),
        ("Welcome to Florence, the jewel of Tuscany!", []),
        ("Ask Amazon for a refund if it arrives broken.", []),
    ],
)
def test_names_of_the_tuning_addition(text: str, names: list[str]) -> None:
    config = {"sensitive_information": {"entities": ["NAME"], "action": "DETECT"}}
    found = [text[f.start or 0 : f.end or 0] for f in apply_guardrail(config, text).findings]
    assert found == names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # Form fields: the value is a name whether or not a list or spaCy knows it.
        ("Family name: Ogunbiyi; given name: Tolulope", ["Ogunbiyi", "Tolulope"]),
        ("Next of kin: Wairimu Kamau (mother)", ["Wairimu Kamau"]),
        # A role or relation before a name, with no colon.
        ("My cousin Ferdia Lyons is staying over.", ["Ferdia Lyons"]),
        # Sign-offs and greetings with a single given name no list knows.
        ("See you at six. Cheers, Tarni", ["Tarni"]),
        ("Thanks so much, Ndidi!", ["Ndidi"]),
        # Introductions and names listed beside a found name.
        ("Hello, I'm Ofa and I'll be hosting tonight.", ["Ofa"]),
        (
            "Prizes went to Rawiri Tamihana and Grace Holloway.",
            ["Rawiri Tamihana", "Grace Holloway"],
        ),
        # A given name opening a sentence before words that put a person there.
        ("Sunita is off sick, so the stand-up moves to Friday.", ["Sunita"]),
    ],
)
def test_names_placed_by_fields_roles_sign_offs_and_lists(text: str, names: list[str]) -> None:
    config = {"sensitive_information": {"entities": ["NAME"], "action": "DETECT"}}
    found = [text[f.start or 0 : f.end or 0] for f in apply_guardrail(config, text).findings]
    assert found == names


@pytest.mark.parametrize(
    "text",
    [
        # Brands, shops and makers named after people, possessives read as shops and days.
        "A bottle of Johnnie Walker and a box of Tim Hortons doughnuts, please.",
        "Sainsbury's and Wendy's both close at ten.",
        "She wears Ralph Lauren to every wedding.",
        "St David's Day is on the first of March.",
        # Teams, places and common words where a name might stand.
        "Charlotte Hornets lost again on Tuesday.",
        "Darwin is hot and humid in the wet season.",
        "We moved to Savannah, which surprised everyone.",
        # Form fields and sign-offs whose value is no person.
        "Customer: Bluewater Holdings Ltd",
        "Kind regards, Customer Services",
        "Dear Hiring Manager, please find my CV attached.",
        "Hi Mum, can you call me back?",
    ],
)
def test_near_misses_of_the_placed_names_give_no_name(text: str) -> None:
    config = {"sensitive_information": {"entities": ["NAME"], "action": "DETECT"}}
    assert not apply_guardrail(config, text).findings


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # A street named Broadway, with no street type; a unit on a named estate or park.
        ("Parcels to 880 West Broadway, Boise, ID 83702 only.",
         "880 West Broadway, Boise, ID 83702"),
        ("Collect from Unit 4, Thornbury Business Park, Bolton BL2 6PT.",
         "Unit 4, Thornbury Business Park, Bolton BL2 6PT"),
        # An Irish Eircode after the town.
        ("Ship to Suite 9, Liffey Trading Estate, Dublin D12 Y2KF today.",
         "Suite 9, Liffey Trading Estate, Dublin D12 Y2KF"),
    ],
)  # fmt: skip
def test_addresses_on_broadway_and_named_estates(text: str, value: str) -> None:
    assert _found(text) == [("ADDRESS", value)]
