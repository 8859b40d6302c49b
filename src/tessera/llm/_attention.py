"""The batch-invariant attention of bf16 decoding passes, compiled (numba; imported lazily).

Decoding steps and Medusa trees (passes of up to
:data:`~tessera.llm._invariant.INVARIANT_MAX_QUERIES` queries) attend in float64 so that a
query's result does not depend on what else is in the pass (:mod:`tessera.llm._invariant`).
These kernels compute that attention straight from the bf16 bits of the queries, keys
and values, one query row at a time, so a row's result is a function of its own query,
the keys it sees and their order, and nothing else:

- a score is the float64 dot product of the row's query and a key (products of bf16
  numbers are exact in float64, so the order of the sum is immaterial), times the
  attention scale;
- the additive mask is added, then ``exp(score - max)`` over the keys the row sees;
  keys it does not see (masked to the dtype's minimum, or past it under the causal rule)
  contribute exactly zero and are skipped;
- the sum of the exponentials and the weighted sum of the values run over the keys in
  cache order, each in one fixed sequence, and the weighted sum is divided by the sum.

So a Medusa tree's node gets the same bits as the same token decoded alone (its
ancestors sit at other positions, with masked entries between them, but the non-zero
terms come in the same order), and a generation's rows get the same bits whatever other
generations share the pass. :func:`append_attend` runs one layer of a pass of several
generations in one call: it appends each generation's new keys and values to that
generation's cache buffer (:class:`tessera.llm._step.LeanLlama`), then attends its rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit
from numba.typed import List

__all__ = ["append_attend", "attend", "precompile"]

#: ``exp(x)`` rounds to +0.0 for every ``x`` at or below this (the smallest subnormal
#: double is ``exp(-745.13...)``), so such terms are skipped without changing a bit.
_UNDERFLOW = -746.0


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _dots(
    queries: np.ndarray, keys: np.ndarray, head: int, length: int, scores: np.ndarray
) -> None:
    """``scores[i, j] = queries[i] . keys[head, j]`` in float64 (exact: bf16 products)."""
    rows, dim = queries.shape
    bits = np.empty(dim, np.uint32)
    key = bits.view(np.float32)
    for j in range(length):
        for d in range(dim):
            bits[d] = np.uint32(keys[head, j, d]) << 16
        for i in range(rows):
            total = 0.0
            for d in range(dim):
                total += np.float64(queries[i, d]) * np.float64(key[d])
            scores[i, j] = total


@njit(cache=True, nogil=True)
def attend(
    queries: np.ndarray,
    start: int,
    size: int,
    keys: np.ndarray,
    values: np.ndarray,
    length: int,
    mask: np.ndarray,
    causal: bool,
    scaling: float,
    out: np.ndarray,
) -> None:
    """Attention of query rows ``start:start + size`` to the first ``length`` keys.

    Parameters
    ----------
    queries : ndarray of uint16, shape (n, heads, dim)
        bf16 bits of the pass's queries (rotary embedding applied).
    start, size : int
        The rows of ``queries`` (and of ``out``) this call attends for.
    keys, values : ndarray of uint16, shape (kv_heads, capacity, dim)
        bf16 bits of the cache; the first ``length`` positions are read. Query head
        ``h`` reads key head ``h // (heads // kv_heads)`` (grouped-query attention).
    mask : ndarray of float64, shape (size, length) or (0, 0)
        Additive mask of the rows (0: sees, the dtype's minimum: does not); empty: none.
    causal : bool
        Row ``r`` sees only the first ``length - size + r + 1`` keys (a pass of new
        tokens at the end of the cache); with an empty ``mask``.
    scaling : float
        Factor of the scores (the attention scale).
    out : ndarray of float64, shape (n, heads, dim)
        Rows ``start:start + size`` are written.
    """
    heads, dim = queries.shape[1], queries.shape[2]
    kv_heads = keys.shape[0]
    groups = heads // kv_heads
    rows = groups * size
    bits = np.empty((rows, dim), np.uint32)
    grouped = bits.view(np.float32)
    scores = np.empty((rows, length))
    totals = np.empty(rows)
    acc = np.empty((rows, dim))
    value_bits = np.empty(dim, np.uint32)
    value = value_bits.view(np.float32)
    masked = mask.shape[0] > 0
    for g in range(kv_heads):
        # the query heads that share key head g become rows i = a * size + r
        for a in range(groups):
            for r in range(size):
                for d in range(dim):
                    bits[a * size + r, d] = np.uint32(queries[start + r, g * groups + a, d]) << 16
        _dots(grouped, keys, g, length, scores)
        for i in range(rows):
            r = i % size
            seen = length - size + r + 1 if causal else length
            row = scores[i]
            top = -np.inf
            for j in range(seen):
                score = row[j] * scaling
                if masked:
                    score += mask[r, j]
                row[j] = score
                if score > top:
                    top = score
            total = 0.0
            for j in range(seen):
                x = row[j] - top
                weight = math.exp(x) if x > _UNDERFLOW else 0.0
                row[j] = weight
                total += weight
            for j in range(seen, length):
                row[j] = 0.0
            totals[i] = total
        acc[:] = 0.0
        for j in range(length):
            for d in range(dim):
                value_bits[d] = np.uint32(values[g, j, d]) << 16
            for i in range(rows):
                weight = scores[i, j]
                if weight != 0.0:
                    for d in range(dim):
                        acc[i, d] += weight * np.float64(value[d])
        for i in range(rows):
            a, r = i // size, i % size
            for d in range(dim):
                out[start + r, g * groups + a, d] = acc[i, d] / totals[i]


@njit(cache=True, nogil=True)
def append_attend(
    queries: np.ndarray,
    new_keys: np.ndarray,
    new_values: np.ndarray,
    layer: int,
    caches: Any,
    starts: np.ndarray,
    pasts: np.ndarray,
    sources: np.ndarray,
    masks: np.ndarray,
    mask_starts: np.ndarray,
    scaling: float,
    out: np.ndarray,
) -> None:
    """One layer of a pass of several generations: append each generation's new keys
    and values to its cache, then :func:`attend` its query rows to its cache.

    Parameters
    ----------
    queries : ndarray of uint16, shape (n, heads, dim)
        bf16 bits of the pass's queries, every generation's rows side by side.
    new_keys, new_values : ndarray of uint16, shape (n, kv_heads, dim)
        bf16 bits of the pass's keys and values, in the same rows.
    layer : int
        The layer (the first index of every cache buffer).
    caches : numba.typed.List of ndarray of uint16, shape (layers, 2, kv_heads, capacity, dim)
        Each generation's key (``[:, 0]``) and value (``[:, 1]``) buffers; its
        rows ``pasts[s]:`` of the layer are written.
    starts : ndarray of int64, shape (generations + 1,)
        Generation ``s`` owns rows ``starts[s]:starts[s + 1]`` of the pass.
    pasts : ndarray of int64, shape (generations,)
        The positions each generation's cache holds before the pass.
    sources : ndarray of int64, shape (generations,)
        -1, or an earlier generation of the pass whose first ``pasts[s]`` positions of
        this layer are copied to generation ``s``'s (empty) cache first: prompts that
        start alike share the rows of their common start.
    masks, mask_starts : ndarray of float64, ndarray of int64
        The additive masks of the generations that have one (Medusa trees), flattened
        one after another; generation ``s``'s ``(size, past + size)`` mask starts at
        ``mask_starts[s]``, or -1 for none (causal when it has several rows).
    scaling : float
        Factor of the scores (the attention scale).
    out : ndarray of float64, shape (n, heads, dim)
        Every row is written.
    """
    kv_heads, dim = new_keys.shape[1], new_keys.shape[2]
    none = np.zeros((0, 0))
    for s in range(len(caches)):
        keys = caches[s][layer, 0]
        values = caches[s][layer, 1]
        start, size, past = starts[s], starts[s + 1] - starts[s], pasts[s]
        if sources[s] >= 0:
            shared = caches[sources[s]][layer]
            for g in range(kv_heads):
                for j in range(past):
                    for d in range(dim):
                        keys[g, j, d] = shared[0, g, j, d]
                        values[g, j, d] = shared[1, g, j, d]
        for g in range(kv_heads):
            for r in range(size):
                for d in range(dim):
                    keys[g, past + r, d] = new_keys[start + r, g, d]
                    values[g, past + r, d] = new_values[start + r, g, d]
        at = mask_starts[s]
        length = past + size
        if at < 0:
            attend(queries, start, size, keys, values, length, none, size > 1, scaling, out)
        else:
            mask = masks[at : at + size * length].reshape((size, length))
            attend(queries, start, size, keys, values, length, mask, False, scaling, out)


def precompile() -> None:
    """Compile the kernels (or load them from numba's on-disk cache) for the array layouts
    the decoding passes use: ``make`` runs this after installing, so that the first
    decoding step of a process loads machine code instead of compiling it."""
    queries = np.zeros((2, 3, 4), np.uint16)
    cache = np.zeros((1, 4, 4), np.uint16)
    out = np.zeros((2, 3, 4))
    new = np.zeros((2, 1, 4), np.uint16)
    caches = List([np.zeros((1, 2, 1, 4, 4), np.uint16)])
    one = np.array([0, 2])
    append_attend(
        queries, new, new, 0, caches, one, one[:1], -one[1:], np.zeros(0), -one[1:], 0.5, out
    )
    # transformers' forward hands the queries over transposed (a strided view)
    strided = np.zeros((3, 2, 4), np.uint16).transpose(1, 0, 2)
    attend(strided, 0, 2, cache, cache, 2, np.zeros((2, 2)), False, 0.5, out)
