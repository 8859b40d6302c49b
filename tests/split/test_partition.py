"""Every method returns a partition with the asked sizes, reproducibly under a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.split import part_indices, train_val_test_split
from tessera.split._sizes import part_counts

METHODS = ["random", "stratified", "cluster", "twin", "auto"]
CLUSTER_VARIANTS = [
    {"clusterer": "kmeans", "sampling": "random"},
    {"clusterer": "kmeans", "sampling": "stratified"},
    {"clusterer": "kmeans", "sampling": "systematic"},
    {"clusterer": "hdbscan", "sampling": "systematic"},
]


@st.composite
def tables(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Small tables with duplicates, constant columns, NaN and a class of two members."""
    n = draw(st.integers(3, 40))
    d = draw(st.integers(1, 4))
    values = draw(
        st.lists(
            st.sampled_from([0.0, 1.0, -2.5, 3.0, np.nan, 1e6]), min_size=n * d, max_size=n * d
        )
    )
    X = np.array(values).reshape(n, d)
    if draw(st.booleans()):
        X[:, 0] = 7.0  # a constant column
    if draw(st.booleans()) and n >= 4:
        X[n // 2 :] = X[: n - n // 2]  # duplicated rows
    y = np.zeros(n, dtype=np.int64)
    y[:2] = 1  # a class with two members
    if n > 6:
        y[6:] = draw(st.lists(st.integers(0, 2), min_size=n - 6, max_size=n - 6))
    return X, y


def check_partition(parts: list[np.ndarray], n: int, sizes: np.ndarray) -> None:
    together = np.concatenate(parts)
    assert np.array_equal(np.sort(together), np.arange(n)), "every row in exactly one part"
    assert [p.size for p in parts] == sizes.tolist()


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=12)
@given(data=tables(), fractions=st.sampled_from([(0.6, 0.2, 0.2), (0.5, 0.5), (0.7, 0.3)]))
def test_every_method_returns_an_exact_partition(
    method: str, data: tuple[np.ndarray, np.ndarray], fractions: tuple[float, ...]
) -> None:
    X, y = data
    n = X.shape[0]
    if n < len(fractions) * 2:
        return
    sizes = part_counts(fractions, n)
    parts = part_indices(X, y, sizes=fractions, method=method, random_state=0)
    check_partition(parts, n, sizes)


@pytest.mark.parametrize("options", CLUSTER_VARIANTS)
def test_cluster_recipes_return_a_partition(options: dict[str, str]) -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(6, 1, (40, 3))])
    y = (X[:, 0] > 2).astype(int)
    parts = part_indices(X, y, sizes=(0.6, 0.2, 0.2), method="cluster", random_state=3, **options)
    check_partition(parts, 100, np.array([60, 20, 20]))


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_split_other_seed_other_split(method: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = rng.integers(0, 3, 120)
    a = part_indices(X, y, method=method, random_state=11)
    b = part_indices(X, y, method=method, random_state=11)
    c = part_indices(X, y, method=method, random_state=12)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c, strict=True))


@given(n=st.integers(2, 500), k=st.integers(2, 5), data=st.data())
def test_fraction_sizes_are_exact_to_one_row(n: int, k: int, data: st.DataObject) -> None:
    if n < k:
        return
    weights = np.array(data.draw(st.lists(st.integers(1, 9), min_size=k, max_size=k)), float)
    fractions = weights / weights.sum()
    if (fractions * n < 1).any():
        return
    counts = part_counts(fractions.tolist(), n)
    assert counts.sum() == n
    assert np.all(np.abs(counts - fractions * n) < 1.0)


def test_counts_are_taken_as_given() -> None:
    assert part_counts((7, 2, 1), 10).tolist() == [7, 2, 1]


def test_stratified_keeps_class_proportions_to_one_row() -> None:
    y = np.repeat([0, 1, 2], [50, 30, 20])
    X = np.arange(100.0).reshape(-1, 1)
    for method in ("stratified", "twin", "auto"):
        parts = part_indices(X, y, sizes=(0.6, 0.2, 0.2), method=method, random_state=0)
        for part, share in zip(parts, (0.6, 0.2, 0.2), strict=True):
            counts = np.bincount(y[part], minlength=3)
            assert np.all(np.abs(counts - share * np.array([50, 30, 20])) <= 1)


def test_outputs_keep_type_index_and_order() -> None:
    frame = pd.DataFrame({"a": np.arange(30.0), "b": list("xyz") * 10}, index=np.arange(30) * 7)
    series = pd.Series(np.arange(30) % 2, index=frame.index, name="t")
    listed = list(range(30))
    out = train_val_test_split(frame, series, listed, random_state=0)
    assert len(out) == 9
    f_tr, f_va, f_te, s_tr, s_va, s_te, l_tr, l_va, l_te = out
    assert isinstance(f_tr, pd.DataFrame) and isinstance(s_tr, pd.Series) and isinstance(l_tr, list)
    assert f_tr.index.is_monotonic_increasing
    assert set(f_tr.index) | set(f_va.index) | set(f_te.index) == set(frame.index)
    assert s_va.index.equals(f_va.index)
    assert [frame.index[i] for i in l_te] == list(f_te.index)
