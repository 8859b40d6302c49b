"""Denied topics and prompt attacks: sentence-embedding similarity, plus attack patterns.

Both compare the text (each sentence, and the whole) with phrases by cosine similarity of
all-MiniLM-L6-v2 embeddings. A topic's phrases are its definition, the definition's
clauses, questions made from them, and its examples; a unit's raw score is the best of its
similarity to the closest phrase and to their centroid (plus a small bonus). Attacks are
scored against the shipped exemplars, grouped in families (closest exemplar or family
centroid), less how much closer the unit is to a benign look-alike ("act as a tour
guide", "ignore the typo"); every decoded reading of the prompt (look-alike letters,
spaced letters, digits for letters, base64, joined quoted pieces) is scored too. Raw
scores are mapped to [0, 1] by an increasing piecewise-linear calibration whose cut,
chosen on the tuning sets only, lands on the default threshold (topics 0.4, attacks 0.6).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tessera.llm.guard._embed import Matrix, embed, embed_cached, sentences
from tessera.llm.guard._patterns import ATTACK_PATTERNS, asks_about, pattern_match
from tessera.llm.guard._readings import readings

__all__ = [
    "ATTACK_PATTERNS",
    "Match",
    "attack_exemplars",
    "asks_about",
    "benign_lookalikes",
    "match_attack",
    "match_topic",
    "shipped_phrases",
    "topic_phrases",
    "units",
]


@dataclass(frozen=True)
class Match:
    """The best-matching part of a text: its span, score and what it matched."""

    start: int
    end: int
    score: float
    label: str


@lru_cache(maxsize=1)
def _exemplar_rows() -> tuple[tuple[str, str, str], ...]:
    """``(category, family, text)`` of each shipped attack exemplar."""
    path = resources.files("tessera.llm.guard").joinpath("_data/prompt_attacks.txt")
    rows = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            category, family, text = line.split("\t", 2)
            rows.append((category, family, text.strip()))
    return tuple(rows)


def shipped_phrases() -> tuple[str, ...]:
    """Every shipped text the attack filter embeds: its exemplars and benign look-alikes."""
    return tuple(dict.fromkeys([t for _, _, t in _exemplar_rows()] + list(benign_lookalikes())))


def attack_exemplars() -> tuple[tuple[str, str], ...]:
    """The shipped attack exemplars as ``(category, text)`` pairs."""
    return tuple((category, text) for category, _, text in _exemplar_rows())


@lru_cache(maxsize=1)
def benign_lookalikes() -> tuple[str, ...]:
    """The shipped benign prompts that resemble attacks (role-play, "ignore", security)."""
    path = resources.files("tessera.llm.guard").joinpath("_data/benign_prompts.txt")
    lines = (line.strip() for line in path.read_text("utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


#: Topic raw score: max(closest phrase, centroid + bonus); its cut lands on the default
#: threshold. Chosen on benchmarks/data/guard/topics.yaml ``questions`` only.
TOPIC_CENTROID_BONUS = 0.0
TOPIC_CUT = 0.33
TOPIC_THRESHOLD = 0.4
#: Attack raw score: max(closest exemplar, family centroid + bonus) less BENIGN_WEIGHT times
#: how much closer the unit is to a benign look-alike. Chosen on attacks.yaml ``prompts``.
ATTACK_CENTROID_BONUS = 0.1
BENIGN_WEIGHT = 0.5
#: Subtracted from a unit whose every sentence asks about something rather than
#: instructing the assistant ("where do I set the system prompt?"). Chosen on attacks.yaml
#: ``prompts`` and attacks_tuning2.yaml: 0.12 separates them by 0.006, so the round 0.1
#: (one false positive there) rather than a knife edge.
MENTION_DISCOUNT = 0.1
ATTACK_CUT = 0.57
ATTACK_THRESHOLD = 0.6


def calibrate(raw: float, cut: float, threshold: float) -> float:
    """Map a raw score to [0, 1] so that ``cut`` lands on ``threshold``.

    Piecewise linear and increasing (0 -> 0, ``cut`` -> ``threshold``, 1 -> 1): the order
    of scores is kept, so a higher configured threshold still lets more through.
    """
    raw = min(max(raw, 0.0), 1.0)
    if raw <= cut:
        return threshold * raw / cut
    return threshold + (1.0 - threshold) * (raw - cut) / (1.0 - cut)


class _Unit(NamedTuple):
    """A sentence, or a whole text of several sentences, scored on its own."""

    start: int
    end: int
    text: str
    whole: bool


def units(text: str, start: int = 0, end: int | None = None) -> list[_Unit]:
    """Each sentence of ``text`` and, when there are several, the whole text.

    Spans are those of the sentences, or ``(start, end)`` when given (a decoded reading
    points at the part of the prompt it came from).
    """
    spans = sentences(text)
    units = [_Unit(a, b, text[a:b], False) for a, b in spans]
    if len(spans) > 1:
        a, b = spans[0][0], spans[-1][1]
        units.append(_Unit(a, b, text[a:b], True))
    if end is not None:
        units = [unit._replace(start=start, end=end) for unit in units]
    return units


def _centroids(vectors: Matrix, groups: Sequence[str]) -> tuple[Matrix, list[str]]:
    """Unit centroid of each group; a group of fewer than 3 phrases has none (a zero row),
    as its centroid would only repeat its phrases with the bonus added."""
    names = sorted(set(groups))
    rows = []
    for name in names:
        members = vectors[[g == name for g in groups]]
        mean = members.mean(axis=0)
        rows.append(mean / np.linalg.norm(mean) if len(members) >= 3 else np.zeros_like(mean))
    return np.asarray(rows, dtype=np.float32), names


def _scores(
    vectors: Matrix, phrases: Sequence[str], groups: Sequence[str], bonus: float
) -> tuple[Matrix, npt.NDArray[np.int64]]:
    """Per unit vector: the best of (similarity to a phrase, to its group's centroid plus
    ``bonus``) and the index of the phrase that gave it (for a centroid: a group member)."""
    phrase_vectors = embed_cached(tuple(phrases))
    centroid_vectors, names = _centroids(phrase_vectors, groups)
    similarity = vectors @ phrase_vectors.T
    by_group = np.where(centroid_vectors.any(axis=1), (vectors @ centroid_vectors.T) + bonus, -1.0)
    group_of = np.asarray([names.index(g) for g in groups])
    combined = np.maximum(similarity, by_group[:, group_of])
    return combined.max(axis=1), combined.argmax(axis=1)


def _pointed(units: Sequence[_Unit], per_unit: Matrix, best: int) -> tuple[int, int]:
    """The span to show: the best unit's, or its best sentence's when a whole text won."""
    unit = units[best]
    if unit.whole:
        inside = [
            i
            for i, u in enumerate(units)
            if not u.whole and unit.start <= u.start and u.end <= unit.end
        ]
        unit = units[max(inside, key=lambda i: float(per_unit[i]))]
    return unit.start, unit.end


def topic_phrases(definition: str, examples: Sequence[str]) -> tuple[str, ...]:
    """The definition, its clauses, a question made from each clause, and the examples."""
    parts = re.split(r"[;:]|,\s*(?:or|and)\s+|\.\s+", definition)
    clauses = [c.strip(" .") for c in parts if len(c.strip(" .").split()) >= 2]
    asked = [f"Can you give me advice on {c[0].lower()}{c[1:]}?" for c in clauses]
    return tuple(dict.fromkeys((definition, *clauses, *asked, *examples)))


def match_topic(text: str, definition: str, examples: Sequence[str]) -> Match | None:
    """The part of ``text`` closest to a topic; the label names the phrase it matched."""
    parts = units(text)
    if not parts:
        return None
    phrases = topic_phrases(definition, examples)
    vectors = embed([u.text for u in parts])
    per_unit, phrase = _scores(vectors, phrases, ["topic"] * len(phrases), TOPIC_CENTROID_BONUS)
    best = int(np.argmax(per_unit))
    nearest = phrases[int(phrase[best])]
    label = f"example {list(examples).index(nearest)}" if nearest in examples else "definition"
    start, end = _pointed(parts, per_unit, best)
    return Match(start, end, calibrate(float(per_unit[best]), TOPIC_CUT, TOPIC_THRESHOLD), label)


def _mentions_only(text: str) -> bool:
    """Whether every sentence of ``text`` asks about something (none instructs)."""
    return all(asks_about(text[a:b]) for a, b in sentences(text))


def match_attack(text: str, extra_exemplars: Sequence[str] = ()) -> Match | None:
    """A pattern hit (score 1.0) in the text or a decoded reading, else the exemplar score."""
    hit = pattern_match(text)
    if hit is not None:
        return Match(hit[0], hit[1], 1.0, hit[2])
    parts = units(text)
    for reading in readings(text):
        parts += units(reading.text, reading.start, reading.end)
    if not parts:
        return None
    rows = _exemplar_rows() + tuple(("CUSTOM", "custom", extra) for extra in extra_exemplars)
    phrases = [t for _, _, t in rows]
    vectors = embed([u.text for u in parts])
    attack, exemplar = _scores(vectors, phrases, [f for _, f, _ in rows], ATTACK_CENTROID_BONUS)
    benign = (vectors @ embed_cached(benign_lookalikes()).T).max(axis=1)
    per_unit = attack - BENIGN_WEIGHT * np.maximum(benign - attack, 0.0)
    per_unit -= MENTION_DISCOUNT * np.asarray([_mentions_only(u.text) for u in parts])
    best = int(np.argmax(per_unit))
    start, end = _pointed(parts, per_unit, best)
    score = calibrate(float(per_unit[best]), ATTACK_CUT, ATTACK_THRESHOLD)
    return Match(start, end, score, rows[int(exemplar[best])][0])
