"""Columns the copula does not model: identifiers regenerated, free text generated.

An identifier's values carry no distribution worth learning and are the first thing a
synthetic table must not copy. :class:`IdentifierModel` learns only the format and how
many rows share a key (a household of three is three rows with one key), never a value:

- whole numbers: new keys count up from one past the largest real key;
- text of one shape with a number in it (``C000123``, ``H-2024-0042``): the shape's
  fixed parts are kept and its last number counts up from one past the largest real one
  (zero-padded to the real width, wider only when it must be);
- anything else (e-mail addresses, UUIDs, names): ``<column>-000001``, ...

Keys counted up from past the largest real one cannot be real keys. The saved model
holds the shape, that starting number and the shares of key multiplicities.

:class:`TextModel` writes Latin filler text (Faker's lorem word list) with the real
column's distribution of word counts (a histogram) and missing rate: the look of the
column, none of its content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GeneratedColumn", "IdentifierModel", "TextModel", "generated_from_dict"]

_RUNS = re.compile(r"(\d+|[A-Za-z]+|[^A-Za-z\d]+)")
#: Key multiplicities kept (larger groups are counted at this size).
_MAX_GROUP = 1000


def _multiplicities(values: pd.Series) -> tuple[list[int], list[float]]:
    counts = values.value_counts().clip(upper=_MAX_GROUP)
    shares = counts.value_counts(normalize=True).sort_index()
    return [int(k) for k in shares.index], [float(v) for v in shares.to_numpy()]


@dataclass
class IdentifierModel:
    """A key column: its format and how many rows share a key; no real value."""

    name: str
    style: str  # "integer", "pattern" or "counter"
    prefix: str  # the fixed text before the counted number
    suffix: str  # and after it
    width: int
    start: int
    sizes: list[int]
    shares: list[float]
    missing_rate: float
    kind: str = "identifier"

    @classmethod
    def fit(cls, series: pd.Series) -> IdentifierModel:
        present = series.dropna()
        sizes, shares = _multiplicities(present) if len(present) else ([1], [1.0])
        missing = float(series.isna().mean())
        name = str(series.name)
        if pd.api.types.is_numeric_dtype(series.dtype) and len(present):
            top = int(np.floor(present.to_numpy(dtype=float).max()))
            return cls(name, "integer", "", "", 0, top + 1, sizes, shares, missing)
        found = _pattern(present.astype(str))
        if found is None:
            return cls(name, "counter", f"{name}-", "", 6, 1, sizes, shares, missing)
        prefix, suffix, width, start = found
        return cls(name, "pattern", prefix, suffix, width, start, sizes, shares, missing)

    def sample(self, n: int, rng: np.random.Generator, first_row: int = 0) -> np.ndarray:
        """``n`` keys; rows ``first_row ...`` of a larger table get keys no other rows get."""
        groups = rng.choice(np.asarray(self.sizes), size=n + 1, p=np.asarray(self.shares))
        ends = np.cumsum(groups)
        keys_needed = int(np.searchsorted(ends, n, side="left")) + 1
        owner = np.repeat(np.arange(keys_needed), groups[:keys_needed])[:n]
        rng.shuffle(owner)
        numbers = self.start + first_row + owner
        if self.style == "integer" or n == 0:  # numpy's zfill fails on an empty array
            out = numbers.astype(object)
        else:
            width = max(self.width, len(str(int(numbers.max())))) if n else self.width
            counted = np.char.zfill(numbers.astype(str), width)
            out = np.char.add(np.char.add(self.prefix, counted), self.suffix).astype(object)
        if self.missing_rate > 0:
            out[rng.random(n) < self.missing_rate] = None
        return np.asarray(out, dtype=object)

    def summary(self) -> str:
        if self.style == "integer":
            return f"new whole numbers from {self.start}"
        shape = self.prefix + "#" * self.width + self.suffix
        return f"new keys shaped {shape!r} counted from {self.start}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "style": self.style,
            "prefix": self.prefix,
            "suffix": self.suffix,
            "width": self.width,
            "start": self.start,
            "sizes": self.sizes,
            "shares": self.shares,
            "missing_rate": self.missing_rate,
        }


def _pattern(text: pd.Series) -> tuple[str, str, int, int] | None:
    """(text before and after the counted number, its width, one past its largest value).

    Every value must split into the same runs of letters, digits and other characters,
    all fixed but the last run of digits (the counted number); else ``None``.
    """
    if text.empty:
        return None
    runs = text.map(lambda v: tuple(_RUNS.findall(v)))
    if runs.map(len).nunique() != 1:
        return None
    table = pd.DataFrame(runs.tolist())
    counted = next(
        (j for j in range(table.shape[1] - 1, -1, -1) if table[j].str.fullmatch(r"\d+").all()),
        None,
    )
    if counted is None:
        return None
    fixed = [j for j in range(table.shape[1]) if j != counted]
    if any(table[j].nunique() != 1 for j in fixed):
        return None  # two varying parts: no single shape to keep
    prefix = "".join(str(table[j].iloc[0]) for j in fixed if j < counted)
    suffix = "".join(str(table[j].iloc[0]) for j in fixed if j > counted)
    digits = table[counted]
    width = int(digits.str.len().min()) if digits.str.startswith("0").any() else 1
    return prefix, suffix, width, int(digits.astype(int).max()) + 1


@dataclass
class TextModel:
    """Free text written as lorem ipsum with the real word-count distribution."""

    name: str
    word_counts: list[int]
    shares: list[float]
    missing_rate: float
    kind: str = "text"

    @classmethod
    def fit(cls, series: pd.Series) -> TextModel:
        present = series.dropna().astype(str)
        words = present.str.split().str.len().clip(lower=1, upper=200)
        if words.empty:
            counts, shares = [1], [1.0]
        else:
            table = words.value_counts(normalize=True).sort_index()
            counts, shares = [int(k) for k in table.index], [float(v) for v in table]
        return cls(str(series.name), counts, shares, float(series.isna().mean()))

    def sample(self, n: int, rng: np.random.Generator, first_row: int = 0) -> np.ndarray:
        from faker.providers.lorem.la import Provider

        vocabulary = np.asarray(Provider.word_list, dtype=object)
        lengths = rng.choice(np.asarray(self.word_counts), size=n, p=np.asarray(self.shares))
        words = vocabulary[rng.integers(0, vocabulary.size, int(lengths.sum()))]
        out = np.empty(n, dtype=object)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        for i in range(n):
            sentence = " ".join(words[bounds[i] : bounds[i + 1]])
            out[i] = sentence[:1].upper() + sentence[1:] + "."
        if self.missing_rate > 0:
            out[rng.random(n) < self.missing_rate] = None
        return out

    def summary(self) -> str:
        mean = float(np.dot(self.word_counts, self.shares))
        return f"lorem ipsum, {mean:.1f} words a value on average"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "word_counts": self.word_counts,
            "shares": self.shares,
            "missing_rate": self.missing_rate,
        }


GeneratedColumn = IdentifierModel | TextModel


def generated_from_dict(data: dict[str, Any]) -> GeneratedColumn:
    """Rebuild a generated column from its ``to_dict`` output."""
    fields = {k: v for k, v in data.items() if k != "kind"}
    if data.get("kind") == "identifier":
        return IdentifierModel(**fields)
    if data.get("kind") == "text":
        return TextModel(**fields)
    raise ValueError(f"unknown generated column kind {data.get('kind')!r}")
