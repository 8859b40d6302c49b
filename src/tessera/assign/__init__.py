"""Optimal assignment: the Hungarian problem, solved fast and explained.

Match rows to columns (people to taxis, workers to jobs, tracks to detections)
so that the total cost is minimal (or maximal).

- :func:`linear_sum_assignment` -- drop-in for :func:`scipy.optimize.linear_sum_assignment`.
- :func:`solve` -- the same, returning an :class:`Assignment` with its dual certificate.
- :func:`explain` -- the Hungarian method step by step, as a :class:`Trace` with pictures.
"""

from __future__ import annotations

from tessera.assign._dense import linear_sum_assignment, solve
from tessera.assign._examples import taxi_example
from tessera.assign._result import Assignment
from tessera.assign.explain import Trace, explain
from tessera.errors import InfeasibleAssignmentError

__all__ = [
    "Assignment",
    "InfeasibleAssignmentError",
    "Trace",
    "explain",
    "linear_sum_assignment",
    "solve",
    "taxi_example",
]
