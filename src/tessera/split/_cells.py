"""Cells of near rows for the out-of-core split: a median-cut tree fitted on a sample.

In-memory ``auto`` cuts the rows into blocks of near rows (median cuts along the widest
column, :func:`tessera.split._engine.near_blocks`), gives every block its share of each
part and balances the parts inside each block. Out of core, the same cuts are fitted on
a sample (:func:`fit_cells`) and every row of the table is routed to its cell
(:meth:`Cells.of_rows`): the rows of one cell are then gathered (a Dask shuffle) and split
together, so that, as in memory, each piece the splitter sees is a region of the
distance space and the parts' imbalances of different pieces lie in different regions
rather than adding up over the whole space.

The encoding is the in-memory one (:mod:`tessera.split._encode`) with its statistics
taken from the sample, so that every partition is encoded alike: numeric columns
z-scored (a missing value at 0), categorical columns with up to ``MAX_ONE_HOT`` levels
one-hot over ``sqrt(2)``, others as z-scored ordinal codes of the sorted levels. The
columns are typed once, on the sample (:func:`tessera._tables.infer_types`, the caller's
``types`` winning), as the in-memory distance types them
(:func:`tessera.split._columns.distance_view`): dates by their time, free text by the
leading components of its TF-IDF (the vocabulary and components fitted on the sample),
identifiers left out.
Rows on a cut's threshold are sent left or right by a hash of the row (left below a
cut-off that halves the sample), so a column with few values still cuts in halves.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tessera._tables import TableTypes
from tessera.split._columns import TextProjection
from tessera.split._encode import MAX_ONE_HOT, is_categorical, level_labels

__all__ = ["Cells", "allocate", "fit_cells", "row_uniforms"]


@dataclass(frozen=True)
class _Column:
    name: Hashable
    kind: str  # "numeric", "one_hot", "ordinal" or "text"
    levels: tuple[str, ...] = ()
    mean: float = 0.0
    std: float = 1.0
    text: TextProjection | None = None  # "text": the projection, z-scored per component
    means: tuple[float, ...] = ()
    stds: tuple[float, ...] = ()


@dataclass
class Cells:
    """A median-cut tree over the encoded columns; its leaves are the cells ``0..n_cells-1``."""

    columns: list[_Column]
    types: TableTypes | None = None  # the table's column kinds (None: from the dtypes)
    axis: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    tie_share: list[float] = field(default_factory=list)  # rows on the threshold with a
    # hash below this go left
    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    leaf: list[int] = field(default_factory=list)  # cell number, -1 for a cut

    @property
    def n_cells(self) -> int:
        """Number of cells (leaves)."""
        return sum(1 for c in self.leaf if c >= 0)

    def points(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows of ``frame`` in distance space, encoded with the sample's statistics."""
        blocks: list[np.ndarray] = []
        for column in self.columns:
            series = _typed(frame, column.name, self.types)
            if column.kind == "text":
                assert column.text is not None
                parts = column.text.transform(series)
                blocks.append((parts - np.asarray(column.means)) / np.asarray(column.stds))
                continue
            if column.kind == "numeric":
                values = _numbers(series)
                values = (values - column.mean) / column.std
                blocks.append(np.where(np.isfinite(values), values, 0.0)[:, None])
                continue
            labels = level_labels(series, "\x00missing").astype(str).to_numpy()
            if column.kind == "one_hot":
                levels = np.asarray(column.levels)
                blocks.append((labels[:, None] == levels[None, :]) / np.sqrt(2.0))
            else:
                codes = np.searchsorted(np.asarray(column.levels), labels).astype(np.float64)
                blocks.append(((codes - column.mean) / column.std)[:, None])
        if not blocks:
            return np.zeros((len(frame), 1))
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float64)

    def route(self, points: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        """The cell of each point (``uniforms`` in [0, 1) break ties on a threshold)."""
        node = np.zeros(points.shape[0], dtype=np.int64)
        leaf = np.asarray(self.leaf, dtype=np.int64)
        axis = np.asarray(self.axis, dtype=np.int64)
        threshold = np.asarray(self.threshold, dtype=np.float64)
        share = np.asarray(self.tie_share, dtype=np.float64)
        left = np.asarray(self.left, dtype=np.int64)
        right = np.asarray(self.right, dtype=np.int64)
        rows = np.arange(points.shape[0])
        inner = leaf[node] < 0
        while inner.any():
            at = node[inner]
            values = points[rows[inner], axis[at]]
            goes_left = (values < threshold[at]) | (
                (values == threshold[at]) & (uniforms[inner] < share[at])
            )
            node[inner] = np.where(goes_left, left[at], right[at])
            inner = leaf[node] < 0
        return leaf[node]

    def of_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """The cell of every row of ``frame``."""
        return self.route(self.points(frame), row_uniforms(frame))

    def of_groups(self, frame: pd.DataFrame, groups: Hashable) -> np.ndarray:
        """The cell of every row, the same for all rows of a group: its mean point's cell."""
        codes, _ = pd.factorize(level_labels(frame[groups], "\x00missing").astype(str))
        count = np.bincount(codes)
        points = self.points(frame)
        means = np.zeros((count.size, points.shape[1]))
        np.add.at(means, codes, points)
        means /= np.maximum(count, 1)[:, None]
        uniforms = np.zeros(count.size)
        uniforms[codes] = row_uniforms(frame[[groups]])
        return np.asarray(self.route(means, uniforms)[codes], dtype=np.int64)


def row_uniforms(frame: pd.DataFrame) -> np.ndarray:
    """A number in [0, 1) for every row from a hash of its values (the same wherever it is)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return np.asarray((hashed >> np.uint64(11)).astype(np.float64) / float(1 << 53))


def _typed(frame: pd.DataFrame, name: Hashable, types: TableTypes | None) -> pd.Series:
    """Column ``name`` converted to its kind (dates parsed with their format)."""
    if types is None:
        return frame[name]
    from tessera._tables import apply_types

    return apply_types(frame[[name]], types)[name]


def _numbers(series: pd.Series) -> np.ndarray:
    """Float values of a numeric or datetime column (dates in nanoseconds), NaN missing."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        naive = series.dt.tz_localize(None) if series.dt.tz is not None else series
        stamps = naive.to_numpy(dtype="datetime64[ns]")
        values: np.ndarray = stamps.astype(np.int64).astype(np.float64)
        values[naive.isna().to_numpy()] = np.nan
        return values
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))


