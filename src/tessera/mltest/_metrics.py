"""The named metrics the assertions accept, computed with numpy (no scikit-learn import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera._validation import bad_value

__all__ = ["METRICS", "Metric", "labels_of", "resolve_metric"]


@dataclass(frozen=True)
class Metric:
    """A score ``fn(y_true, y_pred) -> float`` and which way is better."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True

    def passes(self, score: float, threshold: float) -> bool:
        return score >= threshold if self.higher_is_better else score <= threshold

    def rule(self, threshold: float) -> str:
        sign = ">=" if self.higher_is_better else "<="
        return f"{self.name} {sign} {threshold:g}"


def labels_of(y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Class labels from predictions: 2-D scores or logits become their argmax."""
    if y_pred.ndim == 2 and y_true.ndim == 1:
        return np.asarray(np.argmax(y_pred, axis=1))
    return y_pred


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(labels_of(y_pred, y_true) == y_true))


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    labels = labels_of(y_pred, y_true)
    recalls = [np.mean(labels[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))


def _f1_macro(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    labels = labels_of(y_pred, y_true)
    scores = []
    for c in np.unique(np.concatenate([y_true, labels])):
        tp = np.sum((labels == c) & (y_true == c))
        fp = np.sum((labels == c) & (y_true != c))
        fn = np.sum((labels != c) & (y_true == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def _r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true = y_true.astype(float)
    residual = np.sum((y_true - y_pred.reshape(y_true.shape)) ** 2)
    total = np.sum((y_true - y_true.mean()) ** 2)
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return float(1.0 - residual / total)


def _mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean((y_true.astype(float) - y_pred.reshape(y_true.shape)) ** 2))


def _mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y_true.astype(float) - y_pred.reshape(y_true.shape))))


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", _accuracy),
    "balanced_accuracy": Metric("balanced_accuracy", _balanced_accuracy),
    "f1_macro": Metric("f1_macro", _f1_macro),
    "mae": Metric("mae", _mae, higher_is_better=False),
    "mse": Metric("mse", _mse, higher_is_better=False),
    "r2": Metric("r2", _r2),
}


def resolve_metric(metric: Any, name: str = "metric") -> Metric:
    """A :class:`Metric` from a name in :data:`METRICS` or a callable (higher is better)."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        if metric not in METRICS:
            names = ", ".join(repr(m) for m in sorted(METRICS))
            raise bad_value(
                name,
                metric,
                f"unknown metric (known: {names})",
                "Pass one of those names, or a callable score(y_true, y_pred) -> float "
                "where higher is better.",
            )
        return METRICS[metric]
    if callable(metric):
        return Metric(getattr(metric, "__name__", "metric"), _as_float_metric(metric))
    raise bad_value(
        name,
        metric,
        "it must be a metric name or a callable",
        "Pass e.g. metric='accuracy' or metric=lambda y, p: ...",
    )


def _as_float_metric(fn: Callable[..., Any]) -> Callable[[np.ndarray, np.ndarray], float]:
    def score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        value = fn(y_true, y_pred)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_value(
                "metric",
                fn,
                f"it returned {value!r}, not a number",
                "Return a float from the metric callable.",
            ) from None

    return score
