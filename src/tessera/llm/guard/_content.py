"""Content filters (hate, insults, sexual, violence, misconduct): a small shipped head.

Three classifiers whose probabilities are mixed. Two multinomial logistic regressions,
averaged: one over the sentence embeddings the guard already uses (all-MiniLM-L6-v2) and
two flags, whether the text asks about something rather than instructing
(:func:`~tessera.llm.guard._patterns.asks_about`) and whether it asks for a deed to stay
hidden (:func:`conceals`); one over TF-IDF of words and character n-grams
(:mod:`~tessera.llm.guard._lexical`), which keeps the exact words the embedding smooths
away. The third is the embedding model fine-tuned: its top two layers, trained with a
linear layer on the same classes, shipped in the head's file and run in NumPy on the
output of the four layers below, which the embedding shares
(:func:`~tessera.llm.guard._embed.embed_tuned`). The classes are each category, each
category's *look-alike* (discussing, reporting, condemning, teaching, fiction, frank
medical or legal talk, banter, idioms) and plain benign text: a look-alike is modelled as
a class of its own, so "a report on hate-speech laws" is recognised as such instead of
being merely "less hateful". ``benchmarks/guard_content_train.py`` trains it; its weights
and per-category confidence cuts ship as ``_data/content_head.npz``.

Bedrock's semantics: a finding has a confidence (NONE, LOW, MEDIUM, HIGH); a filter's
strength says from which confidence on it acts: HIGH from LOW, MEDIUM from MEDIUM, LOW
from HIGH only, NONE never.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CATEGORIES",
    "CONFIDENCES",
    "ContentScore",
    "FEATURES",
    "class_probabilities",
    "conceals",
    "confidence_of",
    "features",
    "min_confidence",
    "score_content",
    "score_contents",
]

CATEGORIES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")
CONFIDENCES = ("NONE", "LOW", "MEDIUM", "HIGH")
#: The lowest confidence a filter of each strength acts on (None: it never acts).
_ACTS_FROM = {"NONE": None, "LOW": "HIGH", "MEDIUM": "MEDIUM", "HIGH": "LOW"}


def min_confidence(strength: str) -> str | None:
    """The lowest confidence a filter of ``strength`` acts on; ``None`` for ``NONE``."""
    return _ACTS_FROM[strength]


@dataclass(frozen=True)
class ContentScore:
    """One category's verdict on a text: probability, confidence and the span it came from."""

    category: str
    probability: float
    confidence: str
    start: int
    end: int
    cuts: tuple[float, float, float]


#: Wording that asks for a deed to stay hidden or look like something else, the mark of
#: much misconduct asked for indirectly ("so the bank won't notice", "make it look legit",
#: "past customs", "untraceable"); a look-alike that reports or prevents such a deed has the
#: words too, so it is one feature the head weighs, never a verdict.
_CONCEALS = re.compile(
    r"\b(?:without (?:\w+ ){0,3}(?:knowing|noticing|finding out|seeing|spotting|catching|"
    r"getting caught|being (?:caught|seen|traced|flagged|noticed)|a trace|paying|"
    r"(?:a )?(?:prescription|licen[cs]e|receipt))"
    r"|so (?:that )?(?:nobody|no one|no-one|they|he|she|it|the \w+|\w+) (?:\w+ ){0,2}"
    r"(?:won't|wouldn't|can't|cannot|doesn't|never|don't|didn't) (?:\w+ ){0,2}"
    r"(?:notice|find|trace|track|link|catch|spot|see|know|flag|detect|check|smell|miss)"
    r"|so (?:that )?(?:nobody|no one|no-one) (?:\w+ ){0,2}(?:notices?|finds?|knows?|sees?|"
    r"suspects?|traces?|links?|checks?)"
    r"|(?:look|looks|seem|seems|pass) (?:\w+ ){0,2}(?:legit|real|genuine|official|"
    r"accidental|like an? (?:accident|mugging|suicide))"
    r"|past (?:the )?(?:customs|security|border|scanners?|sniffer|dogs|checks?|audit)"
    r"|(?:untrace(?:able|d)|undetect(?:able|ed)|unnoticed|discreetly|off the books|"
    r"under the radar|cash in hand|burner|fake|forged?|counterfeit|stolen)"
    r"|(?:evade|evading|dodge|dodging|avoid|avoiding|beat|beating|bypass|bypassing) "
    r"(?:the |a |an |my )?(?:detection|police|cops|tax|taxes|customs|audit|drug test|checks?|"
    r"background check|warrant|cameras?|alarm))",
    re.IGNORECASE,
)


def conceals(text: str) -> bool:
    """Whether ``text`` asks for something to stay hidden or pass for something else."""
    return _CONCEALS.search(text) is not None


#: The dense regression's inputs, in column order, for heads that do not name theirs.
_OLD_FEATURES = ("embedding", "mention")
FEATURES = ("embedding", "mention", "conceals")