def _encoding(sample: pd.DataFrame, exclude: set[Any], types: TableTypes | None) -> list[_Column]:
    columns: list[_Column] = []
    n = len(sample)
    for name in sample.columns:
        if name in exclude:
            continue
        kind = types[str(name)].kind if types is not None else None
        if kind == "identifier":
            continue
        series = _typed(sample, name, types)
        if kind == "text":
            projection = TextProjection.fit(series)
            if projection is not None:
                parts = projection.transform(series)
                stds = parts.std(axis=0)
                columns.append(
                    _Column(
                        name,
                        "text",
                        text=projection,
                        means=tuple(map(float, parts.mean(axis=0))),
                        stds=tuple(float(v) if v > 0 else 1.0 for v in stds),
                    )
                )
            continue
        categorical = is_categorical(series) if kind is None else kind in ("category", "boolean")
        if not categorical:
            values = _numbers(series)
            finite = values[np.isfinite(values)]
            std = float(finite.std()) if finite.size else 0.0
            if std > 0:
                columns.append(_Column(name, "numeric", mean=float(finite.mean()), std=std))
            continue
        labels = level_labels(series, "\x00missing").astype(str)
        levels = tuple(sorted(labels.unique()))
        distinct = len(levels) == n and not pd.api.types.is_bool_dtype(series)
        if len(levels) <= 1 or (kind is None and distinct):
            continue  # constant, or a distinct text value on every row: an identifier
        if len(levels) <= MAX_ONE_HOT:
            columns.append(_Column(name, "one_hot", levels=levels))
        else:
            codes = np.searchsorted(np.asarray(levels), labels.to_numpy()).astype(np.float64)
            std = float(codes.std())
            columns.append(_Column(name, "ordinal", levels, float(codes.mean()), std or 1.0))
    return columns


