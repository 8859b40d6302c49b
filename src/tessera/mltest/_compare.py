"""Compare two training results: arrays, tensors, state dicts, fitted estimators, nests of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tessera._validation import bad_value
from tessera.mltest._convert import as_array, is_tensor

__all__ = ["first_difference", "normalise"]


def normalise(value: Any, *, top: bool = True) -> Any:
    """Plain containers: modules become state dicts, estimators their fitted attributes."""
    if hasattr(value, "state_dict") and callable(value.state_dict) and not isinstance(value, dict):
        return {k: v for k, v in value.state_dict().items()}
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        fitted = {k: v for k, v in vars(value).items() if k.endswith("_") and not k.startswith("_")}
        if not fitted and not top:
            return {"params": value.get_params(deep=False)}  # a template inside an ensemble
        if not fitted:
            raise bad_value(
                "train",
                value,
                "it returned an unfitted estimator (no attributes ending in '_')",
                "Return the fitted estimator, its predictions or its weights.",
            )
        return fitted
    return value


def _array_difference(a: Any, b: Any, path: str, rtol: float, atol: float) -> str | None:
    left, right = as_array(a, "result"), as_array(b, "result")
    if left.shape != right.shape:
        return f"{path}: shape {left.shape} in the first run, {right.shape} in the second"
    if left.dtype.kind in "biufc" and right.dtype.kind in "biufc":
        common = complex if "c" in left.dtype.kind + right.dtype.kind else float
        left64, right64 = left.astype(common), right.astype(common)
        close = np.isclose(left64, right64, rtol=rtol, atol=atol, equal_nan=True)
        if close.all():
            return None
        gap = np.where(close, 0.0, np.abs(left64 - right64))
        gap = np.where(np.isnan(gap), np.inf, gap)
        worst = np.unravel_index(int(np.argmax(gap)), gap.shape) if gap.ndim else ()
        where = f"{path}[{', '.join(map(str, worst))}]" if worst else path
        return (
            f"{where}: {left64[worst].item():.8g} vs {right64[worst].item():.8g} "
            f"(|diff| {gap[worst]:.3g}; {int((~close).sum())} of {close.size} values differ)"
        )
    equal = left == right
    if np.all(equal):
        return None
    position = np.unravel_index(int(np.argmin(np.asarray(equal).ravel())), left.shape)
    return (
        f"{path}[{', '.join(map(str, position))}]: {left[position].item()!r} vs "
        f"{right[position].item()!r}"
    )


def first_difference(
    a: Any, b: Any, *, rtol: float, atol: float, path: str = "result"
) -> str | None:
    """Describe the first place where ``a`` and ``b`` differ beyond the tolerance, or ``None``."""
    top = path == "result"
    a, b = normalise(a, top=top), normalise(b, top=top)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            only_a, only_b = sorted(map(str, set(a) - set(b))), sorted(map(str, set(b) - set(a)))
            return f"{path}: keys only in the first run {only_a}, only in the second {only_b}"
        for key in a:
            found = first_difference(a[key], b[key], rtol=rtol, atol=atol, path=f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and not _numeric_list(a):
        if len(a) != len(b):
            return f"{path}: length {len(a)} in the first run, {len(b)} in the second"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, rtol=rtol, atol=atol, path=f"{path}[{i}]")
            if found:
                return found
        return None
    if _array_like(a) and _array_like(b):
        return _array_difference(a, b, path, rtol, atol)
    try:
        same = bool(a == b)
    except (TypeError, ValueError):
        raise bad_value(
            "train",
            a,
            f"its result at {path} cannot be compared with ==",
            "Return arrays, tensors, dicts of them, or pass compare=.",
        ) from None
    if same:
        return None
    if type(a) is type(b) and not isinstance(a, str | bytes | int | float | complex):
        # Objects without __eq__ (a fitted scikit-learn Tree, say) compare by their pickled state.
        state_a, state_b = a.__getstate__(), b.__getstate__()
        if isinstance(state_a, dict) and isinstance(state_b, dict):
            return first_difference(state_a, state_b, rtol=rtol, atol=atol, path=path)
    return f"{path}: {a!r} vs {b!r}"


def _numeric_list(value: Any) -> bool:
    return all(isinstance(v, int | float | np.number) for v in value)


def _array_like(value: Any) -> bool:
    return (
        isinstance(value, np.ndarray | np.generic | int | float | list | tuple)
        or is_tensor(value)
        or (hasattr(value, "to_numpy") and hasattr(value, "iloc"))
    ) and not isinstance(value, bool | str)
