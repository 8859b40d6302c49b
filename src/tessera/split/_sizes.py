"""Part sizes: fractions or counts in, exact row counts out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tessera._validation import bad_value

__all__ = ["part_counts"]


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
