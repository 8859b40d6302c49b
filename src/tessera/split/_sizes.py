"""Part sizes: fractions or counts in, exact row counts out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tessera._validation import bad_value

__all__ = ["part_counts", "shuffle_split_counts"]


def part_counts(sizes: Sequence[float] | Any, n_rows: int) -> np.ndarray:
    """Exact rows per part for ``n_rows`` rows.

    Fractions (floats summing to 1) are rounded by the largest-remainder rule,
    so every count is within one row of ``fraction * n_rows``; integers must sum
    to ``n_rows``.

    Raises
    ------
    tessera.errors.InvalidInputError
        Sizes that are not positive, do not sum to 1 or to ``n_rows``, or leave
        a part empty; fewer rows than parts.
    """
    try:
        values = np.asarray(sizes, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise bad_value(
            "sizes", sizes, "it must be a sequence of numbers", "Pass e.g. sizes=(0.6, 0.2, 0.2)."
        ) from None
    if values.size < 2:
        raise bad_value(
            "sizes", sizes, "it needs at least two parts", "Pass e.g. sizes=(0.8, 0.2)."
        )
    if not np.isfinite(values).all() or (values <= 0).any():
        raise bad_value(
            "sizes",
            sizes,
            "every size must be a positive finite number",
            "Drop empty parts or give each a positive fraction or count.",
        )
    if n_rows < values.size:
        raise bad_value(
            "n_rows",
            n_rows,
            f"there are fewer rows ({n_rows}) than parts ({values.size})",
            "Pass more rows or ask for fewer parts.",
        )
    integral = np.all(values == np.round(values)) and values.sum() > 1.0 + 1e-9
    if integral:
        if int(values.sum()) != n_rows:
            raise bad_value(
                "sizes",
                sizes,
                f"counts must sum to the number of rows, {n_rows} "
                f"(they sum to {int(values.sum())})",
                "Fix the counts, or pass fractions that sum to 1.",
            )
        return values.astype(np.int64)
    if abs(values.sum() - 1.0) > 1e-6:
        raise bad_value(
            "sizes",
            sizes,
            f"fractions must sum to 1 (they sum to {values.sum():.6g})",
            "Rescale them, e.g. sizes=(0.6, 0.2, 0.2), or pass row counts summing to n.",
        )
    quota = values / values.sum() * n_rows
    counts = np.floor(quota).astype(np.int64)
    remainder = quota - counts
    for p in np.argsort(-remainder, kind="stable")[: n_rows - counts.sum()]:
        counts[p] += 1
    if (counts == 0).any():
        raise bad_value(
            "sizes",
            sizes,
            f"with {n_rows} rows a part would be empty (counts {counts.tolist()})",
            "Pass more rows or larger fractions for the small parts.",
        )
    return np.asarray(counts, dtype=np.int64)


def _size_kind(value: Any) -> str:
    return str(np.asarray(value).dtype.kind)


def shuffle_split_counts(
    n_rows: int, test_size: Any, train_size: Any, default_test_size: float = 0.1
) -> tuple[int, int]:
    """``(n_train, n_test)`` exactly as scikit-learn's ``ShuffleSplit`` sizes them.

    A float is a fraction in (0, 1), an integer a row count in [1, n_rows); the
    test part is rounded up (``ceil``), the train part down (``floor``); ``None``
    means the complement of the other part, or ``default_test_size`` when both
    are ``None`` (scikit-learn's ``_validate_shuffle_split``).

    Raises
    ------
    tessera.errors.InvalidInputError
        A size out of range or not a number, fractions summing to more than 1,
        parts together larger than the data, or an empty train part.
    """
    if test_size is None and train_size is None:
        test_size = default_test_size
    for name, value in (("test_size", test_size), ("train_size", train_size)):
        kind = _size_kind(value)
        if (kind == "i" and not 0 < value < n_rows) or (kind == "f" and not 0 < value < 1):
            raise bad_value(
                name,
                value,
                f"it must be a row count in [1, {n_rows - 1}] or a fraction in (0, 1)",
                f"Pass e.g. {name}=0.2.",
            )
        if value is not None and kind not in ("i", "f"):
            raise bad_value(
                name, value, "it must be an int, a float or None", f"Pass e.g. {name}=0.2."
            )
    test_kind, train_kind = _size_kind(test_size), _size_kind(train_size)
    if test_kind == "f" and train_kind == "f" and train_size + test_size > 1:
        raise bad_value(
            "test_size",
            (train_size, test_size),
            f"train_size + test_size = {train_size + test_size} must be at most 1",
            "Reduce test_size and/or train_size.",
        )
    n_test = int(np.ceil(test_size * n_rows)) if test_kind == "f" else None
    if test_kind == "i":
        n_test = int(test_size)
    n_train = int(np.floor(train_size * n_rows)) if train_kind == "f" else None
    if train_kind == "i":
        n_train = int(train_size)
    if n_train is None:
        n_train = n_rows - int(n_test or 0)
    if n_test is None:
        n_test = n_rows - n_train
    if n_train + n_test > n_rows:
        raise bad_value(
            "test_size",
            (train_size, test_size),
            f"the train and test parts ({n_train} + {n_test} rows) exceed the {n_rows} rows",
            "Reduce test_size and/or train_size.",
        )
    if n_train == 0:
        raise bad_value(
            "train_size",
            train_size,
            f"with {n_rows} rows and test_size={test_size!r} the train part would be empty",
            "Pass a smaller test_size or more rows.",
        )
    return n_train, n_test
