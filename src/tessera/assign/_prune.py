"""Dense problems solved on a few candidate edges per row, proved optimal by their duals.

On most dense problems met in practice (random, geometric, noisy scores) the
optimal assignment uses only pairs that are among the cheapest of their row
once every column has been reduced by its minimum. :func:`solve_pruned` keeps
``k`` such candidates per row (and each column's cheapest pair, so that every
column can be reached), solves that sparse problem exactly with the sparse core
(:mod:`tessera.assign._sparse_core`), then checks the answer against *every*
entry of the dense matrix in one pass: with row potentials
``u[i] = c[i, x[i]] - v[x[i]]``, the assignment is optimal for the dense matrix
when no reduced cost ``c[i, j] - v[j] - u[i]`` is negative (linear programming
duality; the same certificate that ``Assignment.verify`` checks). Pairs that fail
the check join the candidates and the sparse problem is solved again; after a
few rounds, or when the candidates admit no complete assignment, the caller
falls back to the dense solver. The answer is therefore never worse than the
dense solver's; pruning only changes how fast it is found.

"Negative" allows for rounding: the dense solver's own potentials satisfy its
row-minimum invariant only up to a few units in the last place of the values
involved, so the check allows ``-TOLERANCE_ULPS * eps * (|u[i]| + max|v|)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tessera.assign import _sparse_core as sparse
from tessera.assign._jv import OK, solve_constant, solve_dense

# Candidates per row to start with; extra rounds for pairs the certificate
# rejects; how fast the candidates grow when that is not enough, and the most
# (a 1 / MAX_FRACTION share of each row) before the dense solver takes over.
CANDIDATES_PER_ROW = 10
# Below this size fewer candidates pay: the certificate's passes cost as much as the
# sparse solve, and eight per row pass about as often as ten (tuned on seeds other
# than the benchmark's, n = 400..2000, uniform float and int).
SMALL_SIZE = 1000
CANDIDATES_PER_ROW_SMALL = 8
ROUNDS = 4
GROWTH = 4
MAX_FRACTION = 16
# Rejected pairs gathered per round, as a multiple of n; more means pruning failed.
MAX_REJECTED_PER_ROW = 16
TOLERANCE_ULPS = 8.0

_INF = np.inf
_EPS = np.finfo(np.float64).eps


@njit(cache=True, nogil=True)
def _column_minima(c, colmin):  # type: ignore[no-untyped-def]
    """Column minima by a row-major sweep; False when a column is entirely forbidden."""
    n, m = c.shape
    for j in range(m):
        colmin[j] = _INF
    for i in range(n):
        ci = c[i]
        for j in range(m):
            h = ci[j]
            if h < colmin[j]:
                colmin[j] = h
    for j in range(m):
        if colmin[j] == _INF:
            return False
    return True


@njit(cache=True, nogil=True)
def _candidates(c, colmin, k, rows, cols):  # type: ignore[no-untyped-def]
    """Each row's ``k`` least reduced costs ``c[i, j] - colmin[j]``; returns the edge count.

    Row ``i`` scans from a column offset of its own, so that rows with many
    tied entries (small integer costs) pick different columns among the ties.
    Forbidden pairs are never candidates. Then every column that no row picked
    gets its cheapest pair.
    """
    n, m = c.shape
    best = np.empty(k)
    bestj = np.empty(k, np.int64)
    degree = np.zeros(m, np.int64)
    e = 0
    for i in range(n):
        ci = c[i]
        start = (i * 40503) % m
        filled = 0
        worst = -_INF
        wpos = 0
        for t in range(m):
            j = start + t
            if j >= m:
                j -= m
            h = ci[j] - colmin[j]
            if filled < k:
                if h < _INF:
                    best[filled] = h
                    bestj[filled] = j
                    if h > worst:
                        worst = h
                        wpos = filled
                    filled += 1
            elif h < worst:
                best[wpos] = h
                bestj[wpos] = j
                worst = best[0]
                wpos = 0
                for s in range(1, k):
                    if best[s] > worst:
                        worst = best[s]
                        wpos = s
        for s in range(filled):
            rows[e] = i
            cols[e] = bestj[s]
            degree[bestj[s]] += 1
            e += 1
    for j in range(m):
        if degree[j] == 0:
            arg = 0
            low = _INF
            for i in range(n):
                if c[i, j] < low:
                    low = c[i, j]
                    arg = i
            rows[e] = arg
            cols[e] = j
            e += 1
    return e


@njit(cache=True, nogil=True)
def _rejected(c, x, v, rows, cols, start, cap):  # type: ignore[no-untyped-def]
    """Append the pairs whose reduced cost is negative beyond rounding; returns the new end.

    Returns ``-1`` when more than ``cap`` pairs are rejected.
    """
    n, m = c.shape
    vmax = 0.0
    for j in range(m):
        a = abs(v[j])
        if a > vmax:
            vmax = a
    e = start
    for i in range(n):
        ci = c[i]
        u = ci[x[i]] - v[x[i]]
        bound = u - TOLERANCE_ULPS * _EPS * (abs(u) + vmax)
        for j in range(m):
            if ci[j] - v[j] < bound:
                if e - start >= cap:
                    return -1
                rows[e] = i
                cols[e] = j
                e += 1
    return e


@njit(cache=True, nogil=True)
def _solve_candidates(c, rows, cols, end, x, y, v, warm):  # type: ignore[no-untyped-def]
    """Solve the sparse problem on the pairs ``rows[:end], cols[:end]``; True when complete.

    With ``warm``, ``x``, ``y``, ``v`` hold the answer on fewer pairs: rows whose
    assigned pair is still a least reduced cost among their pairs keep it, the
    others are freed, and only those are augmented (the sparse core's phases
    need nothing more than that invariant).
    """
    n = c.shape[0]
    weights = np.empty(end)
    for e in range(end):
        weights[e] = c[rows[e], cols[e]]
    indptr, indices, data, dup = sparse.build_csr(rows[:end], cols[:end], weights, n, n)
    if dup >= 0:
        return False
    xw = np.empty(n)
    free = np.empty(n, np.int64)
    tree = np.empty(n, np.int64)
    if warm:
        numfree = 0
        for i in range(n):
            j1 = x[i]
            low = _INF
            for p in range(indptr[i], indptr[i + 1]):
                h = data[p] - v[indices[p]]
                if h < low:
                    low = h
            own = c[i, j1] - v[j1]
            if own > low:
                x[i] = -1
                y[j1] = -1
                free[numfree] = i
                numfree += 1
            else:
                xw[i] = c[i, j1]
    else:
        numfree = sparse.start(indptr, indices, data, x, y, v, xw, free, sparse.COLUMN_REDUCTION)
    status, _, _ = sparse.solve_csr(indptr, indices, data, x, y, v, xw, free, numfree, tree)
    return status == sparse.OK


@njit(cache=True, nogil=True)
def solve_pruned(c, x, y, v, k):  # type: ignore[no-untyped-def]
    """Solve a square problem on candidate pairs and certify it on the whole matrix.

    Starts from ``k`` candidates per row. Pairs the certificate rejects join the
    candidates (up to ``ROUNDS`` times); when the candidates admit no complete
    assignment, or too many pairs are rejected, ``k`` grows by
    ``GROWTH`` and the candidates are chosen again, until ``k`` would pass
    ``n // MAX_FRACTION``.

    Parameters
    ----------
    c : float64[:, :], float32[:, :] or int32[:, :]
        Square cost matrix, C-contiguous, no NaN or -inf; ``inf`` forbids a pair.
    x, y : int64[:]
        Outputs: column of each row, row of each column.
    v : float64[:]
        Output: column potentials.
    k : int
        Candidates per row to start with.

    Returns
    -------
    bool
        True when ``x``, ``y``, ``v`` hold a certified optimum; False when the
        caller must solve densely (outputs then undefined).
    """
    n = c.shape[0]
    colmin = np.empty(n)
    if n == 0 or not _column_minima(c, colmin):
        return False
    cap = MAX_REJECTED_PER_ROW * n
    k = min(k, n)
    while True:
        size = n * k + n + ROUNDS * cap
        rows = np.empty(size, np.int64)
        cols = np.empty(size, np.int64)
        end = _candidates(c, colmin, k, rows, cols)
        for r in range(ROUNDS):
            if not _solve_candidates(c, rows, cols, end, x, y, v, r > 0):
                break
            new_end = _rejected(c, x, v, rows, cols, end, cap)
            if new_end == end:
                return True
            if new_end < 0:
                break
            end = new_end
        k *= GROWTH
        if k > n // MAX_FRACTION:
            return False


@njit(cache=True, nogil=True)
def solve_auto(c, prune_min_size, k):  # type: ignore[no-untyped-def]
    """Every dense problem's entry point (1 <= n <= m): one compiled call, whichever path answers.

    A constant matrix gets scipy's identity (:func:`tessera.assign._jv.solve_constant`);
    a square one from ``prune_min_size`` up tries :func:`solve_pruned` with ``k``
    candidates per row (at most ``CANDIDATES_PER_ROW_SMALL`` below ``SMALL_SIZE``); the
    rest, and whatever pruning cannot certify, go to :func:`tessera.assign._jv.solve_dense`.
    Returns ``(status, x, v)``: ``OK`` or ``INFEASIBLE``, each row's column and the
    column potentials (allocated here, which costs less than allocating them in Python
    on small problems).
    """
    n, m = c.shape
    x = np.empty(n, np.int64)
    y = np.empty(m, np.int64)
    v = np.empty(m, np.float64)
    if solve_constant(c, x, y, v):
        return OK, x, v
    if n == m and n >= prune_min_size:
        if solve_pruned(c, x, y, v, min(k, CANDIDATES_PER_ROW_SMALL) if n < SMALL_SIZE else k):
            return OK, x, v
    status, _ = solve_dense(c, x, y, v)
    return status, x, v
