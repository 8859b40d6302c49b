"""Splits of data larger than memory: a Dask DataFrame or a Parquet dataset, out of core.

The in-memory splitter (:func:`part_indices`, the same ``method``, ``strata`` and
``target``) runs on pieces of about ``rows_per_split`` rows: consecutive partitions are
joined up to that many rows (their row counts read from the Parquet footers), and a
partition of more is split in pieces of that size. Each piece is split from a seed
spawned for the index of its first partition, and its rows are written at once to the
part folders; a table that fits in one piece is split exactly as in memory (the seed
itself, not a spawned one). The fewer the pieces, the closer the union is to ``auto``
on the whole table: each piece leaves its own small imbalance and the union adds them
up. With
``groups``, the rows are first shuffled by the group key (Dask's out-of-core shuffle),
so every group lives in one partition and the splitter keeps it in one part. A
piece's labels depend only on its rows, their order, the partitions' row counts and the
seed, so the split is the same for any number of workers. Why per piece (and not a
global quantiser with hashed dealing) is in ``docs/explanation/split.md``.

Every row goes to exactly one part by construction; it is also checked after the write
(rows written per part add up to the rows read, partition by partition). The report
is computed in the same pass from per-part column sketches (``tessera._sketch``) and a
bottom-k sample of each part for the joint energy distance.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tessera._sketch import ColumnSketch, merge_sketches, sketch_cdf, sketch_column
from tessera._validation import bad_value, check_positive_int
from tessera.errors import InvalidInputError

__all__ = ["DaskSplit", "split_dataset"]

_ROW = "__tessera_row"
_SAMPLE_ROWS = 2_000


@dataclass(frozen=True)
class DaskSplit:
    """Where an out-of-core split was written, how many rows each part got, and its report.

    Attributes
    ----------
    paths : dict of str to pathlib.Path
        One Parquet folder per part, by part name.
    sizes : dict of str to int
        Rows written per part.
    rows : int
        Rows read (the sum of ``sizes``: checked).
    report : tessera.split.SplitReport
        Column statistics of every part against the first, from sketches of all rows;
        the energy distance from a sample of each part (see the module notes).
    """

    paths: dict[str, Path]
    sizes: dict[str, int]
    rows: int
    report: Any


@dataclass
class _PartitionResult:
    counts: list[int]
    sketches: list[dict[str, ColumnSketch]]
    samples: list[pd.DataFrame]
    groups: list[np.ndarray]  # per part: the sorted 64-bit hashes of its group keys


def _fractions(sizes: Sequence[float]) -> np.ndarray:
    values = np.asarray(sizes, dtype=float)
    if values.ndim != 1 or values.size < 2 or (values <= 0).any() or abs(values.sum() - 1) > 1e-9:
        raise bad_value(
            "sizes",
            sizes,
            "out of core they must be two or more fractions summing to 1 (row counts are "
            "not known before the data are read)",
            "Pass e.g. sizes=(0.6, 0.2, 0.2).",
        )
    return values


def _split_partition(
    parts: list[pd.DataFrame],
    index: int,
    *,
    seed: int,
    out: Path,
    names: list[str],
    fractions: np.ndarray,
    options: dict[str, Any],
    report_columns: list[str],
    rows_per_split: int,
    whole: bool,
) -> _PartitionResult:
    from tessera.split._api import part_indices

    part = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if _ROW in part.columns:  # shuffled by group: restore a fixed order first
        part = part.sort_values(_ROW, kind="stable").drop(columns=[_ROW])
    part = part.reset_index(drop=True)
    k = fractions.size
    group_column = options["groups"]
    taken_by_part: list[list[np.ndarray]] = [[] for _ in range(k)]
    chunks = _chunks(part, rows_per_split, group_column)
    for number, chunk in enumerate(chunks):
        rng_seed = np.random.SeedSequence(seed, spawn_key=(index, number))
        if whole and len(chunks) == 1:  # the whole table in one piece: the in-memory split
            rng_seed = np.random.SeedSequence(seed)
        if chunk.size >= max(k, 2) * 2:
            with warnings.catch_warnings():
                # A group larger than a chunk's smallest part still goes to one part.
                warnings.simplefilter("ignore")
                found = part_indices(
                    part.iloc[chunk].reset_index(drop=True),
                    sizes=tuple(fractions),
                    random_state=np.random.default_rng(rng_seed),
                    large_groups="warn",
                    **options,
                )
        else:  # too few rows to balance: each row's part drawn with the part's probability
            labels = np.random.default_rng(rng_seed).choice(k, size=chunk.size, p=fractions)
            found = [np.flatnonzero(labels == p) for p in range(k)]
        for p in range(k):
            taken_by_part[p].append(chunk[found[p]])
    rows = [np.sort(np.concatenate(pieces)) for pieces in taken_by_part]
    keys = np.random.default_rng([seed, index, 1]).random(len(part))
    result = _PartitionResult(counts=[], sketches=[], samples=[], groups=[])
    for name, taken in zip(names, rows, strict=True):
        piece = part.iloc[taken]
        if len(piece):
            folder = out / name
            piece.to_parquet(folder / f"part.{index:06d}.parquet", index=False)
        result.counts.append(len(piece))
        result.sketches.append({c: sketch_column(piece[c]) for c in report_columns})
        order = np.argsort(keys[taken], kind="stable")[:_SAMPLE_ROWS]
        sample = piece.iloc[order].copy()
        sample["__key"] = keys[taken][order]
        result.samples.append(sample)
        hashes = np.zeros(0, dtype=np.uint64)
        if group_column is not None:
            keys_of = pd.util.hash_pandas_object(piece[group_column], index=False)
            hashes = np.unique(keys_of.to_numpy(dtype=np.uint64))
        result.groups.append(hashes)
    return result


def _chunks(part: pd.DataFrame, rows_per_split: int, groups: Hashable | None) -> list[np.ndarray]:
    """Row positions of each piece split on its own: at most about ``rows_per_split`` rows.

    A large partition is split in pieces (the in-memory splitter's time and memory grow
    with the rows it gets): runs of rows, or with groups, the groups dealt to pieces by a
    hash of their key (a group never straddles two pieces).
    """
    n = len(part)
    pieces = max(1, -(-n // rows_per_split))
    if pieces == 1:
        return [np.arange(n)]
    if groups is None:
        return [c for c in np.array_split(np.arange(n), pieces) if c.size]
    hashed = pd.util.hash_pandas_object(part[groups], index=False).to_numpy(dtype=np.uint64)
    piece = hashed % np.uint64(pieces)
    return [np.flatnonzero(piece == j) for j in range(pieces) if (piece == j).any()]


def _merge_results(results: list[_PartitionResult]) -> _PartitionResult:
    first = results[0]
    merged = _PartitionResult(
        counts=list(first.counts),
        sketches=list(first.sketches),
        samples=list(first.samples),
        groups=list(first.groups),
    )
    for other in results[1:]:
        for p in range(len(merged.counts)):
            merged.counts[p] += other.counts[p]
            merged.sketches[p] = {
                c: merge_sketches(merged.sketches[p][c], other.sketches[p][c])
                for c in merged.sketches[p]
            }
            both = pd.concat([merged.samples[p], other.samples[p]])
            merged.samples[p] = both.sort_values("__key", kind="stable").iloc[:_SAMPLE_ROWS]
            merged.groups[p] = np.union1d(merged.groups[p], other.groups[p])
    return merged


def split_dataset(
    data: Any,
    out: str | Path,
    *,
    sizes: Sequence[float] = (0.6, 0.2, 0.2),
    names: Sequence[str] | None = None,
    method: str = "auto",
    target: Hashable | None = None,
    groups: Hashable | None = None,
    strata: Hashable | None = None,
    random_state: int = 0,
    id_columns: Sequence[Hashable] = (),
    types: Mapping[str, str] | None = None,
    rows_per_split: int = 50_000,
) -> DaskSplit:
    """Split a Dask DataFrame or Parquet dataset into Parquet folders, out of core.

    Parameters
    ----------
    data : dask.dataframe.DataFrame or path
        The table: a Dask DataFrame or a Parquet dataset (folder, file or glob).
    out : path
        A folder; part ``name`` is written to ``out/name/part.NNNNNN.parquet``.
    sizes : sequence of float, default=(0.6, 0.2, 0.2)
        Fractions summing to 1. Each piece's parts are exact to one row, so the
        totals are within one row per piece of ``fraction * rows``.
    names : sequence of str, optional
        Part names; default train/val/test (or train/test, or part0, part1, ...).
    method, target, strata, id_columns, types
        As in :func:`tessera.split.train_val_test_split`, applied within each
        piece; ``target``, ``groups`` and ``strata`` are column names here.
    groups : str, optional
        A column whose rows always land in the same part (the data are shuffled by it
        first, so each group is in one partition).
    random_state : int, default=0
        Seed. A table in one piece is split with it as in memory; otherwise piece ``j``
        of the run of partitions starting at ``i`` is split with the seed spawned for
        ``(i, j)``.
    rows_per_split : int, default=50_000
        Consecutive partitions are joined into pieces of up to this many rows (for a
        Parquet path, whose row counts the footers give; a Dask DataFrame's partitions
        are taken as they are), and a partition with more rows is split in pieces of
        about this many (runs of rows; with ``groups``, whole groups by a hash of their
        key): this bounds a worker's memory and time whatever the partition size,
        and the fewer the pieces, the closer the split is to in-memory ``auto``.

    Returns
    -------
    DaskSplit
        The folders, the rows per part (checked against the rows read) and the report.
    """
    from tessera._validation import check_in
    from tessera.split._methods import METHODS
    from tessera.synth._dask_fit import as_dask_frame

    check_in("method", method, METHODS)
    fractions = _fractions(sizes)
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise bad_value(
            "random_state",
            random_state,
            "out of core it must be an int seed (each partition's seed is spawned from it)",
            "Pass an int such as random_state=0.",
        )
    check_positive_int("random_state", int(random_state), minimum=0)
    rows_per_split = check_positive_int("rows_per_split", rows_per_split, minimum=10)
    part_names = list(names) if names is not None else _default_names(fractions.size)
    if len(part_names) != fractions.size or len(set(part_names)) != len(part_names):
        raise bad_value(
            "names",
            names,
            f"it needs {fractions.size} distinct names, one per part",
            "Pass e.g. names=('train', 'val', 'test').",
        )
    frame = as_dask_frame(data)
    for argument, column in (("target", target), ("groups", groups), ("strata", strata)):
        if column is not None and column not in frame.columns:
            shown = ", ".join(map(repr, list(frame.columns)[:12]))
            raise bad_value(
                argument,
                column,
                f"no such column (the columns are {shown})",
                f"Pass one of the column names, or {argument}=None.",
            )
    target_dir = Path(out).absolute()  # workers may run elsewhere: never relative to their cwd
    if target_dir.exists() and any(target_dir.iterdir()):
        raise bad_value(
            "out",
            str(out),
            "the folder exists and is not empty (old part files would mix with new ones)",
            "Pass a new or empty folder.",
        )
    for name in part_names:
        (target_dir / name).mkdir(parents=True, exist_ok=True)
    if groups is not None:
        frame = _shuffle_by_group(frame, groups)
    options = {
        "method": method,
        "target": target,
        "groups": groups,
        "strata": strata,
        "id_columns": tuple(id_columns),
        "types": dict(types) if types is not None else None,
    }
    skip = {str(c) for c in id_columns} | ({str(groups)} if groups is not None else set())
    report_columns = [str(c) for c in frame.columns if str(c) not in skip and c != _ROW]
    dask = _dask()
    partitions = frame.to_delayed()
    runs = _runs(_partition_rows(data, frame, groups), frame.npartitions, rows_per_split)
    pieces = [
        dask.delayed(_split_partition)(
            [partitions[j] for j in run],
            run[0],
            seed=int(random_state),
            out=target_dir,
            names=part_names,
            fractions=fractions,
            options=options,
            report_columns=report_columns,
            rows_per_split=rows_per_split,
            whole=len(runs) == 1,
        )
        for run in runs
    ]
    counted = [dask.delayed(len)(part) for part in partitions]
    merged, lengths = dask.compute(_tree(pieces), counted)
    rows = int(sum(lengths))
    written = _rows_on_disk(target_dir, part_names)
    if sum(merged.counts) != rows or written != dict(zip(part_names, merged.counts, strict=True)):
        raise InvalidInputError(
            f"out={str(out)!r}: the split wrote {written} rows per part but read {rows} rows; "
            "every row must be in exactly one part. Write to a new folder and rerun."
        )
    report = _report(part_names, merged, target=target, groups=groups, id_columns=id_columns)
    return DaskSplit(
        paths={n: target_dir / n for n in part_names},
        sizes=written,
        rows=rows,
        report=report,
    )


def _partition_rows(data: Any, frame: Any, groups: Hashable | None) -> list[int] | None:
    """Rows per partition from the Parquet footers, without reading the data; else None.

    Known when ``data`` is a local Parquet path whose files are Dask's partitions one to
    one (Dask's default for files under its block size). After a shuffle by group, each
    partition is taken to hold the mean: the hash spreads the groups evenly, and a joined
    piece that comes out larger is cut by :func:`_chunks` anyway.
    """
    import pyarrow.parquet as pq
    from dask.utils import natural_sort_key

    if not isinstance(data, str | Path) or "://" in str(data):
        return None
    root = Path(data)
    found = [root] if root.is_file() else list(root.rglob("*.parquet"))
    files = sorted(found, key=lambda f: natural_sort_key(str(f)))
    if not files or len(files) != frame.npartitions:
        return None
    try:
        rows = [pq.ParquetFile(f).metadata.num_rows for f in files]
    except (OSError, ValueError):
        return None
    if groups is not None:
        return [-(-sum(rows) // len(rows))] * len(rows)
    return rows


def _runs(rows: list[int] | None, npartitions: int, rows_per_split: int) -> list[list[int]]:
    """Consecutive partitions joined while their rows add up to at most ``rows_per_split``."""
    if rows is None:  # counts unknown: every partition on its own
        return [[i] for i in range(npartitions)]
    runs: list[list[int]] = []
    total = 0
    for i, n in enumerate(rows):
        if runs and total + n <= rows_per_split:
            runs[-1].append(i)
            total += n
        else:
            runs.append([i])
            total = n
    return runs


def _default_names(k: int) -> list[str]:
    if k == 3:
        return ["train", "val", "test"]
    if k == 2:
        return ["train", "test"]
    return [f"part{i}" for i in range(k)]


def _shuffle_by_group(frame: Any, groups: Hashable) -> Any:
    """Every group in one partition; a row id to restore a fixed order inside each."""

    def number(part: pd.DataFrame, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
        index = 0 if partition_info is None else int(partition_info["number"])
        out = part.copy()
        out[_ROW] = (np.int64(index) << np.int64(32)) + np.arange(len(part), dtype=np.int64)
        return out

    meta = frame._meta.copy()
    meta[_ROW] = np.array([], dtype=np.int64)
    numbered = frame.map_partitions(number, meta=meta)
    return numbered.shuffle(on=groups, npartitions=frame.npartitions)


def _rows_on_disk(folder: Path, names: list[str]) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {
        name: sum(pq.ParquetFile(f).metadata.num_rows for f in (folder / name).glob("*.parquet"))
        for name in names
    }


def _tree(items: list[Any], fan_in: int = 8) -> Any:
    dask = _dask()
    while len(items) > 1:
        items = [
            dask.delayed(_merge_results)(items[i : i + fan_in])
            for i in range(0, len(items), fan_in)
        ]
    return items[0]


def _report(
    names: list[str],
    merged: _PartitionResult,
    *,
    target: Hashable | None,
    groups: Hashable | None,
    id_columns: Sequence[Hashable],
) -> Any:
    """A :class:`SplitReport`: column statistics from sketches, energy from part samples."""
    from scipy.stats import chi2_contingency

    from tessera.split._report import ColumnDivergence, GroupCheck, SplitReport, psi, split_report

    samples = [s.drop(columns=["__key"]).reset_index(drop=True) for s in merged.samples]
    sampled = split_report(
        dict(zip(names, samples, strict=True)),
        target=str(target) if target is not None else None,
        id_columns=list(id_columns),
    )
    reference = merged.sketches[0]
    stats: list[ColumnDivergence] = []
    for column, ref in reference.items():
        if column in sampled.ignored or column == str(groups):
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
                        "numeric",
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
    names: list[str], merged: _PartitionResult, target: Hashable | None
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


def _dask() -> Any:
    from tessera._dask import require_dask

    return require_dask("dask")
