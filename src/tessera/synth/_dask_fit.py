"""``GaussianCopula.fit`` on a Dask DataFrame or a partitioned Parquet dataset.

Two reads of the data, each a map over the partitions and a tree of merges:

1. *sketches*: per partition its row count, each column's missing count, exact value
   counts (up to :data:`MAX_COUNTED` distinct values), the exact min and max and a
   weighted quantile sketch of each numeric or date column, and a bottom-k sample of the
   rows (each row's key a seeded uniform number, the ``sample_rows`` smallest kept: a
   uniform sample without replacement, mergeable across partitions);
2. *normal scores*: with the marginals fixed, each partition's normal-score products
   ``S^T S`` and pairwise-observed counts ``M^T M``, summed; the latent correlation is
   computed from the sums exactly as in memory.

Between them, the ordinary in-memory fit runs on the sample (column kinds, generated
columns, constraints, the order of categories on the latent line, segments), and then
every plain column's marginal is rebuilt from the whole data: category and discrete
frequencies from exact counts, continuous quantiles from the merged sketch with the
true min and max, missing rates from exact counts. Segments (one copula per category)
and privacy-mode marginals stay those fitted on the sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tessera._sketch import ColumnSketch, merge_sketches, sketch_column
from tessera._validation import bad_value, check_positive_int

if TYPE_CHECKING:
    from tessera.synth._copula import GaussianCopula

__all__ = ["as_dask_frame", "fit_dask"]

_KEY = "__tessera_sample_key"


@dataclass
class Summary:
    """Row count, bottom-k sample and column sketches of one or more partitions."""

    rows: int
    sample: pd.DataFrame
    columns: dict[str, ColumnSketch]


def as_dask_frame(data: Any) -> Any:
    """A Dask DataFrame for a Dask DataFrame or a Parquet path (a folder, file or glob)."""
    from tessera._dask import require_dask

    require_dask("dask")
    dd = require_dask("dask.dataframe")
    if isinstance(data, str | Path):
        path = str(data)
        remote = "://" in path  # s3://, gs://, hdfs://: read by Dask's file systems
        if not (remote or Path(path).exists() or any(ch in path for ch in "*?[")):
            raise bad_value(
                "data",
                path,
                "no such file or folder",
                "Pass a Parquet dataset (a folder of .parquet files) or a Dask DataFrame.",
            )
        if Path(path).is_file() and not path.lower().endswith(".parquet"):
            raise bad_value(
                "data",
                path,
                "a path given to fit is read as a Parquet dataset",
                "Pass a .parquet file or a folder of them, or read the file into a "
                "DataFrame first (tessera._tables.read_table reads CSV, Excel, JSON lines).",
            )
        return dd.read_parquet(path)
    return data


def is_dask_frame(data: Any) -> bool:
    """True for a Dask DataFrame (checked without importing Dask)."""
    return type(data).__module__.startswith("dask") and hasattr(data, "to_delayed")


def _summarise(part: pd.DataFrame, index: int, seed: int, sample_rows: int) -> Summary:
    keys = np.random.default_rng([seed, index]).random(len(part))
    keep = np.argsort(keys, kind="stable")[:sample_rows]
    sample = part.iloc[keep].copy()
    sample[_KEY] = keys[keep]
    columns = {str(c): sketch_column(part[c]) for c in part.columns}
    return Summary(rows=len(part), sample=sample, columns=columns)


def _merge(summaries: list[Summary], sample_rows: int) -> Summary:
    sample = pd.concat([s.sample for s in summaries])
    sample = sample.sort_values(_KEY, kind="stable").iloc[:sample_rows]
    columns = dict(summaries[0].columns)
    for other in summaries[1:]:
        columns = {name: merge_sketches(columns[name], other.columns[name]) for name in columns}
    return Summary(sum(s.rows for s in summaries), sample, columns)


def _tree(items: list[Any], combine: Any, fan_in: int = 8) -> Any:
    """Merge delayed items in a tree of ``fan_in``-way merges (bounded memory per merge)."""
    dask = _dask()

    while len(items) > 1:
        items = [dask.delayed(combine)(items[i : i + fan_in]) for i in range(0, len(items), fan_in)]
    return items[0]


def _moments(part: pd.DataFrame, document: dict[str, Any]) -> tuple[Any, Any]:
    """``S^T S`` and ``M^T M`` of one partition's normal scores under a fitted copula."""
    from tessera._tables import apply_types
    from tessera.synth._constraints import fit_constraints
    from tessera.synth._copula import GaussianCopula, _scores

    model = GaussianCopula.from_dict(document)
    typed = apply_types(part, model.types_) if model.types_ is not None else part
    kinds = model.types_.kinds() if model.types_ is not None else {}
    names = [c.name for c in model.columns_]
    raw = [c for c in typed.columns if str(c) in names or _is_constraint_input(model, str(c))]
    inner, _ = fit_constraints(typed[raw], kinds, model.constraints)
    pairs = [_scores(c, inner[_column(inner, c.name)]) for c in model.columns_]
    scores = np.column_stack([s for s, _ in pairs])
    observed = np.column_stack([m for _, m in pairs]).astype(float)
    return scores.T @ scores, observed.T @ observed


