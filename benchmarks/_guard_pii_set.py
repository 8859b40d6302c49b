"""The labelled sensitive-information set of guard_eval.py, generated from a seed.

Values are made by Faker and checked (or completed with their check digits) by
python-stdnum and libphonenumber, so every positive is valid and every near miss (one
digit or check letter changed) is not. Each record: ``{"text", "entities": [[type, start,
end], ...], "kind": "positive" | "near_miss" | "negative" | "mixed"}``.
"""

from __future__ import annotations

import copy
import ipaddress
import random
import string
from collections.abc import Callable
from typing import Any

import phonenumbers
from faker import Faker
from stdnum import iban, luhn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.gb import nhs
from stdnum.it import codicefiscale
from stdnum.nl import bsn

LABELS = {
    "EMAIL": "email address", "PHONE": "phone number", "CREDIT_CARD": "card number",
    "IBAN": "IBAN", "IP_ADDRESS": "server IP", "MAC_ADDRESS": "MAC address", "URL": "link",
    "US_SSN": "social security number", "UK_NINO": "National Insurance number",
    "UK_NHS": "NHS number", "DE_TAX_ID": "Steuer-ID", "FR_NIR": "numéro de sécurité sociale",
    "ES_NIF": "DNI", "IT_FISCAL_CODE": "codice fiscale", "NL_BSN": "BSN",
}  # fmt: skip
TEMPLATES = (
    "My {label} is {value}.",
    "{label}: {value}",
    "I typed {value} as my {label} on the form, is that right?",
    "Here you go - {value} - tell me if you need anything else.",
    "Could you update the {label} on file to {value} please?",
    "For the record, the {label} ({value}) belongs to my husband.",
)
NEGATIVES = (
    "Order 4821-7734-1190 shipped on 2024-03-15 and should arrive Tuesday.",
    "Version 3.11.4 fixed the bug that crashed the uploader.",
    "The total was $1,234.56 for 3 items, including 19% VAT.",
    "Meet me at 10:30 in room 455 on the 2nd floor.",
    "ISBN 978-3-16-148410-0 is the second edition.",
    "The invoice number is INV-2024-000187 and it is due in 30 days.",
    "We sold 1,250,000 units in 2023, up from 980,000.",
    "Set the timeout to 86400 seconds and the retries to 12.",
    "Flight LH 2451 departs at 14:05 from gate B22.",
    "The coordinates are 48.8584, 2.2945 near the river.",
    "Please ship 12 boxes of part 7731-0042 to the warehouse.",
    "Our reference is 2024/118/77 and the case is still open.",
    "Temperatures rose from 12.5 to 31.2 degrees by noon.",
    "Call me tomorrow after lunch, I'm free until 5.",
    "The build 20240315.4 passed all 1432 tests.",
    "Section 4.2.1 of the contract covers the deposit.",
)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _corrupt_digit(rng: random.Random, value: str, valid: Callable[[str], bool]) -> str:
    """Change one digit so that ``valid`` rejects the result."""
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    while True:
        i = rng.choice(positions)
        new = value[:i] + rng.choice([d for d in string.digits if d != value[i]]) + value[i + 1 :]
        if not valid(new):
            return new


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)])
    body = prefix + _digits(rng, length - len(prefix) - 1)
    number = body + luhn.calc_check_digit(body)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return number
    sep = " " if style == "space" else "-"
    if length == 15:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


def _phone(rng: random.Random) -> str:
    region = rng.choice(["US", "GB", "DE", "FR", "ES", "IT", "NL"])
    kind = rng.choice(
        [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
    )
    example = phonenumbers.example_number_for_type(region, kind)
    national = str(example.national_number)
    while True:
        # A copy of the example keeps its Italian leading zero; only the last digits change.
        number = copy.copy(example)
        number.national_number = int(national[:-4] + _digits(rng, 4))
        if phonenumbers.is_valid_number(number):
            break
    fmt = rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.E164])  # fmt: skip  # noqa: E501
    return phonenumbers.format_number(number, fmt)


