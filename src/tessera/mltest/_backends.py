"""Two implementations of the same model agree: CPU vs GPU, sklearn vs ONNX, float64 vs float32."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tessera._validation import bad_value, check_positive_int
from tessera.mltest._convert import as_array, n_rows, row_label
from tessera.mltest._failure import MLTestFailure, recorded

__all__ = ["assert_backends_agree"]


@recorded("assert_backends_agree")
def assert_backends_agree(
    predict_a: Callable[[Any], Any],
    predict_b: Callable[[Any], Any],
    X: Any,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    names: Sequence[str] = ("a", "b"),
    show: int = 5,
) -> float:
    """Assert that two backends give the same predictions on ``X``, row by row.

    Parameters
    ----------
    predict_a, predict_b : callable
        ``predict(X) -> predictions`` (array, DataFrame/Series or tensor on any
        device; tensors are moved to the CPU to compare).
    X : array-like, DataFrame or tensor
        The inputs, passed unchanged to both.
    rtol, atol : float, default=1e-5, 1e-8
        ``|a - b| <= atol + rtol * |b|`` element-wise (as ``numpy.isclose``).
        Non-numeric predictions (labels) must be equal.
    names : pair of str, default=("a", "b")
        Names of the backends for the message, e.g. ``("float64", "float32")``.
    show : int, default=5
        How many of the worst rows the failure lists.

    Returns
    -------
    float
        The largest absolute difference (0.0 for equal labels).

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import assert_backends_agree
    >>> w = np.array([0.5, -1.0, 2.0])
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> gap = assert_backends_agree(lambda X: X @ w, lambda X: (X.astype(np.float32) @ w.astype(
    ...     np.float32)), X, rtol=1e-5, atol=1e-5, names=("float64", "float32"))
    >>> gap < 1e-5
    True
    """
    show = check_positive_int("show", show)
    if len(names) != 2:
        raise bad_value("names", names, "it must name two backends", "Pass e.g. ('cpu', 'gpu').")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if not np.isfinite(tol) or tol < 0:
            raise bad_value(name, tol, "it must be a finite number >= 0", f"Pass e.g. {name}=1e-6.")
    rows = n_rows(X, "X")
    a = as_array(predict_a(X), f"predict_a(X) [{names[0]}]")
    b = as_array(predict_b(X), f"predict_b(X) [{names[1]}]")
    if a.shape != b.shape:
        raise MLTestFailure(
            "assert_backends_agree",
            expected=f"predictions of the same shape from {names[0]} and {names[1]}",
            measured=f"{names[0]} gave shape {a.shape}, {names[1]} gave shape {b.shape}",
            where=f"all {rows} rows",
        )
    if a.ndim == 0:
        a, b = a.reshape(1), b.reshape(1)
    numeric = a.dtype.kind in "biuf" and b.dtype.kind in "biuf"
    if numeric:
        af, bf = a.astype(float), b.astype(float)
        close = np.isclose(af, bf, rtol=rtol, atol=atol, equal_nan=True)
        gap = np.where(close, 0.0, np.abs(af - bf))
        gap = np.where(np.isnan(gap), np.inf, gap)  # NaN on one side only
        size_gap = np.abs(af - bf)
        largest = float(np.nanmax(np.where(np.isnan(size_gap) & close, 0.0, size_gap)))
        rule = f"|{names[0]} - {names[1]}| <= {atol:g} + {rtol:g} * |{names[1]}|"
    else:
        close = a == b
        gap = (~close).astype(float)
        largest = float(gap.max(initial=0.0))
        rule = f"{names[0]} == {names[1]}"
    row_bad = ~close.reshape(close.shape[0], -1).all(axis=1)
    if not row_bad.any():
        return largest
    row_gap = gap.reshape(gap.shape[0], -1).max(axis=1)
    worst = np.flatnonzero(row_bad)[np.argsort(-row_gap[row_bad], kind="stable")]
    flat_a, flat_b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    shown = "; ".join(
        f"{row_label(X, i) if a.shape[0] == rows else f'row {i}'}: "
        f"{names[0]}={_short(flat_a[i])} {names[1]}={_short(flat_b[i])}"
        for i in worst[:show]
    )
    raise MLTestFailure(
        "assert_backends_agree",
        expected=f"{rule} on every row",
        measured=f"{worst.size} of {a.shape[0]} rows differ; largest |difference| "
        f"{float(row_gap.max()):.4g}",
        where=f"worst rows: {shown}",
        rows=tuple(int(i) for i in worst[:100]),
        details={"row_gap": row_gap, "largest": largest},
    )


def _short(values: np.ndarray) -> str:
    if values.size == 1:
        value = values[0]
        return f"{value:.6g}" if isinstance(value, float | np.floating) else repr(value)
    text = np.array2string(values, precision=4, threshold=6)
    return text if len(text) <= 60 else text[:57] + "..."
