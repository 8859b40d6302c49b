"""The balanced splitter behind ``method="auto"`` and ``method="twin"``.

The energy distance between parts ``p`` and ``q`` is
``E(p, q) = 2 B_pq / (n_p n_q) - W_p / n_p**2 - W_q / n_q**2`` where ``B_pq`` sums
the distances between the two parts and ``W_p`` those inside part ``p``. The
between-part dispersion of the energy-distance analysis of variance (DISCO,
Rizzo & Szekely 2010), ``sum_{p<q} n_p n_q / (2N) E(p, q)``, equals
``(T - N sum_p W_p / n_p) / (2N)`` with ``T`` the sum of all distances, a
constant. So making the parts alike is the same as maximizing
``sum_p W_p / n_p``: spread every part as widely as the whole data set
(anticlustering). We do it in three steps:

1. cut the rows into blocks of at most ``block_size`` near rows (median cuts
   along the widest column), so that memory and time stay linear in ``n``;
2. in each block, order the rows by a nearest-neighbour walk (data twinning)
   and deal them to the parts in proportion (every run of neighbours is
   spread over the parts) -- this is ``method="twin"``;
3. in each block, swap rows between parts while a swap raises the objective,
   with the row-to-part distance sums updated in O(m) per swap -- ``"auto"``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "balanced_labels",
    "default_weights",
    "energy_objective",
    "near_blocks",
    "pairwise",
    "quota_table",
    "refine_block",
]

#: Rows per block of exact pairwise distances (a block's matrix is ~ 18 MB).
DEFAULT_BLOCK = 1500
#: Bytes of block distance matrices kept from the walks for the swap search; blocks
#: beyond are computed again there (the same matrices), so memory stays bounded at any n.
KEEP_DISTANCES_BYTES = 256 * 2**20
#: With ``diverse=True`` rows swap only inside one of this many random subsets of
#: their stratum (chosen on Gaussian data at n=40-300 and iris/wine, seed 0; 2 left
#: repeated test sets overlapping 1.3-1.4x as much as random ones, 3 about 1.2x).
DIVERSE_SWAP_GROUPS = 3


def quota_table(strata: np.ndarray, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows of each stratum per part: row sums are the strata, column sums ``sizes``.

    Dealing the strata one after another in the low-discrepancy pattern gives a
    table within one row of proportional in every cell (controlled rounding).
    """
    from tessera.split._kernels import deal

    n_strata = int(strata.max()) + 1 if strata.size else 0
    counts = np.bincount(strata, minlength=n_strata)
    # one virtual stratum holding all rows, sorted by stratum
    order = np.argsort(strata, kind="stable").astype(np.int64)
    labels = deal(
        order,
        np.zeros(strata.size, dtype=np.int64),
        sizes.reshape(1, -1).astype(np.int64),
        np.array([rng.random()]),
        rng.random((strata.size, sizes.size)) * 1e-9,
    )
    table = np.zeros((n_strata, sizes.size), dtype=np.int64)
    np.add.at(table, (strata, labels), 1)
    assert (table.sum(axis=1) == counts).all()
    return table


def near_blocks(points: np.ndarray, rows: np.ndarray, block_size: int) -> list[np.ndarray]:
    """Median cuts along the widest column until every block has <= block_size rows."""
    if rows.size <= block_size:
        return [rows]
    sub = points[rows]
    axis = int(np.argmax(sub.max(axis=0) - sub.min(axis=0)))
    half = rows.size // 2
    split = np.argpartition(sub[:, axis], half)
    return near_blocks(points, rows[split[:half]], block_size) + near_blocks(
        points, rows[split[half:]], block_size
    )


def default_weights(n_parts: int, others: float = 0.25) -> np.ndarray:
    """Pair weights: 1 between the first part (train) and each other, ``others`` elsewhere."""
    weights = np.full((n_parts, n_parts), others)
    weights[0, :] = weights[:, 0] = 1.0
    np.fill_diagonal(weights, 0.0)
    return weights


