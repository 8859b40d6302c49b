"""The sparse core: a Jonker-Volgenant shortest augmenting path solver on CSR.

Pure numba functions on arrays that return status codes; validation, error
messages and the result object live in :mod:`tessera.assign._sparse`.

The graph has ``n`` rows and ``m >= n`` columns; row ``i`` owns the edges
``indptr[i]:indptr[i + 1]`` of ``indices`` (columns) and ``data`` (costs). As in
:mod:`tessera.assign._jv` only column potentials ``v`` are stored; the
potential of an assigned row is implicit, ``u[i] = c[i, x[i]] - v[x[i]]``,
because its column is a minimum of its reduced costs. Phases:

1. Initialisation (:func:`start`). Square problems use column reduction with
   reduction transfer; when that leaves many rows free, the caller prices the
   columns with the auction (:mod:`tessera.assign._sparse_auction`) and each
   row takes a free column of least reduced cost under those prices.
   Rectangular problems start from zero potentials, the rectangular dual.
   Every problem then runs two rounds of augmenting row reduction over each
   row's edges.
2. Augmentation: for each row still free, Dijkstra over the reduced costs with
   an indexed binary heap (decrease-key, no stale entries). Only the columns a
   search touches are reset afterwards, so an augmentation costs the size of
   its search tree, never ``O(m)``; this is what makes large sparse graphs fast.
3. Potentials of the columns the search finalised are raised by their distance
   to the path, which keeps every reduced cost non-negative.

When a search runs out of columns without reaching a free one, the rows and
columns of its tree are a Hall violator: every column reached is assigned to a
row of the tree, so the tree has one row more than it can reach. The solver
returns that tree, so the error can name it without a second algorithm.

References
----------
R. Jonker and A. Volgenant, "A shortest augmenting path algorithm for dense and
sparse linear assignment problems", Computing 38, 325-340 (1987).
"""

from __future__ import annotations

import numpy as np
from numba import njit

OK = 0
INFEASIBLE = 1

_INF = np.inf


