"""Turn predictions, losses and inputs (numpy, pandas, torch, lists) into numpy arrays."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from tessera._validation import bad_value, short_repr

__all__ = ["as_array", "is_tensor", "n_rows", "row_label", "to_python"]


def is_tensor(value: Any) -> bool:
    """True for a ``torch.Tensor``, without importing torch when it is not loaded."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def as_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a numpy array: tensors are detached and moved to the CPU, pandas unwrapped."""
    if is_tensor(value):
        tensor = value.detach().cpu()
        if tensor.dtype.is_floating_point and tensor.dtype not in _float_dtypes():
            tensor = tensor.float()  # bfloat16/float16 have no exact numpy twin
        return np.asarray(tensor.numpy())
    if hasattr(value, "to_numpy") and hasattr(value, "iloc"):
        return np.asarray(value.to_numpy())
    if isinstance(value, list | tuple) and value and all(is_tensor(v) for v in value):
        return np.asarray([float(v.detach().cpu().item()) for v in value])
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise bad_value(
            name,
            value,
            f"it cannot be read as an array ({exc})",
            "Pass a numpy array, a pandas object, a torch tensor or a list of numbers.",
        ) from None


def _float_dtypes() -> tuple[Any, ...]:
    import torch

    return (torch.float32, torch.float64)


def n_rows(value: Any, name: str) -> int:
    """Number of rows (first axis) of a table, array, tensor or sequence."""
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    try:
        return len(value)
    except TypeError:
        raise bad_value(
            name,
            value,
            "it has no rows (no shape and no len())",
            "Pass a 2-D array, a DataFrame, a tensor or a list of rows.",
        ) from None


def row_label(data: Any, position: int) -> str:
    """``"row 3"``, or ``"row 3 (index 'a17')"`` when a pandas index names it differently."""
    index = getattr(data, "index", None)
    if index is not None and hasattr(data, "iloc"):
        label = index[position]
        if not (isinstance(label, int | np.integer) and int(label) == position):
            return f"row {position} (index {short_repr(label, 30)})"
    return f"row {position}"


def to_python(value: Any) -> Any:
    """A numpy scalar as a plain Python number, for readable messages."""
    if isinstance(value, np.generic):
        return value.item()
    return value
