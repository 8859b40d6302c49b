"""``split_report``: how alike the parts of a split are, column by column and jointly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tessera._validation import bad_value

__all__ = ["ColumnDivergence", "GroupCheck", "SplitReport", "energy_distance", "split_report"]


#: Rows of each side :func:`energy_distance` compares; larger sides are sampled.
ENERGY_MAX_ROWS = 5_000
#: Rows of one side whose distances are held in memory at once.
_BLOCK_ROWS = 1_000


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs, in blocks of rows (bounded memory)."""
    from scipy.spatial.distance import cdist

    total = 0.0
    for start in range(0, len(a), _BLOCK_ROWS):
        total += float(cdist(a[start : start + _BLOCK_ROWS], b).sum())
    return total / (len(a) * len(b))


def _at_most(points: np.ndarray, rows: int) -> np.ndarray:
    """``points``, or a seeded sample of ``rows`` of them (in their order) when longer."""
    if len(points) <= rows:
        return points
    keep = np.sort(np.random.default_rng(0).choice(len(points), rows, replace=False))
    return points[keep]


def energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``2 mean d(a, b) - mean d(a, a) - mean d(b, b)`` (V-statistic, Euclidean, not rooted).

    Exact for sides of up to :data:`ENERGY_MAX_ROWS` rows; a longer side is replaced by a
    seeded random sample of that many rows (the same rows on every call), so a report on
    millions of rows costs seconds and bounded memory instead of a distance matrix the
    size of the product of the parts.
    """
    a = _at_most(np.asarray(a, dtype=np.float64).reshape(len(a), -1), ENERGY_MAX_ROWS)
    b = _at_most(np.asarray(b, dtype=np.float64).reshape(len(b), -1), ENERGY_MAX_ROWS)
    return 2 * _mean_distance(a, b) - _mean_distance(a, a) - _mean_distance(b, b)


def psi(reference: np.ndarray, other: np.ndarray) -> float:
    """Population stability index of two histograms (counts, with half a count added per bin).

    The half count keeps an empty bin of a small part from dominating the sum.
    """
    ref = np.asarray(reference, dtype=np.float64) + 0.5
    oth = np.asarray(other, dtype=np.float64) + 0.5
    ref /= ref.sum()
    oth /= oth.sum()
    return float(np.sum((oth - ref) * np.log(oth / ref)))


@dataclass(frozen=True)
class ColumnDivergence:
    """How one column of one part differs from the same column of the reference part.

    ``ks`` is the Kolmogorov-Smirnov statistic (numeric columns) and
    ``total_variation`` / ``chi2_pvalue`` describe categorical ones; the other is
    ``nan``. ``psi`` is the population stability index (deciles of the reference
    for numeric columns). ``missing`` is the share of missing values in the part.
    A free-text column (``kind="text"``) has ``ks``, the largest KS statistic over its
    TF-IDF components, and ``total_variation`` between the parts' word frequencies.
    """

    column: str
    part: str
    kind: str
    ks: float
    total_variation: float
    chi2_pvalue: float
    psi: float
    missing: float


@dataclass(frozen=True)
class GroupCheck:
    """Whether a group column was respected: no group may have rows in two parts.

    A group column is judged by membership, not by the distribution of its values
    (every part holds other groups by design, so their values always differ).
    """

    column: str
    n_groups: int
    groups_per_part: dict[str, int]
    shared: list[str]

    @property
    def ok(self) -> bool:
        """True when no group has rows in more than one part."""
        return not self.shared


@dataclass(frozen=True)
class SplitReport:
    """Per-column and joint divergences of every part from the reference (first) part."""

    names: list[str]
    sizes: list[int]
    columns: list[ColumnDivergence]
    energy: dict[str, float]
    class_balance: dict[str, dict[str, float]] = field(default_factory=dict)
    frames: list[Any] = field(default_factory=list, repr=False, compare=False)
    target: str | None = None
    identifiers: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    groups: list[GroupCheck] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)

    def worst(self, statistic: str = "ks") -> float:
        """The largest value of ``statistic`` over columns and parts (``nan`` ignored)."""
        values = [getattr(c, statistic) for c in self.columns]
        finite = [v for v in values if np.isfinite(v)]
        return max(finite) if finite else float("nan")

    def to_html(self) -> str:
        """A self-contained HTML page (inline PNG pictures, no scripts, no outside links)."""
        from tessera.split._report_html import render_html

        return render_html(self)

    def write_html(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path`` and return it."""
        out = Path(path)
        out.write_text(self.to_html(), encoding="utf-8")
        return out

    def print(self, console: Any = None) -> None:
        """A terminal summary (rich tables)."""
        from tessera.split._report_html import print_summary

        print_summary(self, console)


