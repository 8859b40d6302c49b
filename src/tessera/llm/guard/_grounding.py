"""Contextual grounding (is each answer sentence supported by the source?) and relevance.

A sentence's support combines two signals: the cosine similarity of its embedding with the
closest source passage (one or two consecutive source sentences), and the share of its
content words found in the source. Facts that are easy to get wrong without moving the
embedding, numbers and proper names, count double in that share: an answer that changes
a year or a name loses support although it reads like the source. The grounding score is
the support of the least supported sentence.

Relevance is the similarity of the answer with the query, cross-checked against the kind of
answer the question asks for: a "when" question wants a date or a time, "how much/many/
long/often" a number or quantity, "where" a place, "who" a name. An answer on the right
subject that lacks what the question asks for ("When was the tower finished?" -- "The tower
is 330 metres tall.") loses ``ANSWER_TYPE_PENALTY`` of its similarity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tessera.llm.guard._embed import embed, sentences

__all__ = [
    "GroundingScores",
    "SentenceSupport",
    "expected_answer",
    "has_expected_answer",
    "score_grounding",
    "score_relevance",
]

_STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for with from as is are was were be
    been being it its this that these those there here he she they them his her their we you
    your our i me my not no do does did done has have had having can could will would shall
    should may might must also very just than too into onto about over under after before
    which who whom whose what when where why how all any each both more most other some such
    only own same yes""".split()
)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class SentenceSupport:
    """How well one answer sentence is supported: its span and the scores."""

    start: int
    end: int
    similarity: float
    overlap: float
    support: float


@dataclass(frozen=True)
class GroundingScores:
    """Per-sentence support and the overall grounding score (the minimum)."""

    score: float
    sentences: tuple[SentenceSupport, ...]

    @property
    def weakest(self) -> SentenceSupport:
        """The least supported sentence."""
        return min(self.sentences, key=lambda s: s.support)


def _content(text: str) -> list[tuple[str, bool]]:
    """Content tokens (lower case) and whether each is a fact (a number or a proper name)."""
    tokens = []
    for index, match in enumerate(_TOKEN.finditer(text)):
        word = match.group()
        lower = word.lower()
        if lower in _STOPWORDS:
            continue
        fact = word[0].isdigit() or (index > 0 and word[0].isupper())
        tokens.append((lower, fact))
    return tokens


