"""Optimal assignment: the Hungarian problem, solved fast and explained.

Match rows to columns (people to taxis, workers to jobs, tracks to detections)
so that the total cost is minimal (or maximal).

- :func:`linear_sum_assignment` -- drop-in for :func:`scipy.optimize.linear_sum_assignment`.
- :func:`solve` -- the same, returning an :class:`Assignment` with its dual certificate.
"""

from __future__ import annotations

from tessera.assign._dense import linear_sum_assignment, solve
from tessera.assign._result import Assignment
from tessera.errors import InfeasibleAssignmentError

__all__ = [
    "Assignment",
    "InfeasibleAssignmentError",
    "linear_sum_assignment",
    "solve",
]
