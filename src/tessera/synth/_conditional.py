"""Latent draws of the copula given fixed values of some columns.

A fixed continuous value pins its latent variable to a point; a fixed discrete value
(a category, an integer with few values) confines it to an interval. The latent
variables of the fixed columns are drawn first (points as given; intervals from the
truncated conditional normal, exactly for one interval and by a few Gibbs sweeps for
several), then the free ones from the conditional Gaussian given all of them.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["conditional_latent"]

_GIBBS_SWEEPS = 25


def conditional_latent(
    corr: np.ndarray,
    fixed: dict[int, tuple[float, float]],
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` latent rows from N(0, corr) given ``fixed[j] = (lower, upper)`` for columns j."""
    d = corr.shape[0]
    z = np.zeros((n, d))
    points = [j for j, (lo, hi) in fixed.items() if lo == hi]
    intervals = [j for j, (lo, hi) in fixed.items() if lo != hi]
    for j in points:
        z[:, j] = fixed[j][0]
    if intervals:
        sweeps = 1 if len(intervals) == 1 else _GIBBS_SWEEPS
        for j in intervals:
            lo, hi = fixed[j]
            z[:, j] = _start(lo, hi)
        conditioned = points + intervals
        for _ in range(sweeps):
            for j in intervals:
                others = [k for k in conditioned if k != j]
                mean, sd = _univariate_conditional(corr, j, others, z)
                lo, hi = fixed[j]
                a, b = (lo - mean) / sd, (hi - mean) / sd
                u = rng.random(n)
                z[:, j] = mean + sd * stats.truncnorm.ppf(u, a, b)
    free = [j for j in range(d) if j not in fixed]
    if free:
        given = sorted(fixed)
        s_cc = corr[np.ix_(given, given)]
        s_cf = corr[np.ix_(given, free)]
        weights = np.linalg.solve(s_cc, s_cf)
        cov = corr[np.ix_(free, free)] - s_cf.T @ weights
        cov = (cov + cov.T) / 2.0 + 1e-10 * np.eye(len(free))
        chol = np.linalg.cholesky(cov)
        z[:, free] = z[:, given] @ weights + rng.standard_normal((n, len(free))) @ chol.T
    return z


def _start(lo: float, hi: float) -> float:
    if np.isfinite(lo) and np.isfinite(hi):
        return (lo + hi) / 2.0
    if np.isfinite(lo):
        return lo + 0.5
    if np.isfinite(hi):
        return hi - 0.5
    return 0.0


def _univariate_conditional(
    corr: np.ndarray, j: int, others: list[int], z: np.ndarray
) -> tuple[np.ndarray, float]:
    if not others:
        return np.zeros(z.shape[0]), 1.0
    s_oo = corr[np.ix_(others, others)]
    s_oj = corr[others, j]
    weights = np.linalg.solve(s_oo, s_oj)
    var = max(float(corr[j, j] - s_oj @ weights), 1e-10)
    return z[:, others] @ weights, float(np.sqrt(var))
