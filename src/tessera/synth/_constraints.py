"""Rules between columns that sampled rows must keep exactly.

Two kinds, written as text:

- a **formula** ``target = expression`` -- ``logpopul = log(popul + 0.1)``,
  ``total = price * quantity``: the target is not modelled; it is computed from the
  sampled columns (rounded to the decimals the data uses), so the rule holds exactly.
  Expressions use column names, numbers, ``+ - * / **``, parentheses and the functions
  in :data:`FUNCTIONS`; nothing else parses (no attributes, no other calls).
- an **order** ``low <= high`` (or ``high >= low``) between two numeric or datetime
  columns: the model learns ``high - low`` (never negative in the data, so never
  negative when sampled) and writes ``high = low + difference``.

Both are checked against the data at fit time: a rule the data breaks is an error that
says where.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tessera._validation import bad_value

__all__ = ["FUNCTIONS", "Constraint", "parse_constraint"]

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "log": np.log,
    "log1p": np.log1p,
    "log2": np.log2,
    "log10": np.log10,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
}
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*$")
_FIX = (
    "Write 'target = expression' (e.g. 'total = price * quantity') or 'low <= high' "
    f"with column names, numbers, + - * / ** and {', '.join(FUNCTIONS)}."
)


@dataclass(frozen=True)
class Constraint:
    """One parsed rule: ``kind`` is ``"formula"`` (``target``, ``expression``) or ``"order"``."""

    text: str
    kind: str
    target: str
    inputs: tuple[str, ...]
    expression: str = ""

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        """The formula's values on a frame holding its inputs (float, NaN where missing)."""
        tree = ast.parse(self.expression, mode="eval")
        columns = {
            name: pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
            for name in self.inputs
        }
        with np.errstate(all="ignore"):
            return np.asarray(_evaluate(tree.body, columns), dtype=float) + np.zeros(len(frame))


def _evaluate(node: ast.AST, columns: dict[str, np.ndarray]) -> Any:
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]
    if isinstance(node, ast.Name):
        return columns[node.id]
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, columns)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return _OPERATORS[type(node.op)](
            _evaluate(node.left, columns), _evaluate(node.right, columns)
        )
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return FUNCTIONS[node.func.id](*(_evaluate(a, columns) for a in node.args))


def _check_tree(node: ast.AST, text: str) -> set[str]:
    """The column names an expression uses; anything outside the safe set is an error."""
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Expression | ast.Load | ast.operator | ast.unaryop):
            if isinstance(child, ast.operator) and type(child) not in _OPERATORS:
                raise bad_value("constraints", text, "an operator is not allowed", _FIX)
            if isinstance(child, ast.unaryop) and not isinstance(child, ast.USub | ast.UAdd):
                raise bad_value("constraints", text, "an operator is not allowed", _FIX)
            continue
        if isinstance(child, ast.Constant):
            if isinstance(child.value, bool) or not isinstance(child.value, int | float):
                raise bad_value("constraints", text, f"{child.value!r} is not a number", _FIX)
        elif isinstance(child, ast.Call):
            if not isinstance(child.func, ast.Name) or child.func.id not in FUNCTIONS:
                raise bad_value(
                    "constraints", text, "only the listed functions may be called", _FIX
                )
            if child.keywords or len(child.args) != 1:
                raise bad_value("constraints", text, "a function takes one argument", _FIX)
        elif isinstance(child, ast.Name):
            if not (isinstance(getattr(child, "ctx", None), ast.Load)):
                raise bad_value("constraints", text, "only column names may be used", _FIX)
            names.add(child.id)
        elif not isinstance(child, ast.BinOp | ast.UnaryOp):
            raise bad_value(
                "constraints", text, f"{type(child).__name__} is not allowed in a formula", _FIX
            )
    # Function names are not columns.
    calls = {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call)}  # type: ignore[attr-defined]
    return names - calls


def parse_constraint(text: Any) -> Constraint:
    """Parse ``"target = expression"``, ``"low <= high"`` or ``"high >= low"``."""
    if not isinstance(text, str):
        raise bad_value("constraints", text, "a constraint is a string", _FIX)
    for symbol, flip in (("<=", False), (">=", True)):
        if symbol in text:
            left, right = text.split(symbol, 1)
            low, high = (right, left) if flip else (left, right)
            if not (_NAME.match(low) and _NAME.match(high)):
                raise bad_value("constraints", text, "an order compares two column names", _FIX)
            low, high = low.strip(), high.strip()
            return Constraint(text, "order", high, (low,))
    if text.count("=") != 1:
        raise bad_value("constraints", text, "it is neither a formula nor an order", _FIX)
    left, right = text.split("=")
    match = _NAME.match(left)
    if match is None:
        raise bad_value("constraints", text, "the left side must be one column name", _FIX)
    try:
        tree = ast.parse(right.strip(), mode="eval")
    except SyntaxError:
        raise bad_value("constraints", text, "the expression does not parse", _FIX) from None
    inputs = _check_tree(tree, text)
    target = match.group(1)
    if target in inputs:
        raise bad_value("constraints", text, "the target cannot be one of its inputs", _FIX)
    return Constraint(text, "formula", target, tuple(sorted(inputs)), right.strip())


