"""Starting prices for the sparse solver: a forward auction with epsilon scaling.

A square problem's exact solve (:func:`tessera.assign._sparse_core.solve_csr`)
is fastest from nearly optimal column potentials: its augmentation phase then
leaves few rows and short searches (on random graphs with 10^5 rows this is
what makes it an order of magnitude faster than LAPJVsp). Bertsekas' auction
finds such prices quickly; only the prices are kept, never the auction's
assignment, so exactness rests on the Jonker-Volgenant phases alone.

References
----------
D. P. Bertsekas, "The auction algorithm: a distributed relaxation method for
the assignment problem", Annals of Operations Research 14, 105-123 (1988).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_INF = np.inf


@njit(cache=True, nogil=True)
def _auction_prices(indptr, indices, data, v, eps, eps_final, budget):  # type: ignore[no-untyped-def]
    """Near-optimal column potentials by a forward auction with epsilon scaling.

    Each phase starts with every row unassigned; a row bids for its best
    column, lowering its potential by the gap to the second best plus ``eps``
    and taking it from its owner, until every row holds a column. ``eps``
    shrinks fivefold per phase down to ``eps_final``. Only ``v`` is kept: the
    exact solver then starts from these potentials, so its shortest path
    searches are short (any finite potentials are a valid start for a square
    problem; good ones only make it fast).

    ``budget`` bounds the bids of all phases together. Returns False when it
    runs out before the first phase ends (an infeasible graph never ends a
    phase), so the caller starts from column reduction instead; after that,
    running out keeps the prices reached, which are already useful.
    """
    n = indptr.shape[0] - 1
    m = v.shape[0]
    y = np.empty(m, np.int64)
    stack = np.empty(n, np.int64)
    bids = 0
    phases = 0
    while True:
        y[:] = -1
        for i in range(n):
            stack[i] = n - 1 - i
        top = n
        while top > 0:
            top -= 1
            i = stack[top]
            u1 = _INF
            u2 = _INF
            j1 = -1
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                h = data[p] - v[j]
                if h < u2:
                    if h < u1:
                        u2 = u1
                        u1 = h
                        j1 = j
                    else:
                        u2 = h
            if j1 < 0:
                return False
            if u2 == _INF:
                u2 = u1  # a single edge: the row must take it, bid the minimum
            v[j1] -= u2 - u1 + eps
            i0 = y[j1]
            if i0 >= 0:
                stack[top] = i0
                top += 1
            y[j1] = i
            bids += 1
            if bids > budget:
                return phases > 0
        phases += 1
        if eps <= eps_final:
            return True
        eps = max(eps / 5.0, eps_final)


@njit(cache=True, nogil=True)
def auction_start(indptr, indices, data, v):  # type: ignore[no-untyped-def]
    """Fill ``v`` with auction prices for a square problem; False to use column reduction.

    ``data`` is best shifted to start at 0 (see
    :func:`tessera.assign._sparse_core.solve_csr`).
    """
    v[:] = 0.0
    if data.size == 0:
        return False
    high = data.max()
    low = data.min()
    spread = high - low
    if not 0.0 < spread < _INF:
        return False  # all costs equal (nothing to price) or a spread beyond float64
    # The final eps is a millionth of the typical spread (10th to 90th
    # percentile of a sample), not of the full spread: a few huge costs must
    # not make the prices coarse. It stays well above the rounding step of
    # the largest cost, or bids would stop moving prices.
    sample = np.sort(data[:: max(1, data.size // 4096)])
    distinct = 1
    for k in range(1, sample.size):
        if sample[k] != sample[k - 1]:
            distinct += 1
    if distinct < 32:
        # Few distinct costs: under column reduction the reduced costs stay on
        # their lattice and searches stop at the first tie with a free column;
        # auction prices would split those ties into eps steps to scan.
        return False
    typical = sample[(9 * sample.size) // 10] - sample[sample.size // 10]
    if typical <= 0.0:
        typical = spread
    eps_final = max(typical * 1e-6, max(abs(high), abs(low)) * 2.0**-45)
    budget = 128 * v.shape[0] + 4096
    return _auction_prices(
        indptr, indices, data, v, max(spread / 4.0, eps_final), eps_final, budget
    )
