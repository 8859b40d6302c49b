"""Per-key rate limits: one token bucket per key (and per client address for failed logins)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tessera._validation import bad_value

__all__ = ["RateLimit", "RateLimiter"]

#: Past this many buckets, full ones are forgotten (many client addresses, many keys).
_MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class RateLimit:
    """A token bucket's shape: ``burst`` requests at once, refilled at ``per_second``.

    Parameters
    ----------
    per_second : float, default=10.0
        Sustained requests per second per key.
    burst : int, default=40
        Requests a key may make at once after being idle.
    """

    per_second: float = 10.0
    burst: int = 40

    def __post_init__(self) -> None:
        rate = self.per_second
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise bad_value(
                "per_second", rate, "it must be a number > 0", "Pass e.g. per_second=10."
            )
        if not math.isfinite(rate):
            raise bad_value("per_second", rate, "it must be finite", "Pass e.g. 1000.")
        burst = self.burst
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise bad_value("burst", burst, "it must be an int >= 1", "Pass e.g. burst=40.")


class RateLimiter:
    """Token buckets by name; thread-safe.

    Parameters
    ----------
    limit : RateLimit
        The shape of every bucket.
    clock : callable, default=time.monotonic
        Seconds, increasing (tests pass their own).
    """

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        # name -> (tokens, time of that count)
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, name: str) -> float:
        """Take one token from ``name``'s bucket.

        Returns
        -------
        float
            0.0 when a token was taken; otherwise the seconds until one will be there
            (nothing is taken).
        """
        now = self._clock()
        with self._lock:
            if name not in self._buckets and len(self._buckets) >= _MAX_BUCKETS:
                self._forget_full(now)
            tokens, then = self._buckets.get(name, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - then) * self.limit.per_second)
            # The tolerance absorbs rounding in `wait * per_second` after a told wait.
            if tokens >= 1.0 - 1e-9:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / self.limit.per_second

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (the same as absent), so memory stays bounded."""
        limit = self.limit
        self._buckets = {
            name: (tokens, then)
            for name, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * limit.per_second < limit.burst
        }