@dataclass(frozen=True)
class FittedConstraint:
    """A rule with what sampling needs: the target's decimals, a datetime's step."""

    rule: Constraint
    decimals: int | None = None
    integer: bool = False
    datetime: bool = False
    step: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.rule.text,
            "decimals": self.decimals,
            "integer": self.integer,
            "datetime": self.datetime,
            "step": self.step,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FittedConstraint:
        return cls(
            parse_constraint(data["text"]),
            decimals=data["decimals"],
            integer=bool(data["integer"]),
            datetime=bool(data["datetime"]),
            step=int(data["step"]),
        )


def _ns(series: pd.Series) -> np.ndarray:
    stamps = series.dt.tz_localize(None) if series.dt.tz is not None else series
    out = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
    out[stamps.isna().to_numpy()] = np.nan
    return np.asarray(out, dtype=float)


def fit_constraints(
    data: pd.DataFrame, kinds: dict[str, str], texts: list[str] | None
) -> tuple[pd.DataFrame, list[FittedConstraint]]:
    """Check each rule on the data; return the frame the copula models and the fitted rules.

    A formula's target leaves the frame; an order's ``high`` column is replaced by
    ``high - low`` (nanoseconds for dates).
    """
    from tessera.synth._columns import _datetime_step, decimals_of

    if texts is None:
        return data, []
    if isinstance(texts, str) or not isinstance(texts, list | tuple):
        raise bad_value("constraints", texts, "it must be a list of strings", _FIX)
    fitted: list[FittedConstraint] = []
    frame = data.copy()
    for text in texts:
        rule = parse_constraint(text)
        for name in (rule.target, *rule.inputs):
            if name not in frame.columns:
                raise bad_value(
                    "constraints",
                    text,
                    f"{name!r} is not a modelled column (or is the target of an earlier rule)",
                    f"Use columns of the table: {list(map(str, frame.columns))[:12]}.",
                )
        if rule.kind == "formula":
            for name in (rule.target, *rule.inputs):
                if kinds.get(name) not in ("numeric", "integer"):
                    raise bad_value(
                        "constraints", text, f"{name!r} is a {kinds.get(name)} column", _FIX
                    )
            predicted = rule.evaluate(frame)
            real = pd.to_numeric(frame[rule.target], errors="coerce").to_numpy(dtype=float)
            both = np.isfinite(predicted) & np.isfinite(real)
            integer = kinds[rule.target] == "integer"
            decimals = 0 if integer else decimals_of(real[both])
            rounded = predicted if decimals is None else np.round(predicted, decimals)
            tolerance = 1e-9 * np.maximum(np.abs(real), 1.0)
            broken = both & (np.abs(real - rounded) > tolerance)
            if broken.any():
                row = int(np.flatnonzero(broken)[0])
                raise bad_value(
                    "constraints",
                    text,
                    f"{int(broken.sum())} row(s) of the data break it (row {row}: "
                    f"{rule.target}={real[row]!r}, the expression gives {rounded[row]!r})",
                    "Fix the rule or the data; a rule must hold on every row to be kept.",
                )
            frame = frame.drop(columns=[rule.target])
            fitted.append(FittedConstraint(rule, decimals=decimals, integer=integer))
            continue
        low, high = rule.inputs[0], rule.target
        dates = kinds.get(low) == "datetime" and kinds.get(high) == "datetime"
        numbers = {kinds.get(low), kinds.get(high)} <= {"numeric", "integer"}
        if not (dates or numbers):
            raise bad_value(
                "constraints",
                text,
                "an order needs two numeric or two datetime columns "
                f"({low!r} is {kinds.get(low)}, {high!r} is {kinds.get(high)})",
                _FIX,
            )
        if dates:
            lows, highs = _ns(frame[low]), _ns(frame[high])
        else:
            lows = pd.to_numeric(frame[low], errors="coerce").to_numpy(dtype=float)
            highs = pd.to_numeric(frame[high], errors="coerce").to_numpy(dtype=float)
        difference = highs - lows
        broken = np.isfinite(difference) & (difference < 0)
        if broken.any():
            row = int(np.flatnonzero(broken)[0])
            raise bad_value(
                "constraints",
                text,
                f"{int(broken.sum())} row(s) of the data break it (row {row})",
                "Fix the rule or the data; a rule must hold on every row to be kept.",
            )
        present = highs[np.isfinite(highs)]
        step = _datetime_step(present) if dates and present.size else 1
        decimals = None if dates else decimals_of(highs[np.isfinite(highs)])
        frame[high] = difference
        fitted.append(
            FittedConstraint(
                rule,
                decimals=decimals,
                integer=kinds.get(high) == "integer",
                datetime=dates,
                step=step,
            )
        )
    return frame, fitted


def apply_constraints(frame: pd.DataFrame, fitted: list[FittedConstraint]) -> pd.DataFrame:
    """Sampled model columns -> the table's columns, every rule holding exactly."""
    out = frame.copy()
    for item in fitted:
        rule = item.rule
        if rule.kind == "formula":
            values = rule.evaluate(out)
        else:
            difference = pd.to_numeric(out[rule.target], errors="coerce").to_numpy(dtype=float)
            low = out[rule.inputs[0]]
            if item.datetime:
                steps = np.round(difference / item.step) * item.step
                out[rule.target] = low + pd.to_timedelta(steps, unit="ns")
                continue
            values = pd.to_numeric(low, errors="coerce").to_numpy(dtype=float) + difference
        if item.decimals is not None:
            values = np.round(values, item.decimals)
        if item.integer:
            series = pd.Series(values).round()
            out[rule.target] = (
                series.astype("Int64") if series.isna().any() else series.astype("int64")
            ).to_numpy()
        else:
            out[rule.target] = values
    return out
