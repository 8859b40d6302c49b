"""Train the content filters' head (issue 22) and write it as package data.

    python benchmarks/guard_content_train.py   # writes guard/_data/content_head.npz
    python benchmarks/guard_content_train.py --vectors   # only guard/_data/exemplar_vectors.npz

A multinomial logistic regression on all-MiniLM-L6-v2 sentence embeddings (the model the
guard already ships) plus one feature, whether the text asks about something rather than
instructing (the prompt-attack filter's mention test). Its classes are each category
(harmful), each category's look-alike (discussion, news, fiction, condemnation, education,
frank medical or legal talk) and plain benign text, so a look-alike is a class of its own
rather than the absence of harm. Trained on ``benchmarks/data/guard/content_tuning.tsv``
and the package's ``_data/content_exemplars.tsv``; never on the held-out set. The
confidence cuts (LOW, MEDIUM, HIGH) per category are chosen on 5-fold cross-validated
probabilities of the same pool: the lowest cuts that flag at most 2%, 1% and none of the
look-alike and benign texts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

sys.path.insert(0, str(Path(__file__).parent))
from _guard_bedrock import read_content  # noqa: E402

from tessera.llm.guard._content import CATEGORIES, features  # noqa: E402

ROOT = Path(__file__).parent.parent
OUT = ROOT / "src" / "tessera" / "llm" / "guard" / "_data" / "content_head.npz"
EXEMPLARS = ROOT / "src" / "tessera" / "llm" / "guard" / "_data" / "content_exemplars.tsv"
C = 16.0


def training_pool() -> tuple[list[str], list[str]]:
    """Texts and classes: the tuning set and the shipped exemplars."""
    texts, labels = [], []
    for category, kind, text in read_content("content_tuning.tsv"):
        texts.append(text)
        labels.append(
            category
            if kind == "harmful"
            else (f"{category}_LOOKALIKE" if kind == "lookalike" else "BENIGN")
        )
    for line in EXEMPLARS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            texts.append(text)
            labels.append(label)
    return texts, labels


def _cut(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> tuple[float, ...]:
    """LOW, MEDIUM, HIGH: the lowest cuts that flag at most 2%, 1% and 0% of negatives."""
    ranked = np.sort(scores[negative])[::-1]

    def flagging_at_most(share: float) -> float:
        allowed = int(np.floor(share * len(ranked)))
        return float(np.nextafter(ranked[allowed], 1.0)) if allowed < len(ranked) else 0.0

    return flagging_at_most(0.02), flagging_at_most(0.01), flagging_at_most(0.0)


def main() -> None:
    texts, labels = training_pool()
    x = features(texts)
    y = np.asarray(labels)
    model = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
    folds = StratifiedKFold(5, shuffle=True, random_state=22)
    probabilities = cross_val_predict(model, x, y, cv=folds, method="predict_proba")
    model.fit(x, y)
    classes = list(model.classes_)
    cuts = []
    for category in CATEGORIES:
        scores = probabilities[:, classes.index(category)]
        positive = y == category
        negative = np.char.endswith(y.astype(str), "_LOOKALIKE") | (y == "BENIGN")
        cuts.append(_cut(scores, positive, negative))
        recalls = [((scores >= cut) & positive).sum() / positive.sum() for cut in cuts[-1]]
        print(category, "cross-validated recall at LOW/MEDIUM/HIGH", [f"{r:.2f}" for r in recalls])
        print(category, "cuts LOW/MEDIUM/HIGH", [round(c, 3) for c in cuts[-1]])
    np.savez_compressed(
        OUT,
        weights=model.coef_.astype(np.float32),
        bias=model.intercept_.astype(np.float32),
        classes=np.asarray(classes),
        categories=np.asarray(CATEGORIES),
        cuts=np.asarray(cuts, dtype=np.float32),
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
