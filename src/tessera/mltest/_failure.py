"""The failure every assertion raises, and the record the pytest plugin summarizes."""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, ParamSpec, TypeVar

__all__ = ["MLTestFailure", "drain_records", "recorded"]

P = ParamSpec("P")
R = TypeVar("R")

# (check name, passed, one-line detail). Bounded so that a long-lived process that calls the
# assertions outside pytest never grows it without limit; the plugin drains it after each test.
_RECORDS: collections.deque[tuple[str, bool, str]] = collections.deque(maxlen=10_000)


class MLTestFailure(AssertionError):
    """An ML check failed: what was expected, what was measured, and where.

    It subclasses :class:`AssertionError`, so pytest reports it as a test
    failure (not an error) and ``except AssertionError`` catches it.

    Attributes
    ----------
    check : str
        The assertion that failed, e.g. ``"assert_invariant"``.
    expected : str
        The rule, in words (``"predictions unchanged within 1e-06"``).
    measured : str
        What was measured instead (``"191 of 200 rows kept (95.5%)"``).
    where : str
        Where it went wrong: rows, a segment, a training step, a line of a file.
    rows : tuple of int
        Row positions (0-based) that break the rule, worst first, where rows apply.
    details : Mapping[str, Any]
        Structured measurements (per-segment scores, per-row differences, ...).
    """

    def __init__(
        self,
        check: str,
        *,
        expected: str,
        measured: str,
        where: str = "",
        rows: tuple[int, ...] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.check = check
        self.expected = expected
        self.measured = measured
        self.where = where
        self.rows = tuple(int(r) for r in rows)
        self.details: Mapping[str, Any] = dict(details or {})
        lines = [f"{check} failed", f"  expected: {expected}", f"  measured: {measured}"]
        if where:
            lines.append(f"  where:    {where}")
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor: teach pickle (xdist, multiprocessing) to rebuild it.
        return (
            _rebuild,
            (self.check, self.expected, self.measured, self.where, self.rows, dict(self.details)),
        )


MLTestFailure.__module__ = "tessera.mltest"  # shown in tracebacks as its public name


def _rebuild(
    check: str,
    expected: str,
    measured: str,
    where: str,
    rows: tuple[int, ...],
    details: dict[str, Any],
) -> MLTestFailure:
    return MLTestFailure(
        check, expected=expected, measured=measured, where=where, rows=rows, details=details
    )


def recorded(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record every call of the wrapped check (passed or failed) for the pytest summary."""

    def decorate(check: Callable[P, R]) -> Callable[P, R]:
        @wraps(check)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            __tracebackhide__ = True  # pytest shows the test's line, then the message
            try:
                result = check(*args, **kwargs)
            except MLTestFailure as failure:
                _RECORDS.append((name, False, failure.measured))
                # The message says it all: drop the frames inside tessera.mltest.
                raise failure.with_traceback(None) from None
            _RECORDS.append((name, True, ""))
            return result

        return run

    return decorate


def drain_records() -> list[tuple[str, bool, str]]:
    """Return and forget the checks recorded since the last call (used by the plugin)."""
    records = list(_RECORDS)
    _RECORDS.clear()
    return records
