"""Tiny, seeded datasets for smoke-testing models (also served as pytest fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera._validation import check_positive_int

__all__ = ["TinyDataset", "tiny_classification", "tiny_regression"]


@dataclass(frozen=True)
class TinyDataset:
    """A tiny dataset; unpacks as ``X, y``.

    Attributes
    ----------
    X : numpy.ndarray
        Features, shape ``(n_rows, n_features)``, float64.
    y : numpy.ndarray
        Targets: int64 class labels or float64 values.
    feature_names : tuple of str
        ``("x0", "x1", ...)``.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.X, self.y))

    def frame(self) -> Any:
        """The features as a DataFrame and the target as a column ``"target"``."""
        import pandas as pd

        frame = pd.DataFrame(self.X, columns=list(self.feature_names))
        frame["target"] = self.y
        return frame


def tiny_classification(
    seed: int = 0, *, n_rows: int = 60, n_features: int = 4, n_classes: int = 2
) -> TinyDataset:
    """Well-separated Gaussian classes: any working classifier scores near 1.0 on it.

    Class ``c`` is centred at ``3 * e_(c mod n_features)`` with unit noise,
    rows cycle through the classes (balanced to one row).

    Examples
    --------
    >>> from tessera.mltest import tiny_classification
    >>> X, y = tiny_classification(seed=1)
    >>> X.shape, sorted(set(y.tolist()))
    ((60, 4), [0, 1])
    """
    n_rows = check_positive_int("n_rows", n_rows, minimum=2)
    n_features = check_positive_int("n_features", n_features)
    n_classes = check_positive_int("n_classes", n_classes, minimum=2)
    rng = np.random.default_rng(seed)
    y = np.arange(n_rows, dtype=np.int64) % n_classes
    centres = np.zeros((n_classes, n_features))
    centres[np.arange(n_classes), np.arange(n_classes) % n_features] = 3.0
    centres[n_features:] *= -1  # more classes than features: mirror the later centres
    X = centres[y] + rng.normal(size=(n_rows, n_features))
    return TinyDataset(X, y, tuple(f"x{i}" for i in range(n_features)))


def tiny_regression(
    seed: int = 0, *, n_rows: int = 60, n_features: int = 4, noise: float = 0.1
) -> TinyDataset:
    """A linear target ``y = X @ w + 0.5 + noise`` with ``w = (1, -2, 3, ...)``.

    Examples
    --------
    >>> from tessera.mltest import tiny_regression
    >>> X, y = tiny_regression(noise=0.0)
    >>> bool(abs(y[0] - (X[0] @ [1, -2, 3, -4] + 0.5)) < 1e-12)
    True
    """
    n_rows = check_positive_int("n_rows", n_rows, minimum=2)
    n_features = check_positive_int("n_features", n_features)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features))
    weights = np.array([(i + 1) * (-1) ** i for i in range(n_features)], dtype=float)
    y = X @ weights + 0.5 + rng.normal(0.0, noise, n_rows)
    return TinyDataset(X, y, tuple(f"x{i}" for i in range(n_features)))
