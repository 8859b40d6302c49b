"""Issue 18: metadata routing, sparse X, oversized groups, ShuffleSplit's sizes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import scipy.sparse
import sklearn
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    BaseCrossValidator,
    GridSearchCV,
    GroupKFold,
    KFold,
    ShuffleSplit,
    cross_val_score,
    cross_validate,
)
from sklearn.model_selection._split import _validate_shuffle_split

from tessera.errors import InvalidInputError
from tessera.split import BalancedKFold, BalancedShuffleSplit, GroupSizeWarning

SPLITTERS = [BalancedKFold(3, random_state=0), BalancedShuffleSplit(3, random_state=0)]


@pytest.fixture
def routing() -> Iterator[None]:
    with sklearn.config_context(enable_metadata_routing=True):
        yield
    assert not sklearn.get_config()["enable_metadata_routing"]


@pytest.mark.parametrize("cv", SPLITTERS, ids=type)
def test_groups_are_routed_like_group_kfold(cv: BaseCrossValidator, routing: None) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.arange(60) % 2
    groups = np.arange(60) // 4
    seen: list[np.ndarray] = []

    class Spy(type(cv)):  # type: ignore[misc]
        def split(self, X: Any, y: Any = None, groups: Any = None) -> Any:
            seen.append(groups)
            return super().split(X, y, groups)

    spy = Spy(3, random_state=0)
    for splitter in (GroupKFold(3), spy):
        result = cross_validate(LogisticRegression(), X, y, cv=splitter, params={"groups": groups})
        assert len(result["test_score"]) == 3
    assert seen and np.array_equal(seen[0], groups)
    assert cv.get_metadata_routing().split.requests["groups"] is True


@pytest.mark.parametrize("cv", SPLITTERS, ids=type)
def test_sparse_tfidf_x_works_like_kfold(cv: BaseCrossValidator) -> None:
    words = ["apple", "banana", "cherry", "delta", "echo", "fig", "grape", "hotel"]
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(words, size=5)) for _ in range(45)]
    y = np.arange(45) % 3
    X = TfidfVectorizer().fit_transform(texts)
    assert scipy.sparse.issparse(X)
    splits = list(cv.split(X, y))
    assert len(splits) == 3
    for train, test in splits:
        assert not set(train) & set(test) and np.bincount(y[test]).min() >= 3
    scores = cross_val_score(LogisticRegression(), X, y, cv=cv)
    assert len(scores) == len(list(KFold(3).split(X)))


def test_sparse_x_wider_than_the_projection() -> None:
    rng = np.random.default_rng(5)
    X = scipy.sparse.random(80, 400, density=0.05, format="csr", random_state=5)
    y = rng.integers(0, 2, 80)
    tests = [te for _, te in BalancedKFold(4, random_state=0).split(X, y)]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(80))
    again = [te for _, te in BalancedKFold(4, random_state=0).split(X.tocsc(), y)]
    assert all(np.array_equal(a, b) for a, b in zip(tests, again, strict=True))


def _oversized() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    groups = np.concatenate([np.zeros(30, dtype=int), np.repeat(np.arange(1, 31), 2)])
    X = rng.normal(size=(groups.size, 2))
    return X, np.arange(groups.size) % 2, groups


def test_kfold_with_a_group_larger_than_a_fold() -> None:
    X, _, groups = _oversized()  # 90 rows, 5 folds of 18, a group of 30
    with pytest.warns(GroupSizeWarning, match=r"a group has more rows \(30\) than"):
        splits = list(BalancedKFold(5, random_state=0).split(X, groups=groups))
    tests = [te for _, te in splits]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(groups.size))
    sizes = sorted(te.size for te in tests)
    # the other 60 rows, in groups of 2, share the other 4 folds: 15 each, within a group
    assert sizes[-1] == 30 and all(14 <= s <= 16 for s in sizes[:-1])
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
    assert issubclass(GroupSizeWarning, UserWarning)


def test_shuffle_split_with_a_group_larger_than_the_test_part() -> None:
    X, _, groups = _oversized()
    with pytest.warns(GroupSizeWarning):
        splits = list(
            BalancedShuffleSplit(4, test_size=0.2, random_state=0).split(X, groups=groups)
        )
    for train, test in splits:
        assert train.size + test.size == groups.size and test.size > 0
        assert not set(groups[train]) & set(groups[test])


def test_nested_cv_with_oversized_groups() -> None:
    X, y, groups = _oversized()
    inner = GridSearchCV(
        DummyClassifier(), {"strategy": ["stratified", "most_frequent"]}, cv=BalancedKFold(3)
    )
    with pytest.warns(GroupSizeWarning):
        scores = cross_val_score(
            inner, X, y, groups=groups, cv=BalancedKFold(4, random_state=0), error_score="raise"
        )
    assert len(scores) == 4


def test_nested_cv_with_routed_groups(routing: None) -> None:
    X, y, groups = _oversized()
    for inner_cv, outer_cv in itertools.combinations_with_replacement(
        [BalancedKFold(3, random_state=0), BalancedShuffleSplit(2, random_state=0)], 2
    ):
        search = GridSearchCV(
            DummyClassifier(), {"strategy": ["stratified", "most_frequent"]}, cv=inner_cv
        )
        with pytest.warns(GroupSizeWarning):
            scores = cross_val_score(
                search, X, y, cv=outer_cv, params={"groups": groups}, error_score="raise"
            )
        assert len(scores) == outer_cv.get_n_splits()


def test_train_val_test_split_still_refuses_an_oversized_group() -> None:
    from tessera.split import train_val_test_split

    X, _, groups = _oversized()
    with pytest.raises(InvalidInputError, match=r"more rows \(30\) than the smallest part"):
        train_val_test_split(X, groups=groups, sizes=(0.6, 0.2, 0.2))


SIZES: list[Any] = [None, 0.05, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1, 2, 7, 19, 20, np.int64(3)]


@pytest.mark.parametrize("n", [7, 10, 20, 33])
def test_sizes_are_shuffle_split_sizes(n: int) -> None:
    X = np.random.default_rng(n).normal(size=(n, 2))
    for test_size, train_size in itertools.product(SIZES, SIZES):
        try:
            expected = _validate_shuffle_split(n, test_size, train_size, default_test_size=0.1)
        except ValueError:
            with pytest.raises(InvalidInputError):
                list(BalancedShuffleSplit(1, test_size=test_size, train_size=train_size).split(X))
            continue
        cv = BalancedShuffleSplit(2, test_size=test_size, train_size=train_size, random_state=0)
        sk = ShuffleSplit(2, test_size=test_size, train_size=train_size, random_state=0)
        for (train, test), (sk_train, sk_test) in zip(cv.split(X), sk.split(X), strict=True):
            assert (train.size, test.size) == expected == (sk_train.size, sk_test.size)
            assert not set(train) & set(test)


def test_test_size_rounds_up() -> None:
    X = np.zeros((11, 1))
    train, test = next(BalancedShuffleSplit(1, test_size=0.25, random_state=0).split(X))
    assert (train.size, test.size) == (8, 3)  # ceil(2.75) = 3, as ShuffleSplit
