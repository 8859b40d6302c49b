"""``train_val_test_split``: the public entry point, its checks and its outputs."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from tessera._validation import bad_value, check_in, short_repr
from tessera.errors import InvalidInputError

__all__ = ["part_indices", "train_val_test_split"]


def _n_rows(array: Any) -> int:
    shape = getattr(array, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(array)


def _is_frame(array: Any) -> bool:
    import pandas as pd

    return isinstance(array, pd.DataFrame)


def _column_or_array(
    name: str, value: Any, frame: Any, n: int
) -> tuple[np.ndarray, Hashable | None]:
    """Resolve ``value`` as a column of ``frame`` (by name) or as an array of ``n`` rows."""
    if (
        isinstance(value, str | int)
        and not isinstance(value, bool)
        and frame is not None
        and (isinstance(value, str) or value in frame.columns)
    ):
        if value not in frame.columns:
            shown = ", ".join(map(repr, list(frame.columns)[:12]))
            raise bad_value(
                name,
                value,
                f"no such column (the columns are {shown})",
                f"Pass one of the column names, or an array of {n} values.",
            )
        return frame[value].to_numpy(), value
    if isinstance(value, str):
        raise bad_value(
            name,
            value,
            "a column name needs a DataFrame as the first array",
            f"Pass a DataFrame first, or an array of {n} values as {name}=.",
        )
    array = np.asarray(value)
    if array.ndim != 1 or array.shape[0] != n:
        raise bad_value(
            name,
            value,
            f"it must be one value per row ({n} rows; got shape {array.shape})",
            "Pass a 1-D array as long as the data, or a column name.",
        )
    return array, None


def _codes_of(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    from tessera.split._encode import level_labels

    codes = pd.factorize(level_labels(values, "\x00missing"))[0]
    return np.asarray(codes, dtype=np.int64)


def part_indices(
    *arrays: Any,
    sizes: Sequence[float] = (0.6, 0.2, 0.2),
    method: str = "auto",
    target: Any = None,
    groups: Any = None,
    strata: Any = None,
    random_state: Any = None,
    clusterer: str = "kmeans",
    sampling: str = "random",
    within: Any = None,
    id_columns: Sequence[Hashable] = (),
    types: Mapping[str, str] | None = None,
    pair_weights: np.ndarray | None = None,
    large_groups: str = "raise",
    diverse: bool = False,
) -> list[np.ndarray]:
    """Row positions of each part (sorted); arguments as in :func:`train_val_test_split`.

    ``pair_weights[u, v]`` weighs the energy distance between parts ``u`` and ``v``
    in the objective of ``"auto"`` (default: 1 for pairs with part 0, 1/4 otherwise).
    ``large_groups="warn"`` places a group larger than the smallest part anyway,
    with a :class:`~tessera.split.GroupSizeWarning` (the cross-validators do so);
    ``diverse=True`` makes ``"auto"`` draw one of many good splits, so that
    different seeds give different splits (``BalancedShuffleSplit`` does so).
    """
    from tessera.split._encode import encode
    from tessera.split._groups import group_labels
    from tessera.split._methods import METHODS, split_labels, to_generator
    from tessera.split._sizes import part_counts

    if not arrays:
        raise InvalidInputError(
            "arrays=() is invalid: at least one array is required. Pass the data, e.g. "
            "train_val_test_split(X, y)."
        )
    if type(arrays[0]).__module__.startswith("dask"):
        raise bad_value(
            "arrays",
            f"<{type(arrays[0]).__name__}>",
            "a Dask collection is split out of core, into Parquet folders",
            "Call tessera.split.split_dataset(data, out='parts/', ...) instead.",
        )
    check_in("method", method, METHODS)
    check_in("clusterer", clusterer, ("kmeans", "hdbscan"))
    check_in("sampling", sampling, ("random", "stratified", "systematic"))
    lengths = [_n_rows(a) for a in arrays]
    n = lengths[0]
    if any(length != n for length in lengths):
        raise bad_value(
            "arrays",
            f"<{len(arrays)} arrays of lengths {lengths}>",
            "every array must have the same number of rows",
            "Pass arrays that describe the same rows.",
        )
    counts = part_counts(sizes, n)
    first = arrays[0]
    frame = first if _is_frame(first) else None
    exclude: set[Any] = set(id_columns)
    if frame is not None:
        missing = [c for c in id_columns if c not in frame.columns]
        if missing:
            raise bad_value(
                "id_columns",
                list(id_columns),
                f"no such column(s) {missing}",
                "Pass names of columns of the first array.",
            )
    target_values = None
    if target is not None:
        target_values, name = _column_or_array("target", target, frame, n)
        if name is not None:
            exclude.add(name)
    elif len(arrays) >= 2 and np.ndim(np.asarray(arrays[1], dtype=object)) == 1:
        target_values = np.asarray(arrays[1])
    group_codes = None
    if groups is not None:
        group_values, name = _column_or_array("groups", groups, frame, n)
        if name is not None:
            exclude.add(name)
        group_codes = _codes_of(group_values)
    strata_codes = None
    if strata is not None:
        strata_codes = _codes_of(_column_or_array("strata", strata, frame, n)[0])
    within_codes = None
    if within is not None:
        names = [within] if isinstance(within, str) else within
        if frame is not None and all(isinstance(w, str) for w in names):
            columns = [_column_or_array("within", w, frame, n)[0] for w in names]
            within_codes = _codes_of(np.array([str(tuple(r)) for r in zip(*columns, strict=True)]))
        else:
            within_codes = _codes_of(_column_or_array("within", within, frame, n)[0])
    if frame is not None:
        from tessera.split._columns import distance_view, type_overrides

        first, _, _ = distance_view(frame, type_overrides(id_columns, types))
    encoded = encode(first, target_values, exclude)
    rng = to_generator(random_state)
    if group_codes is not None:
        labels = group_labels(
            encoded,
            group_codes,
            counts,
            method=method,
            strata=strata_codes,
            rng=rng,
            clusterer=clusterer,
            sampling=sampling,
            weights=pair_weights,
            large_groups=large_groups,
            diverse=diverse,
        )
    else:
        labels = split_labels(
            encoded,
            counts,
            method=method,
            strata=strata_codes,
            rng=rng,
            clusterer=clusterer,
            sampling=sampling,
            within=within_codes,
            weights=pair_weights,
            diverse=diverse,
        )
    return [np.flatnonzero(labels == p) for p in range(counts.size)]


def _take(array: Any, rows: np.ndarray) -> Any:
    if hasattr(array, "iloc"):
        return array.iloc[rows]
    if isinstance(array, list | tuple):
        return [array[i] for i in rows]
    try:
        return array[rows]
    except (TypeError, IndexError, KeyError):
        raise InvalidInputError(
            f"arrays=<{type(array).__name__}> is invalid: its rows cannot be selected by "
            f"position ({short_repr(array)}). Pass numpy arrays, lists or pandas objects."
        ) from None


def train_val_test_split(
    *arrays: Any,
    sizes: Sequence[float] = (0.6, 0.2, 0.2),
    method: str = "auto",
    target: Any = None,
    groups: Any = None,
    strata: Any = None,
    random_state: Any = None,
    clusterer: str = "kmeans",
    sampling: str = "random",
    within: Any = None,
    id_columns: Sequence[Hashable] = (),
    types: Mapping[str, str] | None = None,
) -> list[Any]:
    """Split arrays into parts that look alike (train, validation, test, ...).

    Like scikit-learn's ``train_test_split`` for any number of parts: every row
    lands in exactly one part, part ``p`` gets ``sizes[p]`` rows (exact to one
    row), and the outputs are ``a0_part0, a0_part1, ..., a1_part0, ...`` -- each
    array cut into its parts, same type out as in (DataFrame and Series keep
    their index), rows in their original order inside each part.

    Parameters
    ----------
    *arrays : array-like, DataFrame or Series
        Same number of rows each. The first is the table whose rows are compared.
    sizes : sequence of float or int, default=(0.6, 0.2, 0.2)
        Fractions summing to 1, or row counts summing to the number of rows.
    method : {"auto", "random", "stratified", "cluster", "twin"}, default="auto"
        ``"auto"`` deals near rows across the parts and then swaps rows to
        minimize the energy distance between the parts; see Notes.
    target : str, array-like or None, default=None
        The target: a column name of the first array or an array. With ``None``
        and a 1-D second array, that array (``y``) is the target. Class labels
        (text, bool, or integers with at most 20 values) keep their proportions
        in every part.
    groups : str, array-like or None, default=None
        Group labels; the rows of one group always land in the same part (sizes
        are then met within the largest group).
    strata : str, array-like or None, default=None
        Labels whose proportions every part keeps (within one row per stratum).
    random_state : int, numpy Generator or RandomState, default=None
        Seed; the same seed gives the same split.
    clusterer : {"kmeans", "hdbscan"}, default="kmeans"
        For ``method="cluster"``: K-Means with k at the elbow, or HDBSCAN with
        ``min_cluster_size`` chosen by silhouette.
    sampling : {"random", "stratified", "systematic"}, default="random"
        For ``method="cluster"``: how each cluster is shared out.
    within : str, list of str or array-like, default=None
        For ``method="cluster"``: cluster separately inside each level.
    id_columns : sequence, default=()
        Columns of the first array kept out of the distance (they stay with their rows).
    types : dict or None, default=None
        ``{column: kind}`` overriding the detected kinds of a DataFrame's columns
        (see ``tessera._tables.infer_types``). Dates, also written as text, are
        compared by their value; free text by its words (its leading TF-IDF SVD
        components, see ``tessera.split._columns.text_features``); identifiers
        (detected or named) stay with their rows but out of the distance.

    Returns
    -------
    list
        ``len(arrays) * len(sizes)`` objects.

    Raises
    ------
    tessera.errors.InvalidInputError
        Sizes that do not sum to 1 or to the number of rows, fewer rows than
        parts, an unknown column, a group larger than a part, arrays of
        different lengths, an unknown method.

    Notes
    -----
    The energy distance ``E(A, B) = 2 mean d(A, B) - mean d(A, A) - mean d(B, B)``
    (Euclidean, on z-scored columns and the target) is zero only when two
    parts have the same distribution. ``"auto"`` lowers it directly: it orders
    the rows by nearest-neighbour walks, deals every run of neighbours across
    the parts, then swaps rows between parts while a swap lowers
    ``sum_{u<v} w_uv E(u, v)`` (weight 1 for pairs with the first part, 1/4
    otherwise), priced in O(k) per candidate from the row-to-part distance sums.
    Above 1,500 rows the work is done in blocks of near rows, so time and memory
    grow linearly.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.split import train_val_test_split
    >>> X = np.arange(20).reshape(10, 2)
    >>> y = np.arange(10) % 2
    >>> X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
    ...     X, y, sizes=(0.6, 0.2, 0.2), random_state=0)
    >>> len(X_train), len(X_val), len(X_test)
    (6, 2, 2)
    """
    parts = part_indices(
        *arrays,
        sizes=sizes,
        method=method,
        target=target,
        groups=groups,
        strata=strata,
        random_state=random_state,
        clusterer=clusterer,
        sampling=sampling,
        within=within,
        id_columns=id_columns,
        types=types,
    )
    return [_take(array, rows) for array in arrays for rows in parts]
