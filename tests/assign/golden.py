"""Golden assignment problems shared by every solver's tests (dense, sparse, batch).

Each case is a dict:

- ``name``: short id, used as the pytest id.
- ``cost``: the cost matrix as a list of rows (``INF`` marks a forbidden pair;
  ``-INF`` when ``maximize`` is true).
- ``maximize``: whether the total is maximised.
- ``total``: the optimal total, or ``None`` when the problem is infeasible.
- ``infeasible``: true when no complete assignment avoids the forbidden pairs.

Every total was computed by brute force over all assignments, and
``tests/assign/test_dense_golden.py`` re-checks each one against
:func:`brute_force` and scipy, so a wrong golden value fails loudly.

Import from another test module in ``tests/assign`` with
``from golden import GOLDEN, brute_force, case_ids``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

__all__ = ["GOLDEN", "INF", "brute_force", "case_ids", "cost_array", "feasible_cases"]

INF = math.inf


def _case(name: str, cost: list[list[float]], total: float | None, *, maximize: bool = False):
    return {
        "name": name,
        "cost": cost,
        "maximize": maximize,
        "total": total,
        "infeasible": total is None,
    }


_SCIPY_DOC = [[4, 1, 3], [2, 0, 5], [3, 2, 2]]
_WIDE = [[3, 7, 1, 9], [2, 8, 6, 4]]
_NEGATIVE = [[-3, 5, 0], [2, -8, 1], [4, 4, -2]]
_HARD6 = [[(i + 1) * (j + 1) for j in range(6)] for i in range(6)]
_FLOATS = [[0.5, 1.25, 2.0], [1.75, 0.25, 3.5], [2.5, 2.0, 0.125]]
# Greedy (cheapest entry first) takes (0,0)=1 and is then forced to pay 100+.
_GREEDY_TRAP = [[1, 2, 100], [2, 100, 100], [100, 3, 4]]
_DERANGEMENT = [[INF, 2, 3], [4, INF, 6], [7, 8, INF]]
_LARGE = [[1e12, 2e12 + 1], [3e12, 1e12 + 7]]

GOLDEN: list[dict[str, Any]] = [
    _case("one_by_one", [[7.0]], 7.0),
    _case("one_by_one_max", [[7.0]], 7.0, maximize=True),
    _case("scipy_doc", _SCIPY_DOC, 5.0),
    _case("scipy_doc_max", _SCIPY_DOC, 11.0, maximize=True),
    _case("wide_2x4", _WIDE, 3.0),
    _case("wide_2x4_max", _WIDE, 17.0, maximize=True),
    _case("tall_4x2", [list(col) for col in zip(*_WIDE, strict=True)], 3.0),
    _case("single_row", [[5, 3, 9, 4]], 3.0),
    _case("single_col", [[5], [3], [9], [4]], 3.0),
    _case("negative", _NEGATIVE, -13.0),
    _case("negative_max", _NEGATIVE, 10.0, maximize=True),
    _case("hard_structured_6", _HARD6, 56.0),
    _case("hard_structured_6_max", _HARD6, 91.0, maximize=True),
    _case("floats", _FLOATS, 0.875),
    _case("floats_max", _FLOATS, 7.25, maximize=True),
    _case("greedy_trap", _GREEDY_TRAP, 8.0),
    _case("all_ties", [[0.0] * 5 for _ in range(5)], 0.0),
    _case("ties_ones_4x6", [[1.0] * 6 for _ in range(4)], 4.0),
    _case("derangement", _DERANGEMENT, 15.0),
    _case(
        "derangement_max",
        [[-INF if x == INF else x for x in row] for row in _DERANGEMENT],
        15.0,
        maximize=True,
    ),
    _case("forced_by_inf", [[1, INF, INF], [INF, 2, INF], [INF, INF, 3]], 6.0),
    _case("wide_with_inf", [[INF, 1, INF, 8], [INF, 2, INF, 3]], 4.0),
    _case("large_magnitude", _LARGE, 2000000000007.0),
    _case("large_magnitude_max", _LARGE, 5000000000001.0, maximize=True),
    _case("empty_0x0", [], 0.0),
    _case("infeasible_row", [[INF, INF], [1, 2]], None),
    _case("infeasible_col", [[INF, 1], [INF, 2]], None),
    _case("infeasible_hall", [[1, INF, INF], [2, INF, INF], [3, 4, 5]], None),
    _case("infeasible_tall", [[INF, 1], [INF, 2], [INF, 3]], None),
    _case("infeasible_wide", [[INF, INF, INF], [1, 2, 3]], None),
    _case("infeasible_max", [[-INF, -INF], [1, 2]], None, maximize=True),
]


def case_ids(cases: list[dict[str, Any]]) -> list[str]:
    """The ``name`` of each case, for ``pytest.mark.parametrize(ids=...)``."""
    return [c["name"] for c in cases]


def feasible_cases() -> list[dict[str, Any]]:
    """The cases with an optimal total."""
    return [c for c in GOLDEN if not c["infeasible"]]


def cost_array(case: dict[str, Any]) -> np.ndarray:
    """The case's cost as a float64 matrix (``(0, 0)`` for the empty case)."""
    cost = np.asarray(case["cost"], dtype=np.float64)
    return cost.reshape(0, 0) if cost.size == 0 else cost


def brute_force(cost: Any, maximize: bool = False) -> float | None:
    """The optimal total by trying every assignment; ``None`` if infeasible.

    The reference for tiny problems (up to about 8x8): it enumerates the
    injective maps from the smaller side to the larger one.
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.size == 0:
        return 0.0
    if c.shape[0] > c.shape[1]:
        c = c.T
    n, m = c.shape
    rows = np.arange(n)
    best: float | None = None
    for perm in itertools.permutations(range(m), n):
        total = float(c[rows, list(perm)].sum())
        if not math.isfinite(total):
            continue
        if best is None or (total > best if maximize else total < best):
            best = total
    return best
