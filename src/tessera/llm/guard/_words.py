"""The word filter: whole-word matching of listed words through common obfuscations.

A listed word matches as a whole word (no letter or digit on either side), in any case,
with each letter possibly repeated (``shiiit``), replaced by a look-alike digit or symbol
(``sh1t``, ``$hit``, ``@ss``, a ``*`` for a vowel: ``f*ck``) and with one separator repeated
between every letter (``f.u.c.k``, ``f u c k``, ``f-u-c-k``). A match must contain at least
one real letter, so numbers such as ``455`` never match ``ass``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

from tessera.llm.guard._pii import Span

__all__ = ["find_words", "profanity_list"]

#: Look-alikes of each letter (lower case); ``*`` stands for any vowel.
_LOOKALIKES = {
    "a": "a@4*",
    "b": "b8",
    "c": "c(",
    "e": "e3*",
    "g": "g96",
    "i": "i1!|*",
    "l": "l1|",
    "o": "o0*",
    "s": "s5$",
    "t": "t7+",
    "u": "uv*",
    "z": "z2",
}
_SEPARATORS = r"[\s._\-~*]"
_SUFFIXES = ("s", "es", "ed", "er", "ers", "ing")


@lru_cache(maxsize=1)
def profanity_list() -> tuple[str, ...]:
    """The shipped profanity list (lower case, one entry per word or phrase)."""
    text = resources.files("tessera.llm.guard").joinpath("_data/profanity.txt").read_text("utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def _letter(char: str) -> str:
    lower = char.lower()
    if lower in _LOOKALIKES:
        return "[" + re.escape(_LOOKALIKES[lower]) + "]+"
    return re.escape(lower) + "+"


def _word_pattern(word: str, index: int) -> str:
    chars = [c for c in word if c.isalnum()]
    if len(chars) == 1:
        return _letter(chars[0])
    group = f"sep{index}"
    head = _letter(chars[0]) + f"(?P<{group}>{_SEPARATORS}?)"
    return head + f"(?P={group})".join(_letter(c) for c in chars[1:])


def _compile(entry: str, suffixes: bool) -> re.Pattern[str]:
    words = [w for w in re.split(r"[\s\W_]+", entry) if w]
    body = r"[\s\W_]+".join(_word_pattern(word, i) for i, word in enumerate(words))
    # Suffix letters take look-alikes (b1tch3s) but no repeats: "assess" is not "ass" + "ess".
    endings = "|".join("".join(_letter(c)[:-1] for c in end) for end in _SUFFIXES)
    tail = f"(?:{endings})?" if suffixes else ""
    return re.compile(rf"(?<![^\W_]){body}{tail}(?![^\W_])", re.IGNORECASE)


@lru_cache(maxsize=64)
def _patterns(entries: tuple[str, ...], suffixes: bool) -> tuple[re.Pattern[str], ...]:
    return tuple(_compile(entry, suffixes) for entry in entries)


def find_words(text: str, *, profanity: bool, words: Sequence[str] = ()) -> list[Span]:
    """Spans of listed words in ``text``: type ``PROFANITY`` or ``CUSTOM_WORD``.

    Overlapping matches are reduced to the longest (a phrase over a word inside it).
    """
    found: list[Span] = []
    lists = [("CUSTOM_WORD", tuple(words), False)]
    if profanity:
        lists.append(("PROFANITY", profanity_list(), True))
    for kind, entries, suffixes in lists:
        for pattern in _patterns(entries, suffixes):
            for match in pattern.finditer(text):
                if any(ch.isalpha() for ch in match.group()):
                    found.append(Span(match.start(), match.end(), kind))
    kept: list[Span] = []
    for span in sorted(found, key=lambda s: (s.start - s.end, s.start)):
        if all(span.end <= other.start or span.start >= other.end for other in kept):
            kept.append(span)
    return sorted(kept)
