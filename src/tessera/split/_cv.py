"""scikit-learn cross-validators whose folds look alike (energy distance)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from tessera._validation import check_in, check_positive_int

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
    ``groups`` the rows of one group are always in the same fold; a group
    larger than a fold is placed whole, the fold sizes are then met as closely
    as the groups allow and a :class:`~tessera.split.GroupSizeWarning` says so
    (fewer groups than folds is an error, as in ``GroupKFold``). Every row is
    in exactly one test fold. Class labels in ``y`` keep their proportions in
    every fold. ``X`` may be a scipy.sparse matrix (e.g. TF-IDF); its rows are
    compared in a dense projection (see the split explanation). ``groups`` is
    requested by metadata routing, as by ``GroupKFold``.

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

    # Like scikit-learn's GroupsConsumerMixin: metadata routing hands ``groups`` to split().
    __metadata_request__split = {"groups": True}

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
            large_groups="warn",
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

    Each repetition is a different balanced split: ``"auto"`` deals a random
    stratified split and improves it by swaps restricted to random thirds of
    each class, which lands on one of many well balanced splits rather than on
    (nearly) the same best one; repeated test sets overlap about as little as
    ``ShuffleSplit``'s.

    Parameters
    ----------
    n_splits : int, default=10
        Number of repetitions; each uses its own seed drawn from ``random_state``.
    test_size : float, int or None, default=0.2
        A fraction in (0, 1) of the rows (rounded up), or a row count.
        ``None`` means the complement of ``train_size``, or 0.1 when that is
        ``None`` too -- exactly as ``ShuffleSplit``.
    train_size : float, int or None, default=None
        A fraction (rounded down) or a row count; ``None`` means the complement
        of the test part. Rows in neither part are left out of that repetition.
    method : {"auto", "random", "stratified", "cluster", "twin"}, default="auto"
        How each split is formed.
    random_state : int, numpy Generator, RandomState or None, default=None
        Seed of the whole sequence of splits.

    Notes
    -----
    Sizes follow ``ShuffleSplit`` exactly. With ``groups`` the rows of a group
    stay together; a group larger than the test part is placed whole with a
    :class:`~tessera.split.GroupSizeWarning`. ``X`` may be a scipy.sparse
    matrix. ``groups`` is requested by metadata routing.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.split import BalancedShuffleSplit
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> [(len(tr), len(te)) for tr, te in BalancedShuffleSplit(2, random_state=0).split(X)]
    [(40, 10), (40, 10)]
    """

    __metadata_request__split = {"groups": True}

    def __init__(
        self,
        n_splits: int = 10,
        *,
        test_size: float | int | None = 0.2,
        train_size: float | int | None = None,
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

    def _sizes(self, n_rows: int) -> list[int]:
        from tessera.split._sizes import shuffle_split_counts

        n_train, n_test = shuffle_split_counts(n_rows, self.test_size, self.train_size)
        rest = n_rows - n_train - n_test
        return [n_train, n_test] + ([rest] if rest > 0 else [])

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, test_index)`` for each repetition."""
        from tessera.split._api import _n_rows, part_indices
        from tessera.split._methods import to_generator

        n_splits = check_positive_int("n_splits", self.n_splits, minimum=1)
        _check_method(self.method)
        sizes = self._sizes(_n_rows(X))
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
                large_groups="warn",
                diverse=True,
            )
            yield parts[0], parts[1]

    def _iter_test_indices(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[np.ndarray]:
        for _, test in self.split(X, y, groups):
            yield test
