"""Validate a cost matrix for the explainer, name its rows and columns, pad it square."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tessera._validation import bad_value, short_repr
from tessera.assign._dense import _infeasible, as_cost_matrix, hall_violator
from tessera.errors import InvalidInputError

__all__ = ["Problem", "prepare"]


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated problem, in the user's units and orientation.

    ``cost`` is the matrix as given (float64, ``inf`` forbidden when
    minimising, ``-inf`` when maximising); ``square`` is ``cost`` padded with
    zero rows or columns; names cover the padded rows and columns.
    """

    cost: NDArray[np.float64]
    square: NDArray[np.float64]
    maximize: bool
    n_rows: int
    n_cols: int
    row_names: tuple[str, ...]
    col_names: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(self.square.shape[0])

    def minimize_form(self) -> NDArray[np.float64]:
        """``square`` as a minimisation (negated when maximising; forbidden pairs ``+inf``)."""
        return -self.square if self.maximize else self.square.copy()


def _names(given: Sequence[str] | None, count: int, prefix: str, arg: str) -> list[str]:
    if given is None:
        return [f"{prefix}{i + 1}" for i in range(count)]
    names = [str(name) for name in given]
    if len(names) != count:
        raise bad_value(
            arg,
            given,
            f"it must hold one name per {'row' if arg == 'row_names' else 'column'} ({count})",
            f"Pass {count} names, or None for default names.",
        )
    if len(set(names)) != count:
        raise bad_value(arg, given, "names must be distinct", "Rename the duplicates.")
    return names


def prepare(
    cost: Any,
    *,
    maximize: bool,
    row_names: Sequence[str] | None,
    col_names: Sequence[str] | None,
) -> Problem:
    """Validate like the solver, check feasibility, pad to square.

    Raises the solver's errors: :class:`~tessera.errors.InvalidInputError` for
    bad entries and :class:`~tessera.errors.InfeasibleAssignmentError` (naming
    a Hall violator) when forbidden pairs leave no complete assignment.
    """
    minimized = as_cost_matrix(cost, maximize=maximize)
    n, m = minimized.shape
    if n == 0 or m == 0:
        raise InvalidInputError(
            f"cost has shape {short_repr(minimized.shape)}: an empty matrix has nothing to "
            "explain. Pass a matrix with at least one row and one column."
        )
    transposed = n > m
    work = np.ascontiguousarray(minimized.T) if transposed else minimized
    if hall_violator(np.isfinite(work)) is not None:
        raise _infeasible(work, transposed)
    # A copy: as_cost_matrix may hand back the caller's own array.
    original = -minimized if maximize else minimized.copy()
    size = max(n, m)
    square = np.zeros((size, size))
    square[:n, :m] = original
    rows = _names(row_names, n, "R", "row_names")
    cols = _names(col_names, m, "C", "col_names")
    rows += [f"dummy {k + 1}" for k in range(size - n)]
    cols += [f"dummy {k + 1}" for k in range(size - m)]
    return Problem(
        cost=original,
        square=square,
        maximize=bool(maximize),
        n_rows=n,
        n_cols=m,
        row_names=tuple(rows),
        col_names=tuple(cols),
    )
