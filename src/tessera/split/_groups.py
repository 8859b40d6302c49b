"""Splitting whole groups: rows of one group never cross parts.

The rows of a group become one unit placed at the group's mean in distance
space and weighing its row count. Units are ordered as their method orders
rows, dealt by row deficit (each unit to the part furthest behind its share
that still has room), and, for ``"auto"``, refined by swapping units of equal
row count, so part sizes never drift during the search.
"""

from __future__ import annotations

import warnings

import numpy as np

from tessera._validation import bad_value
from tessera.split._encode import Encoded

__all__ = ["GroupSizeWarning", "group_labels"]


class GroupSizeWarning(UserWarning):
    """A group has more rows than a part: the part sizes are met only as closely as groups allow."""


def _weighted_deal(
    order: np.ndarray, weights: np.ndarray, sizes: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    total = float(sizes.sum())
    share = sizes / total
    rows = np.zeros(sizes.size)
    labels = np.empty(order.size, dtype=np.int64)
    if order.size == 0:
        return labels
    done = rng.random() * float(weights.mean())
    for unit in order:
        w = weights[unit]
        deficit = share * (done + w) - rows + rng.random(sizes.size) * 1e-9
        room = rows + w <= sizes
        if room.any():
            part = int(np.argmax(np.where(room, deficit, -np.inf)))
        else:
            part = int(np.argmax(sizes - rows))
        labels[unit] = part
        rows[part] += w
        done += w
    return labels


def _fill_empty_parts(labels: np.ndarray, weights: np.ndarray, n_parts: int) -> np.ndarray:
    """Give every empty part the smallest unit of the part holding the most rows (and >= 2 units).

    Oversized groups can leave a part without any unit; a cross-validator must
    never yield an empty test fold.
    """
    labels = labels.copy()
    for part in range(n_parts):
        if (labels == part).any():
            continue
        units = np.bincount(labels, minlength=n_parts)
        rows = np.bincount(labels, weights=weights, minlength=n_parts)
        donor = int(np.argmax(np.where(units >= 2, rows, -np.inf)))
        members = np.flatnonzero(labels == donor)
        labels[members[np.argmin(weights[members])]] = part
    return labels


def group_labels(
    encoded: Encoded,
    groups: np.ndarray,
    sizes: np.ndarray,
    *,
    method: str,
    strata: np.ndarray | None,
    rng: np.random.Generator,
    clusterer: str = "kmeans",
    sampling: str = "random",
    weights: np.ndarray | None = None,
    large_groups: str = "raise",
    diverse: bool = False,
) -> np.ndarray:
    """Part label of every row with whole groups kept together.

    With ``large_groups="warn"`` a group larger than the smallest part is
    placed anyway (sizes met as closely as the groups allow) and a
    :class:`GroupSizeWarning` is issued. ``diverse`` (``"auto"``) deals the
    groups in a random order and swaps them inside random thirds of equal-size
    groups, so that different seeds give different splits.

    Raises
    ------
    tessera.errors.InvalidInputError
        When a group has more rows than the smallest part (``large_groups="raise"``),
        or when there are fewer groups than parts.
    """
    from tessera.split._methods import cluster_codes, target_strata

    _, unit_of_row, unit_rows = np.unique(groups, return_inverse=True, return_counts=True)
    unit_of_row = unit_of_row.ravel()
    n_units = unit_rows.size
    biggest = int(unit_rows.max())
    if biggest > sizes.min():
        if large_groups == "raise":
            raise bad_value(
                "groups",
                f"<a group of {biggest} rows>",
                f"a group has more rows ({biggest}) than the smallest part ({int(sizes.min())})",
                "Enlarge the smallest part, split that group, or drop groups=.",
            )
        if n_units < sizes.size:
            raise bad_value(
                "groups",
                f"<{n_units} groups>",
                f"there are fewer groups ({n_units}) than parts ({sizes.size})",
                "Pass more groups, ask for fewer parts, or drop groups=.",
            )
        warnings.warn(
            f"a group has more rows ({biggest}) than the smallest part ({int(sizes.min())}); "
            "the part sizes are met only as closely as the groups allow",
            GroupSizeWarning,
            stacklevel=4,
        )
    points = np.zeros((n_units, encoded.points.shape[1]))
    np.add.at(points, unit_of_row, encoded.points)
    points /= unit_rows[:, None]
    n = encoded.points.shape[0]
    row_strata = target_strata(encoded, n, sizes.size)
    if strata is not None:
        row_strata = strata if row_strata is None else row_strata * (strata.max() + 1) + strata
    unit_strata = np.zeros(n_units, dtype=np.int64)
    if row_strata is not None:
        # the most common stratum of each group
        table = np.zeros((n_units, int(row_strata.max()) + 1), dtype=np.int64)
        np.add.at(table, (unit_of_row, row_strata), 1)
        unit_strata = table.argmax(axis=1)
    shuffle = rng.permutation(n_units)
    if method == "random" or (diverse and method == "auto"):
        order = shuffle
    elif method == "stratified" or method == "cluster":
        key = unit_strata
        if method == "cluster":
            clusters = cluster_codes(points, clusterer, None, rng)
            key = clusters * (unit_strata.max() + 1) + (unit_strata if sampling != "random" else 0)
        order = shuffle[np.argsort(key[shuffle], kind="stable")]
    else:
        from tessera.split._engine import near_blocks, pairwise
        from tessera.split._kernels import nearest_neighbour_walk

        walks = []
        for block in near_blocks(points, np.arange(n_units, dtype=np.int64), 1500):
            dist = pairwise(points[block])
            walks.append(block[nearest_neighbour_walk(dist, int(rng.integers(block.size)))])
        order = np.concatenate(walks)
    unit_weights = unit_rows.astype(np.float64)
    # Groups too large for the smallest part go first, each into a part of its own
    # while parts are empty; the others then share the remaining parts evenly.
    too_large = unit_rows[order] > sizes.min()
    order = np.concatenate(
        [order[too_large][np.argsort(-unit_rows[order[too_large]])], order[~too_large]]
    )
    unit_labels = _weighted_deal(order, unit_weights, sizes.astype(np.float64), rng)
    unit_labels = _fill_empty_parts(unit_labels, unit_weights, sizes.size)
    if method == "auto" and n_units <= 3000:
        from tessera.split._engine import default_weights, pairwise, refine_block

        counts = np.bincount(unit_labels, minlength=sizes.size)
        if (counts > 0).sum() >= 2:
            same_size = np.unique(unit_rows, return_inverse=True)[1].ravel().astype(np.int64)
            if diverse:
                from tessera.split._engine import DIVERSE_SWAP_GROUPS

                subset = rng.integers(DIVERSE_SWAP_GROUPS, size=n_units)
                same_size = same_size * DIVERSE_SWAP_GROUPS + subset
            unit_labels = refine_block(
                pairwise(points),
                unit_labels,
                same_size,
                counts,
                default_weights(sizes.size) if weights is None else weights,
                rng,
                0 if diverse else 2,
                50,
            )
    return unit_labels[unit_of_row]
