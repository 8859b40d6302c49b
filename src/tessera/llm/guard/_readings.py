"""Readings of a prompt that an obfuscation hides: what the prompt says once decoded.

An attacker hides an instruction from filters by writing it so that a person (or a model)
still reads it but a pattern or an embedding does not: look-alike letters from other
scripts (``Іgnоrе`` in Cyrillic), invisible characters, letters spaced or dotted apart
(``i g n o r e``, ``d.i.s.r.e.g.a.r.d``), digits for letters (``1gn0r3``), base64, or the
instruction split into quoted pieces that the model is asked to join. Each reading undoes
one of these; the prompt-attack filter scores every reading and keeps the worst.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from tessera.errors import MissingExtraError
from tessera.llm.guard._words import _LOOKALIKES

__all__ = ["Reading", "readings"]


@dataclass(frozen=True)
class Reading:
    """A decoded reading of part of a prompt: the span it came from and its text."""

    start: int
    end: int
    text: str
    how: str


#: Digits and symbols that stand for a letter (``1gn0r3``), from the word filter's table.
_SYMBOL_LETTERS = {
    symbol: letter
    for letter, symbols in reversed(_LOOKALIKES.items())
    for symbol in symbols
    if not symbol.isalpha() and symbol not in "*!(+"
}
_LEET_TOKEN = re.compile(r"[A-Za-z0-9@$|]*[A-Za-z][A-Za-z0-9@$|]*")
# Three or more single letters, each followed by the same separator: "i g n o r e", "d.i.s".
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W\d_](?P<sep>[ .\-_*])){2,}[^\W\d_](?![^\W_])")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_QUOTED = re.compile(r"'([^'\n]{1,200})'|\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|‘([^’\n]{1,200})’")


@lru_cache(maxsize=4096)
def _latin(char: str) -> str:
    """The Latin letter ``char`` imitates (Cyrillic ``о`` -> ``o``), else ``char``."""
    try:
        from confusable_homoglyphs import confusables
    except ImportError:
        raise MissingExtraError(
            "the prompt-attack filter reads look-alike letters with confusable-homoglyphs, "
            "which is missing. Install the extra: pip install 'tessera[llm]'."
        ) from None
    lower = char.lower()
    found = confusables.is_confusable(lower, greedy=True, preferred_aliases=["latin"])
    if not found:
        return char
    candidates = [h["c"] for h in found[0]["homoglyphs"] if h["c"].isascii() and len(h["c"]) == 1]
    if not candidates:
        return char
    latin = str(candidates[0])
    return latin.upper() if char != lower else latin


def plain_letters(text: str) -> str:
    """``text`` with compatibility forms folded, invisible characters dropped and
    look-alike letters from other scripts replaced by the Latin letters they imitate."""
    folded = unicodedata.normalize("NFKC", text)
    kept = (c for c in folded if unicodedata.category(c) != "Cf")
    return "".join(_latin(c) if not c.isascii() and c.isalpha() else c for c in kept)


def _unspace(text: str) -> str:
    def join(match: re.Match[str]) -> str:
        return match.group().replace(match.group("sep"), "")

    joined = _SPACED.sub(join, text)
    return re.sub(r"(?<=\w) {2,}(?=\w)", " ", joined)


def _unleet(text: str) -> str:
    def letters(match: re.Match[str]) -> str:
        word = match.group()
        if word.isalpha() or sum(c.isalpha() for c in word) < 1:
            return word
        return "".join(_SYMBOL_LETTERS.get(c, c) for c in word)

    return _LEET_TOKEN.sub(letters, text)


def _decoded(token: str) -> str | None:
    """The text a base64 token encodes, when it is mostly printable UTF-8 with spaces."""
    padded = token + "=" * (-len(token) % 4)
    try:
        text = base64.b64decode(padded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    printable = sum(c.isprintable() for c in text)
    if " " not in text.strip() or printable < 0.95 * len(text):
        return None
    return text


def readings(text: str) -> list[Reading]:
    """The decoded readings of ``text`` that differ from it (each at most once).

    ``plain``: look-alike letters, invisible characters, spaced-out letters and digits for
    letters undone over the whole text; ``base64``: each base64 token that decodes to text;
    ``joined``: two or more quoted pieces concatenated, as a payload-splitting prompt asks.
    """
    found: list[Reading] = []
    plain = _unleet(_unspace(plain_letters(text)))
    if plain != text:
        found.append(Reading(0, len(text), plain, "plain"))
    for match in _BASE64.finditer(text):
        decoded = _decoded(match.group())
        if decoded is not None:
            found.append(Reading(match.start(), match.end(), decoded, "base64"))
    pieces = list(_QUOTED.finditer(text))
    if len(pieces) >= 2:
        joined = "".join(next(g for g in piece.groups() if g is not None) for piece in pieces)
        found.append(Reading(pieces[0].start(), pieces[-1].end(), joined, "joined"))
    unique: dict[str, Reading] = {}
    for reading in found:
        unique.setdefault(reading.text, reading)
    return list(unique.values())
