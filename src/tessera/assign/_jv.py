"""The fast core: a Jonker-Volgenant solver compiled with numba.

Pure functions on float64 arrays that return status codes; validation, error
messages and result objects live in :mod:`tessera.assign._dense`.

The solver keeps only column potentials ``v``: for every assigned row ``i`` the
assigned column is a minimum of the row's reduced costs ``c[i, j] - v[j]``, so
the row potential is implicit, ``u[i] = c[i, x[i]] - v[x[i]]``. Three phases (a
matrix whose entries are all equal is answered before them by
:func:`solve_constant`, with scipy's answer):

1. Initialisation. Square problems use column reduction with reduction
   transfer; every problem then runs two rounds of augmenting row reduction
   (ARR), which assigns most rows of a random problem cheaply.
2. Augmentation: for each row still free, a Dijkstra search over reduced costs
   finds a shortest augmenting path, and the potentials of the scanned columns
   move by their distance to the path. Two searches, picked by the cost's
   character: by distance levels (Jonker-Volgenant, best with ties) or one
   column per fused relax-and-select pass (best when rows have no ties and the
   initialisation left most rows free, as on c[i, j] = a_i * b_j).

ARR can run long chains of tiny potential decrements on real-valued costs, so
each round is capped at a few steps per row, after which displaced
rows wait for the augmentation phase (always correct, only the split of work
between the phases changes).

For rectangular problems (fewer rows than columns) column reduction is
skipped: potentials start at zero and only assigned columns are ever lowered,
so free columns keep ``v = 0`` and ``v <= 0`` elsewhere, which is exactly the
dual feasibility of the rectangular problem.

Numba compiles each function on first call and caches the machine code on disk
(``cache=True``); nothing compiles at import.

References
----------
R. Jonker and A. Volgenant, "A shortest augmenting path algorithm for dense and
sparse linear assignment problems", Computing 38, 325-340 (1987).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

OK = 0
INFEASIBLE = 1

_INF = np.inf
# ARR step budget per row: small problems augment cheaply, so they stop ARR
# early; large ones let it run longer (tuned on uniform costs, n = 100..4000).
ARR_STEPS_PER_ROW_MIN = 0.5
ARR_STEPS_PER_ROW_MAX = 4.0
ARR_STEPS_RAMP = 300.0


@njit(cache=True, nogil=True)
def _column_reduction(c, x, y, v, free, fws, iws):  # type: ignore[no-untyped-def]
    """Column reduction and reduction transfer (square problems).

    Returns the number of free rows, or -1 when a column is entirely forbidden.
    """
    n = c.shape[0]
    colmin = fws[:n]
    colmin[:] = _INF
    argmin = iws[:n]
    argmin[:] = 0
    # Row-major sweep: column minima without strided access.
    for i in range(n):
        for j in range(n):
            h = c[i, j]
            if h < colmin[j]:
                colmin[j] = h
                argmin[j] = i
    for j in range(n):
        if colmin[j] == _INF:
            return -1  # a column no row may take: infeasible
    matches = iws[n : 2 * n]
    matches[:] = 0
    for j in range(n - 1, -1, -1):
        v[j] = colmin[j]
        i = argmin[j]
        matches[i] += 1
        if matches[i] == 1:
            x[i] = j
            y[j] = i
        else:
            y[j] = -1
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
            for j in range(n):
                if j != j1:
                    h = c[i, j] - v[j]
                    if h < best:
                        best = h
            if best < _INF:
                v[j1] -= best
    return numfree


@njit(cache=True, nogil=True)
def _augmenting_row_reduction(c, x, y, v, free, numfree, max_steps):  # type: ignore[no-untyped-def]
    """One round of augmenting row reduction. Returns the new number of free rows."""
    m = c.shape[1]
    k = 0
    prvnumfree = numfree
    numfree = 0
    steps = 0
    while k < prvnumfree:
        i = free[k]
        k += 1
        steps += 1
        # Best and second-best reduced cost of row i.
        u1 = c[i, 0] - v[0]
        j1 = 0
        u2 = _INF
        j2 = -1
        for j in range(1, m):
            h = c[i, j] - v[j]
            if h < u2:
                if h >= u1:
                    u2 = h
                    j2 = j
                else:
                    u2 = u1
                    u1 = h
                    j2 = j1
                    j1 = j
        i0 = y[j1]
        if u2 == _INF:
            # Only one finite entry: take it if free, else leave the row to
            # the augmentation phase (lowering v by an infinite gap is meaningless).
            if i0 < 0 and u1 < _INF:
                x[i] = j1
                y[j1] = i
            else:
                free[numfree] = i
                numfree += 1
            continue
        if u1 < u2:
            v[j1] -= u2 - u1
        elif i0 >= 0:
            j1 = j2
            i0 = y[j1]
        if i0 >= 0:
            if u1 < u2 and steps < max_steps:
                k -= 1
                free[k] = i0
            else:
                free[numfree] = i0
                numfree += 1
        x[i] = j1
        y[j1] = i
        if i0 >= 0:
            x[i0] = -1
    return numfree


@njit(cache=True, nogil=True)
def _augment_single(c, x, y, v, free, numfree, fws, iws, uws):  # type: ignore[no-untyped-def]
    """Shortest augmenting paths, one column per step. Returns (status, failing row).

    Suits costs without ties (distinct values in a row), where every distance
    level holds one column. Dijkstra over columns: each step relaxes the
    unscanned columns from one row and picks the nearest column in the same
    pass (ties prefer a free column, which ends the search early). Unscanned
    columns sit in ``remaining``, compacted by swap-remove; its unsigned
    indices spare numba the negative-index checks in the hot loop.
    """
    m = c.shape[1]
    d = fws[:m]
    pred = iws[:m]
    remaining = uws
    scanned = iws[m : 2 * m]
    for f in range(numfree):
        freerow = free[f]
        for j in range(m):
            d[j] = _INF
            remaining[j] = np.uint32(m - 1 - j)
        nrem = m
        nscan = 0
        i = freerow
        # Offset of row i's reduced costs: u[i] - dmin (zero for the root).
        h0 = 0.0
        dmin = 0.0
        sink = -1
        while sink < 0:
            lowest = _INF
            index = -1
            ci = c[i]
            for it in range(nrem):
                j = remaining[it]
                r = ci[j] - v[j] - h0
                dj = d[j]
                if r < dj:
                    pred[j] = i
                    d[j] = r
                    dj = r
                if dj < lowest or (dj == lowest and y[j] < 0):
                    lowest = dj
                    index = it
            if lowest == _INF:
                return INFEASIBLE, freerow
            dmin = lowest
            j = np.int64(remaining[index])
            nrem -= 1
            remaining[index] = remaining[nrem]
            if y[j] < 0:
                sink = j
            else:
                scanned[nscan] = j
                nscan += 1
                i = y[j]
                h0 = c[i, j] - v[j] - dmin
        # Scanned columns move closer by their slack to the path's length.
        for k in range(nscan):
            j = scanned[k]
            v[j] += d[j] - dmin
        # Flip the alternating path.
        j = sink
        while True:
            i = pred[j]
            y[j] = i
            j1 = j
            j = x[i]
            x[i] = j1
            if i == freerow:
                break
    return OK, -1


@njit(cache=True, nogil=True)
def _augment_levels(c, x, y, v, free, numfree, fws, iws, uws):  # type: ignore[no-untyped-def]
    """Shortest augmenting paths by distance levels. Returns (status, failing row).

    Jonker and Volgenant's search: ``collist`` is partitioned into scanned,
    ready (at the current minimum distance) and unscanned columns; a new level
    is gathered in one pass, and a free column at the level ends the search at
    once. Suits costs with many ties (small integers), where levels are large.
    """
    m = c.shape[1]
    d = fws[:m]
    pred = iws[:m]
    collist = uws
    for f in range(numfree):
        freerow = free[f]
        cf = c[freerow]
        for j in range(m):
            d[j] = cf[j] - v[j]
            pred[j] = freerow
            collist[j] = np.uint32(j)
        low = 0
        up = 0
        last = 0
        endofpath = -1
        dmin = 0.0
        found = False
        while not found:
            if up == low:
                # Collect the unscanned columns at the new minimum distance.
                last = low - 1
                dmin = d[collist[up]]
                up += 1
                for k in range(up, m):
                    j = collist[k]
                    h = d[j]
                    if h <= dmin:
                        if h < dmin:
                            up = low
                            dmin = h
                        collist[k] = collist[up]
                        collist[up] = j
                        up += 1
                if dmin == _INF:
                    return INFEASIBLE, freerow
                for k in range(low, up):
                    if y[collist[k]] < 0:
                        endofpath = np.int64(collist[k])
                        found = True
                        break
            if not found:
                # Scan one column of the minimum set through its assigned row.
                j1 = collist[low]
                low += 1
                i = y[j1]
                ci = c[i]
                h0 = ci[j1] - v[j1] - dmin
                for k in range(up, m):
                    j = collist[k]
                    v2 = ci[j] - v[j] - h0
                    if v2 < d[j]:
                        pred[j] = i
                        if v2 == dmin:
                            if y[j] < 0:
                                endofpath = np.int64(j)
                                found = True
                                break
                            collist[k] = collist[up]
                            collist[up] = j
                            up += 1
                        d[j] = v2
        # Raise the potentials of the columns scanned before the last level.
        for k in range(last + 1):
            j1 = collist[k]
            v[j1] += d[j1] - dmin
        # Flip the alternating path.
        while True:
            i = pred[endofpath]
            y[endofpath] = i
            j1 = endofpath
            endofpath = x[i]
            x[i] = j1
            if i == freerow:
                break
    return OK, -1


@njit(cache=True, nogil=True)
def all_valid(c):  # type: ignore[no-untyped-def]
    """True when no entry of the C-contiguous matrix ``c`` is NaN or ``-inf``.

    One branch-free pass (LLVM vectorises it); NumPy's ``min`` costs more on
    small matrices, where a solve takes microseconds.
    """
    ok = True
    flat = c.ravel()
    for i in range(flat.size):
        ok &= flat[i] > -_INF
    return ok


@njit(cache=True, nogil=True)
def value_range(c):  # type: ignore[no-untyped-def]
    """Smallest and largest entry of a non-empty C-contiguous integer matrix, in one pass."""
    flat = c.ravel()
    low = flat[0]
    high = flat[0]
    for i in range(1, flat.size):
        h = flat[i]
        low = min(low, h)
        high = max(high, h)
    return low, high


@njit(cache=True, nogil=True)
def workspace(n, m):  # type: ignore[no-untyped-def]
    """Scratch arrays for :func:`solve_dense_ws` on an (n, m) problem, n <= m."""
    return np.empty(2 * m), np.empty(2 * m + n, np.int64), np.empty(m, np.uint32)


@njit(cache=True, nogil=True)
def solve_dense(c, x, y, v):  # type: ignore[no-untyped-def]
    """Solve ``min sum c[i, x[i]]`` for ``c`` of shape (n, m) with n <= m.

    Parameters
    ----------
    c : float64[:, :], float32[:, :] or int32[:, :]
        Cost matrix, C-contiguous, no NaN or -inf; ``inf`` marks a forbidden pair.
    x, y : int64[:]
        Outputs: column of each row, row of each column (-1 if none).
    v : float64[:]
        Output: column potentials (the row potentials follow from them).

    Returns
    -------
    (int, int)
        ``(OK, -1)``, or ``(INFEASIBLE, row)`` with a row that has no
        augmenting path.
    """
    fws, iws, uws = workspace(c.shape[0], c.shape[1])
    return solve_dense_ws(c, x, y, v, fws, iws, uws)


@njit(cache=True, nogil=True)
def solve_dense_ws(c, x, y, v, fws, iws, uws):  # type: ignore[no-untyped-def]
    """:func:`solve_dense` with caller-owned scratch arrays from :func:`workspace`.

    Batches reuse one workspace across problems, so small problems cost no
    allocations.
    """
    n, m = c.shape
    x[:] = -1
    y[:] = -1
    if n == 0:
        v[:] = 0.0
        return OK, -1
    free = iws[2 * m : 2 * m + n]
    if n == m:
        numfree = _column_reduction(c, x, y, v, free, fws, iws)
        if numfree < 0:
            v[:] = 0.0
            return INFEASIBLE, -1
    else:
        v[:] = 0.0
        for i in range(n):
            free[i] = i
        numfree = n
    per_row = min(ARR_STEPS_PER_ROW_MAX, max(ARR_STEPS_PER_ROW_MIN, n / ARR_STEPS_RAMP))
    max_steps = int(per_row * n) + 8
    for _ in range(2):
        if numfree == 0:
            break
        numfree = _augmenting_row_reduction(c, x, y, v, free, numfree, max_steps)
    if numfree == 0:
        return OK, -1
    if 2 * numfree > n and _row_values_distinct(c[free[0]], fws[m : 2 * m]):
        # Initialisation failed and rows hold no ties (e.g. c[i, j] = a_i * b_j):
        # levels are single columns, and one fused pass per step is cheaper.
        return _augment_single(c, x, y, v, free, numfree, fws, iws, uws)
    return _augment_levels(c, x, y, v, free, numfree, fws, iws, uws)


@njit(cache=True, nogil=True)
def solve_constant(c, x, y, v):  # type: ignore[no-untyped-def]
    """Answer a matrix whose entries all equal a finite value; else return False.

    Every assignment of a constant matrix is optimal; this one is scipy's (its
    issue #11602): row ``i`` takes column ``i``. ``v = 0`` is dual feasible for
    square and rectangular problems alike (``u[i] = c[i, i]``, every reduced
    cost is 0). The check stops at the first differing entry, so a matrix that
    is not constant costs a few reads. It is a function of its own, called
    before :func:`solve_dense`, because inlined there it slows the solver's
    compiled loops by 5-15%.
    """
    n, m = c.shape
    if n == 0 or c[0, 0] == _INF:
        return False
    first = c[0, 0]
    for i in range(n):
        ci = c[i]
        for j in range(m):
            if ci[j] != first:
                return False
    x[:] = -1
    y[:] = -1
    for i in range(n):
        x[i] = i
        y[i] = i
    v[:] = 0.0
    return True


@njit(cache=True, nogil=True)
def _row_values_distinct(row, buf):  # type: ignore[no-untyped-def]
    """Whether ``row`` holds no repeated value (``buf``: scratch of the same length)."""
    for k in range(row.shape[0]):
        buf[k] = row[k]
    buf.sort()
    for k in range(1, buf.shape[0]):
        if buf[k] == buf[k - 1]:
            return False
    return True


@njit(cache=True, nogil=True, parallel=True)
def solve_dense_batch(costs, xs, vs, status):  # type: ignore[no-untyped-def]
    """Solve a stack of problems of shape (b, n, m), n <= m, in parallel.

    The stack is dealt to a few workers, each with one workspace for all its
    problems.
    """
    b, n, m = costs.shape
    workers = min(b, 64)
    for w in prange(workers):
        fws, iws, uws = workspace(n, m)
        y = np.empty(m, np.int64)
        for k in range(w, b, workers):
            if solve_constant(costs[k], xs[k], y, vs[k]):
                status[k] = OK  # scipy's answer, the identity, as in solve()
            else:
                st, _ = solve_dense_ws(costs[k], xs[k], y, vs[k], fws, iws, uws)
                status[k] = st
