"""Privacy of a synthetic table, measured against the rows it was fitted on and a holdout.

A synthetic table leaks when its rows sit closer to the training rows than new rows from
the same population would. The holdout -- real rows the model never saw -- is that
population, so every figure is read against it:

- **exact copies**: the share of synthetic rows equal to a training row (on the compared
  columns), beside the share of holdout rows equal to a training row (the natural rate:
  tables with few distinct values repeat rows by chance);
- **DCR** (distance to closest record): for each synthetic row, the distance to the
  nearest training row and to the nearest holdout row (holdout and training sampled to
  the same size); the share closer to training is 0.5 without memorisation;
- **distance attack AUC**: an attacker who holds a real row guesses it was a training
  row when a synthetic row lies near it; the AUC of that guess over training rows
  (members) and holdout rows (non-members) is 0.5 when the table gives nothing away;
- **minimum distance** of any synthetic row to any training row (0 means a copy);
  :func:`drop_near_copies` enforces one, dropping the synthetic rows nearer than it.

Distances are Euclidean on columns scaled by the training rows: numbers and dates
z-scored (a missing value is a separate 0/1 column), categories one-hot at distance 1.
Identifier and text columns are not compared (they are generated, never copied; the
identifier check counts real keys instead).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["drop_near_copies", "privacy_metrics"]

#: Rows of each table used for the distances (a random subset beyond this).
MAX_ROWS = 5000
#: One-hot columns per categorical column (rarer categories share one column).
_MAX_LEVELS = 50


class _Encoder:
    """A fixed encoding fitted on the training rows, applied to every table."""

    def __init__(self, train: pd.DataFrame) -> None:
        self.columns = list(train.columns)
        self.numeric: dict[str, tuple[float, float]] = {}
        self.levels: dict[str, list[str]] = {}
        for column in self.columns:
            series = train[column]
            if _is_number(series):
                values = _floats(series)
                finite = values[np.isfinite(values)]
                mean = float(finite.mean()) if finite.size else 0.0
                std = float(finite.std()) if finite.size else 1.0
                self.numeric[column] = (mean, std if std > 0 else 1.0)
            else:
                counts = series.dropna().astype(str).value_counts()
                self.levels[column] = list(counts.index[:_MAX_LEVELS])

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for column in self.columns:
            series = frame[column]
            if column in self.numeric:
                mean, std = self.numeric[column]
                values = (_floats(series) - mean) / std
                missing = ~np.isfinite(values)
                parts.append(np.where(missing, 0.0, values))
                parts.append(missing.astype(float))
            else:
                labels = series.astype(object).where(series.notna(), "\x00missing").astype(str)
                for level in self.levels[column] + ["\x00missing"]:
                    parts.append((labels.to_numpy() == level).astype(float) / np.sqrt(2.0))
        if not parts:
            return np.zeros((len(frame), 1))
        return np.column_stack(parts)


def _is_number(series: pd.Series) -> bool:
    return bool(
        (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series))
        or pd.api.types.is_datetime64_any_dtype(series.dtype)
    )


def _floats(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = series.dt.tz_localize(None) if series.dt.tz is not None else series
        out = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
        out[stamps.isna().to_numpy()] = np.nan
        return np.asarray(out, dtype=float)
    return np.asarray(pd.to_numeric(series, errors="coerce"), dtype=float)


def _nearest(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=1).fit(reference)
    distances, _ = index.kneighbors(queries)
    return np.asarray(distances[:, 0], dtype=float)


def _rows(frame: pd.DataFrame, limit: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), limit, replace=False))]


def _auc(members: np.ndarray, others: np.ndarray) -> float:
    """P(score of a member > score of a non-member), ties counted half."""
    from scipy.stats import rankdata

    scores = np.concatenate([members, others])
    ranks = rankdata(scores)
    n1, n0 = members.size, others.size
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _row_keys(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame.astype(str), index=False)


def privacy_metrics(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    random_state: int = 0,
) -> dict[str, float]:
    """Exact copies, DCR against the holdout, the distance-attack AUC, the minimum distance.

    The three tables must have the same (compared) columns, already typed alike.
    """
    rng = np.random.default_rng(random_state)
    size = min(len(train), len(holdout), MAX_ROWS)
    train_rows = _rows(train, MAX_ROWS, rng)
    synthetic_rows = _rows(synthetic, MAX_ROWS, rng)
    encode = _Encoder(train)
    train_x = encode(train_rows)
    synth_x = encode(synthetic_rows)
    members = encode(_rows(train, size, rng))
    others = encode(_rows(holdout, size, rng))
    train_keys = set(_row_keys(train))
    copies = float(_row_keys(synthetic_rows).isin(train_keys).mean())
    natural = float(_row_keys(holdout).isin(train_keys).mean())
    to_train = _nearest(members, synth_x)
    to_holdout = _nearest(others, synth_x)
    closer = float(np.mean(to_train < to_holdout) + 0.5 * np.mean(to_train == to_holdout))
    # The attacker scores a real row by how close the nearest synthetic row is.
    member_score = -_nearest(synth_x, members)
    other_score = -_nearest(synth_x, others)
    all_to_train = _nearest(train_x, synth_x)
    return {
        "exact_copy_rate": copies,
        "holdout_copy_rate": natural,
        "dcr_closer_to_train": closer,
        "distance_attack_auc": _auc(member_score, other_score),
        "median_dcr_train": float(np.median(all_to_train)),
        "median_dcr_holdout": float(np.median(_nearest(encode(holdout), synth_x))),
        "min_distance": float(all_to_train.min()) if all_to_train.size else float("nan"),
    }


def drop_near_copies(
    synthetic: pd.DataFrame,
    real: pd.DataFrame,
    *,
    min_distance: float,
    types: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The synthetic rows at least ``min_distance`` from every real row (the others dropped).

    Parameters
    ----------
    synthetic, real : pandas.DataFrame
        The same columns. Identifier and text columns are not compared (as in
        :func:`~tessera.synth.quality_report`).
    min_distance : float
        In the units of ``QualityReport.privacy["min_distance"]``: Euclidean on numbers
        and dates z-scored by the real rows, categories one-hot at distance 1. ``0``
        drops exact copies only (on the compared columns).
    types : dict, optional
        ``{column: kind}`` overriding the detected kinds of ``real``'s columns.

    Returns
    -------
    pandas.DataFrame
        The kept rows of ``synthetic``, in their order, with their index.

    Examples
    --------
    >>> import pandas as pd
    >>> from tessera.synth import drop_near_copies
    >>> real = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    >>> drop_near_copies(pd.DataFrame({"x": [2.0, 2.6]}), real, min_distance=0.1)
         x
    1  2.6
    """
    from tessera._tables import apply_types, infer_types
    from tessera._validation import bad_value

    if isinstance(min_distance, bool) or not isinstance(min_distance, int | float):
        raise bad_value("min_distance", min_distance, "it must be a number", "Pass e.g. 0.1.")
    if not min_distance >= 0:
        raise bad_value("min_distance", min_distance, "it must be >= 0", "Pass e.g. 0.1.")
    if list(synthetic.columns) != list(real.columns):
        raise bad_value(
            "synthetic.columns",
            list(synthetic.columns),
            f"they must equal real's {list(real.columns)}",
            "Select and order the synthetic columns like the real ones.",
        )
    kinds = infer_types(real, types)
    kept = [c for c in real.columns if kinds[str(c)].kind not in ("identifier", "text")]
    real_typed = apply_types(real, kinds)[kept]
    synthetic_typed = apply_types(synthetic, kinds)[kept]
    if synthetic.empty:
        return synthetic
    encode = _Encoder(real_typed)
    distances = _nearest(encode(real_typed), encode(synthetic_typed))
    copies = _row_keys(synthetic_typed).isin(set(_row_keys(real_typed))).to_numpy()
    keep = (distances >= min_distance) & ~copies if min_distance == 0 else distances >= min_distance
    return synthetic[keep]
