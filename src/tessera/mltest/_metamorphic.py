"""Metamorphic tests: a change that must not move the predictions, or must move them one way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tessera._validation import bad_value, check_in, check_positive_int
from tessera.mltest._convert import as_array, n_rows, row_label
from tessera.mltest._failure import MLTestFailure, recorded

__all__ = ["assert_directional", "assert_invariant"]


def _predictions_before_after(
    predict: Callable[[Any], Any], X: Any, transform: Callable[[Any], Any], output: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    if not callable(predict):
        raise bad_value("predict", predict, "it must be callable", "Pass e.g. model.predict.")
    if not callable(transform):
        raise bad_value(
            "transform",
            transform,
            "it must be callable",
            "Pass a transform such as perturb_column('age', 1.0).",
        )
    rows = n_rows(X, "X")
    changed = transform(X)
    if changed is X:
        raise bad_value(
            "transform",
            transform,
            "it returned X itself (changed in place?)",
            "Return a changed copy, as the ready transforms do.",
        )
    if n_rows(changed, "transform(X)") != rows:
        raise bad_value(
            "transform",
            transform,
            f"it changed the number of rows ({rows} -> {n_rows(changed, 'transform(X)')})",
            "Return one row per input row.",
        )
    before = as_array(predict(X), "predict(X)")
    after = as_array(predict(changed), "predict(transform(X))")
    if before.shape != after.shape or before.ndim == 0 or before.shape[0] != rows:
        raise bad_value(
            "predict",
            predict,
            f"it must return one prediction per row ({rows}); got "
            f"shapes {before.shape} and {after.shape}",
            "Return an array of n rows.",
        )
    if output is not None:
        if before.ndim != 2 or not -before.shape[1] <= output < before.shape[1]:
            raise bad_value(
                "output",
                output,
                f"it must pick a column of 2-D predictions (shape {before.shape})",
                "Pass output=None for 1-D predictions.",
            )
        before, after = before[:, output], after[:, output]
    return before, after, rows


def _rate(name: str, value: float) -> float:
    if not np.isfinite(value) or not 0 < value <= 1:
        raise bad_value(name, value, "it must lie in (0, 1]", f"Pass e.g. {name}=0.95.")
    return float(value)


def _listing(X: Any, rows: np.ndarray, before: np.ndarray, after: np.ndarray, show: int) -> str:
    def short(v: np.ndarray) -> str:
        if v.ndim == 0:
            return f"{v.item():.4g}" if v.dtype.kind == "f" else repr(v.item())
        return np.array2string(v, precision=3, threshold=4)

    return "; ".join(
        f"{row_label(X, int(i))}: {short(before[i])} -> {short(after[i])}" for i in rows[:show]
    )


@recorded("assert_invariant")
def assert_invariant(
    predict: Callable[[Any], Any],
    X: Any,
    transform: Callable[[Any], Any],
    *,
    tolerance: float = 1e-6,
    min_pass_rate: float = 1.0,
    output: int | None = None,
    show: int = 5,
) -> float:
    """Assert that ``transform`` leaves the predictions unchanged (a metamorphic invariance test).

    Examples: a model must not change its answer when an identifier column is
    shuffled, when inputs get sensor-level noise, or when a protected attribute
    is set to another value.

    Parameters
    ----------
    predict : callable
        ``predict(X) -> predictions``: labels, scores, or 2-D probabilities (a
        row passes when every column stays within ``tolerance``).
    X : 2-D array, DataFrame or tensor
        The inputs.
    transform : callable
        ``transform(X) -> X'`` returning a changed copy; see
        :func:`perturb_column`, :func:`shuffle_column`, :func:`add_noise`,
        :func:`set_value`, :func:`scale_column`.
    tolerance : float, default=1e-6
        Largest absolute change that still counts as unchanged (labels must be equal).
    min_pass_rate : float, default=1.0
        Fraction of rows that must keep their prediction.
    output : int or None, default=None
        Compare only this column of 2-D predictions.
    show : int, default=5
        How many violating rows the failure lists (largest change first).

    Returns
    -------
    float
        The fraction of rows that kept their prediction.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import assert_invariant, shuffle_column
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> def predict(X):
    ...     return X[:, 0] + X[:, 1]          # ignores column 2
    >>> assert_invariant(predict, X, shuffle_column(2))
    1.0
    """
    tolerance = float(tolerance)
    if not np.isfinite(tolerance) or tolerance < 0:
        raise bad_value(
            "tolerance", tolerance, "it must be a finite number >= 0", "Pass e.g. tolerance=1e-6."
        )
    min_pass_rate = _rate("min_pass_rate", min_pass_rate)
    show = check_positive_int("show", show)
    before, after, rows = _predictions_before_after(predict, X, transform, output)
    if before.dtype.kind in "biuf" and after.dtype.kind in "biuf":
        change = np.abs(after.astype(float) - before.astype(float)).reshape(rows, -1).max(axis=1)
        change = np.where(np.isnan(change), np.inf, change)
        kept = change <= tolerance
        rule = f"|change| <= {tolerance:g}"
    else:
        kept = (before == after).reshape(rows, -1).all(axis=1)
        change = (~kept).astype(float)
        rule = "the same label"
    rate = float(kept.mean())
    if rate >= min_pass_rate:
        return rate
    moved = np.flatnonzero(~kept)
    moved = moved[np.argsort(-change[moved], kind="stable")]
    raise MLTestFailure(
        "assert_invariant",
        expected=f"predictions unchanged ({rule}) under {transform} on at least "
        f"{min_pass_rate:.1%} of rows",
        measured=f"{int(kept.sum())} of {rows} rows ({rate:.1%}) kept their prediction; "
        f"the largest change is {float(change.max()):.4g}",
        where=f"rows that moved (largest first): {_listing(X, moved, before, after, show)}",
        rows=tuple(int(i) for i in moved[:100]),
        details={"pass_rate": rate, "change": change},
    )


@recorded("assert_directional")
def assert_directional(
    predict: Callable[[Any], Any],
    X: Any,
    transform: Callable[[Any], Any],
    *,
    direction: str = "increase",
    tolerance: float = 0.0,
    min_pass_rate: float = 1.0,
    output: int | None = None,
    show: int = 5,
) -> float:
    """Assert that ``transform`` moves every prediction one way (a directional expectation test).

    With ``direction="increase"`` a row passes when ``after >= before -
    tolerance``: the prediction must not go down (CheckList's DIR test). A
    model that ignores the changed feature passes; pair it with
    :func:`assert_invariant` on a feature that must matter, or raise the bar
    with a negative ``tolerance`` (``tolerance=-0.01``: must rise by 0.01).

    Parameters
    ----------
    predict : callable
        ``predict(X) -> scores`` (1-D, or 2-D with ``output`` picking a column).
    X : 2-D array, DataFrame or tensor
        The inputs.
    transform : callable
        ``transform(X) -> X'``, e.g. ``perturb_column("income", 1000)``.
    direction : {"increase", "decrease"}, default="increase"
        Which way the predictions must move (or stay).
    tolerance : float, default=0.0
        Movement the wrong way still accepted.
    min_pass_rate : float, default=1.0
        Fraction of rows that must pass.
    output : int or None, default=None
        Column of 2-D predictions (e.g. 1 for the positive-class probability).
    show : int, default=5
        How many violating rows the failure lists (worst first).

    Returns
    -------
    float
        The fraction of rows that moved the right way.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import assert_directional, perturb_column
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> def risk(X):
    ...     return 1 / (1 + np.exp(-(2 * X[:, 0] - X[:, 1])))
    >>> assert_directional(risk, X, perturb_column(0, 0.5), direction="increase")
    1.0
    >>> assert_directional(risk, X, perturb_column(1, 0.5), direction="decrease")
    1.0
    """
    check_in("direction", direction, ("increase", "decrease"))
    tolerance = float(tolerance)
    if not np.isfinite(tolerance):
        raise bad_value("tolerance", tolerance, "it must be finite", "Pass e.g. tolerance=0.0.")
    min_pass_rate = _rate("min_pass_rate", min_pass_rate)
    show = check_positive_int("show", show)
    before, after, rows = _predictions_before_after(predict, X, transform, output)
    if before.ndim == 2 and before.shape[1] == 1:
        before, after = before[:, 0], after[:, 0]
    if before.ndim != 1 or before.dtype.kind not in "biuf" or after.dtype.kind not in "biuf":
        raise bad_value(
            "predict",
            predict,
            f"directional tests need one numeric score per row "
            f"(got dtype {before.dtype}, shape {before.shape})",
            "Return scores, or pass output= to pick a column of 2-D predictions.",
        )
    signed = after.astype(float) - before.astype(float)
    if direction == "decrease":
        signed = -signed
    ok = np.nan_to_num(signed, nan=-np.inf) >= -tolerance
    rate = float(ok.mean())
    if rate >= min_pass_rate:
        return rate
    wrong = np.flatnonzero(~ok)
    wrong = wrong[np.argsort(signed[wrong], kind="stable")]
    word = "rise" if direction == "increase" else "fall"
    bar = "or stay" if tolerance == 0 else f"(tolerance {tolerance:g})"
    raise MLTestFailure(
        "assert_directional",
        expected=f"predictions to {word} {bar} under {transform} on at least "
        f"{min_pass_rate:.1%} of rows",
        measured=f"{wrong.size} of {rows} rows ({1 - rate:.1%}) moved the wrong way; the worst "
        f"by {float(-signed[wrong[0]]):.4g}",
        where=f"rows that moved the wrong way (worst first): "
        f"{_listing(X, wrong, before, after, show)}",
        rows=tuple(int(i) for i in wrong[:100]),
        details={"pass_rate": rate, "signed_change": signed},
    )
