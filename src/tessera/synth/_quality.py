"""How close a synthetic table is to the real one: shapes, pair trends, coverage, ML efficacy.

The scores follow the definitions of SDMetrics' QualityReport (so that the two can be
compared), computed here from scratch with numpy: every score is in [0, 1], 1 is best.

- column shape: ``1 - KS statistic`` (numbers, datetimes), ``1 - total variation
  distance`` (categories);
- pair trend: ``1 - |corr_real - corr_synth| / 2`` (two numeric columns, Pearson), else
  ``1 - TVD`` of the two contingency tables (numbers cut into ten equal-width bins of
  the real range; SDMetrics bins each table on its own range, so its scores differ a little);
- coverage: share of the real range covered (numbers), share of real categories seen;
- ML efficacy: a gradient-boosted model trained on synthetic rows and tested on held-out
  real rows, against the same model trained on real rows;
- privacy, when a holdout is given (real rows the model never saw): exact copies, DCR,
  the distance-attack AUC and the minimum distance (:mod:`tessera.synth._privacy`).

Columns are typed by the shared typing layer: dates written as text are compared as
dates; identifier and free-text columns are not scored (listed in ``ignored``), and the
share of synthetic keys that are real keys is reported (``identifier_copies``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tessera._validation import bad_value, short_repr
from tessera.errors import InvalidTypeError

__all__ = ["QualityReport", "quality_report"]

# Small boosted models: ML efficacy compares two fits, it does not need the best one.
_BOOSTING: dict[str, Any] = {"max_iter": 40, "max_leaf_nodes": 15, "early_stopping": False}
# Rows used to train each model (a random subset beyond this).
_MAX_TRAIN = 5000


def _is_numeric(series: pd.Series) -> bool:
    return bool(
        (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series))
        or pd.api.types.is_datetime64_any_dtype(series.dtype)
    )


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        present = series.dropna()
        return np.asarray(present.astype("int64").to_numpy(dtype=float))
    return np.asarray(series.dropna().to_numpy(dtype=float))


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0 or b.size == 0:
        return 1.0
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _tvd(a: pd.Series, b: pd.Series) -> float:
    fa = a.astype(str).value_counts(normalize=True)
    fb = b.astype(str).value_counts(normalize=True)
    both = fa.index.union(fb.index)
    return float(
        0.5 * np.abs(fa.reindex(both, fill_value=0) - fb.reindex(both, fill_value=0)).sum()
    )


def _binned(series: pd.Series, edges: np.ndarray | None) -> pd.Series:
    if edges is None:
        return series.astype(str)
    values = pd.Series(np.full(series.shape[0], np.nan), index=series.index)
    present = series.notna()
    values[present] = np.searchsorted(edges, _as_float(series), side="right")
    return values.astype(str)


@dataclass
class QualityReport:
    """Scores of one synthetic table against the real one (all in [0, 1], 1 is best).

    Attributes
    ----------
    column_shapes : pandas.DataFrame
        ``column, metric, score`` per column.
    pair_trends : pandas.DataFrame
        ``column_1, column_2, metric, real, synthetic, score`` per pair of columns.
    coverage : pandas.DataFrame
        ``column, metric, score`` per column.
    ml_efficacy : dict or None
        ``target, task, metric, train_real, train_synthetic, ratio`` (or None when
        no target was usable).
    real, synthetic : pandas.DataFrame
        The compared tables (kept for the figures of :meth:`to_html`).
    ignored : dict
        ``{column: why}`` for the columns not scored (identifiers, free text).
    identifier_copies : dict
        ``{identifier column: share of synthetic keys that are real keys}``.
    privacy : dict or None
        With a holdout: ``exact_copy_rate``, ``holdout_copy_rate`` (the natural rate),
        ``dcr_closer_to_train`` (0.5 is no memorisation), ``distance_attack_auc``
        (0.5 is no leak), ``median_dcr_train``, ``median_dcr_holdout``,
        ``min_distance``.
    """

    column_shapes: pd.DataFrame
    pair_trends: pd.DataFrame
    coverage: pd.DataFrame
    ml_efficacy: dict[str, Any] | None
    real: pd.DataFrame = field(repr=False)
    synthetic: pd.DataFrame = field(repr=False)
    ignored: dict[str, str] = field(default_factory=dict)
    identifier_copies: dict[str, float] = field(default_factory=dict)
    privacy: dict[str, float] | None = None

    @property
    def scores(self) -> dict[str, float]:
        """Mean score of each property and the overall score (shapes and trends, as SDMetrics)."""
        shapes = float(self.column_shapes["score"].mean())
        trends = float(self.pair_trends["score"].mean()) if len(self.pair_trends) else shapes
        out = {
            "column_shapes": shapes,
            "pair_trends": trends,
            "coverage": float(self.coverage["score"].mean()),
        }
        if self.ml_efficacy is not None:
            out["ml_efficacy"] = float(self.ml_efficacy["ratio"])
        out["overall"] = (shapes + trends) / 2.0
        return out

    def summary(self) -> str:
        """A few plain lines for a terminal."""
        scores = self.scores
        lines = [
            f"overall quality {scores['overall']:.3f} (column shapes "
            f"{scores['column_shapes']:.3f}, pair trends {scores['pair_trends']:.3f})",
            f"coverage {scores['coverage']:.3f}",
        ]
        worst = self.column_shapes.nsmallest(3, "score")
        lines.append(
            "weakest columns: " + ", ".join(f"{r.column} {r.score:.3f}" for r in worst.itertuples())
        )
        if self.ml_efficacy is not None:
            ml = self.ml_efficacy
            lines.append(
                f"ML efficacy ({ml['task']} of {ml['target']!r}, {ml['metric']}): trained on real "
                f"{ml['train_real']:.3f}, on synthetic {ml['train_synthetic']:.3f} "
                f"(ratio {ml['ratio']:.3f})"
            )
        lines.extend(privacy_lines(self))
        return "\n".join(lines)

    def __rich__(self) -> Any:
        from rich.table import Table

        table = Table(title="Synthetic data quality", show_edge=False)
        table.add_column("property")
        table.add_column("score", justify="right")
        for name, value in self.scores.items():
            table.add_row(name.replace("_", " "), f"{value:.3f}")
        return table

    def to_html(self, *, title: str = "Synthetic data quality", full_page: bool = True) -> str:
        """A self-contained HTML page (or fragment): scores, histograms, heatmaps."""
        from tessera.synth._quality_html import report_html

        return report_html(self, title=title, full_page=full_page)

    def save_html(self, path: str | Path, *, title: str = "Synthetic data quality") -> Path:
        """Write :meth:`to_html` to ``path`` and return it."""
        target = Path(path)
        target.write_text(self.to_html(title=title), encoding="utf-8")
        return target


def quality_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    target: str | None = None,
    ml_efficacy: bool = True,
    random_state: int = 0,
    holdout: pd.DataFrame | None = None,
    types: dict[str, str] | None = None,
) -> QualityReport:
    """Compare a synthetic table with the real one it imitates.

    Parameters
    ----------
    real, synthetic : pandas.DataFrame
        The same columns (the synthetic table may have any number of rows).
    target : str, optional
        Column to predict for ML efficacy; default: the last column.
    ml_efficacy : bool, default=True
        Compute ML efficacy (a few gradient-boosted fits).
    random_state : int, default=0
        Seed of the train/test split and the models.
    holdout : pandas.DataFrame, optional
        Real rows the synthesizer never saw, with the same columns: adds the privacy
        metrics (``QualityReport.privacy``), each read against this holdout.
    types : dict, optional
        ``{column: kind}`` overriding the detected kinds of ``real``'s columns
        (see ``tessera._tables.infer_types``).

    Returns
    -------
    QualityReport

    Examples
    --------
    >>> import pandas as pd
    >>> real = pd.DataFrame({"x": range(50), "c": ["a", "b"] * 25})
    >>> round(quality_report(real, real, ml_efficacy=False).scores["overall"], 3)
    1.0
    """
    for name, frame in (("real", real), ("synthetic", synthetic)):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidTypeError(
                f"{name}={short_repr(frame)} is invalid: it must be a pandas DataFrame. "
                "Pass the tables as DataFrames."
            )
        if len(frame) < 2:
            raise bad_value(
                name, f"{len(frame)} rows", "it needs at least 2 rows", "Pass more rows."
            )
    if list(real.columns) != list(synthetic.columns):
        raise bad_value(
            "synthetic.columns",
            list(synthetic.columns),
            f"they must equal real's {list(real.columns)}",
            "Select and order the synthetic columns like the real ones.",
        )
    if target is not None and target not in real.columns:
        raise bad_value(
            "target", target, "it must be a column of real", f"Use one of {list(real.columns)}."
        )
    if holdout is not None and (
        not isinstance(holdout, pd.DataFrame) or list(holdout.columns) != list(real.columns)
    ):
        raise bad_value(
            "holdout",
            short_repr(holdout),
            f"it must be a DataFrame with real's columns {list(real.columns)}",
            "Pass real rows kept out of the fit, with the same columns.",
        )
    from tessera._tables import apply_types, infer_types

    kinds = infer_types(real, types)
    ignored = {
        c.name: f"{c.kind} ({c.reason})" for c in kinds.columns if c.kind in ("identifier", "text")
    }
    copies = {
        name: _shared_share(real[_column(real, name)], synthetic[_column(real, name)])
        for name in kinds.of("identifier")
    }
    kept = [c for c in real.columns if str(c) not in ignored]
    real = apply_types(real, kinds)[kept]
    synthetic = apply_types(synthetic, kinds)[kept]
    privacy = None
    if holdout is not None:
        from tessera.synth._privacy import privacy_metrics

        held = apply_types(holdout, kinds)[kept]
        privacy = privacy_metrics(real, synthetic, held, random_state=random_state)
    if target is not None and str(target) in ignored:
        target = None
    numeric = {c: _is_numeric(real[c]) for c in real.columns}
    shapes, coverage, edges = [], [], {}
    for c in real.columns:
        if numeric[c]:
            r, s = _as_float(real[c]), _as_float(synthetic[c])
            shapes.append((c, "KSComplement", 1.0 - _ks_statistic(r, s)))
            lo, hi = (r.min(), r.max()) if r.size else (0.0, 0.0)
            if s.size and hi > lo:
                covered = (min(hi, s.max()) - max(lo, s.min())) / (hi - lo)
            else:
                covered = 1.0 if s.size else 0.0
            coverage.append((c, "RangeCoverage", float(np.clip(covered, 0.0, 1.0))))
            # Ten equal-width bins of the real range, as SDMetrics discretises.
            edges[c] = np.histogram_bin_edges(r, bins=10) if r.size else None
        else:
            shapes.append((c, "TVComplement", 1.0 - _tvd(real[c], synthetic[c])))
            seen = set(synthetic[c].dropna().astype(str))
            categories = set(real[c].dropna().astype(str))
            coverage.append(
                (c, "CategoryCoverage", len(categories & seen) / max(len(categories), 1))
            )
            edges[c] = None
    trends = []
    columns = list(real.columns)
    for i, a in enumerate(columns):
        for b in columns[i + 1 :]:
            if numeric[a] and numeric[b]:
                cr = _pearson(real, a, b)
                cs = _pearson(synthetic, a, b)
                trends.append((a, b, "CorrelationSimilarity", cr, cs, 1.0 - abs(cr - cs) / 2.0))
            else:
                rt = _binned(real[a], edges[a]) + "|" + _binned(real[b], edges[b])
                st = _binned(synthetic[a], edges[a]) + "|" + _binned(synthetic[b], edges[b])
                trends.append((a, b, "ContingencySimilarity", np.nan, np.nan, 1.0 - _tvd(rt, st)))
    ml = _ml_efficacy(real, synthetic, target or columns[-1], random_state) if ml_efficacy else None
    return QualityReport(
        column_shapes=pd.DataFrame(shapes, columns=["column", "metric", "score"]),
        pair_trends=pd.DataFrame(
            trends, columns=["column_1", "column_2", "metric", "real", "synthetic", "score"]
        ),
        coverage=pd.DataFrame(coverage, columns=["column", "metric", "score"]),
        ml_efficacy=ml,
        real=real,
        synthetic=synthetic,
        ignored=ignored,
        identifier_copies=copies,
        privacy=privacy,
    )


def _column(frame: pd.DataFrame, name: str) -> Any:
    return next(c for c in frame.columns if str(c) == name)


def _shared_share(real: pd.Series, synthetic: pd.Series) -> float:
    """Share of the synthetic column's values that are values of the real column."""
    present = synthetic.dropna().astype(str)
    if present.empty:
        return 0.0
    return float(present.isin(set(real.dropna().astype(str))).mean())