def _stem(word: str) -> str:
    """A crude suffix strip so that ``built``/``builds`` and ``tower``/``towers`` meet."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _overlap(sentence: str, source_words: set[str]) -> float:
    tokens = _content(sentence)
    if not tokens:
        return 1.0
    weights = [2.0 if fact else 1.0 for _, fact in tokens]
    found = [w for (word, _), w in zip(tokens, weights, strict=True) if _stem(word) in source_words]
    return float(sum(found) / sum(weights))


def _passages(source: str) -> list[str]:
    spans = sentences(source)
    parts = [source[a:b] for a, b in spans]
    pairs = [f"{parts[i]} {parts[i + 1]}" for i in range(len(parts) - 1)]
    return parts + pairs or [source]


def score_grounding(answer: str, source: str) -> GroundingScores:
    """Support of each sentence of ``answer`` by ``source``; overall score is the minimum.

    ``support = 0.5 * similarity + 0.5 * overlap`` where similarity is the highest cosine
    similarity (clipped to [0, 1]) with a source passage and overlap the weighted share of
    content words found in the source (numbers and proper names weigh double).
    """
    spans = sentences(answer)
    if not spans:
        return GroundingScores(1.0, ())
    source_words = {_stem(word) for word, _ in _content(source)}
    passages = _passages(source)
    vectors = embed([answer[a:b] for a, b in spans] + passages)
    answer_vectors, passage_vectors = vectors[: len(spans)], vectors[len(spans) :]
    best = np.clip((answer_vectors @ passage_vectors.T).max(axis=1), 0.0, 1.0)
    rows = []
    for (start, end), similarity in zip(spans, best, strict=True):
        overlap = _overlap(answer[start:end], source_words)
        support = 0.5 * float(similarity) + 0.5 * overlap
        rows.append(SentenceSupport(start, end, float(similarity), overlap, support))
    return GroundingScores(min(row.support for row in rows), tuple(rows))


#: Share of the similarity an answer loses when it lacks what its question asks for; chosen
#: on benchmarks/data/guard/grounding.yaml only.
ANSWER_TYPE_PENALTY = 0.5

_LEAD = (
    r"^\W*(?:(?:and|but|so|ok|okay|please|sorry|hi|hello|tell me|do you know|can you tell me)\W+)*"
)
_QUESTION_KINDS = (
    (
        "money",
        re.compile(
            _LEAD + r"(?:how|what|which)\b[^?]*\b(?:cost|costs|price|prices|fee|fees|charge|"
            r"charges|fare|fares|expensive|cheap|pay)\b"
        ),
    ),
    (
        "time",
        re.compile(_LEAD + r"(?:when\b|what (?:time|year|date|day)\b|which (?:year|date|day)\b)"),
    ),
    (
        "quantity",
        re.compile(
            _LEAD + r"(?:how (?:much|many|long|often|old|far|big|large|tall|fast|heavy|soon)\b"
            r"|what (?:percentage|share|proportion|amount|number)\b)"
        ),
    ),
    ("place", re.compile(_LEAD + r"where\b")),
    ("person", re.compile(_LEAD + r"(?:who|whom|whose)\b")),
)
_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
_DAYS = "monday tuesday wednesday thursday friday saturday sunday weekday weekdays weekend"
_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred hundreds thousand thousands million millions billion dozen half quarter once "
    "twice free every daily weekly monthly yearly annually hourly few several"
)
_ANSWERS = {
    "money": re.compile(
        r"[$€£¥]|\b(?:euros?|dollars?|pounds?|cents?|pence|francs?|yen|usd|eur|gbp|free|"
        r"charge|nothing)\b",
        re.IGNORECASE,
    ),
    "time": re.compile(
        r"\b(?:1\d{3}|20\d{2})\b|\b\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|o'clock)"
        r"|\b\d{1,2}:\d{2}\b|\b(?:" + "|".join((_MONTHS + " " + _DAYS).split()) + r")\b"
        r"|\b(?:today|tomorrow|yesterday|tonight|ago|noon|midnight|morning|evening|night|"
        r"century|decade|year|years|days?|weeks?|months?|hours?|minutes?|soon|later|now|"
        r"after|before|until|since|during)\b",
        re.IGNORECASE,
    ),
    "quantity": re.compile(r"\d|\b(?:" + "|".join(_NUMBER_WORDS.split()) + r")\b", re.IGNORECASE),
    "place": re.compile(
        r"\b(?:in|at|on|into|near|off|from|under|behind|inside|outside|beside|between|"
        r"across|along|through|above|below|next to|north|south|east|west|upstairs|"
        r"downstairs|online|here|there)\b",
        re.IGNORECASE,
    ),
    "person": re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+"),
}


def expected_answer(query: str) -> str | None:
    """What kind of answer ``query`` asks for: money, time, quantity, place, person or None."""
    lowered = query.strip().lower()
    for kind, pattern in _QUESTION_KINDS:
        if pattern.search(lowered):
            return kind
    return None


def has_expected_answer(answer: str, kind: str) -> bool:
    """Whether ``answer`` contains an expression of the ``kind`` a question asks for."""
    return _ANSWERS[kind].search(answer.strip()) is not None


def score_relevance(answer: str, query: str) -> float:
    """How well ``answer`` answers ``query``, in [0, 1].

    The cosine similarity (clipped to [0, 1]) of the query with the answer or its best
    sentence; times ``1 - ANSWER_TYPE_PENALTY`` when the query asks for an amount of money,
    a time, a quantity, a place or a person and the answer contains none.
    """
    units = [answer] + [answer[a:b] for a, b in sentences(answer)]
    vectors = embed([query, *units])
    similarity = float(np.clip((vectors[1:] @ vectors[0]).max(), 0.0, 1.0))
    kind = expected_answer(query)
    if kind is not None and not has_expected_answer(answer, kind):
        similarity *= 1.0 - ANSWER_TYPE_PENALTY
    return similarity
