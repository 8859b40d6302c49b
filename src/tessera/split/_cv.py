"""scikit-learn cross-validators whose folds look alike (energy distance)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from tessera._validation import bad_value, check_in, check_positive_int

__all__ = ["BalancedKFold", "BalancedShuffleSplit"]


def _check_method(method: str) -> None:
    from tessera.split._methods import METHODS

    check_in("method", method, METHODS)


class BalancedKFold(BaseCrossValidator):  # type: ignore[misc]
    """K-fold cross-validation with folds that share one distribution.

    The rows are cut into ``n_splits`` folds by :func:`train_val_test_split`'s
    machinery (all fold pairs weighed alike), so every fold is spread over the
    data like the whole: the scores of the folds vary less than with
    ``KFold`` or ``StratifiedKFold``.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    method : {"auto", "random", "stratified", "cluster", "twin"}, default="auto"
        How the folds are formed.
    random_state : int, numpy Generator, RandomState or None, default=None
        Seed; the same seed gives the same folds.

    Notes
    -----
    Test folds differ in size by at most one row (without ``groups``). With
    ``groups`` the rows of one group are always in the same fold, and a group
    larger than a fold is an error. Class labels in ``y`` keep their
    proportions in every fold.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from tessera.split import BalancedKFold
    >>> X, y = load_iris(return_X_y=True)
    >>> scores = cross_val_score(DecisionTreeClassifier(random_state=0), X, y,
    ...                          cv=BalancedKFold(5, random_state=0))
    >>> len(scores)
    5
    """

    def __init__(self, n_splits: int = 5, *, method: str = "auto", random_state: Any = None):
        self.n_splits = n_splits
        self.method = method
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of folds."""
        return int(self.n_splits)

    def _folds(self, X: Any, y: Any, groups: Any) -> list[np.ndarray]:
        from tessera.split._api import part_indices

        n_splits = check_positive_int("n_splits", self.n_splits, minimum=2)
        _check_method(self.method)
        arrays = (X,) if y is None else (X, y)
        weights = np.ones((n_splits, n_splits)) - np.eye(n_splits)
        return part_indices(
            *arrays,
            sizes=[1.0 / n_splits] * n_splits,
            method=self.method,
            groups=groups,
            random_state=self.random_state,
            pair_weights=weights,
        )

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, test_index)`` for each fold."""
        folds = self._folds(X, y, groups)
        n = sum(f.size for f in folds)
        for fold in folds:
            train = np.setdiff1d(np.arange(n), fold, assume_unique=True)
            yield train, fold

    def _iter_test_indices(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[np.ndarray]:
        yield from self._folds(X, y, groups)


class BalancedShuffleSplit(BaseCrossValidator):  # type: ignore[misc]
    """Repeated train/test splits, each with train and test alike.

    Parameters
    ----------
    n_splits : int, default=10
        Number of repetitions; each uses its own seed drawn from ``random_state``.
    test_size : float, default=0.2
        Fraction of rows in the test part.
    train_size : float or None, default=None
        Fraction in the train part; ``None`` means the complement of the test part.
        Rows in neither part are left out of that repetition.
    method : {"auto", "random", "stratified", "cluster", "twin"}, default="auto"
        How each split is formed.
    random_state : int, numpy Generator, RandomState or None, default=None
        Seed of the whole sequence of splits.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.split import BalancedShuffleSplit
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> [(len(tr), len(te)) for tr, te in BalancedShuffleSplit(2, random_state=0).split(X)]
    [(40, 10), (40, 10)]
    """

    def __init__(
        self,
        n_splits: int = 10,
        *,
        test_size: float = 0.2,
        train_size: float | None = None,
        method: str = "auto",
        random_state: Any = None,
    ):
        self.n_splits = n_splits
        self.test_size = test_size
        self.train_size = train_size
        self.method = method
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of repetitions."""
        return int(self.n_splits)

    def _sizes(self) -> list[float]:
        test = float(self.test_size)
        train = 1.0 - test if self.train_size is None else float(self.train_size)
        if not (0.0 < test < 1.0) or not (0.0 < train < 1.0) or train + test > 1.0 + 1e-9:
            raise bad_value(
                "test_size",
                (self.train_size, self.test_size),
                "train_size and test_size must be fractions in (0, 1) summing to at most 1",
                "Pass e.g. test_size=0.2 (train_size=None takes the rest).",
            )
        rest = 1.0 - train - test
        return [train, test] + ([rest] if rest > 1e-9 else [])

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, test_index)`` for each repetition."""
        from tessera.split._api import part_indices
        from tessera.split._methods import to_generator

        n_splits = check_positive_int("n_splits", self.n_splits, minimum=1)
        _check_method(self.method)
        sizes = self._sizes()
        rng = to_generator(self.random_state)
        seeds = rng.integers(2**31 - 1, size=n_splits)
        arrays = (X,) if y is None else (X, y)
        weights = np.zeros((len(sizes), len(sizes)))
        weights[0, 1] = weights[1, 0] = 1.0
        for seed in seeds:
            parts = part_indices(
                *arrays,
                sizes=sizes,
                method=self.method,
                groups=groups,
                random_state=int(seed),
                pair_weights=weights,
            )
            yield parts[0], parts[1]

    def _iter_test_indices(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[np.ndarray]:
        for _, test in self.split(X, y, groups):
            yield test