def privacy_lines(report: QualityReport) -> list[str]:
    """Plain lines on identifiers and privacy (empty when there is nothing to say)."""
    lines = []
    for name, why in report.ignored.items():
        lines.append(f"not scored: {name} -- {why}")
    for name, share in report.identifier_copies.items():
        lines.append(f"real keys among the synthetic {name!r}: {share:.1%}")
    if report.privacy is not None:
        p = report.privacy
        lines.append(
            f"privacy against the holdout: exact copies {p['exact_copy_rate']:.2%} "
            f"(holdout rows {p['holdout_copy_rate']:.2%}), closer to a training row than to "
            f"a holdout row {p['dcr_closer_to_train']:.1%} (0.5 is no memorisation), "
            f"distance-attack AUC {p['distance_attack_auc']:.3f} (0.5 is no leak), "
            f"minimum distance to a training row {p['min_distance']:.3g}"
        )
    return lines


def _pearson(frame: pd.DataFrame, a: str, b: str) -> float:
    both = frame[[a, b]].dropna()
    x = both[a].astype("int64") if both[a].dtype.kind == "M" else both[a]
    y = both[b].astype("int64") if both[b].dtype.kind == "M" else both[b]
    x, y = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def _encode(frame: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    columns = []
    for c in frame.columns:
        if _is_numeric(reference[c]):
            col = frame[c]
            if col.dtype.kind == "M":
                col = col.astype("int64")
            columns.append(pd.to_numeric(col, errors="coerce").to_numpy(dtype=float))
        else:
            categories = pd.Index(sorted(reference[c].dropna().astype(str).unique()))
            codes = categories.get_indexer(frame[c].astype(str)).astype(float)
            codes[codes < 0] = np.nan
            columns.append(codes)
    return np.column_stack(columns) if columns else np.zeros((len(frame), 0))


def _ml_efficacy(
    real: pd.DataFrame, synthetic: pd.DataFrame, target: str, seed: int
) -> dict[str, Any] | None:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import f1_score, r2_score

    features = [c for c in real.columns if c != target]
    real_rows = real[real[target].notna()]
    synth_rows = synthetic[synthetic[target].notna()]
    if not features or len(real_rows) < 20 or len(synth_rows) < 10:
        return None
    numeric_target = _is_numeric(real[target]) and real[target].nunique() > 10
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(real_rows))
    cut = int(0.7 * len(order))
    train, test = real_rows.iloc[order[:cut]], real_rows.iloc[order[cut:]]
    X_test = _encode(test[features], real)

    def fit_score(rows: pd.DataFrame) -> float:
        if len(rows) > _MAX_TRAIN:
            rows = rows.iloc[np.sort(rng.choice(len(rows), _MAX_TRAIN, replace=False))]
        X = _encode(rows[features], real)
        if numeric_target:
            model = HistGradientBoostingRegressor(**_BOOSTING, random_state=seed)
            model.fit(X, rows[target].to_numpy(dtype=float))
            return float(r2_score(test[target].to_numpy(dtype=float), model.predict(X_test)))
        labels = rows[target].astype(str).to_numpy()
        if np.unique(labels).size < 2:
            return 0.0
        classifier = HistGradientBoostingClassifier(**_BOOSTING, random_state=seed)
        classifier.fit(X, labels)
        predicted = classifier.predict(X_test)
        return float(
            f1_score(test[target].astype(str), predicted, average="macro", zero_division=0)
        )

    from threadpoolctl import threadpool_limits

    # One thread: on small tables OpenMP's start-up costs more than the fit.
    with threadpool_limits(limits=1, user_api="openmp"):
        on_real = fit_score(train)
        on_synth = fit_score(synth_rows)
    if on_real > 0:
        ratio = float(np.clip(on_synth / on_real, 0.0, 1.0))
    else:  # the real rows teach nothing either: synthetic rows lose nothing if as good
        ratio = 1.0 if on_synth >= on_real else 0.0
    return {
        "target": target,
        "task": "regression" if numeric_target else "classification",
        "metric": "R^2" if numeric_target else "macro F1",
        "train_real": on_real,
        "train_synthetic": on_synth,
        "ratio": ratio,
    }
