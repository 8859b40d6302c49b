"""Distribution-preserving train/validation/test splits, cross-validators and the split report.

- :func:`train_val_test_split` -- any number of parts that look alike (energy distance);
- :class:`BalancedKFold`, :class:`BalancedShuffleSplit` -- scikit-learn cross-validators;
- :func:`split_report` -- per-column and joint divergences, HTML and terminal summaries;
- :func:`split_dataset` -- a Dask DataFrame or Parquet dataset split out of core into
  Parquet folders (the ``dask`` extra).
"""

from __future__ import annotations

from typing import Any

from tessera.split._api import part_indices, train_val_test_split
from tessera.split._groups import GroupSizeWarning
from tessera.split._report import (
    ColumnDivergence,
    GroupCheck,
    SplitReport,
    energy_distance,
    split_report,
)

__all__ = [
    "BalancedKFold",
    "BalancedShuffleSplit",
    "ColumnDivergence",
    "DaskSplit",
    "GroupCheck",
    "GroupSizeWarning",
    "SplitReport",
    "energy_distance",
    "part_indices",
    "split_dataset",
    "split_report",
    "train_val_test_split",
]


def __getattr__(name: str) -> Any:
    # The cross-validators subclass scikit-learn's; import it only when asked.
    if name in ("BalancedKFold", "BalancedShuffleSplit"):
        from tessera.split import _cv

        return getattr(_cv, name)
    if name in ("DaskSplit", "split_dataset"):
        from tessera.split import _dask

        return getattr(_dask, name)
    raise AttributeError(f"module 'tessera.split' has no attribute {name!r}")
