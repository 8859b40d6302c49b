"""Compiled inner loops of the balanced splitter (numba; imported lazily).

Three kernels, each a pure function on arrays:

- :func:`nearest_neighbour_walk` orders the rows of one block so that consecutive
  rows are near each other (the walk of data twinning);
- :func:`deal` hands the rows of an ordered sequence to the parts in a fixed
  low-discrepancy pattern, so that every short run of neighbours is spread over
  the parts in proportion to their sizes;
- :func:`exchange` swaps rows between parts while a swap raises the
  within-part dispersion, which is the same as lowering the energy distance
  between the parts (see :mod:`tessera.split._engine` for the identity).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def nearest_neighbour_walk(dist: np.ndarray, start: int) -> np.ndarray:
    """Visit every row once, always stepping to the nearest row not yet visited."""
    m = dist.shape[0]
    visited = np.zeros(m, dtype=np.bool_)
    order = np.empty(m, dtype=np.int64)
    current = start
    for t in range(m):
        order[t] = current
        visited[current] = True
        best = -1
        best_d = np.inf
        row = dist[current]
        for k in range(m):
            if not visited[k] and row[k] < best_d:
                best_d = row[k]
                best = k
        current = best
    return order


@njit(cache=True, nogil=True)
def deal(
    order: np.ndarray, strata: np.ndarray, quotas: np.ndarray, phase: np.ndarray, jitter: np.ndarray
) -> np.ndarray:
    """Give each row of ``order`` a part, stratum by stratum, in exact quotas.

    ``quotas[s, p]`` is how many rows of stratum ``s`` go to part ``p``. Along the
    order, the next row of stratum ``s`` goes to the part furthest behind its
    share ``(t + phase[s]) * quotas[s, p] / n_s`` and not yet full; ``jitter``
    breaks ties. The guard makes the counts exact whatever the phase.
    """
    n_strata, n_parts = quotas.shape
    totals = quotas.sum(axis=1)
    seen = np.zeros(n_strata, dtype=np.int64)
    counts = np.zeros((n_strata, n_parts), dtype=np.int64)
    labels = np.empty(order.shape[0], dtype=np.int64)
    for t in range(order.shape[0]):
        row = order[t]
        s = strata[row]
        position = seen[s] + phase[s]
        best = -1
        best_deficit = -np.inf
        for p in range(n_parts):
            if counts[s, p] >= quotas[s, p]:
                continue
            deficit = position * quotas[s, p] / totals[s] - counts[s, p] + jitter[t, p]
            if deficit > best_deficit:
                best_deficit = deficit
                best = p
        labels[row] = best
        counts[s, best] += 1
        seen[s] += 1
    return labels


@njit(cache=True, nogil=True)
def row_part_sums(dist: np.ndarray, labels: np.ndarray, n_parts: int) -> np.ndarray:
    """``sums[i, p]``: the sum of distances from row ``i`` to the rows of part ``p``."""
    m = dist.shape[0]
    sums = np.zeros((m, n_parts))
    for i in range(m):
        row = dist[i]
        for k in range(m):
            sums[i, labels[k]] += row[k]
    return sums


@njit(cache=True, nogil=True)
def swap_coefficients(
    weights: np.ndarray, sizes: np.ndarray, p: int, q: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Coefficients of the change of the objective when a row of ``p`` swaps with one of ``q``.

    The objective is ``F = sum_{u<v} w_uv E(u, v)``. Writing ``S[i, r]`` for the
    sum of distances from row ``i`` to part ``r``, swapping ``i`` (in ``p``) with
    ``j`` (in ``q``) changes ``F`` by
    ``sum_r ci[r] S[i, r] + sum_r cj[r] S[j, r] + cd * d_ij``.
    """
    k = sizes.shape[0]
    n = sizes.astype(np.float64)
    own = np.zeros(k)  # coefficient of W_u (ordered pairs inside u) in F, negated
    for u in range(k):
        for v in range(k):
            if u != v:
                own[u] += weights[u, v] / (n[u] * n[u])
    cross_pq = 2.0 * weights[p, q] / (n[p] * n[q])
    ci = np.zeros(k)
    cj = np.zeros(k)
    ci[p] = cross_pq + 2.0 * own[p]
    ci[q] = -cross_pq - 2.0 * own[q]
    cj[q] = cross_pq + 2.0 * own[q]
    cj[p] = -cross_pq - 2.0 * own[p]
    for r in range(k):
        if r != p and r != q:
            c = 2.0 * weights[p, r] / (n[p] * n[r]) - 2.0 * weights[q, r] / (n[q] * n[r])
            ci[r] = -c
            cj[r] = c
    cd = 2.0 * cross_pq + 2.0 * own[p] + 2.0 * own[q]
    return ci, cj, cd


@njit(cache=True, nogil=True)
def exchange(
    dist: np.ndarray,
    labels: np.ndarray,
    strata: np.ndarray,
    sizes: np.ndarray,
    weights: np.ndarray,
    max_passes: int,
) -> float:
    """Swap rows between parts (in place) while a swap lowers ``sum w_uv E(u, v)``.

    Each candidate swap is priced in O(k) from the row-to-part distance sums
    ``S`` (see :func:`swap_coefficients`); after a swap ``S`` is updated in
    O(m k). Rows swap only with rows of the same stratum. Returns the total
    decrease of the objective.
    """
    m = dist.shape[0]
    k = sizes.shape[0]
    sums = row_part_sums(dist, labels, k)
    total = 0.0
    members_q = np.empty(m, dtype=np.int64)
    price_q = np.empty(m)
    for _ in range(max_passes):
        swaps_this_pass = 0
        for p in range(k):
            for q in range(p + 1, k):
                ci, cj, cd = swap_coefficients(weights, sizes, p, q)
                for i in range(m):
                    if labels[i] != p:
                        continue
                    n_q = 0
                    best_q = np.inf
                    for j in range(m):
                        if labels[j] == q and strata[j] == strata[i]:
                            c = 0.0
                            for r in range(k):
                                c += cj[r] * sums[j, r]
                            members_q[n_q] = j
                            price_q[n_q] = c
                            n_q += 1
                            if c < best_q:
                                best_q = c
                    price_i = 0.0
                    for r in range(k):
                        price_i += ci[r] * sums[i, r]
                    if price_i + best_q >= -1e-12:
                        continue
                    best = -1e-12
                    partner = -1
                    row = dist[i]
                    for t in range(n_q):
                        j = members_q[t]
                        value = price_i + price_q[t] + cd * row[j]
                        if value < best:
                            best = value
                            partner = j
                    if partner < 0:
                        continue
                    row_j = dist[partner]
                    for x in range(m):
                        delta = row_j[x] - row[x]
                        sums[x, p] += delta
                        sums[x, q] -= delta
                    labels[i] = q
                    labels[partner] = p
                    total -= best
                    swaps_this_pass += 1
        if swaps_this_pass == 0:
            break
    return total
