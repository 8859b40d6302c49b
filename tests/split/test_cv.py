"""The cross-validators honour scikit-learn's contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import Ridge
from sklearn.model_selection import BaseCrossValidator, GridSearchCV, cross_val_score
from sklearn.tree import DecisionTreeClassifier

from tessera.split import BalancedKFold, BalancedShuffleSplit

SPLITTERS = [BalancedKFold(4, random_state=0), BalancedShuffleSplit(3, random_state=0)]


@pytest.mark.parametrize("cv", SPLITTERS, ids=type)
def test_is_a_cross_validator(cv: BaseCrossValidator) -> None:
    assert isinstance(cv, BaseCrossValidator)
    assert cv.get_n_splits() == len(list(cv.split(np.zeros((40, 2)))))
    assert "random_state=0" in repr(cv)


def test_kfold_test_folds_partition_the_rows() -> None:
    X, y = load_iris(return_X_y=True)
    tests = [test for _, test in BalancedKFold(5, random_state=0).split(X, y)]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(150))
    assert {t.size for t in tests} == {30}
    for train, test in BalancedKFold(5, random_state=0).split(X, y):
        assert not set(train) & set(test) and train.size + test.size == 150
        assert np.bincount(y[test]).tolist() == [10, 10, 10]


def test_kfold_groups_stay_in_one_fold() -> None:
    X, y = load_diabetes(return_X_y=True)
    groups = np.arange(len(y)) // 5
    for train, test in BalancedKFold(4, random_state=1).split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_shuffle_split_repetitions_differ_and_repeat_under_a_seed() -> None:
    X = np.random.default_rng(0).normal(size=(60, 3))
    first = [test for _, test in BalancedShuffleSplit(3, random_state=5).split(X)]
    again = [test for _, test in BalancedShuffleSplit(3, random_state=5).split(X)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], first[1])
    train, test = next(
        BalancedShuffleSplit(1, train_size=0.5, test_size=0.25, random_state=0).split(X)
    )
    assert (train.size, test.size) == (30, 15) and not set(train) & set(test)


def test_in_cross_val_score_and_grid_search() -> None:
    X, y = load_iris(return_X_y=True)
    scores = cross_val_score(
        DecisionTreeClassifier(random_state=0), X, y, cv=BalancedKFold(5, random_state=0)
    )
    assert scores.shape == (5,) and scores.mean() > 0.85
    Xd, yd = load_diabetes(return_X_y=True)
    search = GridSearchCV(
        Ridge(), {"alpha": [0.01, 100.0]}, cv=BalancedShuffleSplit(3, random_state=0)
    ).fit(Xd, yd)
    assert search.best_params_ == {"alpha": 0.01}
    assert len(search.cv_results_["split2_test_score"]) == 2
