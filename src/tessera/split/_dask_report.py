"""The report of an out-of-core split, from what the split tasks kept of each part.

Column statistics (KS, total variation, chi-square, PSI, missing share) come from
per-part column sketches of every row (:mod:`tessera._sketch`), the energy distance from
a bottom-k sample of each part, the group check from the hashes of each part's group keys.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tessera._sketch import ColumnSketch, sketch_cdf

__all__ = ["PartitionResult", "sketch_report"]


@dataclass
class PartitionResult:
    """What the split of one partition keeps of each part (merged across partitions)."""

    counts: list[int]
    sketches: list[dict[str, ColumnSketch]]
    samples: list[pd.DataFrame]
    groups: list[np.ndarray]  # per part: the sorted 64-bit hashes of its group keys
    #: every column's kind as complete overrides (the table is typed once, so the
    #: report types the columns as the split did)
    types: dict[str, str] = field(default_factory=dict)


def sketch_report(
    names: list[str],
    merged: PartitionResult,
    *,
    target: Hashable | None,
    groups: Hashable | None,
    id_columns: Sequence[Hashable],
) -> Any:
    """A :class:`SplitReport`: column statistics from sketches, energy from part samples.

    ``merged`` holds, per part, its row count, a sketch of each column, a bottom-k
    sample of its rows (with their keys in ``__key``) and the hashes of its group keys.
    Free-text columns are compared on the samples (their words), dates by value.
    """
    from scipy.stats import chi2_contingency

    from tessera.split._report import ColumnDivergence, GroupCheck, SplitReport, psi, split_report

    samples = [s.drop(columns=["__key"]).reset_index(drop=True) for s in merged.samples]
    sampled = split_report(
        dict(zip(names, samples, strict=True)),
        target=str(target) if target is not None else None,
        id_columns=list(id_columns),
        types=merged.types or None,
    )
    reference = merged.sketches[0]
    stats: list[ColumnDivergence] = []
    for column, ref in reference.items():
        if column in sampled.ignored or column == str(groups):
            continue
        if sampled.kinds.get(column) == "text":
            # words, not whole texts: compared on the parts' bottom-k samples
            stats.extend(c for c in sampled.columns if c.column == column)
            continue
        for name, count, sketches in zip(names, merged.counts, merged.sketches, strict=True):
            if name == names[0]:
                continue
            other = sketches[column]
            missing = other.missing / max(count, 1)
            if ref.numeric and ref.points.size and other.points.size:
                grid = np.union1d(ref.points, other.points)
                ks = float(np.abs(sketch_cdf(ref, grid) - sketch_cdf(other, grid)).max())
                edges = np.quantile(ref.points, np.linspace(0.1, 0.9, 9))
                ref_bins = np.diff(np.concatenate([[0.0], sketch_cdf(ref, edges), [1.0]]))
                oth_bins = np.diff(np.concatenate([[0.0], sketch_cdf(other, edges), [1.0]]))
                total = ref.weights.sum(), other.weights.sum()
                stats.append(
                    ColumnDivergence(
                        column,
                        name,
                        "datetime" if sampled.kinds.get(column) == "datetime" else "numeric",
                        ks,
                        float("nan"),
                        float("nan"),
                        psi(ref_bins * total[0], oth_bins * total[1]),
                        missing,
                    )
                )
            elif ref.counts is not None and other.counts is not None:
                levels = sorted(set(ref.counts) | set(other.counts), key=str)
                table = np.array(
                    [
                        [ref.counts.get(v, 0) for v in levels],
                        [other.counts.get(v, 0) for v in levels],
                    ],
                    dtype=float,
                )
                shares = table / np.maximum(table.sum(axis=1, keepdims=True), 1.0)
                tv = float(0.5 * np.abs(shares[0] - shares[1]).sum())
                pvalue = (
                    float(chi2_contingency(table[:, table.sum(axis=0) > 0])[1])
                    if len(levels) > 1
                    else 1.0
                )
                stats.append(
                    ColumnDivergence(
                        column,
                        name,
                        "categorical",
                        float("nan"),
                        tv,
                        pvalue,
                        psi(table[0], table[1]),
                        missing,
                    )
                )
    checks = []
    if groups is not None:
        every = np.concatenate(merged.groups)
        uniques, seen = np.unique(every, return_counts=True)
        checks.append(
            GroupCheck(
                column=str(groups),
                n_groups=int(uniques.size),
                groups_per_part={n: int(g.size) for n, g in zip(names, merged.groups, strict=True)},
                shared=[f"hash {h:016x}" for h in uniques[seen > 1]],
            )
        )
    return SplitReport(
        names=names,
        sizes=list(merged.counts),
        columns=stats,
        energy=sampled.energy,
        class_balance=_balance(names, merged, target),
        target=str(target) if target is not None else None,
        identifiers=sampled.identifiers,
        ignored=sampled.ignored,
        groups=checks,
        kinds=sampled.kinds,
    )


def _balance(
    names: list[str], merged: PartitionResult, target: Hashable | None
) -> dict[str, dict[str, float]]:
    if target is None:
        return {}
    out: dict[str, dict[str, float]] = {}
    for name, sketches in zip(names, merged.sketches, strict=True):
        sketch = sketches.get(str(target))
        if sketch is None or sketch.counts is None or len(sketch.counts) > 20:
            return {}
        total = sum(sketch.counts.values())
        out[name] = {
            str(k): v / total for k, v in sorted(sketch.counts.items(), key=lambda kv: str(kv[0]))
        }
    return out
