"""The content head's NumPy TF-IDF against scikit-learn's TfidfVectorizer (issue 22)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from tessera.llm.guard._lexical import char_wb_ngrams, tfidf, word_ngrams

CORPUS = [
    "You are a worthless idiot!!",
    "Kill the process that hogs the CPU.",
    "How do I shoot a photo at   night?",
    "Ünïcode café, naïve résumé",
    "a b c",
    "x",
    "",
]
_text = st.text(alphabet=st.sampled_from("abcé XYZ!,.'\t\n-kilo"), max_size=40)


def _fitted(corpus: list[str]) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(corpus)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    return words, chars.fit(corpus)


def _ours(texts: list[str], words: TfidfVectorizer, chars: TfidfVectorizer) -> np.ndarray:
    return tfidf(
        texts,
        words.vocabulary_,
        words.idf_.astype(np.float32),
        chars.vocabulary_,
        chars.idf_.astype(np.float32),
    )


def _reference(texts: list[str], words: TfidfVectorizer, chars: TfidfVectorizer) -> np.ndarray:
    return np.hstack([words.transform(texts).toarray(), chars.transform(texts).toarray()])


def test_same_features_as_scikit_learn_on_a_fixed_corpus() -> None:
    words, chars = _fitted(CORPUS)
    np.testing.assert_allclose(_ours(CORPUS, words, chars), _reference(CORPUS, words, chars),
                               atol=1e-6)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(_text, min_size=1, max_size=6), st.lists(_text, min_size=1, max_size=4))
def test_same_features_as_scikit_learn_on_unseen_text(fit_on: list[str], texts: list[str]) -> None:
    corpus = [*fit_on, "seed words here"]
    words, chars = _fitted(corpus)
    np.testing.assert_allclose(_ours(texts, words, chars), _reference(texts, words, chars),
                               atol=1e-6)  # fmt: skip


def test_analyzers_match_scikit_learn() -> None:
    words = TfidfVectorizer(ngram_range=(1, 2)).build_analyzer()
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5)).build_analyzer()
    for text in CORPUS:
        assert word_ngrams(text) == words(text)
        assert char_wb_ngrams(text) == chars(text)


def test_rows_are_unit_per_block_and_zero_without_known_grams() -> None:
    words, chars = _fitted(CORPUS)
    row = _ours(["idiot process"], words, chars)[0]
    split = len(words.idf_)
    assert np.isclose(np.linalg.norm(row[:split]), 1.0)
    assert np.isclose(np.linalg.norm(row[split:]), 1.0)
    assert not _ours(["qqqq"], words, chars)[0][:split].any()
