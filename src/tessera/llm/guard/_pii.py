"""Sensitive-information detectors: candidate patterns confirmed by real validators.

Each detector proposes spans with a permissive pattern, then keeps only those a validator
accepts: Luhn for payment cards, ISO 7064 mod 97-10 plus the country's format for IBANs,
python-stdnum's checksums for national identifiers, :mod:`ipaddress` for IP addresses and
libphonenumber's matcher for phone numbers. A number whose checksum fails is not reported.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from tessera.llm.guard._config import ENTITY_TYPES
from tessera.llm.guard._identifiers import IDENTIFIER_DETECTORS
from tessera.llm.guard._ner import address_spans, name_spans

__all__ = ["Span", "find_entities", "find_regexes", "resolve_overlaps"]


@dataclass(frozen=True, order=True)
class Span:
    """One detected value: ``text[start:end]`` is an entity of ``type``."""

    start: int
    end: int
    type: str


_B = r"(?<![\w@.-])(?<!\d[ -])"  # no word character, dot, dash, @ or digit group before
_E = r"(?![\w@-]|\.\w|[ -]\d)"  # nor after (a sentence's final period is fine)

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-]|\.\w)"
)
_URL = re.compile(r"(?<![\w@/])(?:https?://|ftp://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\""
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)
_MAC = re.compile(
    r"(?<![\w:.-])(?:[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:-]|\.\w)"
)
_CARD = re.compile(
    _B + r"(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -])\d{6}\2\d{5})" + _E
)
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}(?![\w])")
_SSN = re.compile(_B + r"\d{3}([- ])\d{2}\1\d{4}" + _E)
_NINO = re.compile(
    r"(?<![\w])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\w])"
)
_NHS = re.compile(_B + r"\d{3}([ -]?)\d{3}\1\d{4}" + _E)
_DE_IDNR = re.compile(_B + r"\d{2}( ?)\d{3}\1\d{3}\1\d{3}" + _E)
_FR_NIR = re.compile(
    _B + r"[12]( ?)\d{2}\1(?:0[1-9]|1[0-2]|[2-9]\d)\1(?:\d{2}|2[AB])\1?\d{3}\1\d{3}\1\d{2}" + _E
)
_ES_NIF = re.compile(r"(?<![\w-])(?:\d{8}|[XYZ]-?\d{7})-?[A-Z](?![\w-])")
_IT_CF = re.compile(
    r"(?<![\w])[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"
    r"(?![\w])"
)
_NL_BSN = re.compile(_B + r"\d{4}(\.?)\d{2}\1\d{3}" + _E)

#: Issuer prefixes of payment cards (Visa, Mastercard, Amex, Discover, Diners, JCB,
#: UnionPay, Maestro): a Luhn-valid number outside them is more likely an order number.
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[68])|6|5[06-9]"
)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _card_ok(text: str) -> bool:
    from stdnum import luhn

    number = _digits(text)
    return 13 <= len(number) <= 19 and bool(_CARD_PREFIX.match(number)) and luhn.is_valid(number)


def _iban_spans(text: str) -> Iterator[tuple[int, int]]:
    from stdnum import iban

    for match in _IBAN.finditer(text):
        # The pattern may run into a following code word: shorten until it validates.
        candidate = match.group()
        for end in range(len(candidate), 14, -1):
            if candidate[end - 1] != " " and iban.is_valid(candidate[:end]):
                yield match.start(), match.start() + end
                break


def _url_spans(text: str) -> Iterator[tuple[int, int]]:
    for match in _URL.finditer(text):
        value = match.group()
        # A closing bracket is part of the URL only when the URL opened one.
        while value and value[-1] in _URL_TRAILING:
            if value[-1] == ")" and value.count("(") >= value.count(")"):
                break
            value = value[:-1]
        if len(value) > len("www.") and "." in value.split("//", 1)[-1]:
            yield match.start(), match.start() + len(value)


def _ip_ok(text: str) -> bool:
    if not any(c.isalnum() for c in text):
        return False  # a bare "::" in prose is punctuation, not the unspecified address
    try:
        if "/" in text:
            ipaddress.ip_network(text, strict=False)
        else:
            ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _stdnum(module: str) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        import importlib

        validator = importlib.import_module(f"stdnum.{module}")
        return bool(validator.is_valid(value))

    return check


def _regex_spans(
    pattern: re.Pattern[str], valid: Callable[[str], bool], text: str
) -> Iterator[tuple[int, int]]:
    for match in pattern.finditer(text):
        if valid(match.group()):
            yield match.span()


def _phone_spans(text: str, regions: Sequence[str]) -> Iterator[tuple[int, int]]:
    """Valid numbers, grouped as the region writes them, by libphonenumber's matcher.

    A bare run of digits (no ``+``, no separator) is taken only when it starts with the
    trunk prefix 0: nine or ten plain digits are far more often an order or ID number.
    """
    import phonenumbers

    seen: set[tuple[int, int]] = set()
    for region in regions:
        matcher = phonenumbers.PhoneNumberMatcher(
            text, region, phonenumbers.Leniency.EXACT_GROUPING
        )
        for found in matcher:
            start, raw = found.start, found.raw_string
            if raw.startswith("(") and ")" not in raw:
                start, raw = start + 1, raw[1:]  # the matcher keeps an unpaired "("
            if raw.isdigit() and not raw.startswith("0"):
                continue
            if (start, found.end) not in seen:
                seen.add((start, found.end))
                yield start, found.end


_PERSON = (
    r"(?:i|i'm|i am|he|she|they|we|you|he's|she's|my|our|his|her|their|son|daughter|child|kid|"
    r"baby|boy|girl|man|woman|patient|mother|father|mum|mom|dad|wife|husband|brother|sister|"
    r"grandmother|grandfather|grandma|grandpa|applicant|aunt|uncle)"
)
_AGE = re.compile(
    r"(?<![\w.])(?P<a>\d{1,3})-years?-old\b"
    r"|(?<![\w.])(?P<e>\d{1,3}) years? old\b"
    r"|\b(?:age|aged)\b\s*[:=]?\s*(?P<b>\d{1,3})(?![\w.,]\d|\w)"
    r"|\b" + _PERSON + r"\b(?:\s+(?:is|was|turned|turns|just turned|will be))?\s+"
    r"(?P<c>\d{1,3})(?:\s*(?:years?|yrs?)(?: old)?)?(?=\s+(?:and|years|yrs|when|now|last|"
    r"next|this|in|with|but|so)\b|[,.;!?]|\s*$)"
    r"|\bturned (?P<d>\d{1,3})\b",
    re.IGNORECASE,
)


def age_spans(text: str) -> Iterator[tuple[int, int]]:
    """A person's age: "34 years old" after a person word, "aged 68", "a 29-year-old"."""
    for match in _AGE.finditer(text):
        group = next(g for g in "abcde" if match.group(g) is not None)
        if group == "e":  # "90 years old" is an age when a person is its subject
            before = text[max(0, match.start() - 40) : match.start()]
            if re.search(r"\b" + _PERSON + r"\b", before, re.IGNORECASE) is None:
                continue
        if 0 < int(match.group(group)) <= 120:
            yield match.span(group)