def fit_cells(
    sample: pd.DataFrame,
    *,
    n_rows: int,
    rows_per_cell: int,
    exclude: Sequence[Hashable] = (),
    types: TableTypes | None = None,
) -> Cells:
    """Median cuts of ``sample`` until each cell holds about ``rows_per_cell`` of ``n_rows``.

    A cell is cut while the rows it stands for (its sample rows times
    ``n_rows / len(sample)``) exceed ``rows_per_cell``, along its widest column at the
    sample median; cells are numbered left to right, so neighbouring numbers are near.
    ``types`` (the table's column kinds, :func:`tessera._tables.infer_types`) decide how
    each column enters; without them, the dtypes do.
    """
    cells = Cells(columns=_encoding(sample, set(exclude), types), types=types)
    points = cells.points(sample)
    uniforms = row_uniforms(sample)
    scale = n_rows / max(len(sample), 1)

    def grow(rows: np.ndarray) -> int:
        node = len(cells.leaf)
        cells.axis.append(0)
        cells.threshold.append(0.0)
        cells.tie_share.append(0.0)
        cells.left.append(-1)
        cells.right.append(-1)
        cells.leaf.append(-1)
        sub = points[rows]
        spread = sub.max(axis=0) - sub.min(axis=0) if rows.size else np.zeros(1)
        if rows.size * scale <= rows_per_cell or rows.size < 4 or spread.max() <= 0:
            cells.leaf[node] = cells.n_cells
            return node
        axis = int(np.argmax(spread))
        values = sub[:, axis]
        half = rows.size // 2
        threshold = float(np.partition(values, half)[half])
        below = values < threshold
        tied = np.sort(uniforms[rows][values == threshold])
        need = half - int(below.sum())  # rows on the threshold that go left
        share = float(tied[need]) if need < tied.size else 2.0
        goes_left = (values < threshold) | ((values == threshold) & (uniforms[rows] < share))
        cells.axis[node], cells.threshold[node], cells.tie_share[node] = axis, threshold, share
        left = grow(rows[goes_left])
        cells.left[node] = left
        cells.right[node] = grow(rows[~goes_left])
        return node

    grow(np.arange(len(sample)))
    return cells


def allocate(units: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Rows of each part per unit: each row sums to its unit, and the running totals
    over units stay within a row or so of ``fractions`` times the rows so far.

    Each unit gets the parts' deficits so far (their shares of all rows up to and
    including it, less what they were given), rounded by the largest remainder: what
    one unit rounds down, the next makes up, so the table's totals are exact to one row
    per part rather than to one row per unit.
    """
    units = np.asarray(units, dtype=np.int64)
    out = np.zeros((units.size, fractions.size), dtype=np.int64)
    given = np.zeros(fractions.size)
    seen = 0
    for u, size in enumerate(units):
        seen += int(size)
        if size == 0:
            continue
        want = np.clip(fractions * seen - given, 0.0, None)
        want *= size / want.sum() if want.sum() > 0 else 0.0
        counts = np.floor(want).astype(np.int64)
        for p in np.argsort(-(want - counts), kind="stable")[: int(size) - int(counts.sum())]:
            counts[p] += 1
        out[u] = counts
        given += counts
    return out


def split_in_cell(
    rows: pd.DataFrame,
    cells: Cells,
    counts: np.ndarray,
    rng: np.random.Generator,
    options: dict[str, Any],
) -> list[np.ndarray]:
    """Row positions of each part of ``rows`` (one cell), in the table's distance space.

    As :func:`tessera.split.part_indices` with ``counts`` rows per part, except that the
    rows are encoded with the statistics of the whole table (:meth:`Cells.points`):
    encoded on their own, a cell's narrow columns would be stretched to unit spread and
    outweigh the others, and the splitter would balance a differently weighted space in
    every cell.
    """
    import warnings

    from tessera.split._api import _codes_of
    from tessera.split._encode import Encoded, target_codes
    from tessera.split._groups import group_labels
    from tessera.split._methods import split_labels

    classes = target = None
    if options["target"] is not None:
        values = rows[options["target"]]
        classes = target_codes(values)
        if classes is None:
            target = values.to_numpy(dtype=np.float64, na_value=np.nan)
    encoded = Encoded(points=cells.points(rows), classes=classes, target=target)
    strata = None
    if options["strata"] is not None:
        strata = _codes_of(rows[options["strata"]].to_numpy())
    sizes = np.asarray(counts, dtype=np.int64)
    if options["groups"] is None:
        labels = split_labels(encoded, sizes, method=options["method"], strata=strata, rng=rng)
    else:
        with warnings.catch_warnings():
            # A group larger than a cell's smallest part still goes to one part.
            warnings.simplefilter("ignore")
            labels = group_labels(
                encoded,
                _codes_of(rows[options["groups"]].to_numpy()),
                sizes,
                method=options["method"],
                strata=strata,
                rng=rng,
                large_groups="warn",
            )
    return [np.flatnonzero(labels == p) for p in range(sizes.size)]
