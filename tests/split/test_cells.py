"""The cells of the out-of-core split: median cuts fitted on a sample, and the row allocation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from _dask_split_shapes import typed_table
from tessera.split._cells import allocate, fit_cells, row_uniforms
from tessera.split._engine import near_blocks, pairwise


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.gamma(2.0, size=n),
            "kind": rng.choice(["x", "y", "z"], size=n, p=[0.6, 0.3, 0.1]),
            "flag": rng.random(n) < 0.5,
            "id": np.arange(n),
        }
    )


@settings(max_examples=200, deadline=None)
@given(
    units=st.lists(st.integers(0, 400), min_size=1, max_size=40),
    weights=st.lists(st.floats(0.05, 1.0), min_size=2, max_size=5),
)
def test_allocation_fills_every_unit_and_keeps_running_totals_close(
    units: list[int], weights: list[float]
) -> None:
    fractions = np.array(weights) / sum(weights)
    table = allocate(np.array(units), fractions)
    assert (table >= 0).all()
    assert np.array_equal(table.sum(axis=1), units)
    # What one unit rounds, the next makes up: the totals so far stay near their shares
    # (the bound is rows, not units: it does not grow with the number of units).
    running = np.cumsum(table, axis=0)
    expected = np.cumsum(units)[:, None] * fractions[None, :]
    assert np.abs(running - expected).max() < 2.0
    assert np.abs(running[-1] - expected[-1]).max() < 1.0 + 1e-9


def test_allocation_of_one_unit_is_the_largest_remainder_rule() -> None:
    from tessera.split._sizes import part_counts

    for n in (7, 10, 333, 1001):
        fractions = np.array([0.6, 0.25, 0.15])
        assert np.array_equal(allocate(np.array([n]), fractions)[0], part_counts(fractions, n))


def test_cells_halve_the_sample_and_route_the_table_alike() -> None:
    table = _table(40_000, 0)
    sample = table.sample(4_000, random_state=1).reset_index(drop=True)
    cells = fit_cells(sample, n_rows=len(table), rows_per_cell=5_000, exclude=["id"])
    # 40,000 rows in cells of at most 5,000: three rounds of halving, 8 cells.
    assert cells.n_cells == 8
    assert np.array_equal(np.bincount(cells.of_rows(sample)), np.full(8, 500))
    on_table = np.bincount(cells.of_rows(table), minlength=8)
    assert on_table.sum() == len(table)
    assert np.abs(on_table - 5_000).max() < 800  # the cuts are medians of a sample
    # The identifier is left out: changing it moves no row between cells except by the
    # tie-break hash, which a column of distinct values does not reach here.
    assert "id" not in [c.name for c in cells.columns]


def test_a_cell_is_a_region_of_near_rows() -> None:
    # Metamorphic: rows of one cell are nearer each other than random rows are, as the
    # in-memory splitter's blocks are (its own median cuts on the same points).
    table = _table(6_000, 2).drop(columns=["id"])
    cells = fit_cells(table, n_rows=len(table), rows_per_cell=800)
    points = cells.points(table)
    labels = cells.of_rows(table)
    rng = np.random.default_rng(0)
    within = np.mean([pairwise(points[labels == c]).mean() for c in np.unique(labels)])
    random = np.mean([pairwise(points[rng.choice(6_000, 750)]).mean() for _ in range(8)])
    blocks = near_blocks(points, np.arange(6_000), 800)
    engine = np.mean([pairwise(points[b]).mean() for b in blocks])
    assert within < 0.8 * random
    assert within < 1.25 * engine


def test_ties_on_a_threshold_are_split_by_a_row_hash() -> None:
    # A column with two values only still cuts in halves (the sample median is a tie).
    # The hash covers the whole row, so the identifier (left out of the distance) makes
    # the tied rows distinct.
    frame = pd.DataFrame({"flag": np.repeat([0.0, 1.0], [700, 300]), "id": np.arange(1000)})
    cells = fit_cells(frame, n_rows=1000, rows_per_cell=500, exclude=["id"])
    labels = cells.of_rows(frame)
    assert np.bincount(labels).tolist() == [500, 500]
    assert (labels[700:] == 1).all()  # every 1 is above the cut, 200 of the 0s with them
    # The hash of a row is the same wherever the row is.
    assert np.array_equal(row_uniforms(frame.iloc[::-1])[::-1], row_uniforms(frame))


def test_a_group_lives_in_one_cell() -> None:
    rng = np.random.default_rng(3)
    table = _table(5_000, 3)
    table["household"] = rng.integers(0, 900, size=5_000)
    cells = fit_cells(table, n_rows=5_000, rows_per_cell=700, exclude=["id", "household"])
    labels = cells.of_groups(table, "household")
    per_group = pd.Series(labels).groupby(table["household"].to_numpy()).nunique()
    assert (per_group == 1).all()
    assert np.unique(labels).size == cells.n_cells


def test_cells_type_the_columns_as_the_in_memory_distance_does() -> None:
    from tessera._tables import infer_types

    table = typed_table(4_000, 5)
    table = table.drop(columns=["topic"])
    types = infer_types(table, {"code": "category", "ref": "identifier"})
    cells = fit_cells(table, n_rows=len(table), rows_per_cell=500, exclude=[], types=types)
    kinds = {c.name: c.kind for c in cells.columns}
    assert kinds == {"day": "numeric", "note": "text", "code": "one_hot"}  # ref: left out
    # Dates cut by their time: on the dates alone, the cells' date ranges do not
    # overlap. (Cut as text, "31/01/2020" would sort before "01/02/2019".)
    dates = table[["day", "ref"]]
    cells = fit_cells(
        dates, n_rows=len(table), rows_per_cell=500, types=infer_types(dates, {"ref": "id"})
    )
    labels = cells.of_rows(dates)
    time = pd.to_datetime(table["day"], format="%d/%m/%Y")
    spans = sorted((time[labels == c].min(), time[labels == c].max()) for c in set(labels))
    assert cells.n_cells >= 8
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_text_in_a_cell_is_projected_with_the_samples_vocabulary() -> None:
    from tessera._tables import infer_types

    table = typed_table(3_000, 6)
    texts = table[["note"]]
    sample = texts.iloc[:600].reset_index(drop=True)
    types = infer_types(sample)
    assert types["note"].kind == "text"
    cells = fit_cells(sample, n_rows=len(table), rows_per_cell=300, types=types)
    # Rows outside the sample are projected on the sample's vocabulary and components:
    # equal texts get equal points wherever they are, and a topic's rows lie together.
    points = cells.points(texts)
    again = cells.points(texts.iloc[::-1])[::-1]
    assert np.array_equal(points, again)
    topic = table["topic"].to_numpy()
    centres = np.array([points[topic == t].mean(axis=0) for t in range(3)])
    spread = np.mean(
        [np.linalg.norm(points[topic == t] - centres[t], axis=1).mean() for t in range(3)]
    )
    apart = min(np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3))
    assert apart > 2 * spread