@lru_cache(maxsize=1)
def _detectors() -> dict[str, Callable[[str], Iterator[tuple[int, int]]]]:
    def pattern(
        regex: re.Pattern[str], valid: Callable[[str], bool] = lambda _: True
    ) -> Callable[[str], Iterator[tuple[int, int]]]:
        return lambda text: _regex_spans(regex, valid, text)

    return {
        "CREDIT_DEBIT_CARD_NUMBER": pattern(_CARD, _card_ok),
        "INTERNATIONAL_BANK_ACCOUNT_NUMBER": _iban_spans,
        "US_SOCIAL_SECURITY_NUMBER": pattern(_SSN, _stdnum("us.ssn")),
        "UK_NATIONAL_INSURANCE_NUMBER": pattern(_NINO),
        "DE_TAX_ID": pattern(_DE_IDNR, _stdnum("de.idnr")),
        "FR_NIR": pattern(_FR_NIR, _stdnum("fr.nir")),
        "ES_NIF": pattern(_ES_NIF, lambda v: _stdnum("es.dni")(v) or _stdnum("es.nie")(v)),
        "IT_FISCAL_CODE": pattern(_IT_CF, _stdnum("it.codicefiscale")),
        "NL_BSN": pattern(_NL_BSN, _stdnum("nl.bsn")),
        "EMAIL": pattern(_EMAIL),
        "URL": _url_spans,
        "IP_ADDRESS": lambda text: (
            span for regex in (_IPV4, _IPV6) for span in _regex_spans(regex, _ip_ok, text)
        ),
        "MAC_ADDRESS": pattern(_MAC),
        "UK_NATIONAL_HEALTH_SERVICE_NUMBER": pattern(_NHS, _stdnum("gb.nhs")),
        "NAME": name_spans,
        "ADDRESS": address_spans,
        "AGE": age_spans,
        **IDENTIFIER_DETECTORS,
    }