def _is_constraint_input(model: GaussianCopula, name: str) -> bool:
    return any(name == c.rule.target or name in c.rule.inputs for c in model.constraints_)


def _column(frame: pd.DataFrame, name: str) -> Any:
    return next(c for c in frame.columns if str(c) == name)


def _sum_pairs(pairs: list[tuple[Any, Any]]) -> tuple[Any, Any]:
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def fit_dask(
    model: GaussianCopula, data: Any, *, sample_rows: int = 100_000, seed: int = 0
) -> GaussianCopula:
    """Fit ``model`` to a Dask DataFrame or Parquet dataset (see the module notes)."""
    dask = _dask()

    sample_rows = check_positive_int("sample_rows", sample_rows, minimum=2)
    frame = as_dask_frame(data)
    parts = frame.to_delayed()
    summaries = [
        dask.delayed(_summarise)(part, i, seed, sample_rows) for i, part in enumerate(parts)
    ]
    summary: Summary = dask.compute(_tree(summaries, lambda group: _merge(group, sample_rows)))[0]
    sample = summary.sample.drop(columns=[_KEY]).reset_index(drop=True)
    model.fit(sample)
    _widen_marginals(model, summary)
    document = model.to_dict()
    moments = [dask.delayed(_moments)(part, document) for part in parts]
    products, counts = dask.compute(_tree(moments, _sum_pairs))[0]
    model.correlation_ = model._correlation_from_moments(products, counts)
    model.n_rows_ = summary.rows
    model._prepare()
    return model


def _dask() -> Any:
    from tessera._dask import require_dask

    return require_dask("dask")


def _widen_marginals(model: GaussianCopula, summary: Summary) -> None:
    """Rebuild each plain column's marginal and missing rate from the whole data."""
    from tessera.synth._marginals import ContinuousMarginal, DiscreteMarginal

    derived = {c.rule.target for c in model.constraints_}
    kinds = model.types_.kinds() if model.types_ is not None else {}
    for column in model.columns_:
        sketch = summary.columns.get(column.name)
        if (
            sketch is None
            or column.name in derived
            or kinds.get(column.name, "").startswith("datetime:")
        ):
            continue  # a column the fit made (or parsed from text): keep the sample's
        column.missing_rate = sketch.missing / max(summary.rows, 1)
        if model.privacy:
            continue
        marginal = column.marginal
        counts = sketch.counts
        numeric = column.logical in ("int", "float", "datetime")
        if numeric != sketch.numeric:
            continue
        if isinstance(marginal, DiscreteMarginal) and counts is not None:
            if numeric and len(counts) > model.max_discrete:
                column.marginal = _continuous(sketch, column.logical)
                continue
            known = [v for v in marginal.values if v in counts]
            unseen = sorted((v for v in counts if v not in set(known)), key=lambda v: -counts[v])
            values = known + unseen
            total = sum(counts[v] for v in values)
            column.marginal = DiscreteMarginal(
                values=values, probs=np.array([counts[v] / total for v in values])
            )
        elif isinstance(marginal, ContinuousMarginal) and numeric:
            column.marginal = _continuous(sketch, column.logical)


def _continuous(sketch: ColumnSketch, logical: str) -> Any:
    from tessera.synth._marginals import _MAX_KNOTS, _Z_CLIP, ContinuousMarginal, _probit

    cumulative = np.cumsum(sketch.weights)
    total = cumulative[-1]
    probs = (np.arange(_MAX_KNOTS) + 0.5) / _MAX_KNOTS
    mids = cumulative - sketch.weights / 2.0
    x_knots = np.interp(probs * total, mids, sketch.points)
    x_knots[0], x_knots[-1] = sketch.low, sketch.high
    z_knots = _probit(probs)
    z_knots[0], z_knots[-1] = -_Z_CLIP, _Z_CLIP
    decimals = 0 if logical in ("int", "datetime") else sketch.decimals
    return ContinuousMarginal(
        z_knots=z_knots, x_knots=np.maximum.accumulate(x_knots), decimals=decimals
    )