def _part_frames(parts: Any) -> tuple[list[str], list[Any]]:
    import pandas as pd

    if isinstance(parts, Mapping):
        names, values = [str(k) for k in parts], list(parts.values())
    else:
        values = list(parts)
        defaults = {2: ["train", "test"], 3: ["train", "val", "test"]}
        names = defaults.get(len(values), [f"part {i}" for i in range(len(values))])
    if len(values) < 2:
        raise bad_value(
            "parts",
            f"<{len(values)} part(s)>",
            "a report compares at least two parts",
            "Pass the parts of a split, e.g. split_report([train, val, test]).",
        )
    frames = []
    for value in values:
        if isinstance(value, pd.DataFrame):
            frames.append(value.reset_index(drop=True))
        elif isinstance(value, pd.Series):
            frames.append(value.to_frame().reset_index(drop=True))
        else:
            array = np.asarray(value)
            frames.append(pd.DataFrame(array.reshape(len(array), -1)))
    columns = list(frames[0].columns)
    for name, frame in zip(names, frames, strict=True):
        if list(frame.columns) != columns:
            raise bad_value(
                "parts",
                f"<part {name!r} with columns {list(frame.columns)[:6]}>",
                "every part must have the same columns as the first",
                "Pass the parts returned by one split.",
            )
    return names, frames


