"""Mixed data: categorical, missing values, identifiers, groups, strata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tessera.split import part_indices, train_val_test_split
from tessera.split._encode import encode, target_codes


def mixed_frame(n: int = 90, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": [f"row-{i:04d}" for i in range(n)],
            "age": rng.normal(40, 12, n),
            "city": rng.choice(["Oslo", "Lima", "Pune"], n),
            "member": rng.random(n) < 0.3,
            "income": rng.lognormal(10, 1, n),
            "label": rng.choice(["cat", "dog"], n),
        }
    )
    frame.loc[rng.choice(n, 9, replace=False), "income"] = np.nan
    frame.loc[rng.choice(n, 5, replace=False), "city"] = None
    return frame


def test_encoding_one_hot_codes_and_skips_identifiers() -> None:
    frame = mixed_frame()
    encoded = encode(frame, frame["label"], {"label"})
    # age, income (z-scored), 3 cities + missing, member True/False, label code
    assert encoded.points.shape == (90, 2 + 4 + 2 + 1)
    assert np.isfinite(encoded.points).all()
    assert encoded.classes is not None and set(encoded.classes) == {0, 1}


def test_target_codes_tell_classes_from_measurements() -> None:
    assert target_codes(np.array([0, 1, 1, 2])) is not None
    assert target_codes(np.array(["a", "b"])) is not None
    assert target_codes(np.linspace(0, 1, 50)) is None


@pytest.mark.parametrize("method", ["random", "stratified", "cluster", "twin", "auto"])
def test_mixed_frame_splits_with_ids_kept_on_their_rows(method: str) -> None:
    frame = mixed_frame()
    train, val, test = train_val_test_split(frame, target="label", method=method, random_state=1)
    together = pd.concat([train, val, test]).sort_index()
    pd.testing.assert_frame_equal(together, frame)  # nothing lost, nothing altered (NaN too)
    assert [len(train), len(val), len(test)] == [54, 18, 18]


def test_groups_never_cross_parts() -> None:
    frame = mixed_frame(120)
    groups = np.arange(120) // 3
    for method in ("random", "stratified", "cluster", "twin", "auto"):
        parts = part_indices(frame, target="label", groups=groups, method=method, random_state=2)
        owner = {}
        for p, rows in enumerate(parts):
            for g in np.unique(groups[rows]):
                assert owner.setdefault(g, p) == p
        assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(120))
        assert all(
            abs(rows.size - share * 120) <= 3
            for rows, share in zip(parts, (0.6, 0.2, 0.2), strict=True)
        )


def test_group_column_by_name() -> None:
    frame = mixed_frame(60)
    frame["patient"] = np.arange(60) // 2
    train, val, test = train_val_test_split(frame, groups="patient", random_state=0)
    assert not set(train.patient) & set(test.patient)
    assert not set(val.patient) & set(test.patient)


def test_strata_keep_their_proportions() -> None:
    frame = mixed_frame(100)
    parts = part_indices(frame, strata="city", method="auto", random_state=3)
    city = frame["city"].fillna("?").to_numpy()
    for rows, share in zip(parts, (0.6, 0.2, 0.2), strict=True):
        for level in np.unique(city):
            assert abs((city[rows] == level).sum() - share * (city == level).sum()) <= 1


def test_cluster_within_a_column() -> None:
    frame = mixed_frame(100)
    parts = part_indices(
        frame,
        method="cluster",
        within="member",
        sampling="systematic",
        target="age",
        random_state=0,
    )
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(100))
