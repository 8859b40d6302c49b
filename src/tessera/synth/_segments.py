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

from tessera._validation import bad_value
from tessera.errors import InvalidInputError
from tessera.synth._marginals import DiscreteMarginal, _plain

if TYPE_CHECKING:
    from tessera.synth._columns import ColumnModel
    from tessera.synth._copula import GaussianCopula

__all__ = [
    "MIN_GAIN",
    "MIN_SEGMENT_ROWS",
    "choose_segment",
    "condition_likelihood",
    "fit_segments",
    "sample_segments",
]

# Segment only when a single copula would miss at least this share of variance on average.
MIN_GAIN = 0.03
# Every segment needs this many rows (and at most this many segments).
MIN_SEGMENT_ROWS = 30
# A column named by the caller may have smaller segments (each still a copula of its own).
MIN_REQUESTED_ROWS = 10
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
            fits = 2 <= counts.size <= MAX_SEGMENTS and counts.min() >= MIN_REQUESTED_ROWS
            return column.name if fits else None
        if not eligible or len(columns) < 3:
            continue
        codes = marginal.codes(data[column.name].to_numpy(dtype=object))
        gain = segment_gain(column, i, correlation, codes, scores, numeric)
        if gain > best_gain:
            best, best_gain = column.name, gain
    return best


def condition_likelihood(segments: list[list[ColumnModel]], values: dict[str, Any]) -> np.ndarray:
    """Likelihood of the fixed values under each segment (columns taken as independent).

    A probability and a density cannot be compared, so each column is scored on one
    scale across all segments: by the probability of exactly its value where at least
    one segment holds that value with positive probability (a category, a discrete
    number, or a continuous column's atom such as a value shared by many rows), and by
    the density otherwise. A segment that holds the value only as a density then gets
    likelihood 0 for it, which is its probability.
    """
    likelihood = np.ones(len(segments))
    for name, value in values.items():
        masses, densities = np.zeros(len(segments)), np.zeros(len(segments))
        for k, columns in enumerate(segments):
            column = next(c for c in columns if c.name == name)
            model_value = column.model_value(value)
            masses[k] = column.marginal.mass(model_value)
            densities[k] = column.marginal.density(model_value)
        likelihood *= masses if masses.max() > 0 else densities
    return likelihood


def fit_segments(model: GaussianCopula, data: pd.DataFrame, scores: dict[str, np.ndarray]) -> None:
    """Choose the segment column (if any) and fit one copula per category of it."""
    model.segment_by_ = None
    model.segments_ = []
    if model.segment_by not in (None, "auto") and model.segment_by not in model._index:
        raise bad_value(
            "segment_by",
            model.segment_by,
            "it must be None, 'auto' or a column of data",
            f"Use one of {list(model._index)}.",
        )
    name = choose_segment(data, model.columns_, model.correlation_, scores, model.segment_by)
    if name is None and model.segment_by not in (None, "auto"):
        raise bad_value(
            "segment_by",
            model.segment_by,
            "it must be a complete categorical column with 2 to 12 categories of at least "
            f"{MIN_REQUESTED_ROWS} rows each",
            "Pass 'auto' or None.",
        )
    if name is None:
        return
    column = next(c for c in data.columns if str(c) == name)
    segments = []
    for value, rows in data.groupby(column, sort=False, observed=True):
        # The segment's columns keep the kinds the whole table gave them.
        kinds = {k: v for k, v in model._inner_kinds.items() if k != name}
        sub = type(model)(
            max_discrete=model.max_discrete,
            shrinkage=model.shrinkage,
            segment_by=None,
            types=kinds,
            identifiers=model.identifiers,
            text=model.text,
            privacy=model.privacy,
        )
        try:
            sub.fit(rows.drop(columns=[column]))
        except InvalidInputError:
            return  # a column empty within a segment: keep the single copula
        segments.append((_plain(value), len(rows) / len(data), sub))
    model.segment_by_, model.segments_ = name, segments


def sample_segments(
    model: GaussianCopula, n: int, conditions: dict[str, Any], rng: np.random.Generator
) -> pd.DataFrame:
    """``n`` rows of a segmented model: each row draws its segment, then its values."""
    name = str(model.segment_by_)
    model._latent_conditions(conditions)  # validates names and values against the whole
    values = [v for v, _, _ in model.segments_]
    if name in conditions:
        wanted = conditions.pop(name)
        weights = np.array([float(v == wanted) for v in values])
    else:
        weights = np.array([w for _, w, _ in model.segments_])
        if conditions:
            weights = weights * condition_likelihood(
                [m.columns_ for _, _, m in model.segments_], conditions
            )
    if weights.sum() <= 0:
        raise bad_value(
            "conditions",
            conditions,
            "no segment of the model can produce them",
            "Condition on values seen together at fit time.",
        )
    # Each row draws its segment; each segment's rows are scattered to their places.
    labels = rng.choice(len(values), size=n, p=weights / weights.sum())
    positions, parts = [], []
    for k, (_, _, segment) in enumerate(model.segments_):
        rows = np.flatnonzero(labels == k)
        if rows.size:
            part = segment._sample_single(int(rows.size), conditions or None, rng)
            parts.append(part)
            positions.append(rows)
    order = np.concatenate(positions) if positions else np.zeros(0, dtype=np.intp)
    out: dict[str, Any] = {}
    for column in model.columns_:
        if column.name == name:
            out[name] = column.cast(pd.Series(np.asarray(values, dtype=object)[labels]))
            continue
        pieces = [part[column.name].to_numpy() for part in parts]
        stacked = np.concatenate(pieces) if pieces else np.zeros(0, dtype=object)
        scattered = np.empty_like(stacked)
        scattered[order] = stacked
        out[column.name] = column.cast(pd.Series(scattered))
    return pd.DataFrame(out)
