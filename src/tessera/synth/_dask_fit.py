"""``GaussianCopula.fit`` on a Dask DataFrame or a partitioned Parquet dataset.

One read of the data: a map over the partitions and a tree of merges. Per partition:

- *sketches*: its row count, each column's missing count, exact value counts (up to
  :data:`MAX_COUNTED` distinct values), the exact min and max and a weighted quantile
  sketch of each numeric or date column, and a bottom-k sample of the rows (each row's
  key a seeded uniform number, the ``sample_rows`` smallest kept: a uniform sample
  without replacement, mergeable across partitions);
- *normal-score moments before the marginals* (:class:`Latent`): the latent
  correlation needs each row's normal score under the *final* marginals, which only
  the merged sketches give. So each column is written on a basis of functions of its
  value that the partition fixes by itself (an indicator per distinct value where
  there are at most 64, else 33 piecewise-linear hats over the partition's own normal
  scores of its ranks), and the partition keeps ``B^T B`` of that basis. Once the
  marginals are known, each basis function gets its score and the partition's
  ``S^T S`` is ``A^T (B^T B) A``: exact for columns of few values, and for the others
  off only by the linear interpolation between neighbouring knots of a function that
  is close to the identity (the final score as a function of the local one). These
  small matrices stay on the workers (``dask.persist``) until the marginals are known.

Between the two steps, the ordinary in-memory fit runs on the sample (column kinds,
generated columns, constraints, the order of categories on the latent line, segments),
and then every plain column's marginal is rebuilt from the whole data: category and
discrete frequencies from exact counts, continuous quantiles from the merged sketch with
the true min and max, missing rates from exact counts. The correlation of plain columns
comes from every row; pairs with a column the fit makes or parses (constraint targets
and inputs, dates stored as text, text of more than 64 distinct values in a partition)
come from the sample's normal scores. Segments (one copula per category) and
privacy-mode marginals stay those fitted on the sample.
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


def _summarise(
    part: pd.DataFrame, index: int, seed: int, sample_rows: int
) -> tuple[Summary, Latent]:
    keys = np.random.default_rng([seed, index]).random(len(part))
    keep = np.argsort(keys, kind="stable")[:sample_rows]
    sample = part.iloc[keep].copy()
    sample[_KEY] = keys[keep]
    columns = {str(c): sketch_column(part[c]) for c in part.columns}
    return Summary(rows=len(part), sample=sample, columns=columns), _latent(part)


@dataclass
class Latent:
    """A partition's normal-score moments, before the marginals are known.

    Each covered column is written on a basis of functions of its value that the
    partition fixes by itself: one indicator per distinct value where it has at most
    :data:`_MAX_VALUES` of them, else :data:`_KNOTS` piecewise-linear hats over the
    partition's own normal scores of its ranks (``Phi^-1((rank - 1/2) / n)``), knot ``k``
    standing for the value at that local rank. Any function of the value, the final
    normal score included, is then (exactly, resp. up to linear interpolation between
    knots) a combination ``B a`` of the basis, so ``S^T S = A^T (B^T B) A`` once the
    marginals give each basis function its score ``a``. ``observed`` is ``M^T M`` of the
    columns' non-missing masks, exact.
    """

    names: list[str]
    values: list[pd.Series]  # per column: the distinct values or the knots' values
    hats: list[bool]  # per column: knots (True) or indicators (False)
    gram: np.ndarray
    observed: np.ndarray


_MAX_VALUES = 64
_KNOTS = 33


def _latent(part: pd.DataFrame) -> Latent:
    from scipy import sparse
    from scipy.special import ndtri

    n = len(part)
    names: list[str] = []
    values: list[pd.Series] = []
    hats: list[bool] = []
    blocks: list[Any] = []
    masks: list[np.ndarray] = []
    for column in part.columns:
        series = part[column]
        present = series.notna().to_numpy()
        rows = np.flatnonzero(present)
        kept = series.iloc[rows]
        try:
            codes, uniques = pd.factorize(kept, sort=True)
        except TypeError:  # values that do not sort (mixed types): not covered
            continue
        if len(uniques) <= _MAX_VALUES:
            basis = sparse.csr_matrix(
                (np.ones(rows.size), (rows, codes)), shape=(n, max(len(uniques), 1))
            )
            values.append(pd.Series(uniques))
            hats.append(False)
        elif _numeric_like(series):
            order = np.argsort(codes, kind="stable")
            ranks = pd.Series(codes).rank(method="average").to_numpy()
            m = rows.size
            local = ndtri((ranks - 0.5) / m)
            grid = np.linspace(ndtri(0.5 / m), ndtri(1.0 - 0.5 / m), _KNOTS)
            step = grid[1] - grid[0]
            position = np.clip((local - grid[0]) / step, 0.0, _KNOTS - 1.0)
            left = np.minimum(np.floor(position).astype(int), _KNOTS - 2)
            weight = position - left
            basis = sparse.csr_matrix(
                (
                    np.concatenate([1.0 - weight, weight]),
                    (np.concatenate([rows, rows]), np.concatenate([left, left + 1])),
                ),
                shape=(n, _KNOTS),
            )
            # Knot k stands for the value at local rank Phi(grid[k]) * m (an observed value).
            at = np.clip(np.rint(_phi(grid) * m - 0.5).astype(int), 0, m - 1)
            values.append(kept.iloc[order[at]].reset_index(drop=True))
            hats.append(True)
        else:  # many distinct text values: not covered (the sample's correlation is used)
            continue
        names.append(str(column))
        blocks.append(basis)
        masks.append(present)
    if blocks:
        stacked = sparse.hstack(blocks, format="csr")
        gram = (stacked.T @ stacked).toarray()
        mask = np.column_stack(masks).astype(float)
        observed = mask.T @ mask
    else:
        gram, observed = np.zeros((0, 0)), np.zeros((0, 0))
    return Latent(names, values, hats, gram, observed)


def _phi(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return np.asarray(ndtr(z), dtype=float)


def _numeric_like(series: pd.Series) -> bool:
    return bool(
        pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)
    ) and not pd.api.types.is_bool_dtype(series)


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


def fit_dask(
    model: GaussianCopula, data: Any, *, sample_rows: int = 100_000, seed: int = 0
) -> GaussianCopula:
    """Fit ``model`` to a Dask DataFrame or Parquet dataset (see the module notes)."""
    dask = _dask()

    sample_rows = check_positive_int("sample_rows", sample_rows, minimum=2)
    frame = as_dask_frame(data)
    pairs = [
        dask.delayed(_summarise, nout=2)(part, i, seed, sample_rows)
        for i, part in enumerate(frame.to_delayed())
    ]
    merged = _tree([s for s, _ in pairs], lambda group: _merge(group, sample_rows))
    # The one read: the merged sketches come back, each partition's moments stay put.
    merged, *latents = dask.persist(merged, *[m for _, m in pairs])
    summary: Summary = dask.compute(merged)[0]
    sample = summary.sample.drop(columns=[_KEY]).reset_index(drop=True)
    model.fit(sample)
    _widen_marginals(model, summary)
    document = model.to_dict()
    eligible = _eligible(model, [str(c) for c in frame.columns])
    ranked = {name: summary.columns[name] for name in eligible if name in summary.columns}
    scored = [dask.delayed(_latent_moments)(m, document, eligible, ranked) for m in latents]
    products, counts, covered = dask.compute(_tree(scored, _sum_latent))[0]
    del latents
    # Pairs with a column the latent moments do not cover: the sample's, to scale.
    names = [c.name for c in model.columns_]
    whole, pairs_seen = _moments(sample, document)
    scale = summary.rows / max(len(sample), 1)
    whole, pairs_seen = whole * scale, pairs_seen * scale
    mine = [j for j, ok in enumerate(covered) if ok]
    theirs = [names.index(eligible[j]) for j in mine]
    whole[np.ix_(theirs, theirs)] = products[np.ix_(mine, mine)]
    pairs_seen[np.ix_(theirs, theirs)] = counts[np.ix_(mine, mine)]
    model.correlation_ = model._correlation_from_moments(whole, pairs_seen)
    model.n_rows_ = summary.rows
    model._prepare()
    return model


def _eligible(model: GaussianCopula, raw: list[str]) -> list[str]:
    """Model columns read as they are from a raw column (the latent moments cover them)."""
    kinds = model.types_.kinds() if model.types_ is not None else {}
    made = {c.rule.target for c in model.constraints_}
    made |= {name for c in model.constraints_ for name in c.rule.inputs}
    return [
        c.name
        for c in model.columns_
        if c.name in raw
        and c.name not in made
        and not kinds.get(c.name, "").startswith("datetime:")
    ]


def _latent_moments(
    latent: Latent,
    document: dict[str, Any],
    eligible: list[str],
    sketches: dict[str, ColumnSketch],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``S^T S``, ``M^T M`` and which columns are covered, for one partition.

    A basis function's score is the one the in-memory fit gives its value: the
    discrete marginal's ``E[Z | value]``, or for a continuous marginal the van der
    Waerden score of the value's rank among all rows (ties averaged), the rank read
    from the merged column's exact counts, else from its quantile sketch.
    """
    from tessera._tables import apply_types
    from tessera.synth._copula import GaussianCopula, _scores
    from tessera.synth._marginals import ContinuousMarginal

    model = GaussianCopula.from_dict(document)
    by_name = {c.name: c for c in model.columns_}
    sizes = [len(v) if not h else _KNOTS for v, h in zip(latent.values, latent.hats, strict=True)]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    d = len(eligible)
    weights = np.zeros((latent.gram.shape[0], d))
    covered = np.zeros(d, dtype=bool)
    where = np.zeros(d, dtype=int)
    for j, name in enumerate(eligible):
        if name not in latent.names:
            continue
        i = latent.names.index(name)
        column = by_name[name]
        if latent.hats[i] and column.logical not in ("int", "float", "datetime"):
            continue
        values = latent.values[i]
        if model.types_ is not None:
            values = apply_types(pd.DataFrame({name: values}), model.types_)[name]
        values = values.reset_index(drop=True)
        if isinstance(column.marginal, ContinuousMarginal):
            if name not in sketches or not sketches[name].numeric:
                continue
            scores, observed = _rank_scores(sketches[name], values), values.notna().to_numpy()
        else:
            scores, observed = _scores(column, values)
        weights[offsets[i] : offsets[i] + sizes[i], j] = np.where(observed, scores, 0.0)
        covered[j] = True
        where[j] = i
    products = weights.T @ latent.gram @ weights
    counts = np.zeros((d, d))
    inside = np.flatnonzero(covered)
    counts[np.ix_(inside, inside)] = latent.observed[np.ix_(where[inside], where[inside])]
    return products, counts, covered


