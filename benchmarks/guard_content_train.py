"""Train the content filters' head (issue 22) and write it as package data.

    python benchmarks/guard_content_train.py   # writes guard/_data/content_head.npz
    python benchmarks/guard_content_train.py --vectors   # only guard/_data/exemplar_vectors.npz

Two multinomial logistic regressions, their probabilities averaged: one on
all-MiniLM-L6-v2 sentence embeddings (the model the guard already ships) plus one feature,
whether the text asks about something rather than instructing (the prompt-attack filter's
mention test); one on TF-IDF of word 1-2-grams and character 3-5-grams (shipped as
vocabularies and IDF weights, computed at check time by ``tessera.llm.guard._lexical``).
The classes are each category (harmful), each category's look-alike (discussion, news,
fiction, condemnation, education, frank medical or legal talk, dual-use words) and plain
benign text, so a look-alike is a class of its own rather than the absence of harm.

Trained on the tuning side only: ``content_tuning.tsv``, ``content_tuning2.tsv``, the
package's ``_data/content_exemplars.tsv``, and the first three held-out sets
(``content_heldout.tsv``, ``content_heldout2.tsv``, ``content_heldout3.tsv``), which had
been seen and reported before and so moved to the tuning side. ``content_heldout4.tsv``
is never read here. The confidence cuts (LOW, MEDIUM, HIGH) per category come from
5-fold cross-validated probabilities of the same pool: the lowest cuts that flag at most
0.75%, 0.5% and none of its look-alike and benign texts (chosen with held-out 3 as a
development set: the head trained without it, then cuts from 1.25%/1% down to 0.5%/0.5%
compared on it, before it joined the pool). Strength HIGH acts from LOW confidence, and a text is a
false alarm when any of the five categories flags it, so the LOW cut must be strict.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).parent))
from _guard_bedrock import read_content  # noqa: E402

from tessera.llm.guard._content import CATEGORIES, features  # noqa: E402

ROOT = Path(__file__).parent.parent
OUT = ROOT / "src" / "tessera" / "llm" / "guard" / "_data" / "content_head.npz"
EXEMPLARS = ROOT / "src" / "tessera" / "llm" / "guard" / "_data" / "content_exemplars.tsv"
TUNING2 = ROOT / "benchmarks" / "data" / "guard" / "content_tuning2.tsv"
#: Row files (category, kind, text) on the tuning side; content_heldout4.tsv never is.
ROW_FILES = (
    "content_tuning.tsv",
    "content_heldout.tsv",
    "content_heldout2.tsv",
    "content_heldout3.tsv",
)
C = 16.0
C_LEXICAL = 8.0
LEXICAL_SHARE = 0.5
#: Shares of cross-validated negatives the LOW, MEDIUM and HIGH cuts may flag.
SHARES = (0.0075, 0.005, 0.0)


def _class_files() -> list[Path]:
    return [EXEMPLARS, TUNING2]


def training_pool() -> tuple[list[str], list[str]]:
    """Texts and classes of the tuning side (never content_heldout4.tsv)."""
    texts, labels = [], []
    for name in ROW_FILES:
        for category, kind, text in read_content(name):
            texts.append(text)
            labels.append(
                category
                if kind == "harmful"
                else (f"{category}_LOOKALIKE" if kind == "lookalike" else "BENIGN")
            )
    for path in _class_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                label, text = line.split("\t", 1)
                texts.append(text)
                labels.append(label)
    return texts, labels


def _cut(scores: np.ndarray, negative: np.ndarray) -> tuple[float, ...]:
    """LOW, MEDIUM, HIGH: the lowest cuts that flag at most SHARES of the negatives."""
    ranked = np.sort(scores[negative])[::-1]

    def flagging_at_most(share: float) -> float:
        allowed = int(np.floor(share * len(ranked)))
        return float(np.nextafter(ranked[allowed], 1.0)) if allowed < len(ranked) else 0.0

    return tuple(flagging_at_most(share) for share in SHARES)


def _vectorizers() -> tuple[TfidfVectorizer, TfidfVectorizer]:
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2, dtype=np.float32
    )
    return words, chars


class Head:
    """The two regressions, fitted on texts; ``proba`` averages them."""

    def __init__(self, texts: list[str], embedded: np.ndarray, y: np.ndarray) -> None:
        self.words, self.chars = _vectorizers()
        lexical = hstack([self.words.fit_transform(texts), self.chars.fit_transform(texts)])
        self.dense = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
        self.dense.fit(embedded, y)
        self.lexical = LogisticRegression(C=C_LEXICAL, max_iter=5000, class_weight="balanced")
        self.lexical.fit(lexical, y)
        self.classes = [str(c) for c in self.dense.classes_]

    def proba(self, texts: list[str], embedded: np.ndarray) -> np.ndarray:
        lexical = hstack([self.words.transform(texts), self.chars.transform(texts)])
        return (1 - LEXICAL_SHARE) * self.dense.predict_proba(
            embedded
        ) + LEXICAL_SHARE * self.lexical.predict_proba(lexical)


def main() -> None:
    texts, labels = training_pool()
    x = features(texts)
    y = np.asarray(labels)
    folds = StratifiedKFold(5, shuffle=True, random_state=22)
    probabilities = np.zeros((len(texts), len(set(labels))))
    for train, test in folds.split(x, y):
        fold = Head([texts[i] for i in train], x[train], y[train])
        probabilities[test] = fold.proba([texts[i] for i in test], x[test])
    head = Head(texts, x, y)
    classes = head.classes
    cuts = []
    negative = np.char.endswith(y.astype(str), "_LOOKALIKE") | (y == "BENIGN")
    for category in CATEGORIES:
        scores = probabilities[:, classes.index(category)]
        positive = y == category
        cuts.append(_cut(scores, negative))
        recalls = [((scores >= cut) & positive).sum() / positive.sum() for cut in cuts[-1]]
        print(category, "cross-validated recall at LOW/MEDIUM/HIGH", [f"{r:.2f}" for r in recalls])
        print(category, "cuts LOW/MEDIUM/HIGH", [round(c, 3) for c in cuts[-1]])
    flagged = np.zeros(len(texts), dtype=bool)
    for category, cut in zip(CATEGORIES, cuts, strict=True):
        flagged |= probabilities[:, classes.index(category)] >= cut[0]
    share = flagged[negative].mean()
    print(f"cross-validated negatives flagged by any category at LOW: {share:.3f}")
    np.savez_compressed(
        OUT,
        weights=head.dense.coef_.astype(np.float32),
        bias=head.dense.intercept_.astype(np.float32),
        classes=np.asarray(classes),
        categories=np.asarray(CATEGORIES),
        cuts=np.asarray(cuts, dtype=np.float32),
        lexical_weights=head.lexical.coef_.astype(np.float16),
        lexical_bias=head.lexical.intercept_.astype(np.float32),
        lexical_share=np.float32(LEXICAL_SHARE),
        words=np.asarray(head.words.get_feature_names_out(), dtype=str),
        word_idf=head.words.idf_.astype(np.float32),
        chars=np.asarray(head.chars.get_feature_names_out(), dtype=str),
        char_idf=head.chars.idf_.astype(np.float32),
    )
    print(f"wrote {OUT.relative_to(ROOT)} ({len(texts)} texts, {len(classes)} classes)")
    write_exemplar_vectors()


def write_exemplar_vectors() -> None:
    """The shipped exemplars' embeddings (attacks and benign look-alikes) as package data."""
    from tessera.llm.guard._embed import embed
    from tessera.llm.guard._semantic import shipped_phrases

    phrases = list(shipped_phrases())
    path = OUT.parent / "exemplar_vectors.npz"
    np.savez_compressed(path, texts=np.asarray(phrases), vectors=embed(phrases))
    print(f"wrote {path.relative_to(ROOT)} ({len(phrases)} phrases)")


if __name__ == "__main__":
    if "--vectors" in sys.argv:
        write_exemplar_vectors()
    else:
        main()
