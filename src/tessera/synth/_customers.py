"""A customer-like table: keys, households, numbers, categories, dates, text, gaps.

Made here from a seed (no downloads), for tests, how-tos and benchmarks of what a real
business table asks of split and synth: identifiers that must not be copied, a group
column (households), dates written as text, free-text notes, missing values, and
dependence between the columns (income with age and segment, tenure with signup date).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tessera._validation import check_positive_int
from tessera.synth._random import as_generator

__all__ = ["customers"]

_REGIONS = ("north", "south", "east", "west", "central", "islands")
_WORDS = (
    "called about the late delivery asked for a refund on order happy with service "
    "wants paper invoices moved to a new address complained twice prefers email contact "
    "upgraded plan card expired payment failed resolved by phone"
).split()


def customers(n: int = 5000, *, random_state: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """A seeded customer table of ``n`` rows with the columns real tables have.

    Parameters
    ----------
    n : int, default=5000
        Rows (customers).
    random_state : int, numpy.random.Generator or None, default=0
        Seed; the same seed gives the same table.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (unique key ``C000001``...), ``household`` (``H00001``..., one
        to five customers each), ``age`` (integer), ``income`` (2 decimals, 8%
        missing, rises with age), ``segment`` (gold/silver/bronze, by income),
        ``region`` (six labels), ``products`` (1-6), ``balance`` (2 decimals),
        ``signup`` (a date written ``DD/MM/YYYY``, earlier for older customers),
        ``active`` (``yes``/``no``) and ``note`` (free text, 30% missing).

    Examples
    --------
    >>> from tessera.synth import customers
    >>> customers(100).shape
    (100, 11)
    """
    n = check_positive_int("n", n, minimum=1)
    rng = as_generator(random_state)
    sizes = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.35, 0.3, 0.2, 0.1, 0.05])
    household = np.repeat(np.arange(1, n + 1), sizes)[:n]
    age = np.clip(np.round(rng.normal(46, 15, n)), 18, 92).astype(int)
    income = np.round(np.exp(9.6 + 0.012 * age + rng.normal(0, 0.45, n)), 2)
    segment = np.where(income > 52_000, "gold", np.where(income > 30_000, "silver", "bronze"))
    region = rng.choice(_REGIONS, size=n, p=[0.25, 0.22, 0.18, 0.15, 0.12, 0.08])
    products = np.clip(rng.poisson(1.2 + (segment == "gold") * 1.3, n) + 1, 1, 6)
    balance = np.round(income * rng.gamma(2.0, 0.05, n) * (products / 3.0), 2)
    days = np.clip(rng.normal(1800 + 30 * (age - 46), 700, n), 0, 3650).astype(int)
    signup = pd.Timestamp("2025-01-01") - pd.to_timedelta(days, unit="D")
    active = np.where(rng.random(n) < 0.55 + 0.05 * products, "yes", "no")
    counts = rng.integers(4, 16, n)
    words = rng.choice(np.asarray(_WORDS, dtype=object), size=int(counts.sum()))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    note = np.array([" ".join(words[bounds[i] : bounds[i + 1]]) for i in range(n)], dtype=object)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in rng.permutation(n) + 1],
            "household": [f"H{h:05d}" for h in household],
            "age": age,
            "income": income,
            "segment": segment,
            "region": region,
            "products": products,
            "balance": balance,
            "signup": signup.strftime("%d/%m/%Y"),
            "active": active,
            "note": note,
        }
    )
    frame.loc[rng.random(n) < 0.08, "income"] = np.nan
    frame.loc[rng.random(n) < 0.30, "note"] = None
    return frame
