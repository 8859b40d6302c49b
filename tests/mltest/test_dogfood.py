"""Our own ML-ish code tested with our own assertions: tessera.split under tessera.mltest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from tessera.mltest import (
    MLTestFailure,
    assert_backends_agree,
    assert_frame_contract,
    assert_invariant,
    assert_reproducible,
    shuffle_column,
)
from tessera.split import part_indices, train_val_test_split


def _customers(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "spend": rng.gamma(2.0, 50.0, n),
            "tenure": rng.integers(1, 120, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
        }
    )
    return frame, rng.integers(0, 2, n)


def _part_of_each_row(frame: pd.DataFrame | np.ndarray, **kwargs: object) -> np.ndarray:
    labels = np.full(len(frame), -1)
    for part, rows in enumerate(part_indices(frame, random_state=0, **kwargs)):
        labels[rows] = part
    return labels


@pytest.mark.parametrize("method", ["auto", "random", "stratified"])
def test_splits_are_reproducible_under_a_seed(method: str) -> None:
    frame, y = _customers()
    parts = assert_reproducible(
        lambda seed: part_indices(frame, y, method=method, random_state=seed), seed=5
    )
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(frame)))


def test_an_id_column_does_not_steer_the_split() -> None:
    frame, _ = _customers()

    def part_of(frame: pd.DataFrame) -> np.ndarray:
        return _part_of_each_row(frame, id_columns=["customer_id"])

    assert assert_invariant(part_of, frame, shuffle_column("customer_id", seed=1)) == 1.0
    # The same check has teeth: a feature the splitter balances does move rows between parts.
    with pytest.raises(MLTestFailure, match="rows that moved"):
        assert_invariant(part_of, frame, shuffle_column("spend", seed=1))


def test_a_dataframe_and_its_array_are_split_alike() -> None:
    frame, _ = _customers()
    numeric = frame[["spend", "tenure"]]
    assert (
        assert_backends_agree(
            _part_of_each_row,
            lambda X: _part_of_each_row(X.to_numpy()),
            numeric,
            names=("DataFrame", "ndarray"),
        )
        == 0.0
    )


def test_every_part_keeps_the_frame_contract() -> None:
    frame, y = _customers()
    schema = pa.DataFrameSchema(
        {
            "customer_id": pa.Column(int, unique=True),
            "spend": pa.Column(float, pa.Check.gt(0)),
            "tenure": pa.Column(int, pa.Check.in_range(1, 119)),
            "plan": pa.Column(str, pa.Check.isin(["basic", "plus", "pro"])),
        },
        strict=True,
        ordered=True,
    )
    train, val, test, *_ = train_val_test_split(frame, y, random_state=0)
    for part in (train, val, test):
        assert_frame_contract(part, schema)
    assert len(set(train["customer_id"]) & set(test["customer_id"])) == 0
