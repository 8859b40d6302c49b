"""Denied topics and prompt attacks: sentence-embedding similarity, plus attack patterns.

Both compare the text (as a whole and sentence by sentence) with example sentences by
cosine similarity of all-MiniLM-L6-v2 embeddings. The score of a text is its highest
similarity to any example; it is flagged when the score reaches the threshold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from tessera.llm.guard._embed import embed, embed_cached, sentences

__all__ = ["ATTACK_PATTERNS", "Match", "attack_exemplars", "match_attack", "match_topic"]


@dataclass(frozen=True)
class Match:
    """The best-matching part of a text: its span, score and what it matched."""

    start: int
    end: int
    score: float
    label: str


#: Jailbreak and prompt-injection phrasings: a match scores 1.0 whatever the embeddings say.
_INSTRUCTIONS = (
    r"(?:instructions?|prompts?|rules|directions|guidelines|directives|programming|task)"
)
ATTACK_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        # "ignore all previous instructions", "forget your rules", "ignore the task above"
        (
            "INJECTION",
            r"\b(?:ignore|disregard|forget|override|skip|abandon)\b[^.?!\n]{0,40}?\b(?:previous|"
            r"prior|above|earlier|preceding|original|initial|system|all (?:your|the|of your)|"
            r"your|the \w+)\s+" + _INSTRUCTIONS + r"\b",
        ),
        (
            "INJECTION",
            r"\b(?:ignore|disregard|forget)\b (?:everything|anything|all)\b[^.?!\n]{0,20}?"
            r"\b(?:above|before|earlier|you were told|so far)\b",
        ),
        # asking for the system prompt or other hidden configuration
        (
            "INJECTION",
            r"\b(?:your|the) (?:system prompt|system message|initial prompt|original prompt|"
            r"hidden (?:prompt|instructions|rules)|developer (?:instructions|message))"
            r"|\b(?:confidential|secret|hidden|internal) (?:instructions|rules|prompt|guidelines)\b"
            r"|\b(?:prompt|instructions) (?:that|which) (?:configured|programmed|set up) you\b",
        ),
        (
            "INJECTION",
            r"\b(?:reveal|print|show|output|display|leak|dump|give me|tell me)\b[^.?!\n]{0,30}?"
            r"\b(?:secret|api|private|access) (?:key|token|password)s?\b",
        ),
        ("INJECTION", r"(?:^|\n|[.:!] )\s*(?:new|updated|revised) (?:instructions?|rules?)\s*:"),
        ("INJECTION", r"(?:^|\n)\s*(?:system|admin|developer)\s*(?:override)?\s*:|system override"),
        ("INJECTION", r"<!--[^>]{0,200}?\b(?:assistant|ai|system|model)\s*:"),
        (
            "INJECTION",
            r"\b(?:assistant|ai|model|chatbot)\b[^.?!\n]{0,10}?\bstop (?:\w+ing)\b[^.?!\n]{0,40}?"
            r"\binstead\b",
        ),
        ("JAILBREAK", r"\bDAN\b|\bdo anything now\b|\bjailbr(?:eak|oken)\b"),
        (
            "JAILBREAK",
            r"\b(?:developer|god|unfiltered|unrestricted|unlocked|evil|admin|maintenance) mode\b",
        ),
        (
            "JAILBREAK",
            r"\b(?:uncensored|unfiltered|unrestricted|unaligned)\b (?:\w+ )?(?:ai|assistant|model|"
            r"chatbot|version)\b|\bnever (?:refuses?|says? no|declines?)\b",
        ),
        (
            "JAILBREAK",
            r"\b(?:pretend|act|acting|you are now|imagine you are|roleplay|play the role|from now "
            r"on|from this point on|answer|respond|reply|continue)\b[^.?!\n]{0,80}?\b(?:no|"
            r"without(?: any)?|free (?:from|of)|freed from|broken free of|not bound by|ignores?)"
            r"\b[^.?!\n]{0,30}?\b(?:restrictions|filters?|limits|limitations|rules|guidelines|"
            r"polic(?:y|ies)|ethics|morals|censorship)",
        ),
        (
            "JAILBREAK",
            r"\b(?:bypass|disabl|turn(?:s|ing)? off|circumvent|deactivat|switch(?:es|ing)? off)\w*"
            r"\b[^.?!\n]{0,30}?\b(?:safety|content|guardrails?|filters?|moderation|restrictions)\b",
        ),
        (
            "JAILBREAK",
            r"\b(?:safety|filters?|guardrails?|moderation|censorship)\s*[=:]\s*(?:off|false|0|"
            r"disabled|none)\b|\b(?:polic(?:y|ies)|rules|guidelines|restrictions|filters) (?:no "
            r"longer|don't|do not|does not|doesn't) appl(?:y|ies)\b",
        ),
        (
            "JAILBREAK",
            r"\b(?:late|deceased|dead) (?:grandma|grandmother|grandfather|grandpa)\b"
            r"|\b(?:hypothetical|fictional|imaginary) (?:world|scenario|universe)\b[^.?!\n]{0,40}?"
            r"\bno (?:laws|rules|restrictions|consequences)\b"
            r"|\b(?:begin|start) (?:your )?(?:reply|response|answer) with [\"']?sure\b",
        ),
    )
)


@lru_cache(maxsize=1)
def attack_exemplars() -> tuple[tuple[str, str], ...]:
    """The shipped attack exemplars as ``(category, text)`` pairs."""
    path = resources.files("tessera.llm.guard").joinpath("_data/prompt_attacks.txt")
    pairs = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            category, text = line.split("\t", 1)
            pairs.append((category, text.strip()))
    return tuple(pairs)


def _best(text: str, examples: Sequence[str], labels: Sequence[str]) -> Match | None:
    """The score is the best over the whole text and each sentence; the span is a sentence.

    The whole text catches a request spread over sentences; the span points at the
    single sentence most similar to an example, so that a reader sees what matched.
    """
    spans = sentences(text)
    if not spans or not examples:
        return None
    units = spans + ([(spans[0][0], spans[-1][1])] if len(spans) > 1 else [])
    vectors = embed([text[a:b] for a, b in units])
    similarity = vectors @ embed_cached(tuple(examples)).T
    score = float(np.clip(similarity.max(), 0.0, 1.0))
    sentence_scores = similarity[: len(spans)]
    unit, example = (
        int(i) for i in np.unravel_index(np.argmax(sentence_scores), sentence_scores.shape)
    )
    if len(units) > len(spans) and similarity[-1].max() > sentence_scores.max():
        example = int(np.argmax(similarity[-1]))
    start, end = spans[unit]
    return Match(start, end, score, labels[example])


def match_topic(text: str, definition: str, examples: Sequence[str]) -> Match | None:
    """The part of ``text`` most similar to a topic's definition or examples."""
    phrases = (definition, *examples)
    return _best(text, phrases, ["definition"] + [f"example {i}" for i in range(len(examples))])


def match_attack(text: str, extra_exemplars: Sequence[str] = ()) -> Match | None:
    """A pattern hit (score 1.0), else the closest attack exemplar."""
    for label, pattern in ATTACK_PATTERNS:
        hit = pattern.search(text)
        if hit is not None:
            start = hit.start() + len(hit.group()) - len(hit.group().lstrip())
            return Match(start, hit.end(), 1.0, label)
    pairs = attack_exemplars() + tuple(("CUSTOM", extra) for extra in extra_exemplars)
    return _best(text, [t for _, t in pairs], [c for c, _ in pairs])
