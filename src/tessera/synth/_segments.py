"""Segments: one copula per category of a column whose dependence one latent line cannot hold.

A category enters a single Gaussian copula as an interval of one latent variable, so it
can only shift the other columns monotonically along its category order. A class whose
members differ in several directions at once (wine cultivars: the first high in alcohol
and proline, the second low in both, the third high in colour) loses most of its
association that way. For such a column the copula is fitted once per category and
sampled as a mixture with the category frequencies: every pair trend between the
category and the rest is then kept, and each segment keeps its own correlations.

:func:`segment_gain` measures what a single copula misses for a candidate column: the
mean, over numeric columns, of the between-category share of variance of their normal
scores (eta squared) minus the share the latent correlation reproduces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from tessera.synth._marginals import ContinuousMarginal, DiscreteMarginal

if TYPE_CHECKING:
    from tessera.synth._columns import ColumnModel

__all__ = ["MIN_GAIN", "MIN_SEGMENT_ROWS", "choose_segment", "condition_likelihood"]

# Segment only when a single copula would miss at least this share of variance on average.
MIN_GAIN = 0.03
# Every segment needs this many rows (and at most this many segments).
MIN_SEGMENT_ROWS = 30
MAX_SEGMENTS = 12


def segment_gain(
    column: ColumnModel,
    index: int,
    correlation: np.ndarray,
    codes: np.ndarray,
    scores: dict[str, np.ndarray],
    numeric: list[tuple[int, str]],
) -> float:
    """Mean share of the numeric scores' variance the category explains and the copula misses."""
    marginal = column.marginal
    assert isinstance(marginal, DiscreteMarginal)
    sd = marginal.score_sd()
    gains = []
    for j, name in numeric:
        s = scores[name]
        total = float(np.var(s))
        if total <= 1e-12:
            continue
        counts = np.bincount(codes, minlength=len(marginal.values)).astype(float)
        sums = np.bincount(codes, weights=s, minlength=len(marginal.values))
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        between = float(np.sum(counts * (means - s.mean()) ** 2) / counts.sum())
        captured = (correlation[index, j] * sd) ** 2
        gains.append(max(between / total - captured, 0.0))
    return float(np.mean(gains)) if gains else 0.0


def choose_segment(
    data: pd.DataFrame,
    columns: list[ColumnModel],
    correlation: np.ndarray,
    scores: dict[str, np.ndarray],
    requested: str | None,
) -> str | None:
    """The column to segment by: ``requested`` if a name, the best candidate if ``"auto"``."""
    if requested is None:
        return None
    numeric = [
        (j, c.name) for j, c in enumerate(columns) if c.logical in ("int", "float", "datetime")
    ]
    best, best_gain = None, MIN_GAIN
    for i, column in enumerate(columns):
        if requested != "auto" and column.name != requested:
            continue
        marginal = column.marginal
        if not isinstance(marginal, DiscreteMarginal):
            continue
        present = data[column.name].notna().to_numpy()
        if column.logical not in ("category", "bool") or not present.all():
            continue
        counts = data[column.name].value_counts()
        eligible = 2 <= counts.size <= MAX_SEGMENTS and counts.min() >= MIN_SEGMENT_ROWS
        if requested != "auto":
            return column.name if eligible else None
        if not eligible or len(columns) < 3:
            continue
        codes = marginal.codes(data[column.name].to_numpy(dtype=object))
        gain = segment_gain(column, i, correlation, codes, scores, numeric)
        if gain > best_gain:
            best, best_gain = column.name, gain
    return best


def condition_likelihood(columns: list[ColumnModel], values: dict[str, Any]) -> float:
    """Likelihood of the fixed values under one segment (columns taken as independent)."""
    by_name = {c.name: c for c in columns}
    likelihood = 1.0
    for name, value in values.items():
        column = by_name[name]
        marginal = column.marginal
        model_value = column.model_value(value)
        if isinstance(marginal, DiscreteMarginal):
            index = marginal._index.get(_key(model_value))
            likelihood *= 0.0 if index is None else float(marginal.probs[index])
        elif isinstance(marginal, ContinuousMarginal):
            likelihood *= _density(marginal, float(model_value))
    return likelihood


def _density(marginal: ContinuousMarginal, x: float) -> float:
    xs, zs = marginal.x_knots, marginal.z_knots
    if not xs[0] <= x <= xs[-1]:
        return 0.0
    k = int(np.clip(np.searchsorted(xs, x, side="right") - 1, 0, xs.size - 2))
    width = xs[k + 1] - xs[k]
    if width <= 0:
        return 1.0  # an atom of the empirical distribution: as likely as a value can be
    z = float(np.interp(x, xs, zs))
    return float(stats.norm.pdf(z) * (zs[k + 1] - zs[k]) / width)


def _key(value: Any) -> Any:
    from tessera.synth._marginals import _key as marginal_key

    return marginal_key(value)