def features(
    texts: Sequence[str],
    names: Sequence[str] = FEATURES,
    embedded: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]:
    """The head's input: each text's unit embedding, its mention flag (0 or 1:
    :func:`~tessera.llm.guard._patterns.asks_about`) and its concealment flag
    (:func:`conceals`), the columns ``names`` picks; ``embedded`` holds the texts'
    embeddings where the caller has them already."""
    from tessera.llm.guard._embed import embed
    from tessera.llm.guard._patterns import asks_about

    blocks = []
    for name in names:
        if name == "embedding":
            blocks.append(embed(list(texts)) if embedded is None else embedded)
            continue
        test = asks_about if name == "mention" else conceals
        flags = np.asarray([1.0 if test(t) else 0.0 for t in texts], dtype=np.float32)
        blocks.append(flags.reshape(len(texts), 1))
    return np.hstack(blocks).astype(np.float32)


#: Prefix of the fine-tuned encoder layers' weights in ``content_head.npz``.
_TUNED = "tuned."


@lru_cache(maxsize=1)
def _head() -> dict[str, Any]:
    path = resources.files("tessera.llm.guard").joinpath("_data/content_head.npz")
    with path.open("rb") as handle, np.load(handle) as data:
        head = {key: data[key] for key in data.files}
    for name in ("words", "chars"):
        if name in head:
            head[f"{name}_index"] = {str(g): i for i, g in enumerate(head[name])}
    if "tuned_first" in head:
        from tessera.llm.guard._minilm import prepared

        head["tuned_layers"] = prepared(
            {key[len(_TUNED) :]: head.pop(key) for key in list(head) if key.startswith(_TUNED)}
        )
    return head


def _softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)


def class_probabilities(texts: Sequence[str]) -> tuple[npt.NDArray[np.float32], list[str]]:
    """The head's class probabilities for each text (rows) and the class names (columns)."""
    from tessera.llm.guard._lexical import tfidf

    head = _head()
    names = [str(n) for n in head.get("features", _OLD_FEATURES)]
    embedded, tuned = None, None
    if "tuned_first" in head:
        from tessera.llm.guard._embed import embed_tuned

        embedded, tuned = embed_tuned(texts, head["tuned_layers"], int(head["tuned_first"]))
    probabilities = _softmax(features(texts, names, embedded) @ head["weights"].T + head["bias"])
    if "lexical_weights" in head:
        share = float(head["lexical_share"])
        x = tfidf(texts, head["words_index"], head["word_idf"], head["chars_index"],
                  head["char_idf"])  # fmt: skip
        lexical = _softmax(x @ head["lexical_weights"].T.astype(np.float32) + head["lexical_bias"])
        probabilities = (1.0 - share) * probabilities + share * lexical
    if tuned is not None:
        logits = (tuned * head["tuned_scale"]) @ head["tuned_weights"].T + head["tuned_bias"]
        share = float(head["tuned_share"])
        probabilities = (1.0 - share) * probabilities + share * _softmax(logits)
    return probabilities, [str(c) for c in head["classes"]]


def confidence_of(probability: float, cuts: Sequence[float]) -> str:
    """NONE below the LOW cut, then LOW, MEDIUM, HIGH as the probability passes each cut."""
    level = sum(probability >= cut for cut in cuts)
    return CONFIDENCES[level]


def score_content(text: str, categories: Sequence[str] = CATEGORIES) -> list[ContentScore]:
    """Each category's best score over the text's sentences and (when several) the whole."""
    return score_contents([text], categories)[0]


def score_contents(
    texts: Sequence[str], categories: Sequence[str] = CATEGORIES
) -> list[list[ContentScore]]:
    """:func:`score_content` of each text, with one pass of the head over all their units.

    The answers are those of :func:`score_content` text by text (tested); a benchmark or
    a batch job saves the per-call overhead of the embedding model.
    """
    from tessera.llm.guard._semantic import units

    parts = [units(text) for text in texts]
    flat = [u.text for p in parts for u in p]
    if not flat:
        return [[] for _ in texts]
    head = _head()
    probabilities, classes = class_probabilities(flat)
    names = [str(c) for c in head["categories"]]
    results: list[list[ContentScore]] = []
    offset = 0
    for text_parts in parts:
        rows = probabilities[offset : offset + len(text_parts)]
        offset += len(text_parts)
        scores = []
        for category in categories if text_parts else ():
            column = rows[:, classes.index(category)]
            best = int(np.argmax(column))
            cuts = tuple(float(c) for c in head["cuts"][names.index(category)])
            probability = float(column[best])
            scores.append(
                ContentScore(
                    category,
                    probability,
                    confidence_of(probability, cuts),
                    text_parts[best].start,
                    text_parts[best].end,
                    (cuts[0], cuts[1], cuts[2]),
                )
            )
        results.append(scores)
    return results
