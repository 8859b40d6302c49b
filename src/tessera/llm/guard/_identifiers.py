"""Bedrock's identifier types beyond the classic ones: checksums where the format has one,
context words where it has none.

A checksummed value is reported on its own only when its format is distinctive enough
that a random number rarely passes (a VIN's check digit on 17 characters, a SWIFT code's
country, a dashed ITIN); a short or plain number (a 9-digit routing number passes ABA's
checksum one time in ten) also needs a context word before it ("routing", "UTR", "SIN").
Values with no checksum at all (PINs, CVVs, passwords, account numbers) are taken only
right after their context word, past a few filler words ("My PIN is 4821").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

__all__ = ["IDENTIFIER_DETECTORS", "itin_is_valid", "vin_check_digit", "vin_is_valid"]

Spans = Iterator[tuple[int, int]]

#: Words allowed between a context word and its value: "PIN is", "number: ", "no. #".
_FILLER = (
    r"(?:[\s:#=(,\-]+|\b(?:is|was|are|number|num|no|nr|code|id|reads?|of|my|your|his|her|"
    r"their|the|a|be|will|set|to|on|file|here|below|for|with|secret|access|key)\b\.?)*?"
)
_WINDOW = 48  # characters before a value searched for a loose context word


def _after(keywords: str, value: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    """``value`` (group ``v``) right after one of ``keywords`` and filler words."""
    return re.compile(
        rf"(?<![\w])(?:{keywords})(?![\w]){_FILLER}(?<![\w])(?P<v>{value})(?![\w/+]|[.-]\w)",
        flags,
    )


def _spans_after(
    pattern: re.Pattern[str], valid: Callable[[str], bool] = bool
) -> Callable[[str], Spans]:
    def find(text: str) -> Spans:
        for match in pattern.finditer(text):
            if valid(match.group("v")):
                yield match.span("v")

    return find


def _near(text: str, start: int, keywords: re.Pattern[str]) -> bool:
    return keywords.search(text[max(0, start - _WINDOW) : start]) is not None


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


# --- checksums ------------------------------------------------------------------------

_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    """The ISO 3779 / 49 CFR 565 check digit (position 9) of a 17-character VIN."""
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin.upper(), _VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def vin_is_valid(vin: str) -> bool:
    """Whether ``vin`` is 17 VIN characters (no I, O, Q) whose check digit matches."""
    vin = vin.upper()
    if len(vin) != 17 or any(c not in _VIN_VALUES for c in vin):
        return False
    return vin[8] == vin_check_digit(vin)


_VIN = re.compile(r"(?<![A-Za-z0-9])[A-HJ-NPR-Z0-9]{17}(?![A-Za-z0-9])")
_VIN_CONTEXT = re.compile(r"\b(?:VIN|vehicle identification|chassis)\b", re.IGNORECASE)


def _vin_spans(text: str) -> Spans:
    for match in _VIN.finditer(text):
        value = match.group()
        if not (re.search(r"\d", value) and re.search(r"[A-Z]", value)):
            continue
        # Outside North America the check digit is optional: a VIN context word suffices.
        if vin_is_valid(value) or _near(text, match.start(), _VIN_CONTEXT):
            yield match.span()


_SWIFT = re.compile(r"(?<![A-Za-z0-9])[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])")
_SWIFT_CONTEXT = re.compile(r"\b(?:SWIFT|BIC)\b", re.IGNORECASE)


def _swift_spans(text: str) -> Spans:
    """ISO 9362 codes with a real country; a bare 8-letter word in capitals ("CUSTOMER":
    OM is Oman) needs a context word, a digit in its location or a branch code."""
    from stdnum import bic

    for match in _SWIFT.finditer(text):
        value = match.group()
        if not bic.is_valid(value):
            continue
        distinctive = len(value) == 11 or any(c.isdigit() for c in value[6:8])
        if distinctive or _near(text, match.start(), _SWIFT_CONTEXT):
            yield match.span()


def _stdnum_valid(module: str) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        import importlib

        return bool(importlib.import_module(f"stdnum.{module}").is_valid(value))

    return check


def _luhn(value: str) -> bool:
    from stdnum import luhn

    return bool(luhn.is_valid(_digits(value)))


_ITIN_DASHED = re.compile(r"(?<![\w-])9\d{2}([- ])\d{2}\1\d{4}(?![\w]|-\d)")
_ITIN_CONTEXT = re.compile(r"\b(?:ITIN|individual taxpayer|taxpayer id)", re.IGNORECASE)


def itin_is_valid(value: str) -> bool:
    """An IRS ITIN: 9 digits starting with 9, group (digits 4-5) in 50-65, 70-88, 90-92 or
    94-99 (python-stdnum knows only the groups before the 2011 expansion to 50-65)."""
    digits = _digits(value)
    if len(digits) != 9 or digits[0] != "9":
        return False
    group = int(digits[3:5])
    return 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99


def _itin_spans(text: str) -> Spans:
    for match in _ITIN_DASHED.finditer(text):
        if itin_is_valid(match.group()):
            yield match.span()
    for match in re.finditer(r"(?<![\w-])9\d{8}(?![\w]|-\d)", text):
        if itin_is_valid(match.group()) and _near(text, match.start(), _ITIN_CONTEXT):
            yield match.span()


def _ca_health_ok(value: str) -> bool:
    digits = _digits(value)
    if len(digits) != 10:
        return False
    return _stdnum_valid("ca.bc_phn")(digits) or _luhn(digits)


_AWS_ACCESS = re.compile(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA|ABIA|ACCA)[A-Z2-7]{16}"
    r"(?![A-Za-z0-9])"
)
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_SECRET_CONTEXT = re.compile(r"secret|aws", re.IGNORECASE)


def _aws_secret_spans(text: str) -> Spans:
    """40 base64 characters with upper, lower and a digit (a hex digest has no capital),
    with "secret" or "aws" nearby or an access key id in the same text."""
    has_key_id = _AWS_ACCESS.search(text) is not None
    for match in _AWS_SECRET.finditer(text):
        value = match.group()
        mixed = re.search(r"[A-Z]", value) and re.search(r"[a-z]", value)
        if not (mixed and re.search(r"\d", value)):
            continue
        if has_key_id or _near(text, match.start(), _AWS_SECRET_CONTEXT):
            yield match.span()


def _has_symbol_or_digit(value: str) -> bool:
    return any(not c.isalpha() for c in value)


_STOPWORDS = frozenset(
    "a an and are as at be but by can could did do does for from had has have how i if in is "
    "it its may me must my no not of on or our should so than that the their them then there "
    "these they this to too us was we were what when where which who why will with would you "
    "your forgot forgotten reset change changed expired locked password passwords".split()
)


def _username_ok(value: str) -> bool:
    return _has_symbol_or_digit(value) or value.lower() not in _STOPWORDS


_PLATE_VALUE = r"(?-i:[A-Z0-9]{1,4}[ -]?[A-Z0-9]{1,4})"


def _plate_ok(value: str) -> bool:
    """Letters and digits both, four characters at least ("GR8 DAY", "7XYZ123")."""
    compact = re.sub(r"[ -]", "", value)
    return len(compact) >= 4 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


_UK_PLATE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2} ?[A-Z]{3}(?![A-Za-z0-9])")
_UK_DRIVING_LICENCE = re.compile(
    r"(?<![A-Za-z0-9])[A-Z9]{5}\d{6}[A-Z9]{2}\d[A-Z]{2}(?![A-Za-z0-9])"
)


def _union(*finders: Callable[[str], Spans]) -> Callable[[str], Spans]:
    def find(text: str) -> Spans:
        seen: set[tuple[int, int]] = set()
        for finder in finders:
            for span in finder(text):
                if span not in seen:
                    seen.add(span)
                    yield span

    return find


def _plain(pattern: re.Pattern[str]) -> Callable[[str], Spans]:
    return lambda text: (m.span() for m in pattern.finditer(text))


_CASE = 0  # case-sensitive keyword (SIN, UTR are words in lower case)

#: Detector of each type added for Bedrock's list: a function from text to spans.
IDENTIFIER_DETECTORS: dict[str, Callable[[str], Spans]] = {
    "AWS_ACCESS_KEY": _plain(_AWS_ACCESS),
    "AWS_SECRET_KEY": _aws_secret_spans,
    "VEHICLE_IDENTIFICATION_NUMBER": _vin_spans,
    "SWIFT_CODE": _swift_spans,
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER": _itin_spans,
    "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER": _spans_after(
        _after(
            r"UTR|(?i:unique taxpayer reference|taxpayer reference|self assessment)"
            r"(?: UTR)?(?: number| no\.?)?",
            r"\d{5} ?\d{5}",
            _CASE,
        ),
        _stdnum_valid("gb.utr"),
    ),
    "CA_SOCIAL_INSURANCE_NUMBER": _spans_after(
        _after(r"SIN|NAS|(?i:social insurance(?: number)?)", r"\d{3}([ -]?)\d{3}\2\d{3}", _CASE),
        _stdnum_valid("ca.sin"),
    ),
    "CA_HEALTH_NUMBER": _spans_after(
        _after(
            r"(?:provincial |personal )?health (?:card|number|insurance)(?: number| no\.?)?"
            r"|OHIP(?: card| number)?|PHN|carte (?:santé|d'assurance maladie)|RAMQ",
            r"\d{4}[ -]?\d{3}[ -]?\d{3}(?:[ -]?(?-i:[A-Z]{2}))?",
        ),
        _ca_health_ok,
    ),
    "US_BANK_ROUTING_NUMBER": _spans_after(
        _after(r"(?:ABA |transit )?routing(?: number| no\.?)?|ABA|RTN", r"\d{9}"),
        _stdnum_valid("us.rtn"),
    ),
    "US_PASSPORT_NUMBER": _spans_after(
        _after(r"(?:US |U\.S\. )?passport(?: number| no\.?| #)?", r"[A-Z]?\d{8,9}"),
        lambda v: len(_digits(v)) in (8, 9) and (v[0].isalpha() == (len(v) == 9) or v.isdigit()),
    ),
    "US_BANK_ACCOUNT_NUMBER": _spans_after(
        _after(
            r"(?:bank |checking |savings |deposit )?account(?: number| no\.?| #)?|acct\.?",
            r"\d{8,17}",
        )
    ),
    "DRIVER_ID": _union(
        _spans_after(
            _after(
                r"driver'?s? licen[cs]e(?: number| no\.?)?|driving licen[cs]e(?: number| no\.?)?"
                r"|driver id|(?-i:DL)#?",
                r"(?=[A-Z-]*\d)[A-Z0-9](?:[A-Z0-9-]{3,20})[A-Z0-9]",
            ),
            lambda v: any(c.isdigit() for c in v),
        ),
        _plain(_UK_DRIVING_LICENCE),
    ),
    "LICENSE_PLATE": _union(
        _spans_after(
            _after(
                r"(?:licen[cs]e |number |registration )?plates?(?: number)?"
                r"|(?:vehicle )?registration(?: number| no\.?)?|reg\.? (?:no|number)",
                _PLATE_VALUE,
            ),
            _plate_ok,
        ),
        _plain(_UK_PLATE),
    ),
    "CREDIT_DEBIT_CARD_EXPIRY": _spans_after(
        _after(
            r"exp(?:iry|iration|ires?|\.)?(?: date)?|valid (?:thru|through|until|till)"
            r"|good (?:thru|through)",
            r"(?:0[1-9]|1[0-2]) ?/ ?(?:20\d{2}|\d{2})",
        )
    ),
    "CREDIT_DEBIT_CARD_CVV": _spans_after(
        _after(
            r"(?:(?:CVV|CVC|CID|CSC)2?|security code|card verification (?:value|code)"
            r"|(?:3|4|three|four)-digit (?:security )?code)(?: on the back(?: of the card)?)?",
            r"\d{3,4}",
        )
    ),
    # "PIN" in capitals or "pin number" / "pin code" ("pin the notice" is a verb), and a
    # few words may stand between ("The PIN code for the gate is 1029").
    "PIN": _spans_after(
        re.compile(
            r"(?<![\w])(?:PIN|(?i:pin (?:number|code)))(?: code| number)?(?![\w])"
            r"[^\d\n.!?]{0,30}?(?<![\w])(?P<v>\d{4,8})(?![\w/+]|[.-]\w)"
        )
    ),
    "PASSWORD": _spans_after(
        _after(
            r"(?:login |wifi |wi-fi |new |admin )?(?:password|passphrase|passcode|pwd|pass)",
            r"[^\s\"'`]{3,63}[^\s\"'`.,;:)]",
        ),
        _has_symbol_or_digit,
    ),
    "USERNAME": _union(
        _spans_after(
            _after(
                r"user ?name|login|log in (?:as|with)(?: user(?: ?name)?)?|handle|screen name"
                r"|user id|account login",
                r"@?[A-Za-z0-9](?:[A-Za-z0-9._-]{1,30}[A-Za-z0-9_])",
            ),
            _username_ok,
        ),
        _plain(re.compile(r"(?<![\w@.])@[A-Za-z0-9_]{3,30}(?![\w@]|\.\w)")),
    ),
}
