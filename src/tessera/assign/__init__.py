"""Optimal assignment: the Hungarian problem, solved fast and explained.

Match rows to columns (people to taxis, workers to jobs, tracks to detections)
so that the total cost is minimal (or maximal).

- :func:`linear_sum_assignment` -- drop-in for :func:`scipy.optimize.linear_sum_assignment`.
- :func:`solve` -- the same, returning an :class:`Assignment` with its dual certificate.
- :func:`solve_sparse`, :func:`solve_batch`, :func:`k_best` -- sparse graphs, stacks
  of small problems, and the k cheapest assignments in order.
- :func:`min_weight_full_bipartite_matching` -- drop-in for scipy's sparse matching,
  over :func:`solve_sparse`.
- :func:`explain` -- the Hungarian method step by step, as a :class:`Trace` with pictures.
- :func:`precompile` -- compile the numba kernels once, ahead of the first solve.
- :func:`solve_bag` -- a Dask bag of problems of any shapes (``dask`` extra); a Dask
  array given to :func:`solve_batch` is solved on Dask too.
"""

from __future__ import annotations

from tessera.assign._batch import BatchAssignment, solve_batch
from tessera.assign._dask import solve_bag
from tessera.assign._dense import linear_sum_assignment, solve
from tessera.assign._examples import taxi_example
from tessera.assign._kbest import RankedAssignment, k_best
from tessera.assign._precompile import precompile
from tessera.assign._result import Assignment
from tessera.assign._scipy_sparse import min_weight_full_bipartite_matching
from tessera.assign._sparse import SparseAssignment, solve_sparse
from tessera.assign.explain import Trace, explain
from tessera.errors import InfeasibleAssignmentError

__all__ = [
    "Assignment",
    "BatchAssignment",
    "InfeasibleAssignmentError",
    "RankedAssignment",
    "SparseAssignment",
    "Trace",
    "explain",
    "k_best",
    "linear_sum_assignment",
    "min_weight_full_bipartite_matching",
    "precompile",
    "solve",
    "solve_bag",
    "solve_batch",
    "solve_sparse",
    "taxi_example",
]
