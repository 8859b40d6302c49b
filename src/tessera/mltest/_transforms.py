"""Ready transforms for metamorphic tests: each returns a changed copy (numpy, pandas, torch)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera._validation import bad_value, short_repr
from tessera.mltest._convert import is_tensor

__all__ = [
    "Transform",
    "add_noise",
    "perturb_column",
    "scale_column",
    "set_value",
    "shuffle_column",
]


@dataclass(frozen=True)
class Transform:
    """A named change of the inputs: ``transform(X)`` returns a changed copy, never ``X`` itself.

    Attributes
    ----------
    description : str
        What it does, as shown in failure messages (``"perturb_column('age', +1)"``).
    apply : callable
        ``apply(X) -> X'``.
    """

    description: str
    apply: Callable[[Any], Any]

    def __call__(self, X: Any) -> Any:
        return self.apply(X)

    def __str__(self) -> str:
        return self.description


def _is_frame(X: Any) -> bool:
    return hasattr(X, "iloc") and hasattr(X, "columns")


def _check_column(X: Any, column: Hashable) -> None:
    if _is_frame(X):
        if column not in X.columns:
            shown = ", ".join(map(repr, list(X.columns)[:12]))
            raise bad_value(
                "column",
                column,
                f"no such column (the columns are {shown})",
                "Pass one of the column names.",
            )
        return
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        raise bad_value(
            "X",
            X,
            "column transforms need a 2-D array, tensor or a DataFrame",
            "Pass X with one row per example and one column per feature.",
        )
    if (
        isinstance(column, bool)
        or not isinstance(column, int | np.integer)
        or not (-shape[1] <= column < shape[1])
    ):
        raise bad_value(
            "column",
            column,
            f"it must be a column position in [0, {shape[1]})",
            "Pass an int; column names need a DataFrame.",
        )


def _column(X: Any, column: Hashable) -> np.ndarray:
    _check_column(X, column)
    if _is_frame(X):
        return np.asarray(X[column].to_numpy())
    if is_tensor(X):
        return np.asarray(X[:, column].detach().cpu().numpy())
    return np.asarray(X[:, column])


def _replace(X: Any, column: Hashable, values: np.ndarray) -> Any:
    if _is_frame(X):
        out = X.copy()
        out[column] = values
        return out
    if is_tensor(X):
        import torch

        out = X.clone()
        out[:, column] = torch.as_tensor(values, dtype=X.dtype, device=X.device)
        return out
    values = np.asarray(values)
    out = np.array(X, copy=True)
    if values.dtype.kind == "f" and out.dtype.kind in "biu":
        out = out.astype(float)  # adding 0.5 to an int column must not truncate
    out[:, column] = values  # type: ignore[index]  # an int, checked by _check_column
    return out


def _numeric(X: Any, column: Hashable, what: str) -> np.ndarray:
    values = _column(X, column)
    if values.dtype.kind not in "biuf":
        raise bad_value(
            "column",
            column,
            f"{what} needs a numeric column (dtype {values.dtype})",
            "Pick a numeric column, or use set_value for categories.",
        )
    return values


def perturb_column(column: Hashable, delta: float) -> Transform:
    """Add ``delta`` to one column (name for a DataFrame, position for an array or tensor).

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import perturb_column
    >>> perturb_column(1, 0.5)(np.zeros((2, 3))).tolist()
    [[0.0, 0.5, 0.0], [0.0, 0.5, 0.0]]
    """
    return Transform(
        f"perturb_column({column!r}, {delta:+g})",
        lambda X: _replace(X, column, _numeric(X, column, "perturb_column") + delta),
    )


def scale_column(column: Hashable, factor: float) -> Transform:
    """Multiply one column by ``factor``.

    Examples
    --------
    >>> import pandas as pd
    >>> from tessera.mltest import scale_column
    >>> scale_column("income", 2.0)(pd.DataFrame({"income": [1.0, 3.0]}))["income"].tolist()
    [2.0, 6.0]
    """
    return Transform(
        f"scale_column({column!r}, x{factor:g})",
        lambda X: _replace(X, column, _numeric(X, column, "scale_column") * factor),
    )


def set_value(column: Hashable, value: Any) -> Transform:
    """Set every row of one column to ``value`` (e.g. a category, or a sensitive attribute).

    Examples
    --------
    >>> import pandas as pd
    >>> from tessera.mltest import set_value
    >>> set_value("city", "Lyon")(pd.DataFrame({"city": ["Paris", "Nice"]}))["city"].tolist()
    ['Lyon', 'Lyon']
    """

    def apply(X: Any) -> Any:
        values = _column(X, column)
        filled = np.full(values.shape[0], value, dtype=object if _is_frame(X) else None)
        return _replace(X, column, filled)

    return Transform(f"set_value({column!r}, {short_repr(value, 30)})", apply)


def shuffle_column(column: Hashable, *, seed: int = 0) -> Transform:
    """Permute one column across rows (breaks its link with the target, keeps its distribution).

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import shuffle_column
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> sorted(shuffle_column(0, seed=1)(X)[:, 0].tolist()) == X[:, 0].tolist()
    True
    """

    def apply(X: Any) -> Any:
        values = _column(X, column)
        return _replace(X, column, values[np.random.default_rng(seed).permutation(values.size)])

    return Transform(f"shuffle_column({column!r}, seed={seed})", apply)


def add_noise(
    scale: float, *, columns: Sequence[Hashable] | None = None, seed: int = 0
) -> Transform:
    """Add Gaussian noise of standard deviation ``scale`` to numeric columns (all by default).

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import add_noise
    >>> X = np.zeros((1000, 2))
    >>> noisy = add_noise(0.1, columns=[0], seed=0)(X)
    >>> round(float(noisy[:, 0].std()), 1), float(noisy[:, 1].std())
    (0.1, 0.0)
    """
    if not np.isfinite(scale) or scale < 0:
        raise bad_value(
            "scale", scale, "it must be a finite standard deviation >= 0", "Pass e.g. scale=0.01."
        )

    def apply(X: Any) -> Any:
        if columns is not None:
            chosen = list(columns)
        elif _is_frame(X):
            chosen = [c for c in X.columns if np.asarray(X[c]).dtype.kind in "biuf"]
        else:
            _check_column(X, 0)
            chosen = list(range(X.shape[1]))
        rng = np.random.default_rng(seed)
        out = X
        for column in chosen:
            values = _numeric(out, column, "add_noise")
            out = _replace(out, column, values + rng.normal(0.0, scale, values.shape[0]))
        return out if chosen else _replace_nothing(X)

    where = "all numeric columns" if columns is None else f"columns={list(columns)!r}"
    return Transform(f"add_noise(scale={scale:g}, {where}, seed={seed})", apply)


def _replace_nothing(X: Any) -> Any:
    if is_tensor(X):
        return X.clone()
    return X.copy()
