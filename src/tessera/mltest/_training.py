"""Training-side checks: the loss goes down, and the model can overfit a tiny batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tessera._validation import bad_value, check_positive_int
from tessera.mltest._convert import as_array, is_tensor, n_rows, row_label, to_python
from tessera.mltest._failure import MLTestFailure, recorded
from tessera.mltest._metrics import labels_of, resolve_metric

__all__ = ["assert_can_overfit", "assert_loss_decreases", "assert_training_decreases_loss"]


def _losses_array(losses: Any) -> np.ndarray:
    values = as_array(losses, "losses")
    if values.dtype.kind not in "biuf" or values.size != max(values.shape, default=0):
        raise bad_value(
            "losses",
            losses,
            "it must be a 1-D sequence of numbers (one loss per step)",
            "Pass a list, array, Series or 1-D tensor of floats.",
        )
    return values.astype(float).ravel()


def _check_losses(
    values: np.ndarray, window: int | None, min_relative_drop: float, origin: str
) -> None:
    if values.size < 2:
        raise bad_value(
            "losses",
            values.tolist(),
            "at least 2 steps are needed to see a trend",
            "Record the loss at every step of a few dozen steps.",
        )
    if window is None:
        window = max(1, values.size // 10)
    window = check_positive_int("window", window)
    if 2 * window > values.size:
        raise bad_value(
            "window",
            window,
            f"two windows of {window} steps do not fit in {values.size} steps",
            f"Pass window <= {values.size // 2}, or record more steps.",
        )
    if not np.isfinite(min_relative_drop) or not 0 <= min_relative_drop < 1:
        raise bad_value(
            "min_relative_drop",
            min_relative_drop,
            "it must lie in [0, 1)",
            "Pass e.g. 0.1 for 'the loss falls by at least 10%'.",
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        step = int(bad[0])
        raise MLTestFailure(
            "assert_loss_decreases",
            expected=f"finite losses that fall by at least {min_relative_drop:.0%}",
            measured=f"loss {values[step]} at step {step} ({bad.size} non-finite steps{origin})",
            where=f"step {step} (the first non-finite loss; the step before: "
            f"{values[step - 1] if step else 'none'})",
            details={"losses": values},
        )
    n = values.size
    first = float(np.median(values[:window]))
    last = float(np.median(values[-window:]))
    drop = (first - last) / max(abs(first), np.finfo(float).tiny)
    if drop >= min_relative_drop:
        return
    medians = np.array([np.median(values[s : s + window]) for s in range(n - window + 1)])
    best = int(np.argmin(medians))
    raise MLTestFailure(
        "assert_loss_decreases",
        expected=f"the median loss of the last {window} steps at least {min_relative_drop:.1%} "
        f"below that of the first {window} steps",
        measured=f"first window {first:.6g}, last window {last:.6g}: "
        f"{'a drop' if drop >= 0 else 'a rise'} of {abs(drop):.1%}{origin}",
        where=f"steps 0-{window - 1} vs {n - window}-{n - 1}; the lowest window median "
        f"({medians[best]:.6g}) is at steps {best}-{best + window - 1}",
        details={"losses": values, "first": first, "last": last, "relative_drop": drop},
    )


@recorded("assert_loss_decreases")
def assert_loss_decreases(
    losses: Any, *, window: int | None = None, min_relative_drop: float = 0.1
) -> None:
    """Assert that a training loss curve goes down, robustly to step-to-step noise.

    The median loss over the first ``window`` steps is compared with the median
    over the last ``window`` steps, so a single noisy step (or a spike) neither
    passes nor fails the check on its own.

    Parameters
    ----------
    losses : sequence of float, 1-D array, Series or tensor
        The loss at each step, in order (a list of 0-d tensors is accepted).
    window : int or None, default=None
        Steps per window; ``None`` uses a tenth of the steps (at least 1).
    min_relative_drop : float, default=0.1
        The last window must be at least this fraction below the first.

    Raises
    ------
    MLTestFailure
        If the drop is smaller, or a loss is NaN or infinite (the message names
        the first such step).

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import assert_loss_decreases
    >>> noisy = np.exp(-np.arange(100) / 30) + np.random.default_rng(0).normal(0, 0.02, 100)
    >>> assert_loss_decreases(noisy, window=10, min_relative_drop=0.5)
    >>> assert_loss_decreases([1.0, 1.0, 1.0, 1.0])
    Traceback (most recent call last):
    ...
    tessera.mltest.MLTestFailure: assert_loss_decreases failed
    ...
    """
    _check_losses(_losses_array(losses), window, min_relative_drop, "")


@recorded("assert_training_decreases_loss")
def assert_training_decreases_loss(
    train_step: Callable[[], Any],
    *,
    steps: int = 50,
    window: int | None = None,
    min_relative_drop: float = 0.1,
) -> np.ndarray:
    """Run ``train_step`` ``steps`` times and assert that the loss it returns goes down.

    Parameters
    ----------
    train_step : callable
        ``train_step() -> loss``: one optimisation step returning its loss (a
        float or a 0-d tensor).
    steps : int, default=50
        How many steps to run.
    window, min_relative_drop
        As in :func:`assert_loss_decreases`.

    Returns
    -------
    numpy.ndarray
        The losses, one per step.

    Examples
    --------
    >>> from tessera.mltest import assert_training_decreases_loss
    >>> state = {"w": 5.0}
    >>> def step():
    ...     state["w"] -= 0.1 * 2 * state["w"]   # gradient step on w**2
    ...     return state["w"] ** 2
    >>> losses = assert_training_decreases_loss(step, steps=20)
    >>> bool(losses[-1] < losses[0])
    True
    """
    steps = check_positive_int("steps", steps, minimum=2)
    if not callable(train_step):
        raise bad_value(
            "train_step",
            train_step,
            "it must be callable",
            "Pass a function that runs one step and returns its loss.",
        )
    losses = np.empty(steps)
    for step in range(steps):
        loss = train_step()
        if is_tensor(loss):
            loss = loss.detach().cpu().item()
        try:
            losses[step] = float(loss)
        except (TypeError, ValueError):
            raise bad_value(
                "train_step",
                train_step,
                f"step {step} returned {loss!r}, not a number",
                "Return the loss (a float or a 0-d tensor) from train_step.",
            ) from None
    _check_losses(losses, window, min_relative_drop, f", over {steps} calls of train_step")
    return losses


@recorded("assert_can_overfit")
def assert_can_overfit(
    fit: Callable[[Any, Any], Any],
    predict: Callable[[Any], Any],
    X: Any,
    y: Any,
    *,
    metric: Any = "accuracy",
    threshold: float | None = None,
    max_rows: int = 512,
) -> float:
    """Assert that the model reaches a near-perfect training score on a tiny batch.

    A model that cannot memorise a few dozen rows has a bug (a detached graph, a
    frozen layer, a wrong label mapping, a learning rate of zero) long before
    it has a generalisation problem.

    Parameters
    ----------
    fit : callable
        ``fit(X, y)``: trains the model in place (e.g. ``estimator.fit``).
    predict : callable
        ``predict(X) -> predictions`` (labels, scores or logits; 2-D scores
        are turned into labels by their argmax for classification metrics).
    X, y : array-like, DataFrame or tensor
        The tiny batch.
    metric : str or callable, default="accuracy"
        A name from ``"accuracy"``, ``"balanced_accuracy"``, ``"f1_macro"``,
        ``"r2"`` (higher is better), ``"mse"``, ``"mae"`` (lower is better),
        or ``score(y_true, y_pred) -> float`` where higher is better.
    threshold : float or None, default=None
        The score to reach; ``None`` means 0.99 for higher-is-better metrics.
        Required for ``"mse"`` and ``"mae"``.
    max_rows : int, default=512
        Guard: the check is meant for a tiny batch.

    Returns
    -------
    float
        The training score reached.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from tessera.mltest import assert_can_overfit
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(32, 3)), rng.integers(0, 2, 32)   # labels are pure noise
    >>> model = DecisionTreeClassifier(random_state=0)
    >>> assert_can_overfit(model.fit, model.predict, X, y)
    1.0
    """
    score_of = resolve_metric(metric)
    if threshold is None:
        if not score_of.higher_is_better:
            raise bad_value(
                "threshold",
                threshold,
                f"metric {score_of.name!r} is lower-is-better and has no default target",
                "Pass threshold=, e.g. threshold=1e-3 for mse.",
            )
        threshold = 0.99
    rows = n_rows(X, "X")
    max_rows = check_positive_int("max_rows", max_rows)
    if rows > max_rows:
        raise bad_value(
            "X",
            f"<{rows} rows>",
            f"the overfitting check is for a tiny batch (at most max_rows={max_rows} rows)",
            "Pass a slice such as X[:64], y[:64], or raise max_rows.",
        )
    if n_rows(y, "y") != rows:
        raise bad_value(
            "y",
            f"<{n_rows(y, 'y')} rows>",
            f"it must have one target per row of X ({rows})",
            "Pass X and y of the same length.",
        )
    fit(X, y)
    y_true = as_array(y, "y")
    y_pred = as_array(predict(X), "predict(X)")
    score = score_of.fn(y_true, y_pred)
    if score_of.passes(score, threshold):
        return score
    labels = labels_of(y_pred, y_true)
    if labels.shape == y_true.shape and y_true.dtype.kind not in "f":
        wrong = np.flatnonzero(labels != y_true)
        shown = ", ".join(
            f"{row_label(X, i)}: predicted {to_python(labels[i])!r}, true {to_python(y_true[i])!r}"
            for i in wrong[:5]
        )
        where = f"{wrong.size} of {rows} rows mispredicted; first: {shown}"
    else:
        error = np.abs(y_true.astype(float).ravel() - labels.astype(float).ravel()[: y_true.size])
        wrong = np.argsort(-error, kind="stable")[:5]
        shown = ", ".join(f"{row_label(X, int(i))}: |error| {error[i]:.4g}" for i in wrong)
        where = f"worst rows: {shown}"
    raise MLTestFailure(
        "assert_can_overfit",
        expected=f"training {score_of.rule(threshold)} after fitting the {rows}-row batch",
        measured=f"training {score_of.name} = {score:.4g}",
        where=where,
        rows=tuple(int(i) for i in wrong[:20]),
        details={"score": score, "threshold": threshold},
    )
