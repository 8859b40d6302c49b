"""Compile (or load from numba's on-disk cache) every solver kernel ahead of use."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["precompile"]


def precompile() -> float:
    """Compile every numba kernel of :mod:`tessera.assign`, or load it from the cache.

    The solvers compile on first use and cache the machine code on disk, so
    only the very first call after installation pays for compilation (seconds
    per kernel and cost dtype). Call this once after installing (``make demo``
    and ``make test`` do) to move that cost out of the first real solve.

    Returns
    -------
    float
        Seconds spent.

    Examples
    --------
    >>> from tessera.assign import precompile
    >>> precompile() >= 0.0
    True
    """
    from tessera.assign._batch import solve_batch
    from tessera.assign._dense import solve
    from tessera.assign._kbest import k_best
    from tessera.assign._sparse import solve_sparse

    start = time.perf_counter()
    base = np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    for dtype in (np.float64, np.float32, np.int32, np.int64):
        solve(base.astype(dtype))  # compiles every path of the dense entry point
    k_best(base, 2)
    solve_batch(np.stack([base, base.T]))
    rows, cols = np.nonzero(base >= 0)
    solve_sparse((rows, cols, base[rows, cols]), shape=base.shape)
    return time.perf_counter() - start