def _rank_scores(sketch: ColumnSketch, values: pd.Series) -> np.ndarray:
    """Van der Waerden scores of ``values`` by their rank among the sketched column's rows."""
    from tessera.synth._marginals import _probit

    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        naive = values.dt.tz_localize(None) if values.dt.tz is not None else values
        x = naive.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
    else:
        x = values.to_numpy(dtype=float)
    if sketch.counts is not None:  # every distinct value counted: exact ranks
        keys = np.array(sorted(sketch.counts), dtype=float)
        weights = np.array([sketch.counts[k] for k in sorted(sketch.counts)], dtype=float)
    else:
        keys, weights = sketch.points, sketch.weights
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    below = cumulative[np.searchsorted(keys, x, side="left")]
    upto = cumulative[np.searchsorted(keys, x, side="right")]
    total = cumulative[-1]
    rank = (below + upto + 1.0) / 2.0  # the mean 1-based rank of the value's ties
    return np.asarray(_probit(np.clip(rank, 1.0, total) / (total + 1.0)), dtype=float)


def _sum_latent(
    items: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    products = np.sum([p for p, _, _ in items], axis=0)
    counts = np.sum([c for _, c, _ in items], axis=0)
    covered = np.logical_and.reduce([k for _, _, k in items])
    return products, counts, covered


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
