"""Table shapes on which ``split_dataset``'s divergence is compared with in-memory ``auto``.

Chosen before any tuning of the out-of-core split (issue 24: within 1.2x of in-memory
``auto`` on every shape). ``TUNING`` shapes may be looked at while changing the code;
``HELD_OUT`` shapes are only measured after, and are what the test guards. Each entry
is ``(name, build, npartitions, options)``: ``build(seed)`` returns the table and
``options`` are passed to both splitters (``groups``, ``strata``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

Shape = tuple[str, Callable[[int], pd.DataFrame], int, dict[str, Any]]


def mixed(seed: int, n: int = 2000) -> pd.DataFrame:
    """Normal, gamma and a correlated numeric, three unequal categories (the test's table)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.gamma(2.0, size=n),
            "kind": rng.choice(["x", "y", "z"], size=n, p=[0.6, 0.3, 0.1]),
        }
    )
    frame["c"] = 0.6 * frame["a"] + rng.normal(size=n)
    return frame


def many_categories(seed: int, n: int = 3000) -> pd.DataFrame:
    """A 40-level Zipf-like category, a 12-level one and two numerics."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 41)
    return pd.DataFrame(
        {
            "city": rng.choice([f"c{i}" for i in range(40)], size=n, p=weights / weights.sum()),
            "month": rng.choice([f"m{i}" for i in range(12)], size=n),
            "x": rng.normal(size=n),
            "y": rng.uniform(size=n),
        }
    )


def skewed(seed: int, n: int = 2000) -> pd.DataFrame:
    """Heavy tails: lognormal, Pareto, a zero-inflated amount and a rare flag."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 1.0, size=n) * (rng.random(n) < 0.3)
    return pd.DataFrame(
        {
            "income": rng.lognormal(10.0, 1.2, size=n),
            "claims": rng.pareto(1.5, size=n),
            "amount": amount,
            "flag": rng.random(n) < 0.03,
        }
    )


def tiny_strata(seed: int, n: int = 2400) -> pd.DataFrame:
    """Strata with some levels of only a handful of rows, and two numerics."""
    rng = np.random.default_rng(seed)
    levels = ["big", "mid", "small", "tiny1", "tiny2", "tiny3"]
    probs = np.array([0.6, 0.3, 0.085, 0.005, 0.005, 0.005])
    return pd.DataFrame(
        {
            "level": rng.choice(levels, size=n, p=probs / probs.sum()),
            "x": rng.normal(size=n),
            "z": rng.exponential(size=n),
        }
    )


def grouped(seed: int, n: int = 3000) -> pd.DataFrame:
    """Households of 1-6 rows sharing an income level, with a category and a numeric."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, size=n)
    household = np.repeat(np.arange(n), sizes)[:n]
    level = rng.normal(size=n)[household]
    return pd.DataFrame(
        {
            "household": household,
            "income": level + 0.5 * rng.normal(size=n),
            "kind": rng.choice(["a", "b", "c", "d"], size=n),
            "age": rng.integers(18, 90, size=n),
        }
    )


def customers_like(seed: int, n: int = 2400) -> pd.DataFrame:
    """Numbers, categories and an integer count, correlated through a latent factor."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=n)
    return pd.DataFrame(
        {
            "age": np.clip(40 + 12 * latent + 5 * rng.normal(size=n), 18, 95).round(),
            "balance": np.exp(8 + 0.8 * latent + rng.normal(size=n)),
            "segment": np.where(latent + rng.normal(size=n) > 0.5, "gold", "std"),
            "region": rng.choice(["north", "south", "east", "west", "centre"], size=n),
            "products": rng.poisson(np.exp(0.3 * latent + 0.5)),
        }
    )


TUNING: list[Shape] = [
    ("mixed, 2 partitions", mixed, 2, {}),
    ("many categories, 3 partitions", many_categories, 3, {}),
    ("skewed numerics, 2 partitions", skewed, 2, {}),
    ("tiny strata, 3 partitions", tiny_strata, 3, {"strata": "level"}),
    ("groups, 2 partitions", grouped, 2, {"groups": "household"}),
]

HELD_OUT: list[Shape] = [
    ("customers-like, 3 partitions", customers_like, 3, {}),
    ("mixed, 4 partitions", lambda seed: mixed(seed, 4000), 4, {}),
    ("many categories, 2 partitions", lambda seed: many_categories(seed, 2000), 2, {}),
    ("skewed numerics, 3 partitions", lambda seed: skewed(seed, 3000), 3, {}),
    ("groups and strata, 3 partitions", grouped, 3, {"groups": "household", "strata": "kind"}),
]


def typed_table(n: int, seed: int) -> pd.DataFrame:
    """Dates written day first (their text order is not their time order), free text
    (``topic`` says which of three vocabularies a note draws on), numeric codes to be
    typed as categories, and a repeated key to be typed as an identifier."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    words = [
        "late delivery refund parcel courier missing box arrived damaged".split(),
        "password reset login account locked email code expired access".split(),
        "invoice billing error charge twice payment card statement amount".split(),
    ]
    topic = rng.integers(0, 3, n)
    return pd.DataFrame(
        {
            "day": days.strftime("%d/%m/%Y"),
            "note": [" ".join(rng.choice(words[t], 6)) for t in topic],
            "topic": topic,
            "code": rng.choice([10, 20, 30], n),
            "ref": rng.integers(0, n // 2, n),
        }
    )
