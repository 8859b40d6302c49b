"""A latency budget: percentiles of repeated calls after warm-up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera._validation import bad_value, check_positive_int
from tessera.mltest._failure import MLTestFailure, recorded

__all__ = ["LatencyStats", "assert_latency"]


@dataclass(frozen=True)
class LatencyStats:
    """Latency of the timed calls, in milliseconds."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    calls: int
    times_ms: np.ndarray


@recorded("assert_latency")
def assert_latency(
    predict: Callable[[Any], Any],
    X: Any,
    *,
    p95_ms: float,
    p99_ms: float | None = None,
    warmup: int = 3,
    repeats: int = 30,
) -> LatencyStats:
    """Assert that ``predict(X)`` meets a latency budget at the 95th (and 99th) percentile.

    ``warmup`` calls run first and are not timed (caches, JIT compilation, lazy
    initialisation); then ``repeats`` calls are timed one by one with
    :func:`time.perf_counter`. Percentiles are the ``"higher"`` order statistic,
    so p95 of 30 calls is a call that was actually measured.

    Budgets depend on the machine: mark such tests ``@pytest.mark.ml_latency``
    so that a noisy CI runner can deselect them.

    Parameters
    ----------
    predict : callable
        ``predict(X)``, e.g. ``model.predict``.
    X : object
        The input of every call (a batch or a single row).
    p95_ms : float
        Budget for the 95th percentile, in milliseconds.
    p99_ms : float or None, default=None
        Optional budget for the 99th percentile.
    warmup : int, default=3
        Untimed calls first (0 allowed).
    repeats : int, default=30
        Timed calls.

    Returns
    -------
    LatencyStats
        p50/p95/p99/max and every timed call.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import assert_latency
    >>> X = np.ones((100, 10))
    >>> stats = assert_latency(lambda X: X.sum(axis=1), X, p95_ms=1000.0)
    >>> stats.calls
    30
    """
    if not callable(predict):
        raise bad_value("predict", predict, "it must be callable", "Pass e.g. model.predict.")
    budgets: tuple[tuple[str, float | None], ...] = (("p95_ms", p95_ms), ("p99_ms", p99_ms))
    for name, budget in budgets:
        if budget is not None and (not np.isfinite(budget) or budget <= 0):
            raise bad_value(
                name,
                budget,
                "it must be a positive number of milliseconds",
                f"Pass e.g. {name}=50.0.",
            )
    warmup = check_positive_int("warmup", warmup, minimum=0)
    repeats = check_positive_int("repeats", repeats, minimum=1)
    for _ in range(warmup):
        predict(X)
    times = np.empty(repeats)
    for call in range(repeats):
        start = time.perf_counter()
        predict(X)
        times[call] = (time.perf_counter() - start) * 1000.0
    stats = LatencyStats(
        p50_ms=float(np.percentile(times, 50, method="higher")),
        p95_ms=float(np.percentile(times, 95, method="higher")),
        p99_ms=float(np.percentile(times, 99, method="higher")),
        max_ms=float(times.max()),
        calls=repeats,
        times_ms=times,
    )
    over = []
    if stats.p95_ms > p95_ms:
        over.append(f"p95 {stats.p95_ms:.3g} ms > {p95_ms:g} ms")
    if p99_ms is not None and stats.p99_ms > p99_ms:
        over.append(f"p99 {stats.p99_ms:.3g} ms > {p99_ms:g} ms")
    if not over:
        return stats
    slowest = np.argsort(-times, kind="stable")[:3]
    rule = f"p95 <= {p95_ms:g} ms" + (f" and p99 <= {p99_ms:g} ms" if p99_ms else "")
    raise MLTestFailure(
        "assert_latency",
        expected=f"{rule} over {repeats} calls after {warmup} warm-up calls",
        measured=f"{'; '.join(over)} (p50 {stats.p50_ms:.3g} ms, max {stats.max_ms:.3g} ms)",
        where="slowest calls: " + ", ".join(f"#{int(i)} ({times[i]:.3g} ms)" for i in slowest),
        details={"stats": stats},
    )