def _nino(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    while first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
        second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    digits = _digits(rng, 6)
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{second}{digits}{suffix}"


def _sampled(rng: random.Random, length: int, valid: Callable[[str], bool]) -> str:
    while True:
        value = rng.choice("123456789") + _digits(rng, length - 1)
        if valid(value):
            return value


def _nir(rng: random.Random) -> str:
    body = (
        rng.choice("12") + f"{rng.randint(40, 99):02d}" + f"{rng.randint(1, 12):02d}"
        + f"{rng.choice([1, 13, 33, 59, 69, 75, 92]):02d}" + _digits(rng, 3) + _digits(rng, 3)
    )  # fmt: skip
    key = f"{97 - int(body) % 97:02d}"
    value = body + key
    if rng.random() < 0.5:
        return " ".join(
            [value[0], value[1:3], value[3:5], value[5:7], value[7:10], value[10:13], value[13:]]
        )
    return value


def make_values(
    rng: random.Random, faker: Faker
) -> dict[str, tuple[Callable[[], str], Callable[[str], str] | None]]:
    """Per type: a generator of valid values and one of near misses (or None)."""
    locales = {loc: Faker(loc) for loc in ("de_DE", "en_GB", "fr_FR", "nl_NL", "es_ES", "it_IT")}
    for index, f in enumerate(locales.values()):
        f.seed_instance(rng.randint(0, 10**6) + index)

    def iban_value() -> str:
        value = rng.choice(list(locales.values())).iban()
        return iban.format(value) if rng.random() < 0.5 else value

    def nif_value() -> str:
        es = locales["es_ES"]
        return es.nif() if rng.random() < 0.6 else es.nie()

    def wrong_letter(value: str, valid: Callable[[str], bool]) -> str:
        while True:
            new = value[:-1] + rng.choice(string.ascii_uppercase)
            if not valid(new):
                return new

    def ipv6() -> str:
        return ipaddress.ip_address(faker.ipv6()).compressed

    def mac() -> str:
        value = faker.mac_address()
        return rng.choice([value, value.upper(), value.replace(":", "-").upper()])

    return {
        "EMAIL": (
            lambda: rng.choice(
                [
                    faker.email(),
                    faker.company_email(),
                    f"{faker.first_name().lower()}.{faker.last_name().lower()}+shop@{faker.domain_name()}",
                ]
            ),
            None,
        ),  # fmt: skip
        "PHONE": (lambda: _phone(rng), None),
        "CREDIT_CARD": (
            lambda: _card(rng),
            lambda v: _corrupt_digit(
                rng, v, lambda x: luhn.is_valid(x.replace(" ", "").replace("-", ""))
            ),
        ),  # fmt: skip
        "IBAN": (iban_value, lambda v: _corrupt_digit(rng, v, iban.is_valid)),
        "IP_ADDRESS": (
            lambda: rng.choice([faker.ipv4_public(), faker.ipv4_private(), ipv6()]),
            lambda v: (
                "3" + str(rng.randint(0, 9)) + str(rng.randint(0, 9)) + "." + v.split(".", 1)[-1]
                if "." in v
                else v.replace(":", ":g", 1)
            ),
        ),  # fmt: skip
        "MAC_ADDRESS": (mac, None),
        "URL": (
            lambda: rng.choice(
                [
                    faker.url() + faker.uri_path(),
                    "https://"
                    + faker.domain_name()
                    + "/"
                    + faker.uri_path()
                    + "?id="
                    + _digits(rng, 4),
                    "www." + faker.domain_name() + "/" + faker.slug(),
                ]
            ),
            None,
        ),  # fmt: skip
        "US_SSN": (lambda: faker.ssn(), lambda v: rng.choice(["000", "666", "900"]) + v[3:]),
        "UK_NINO": (lambda: _nino(rng), lambda v: rng.choice(["GB", "ZZ", "DA", "QQ"]) + v[2:]),
        "UK_NHS": (
            lambda: " ".join((lambda n: [n[:3], n[3:6], n[6:]])(_sampled(rng, 10, nhs.is_valid))),
            lambda v: _corrupt_digit(rng, v, nhs.is_valid),
        ),  # fmt: skip
        "DE_TAX_ID": (
            lambda: (lambda n: rng.choice([n, f"{n[:2]} {n[2:5]} {n[5:8]} {n[8:]}"]))(
                _sampled(rng, 11, idnr.is_valid)
            ),
            lambda v: _corrupt_digit(rng, v, idnr.is_valid),
        ),  # fmt: skip
        "FR_NIR": (
            lambda: _nir(rng),
            lambda v: _corrupt_digit(
                rng, v, lambda x: __import__("stdnum.fr.nir", fromlist=["x"]).is_valid(x)
            ),
        ),  # fmt: skip
        "ES_NIF": (
            nif_value,
            lambda v: wrong_letter(v, lambda x: dni.is_valid(x) or nie.is_valid(x)),
        ),
        "IT_FISCAL_CODE": (
            lambda: locales["it_IT"].ssn(),
            lambda v: wrong_letter(v, codicefiscale.is_valid),
        ),  # fmt: skip
        "NL_BSN": (lambda: locales["nl_NL"].ssn(), lambda v: _corrupt_digit(rng, v, bsn.is_valid)),
    }


def _record(template: str, label: str, value: str, entity: str | None, kind: str) -> dict[str, Any]:
    head, _, _ = template.partition("{value}")
    prefix = head.format(label=label)
    text = template.format(label=label, value=value)
    start = len(prefix)
    entities = [[entity, start, start + len(value)]] if entity else []
    return {"text": text, "entities": entities, "kind": kind}


def build_pii_set(
    rng: random.Random, per_type: int = 12, near_per_type: int = 6
) -> list[dict[str, Any]]:
    """Positives, near misses, plain negatives and two-entity sentences."""
    faker = Faker("en_US")
    faker.seed_instance(rng.randint(0, 10**6))
    values = make_values(rng, faker)
    records = []
    for entity, (make, near) in values.items():
        label = LABELS[entity]
        for i in range(per_type):
            records.append(
                _record(TEMPLATES[i % len(TEMPLATES)], label, make(), entity, "positive")
            )
        if near is not None:
            for i in range(near_per_type):
                template = TEMPLATES[(i + 1) % len(TEMPLATES)]
                records.append(_record(template, label, near(make()), None, "near_miss"))
    records.extend({"text": text, "entities": [], "kind": "negative"} for text in NEGATIVES)
    types = list(values)
    for _ in range(20):
        a, b = rng.sample(types, 2)
        va, vb = values[a][0](), values[b][0]()
        text = f"Send it to {va} or, failing that, use {vb} instead."
        sa = len("Send it to ")
        sb = text.index(vb, sa + len(va))
        records.append({"text": text, "entities": [[a, sa, sa + len(va)], [b, sb, sb + len(vb)]], "kind": "mixed"})  # fmt: skip  # noqa: E501
    return records
