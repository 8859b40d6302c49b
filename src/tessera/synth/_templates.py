"""Vectorised rendering of Faker's ``{{token}}`` and ``###`` formats for whole columns.

Faker renders one row at a time: pick a format, fill each ``{{token}}`` by calling a
provider method, replace each ``#`` by a digit. Here the same formats and the same
provider lists render ``n`` rows at once: rows are grouped by the format they drew,
each token becomes a column (an element drawn from a provider list, or a nested format
rendered the same way) and the columns are joined with :mod:`numpy.strings`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.dtypes import StringDType

__all__ = ["TokenTable", "choose", "numerify", "render", "render_formats"]

_TOKEN = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# Faker's digit placeholders: '#' any digit, '%' and '@' 1-9, '$' 2-9 (en_US phones), '!' any.
_DIGIT_LOW = {ord("#"): 0, ord("!"): 0, ord("%"): 1, ord("@"): 1, ord("$"): 2}

TokenTable = Mapping[str, Callable[[int, np.random.Generator], np.ndarray]]


_TABLES: dict[int, tuple[Any, np.ndarray, np.ndarray | None]] = {}


def _table(values: Sequence[str] | dict[str, float]) -> tuple[np.ndarray, np.ndarray | None]:
    """The provider list as a string array and cumulative weights, converted once."""
    cached = _TABLES.get(id(values))
    if cached is None or cached[0] is not values:
        strings = np.asarray(list(values), dtype=StringDType())
        cum = None
        if isinstance(values, dict):
            weights = np.asarray(list(values.values()), dtype=float)
            cum = np.cumsum(weights / weights.sum())
        cached = (values, strings, cum)
        _TABLES[id(values)] = cached
    return cached[1], cached[2]


def choose(
    values: Sequence[str] | dict[str, float], n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` draws from a provider list (uniform) or an ordered dict of weights."""
    table, cum = _table(values)
    if cum is not None:
        picks = np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(cum) - 1)
        return table[picks]
    return table[rng.integers(0, table.size, n)]


def numerify(template: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Render a literal template with digit placeholders for ``n`` rows."""
    raw = template.encode("utf-8")
    slots = [i for i, byte in enumerate(raw) if byte in _DIGIT_LOW]
    if not slots:
        return np.full(n, template, dtype=StringDType())
    matrix = np.tile(np.frombuffer(raw, dtype=np.uint8), (n, 1))
    low = np.array([_DIGIT_LOW[raw[i]] for i in slots], dtype=np.uint8)
    digits = low + (rng.random((n, len(slots))) * (10 - low)).astype(np.uint8)
    matrix[:, slots] = digits + ord("0")
    as_bytes = matrix.view(f"S{len(raw)}").ravel()
    if raw.isascii():
        return as_bytes.astype(StringDType())
    return np.char.decode(as_bytes, "utf-8").astype(StringDType())


def render(template: str, n: int, rng: np.random.Generator, tokens: TokenTable) -> np.ndarray:
    """Render one format (literals with digit placeholders, ``{{token}}`` columns)."""
    out: Any = np.full(n, "", dtype=StringDType())
    position = 0
    for match in _TOKEN.finditer(template):
        literal = template[position : match.start()]
        if literal:
            out = np.strings.add(out, numerify(literal, n, rng))
        name = match.group(1)
        if name not in tokens:
            raise KeyError(name)
        out = np.strings.add(out, tokens[name](n, rng).astype(StringDType()))
        position = match.end()
    tail = template[position:]
    if tail:
        out = np.strings.add(out, numerify(tail, n, rng))
    return np.asarray(out)


def render_formats(
    formats: Sequence[str] | dict[str, float],
    n: int,
    rng: np.random.Generator,
    tokens: TokenTable,
) -> np.ndarray:
    """Render ``n`` rows, each from a format drawn from ``formats`` (weights if a dict)."""
    names = list(formats)
    if len(names) == 1:
        return render(names[0], n, rng, tokens)
    if isinstance(formats, dict):
        weights = np.asarray(list(formats.values()), dtype=float)
        picks = rng.choice(len(names), size=n, p=weights / weights.sum())
    else:
        picks = rng.integers(0, len(names), n)
    out = np.empty(n, dtype=StringDType())
    for k, template in enumerate(names):
        rows = np.flatnonzero(picks == k)
        if rows.size:
            out[rows] = render(template, rows.size, rng, tokens)
    return out


def usable(formats: Sequence[str] | dict[str, float], tokens: TokenTable) -> Any:
    """The formats whose tokens are all known (a dict keeps its weights)."""
    keep = [f for f in formats if all(t in tokens for t in _TOKEN.findall(f))]
    if isinstance(formats, dict):
        return {f: formats[f] for f in keep}
    return keep
