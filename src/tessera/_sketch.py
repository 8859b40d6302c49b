"""Mergeable column sketches: what one pass over a partition keeps of each column.

A :class:`ColumnSketch` holds a column's missing count, its exact value counts (up to
:data:`MAX_COUNTED` distinct values), and for numbers and dates the exact min and max
and a weighted quantile sketch: at most :data:`SKETCH_POINTS` points whose weights sum
to the rows seen. Two sketches merge by adding counts and compressing the union of the
points back to equally weighted weighted quantiles, so partitions are summarised in
parallel and merged in a tree. The synthesizer fits marginals from them and the
out-of-core splitter reports each part's columns from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MAX_COUNTED",
    "SKETCH_POINTS",
    "ColumnSketch",
    "merge_sketches",
    "sketch_cdf",
    "sketch_column",
]

#: Distinct values up to which a column's values are counted exactly.
MAX_COUNTED = 10_000
#: Points kept by a column's quantile sketch after each merge.
SKETCH_POINTS = 4_096


@dataclass
class ColumnSketch:
    """One column of one or more partitions."""

    missing: int = 0
    counts: dict[Any, int] | None = field(default_factory=dict)
    numeric: bool = False
    low: float = np.inf
    high: float = -np.inf
    points: np.ndarray = field(default_factory=lambda: np.zeros(0))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    decimals: int | None = 0


def _compress(points: np.ndarray, weights: np.ndarray, size: int) -> tuple[Any, Any]:
    """At most ``size`` equally weighted points with the same weighted quantiles."""
    order = np.argsort(points, kind="stable")
    points, weights = points[order], weights[order]
    if points.size <= size:
        return points, weights
    cumulative = np.cumsum(weights)
    total = cumulative[-1]
    targets = (np.arange(size) + 0.5) / size * total
    picked = points[np.searchsorted(cumulative, targets, side="left").clip(0, points.size - 1)]
    return picked, np.full(size, total / size)


def sketch_column(series: pd.Series) -> ColumnSketch:
    from tessera.synth._columns import decimals_of

    missing = series.isna().to_numpy()
    present = series[~missing]
    sketch = ColumnSketch(missing=int(missing.sum()))
    kind = series.dtype.kind
    if kind in "iufM" and not pd.api.types.is_bool_dtype(series.dtype):
        if kind == "M":
            naive = present.dt.tz_localize(None) if present.dt.tz is not None else present
            values = naive.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
        else:
            values = present.to_numpy(dtype=float)
        sketch.numeric = True
        if values.size:
            sketch.low, sketch.high = float(values.min()), float(values.max())
            sketch.points, sketch.weights = _compress(values, np.ones(values.size), SKETCH_POINTS)
            sketch.decimals = decimals_of(values) if kind == "f" else 0
        keys = values
    else:
        keys = present.to_numpy(dtype=object)
    counted = pd.Series(keys).value_counts(sort=False)  # mixed types welcome, unlike np.unique
    if counted.size > MAX_COUNTED:
        sketch.counts = None
    else:
        sketch.counts = {_plain(u): int(c) for u, c in counted.items()}
    return sketch


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def merge_sketches(a: ColumnSketch, b: ColumnSketch) -> ColumnSketch:
    out = ColumnSketch(missing=a.missing + b.missing, numeric=a.numeric and b.numeric)
    if a.counts is None or b.counts is None:
        out.counts = None
    else:
        merged = dict(a.counts)
        for key, count in b.counts.items():
            merged[key] = merged.get(key, 0) + count
        out.counts = merged if len(merged) <= MAX_COUNTED else None
    if out.numeric:
        out.low, out.high = min(a.low, b.low), max(a.high, b.high)
        out.points, out.weights = _compress(
            np.concatenate([a.points, b.points]),
            np.concatenate([a.weights, b.weights]),
            SKETCH_POINTS,
        )
        out.decimals = None if None in (a.decimals, b.decimals) else max(a.decimals, b.decimals)  # type: ignore[type-var]
    return out


def sketch_cdf(sketch: ColumnSketch, at: np.ndarray) -> np.ndarray:
    """The sketch's empirical CDF at ``at`` (share of non-missing values <= each)."""
    if sketch.points.size == 0:
        return np.zeros(np.shape(at))
    cumulative = np.cumsum(sketch.weights)
    index = np.searchsorted(sketch.points, at, side="right")
    below = np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0.0)
    return np.asarray(below / cumulative[-1], dtype=float)
