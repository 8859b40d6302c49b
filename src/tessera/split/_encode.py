"""Turn user data into the numeric space where distances between rows are measured.

Numeric columns are z-scored with the whole data set's mean and standard
deviation; a missing value becomes the column mean (0 after scaling) for the
distance only -- the data handed back are untouched. Categorical columns with
few levels are one-hot coded and scaled so that two different levels are one
unit apart; columns with many levels get z-scored ordinal codes. Identifier
columns (named by the caller, or text columns with a distinct value on every
row) do not enter the distance. The target, when given, is a column of the
space: class labels as z-scored integer codes, a continuous target z-scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Encoded", "encode", "is_categorical", "level_labels", "target_codes"]

#: Levels up to which a categorical column is one-hot coded.
MAX_ONE_HOT = 30
#: Distinct values up to which an integer target is taken as class labels.
MAX_CLASSES = 20


@dataclass(frozen=True)
class Encoded:
    """The rows in distance space, and the target as class codes when it is a class label."""

    points: np.ndarray
    classes: np.ndarray | None
    target: np.ndarray | None


def level_labels(values: Any, missing: str = "(missing)") -> Any:
    """The values as an object Series with every missing value replaced by ``missing``.

    (``astype(object).fillna`` would do, but pandas 2 warns about downcasting there.)
    """
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    labels = series.astype("object").to_numpy(copy=True)
    labels[pd.isna(labels)] = missing
    return pd.Series(labels, index=series.index, dtype="object", name=series.name)


def is_categorical(values: Any) -> bool:
    """True for text, boolean and pandas categorical columns."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def target_codes(values: Any) -> np.ndarray | None:
    """Integer class codes if ``values`` look like class labels, else ``None``.

    Text, boolean and categorical targets are classes; so is an integer target
    with at most ``MAX_CLASSES`` distinct values. Missing labels form a class.
    """
    import pandas as pd

    series = pd.Series(np.asarray(values)) if not isinstance(values, pd.Series) else values
    if not is_categorical(series):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = numbers[np.isfinite(numbers)]
        integral = finite.size and np.all(finite == np.round(finite))
        if not integral or np.unique(finite).size > MAX_CLASSES:
            return None
    labels = level_labels(series, "\x00missing")
    try:  # codes in the sorted order of the labels where they sort (0, 1, 2 for 0, 1, 2)
        codes, _ = pd.factorize(labels, sort=True)
    except TypeError:
        codes, _ = pd.factorize(labels.astype(str), sort=True)
    return np.asarray(codes, dtype=np.int64)


def _zscore(column: np.ndarray) -> np.ndarray:
    column = column.astype(np.float64)
    finite = np.isfinite(column)
    if not finite.any():
        return np.zeros_like(column)
    mean = column[finite].mean()
    std = column[finite].std()
    out = np.where(finite, column - mean, 0.0)
    return out / std if std > 0 else np.zeros_like(out)


def _frame_columns(frame: Any, exclude: set[Any]) -> list[np.ndarray]:
    import pandas as pd

    columns: list[np.ndarray] = []
    n = len(frame)
    for name in frame.columns:
        if name in exclude:
            continue
        series = frame[name]
        if is_categorical(series):
            levels = level_labels(series, "\x00missing")
            n_levels = levels.nunique()
            if n_levels == n and n > 1 and not pd.api.types.is_bool_dtype(series):
                continue  # a distinct text value on every row: an identifier
            if n_levels <= 1:
                continue
            if n_levels <= MAX_ONE_HOT:
                dummies = pd.get_dummies(levels).to_numpy(dtype=np.float64)
                columns.extend(dummies.T / np.sqrt(2.0))
            else:
                codes, _ = pd.factorize(levels, sort=True)
                columns.append(_zscore(codes))
        else:
            columns.append(_zscore(series.to_numpy(dtype=np.float64, na_value=np.nan)))
    return columns


def encode(features: Any, target: Any | None, exclude: set[Any]) -> Encoded:
    """Encode the feature table (and target) into distance space.

    Parameters
    ----------
    features : pandas.DataFrame, 2-D array-like, scipy.sparse matrix or None
        The table whose rows are split; a sparse matrix enters through a dense
        projection (see ``_sparse_projection``).
    target : 1-D array-like or None
        The target, a column of the space; class labels as codes.
    exclude : set
        Column names kept out of the distance (identifiers, the target itself).
    """
    import pandas as pd

    columns: list[np.ndarray] = []
    n = None
    if features is not None and _is_sparse(features):
        columns = list(_sparse_projection(features).T)
        n = int(features.shape[0])
    elif features is not None:
        frame = features if isinstance(features, pd.DataFrame) else _as_frame(features)
        columns = _frame_columns(frame, exclude)
        n = len(frame)
    classes = None
    target_values = None
    if target is not None:
        classes = target_codes(target)
        if classes is not None:
            columns.append(_zscore(classes))
        else:
            target_values = pd.Series(np.asarray(target)).to_numpy(np.float64, na_value=np.nan)
            columns.append(_zscore(target_values))
        n = len(classes) if classes is not None else len(target_values)  # type: ignore[arg-type]
    if not columns:
        points = np.zeros((n or 0, 1))
    else:
        points = np.column_stack(columns)
    return Encoded(points=np.ascontiguousarray(points), classes=classes, target=target_values)


#: Components of the dense projection of a sparse feature matrix.
SPARSE_COMPONENTS = 50


def _is_sparse(values: Any) -> bool:
    import scipy.sparse

    return bool(scipy.sparse.issparse(values))


def _sparse_projection(matrix: Any) -> np.ndarray:
    """Dense coordinates of the rows of a sparse matrix (e.g. TF-IDF) for the distance.

    Up to ``SPARSE_COMPONENTS`` columns the matrix is densified; wider matrices are
    projected on their first ``SPARSE_COMPONENTS`` singular directions
    (``TruncatedSVD``, fixed seed, so the same data give the same space). The
    coordinates keep their relative spread (not z-scored one by one, which would
    blow up the weak directions) and are scaled to the total variance of as many
    z-scored columns.
    """
    n_rows, n_columns = (int(d) for d in matrix.shape)
    if n_columns <= SPARSE_COMPONENTS or n_rows <= 2:
        dense = np.asarray(matrix.toarray(), dtype=np.float64)
    else:
        from sklearn.decomposition import TruncatedSVD

        n_components = min(SPARSE_COMPONENTS, n_rows - 1)
        svd = TruncatedSVD(n_components=n_components, random_state=0)
        dense = np.asarray(svd.fit_transform(matrix.astype(np.float64)), dtype=np.float64)
    dense = dense - dense.mean(axis=0)
    spread = float(np.sqrt((dense**2).sum() / n_rows))
    if spread == 0.0:
        return np.zeros_like(dense)
    return np.asarray(dense * np.sqrt(dense.shape[1]) / spread, dtype=np.float64)


def _as_frame(values: Any) -> Any:
    import pandas as pd

    array = np.asarray(values)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    elif array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    frame = pd.DataFrame(array)
    if array.dtype == object:
        frame = frame.infer_objects()
    return frame
