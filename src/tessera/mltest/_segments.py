"""Performance on user-declared priority segments, with a bootstrap interval per segment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera._validation import bad_value, check_in, check_positive_int, short_repr
from tessera.mltest._convert import as_array, n_rows
from tessera.mltest._failure import MLTestFailure, recorded
from tessera.mltest._metrics import resolve_metric

__all__ = ["SegmentScore", "assert_segment_performance"]


@dataclass(frozen=True)
class SegmentScore:
    """The score of one segment and its bootstrap confidence interval."""

    name: str
    size: int
    score: float
    low: float
    high: float
    min_score: float
    passed: bool

    def __str__(self) -> str:
        return (
            f"{self.name!r} ({self.size} rows): {self.score:.4g} "
            f"[{self.low:.4g}, {self.high:.4g}] vs {self.min_score:g}"
        )


def _mask_of(name: str, spec: Any, X: Any, rows: int) -> np.ndarray:
    if callable(spec):
        spec = spec(X)
    if isinstance(spec, Mapping):
        if not (hasattr(X, "iloc") and hasattr(X, "columns")):
            raise bad_value(
                f"segments[{name!r}]",
                spec,
                "column == value segments need X to be a DataFrame",
                "Pass a boolean mask or a callable instead.",
            )
        mask = np.ones(rows, dtype=bool)
        for column, value in spec.items():
            if column not in X.columns:
                raise bad_value(
                    f"segments[{name!r}]",
                    spec,
                    f"no such column {column!r}",
                    "Use the column names of X.",
                )
            mask &= np.asarray(X[column] == value)
        return mask
    mask = as_array(spec, f"segments[{name!r}]")
    if mask.dtype != bool or mask.shape != (rows,):
        raise bad_value(
            f"segments[{name!r}]",
            spec,
            f"a segment is a boolean mask of {rows} rows, "
            "a {column: value} dict, or a callable X -> mask",
            "Pass e.g. X['age'] > 60 or {'country': 'FR'}.",
        )
    return mask


@recorded("assert_segment_performance")
def assert_segment_performance(
    predict: Callable[[Any], Any],
    X: Any,
    y: Any,
    segments: Mapping[str, Any],
    *,
    metric: Any = "accuracy",
    min_score: float | Mapping[str, float],
    min_size: int = 30,
    confidence: float = 0.95,
    n_bootstrap: int = 500,
    require: str = "score",
    seed: int = 0,
) -> list[SegmentScore]:
    """Assert that the model scores well enough on every priority segment.

    Each segment's rows are scored, and a percentile bootstrap (``n_bootstrap``
    resamples of the segment's rows) gives a confidence interval. A segment
    smaller than ``min_size`` fails on its own: its score cannot be trusted.

    Parameters
    ----------
    predict : callable
        ``predict(X) -> predictions``, called once on all of ``X``.
    X : 2-D array, DataFrame or tensor
        The evaluation inputs.
    y : array-like, Series or tensor
        The true targets.
    segments : mapping of str to mask, dict or callable
        Name to segment: a boolean mask over the rows, ``{column: value, ...}``
        (rows where every column equals its value; X a DataFrame), or
        ``callable(X) -> mask``.
    metric : str or callable, default="accuracy"
        As in :func:`assert_can_overfit` (``"mse"``/``"mae"``: ``min_score`` is a maximum).
    min_score : float or mapping of str to float
        The bar, one for all segments or one per segment name.
    min_size : int, default=30
        Fewest rows a segment may have.
    confidence : float, default=0.95
        Level of the bootstrap interval.
    n_bootstrap : int, default=500
        Bootstrap resamples per segment.
    require : {"score", "lower_bound"}, default="score"
        ``"score"``: the segment's score must meet the bar; ``"lower_bound"``:
        the whole interval must (the cautious choice for small segments).
    seed : int, default=0
        Seed of the bootstrap.

    Returns
    -------
    list of SegmentScore
        One per segment, in the order given.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import assert_segment_performance
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2)); y = (X[:, 0] > 0).astype(int)
    >>> def predict(X):
    ...     return (X[:, 0] > 0).astype(int)
    >>> scores = assert_segment_performance(predict, X, y, {"x1 high": X[:, 1] > 0.5,
    ...     "x1 low": lambda X: X[:, 1] < -0.5}, min_score=0.9)
    >>> [s.score for s in scores]
    [1.0, 1.0]
    """
    score_of = resolve_metric(metric)
    check_in("require", require, ("score", "lower_bound"))
    min_size = check_positive_int("min_size", min_size)
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap, minimum=10)
    if not 0 < confidence < 1:
        raise bad_value("confidence", confidence, "it must lie in (0, 1)", "Pass e.g. 0.95.")
    if not isinstance(segments, Mapping) or not segments:
        raise bad_value(
            "segments",
            segments,
            "it must be a non-empty mapping name -> segment",
            "Pass e.g. {'over 60': X['age'] > 60}.",
        )
    if isinstance(min_score, Mapping):
        missing = [name for name in segments if name not in min_score]
        if missing:
            raise bad_value(
                "min_score",
                min_score,
                f"no bar for segment(s) {missing}",
                "Give every segment a bar, or pass one float.",
            )
    rows = n_rows(X, "X")
    y_true = as_array(y, "y")
    if y_true.shape[0] != rows:
        raise bad_value(
            "y",
            short_repr(y),
            f"it must have one target per row of X ({rows})",
            "Pass X and y of the same length.",
        )
    y_pred = as_array(predict(X), "predict(X)")
    if y_pred.shape[0] != rows:
        raise bad_value(
            "predict",
            predict,
            f"it returned {y_pred.shape[0]} predictions for {rows} rows",
            "Return one prediction per row.",
        )
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    results: list[SegmentScore] = []
    problems: list[str] = []
    for name, spec in segments.items():
        mask = _mask_of(name, spec, X, rows)
        bar = float(min_score[name] if isinstance(min_score, Mapping) else min_score)
        index = np.flatnonzero(mask)
        size = int(index.size)
        if size < min_size:
            results.append(SegmentScore(name, size, np.nan, np.nan, np.nan, bar, False))
            problems.append(
                f"segment {name!r} has {size} rows, fewer than min_size={min_size}: "
                "its score cannot be trusted (add data or merge segments)"
            )
            continue
        score = score_of.fn(y_true[index], y_pred[index])
        draws = rng.integers(0, size, size=(n_bootstrap, size))
        boot = np.array([score_of.fn(y_true[index[d]], y_pred[index[d]]) for d in draws])
        low, high = (float(v) for v in np.quantile(boot, [alpha, 1 - alpha]))
        judged = score if require == "score" else (low if score_of.higher_is_better else high)
        passed = score_of.passes(judged, bar)
        results.append(SegmentScore(name, size, score, low, high, bar, passed))
        if not passed:
            what = "score" if require == "score" else f"{confidence:.0%} bound"
            problems.append(
                f"segment {name!r} ({size} rows): {score_of.name} {score:.4g} "
                f"[{confidence:.0%} CI {low:.4g}-{high:.4g}], {what} misses "
                f"{score_of.rule(bar)}"
            )
    if not problems:
        return results
    failing = [r for r in results if not r.passed]
    raise MLTestFailure(
        "assert_segment_performance",
        expected=f"every segment's {'score' if require == 'score' else 'interval'} to meet "
        f"{score_of.name} bar(s) with at least {min_size} rows",
        measured=f"{len(failing)} of {len(results)} segments fail: " + "; ".join(problems),
        where="segments " + ", ".join(repr(r.name) for r in failing),
        details={"scores": results},
    )