def pairwise(points: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix of the rows of ``points`` (float64, zero diagonal)."""
    sq = np.einsum("ij,ij->i", points, points)
    gram = points @ points.T
    d2 = sq[:, None] + sq[None, :] - 2.0 * gram
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.asarray(np.sqrt(d2, out=d2), dtype=np.float64)


def balanced_labels(
    points: np.ndarray,
    sizes: np.ndarray,
    strata: np.ndarray,
    rng: np.random.Generator,
    *,
    refine: bool = True,
    weights: np.ndarray | None = None,
    restarts: int = 0,
    block_size: int = DEFAULT_BLOCK,
    max_passes: int = 50,
    diverse: bool = False,
) -> np.ndarray:
    """Part label of every row: proportional dealing along near rows, then swaps.

    Parameters
    ----------
    points : ndarray of shape (n, d)
        The rows in the space where distances are measured (standardized).
    sizes : ndarray of int of shape (k,)
        Rows per part; sums to ``n``.
    strata : ndarray of int of shape (n,)
        Stratum codes ``0..s-1``; every part receives each stratum in proportion
        (within one row) and swaps never change a part's stratum counts.
    rng : numpy.random.Generator
        Source of the walk starts, the dealing phase and tie-breaks.
    refine : bool, default=True
        Run the swap search (``"auto"``); ``False`` stops after dealing (``"twin"``).
    diverse : bool, default=False
        Return one of many good splits rather than the best one found: deal a
        random order (not the walks) and let rows swap only inside a random
        third of their stratum, without restarts. From the dealt walks the
        swap search reaches nearly the same optimum from every seed, so
        repeated splits (``BalancedShuffleSplit``) would repeat; this way they
        overlap about as little as random splits, still far better balanced.

    Returns
    -------
    ndarray of int64 of shape (n,)
        ``labels[i]`` is the part of row ``i``; part ``p`` has exactly ``sizes[p]`` rows.
    """
    from tessera.split._kernels import deal, nearest_neighbour_walk

    n = points.shape[0]
    points = np.ascontiguousarray(points, dtype=np.float64)
    strata = np.ascontiguousarray(strata, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    if weights is None:
        weights = default_weights(sizes.size)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    blocks = near_blocks(points, np.arange(n, dtype=np.int64), block_size)
    order_parts = []
    dists: list[np.ndarray | None] = []
    kept = 0
    for block in blocks:
        dist = pairwise(points[block])
        kept += dist.nbytes
        dists.append(dist if refine and kept <= KEEP_DISTANCES_BYTES else None)
        walk = nearest_neighbour_walk(dist, int(rng.integers(block.size)))
        order_parts.append(block[walk])
    order = rng.permutation(n).astype(np.int64) if diverse else np.concatenate(order_parts)
    table = quota_table(strata, sizes, rng)
    phase = np.asarray(rng.random(int(table.shape[0])))
    jitter = rng.random((n, sizes.size)) * 1e-6
    labels = deal(order, strata, table, phase, jitter)
    if not refine:
        return labels
    swap_strata = strata
    if diverse:
        swap_strata = strata * DIVERSE_SWAP_GROUPS + rng.integers(DIVERSE_SWAP_GROUPS, size=n)
        restarts = 0
    for block, kept_dist in zip(blocks, dists, strict=True):
        block_sizes = np.bincount(labels[block], minlength=sizes.size)
        if (block_sizes > 0).sum() < 2:
            continue
        dist = pairwise(points[block]) if kept_dist is None else kept_dist
        labels[block] = refine_block(
            dist, labels[block], swap_strata[block], block_sizes, weights, rng, restarts, max_passes
        )
    return labels


def energy_objective(
    dist: np.ndarray, labels: np.ndarray, sizes: np.ndarray, weights: np.ndarray
) -> float:
    """``sum_{u<v} w_uv E(u, v)`` for the parts given by ``labels`` (empty parts skipped)."""
    k = sizes.size
    onehot = np.zeros((labels.size, k))
    onehot[np.arange(labels.size), labels] = 1.0
    between = onehot.T @ dist @ onehot
    n = np.maximum(sizes, 1).astype(np.float64)
    total = 0.0
    for u in range(k):
        for v in range(u + 1, k):
            if sizes[u] and sizes[v] and weights[u, v]:
                energy = (
                    2 * between[u, v] / (n[u] * n[v])
                    - between[u, u] / n[u] ** 2
                    - between[v, v] / n[v] ** 2
                )
                total += weights[u, v] * energy
    return total


def _perturb(
    labels: np.ndarray, strata: np.ndarray, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Swap random same-stratum pairs of rows in different parts (a kick out of a local optimum)."""
    out = labels.copy()
    for _ in range(max(1, int(fraction * labels.size))):
        i, j = rng.integers(labels.size, size=2)
        if out[i] != out[j] and strata[i] == strata[j]:
            out[i], out[j] = out[j], out[i]
    return out


def refine_block(
    dist: np.ndarray,
    labels: np.ndarray,
    strata: np.ndarray,
    sizes: np.ndarray,
    weights: np.ndarray,
    rng: np.random.Generator,
    restarts: int,
    max_passes: int,
) -> np.ndarray:
    """Swap search from the dealt labels, then ``restarts`` kicked restarts; keep the best."""
    from tessera.split._kernels import exchange

    safe_sizes = np.maximum(sizes, 1)
    best = labels.copy()
    exchange(dist, best, strata, safe_sizes, weights, max_passes)
    best_value = energy_objective(dist, best, sizes, weights)
    for _ in range(restarts):
        candidate = _perturb(best, strata, 0.1, rng)
        exchange(dist, candidate, strata, safe_sizes, weights, max_passes)
        value = energy_objective(dist, candidate, sizes, weights)
        if value < best_value:
            best, best_value = candidate, value
    return best
