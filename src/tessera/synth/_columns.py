"""Column typing for the copula: how a DataFrame column becomes numbers and comes back.

Each column gets a :class:`ColumnModel`: its logical type (``float``, ``int``,
``bool``, ``category``, ``datetime``), its missing-value rate, its marginal and what
is needed to rebuild the original dtype. Datetimes are modelled as integer
nanoseconds rounded to the coarsest step the data uses (a day, an hour, a second ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tessera.synth._marginals import (
    ContinuousMarginal,
    DiscreteMarginal,
    Marginal,
    marginal_from_dict,
)

__all__ = ["ColumnModel", "column_values", "decimals_of", "logical_type"]

_DATETIME_STEPS_NS = (
    86_400 * 10**9,
    3_600 * 10**9,
    60 * 10**9,
    10**9,
    10**6,
    10**3,
    1,
)


def logical_type(series: pd.Series) -> str:
    """``float``, ``int``, ``bool``, ``category`` or ``datetime`` for a column."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        observed = series.dropna().to_numpy(dtype=float)
        whole = observed.size > 0 and np.all(np.isfinite(observed))
        return "int" if whole and np.all(observed == np.round(observed)) else "float"
    return "category"


def column_values(series: pd.Series, logical: str) -> tuple[np.ndarray, np.ndarray]:
    """(non-missing values as a model array, the missing mask) for one column."""
    missing = series.isna().to_numpy()
    present = series[~missing]
    if logical == "datetime":
        naive = present.dt.tz_localize(None) if present.dt.tz is not None else present
        values = naive.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
    elif logical in ("float", "int"):
        values = present.to_numpy(dtype=float)
    else:
        values = present.to_numpy(dtype=object)
    return values, missing


def decimals_of(values: np.ndarray, *, max_decimals: int = 6) -> int | None:
    """The fewest decimals that represent every value exactly, or ``None`` if above the cap."""
    if values.size == 0:
        return None
    scale = np.maximum(np.abs(values), 1.0)
    for decimals in range(max_decimals + 1):
        shifted = values * 10.0**decimals
        if np.all(np.abs(shifted - np.round(shifted)) <= 1e-9 * scale * 10.0**decimals):
            return decimals
    return None


def _datetime_step(values_ns: np.ndarray) -> int:
    as_int = values_ns.astype(np.int64)
    for step in _DATETIME_STEPS_NS:
        if np.all(as_int % step == 0):
            return step
    return 1


@dataclass
class ColumnModel:
    """One column of a fitted copula."""

    name: str
    logical: str
    dtype: str
    missing_rate: float
    marginal: Marginal
    step: int | None = None
    timezone: str | None = None

    @classmethod
    def fit(
        cls,
        series: pd.Series,
        *,
        max_discrete: int,
        order_by: np.ndarray | None = None,
        min_count: int | None = None,
    ) -> ColumnModel:
        """Fit a column; ``order_by`` (per row) orders the latent layout of categories.

        ``min_count`` is privacy mode: no stored value stands for fewer rows (see the
        marginals' ``fit``).
        """
        logical = logical_type(series)
        values, missing = column_values(series, logical)
        if values.size == 0:
            raise ValueError("has no non-missing values")
        step = None
        timezone = None
        if logical == "datetime":
            step = _datetime_step(values)
            tz = getattr(series.dt, "tz", None)
            timezone = str(tz) if tz is not None else None
        n_unique = pd.unique(values).size
        marginal: Marginal
        if logical in ("bool", "category") or n_unique <= max_discrete:
            keys = None if order_by is None else order_by[~missing]
            marginal = DiscreteMarginal.fit(values, order_by=keys, min_count=min_count)
        else:
            decimals = 0 if logical in ("int", "datetime") else decimals_of(values)
            marginal = ContinuousMarginal.fit(values, decimals=decimals, min_count=min_count)
        return cls(
            name=str(series.name),
            logical=logical,
            dtype=str(series.dtype),
            missing_rate=float(missing.mean()),
            marginal=marginal,
            step=step,
            timezone=timezone,
        )

    def to_output(self, values: np.ndarray, missing: np.ndarray | None) -> Any:
        """Turn sampled model values (and a missing mask) into a column of the original kind."""
        has_missing = missing is not None and bool(missing.any())
        if self.logical == "datetime":
            step = self.step or 1
            ns = (np.round(values.astype(float) / step) * step).astype(np.int64)
            out = pd.Series(ns.astype("datetime64[ns]"))
            if has_missing:
                out[missing] = pd.NaT
            if self.timezone:
                out = out.dt.tz_localize(self.timezone)
            return out.to_numpy() if not self.timezone else out.array
        if self.logical == "int":
            as_float = values.astype(float)
            if has_missing:
                out = pd.array(np.round(as_float).astype(np.int64), dtype="Int64")
                out[missing] = pd.NA
                return out
            target = self.dtype if self.dtype.startswith(("int", "uint")) else "int64"
            return np.round(as_float).astype(target)
        if self.logical == "float":
            out = values.astype(float)
            if has_missing:
                out = out.copy()
                out[missing] = np.nan
            return out
        if self.logical == "bool":
            if has_missing:
                out = pd.array(values.astype(bool), dtype="boolean")
                out[missing] = pd.NA
                return out
            return values.astype(bool)
        out = values.astype(object)
        if has_missing:
            out = out.copy()
            out[missing] = None
        if self.dtype == "category":
            return pd.Categorical(out, categories=self._categories())
        return out

    def cast(self, series: pd.Series) -> Any:
        """A column pieced together from segments, in this column's output kind."""
        if self.logical == "float":
            return series.astype(float)
        if self.logical == "int":
            if self.missing_rate > 0 or series.isna().any():
                return series.astype("Int64")
            return series.astype(self.dtype if self.dtype.startswith(("int", "uint")) else "int64")
        if self.logical == "bool":
            return series.astype("boolean" if series.isna().any() else bool)
        if self.logical == "category":
            values = series.astype(object).where(series.notna(), None)
            if self.dtype == "category":
                return pd.Categorical(values, categories=self._categories())
            return values
        return series

    def _categories(self) -> list[Any]:
        marginal = self.marginal
        assert isinstance(marginal, DiscreteMarginal)
        return sorted(marginal.values, key=str)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "logical": self.logical,
            "dtype": self.dtype,
            "missing_rate": self.missing_rate,
            "step": self.step,
            "timezone": self.timezone,
            "marginal": self.marginal.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnModel:
        return cls(
            name=data["name"],
            logical=data["logical"],
            dtype=data["dtype"],
            missing_rate=float(data["missing_rate"]),
            marginal=marginal_from_dict(data["marginal"]),
            step=data.get("step"),
            timezone=data.get("timezone"),
        )

    def model_value(self, value: Any) -> Any:
        """A user's value (for a condition) in model units."""
        if self.logical == "datetime":
            stamp = pd.Timestamp(value)
            if stamp.tzinfo is not None:
                stamp = stamp.tz_localize(None)
            return float(stamp.value)
        if self.logical in ("int", "float"):
            return float(value)
        return value