@njit(cache=True, nogil=True)
def build_csr(rows, cols, weights, n, m):  # type: ignore[no-untyped-def]
    """Bucket edges by row (counting sort). Returns (indptr, indices, data, dup).

    ``dup`` is the position in the input of the first repeated ``(row, col)``
    pair, or -1 when every pair is distinct.
    """
    nnz = rows.shape[0]
    indptr = np.zeros(n + 1, np.int64)
    for e in range(nnz):
        indptr[rows[e] + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    indices = np.empty(nnz, np.int64)
    data = np.empty(nnz, np.float64)
    origin = np.empty(nnz, np.int64)
    for e in range(nnz):
        i = rows[e]
        p = fill[i]
        indices[p] = cols[e]
        data[p] = weights[e]
        origin[p] = e
        fill[i] = p + 1
    last_row = np.full(m, -1, np.int64)
    last_pos = np.zeros(m, np.int64)
    dup = -1
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if last_row[j] == i:
                later = max(origin[p], origin[last_pos[j]])
                if dup < 0 or later < dup:
                    dup = later
            last_row[j] = i
            last_pos[j] = p
    return indptr, indices, data, dup


@njit(cache=True, nogil=True)
def _column_reduction(indptr, indices, data, x, y, v, xw, free):  # type: ignore[no-untyped-def]
    """Column reduction and reduction transfer (square problems). Returns #free rows."""
    n = x.shape[0]
    m = v.shape[0]
    colmin = np.full(m, _INF)
    argmin = np.full(m, -1, np.int64)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if data[p] < colmin[j]:
                colmin[j] = data[p]
                argmin[j] = i
    matches = np.zeros(n, np.int64)
    for j in range(m - 1, -1, -1):
        i = argmin[j]
        if i < 0:
            v[j] = 0.0  # a column without edges: the augmentation reports it
            continue
        v[j] = colmin[j]
        matches[i] += 1
        if matches[i] == 1:
            x[i] = j
            y[j] = i
            xw[i] = colmin[j]
    numfree = 0
    for i in range(n):
        if matches[i] == 0:
            free[numfree] = i
            numfree += 1
        elif matches[i] == 1:
            # Reduction transfer: lower v of the assigned column by the row's
            # second-best reduced cost, keeping the column row-minimal.
            j1 = x[i]
            best = _INF
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                if j != j1:
                    h = data[p] - v[j]
                    if h < best:
                        best = h
            if best < _INF:
                v[j1] -= best
    return numfree


@njit(cache=True, nogil=True)
def _augmenting_row_reduction(indptr, indices, data, x, y, v, xw, free, numfree, max_steps):  # type: ignore[no-untyped-def]
    """One round of augmenting row reduction. Returns the new number of free rows."""
    k = 0
    prvnumfree = numfree
    numfree = 0
    steps = 0
    while k < prvnumfree:
        i = free[k]
        k += 1
        steps += 1
        u1 = _INF
        u2 = _INF
        j1 = -1
        j2 = -1
        w1 = 0.0
        w2 = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            h = data[p] - v[j]
            if h < u2:
                if h >= u1:
                    u2 = h
                    j2 = j
                    w2 = data[p]
                else:
                    u2 = u1
                    j2 = j1
                    w2 = w1
                    u1 = h
                    j1 = j
                    w1 = data[p]
        if j1 < 0:
            free[numfree] = i  # no edges: the augmentation reports the row
            numfree += 1
            continue
        i0 = y[j1]
        if u2 == _INF:
            # One edge only: take it if free, else leave the row to the
            # augmentation phase (an infinite gap cannot lower a potential).
            if i0 < 0:
                x[i] = j1
                y[j1] = i
                xw[i] = w1
            else:
                free[numfree] = i
                numfree += 1
            continue
        if u1 < u2:
            v[j1] -= u2 - u1
        elif i0 >= 0:
            j1 = j2
            w1 = w2
            i0 = y[j1]
        if i0 >= 0:
            if u1 < u2 and steps < max_steps:
                k -= 1
                free[k] = i0
            else:
                free[numfree] = i0
                numfree += 1
            x[i0] = -1
        x[i] = j1
        y[j1] = i
        xw[i] = w1
    return numfree


@njit(cache=True, nogil=True, inline="always")
def _sift_up(heap, pos, d, t):  # type: ignore[no-untyped-def]
    j = heap[t]
    key = d[j]
    while t > 0:
        parent = (t - 1) >> 1
        q = heap[parent]
        if d[q] <= key:
            break
        heap[t] = q
        pos[q] = t
        t = parent
    heap[t] = j
    pos[j] = t


@njit(cache=True, nogil=True, inline="always")
def _enter(heap, pos, touched, j, ntouched, size):  # type: ignore[no-untyped-def]
    """Put an unseen column at the end of the heap (the caller sifts it up)."""
    if pos[j] == -1:
        touched[ntouched] = j
        heap[size] = j
        pos[j] = size
        return ntouched + 1, size + 1
    return ntouched, size


@njit(cache=True, nogil=True, inline="always")
def _pop(heap, pos, d, size):  # type: ignore[no-untyped-def]
    """Remove and return the column of least distance; ``size`` is before removal."""
    top = heap[0]
    size -= 1
    if size > 0:
        j = heap[size]
        key = d[j]
        t = 0
        while True:
            child = 2 * t + 1
            if child >= size:
                break
            if child + 1 < size and d[heap[child + 1]] < d[heap[child]]:
                child += 1
            q = heap[child]
            if d[q] >= key:
                break
            heap[t] = q
            pos[q] = t
            t = child
        heap[t] = j
        pos[j] = t
    return top


@njit(cache=True, nogil=True)
def _augment(indptr, indices, data, x, y, v, xw, free, numfree, tree):  # type: ignore[no-untyped-def]
    """Shortest augmenting paths for the free rows. Returns (status, row, tree size)."""
    m = v.shape[0]
    d = np.full(m, _INF)
    pred = np.empty(m, np.int64)
    predw = np.empty(m, np.float64)
    heap = np.empty(m, np.int64)
    pos = np.full(m, -1, np.int64)  # -1 unseen, -2 finalised, else heap slot
    touched = np.empty(m, np.int64)
    for f in range(numfree):
        freerow = free[f]
        ntouched = 0
        nscanned = 0
        size = 0
        endofpath = -1
        dmin = 0.0
        for p in range(indptr[freerow], indptr[freerow + 1]):
            j = indices[p]
            h = data[p] - v[j]
            if h < d[j]:
                ntouched, size = _enter(heap, pos, touched, j, ntouched, size)
                d[j] = h
                pred[j] = freerow
                predw[j] = data[p]
                _sift_up(heap, pos, d, pos[j])
        while size > 0 and endofpath < 0:
            j1 = _pop(heap, pos, d, size)
            size -= 1
            dj = d[j1]
            if y[j1] < 0:
                endofpath = j1
                dmin = dj
                break
            pos[j1] = -2
            tree[nscanned] = j1
            nscanned += 1
            i = y[j1]
            h0 = xw[i] - v[j1] - dj
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                if pos[j] == -2:
                    continue
                nd = data[p] - v[j] - h0
                if nd < d[j]:
                    ntouched, size = _enter(heap, pos, touched, j, ntouched, size)
                    d[j] = nd
                    pred[j] = i
                    predw[j] = data[p]
                    if nd <= dj and y[j] < 0:
                        # A free column at the current distance: nothing can
                        # be nearer, so the path ends here (ties are common
                        # with integer costs and would otherwise be scanned).
                        d[j] = dj
                        endofpath = j
                        dmin = dj
                        break
                    _sift_up(heap, pos, d, pos[j])
        if endofpath < 0:
            return INFEASIBLE, freerow, nscanned
        for k in range(nscanned):
            j1 = tree[k]
            v[j1] += d[j1] - dmin
        while True:
            i = pred[endofpath]
            y[endofpath] = i
            xw[i] = predw[endofpath]
            j1 = endofpath
            endofpath = x[i]
            x[i] = j1
            if i == freerow:
                break
        for k in range(ntouched):
            j = touched[k]
            d[j] = _INF
            pos[j] = -1
    return OK, -1, 0


@njit(cache=True, nogil=True)
def _tight_greedy(indptr, indices, data, x, y, v, xw, free):  # type: ignore[no-untyped-def]
    """Give each row a free column of least reduced cost, if it has one. Returns #free rows.

    Keeps the invariant of the exact phases (an assigned column is a row
    minimum); after the auction most rows find one, without moving a price.
    """
    n = x.shape[0]
    numfree = 0
    for i in range(n):
        u1 = _INF
        for p in range(indptr[i], indptr[i + 1]):
            h = data[p] - v[indices[p]]
            if h < u1:
                u1 = h
        got = -1
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if y[j] < 0 and data[p] - v[j] == u1:
                got = p
                break
        if got >= 0:
            j = indices[got]
            x[i] = j
            y[j] = i
            xw[i] = data[got]
        else:
            free[numfree] = i
            numfree += 1
    return numfree


ZERO = 0
COLUMN_REDUCTION = 1
PRICED = 2


@njit(cache=True, nogil=True)
def start(indptr, indices, data, x, y, v, xw, free, how):  # type: ignore[no-untyped-def]
    """Initial assignment and potentials. Returns the number of free rows in ``free``.

    ``how`` is ``ZERO`` (zero potentials, nothing assigned: the rectangular
    dual), ``COLUMN_REDUCTION`` (square: column reduction with reduction
    transfer) or ``PRICED`` (square, ``v`` holding auction prices from
    :func:`tessera.assign._sparse_auction.auction_start`: each row takes a
    free column of least reduced cost).
    """
    n = x.shape[0]
    x[:] = -1
    y[:] = -1
    if how == PRICED:
        return _tight_greedy(indptr, indices, data, x, y, v, xw, free)
    if how == COLUMN_REDUCTION:
        return _column_reduction(indptr, indices, data, x, y, v, xw, free)
    v[:] = 0.0
    for i in range(n):
        free[i] = i
    return n


@njit(cache=True, nogil=True)
def solve_csr(indptr, indices, data, x, y, v, xw, free, numfree, tree):  # type: ignore[no-untyped-def]
    """Finish the assignment on a CSR graph with n rows <= m columns from :func:`start`.

    Parameters
    ----------
    indptr, indices : int64[:]
        The CSR structure; every row's columns are distinct.
    data : float64[:]
        Finite edge costs; best shifted so that the least is 0 (adding a
        constant to every edge moves every complete assignment's total
        alike), which keeps the potentials small and the auction's bids
        above rounding.
    x, y, v, xw : arrays
        The state from :func:`start`, and the outputs: column of each row
        (n), row of each column (m), column potentials (m), and the cost of
        each row's assigned edge (n), so ``u = xw - v[x]``.
    free, numfree : int64[:], int
        The free rows from :func:`start`.
    tree : int64[:]
        Output on failure: the columns reached from the failing row (m).

    Returns
    -------
    (int, int, int)
        ``(OK, -1, 0)`` or ``(INFEASIBLE, row, k)``: ``row`` and the rows
        assigned to ``tree[:k]`` reach only the columns ``tree[:k]``.
    """
    n = x.shape[0]
    max_steps = 16 * n + 1024
    for _ in range(2):
        if numfree == 0:
            break
        numfree = _augmenting_row_reduction(
            indptr, indices, data, x, y, v, xw, free, numfree, max_steps
        )
    return _augment(indptr, indices, data, x, y, v, xw, free, numfree, tree)
