"""One test per bad input, each checking that the message names the argument and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tessera.errors import InvalidInputError
from tessera.split import BalancedKFold, BalancedShuffleSplit, train_val_test_split

X = np.arange(40.0).reshape(20, 2)


def test_fractions_not_summing_to_one() -> None:
    with pytest.raises(InvalidInputError, match=r"sizes=\(0\.6, 0\.2, 0\.1\).*sum to 1"):
        train_val_test_split(X, sizes=(0.6, 0.2, 0.1))


def test_counts_not_summing_to_n() -> None:
    with pytest.raises(InvalidInputError, match=r"sizes=\(10, 5, 4\).*rows, 20"):
        train_val_test_split(X, sizes=(10, 5, 4))


def test_fewer_rows_than_parts() -> None:
    with pytest.raises(InvalidInputError, match=r"fewer rows \(2\) than parts \(3\)"):
        train_val_test_split(X[:2])


def test_part_rounding_to_empty() -> None:
    with pytest.raises(InvalidInputError, match=r"a part would be empty"):
        train_val_test_split(X[:4], sizes=(0.9, 0.05, 0.05))


def test_negative_size() -> None:
    with pytest.raises(InvalidInputError, match=r"positive"):
        train_val_test_split(X, sizes=(1.2, -0.2))


def test_single_part() -> None:
    with pytest.raises(InvalidInputError, match=r"at least two parts"):
        train_val_test_split(X, sizes=(1.0,))


def test_unknown_target_column() -> None:
    frame = pd.DataFrame({"a": range(20), "b": range(20)})
    with pytest.raises(InvalidInputError, match=r"target='y' is invalid: no such column.*'a', 'b'"):
        train_val_test_split(frame, target="y")


def test_target_name_without_a_frame() -> None:
    with pytest.raises(InvalidInputError, match=r"target='y'.*needs a DataFrame"):
        train_val_test_split(X, target="y")


def test_target_of_wrong_length() -> None:
    with pytest.raises(InvalidInputError, match=r"target=.*one value per row \(20 rows"):
        train_val_test_split(X, target=np.arange(5))


def test_group_larger_than_a_part() -> None:
    groups = np.repeat([0, 1], [15, 5])
    with pytest.raises(InvalidInputError, match=r"groups=.*\(15\) than the smallest part \(4\)"):
        train_val_test_split(X, groups=groups)


def test_arrays_of_different_lengths() -> None:
    with pytest.raises(InvalidInputError, match=r"same number of rows"):
        train_val_test_split(X, np.arange(19))


def test_no_arrays() -> None:
    with pytest.raises(InvalidInputError, match=r"at least one array"):
        train_val_test_split()


def test_unknown_method() -> None:
    with pytest.raises(InvalidInputError, match=r"method='best'.*one of 'auto'"):
        train_val_test_split(X, method="best")


def test_unknown_clusterer() -> None:
    with pytest.raises(InvalidInputError, match=r"clusterer='dbscan'"):
        train_val_test_split(X, method="cluster", clusterer="dbscan")


def test_unknown_id_column() -> None:
    frame = pd.DataFrame({"a": range(20)})
    with pytest.raises(InvalidInputError, match=r"id_columns=\['id'\].*no such column"):
        train_val_test_split(frame, id_columns=["id"])


def test_kfold_with_one_split() -> None:
    with pytest.raises(InvalidInputError, match=r"n_splits=1.*>= 2"):
        list(BalancedKFold(1).split(X))


def test_shuffle_split_with_bad_test_size() -> None:
    with pytest.raises(InvalidInputError, match=r"test_size=1.5.*a fraction in \(0, 1\)"):
        list(BalancedShuffleSplit(2, test_size=1.5).split(X))


def test_shuffle_split_with_fractions_over_one() -> None:
    with pytest.raises(InvalidInputError, match=r"train_size \+ test_size = 1.1 must be at most 1"):
        list(BalancedShuffleSplit(2, test_size=0.5, train_size=0.6).split(X))


def test_shuffle_split_with_a_bool_test_size() -> None:
    with pytest.raises(InvalidInputError, match=r"test_size=True.*an int, a float or None"):
        list(BalancedShuffleSplit(2, test_size=True).split(X))


def test_kfold_with_fewer_groups_than_folds() -> None:
    groups = np.repeat([0, 1, 2], [10, 5, 5])
    with pytest.raises(InvalidInputError, match=r"fewer groups \(3\) than parts \(4\)"):
        list(BalancedKFold(4).split(X, groups=groups))
