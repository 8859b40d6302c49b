"""The content head's lexical side: TF-IDF of words and characters, in NumPy.

The same features as scikit-learn's ``TfidfVectorizer`` with ``sublinear_tf=True`` for
word 1-2-grams (``(?u)\\b\\w\\w+\\b`` tokens, lower-cased) and for character 3-5-grams
within word boundaries (``analyzer="char_wb"``), each block L2-normalised, so that a
check needs neither scikit-learn nor a pickle: the vocabularies and IDF weights ship as
arrays (``benchmarks/guard_content_train.py`` writes them) and a test compares this
module with scikit-learn on the same fitted vocabulary.

Words carry what the sentence embedding smooths away (an insult's exact word, "without
getting caught"); character n-grams make that robust to spelling and inflection.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["char_wb_ngrams", "tfidf", "word_ngrams"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WHITE_SPACES = re.compile(r"\s\s+")


def word_ngrams(text: str, highest: int = 2) -> list[str]:
    """Lower-cased word 1- to ``highest``-grams, as scikit-learn's word analyzer makes them."""
    tokens = _TOKEN.findall(text.lower())
    grams = list(tokens)
    for n in range(2, min(highest, len(tokens)) + 1):
        grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


def char_wb_ngrams(text: str, lowest: int = 3, highest: int = 5) -> list[str]:
    """Character n-grams inside space-padded words, as scikit-learn's ``char_wb`` makes them."""
    grams = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(lowest, highest + 1):
            offset = 0
            grams.append(padded[offset : offset + n])
            while offset + n < len(padded):
                offset += 1
                grams.append(padded[offset : offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return grams


def _block(
    grams: list[str], vocabulary: Mapping[str, int], idf: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    row = np.zeros(len(idf), dtype=np.float32)
    for gram, count in Counter(grams).items():
        index = vocabulary.get(gram)
        if index is not None:
            row[index] = (1.0 + np.log(count)) * idf[index]
    norm = float(np.linalg.norm(row))
    return row / norm if norm > 0 else row


def tfidf(
    texts: Sequence[str],
    words: Mapping[str, int],
    word_idf: npt.NDArray[np.float32],
    chars: Mapping[str, int],
    char_idf: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    """Each text's word block then character block (each L2-normalised), one row per text."""
    rows = [
        np.concatenate(
            [_block(word_ngrams(t), words, word_idf), _block(char_wb_ngrams(t), chars, char_idf)]
        )
        for t in texts
    ]
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), len(word_idf) + len(char_idf))
