"""The CSV loader behind ``tessera assign`` (``tessera.assign._io``), called directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tessera.assign import InfeasibleAssignmentError, solve
from tessera.assign._io import read_cost_table, solve_table
from tessera.errors import InvalidInputError


def test_matrix_layout(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("person,T1,T2\nAna,1.5,\nBen, 2 ,inf\nCid,-3,4e2\n", encoding="utf-8")
    table = read_cost_table(path)
    assert table.layout == "matrix" and table.index_name == "person"
    assert table.row_names == ("Ana", "Ben", "Cid") and table.col_names == ("T1", "T2")
    np.testing.assert_array_equal(table.cost, [[1.5, np.inf], [2, np.inf], [-3, 400]])
    assert table.source == str(path)


def test_edge_layout_keeps_first_appearance_order(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("Row,Column,Cost\nb,Y,1\na,X,2\nb,X,\n", encoding="utf-8")
    table = read_cost_table(path)
    assert table.layout == "edges" and table.index_name == "row"
    assert table.row_names == ("b", "a") and table.col_names == ("Y", "X")
    np.testing.assert_array_equal(table.cost, [[1, np.inf], [np.inf, 2]])


def test_signed_cost_forbids_with_minus_inf_when_maximizing(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("p,X,Y\na,1,\nb,2,3\n", encoding="utf-8")
    table = read_cost_table(path)
    assert np.isposinf(table.signed_cost()[0, 1])
    assert np.isneginf(table.signed_cost(maximize=True)[0, 1])
    result = solve_table(table, maximize=True)
    assert result.total_cost == 4 and result.verify(table.signed_cost(maximize=True))


def test_infeasible_names_rows_by_name(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("p,X,Y\nann,1,\nbob,2,\n", encoding="utf-8")
    with pytest.raises(InfeasibleAssignmentError, match=r"rows \[ann, bob\] \(2\)") as info:
        solve_table(read_cost_table(path))
    assert info.value.rows == (0, 1) and info.value.reachable_cols == (0,)
    assert isinstance(info.value, InvalidInputError)


@st.composite
def matrices_with_inf(draw):
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    values = st.integers(-99, 99).map(float) | st.floats(-1e3, 1e3) | st.just(np.inf)
    return draw(arrays(np.float64, shape, elements=values))


@settings(max_examples=40)
@given(cost=matrices_with_inf(), maximize=st.booleans())
def test_round_trip_through_a_file_solves_like_the_matrix(
    tmp_path_factory: pytest.TempPathFactory, cost: np.ndarray, maximize: bool
) -> None:
    """Write a matrix as CSV (inf as empty cells), read it back, solve: same optimum."""
    path = tmp_path_factory.mktemp("rt") / "c.csv"
    m = cost.shape[1]
    lines = ["who," + ",".join(f"c{j}" for j in range(m))]
    for i, row in enumerate(cost):
        lines.append(f"r{i}," + ",".join("" if np.isinf(x) else repr(float(x)) for x in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = read_cost_table(path)
    np.testing.assert_array_equal(table.cost, cost)
    signed = np.where(np.isinf(cost), -np.inf, cost) if maximize else cost
    try:
        expected = solve(signed, maximize=maximize).total_cost
    except InfeasibleAssignmentError:
        with pytest.raises(InfeasibleAssignmentError):
            solve_table(table, maximize=maximize)
        return
    assert solve_table(table, maximize=maximize).total_cost == expected
