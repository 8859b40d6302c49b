"""Admission control: token buckets per key, failed-login buckets, and a bounded worker pool.

- :class:`RateLimiter`: one token bucket per name (a key's requests).
- :class:`FailedLoginLimiter`: buckets per client address and per key id, taken *before* a
  key is hashed, so an attempt it refuses costs no argon2 check.
- :class:`BoundedPool`: argon2 checks run on a few threads of their own, with a bounded
  queue; past it, work is refused at once (:class:`BusyError`) instead of piling up.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from tessera._validation import bad_value, check_positive_int
from tessera.errors import TesseraError

__all__ = ["BoundedPool", "BusyError", "FailedLoginLimiter", "RateLimit", "RateLimiter"]

#: At most this many buckets: full ones are forgotten first, then the least recently used
#: (many client addresses, many key ids), so memory stays bounded whatever is sent.
_MAX_BUCKETS = 10_000

T = TypeVar("T")


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
            # Popped and put back: the dict's order is then least recently used first.
            tokens, then = self._buckets.pop(name, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - then) * self.limit.per_second)
            # The tolerance absorbs rounding in `wait * per_second` after a told wait.
            if tokens >= 1.0 - 1e-9:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / self.limit.per_second

    def refund(self, name: str) -> None:
        """Give back one token taken by :meth:`acquire` (for an attempt that should not count)."""
        with self._lock:
            found = self._buckets.get(name)
            if found is not None:
                tokens, then = found
                self._buckets[name] = (min(float(self.limit.burst), tokens + 1.0), then)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (the same as absent), then the least recently used."""
        limit = self.limit
        self._buckets = {
            name: (tokens, then)
            for name, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * limit.per_second < limit.burst
        }
        # Forgetting a bucket that is not full hands its owner a fresh burst; that is the
        # price of a bound on memory, and the bounded pool below still caps the work.
        while len(self._buckets) >= _MAX_BUCKETS:
            del self._buckets[next(iter(self._buckets))]


class FailedLoginLimiter:
    """Failed-login buckets, one per client address and one per key id.

    A key check that needs argon2 takes a token from both buckets first
    (:meth:`acquire`); when either is empty the attempt is refused before any hashing.
    A check that succeeds gives both tokens back (:meth:`refund`), so only failures
    count.

    Parameters
    ----------
    limit : RateLimit
        The shape of every bucket.
    clock : callable, default=time.monotonic
        Seconds, increasing (tests pass their own).
    """

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clients = RateLimiter(limit, clock)
        self._key_ids = RateLimiter(limit, clock)

    def acquire(self, client: str | None, key_id: str) -> tuple[float, str]:
        """Take a token from the client's bucket and from the key id's.

        Returns
        -------
        tuple of (float, str)
            ``(0.0, "")`` when both tokens were taken; otherwise the seconds until the
            empty bucket has a token again and what it limits (``"from this address"``
            or ``"for key <id>"``), and nothing is taken.
        """
        wait = self._clients.acquire(str(client))
        if wait > 0:
            return wait, "from this address"
        wait = self._key_ids.acquire(key_id)
        if wait > 0:
            self._clients.refund(str(client))
            return wait, f"for key {key_id}"
        return 0.0, ""

    def refund(self, client: str | None, key_id: str) -> None:
        """Give back the tokens of an attempt that succeeded (or was never checked)."""
        self._clients.refund(str(client))
        self._key_ids.refund(key_id)


class BusyError(TesseraError):
    """Too much costly work is already queued; retry shortly (HTTP 503)."""


class BoundedPool:
    """Costly work on ``threads`` threads of its own, at most ``queue`` jobs waiting.

    Parameters
    ----------
    threads : int, default=2
        Jobs that run at once. Each argon2 check holds its memory cost (19 MiB) while it
        runs, and the C allocator keeps that much per thread that ever ran one, so this is
        also what bounds the memory hashing may take.
    queue : int, default=32
        Jobs that may wait for a thread; :meth:`submit` refuses more at once.
    name : str, default="tessera-pool"
        The threads' name prefix.

    Notes
    -----
    The threads start on the first job and are reused; :meth:`shutdown` stops them.
    """

    def __init__(self, threads: int = 2, queue: int = 32, *, name: str = "tessera-pool") -> None:
        self.threads = check_positive_int("threads", threads)
        self.queue = check_positive_int("queue", queue, minimum=0)
        self._name = name
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Jobs running or waiting now."""
        return self._admitted

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Queue ``fn(*args)``; :class:`BusyError` at once if ``threads + queue`` are in."""
        with self._lock:
            if self._admitted >= self.threads + self.queue:
                raise BusyError(
                    f"the server is busy: {self._admitted} costly checks are running or "
                    "queued. Retry in a second."
                )
            self._admitted += 1
            try:
                future = self._pool().submit(fn, *args)
            except BaseException:
                self._admitted -= 1
                raise
        future.add_done_callback(self._release)  # also when cancelled before it ran
        return future

    def call(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Run ``fn(*args)`` on the pool and wait for it, past the queue bound if need be.

        For trusted callers (the command line, an admin creating a key) that should wait
        rather than be refused; the work still runs on the pool's threads only.
        """
        with self._lock:
            self._admitted += 1
            future = self._pool().submit(fn, *args)
        future.add_done_callback(self._release)
        return future.result()

    def shutdown(self) -> None:
        """Stop the threads once their jobs are done (a later job starts new ones)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix=self._name)
        return self._executor

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1
