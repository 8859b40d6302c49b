"""Seeded generators of simulated data: relations, series, latent structure, distributions."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tessera._validation import bad_value, check_positive_int
from tessera.synth._random import as_generator

__all__ = [
    "blobs",
    "classification",
    "distribution",
    "linear",
    "low_rank",
    "regression",
    "time_series",
]

Seed = int | np.random.Generator | None


def _check_scale(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise bad_value(name, value, "it must be a number >= 0", f"Pass e.g. {name}=1.0.")
    return float(value)


def linear(
    n: int,
    *,
    n_features: int = 1,
    coef: Sequence[float] | None = None,
    intercept: float = 0.0,
    noise: float = 1.0,
    random_state: Seed = None,
    as_frame: bool = False,
) -> tuple[np.ndarray, np.ndarray] | pd.DataFrame:
    """A linear relation with Gaussian noise: ``y = X @ coef + intercept + noise * e``.

    Parameters
    ----------
    n : int
        Rows.
    n_features : int, default=1
        Columns of ``X`` (standard normal); ignored when ``coef`` is given.
    coef : sequence of float, optional
        The true coefficients; drawn uniformly from ``[-3, 3]`` if omitted.
    intercept : float, default=0.0
    noise : float, default=1.0
        Standard deviation of the noise.
    random_state : int, numpy.random.Generator or None
    as_frame : bool, default=False
        Return one DataFrame (``x0 ... x{k-1}``, ``y``) instead of ``(X, y)``.

    Examples
    --------
    >>> X, y = linear(100, coef=[2.0], noise=0.0, random_state=0)
    >>> bool(np.allclose(y, 2.0 * X[:, 0]))
    True
    """
    n = check_positive_int("n", n, minimum=1)
    noise = _check_scale("noise", noise)
    rng = as_generator(random_state)
    if coef is None:
        k = check_positive_int("n_features", n_features)
        beta = rng.uniform(-3.0, 3.0, k)
    else:
        beta = np.asarray(coef, dtype=float).ravel()
        if beta.size == 0 or not np.all(np.isfinite(beta)):
            raise bad_value(
                "coef", coef, "it must hold finite numbers", "Pass e.g. coef=[1.5, -2]."
            )
    X = rng.standard_normal((n, beta.size))
    y = X @ beta + float(intercept) + noise * rng.standard_normal(n)
    if as_frame:
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(beta.size)])
        frame["y"] = y
        return frame
    return X, y


def time_series(
    n: int,
    *,
    start: str = "2024-01-01",
    freq: str = "D",
    level: float = 0.0,
    trend: float = 0.0,
    seasonalities: Sequence[tuple[float, float]] = ((7.0, 1.0),),
    noise: float = 0.3,
    changepoints: int | Sequence[int] = 0,
    change_scale: float = 2.0,
    random_state: Seed = None,
) -> pd.DataFrame:
    """Trend + seasonalities + noise, with optional regime changes.

    ``value[t] = level + trend * t + sum_k a_k sin(2 pi t / p_k + phase_k) + regime(t) + e_t``.
    At each change point the level jumps by ``N(0, change_scale)`` and the slope by
    ``N(0, change_scale / n)``; the ``regime`` column counts the changes so far.

    Parameters
    ----------
    n : int
        Number of time steps.
    start, freq : str
        First timestamp and pandas frequency of the ``time`` column.
    level, trend : float
        Intercept and slope per step.
    seasonalities : sequence of (period, amplitude)
        One sine wave per pair, period in steps, with a random phase.
    noise : float, default=0.3
        Standard deviation of the white noise.
    changepoints : int or sequence of int, default=0
        How many change points (at random steps) or the steps themselves.
    change_scale : float, default=2.0
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    pandas.DataFrame
        Columns ``time``, ``value``, ``regime``.
    """
    n = check_positive_int("n", n, minimum=1)
    noise = _check_scale("noise", noise)
    change_scale = _check_scale("change_scale", change_scale)
    rng = as_generator(random_state)
    t = np.arange(n, dtype=float)
    value = float(level) + float(trend) * t
    for item in seasonalities:
        if not (isinstance(item, tuple | list) and len(item) == 2) or not float(item[0]) > 0:
            raise bad_value(
                "seasonalities",
                seasonalities,
                "each entry must be (period > 0, amplitude)",
                "Pass e.g. seasonalities=[(7, 1.0), (365.25, 3.0)].",
            )
        period, amplitude = float(item[0]), float(item[1])
        value += amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    if isinstance(changepoints, int | np.integer) and not isinstance(changepoints, bool):
        if not 0 <= changepoints < n:
            raise bad_value(
                "changepoints",
                changepoints,
                f"it must be in [0, {n})",
                "Pass fewer change points than steps.",
            )
        steps = np.sort(rng.choice(np.arange(1, n), size=int(changepoints), replace=False))
    else:
        steps = np.sort(np.asarray([int(c) for c in changepoints], dtype=np.int64))  # type: ignore[union-attr]
        if steps.size and (steps.min() < 1 or steps.max() >= n):
            raise bad_value(
                "changepoints",
                changepoints,
                f"steps must be in [1, {n})",
                "Pass step indices inside the series.",
            )
    regime = np.zeros(n, dtype=np.int64)
    for step in steps:
        jump = rng.normal(0.0, change_scale)
        slope = rng.normal(0.0, change_scale / n)
        value[step:] += jump + slope * (t[step:] - step)
        regime[step:] += 1
    value += noise * rng.standard_normal(n)
    time = pd.date_range(start=start, periods=n, freq=freq)
    return pd.DataFrame({"time": time, "value": value, "regime": regime})


def low_rank(
    n: int,
    latent_dim: int,
    observed_dim: int,
    *,
    noise: float = 0.1,
    random_state: Seed = None,
    as_frame: bool = False,
) -> np.ndarray | pd.DataFrame:
    """High-dimensional data from a few latent dimensions: ``X = Z @ W + noise * E``.

    ``Z`` is ``n x latent_dim`` standard normal, ``W`` is ``latent_dim x observed_dim``
    standard normal; the covariance of ``X`` has rank ``latent_dim`` plus ``noise**2 I``.

    Examples
    --------
    >>> X = low_rank(500, 2, 10, noise=0.0, random_state=0)
    >>> int(np.linalg.matrix_rank(X))
    2
    """
    n = check_positive_int("n", n, minimum=1)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    observed_dim = check_positive_int("observed_dim", observed_dim)
    noise = _check_scale("noise", noise)
    rng = as_generator(random_state)
    latent = rng.standard_normal((n, latent_dim))
    loadings = rng.standard_normal((latent_dim, observed_dim))
    X = latent @ loadings + noise * rng.standard_normal((n, observed_dim))
    if as_frame:
        return pd.DataFrame(X, columns=[f"x{i}" for i in range(observed_dim)])
    return X


def _sklearn_seed(random_state: Seed) -> int:
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        as_generator(random_state)  # validates
        return int(random_state)
    return int(as_generator(random_state).integers(0, 2**31 - 1))


def _wrap(maker: str, n: int, random_state: Seed, as_frame: bool, kwargs: dict[str, Any]) -> Any:
    from sklearn import datasets

    n = check_positive_int("n", n, minimum=1)
    for forbidden in ("n_samples", "random_state"):
        if forbidden in kwargs:
            raise bad_value(
                forbidden,
                kwargs[forbidden],
                "it is set by this wrapper",
                f"Pass n= and random_state= instead of {forbidden}=.",
            )
    try:
        X, y, *_ = getattr(datasets, maker)(
            n_samples=n, random_state=_sklearn_seed(random_state), **kwargs
        )
    except (TypeError, ValueError) as exc:
        raise bad_value(
            f"{maker} arguments",
            kwargs,
            str(exc),
            f"See sklearn.datasets.{maker} for the allowed arguments.",
        ) from None
    if as_frame:
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
        frame["target"] = y
        return frame
    return X, y


def classification(
    n: int, *, random_state: Seed = None, as_frame: bool = False, **kwargs: Any
) -> Any:
    """:func:`sklearn.datasets.make_classification`, seeded; ``(X, y)`` or a DataFrame."""
    return _wrap("make_classification", n, random_state, as_frame, kwargs)


def regression(n: int, *, random_state: Seed = None, as_frame: bool = False, **kwargs: Any) -> Any:
    """:func:`sklearn.datasets.make_regression`, seeded; ``(X, y)`` or a DataFrame."""
    return _wrap("make_regression", n, random_state, as_frame, kwargs)


def blobs(n: int, *, random_state: Seed = None, as_frame: bool = False, **kwargs: Any) -> Any:
    """:func:`sklearn.datasets.make_blobs`, seeded; ``(X, y)`` or a DataFrame."""
    return _wrap("make_blobs", n, random_state, as_frame, kwargs)


def distribution(name: str, n: int, /, *, random_state: Seed = None, **params: Any) -> np.ndarray:
    """``n`` draws from any :mod:`scipy.stats` distribution, by name.

    Parameters
    ----------
    name : str
        A scipy.stats distribution (``"norm"``, ``"binom"``, ``"expon"``, ``"gamma"``, ...).
    n : int
        Number of draws (positional only, so that ``n=`` stays free for shapes such as
        binom's).
    random_state : int, numpy.random.Generator or None
    **params
        The distribution's shape parameters and ``loc``/``scale``
        (``distribution("binom", 10, n=20, p=0.3)``).

    Examples
    --------
    >>> distribution("norm", 3, loc=10.0, scale=0.0, random_state=0).tolist()
    [10.0, 10.0, 10.0]
    """
    from scipy import stats

    size = check_positive_int("n", n, minimum=0)
    names = [
        k for k, v in vars(stats).items() if isinstance(v, stats.rv_continuous | stats.rv_discrete)
    ]
    dist = getattr(stats, name, None) if isinstance(name, str) else None
    if not isinstance(dist, stats.rv_continuous | stats.rv_discrete):
        close = difflib.get_close_matches(str(name), names, n=3)
        hint = f"Did you mean {', '.join(map(repr, close))}?" if close else "See scipy.stats."
        raise bad_value("name", name, "it must name a scipy.stats distribution", hint)
    shapes = [s.strip() for s in (dist.shapes or "").split(",") if s.strip()]
    allowed = [*shapes, "loc"] + (["scale"] if isinstance(dist, stats.rv_continuous) else [])
    unknown = sorted(set(params) - set(allowed))
    missing = [s for s in shapes if s not in params]
    if unknown or missing:
        raise bad_value(
            f"{name} parameters",
            params,
            f"{name} takes {', '.join(allowed)} (shapes {shapes or 'none'} required)",
            f"Unknown: {unknown or 'none'}; missing: {missing or 'none'}.",
        )
    frozen = dist(**params)
    if not np.all(frozen.dist._argcheck(*[params[s] for s in shapes])) or (
        float(params.get("scale", 1.0)) < 0
    ):
        raise bad_value(
            f"{name} parameters",
            params,
            "they are outside the distribution's domain",
            "Check the ranges in the scipy.stats documentation.",
        )
    return np.asarray(frozen.rvs(size=size, random_state=as_generator(random_state)))
