"""Small worked examples shared by the docs, the demo and the tests."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["taxi_example"]

_PEOPLE = ["Ana", "Ben", "Cleo", "Dev"]
_TAXIS = ["Taxi 1", "Taxi 2", "Taxi 3", "Taxi 4"]
# Minutes for each taxi to reach each person. Chosen so that the optimum is 36,
# reached by exactly two assignments (Ana and Dev may swap Taxi 1 and Taxi 3),
# the matrix method and the graph method each find a different one of them, and
# the greedy rule (each person in turn takes the nearest free taxi) costs 48.
# tests/assign/test_explain_taxi.py checks every one of these claims.
_MINUTES = [
    [13, 8, 13, 14],
    [13, 4, 14, 10],
    [15, 5, 15, 4],
    [15, 11, 15, 7],
]


# A reduced 5 x 5 matrix whose zeros trap the "cover the line with the most zeros
# first" rule of thumb. Rows 1 and 3 have their only zero in column 2, so at most
# four zeros are independent, and four lines suffice (rows 0, 2, 4 and column 2).
# The rule of thumb takes column 2 (four zeros), then column 1 (three), then needs
# three more lines for the three zeros left in three different rows and columns:
# five lines, "= n", although no complete assignment hides among the zeros. Used by
# docs/explanation/hungarian.md and tests/assign/test_explain_taxi.py.
GREEDY_COVER_TRAP = (
    (4, 0, 0, 0, 3),
    (2, 5, 0, 1, 6),
    (0, 0, 0, 7, 2),
    (3, 2, 0, 4, 1),
    (5, 0, 8, 6, 0),
)


def taxi_example() -> tuple[NDArray[np.int64], list[str], list[str]]:
    """Four people, four taxis: the worked example of the Hungarian walkthrough.

    Returns
    -------
    cost : ndarray of int64, shape (4, 4)
        ``cost[i, j]``: minutes taxi ``j`` needs to reach person ``i``.
    people : list of str
        Row names.
    taxis : list of str
        Column names.

    Notes
    -----
    The optimum is 36 minutes, reached by exactly two assignments; the
    matrix method finds Ana → Taxi 3, Dev → Taxi 1, the graph method
    Ana → Taxi 1, Dev → Taxi 3 (Ben → Taxi 2 and Cleo → Taxi 4 in both). The
    greedy rule, each person in turn taking the nearest free taxi, costs 48.

    Examples
    --------
    >>> from tessera.assign import solve, taxi_example
    >>> cost, people, taxis = taxi_example()
    >>> solve(cost).total_cost
    36.0
    """
    return np.array(_MINUTES, dtype=np.int64), list(_PEOPLE), list(_TAXIS)