def _column_stats(
    name: str, values: list[Any], part_names: list[str], kind: str = "numeric"
) -> list[ColumnDivergence]:
    import pandas as pd
    from scipy.stats import chi2_contingency, ks_2samp

    from tessera.split._encode import is_categorical, level_labels

    out = []
    whole = pd.concat(values, ignore_index=True)
    categorical = is_categorical(whole)
    if categorical:
        levels = level_labels(whole)
        order = sorted(levels.unique(), key=str)
        counts = [level_labels(v).value_counts().reindex(order, fill_value=0) for v in values]
    else:
        numbers = [v.to_numpy(dtype=np.float64, na_value=np.nan) for v in values]
        ref = numbers[0][np.isfinite(numbers[0])]
        # quantile bins of the reference, about 5 rows of the smallest part per bin
        n_bins = int(np.clip(min(len(v) for v in values) // 5, 2, 10))
        edges = (
            np.unique(np.quantile(ref, np.linspace(0, 1, n_bins + 1)))
            if ref.size
            else np.array([0.0])
        )
    for i in range(1, len(values)):
        missing = float(values[i].isna().mean()) if len(values[i]) else 0.0
        if categorical:
            ref_share = counts[0].to_numpy() / max(1, counts[0].sum())
            share = counts[i].to_numpy() / max(1, counts[i].sum())
            table = np.vstack([counts[0].to_numpy(), counts[i].to_numpy()])
            table = table[:, table.sum(axis=0) > 0]
            pvalue = float(chi2_contingency(table)[1]) if table.shape[1] > 1 else 1.0
            out.append(
                ColumnDivergence(
                    name,
                    part_names[i],
                    "categorical",
                    float("nan"),
                    float(0.5 * np.abs(ref_share - share).sum()),
                    pvalue,
                    psi(counts[0].to_numpy(), counts[i].to_numpy()),
                    missing,
                )
            )
        else:
            other = numbers[i][np.isfinite(numbers[i])]
            if ref.size and other.size:
                ks = float(ks_2samp(ref, other).statistic)
                inner = edges[1:-1]
                bins = inner.size + 1
                stability = psi(
                    np.bincount(np.searchsorted(inner, ref, side="right"), minlength=bins),
                    np.bincount(np.searchsorted(inner, other, side="right"), minlength=bins),
                )
            else:
                ks, stability = float("nan"), float("nan")
            out.append(
                ColumnDivergence(
                    name,
                    part_names[i],
                    kind,
                    ks,
                    float("nan"),
                    float("nan"),
                    stability,
                    missing,
                )
            )
    return out


def split_report(
    parts: Sequence[Any] | Mapping[str, Any],
    target: str | None = None,
    *,
    id_columns: Sequence[Any] = (),
    groups: str | Sequence[str] | None = None,
    types: Mapping[str, str] | None = None,
) -> SplitReport:
    """Measure how alike the parts of a split are.

    Parameters
    ----------
    parts : sequence or mapping of DataFrame or array-like
        The parts, reference (train) first; a mapping names them, otherwise
        they are called train/val/test (or train/test, or part 0, 1, ...).
    target : str or None, default=None
        A column holding the target; its class balance is reported per part
        when it holds class labels.
    id_columns : sequence, default=()
        Identifier columns, left out of every statistic. Identifiers are also
        detected (see ``tessera._tables.infer_types``).
    groups : str, sequence of str or None, default=None
        Group column(s) of the split. Each is judged by membership -- no group may
        have rows in two parts (:class:`GroupCheck`) -- not by its values.
    types : dict or None, default=None
        ``{column: kind}`` overriding the detected kinds. Dates (also written as
        text) are compared by value; free text by the words its rows use (kind
        ``"text"``: the largest KS statistic over its TF-IDF components and the total
        variation between the parts' word frequencies); identifiers are left out of
        the statistics, and :attr:`SplitReport.ignored` says so, with the reason.

    Returns
    -------
    SplitReport
        Per column and per part (against the reference): the KS statistic
        (numbers, dates), total variation distance and chi-square p-value
        (categories), the population stability index and the missing share;
        the energy distance of each part to the reference on the z-scored
        joint space (left-out columns left out); the class balance; the group
        checks; the columns left out and why.

    Examples
    --------
    >>> import pandas as pd
    >>> from tessera.split import split_report, train_val_test_split
    >>> frame = pd.DataFrame({"x": range(30), "y": [0, 1, 2] * 10})
    >>> report = split_report(train_val_test_split(frame, target="y", random_state=0), "y")
    >>> report.names, report.sizes
    (['train', 'val', 'test'], [18, 6, 6])
    """
    import pandas as pd

    from tessera.split._columns import distance_view, type_overrides
    from tessera.split._encode import encode, level_labels, target_codes

    names, frames = _part_frames(parts)
    group_columns = [groups] if isinstance(groups, str) else list(groups or [])
    for argument, wanted in (
        ("target", [target] if target is not None else []),
        ("groups", group_columns),
    ):
        for column in wanted:
            if column not in frames[0].columns:
                shown = ", ".join(map(repr, list(frames[0].columns)[:12]))
                raise bad_value(
                    argument,
                    column,
                    f"no such column (the columns are {shown})",
                    f"Pass one of the column names, or {argument}=None.",
                )
    whole = pd.concat(frames, ignore_index=True)
    overrides = type_overrides(id_columns, types)
    for column in group_columns:
        overrides.setdefault(str(column), "category")
    view, kinds, ignored = distance_view(whole, overrides)
    identifiers = [c for c in frames[0].columns if str(c) in ignored]
    checks = [_group_check(str(c), [f[c] for f in frames], names) for c in group_columns]
    skip = set(identifiers) | set(group_columns)
    bounds = np.cumsum([0] + [len(f) for f in frames])
    stats: list[ColumnDivergence] = []
    for column in frames[0].columns:
        if column in skip:
            continue
        kind = kinds[str(column)].kind
        if kind == "text":
            stats.extend(_text_stats(str(column), whole[column], view, bounds, names))
            continue
        values = [view[column].iloc[bounds[i] : bounds[i + 1]] for i in range(len(frames))]
        label = "datetime" if kind == "datetime" else "numeric"
        stats.extend(_column_stats(str(column), values, names, label))
    exclude = skip | ({target} if target is not None else set())
    target_values = view[target] if target is not None and target in view else None
    if target is not None and target_values is None:
        target_values = whole[target]
    space = encode(view, target_values, exclude).points
    pieces = [space[bounds[i] : bounds[i + 1]] for i in range(len(frames))]
    energy = {names[i]: energy_distance(pieces[0], pieces[i]) for i in range(1, len(frames))}
    balance: dict[str, dict[str, float]] = {}
    if target is not None and target_codes(whole[target]) is not None:
        for name, frame in zip(names, frames, strict=True):
            shares = level_labels(frame[target]).value_counts(normalize=True)
            balance[name] = {str(k): float(v) for k, v in sorted(shares.items(), key=str)}
    typed_frames = [
        whole.iloc[bounds[i] : bounds[i + 1]].reset_index(drop=True) for i in range(len(frames))
    ]
    for column in kinds.of("datetime"):
        original = next(c for c in whole.columns if str(c) == column)
        if column in map(str, skip):
            continue
        stamps = pd.to_datetime(view[original], unit="ns")
        for i, frame in enumerate(typed_frames):
            frame[original] = stamps.iloc[bounds[i] : bounds[i + 1]].reset_index(drop=True)
    return SplitReport(
        names=names,
        sizes=[len(f) for f in frames],
        columns=stats,
        energy=energy,
        class_balance=balance,
        frames=typed_frames,
        target=target,
        identifiers=[str(c) for c in identifiers],
        ignored={
            **ignored,
            **{str(c): "group column (judged by membership)" for c in group_columns},
        },
        groups=checks,
        kinds=kinds.kinds(),
    )


def _text_stats(
    name: str, text: Any, view: Any, bounds: np.ndarray, part_names: list[str]
) -> list[ColumnDivergence]:
    """A free-text column, each part against the reference, by the words its rows use.

    ``ks`` is the largest KS statistic over the column's TF-IDF components (the numbers
    the split balanced); ``total_variation`` is the total variation distance between
    the parts' word frequencies (stop words out, words of two rows or more).
    """
    from scipy.stats import ks_2samp

    from tessera.split._columns import text_feature_name, text_matrix

    components: list[np.ndarray] = []
    while text_feature_name(name, len(components)) in view.columns:
        components.append(view[text_feature_name(name, len(components))].to_numpy())
    words = text_matrix(text, counts=True)
    parts = range(len(part_names))
    frequencies = [
        np.asarray(words[bounds[i] : bounds[i + 1]].sum(axis=0), dtype=float).ravel() for i in parts
    ]
    frequencies = [f / f.sum() if f.sum() > 0 else f for f in frequencies]
    out = []
    for i in parts[1:]:
        rows = slice(bounds[i], bounds[i + 1])
        reference = slice(bounds[0], bounds[1])
        ks = max(
            (float(ks_2samp(c[reference], c[rows], method="asymp").statistic) for c in components),
            default=float("nan"),
        )
        part = text.iloc[rows]
        out.append(
            ColumnDivergence(
                name,
                part_names[i],
                "text",
                ks,
                float(0.5 * np.abs(frequencies[0] - frequencies[i]).sum()),
                float("nan"),
                float("nan"),
                float(part.isna().mean()) if len(part) else 0.0,
            )
        )
    return out


def _group_check(column: str, values: list[Any], names: list[str]) -> GroupCheck:
    import pandas as pd

    sets = [set(pd.Series(v).dropna().astype(str)) for v in values]
    seen: dict[str, int] = {}
    for members in sets:
        for group in members:
            seen[group] = seen.get(group, 0) + 1
    shared = sorted(g for g, count in seen.items() if count > 1)
    return GroupCheck(
        column=column,
        n_groups=len(seen),
        groups_per_part={name: len(m) for name, m in zip(names, sets, strict=True)},
        shared=shared,
    )