def find_entities(
    text: str, types: Sequence[str], *, phone_regions: Sequence[str] = ("US",)
) -> list[Span]:
    """Every span of ``text`` that is a valid entity of one of ``types`` (overlaps kept)."""
    detectors = _detectors()
    spans: list[Span] = []
    for kind in types:
        if kind == "PHONE":
            found: Iterator[tuple[int, int]] = _phone_spans(text, phone_regions)
        else:
            found = detectors[kind](text)
        spans.extend(Span(start, end, kind) for start, end in found)
    return [span for span in spans if not _labelled_otherwise(text, span)]


#: Labels that say a number right after them is some other identifier: a bare number
#: there that fails that identifier's checksum is not taken for a phone or NHS number.
_OTHER_LABEL = re.compile(
    r"\b(?:UTR|SIN|ITIN|routing(?: number)?|ABA|passport(?: number| no\.?)?|OHIP|PHN|"
    r"health card(?: number)?)\b[\s:#,]*(?:(?:number|no\.?|is|was)[\s:#,]*)*$",
    re.IGNORECASE,
)
_GENERIC = ("PHONE", "UK_NATIONAL_HEALTH_SERVICE_NUMBER")


def _labelled_otherwise(text: str, span: Span) -> bool:
    if span.type not in _GENERIC:
        return False
    before = text[max(0, span.start - _CONTEXT_WINDOW) : span.start]
    return _OTHER_LABEL.search(before) is not None and not _has_context(text, span)


def find_regexes(text: str, rules: Sequence[tuple[str, str]]) -> list[Span]:
    """Matches of custom ``(name, pattern)`` rules; empty matches are skipped."""
    spans = []
    for name, pattern in rules:
        for match in re.finditer(pattern, text):
            if match.end() > match.start():
                spans.append(Span(match.start(), match.end(), name))
    return spans


#: Words that, just before a value, say which of several same-extent readings is meant.
CONTEXT_WORDS = {
    "UK_NATIONAL_HEALTH_SERVICE_NUMBER": ("nhs", "health service"),
    "NL_BSN": ("bsn", "burgerservicenummer", "sofinummer"),
    "DE_TAX_ID": ("steuer", "idnr", "identifikationsnummer", "tax id"),
    "US_SOCIAL_SECURITY_NUMBER": ("ssn", "social security"),
    "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER": ("utr", "taxpayer"),
    "CA_HEALTH_NUMBER": ("health card", "health number", "ohip", "phn"),
    "CA_SOCIAL_INSURANCE_NUMBER": ("sin", "social insurance"),
    "US_BANK_ROUTING_NUMBER": ("routing", "aba"),
    "US_PASSPORT_NUMBER": ("passport",),
    "US_BANK_ACCOUNT_NUMBER": ("account",),
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER": ("itin", "taxpayer"),
    "FR_NIR": ("nir", "insee", "sécurité sociale", "securite sociale"),
    "CREDIT_DEBIT_CARD_NUMBER": ("card",),
    "PHONE": ("phone", "call", "tel", "mobile", "fax"),
}
_CONTEXT_WINDOW = 40


def _has_context(text: str, span: Span) -> bool:
    before = text[max(0, span.start - _CONTEXT_WINDOW) : span.start].lower()
    after = text[span.end : span.end + _CONTEXT_WINDOW].lower()
    return any(word in before or word in after for word in CONTEXT_WORDS.get(span.type, ()))


def resolve_overlaps(
    spans: Sequence[Span], priority: Sequence[str] = ENTITY_TYPES, text: str | None = None
) -> list[Span]:
    """Keep a non-overlapping subset: longer spans first, ties by context, then ``priority``.

    Between readings of the same extent, one whose context word (:data:`CONTEXT_WORDS`,
    within 40 characters of it, in ``text``) is present wins: ``NHS number: 943 476
    5919`` is an NHS number although it is also a valid US phone number. Custom regex
    names (not in ``priority``) rank before built-in types, so a user's pattern is not
    shadowed by a generic detector of the same extent.
    """
    rank = {kind: index for index, kind in enumerate(priority)}

    def key(span: Span) -> tuple[int, int, int, int]:
        context = 0 if text is not None and _has_context(text, span) else 1
        return (-(span.end - span.start), context, rank.get(span.type, -1), span.start)

    kept: list[Span] = []
    for span in sorted(set(spans), key=key):
        if all(span.end <= other.start or span.start >= other.end for other in kept):
            kept.append(span)
    return sorted(kept)
