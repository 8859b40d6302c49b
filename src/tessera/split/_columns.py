"""Which columns of a table enter the split's distance, and as what.

The split compares rows on their values, so each column is typed once by the shared
typing layer (:func:`tessera._tables.infer_types`): dates (also dates written as text)
enter as their time in nanoseconds, identifiers and free text are left out (a key says
nothing about the distribution; text would need a model of its own), and the caller's
exclusions (the target, the groups) are left out too. What was left out, and why, is
returned for the report and the CLI to say.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["distance_view", "type_overrides"]


def type_overrides(
    id_columns: Sequence[Hashable], types: Mapping[str, str] | None
) -> dict[str, str]:
    """``types`` with every named identifier column typed ``identifier``."""
    given = {str(c): "identifier" for c in id_columns}
    given.update({str(k): v for k, v in (types or {}).items()})
    return given


def distance_view(frame: Any, overrides: Mapping[str, str]) -> tuple[Any, Any, dict[str, str]]:
    """(the frame as the distance sees it, its ``TableTypes``, ``{left-out column: why}``).

    Dates become float nanoseconds (missing as NaN); identifier and text columns are
    dropped. The rows and their order are unchanged.
    """
    import pandas as pd

    from tessera._tables import apply_types, infer_types

    types = infer_types(frame, overrides)
    typed = apply_types(frame, types)
    keep: dict[Any, Any] = {}
    ignored: dict[str, str] = {}
    for original in frame.columns:
        column = types[str(original)]
        if column.kind == "identifier":
            ignored[column.name] = f"identifier ({column.reason})"
            continue
        if column.kind == "text":
            ignored[column.name] = f"free text ({column.reason})"
            continue
        series = typed[original]
        if column.kind == "datetime":
            stamps = series.dt.tz_localize(None) if series.dt.tz is not None else series
            values = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
            values[stamps.isna().to_numpy()] = np.nan
            series = pd.Series(values, index=frame.index, name=original)
        keep[original] = series
    return pd.DataFrame(keep, index=frame.index), types, ignored
