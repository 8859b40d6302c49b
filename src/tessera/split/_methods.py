"""The splitting methods: each orders the rows (and sorts them into strata), then deals.

Every method ends in the same exact dealing step (:func:`tessera.split._kernels.deal`)
so every method returns a partition with the asked sizes, exact to one row:

- ``"random"``: a random order, one stratum;
- ``"stratified"``: a random order, strata = classes (or target quantile bins);
- ``"cluster"``: the article's recipe -- clusters found by K-Means (k by the
  elbow) or HDBSCAN (min_cluster_size by silhouette), optionally within levels
  of categorical columns, then sampled randomly, stratified on the class, or
  systematically (sorted by the target and dealt in a fixed pattern);
- ``"twin"``: nearest-neighbour walks dealt in proportion (data twinning);
- ``"auto"``: ``"twin"`` followed by the energy-distance swap search.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tessera.split._encode import Encoded

__all__ = ["METHODS", "split_labels", "to_generator"]

METHODS = ("auto", "random", "stratified", "cluster", "twin")


def to_generator(random_state: Any) -> np.random.Generator:
    """A numpy Generator from ``int | None | Generator | RandomState``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    return np.random.default_rng(random_state)


def _codes(*columns: np.ndarray | None) -> np.ndarray:
    """Joint integer codes of several code columns (``None`` columns skipped)."""
    present = [c for c in columns if c is not None]
    if not present:
        raise ValueError("no columns")
    stacked = np.column_stack(present)
    _, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return inverse.ravel().astype(np.int64)


def target_strata(encoded: Encoded, n_rows: int, n_parts: int) -> np.ndarray | None:
    """Classes, or quantile bins of a continuous target (about 2 rows per part per bin)."""
    if encoded.classes is not None:
        return encoded.classes
    if encoded.target is None:
        return None
    values = np.where(np.isfinite(encoded.target), encoded.target, np.nanmedian(encoded.target))
    n_bins = int(max(1, min(10, n_rows // (2 * n_parts))))
    ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    return (ranks * n_bins // n_rows).astype(np.int64)


def _elbow_kmeans(points: np.ndarray, rng: np.random.Generator, k_max: int = 10) -> np.ndarray:
    """K-Means with k at the elbow of the inertia curve (furthest point from the chord)."""
    from sklearn.cluster import KMeans

    n = points.shape[0]
    distinct = np.unique(points, axis=0).shape[0]  # more clusters than points would warn
    ks = list(range(1, max(1, min(k_max, n // 5, distinct)) + 1))
    seed = int(rng.integers(2**31 - 1))
    fits = [KMeans(n_clusters=k, n_init=3, random_state=seed).fit(points) for k in ks]
    if len(ks) < 3:
        return np.asarray(fits[-1].labels_, dtype=np.int64)
    inertia = np.array([f.inertia_ for f in fits])
    x = (np.array(ks) - ks[0]) / (ks[-1] - ks[0])
    span = inertia[0] - inertia[-1]
    y = (inertia - inertia[-1]) / span if span > 0 else np.zeros_like(inertia)
    # distance below the chord from (0, 1) to (1, 0)
    knee = int(np.argmax(1.0 - x - y))
    return np.asarray(fits[knee].labels_, dtype=np.int64)


def _silhouette_hdbscan(points: np.ndarray) -> np.ndarray:
    """HDBSCAN with min_cluster_size chosen by silhouette; noise rows form their own cluster."""
    from sklearn.cluster import HDBSCAN
    from sklearn.metrics import silhouette_score

    n = points.shape[0]
    best = np.zeros(n, dtype=np.int64)
    best_score = -np.inf
    for size in (5, 10, 15, 25, 50):
        if size > n // 2:
            break
        labels = HDBSCAN(min_cluster_size=size, copy=True).fit(points).labels_
        if np.unique(labels).size < 2:
            continue
        score = silhouette_score(points, labels)
        if score > best_score:
            best, best_score = labels.astype(np.int64), score
    return np.asarray(best - best.min(), dtype=np.int64)


def cluster_codes(
    points: np.ndarray, clusterer: str, within: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """Cluster ids, found separately inside each level of ``within`` when given."""
    levels = within if within is not None else np.zeros(points.shape[0], dtype=np.int64)
    out = np.zeros(points.shape[0], dtype=np.int64)
    offset = 0
    for level in np.unique(levels):
        rows = np.flatnonzero(levels == level)
        if rows.size < 10:
            ids = np.zeros(rows.size, dtype=np.int64)
        elif clusterer == "kmeans":
            ids = _elbow_kmeans(points[rows], rng)
        else:
            ids = _silhouette_hdbscan(points[rows])
        out[rows] = ids + offset
        offset += int(ids.max()) + 1
    return out


def _deal_rows(
    order: np.ndarray, strata: np.ndarray | None, sizes: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    from tessera.split._engine import quota_table
    from tessera.split._kernels import deal

    n = order.size
    strata = np.zeros(n, dtype=np.int64) if strata is None else _codes(strata)
    table = quota_table(strata, sizes, rng)
    phase = np.asarray(rng.random(int(table.shape[0])))
    jitter = rng.random((n, sizes.size)) * 1e-6
    return deal(order.astype(np.int64), strata, table, phase, jitter)


def split_labels(
    encoded: Encoded,
    sizes: np.ndarray,
    *,
    method: str,
    strata: np.ndarray | None,
    rng: np.random.Generator,
    clusterer: str = "kmeans",
    sampling: str = "random",
    within: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    diverse: bool = False,
) -> np.ndarray:
    """Part label (``0..k-1``) of every row, part ``p`` holding exactly ``sizes[p]`` rows.

    ``diverse`` (``"auto"`` only) draws one of many good splits instead of the best
    found, so that different seeds give different splits (see ``balanced_labels``).
    """
    points = encoded.points
    n = points.shape[0]
    by_target = target_strata(encoded, n, sizes.size)
    if method == "random":
        return _deal_rows(rng.permutation(n), strata, sizes, rng)
    if method == "stratified":
        joint = _codes(strata, by_target) if (strata is not None or by_target is not None) else None
        return _deal_rows(rng.permutation(n), joint, sizes, rng)
    if method == "cluster":
        clusters = cluster_codes(points, clusterer, within, rng)
        if sampling == "random":
            return _deal_rows(rng.permutation(n), _codes(clusters, strata), sizes, rng)
        if sampling == "stratified":
            return _deal_rows(rng.permutation(n), _codes(clusters, by_target, strata), sizes, rng)
        key = encoded.target if encoded.target is not None else encoded.classes
        if key is None:  # no target: sort along the first principal axis instead
            centred = points - points.mean(axis=0)
            key = centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
        key = np.where(np.isfinite(key), key, np.nanmedian(key)) + rng.random(n) * 1e-9
        return _deal_rows(np.argsort(key, kind="stable"), _codes(clusters, strata), sizes, rng)
    from tessera.split._engine import balanced_labels

    joint = (
        _codes(strata, encoded.classes)
        if (strata is not None or encoded.classes is not None)
        else np.zeros(n, dtype=np.int64)
    )
    # Small data get the full search and kicked restarts; on large data three passes
    # over each block hold nearly all of the gain at a fraction of the time.
    restarts = int(np.clip(3.2e6 / n**2, 2, 100)) if n <= 3000 else 0
    return balanced_labels(
        points,
        sizes,
        joint,
        rng,
        refine=method == "auto",
        restarts=restarts,
        weights=weights,
        max_passes=50 if n <= 3000 else 3,
        diverse=diverse and method == "auto",
    )
