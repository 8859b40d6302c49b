"""Reproducibility under a seed: reseed every random generator, run twice, compare."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from tessera._validation import bad_value, check_positive_int
from tessera.mltest._compare import first_difference
from tessera.mltest._failure import MLTestFailure, recorded

__all__ = ["assert_reproducible", "seed_everything"]


def seed_everything(seed: int, *, torch: bool | None = None) -> int:
    """Reseed Python's :mod:`random`, numpy's global generator and torch's generators.

    Parameters
    ----------
    seed : int
        In ``[0, 2**32)``.
    torch : bool or None, default=None
        ``None`` reseeds torch only when it is already imported (so that seeding
        never pays for importing it); ``True`` imports and reseeds it (CPU and
        every CUDA device); ``False`` leaves it alone.

    Returns
    -------
    int
        The seed, for chaining.

    Examples
    --------
    >>> import random
    >>> import numpy as np
    >>> from tessera.mltest import seed_everything
    >>> _ = seed_everything(7); a = (random.random(), np.random.rand())
    >>> _ = seed_everything(7); b = (random.random(), np.random.rand())
    >>> a == b
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise bad_value("seed", seed, "it must be an integer in [0, 2**32)", "Pass e.g. seed=0.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - reseeding the legacy global generator is the point
    if torch or (torch is None and "torch" in sys.modules):
        import torch as torch_module

        torch_module.manual_seed(seed)  # seeds the CPU and every CUDA device
    return seed


@recorded("assert_reproducible")
def assert_reproducible(
    train: Callable[[int], Any],
    *,
    seed: int,
    runs: int = 2,
    rtol: float = 1e-7,
    atol: float = 0.0,
    compare: Callable[[Any, Any], bool] | None = None,
) -> Any:
    """Assert that training twice under the same seed gives the same result.

    Before each run, :func:`seed_everything` reseeds :mod:`random`, numpy's
    global generator and torch (when imported; a ``train`` that imports torch
    during its first run is run once more, seeded, so the comparison is fair).
    ``train(seed)`` receives the seed to pass on (``random_state=seed``).

    Parameters
    ----------
    train : callable
        ``train(seed) -> result``. The result may be predictions, weights, a
        fitted scikit-learn estimator (its attributes ending in ``_`` are
        compared), a torch module (its ``state_dict``), or dicts, lists and
        tuples of those.
    seed : int
        The seed for every run.
    runs : int, default=2
        How many runs to compare (each against the first).
    rtol, atol : float, default=1e-7, 0.0
        Tolerances for numbers (``numpy.isclose``; NaN equals NaN).
    compare : callable or None, default=None
        ``compare(first, other) -> bool`` replacing the built-in comparison.

    Returns
    -------
    object
        The result of the first run.

    Examples
    --------
    >>> import numpy as np
    >>> from tessera.mltest import assert_reproducible
    >>> def train(seed):
    ...     return np.random.default_rng(seed).normal(size=3)
    >>> _ = assert_reproducible(train, seed=0)
    >>> def unseeded(seed):
    ...     return np.random.default_rng().normal(size=3)   # ignores the seed
    >>> assert_reproducible(unseeded, seed=0)
    Traceback (most recent call last):
    ...
    tessera.mltest.MLTestFailure: assert_reproducible failed
    ...
    """
    runs = check_positive_int("runs", runs, minimum=2)
    if not callable(train):
        raise bad_value("train", train, "it must be callable", "Pass train(seed) -> result.")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if not np.isfinite(tol) or tol < 0:
            raise bad_value(name, tol, "it must be a finite number >= 0", f"Pass e.g. {name}=0.")

    def one_run() -> Any:
        seed_everything(seed)
        return train(seed)

    torch_before = "torch" in sys.modules
    first = one_run()
    if not torch_before and "torch" in sys.modules:
        first = one_run()  # torch arrived during the first run, unseeded: run it again seeded
    for run in range(1, runs):
        other = one_run()
        if compare is not None:
            if bool(compare(first, other)):
                continue
            difference = f"compare(first, run {run}) returned False"
        else:
            found = first_difference(first, other, rtol=rtol, atol=atol)
            if found is None:
                continue
            difference = found
        raise MLTestFailure(
            "assert_reproducible",
            expected=f"{runs} runs of {getattr(train, '__name__', 'train')}(seed={seed}) to "
            f"agree (rtol={rtol:g}, atol={atol:g})",
            measured=f"run {run} differs from run 0: {difference}",
            where=f"run {run}; the seed reached random, numpy"
            f"{', torch' if 'torch' in sys.modules else ''} and train(seed); an RNG created "
            "without the seed, a thread race or a non-deterministic kernel breaks it",
            details={"seed": seed, "run": run, "difference": difference},
        )
    return first
