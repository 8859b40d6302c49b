"""A datastore of continuations from the heads' self-distilled answers (REST-style drafts).

Retrieval-based speculative decoding (He et al. 2024, "REST: Retrieval-Based Speculative
Decoding") drafts the next tokens by looking up the context's last tokens in a corpus. Here
the corpus is the base model's own answers to the training prompts (the data the Medusa
heads were trained on), so drafts are what this model tends to write after these words.
For every n-gram of up to ``max_ngram`` tokens the store keeps one continuation: the most
common next token, then the most common token after that among the occurrences that agree
so far, and so on while that path still covers at least ``min_probability`` of the
n-gram's occurrences. N-grams seen fewer than ``min_count`` times are dropped.

The draft only proposes tokens; the base model verifies them in the Medusa tree, so the
output is unchanged (greedy decoding stays exactly plain greedy decoding).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tessera._validation import bad_value, check_positive_int
from tessera.llm.medusa._distill import DistillationData

__all__ = ["DATASTORE_FILE", "Datastore", "build_datastore"]

#: The datastore's file name inside a heads folder (read by :func:`tessera.llm.load`).
DATASTORE_FILE = "datastore.npz"

_FORMAT = "tessera-medusa-datastore"
_VERSION = 1


class Datastore:
    """N-gram continuations used as a draft chain beside the Medusa tree.

    Parameters
    ----------
    table : dict of tuple of int to list of int
        N-gram (1 to ``max_ngram`` tokens) -> continuation tokens.
    settings : dict, optional
        How the table was built (kept when saved).

    See Also
    --------
    build_datastore : Builds one from self-distillation data.
    """

    def __init__(
        self, table: dict[tuple[int, ...], list[int]], settings: dict[str, Any] | None = None
    ) -> None:
        self.table = table
        self.settings = dict(settings or {})
        self.max_ngram = max((len(key) for key in table), default=0)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"Datastore({len(self)} n-grams, max_ngram={self.max_ngram})"

    def match(self, context: Sequence[int]) -> tuple[list[int], int]:
        """The stored continuation of ``context``'s longest stored final n-gram, and n.

        ``([], 0)`` when no final n-gram is stored.
        """
        for n in range(min(self.max_ngram, len(context)), 0, -1):
            path = self.table.get(tuple(context[-n:]))
            if path is not None:
                return path, n
        return [], 0

    def propose(self, context: Sequence[int], length: int) -> list[int]:
        """Up to ``length`` tokens after ``context``, from its longest stored final n-gram."""
        return self.match(context)[0][: max(length, 0)]

    def save(self, path: str | Path) -> Path:
        """Write the store to an ``.npz`` file (keys and continuations per n-gram length)."""
        arrays: dict[str, Any] = {  # savez_compressed types its **kwds as its own options
            "format": np.array(_FORMAT),
            "version": np.array(_VERSION),
            "settings": np.array(json.dumps(self.settings, sort_keys=True)),
        }
        width = max((len(p) for p in self.table.values()), default=0)
        for n in range(1, self.max_ngram + 1):
            items = [(k, p) for k, p in self.table.items() if len(k) == n]
            keys = np.array([k for k, _ in items], dtype=np.int32).reshape(len(items), n)
            paths = np.full((len(items), width), -1, dtype=np.int32)
            for i, (_, p) in enumerate(items):
                paths[i, : len(p)] = p
            arrays[f"keys_{n}"] = keys
            arrays[f"paths_{n}"] = paths
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as handle:
            np.savez_compressed(handle, **arrays)
        return out

    @classmethod
    def load(cls, path: str | Path) -> Datastore:
        """Read a store written by :meth:`save`."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                if str(data["format"]) != _FORMAT or int(data["version"]) != _VERSION:
                    raise KeyError("format")
                table: dict[tuple[int, ...], list[int]] = {}
                n = 1
                while f"keys_{n}" in data:
                    for key, row in zip(
                        data[f"keys_{n}"].tolist(), data[f"paths_{n}"].tolist(), strict=True
                    ):
                        table[tuple(key)] = [t for t in row if t >= 0]
                    n += 1
                settings_text = str(data["settings"])
        except (OSError, KeyError, ValueError, EOFError) as error:
            raise bad_value(
                "path",
                str(path),
                f"it is not a {_FORMAT} version {_VERSION} file ({error})",
                "Pass a file written by Datastore.save or build_datastore.",
            ) from error
        return cls(table, json.loads(settings_text))


def build_datastore(
    data: DistillationData,
    *,
    max_ngram: int = 4,
    length: int = 8,
    min_count: int = 3,
    min_probability: float = 0.2,
) -> Datastore:
    """Collect n-gram continuations from the answers in ``data``.

    Parameters
    ----------
    data : DistillationData
        Self-distilled sequences; only the answers (and the prompt's last token, which
        precedes the first answer token) are read.
    max_ngram : int, default=4
        Longest n-gram kept (1 to ``max_ngram`` are all stored; lookups try the longest).
    length : int, default=8
        Longest continuation kept.
    min_count : int, default=3
        N-grams seen fewer times are dropped.
    min_probability : float, default=0.2
        A continuation stops where the share of the n-gram's occurrences that follow it
        all the way falls below this.

    Returns
    -------
    Datastore
    """
    max_ngram = check_positive_int("max_ngram", max_ngram)
    length = check_positive_int("length", length)
    min_count = check_positive_int("min_count", min_count)
    if not 0.0 < float(min_probability) <= 1.0:
        raise bad_value(
            "min_probability",
            min_probability,
            "it must lie in (0, 1]",
            "Pass a share such as 0.2.",
        )
    answers = []
    for i in range(len(data)):
        sequence = np.asarray(data.sequences[i]).tolist()
        start = max(int(data.prompt_lengths[i]) - 1, 0)
        answers.append(sequence[start:])
    table: dict[tuple[int, ...], list[int]] = {}
    for n in range(1, max_ngram + 1):
        followers: defaultdict[tuple[int, ...], list[tuple[int, ...]]] = defaultdict(list)
        for answer in answers:
            for end in range(n - 1, len(answer) - 1):
                followers[tuple(answer[end - n + 1 : end + 1])].append(
                    tuple(answer[end + 1 : end + 1 + length])
                )
        for key, continuations in followers.items():
            if len(continuations) < min_count:
                continue
            path = _common_path(continuations, len(continuations) * float(min_probability))
            if path:
                table[key] = path
    settings = {
        "max_ngram": max_ngram,
        "length": length,
        "min_count": min_count,
        "min_probability": float(min_probability),
        "answers": len(answers),
    }
    return Datastore(table, settings)


def _common_path(continuations: list[tuple[int, ...]], floor: float) -> list[int]:
    """Most common token at each depth among the continuations agreeing so far."""
    path: list[int] = []
    agreeing = continuations
    for depth in range(max(len(c) for c in continuations)):
        counts = Counter(c[depth] for c in agreeing if len(c) > depth)
        if not counts:
            break
        token, count = counts.most_common(1)[0]
        if count < floor:
            break
        path.append(int(token))
        agreeing = [c for c in agreeing if len(c) > depth and c[depth] == token]
    return path
