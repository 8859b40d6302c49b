"""The exception hierarchy shared by every part of Tessera.

Every error Tessera raises derives from :class:`TesseraError`. Errors caused by
bad arguments also derive from the builtin :class:`ValueError` (or
:class:`TypeError`), so ``except ValueError`` keeps working for callers that
treat Tessera like scipy or scikit-learn.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConflictError",
    "ContextLengthError",
    "InfeasibleAssignmentError",
    "InvalidInputError",
    "InvalidTypeError",
    "MissingExtraError",
    "NotFoundError",
    "TesseraError",
]


class TesseraError(Exception):
    """Root of every exception raised by Tessera."""


class InvalidInputError(TesseraError, ValueError):
    """An argument has a value outside its rule.

    The message names the argument, shows its value, states the rule and
    suggests a fix.
    """


class InvalidTypeError(TesseraError, TypeError):
    """An argument has the wrong type (for example strings in a cost matrix)."""


class MissingExtraError(TesseraError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class NotFoundError(InvalidInputError):
    """A named thing (prompt, version, label, flow, key) does not exist."""


class ConflictError(InvalidInputError):
    """The request clashes with the stored state (a duplicate name, a label in use)."""


class ContextLengthError(InvalidInputError):
    """A prompt, or a prompt and its token budget, does not fit the model's context."""


class InfeasibleAssignmentError(InvalidInputError):
    """No complete assignment avoids the forbidden (infinite-cost) pairs.

    Attributes
    ----------
    rows : tuple of int
        A set of rows that together can reach fewer columns than there are
        rows in the set (a violator of Hall's condition), or ``()`` where the
        problem was transposed and the violator is a set of columns.
    reachable_cols : tuple of int
        The columns those rows can reach.
    axis : str
        ``"rows"`` when :attr:`rows` holds row indices, ``"cols"`` when the
        violator is a set of columns of the original matrix.
    """

    def __init__(
        self,
        message: str,
        *,
        rows: tuple[int, ...] = (),
        reachable_cols: tuple[int, ...] = (),
        axis: str = "rows",
    ) -> None:
        super().__init__(message)
        self.rows = rows
        self.reachable_cols = reachable_cols
        self.axis = axis

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the evidence when the error crosses processes (raised on a Dask worker).
        return (_infeasible_error, (str(self), self.rows, self.reachable_cols, self.axis))


def _infeasible_error(
    message: str, rows: tuple[int, ...], reachable_cols: tuple[int, ...], axis: str
) -> InfeasibleAssignmentError:
    return InfeasibleAssignmentError(message, rows=rows, reachable_cols=reachable_cols, axis=axis)
