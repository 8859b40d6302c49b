"""Distribution-preserving train/validation/test splits, cross-validators and the split report.

- :func:`train_val_test_split` -- any number of parts that look alike (energy distance);
- :class:`BalancedKFold`, :class:`BalancedShuffleSplit` -- scikit-learn cross-validators;
- :func:`split_report` -- per-column and joint divergences, HTML and terminal summaries.
"""

from __future__ import annotations

from tessera.split._api import part_indices, train_val_test_split

__all__ = ["part_indices", "train_val_test_split"]
