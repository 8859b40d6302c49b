"""Numba helper for :mod:`tessera.assign._batch`: one pass over the solved stack.

The solving itself is :func:`tessera.assign._jv.solve_dense_batch`; this module
only reads each problem's assigned costs back, which numpy's fancy indexing
does several times slower on stacks of small matrices.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def assigned_costs(costs, xs, vs, us, totals):  # type: ignore[no-untyped-def]
    """Fill ``us[p, i] = costs[p, i, xs[p, i]] - vs[p, xs[p, i]]`` and the totals."""
    b, k = xs.shape
    for p in range(b):
        total = 0.0
        for i in range(k):
            j = xs[p, i]
            h = costs[p, i, j]
            us[p, i] = h - vs[p, j]
            total += h
        totals[p] = total
