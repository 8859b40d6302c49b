"""scikit-learn's own generic splitter checks, run on our splitters (issue 18).

The installed ``sklearn/model_selection/tests/test_split.py`` is imported and its
test functions are called with our classes substituted at run time (nothing is
copied). Checks that cannot take our classes have a test of ours for the same
property below; deliberate differences are listed in docs/how-to/split.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import BaseCrossValidator

from tessera.split import BalancedKFold, BalancedShuffleSplit

sk_split = pytest.importorskip("sklearn.model_selection.tests.test_split")

GROUP_SPLITTERS = [BalancedKFold(3, random_state=0), BalancedShuffleSplit(3, random_state=0)]


def _params(test: Callable[..., Any], names: str) -> list[Any]:
    """The argument values of a test's ``parametrize`` mark for ``names``."""
    marks = test.pytestmark  # type: ignore[attr-defined]
    (mark,) = [m for m in marks if m.name == "parametrize" and m.args[0].replace(" ", "") == names]
    return list(mark.args[1])


@pytest.mark.parametrize("cv", GROUP_SPLITTERS, ids=type)
def test_sklearn_metadata_routing_checks(
    cv: BaseCrossValidator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sk_split, "GROUP_SPLITTERS", [cv])
    sk_split.test_splitter_get_metadata_routing(cv)
    sk_split.test_splitter_set_split_request(cv)


@pytest.mark.parametrize(
    ("cv", "expected"),
    [
        (BalancedKFold(random_state=1), True),
        (BalancedShuffleSplit(random_state=1), True),
        (BalancedKFold(), False),
        (BalancedShuffleSplit(random_state=np.random.RandomState(0)), False),
    ],
    # Fixed ids: a RandomState's repr holds its address, which differs between xdist workers.
    ids=["kfold-seed", "shuffle-seed", "kfold-none", "shuffle-randomstate"],
)
def test_sklearn_yields_constant_splits(cv: BaseCrossValidator, expected: bool) -> None:
    sk_split.test_yields_constant_splits(cv, expected)


@pytest.mark.parametrize(
    ("test_size", "train_size"), _params(sk_split.test_shufflesplit_errors, "test_size,train_size")
)
def test_sklearn_shufflesplit_errors(
    test_size: Any, train_size: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sk_split, "ShuffleSplit", BalancedShuffleSplit)
    sk_split.test_shufflesplit_errors(test_size, train_size)


def test_sklearn_shuffle_split_and_reproducible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sk_split, "ShuffleSplit", BalancedShuffleSplit)
    sk_split.test_shuffle_split()  # test_size=0.2, 2 and np.int32(2) give the same splits
    sk_split.test_shufflesplit_reproducible()


@pytest.mark.parametrize(
    ("train_size", "exp_train", "exp_test"),
    _params(sk_split.test_shuffle_split_default_test_size, "train_size,exp_train,exp_test"),
)
def test_sklearn_shuffle_split_default_test_size(
    train_size: Any, exp_train: int, exp_test: int
) -> None:
    # Our default test_size is 0.2 (documented); test_size=None is ShuffleSplit's default.
    split_class = functools.partial(BalancedShuffleSplit, test_size=None)
    sk_split.test_shuffle_split_default_test_size(split_class, train_size, exp_train, exp_test)


# Our tests for the properties of checks that cannot take our classes.


@pytest.mark.parametrize("cv", GROUP_SPLITTERS, ids=type)
def test_default_params_like_sklearn(cv: BaseCrossValidator) -> None:
    """As test_cross_validator_with_default_params: 1-D X, integer indices, get_n_splits.

    Our folds depend on the values of X (sklearn's check feeds a 2-column X and an
    unrelated 1-D X), so the 1-D X is compared with the same values as one column.
    """
    X = np.array([[1], [3], [5], [7], [9], [12]])
    X_1d = X[:, 0]
    y = np.array([1, 1, 1, 2, 2, 2])
    assert cv.get_n_splits(X, y) == 3
    for (tr_2d, te_2d), (tr_1d, te_1d) in zip(cv.split(X, y), cv.split(X_1d, y), strict=True):
        assert np.array_equal(tr_2d, tr_1d) and np.array_equal(te_2d, te_1d)
        assert tr_2d.dtype.kind == "i" and te_2d.dtype.kind == "i"


@pytest.mark.parametrize("cv", GROUP_SPLITTERS, ids=type)
def test_2d_y_like_sklearn(cv: BaseCrossValidator) -> None:
    """As test_2d_y: a column y and multilabel y are accepted."""
    rng = np.random.RandomState(1)
    X = rng.randint(0, 3, size=(30, 2))
    y = rng.randint(0, 3, size=(30,))
    for target in (y.reshape(-1, 1), rng.randint(0, 2, size=(30, 3))):
        assert len(list(cv.split(X, target))) == 3


@pytest.mark.parametrize("shuffle_seed", [0, 1, 2])
def test_group_kfold_like_sklearn(shuffle_seed: int) -> None:
    """As test_group_kfold: sizes within 5 %, a group in one fold only, list groups alike."""
    rng = np.random.RandomState(shuffle_seed)
    X = y = np.ones(1000)
    groups = rng.randint(0, 15, 1000)
    cv = BalancedKFold(5, random_state=shuffle_seed)
    folds = np.full(1000, -1)
    for i, (train, test) in enumerate(cv.split(X, y, groups)):
        folds[test] = i
        assert not np.intersect1d(groups[train], groups[test]).size
    assert (folds >= 0).all()
    assert all(abs((folds == i).sum() - 200) <= 50 for i in range(5))
    assert all(np.unique(folds[groups == g]).size == 1 for g in np.unique(groups))
    as_list = [te for _, te in cv.split(X, y, groups.tolist())]
    assert all(
        np.array_equal(a, b)
        for a, b in zip(as_list, [te for _, te in cv.split(X, y, groups)], strict=True)
    )
    with pytest.raises(ValueError, match=r"fewer groups \(2\) than parts \(3\)"):
        next(BalancedKFold(3).split(np.ones(5), np.ones(5), np.array([1, 1, 1, 2, 2])))


def test_shuffle_split_empty_trainset_like_sklearn() -> None:
    with pytest.raises(ValueError, match=r"with 1 rows and test_size=0.99 .* would be empty"):
        next(BalancedShuffleSplit(test_size=0.99).split([[1]], [0]))
