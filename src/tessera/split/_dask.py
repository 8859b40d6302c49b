"""Splits of data larger than memory: a Dask DataFrame or a Parquet dataset, out of core.

A table of at most ``rows_per_split`` rows is split in one piece, exactly as in memory
(:func:`part_indices`, the same seed). A larger table is split the way in-memory
``auto`` splits its blocks of near rows, with the cuts fitted on a sample
(:mod:`tessera.split._cells`):

1. median cuts along the widest column, fitted on a sample, make cells of near rows of
   at most about ``rows_per_split`` rows each; every row is routed to its cell (with
   ``groups``, the rows are shuffled by group first and a group goes where its mean
   point goes);
2. without groups, the rows per cell are counted and each cell's rows per part are set
   for the whole table at once, the deficits of one cell carried to the next, so the
   totals are exact to one row;
3. the rows are shuffled by cell (Dask's out-of-core shuffle), and each cell is split
   by the in-memory splitter in the table's distance space (encoded with the sample's
   statistics, not the cell's own) with a seed spawned for the cell.

Each cell being a region of the space, the small imbalance each cell leaves is local,
as that of ``auto``'s blocks is; splitting runs of consecutive rows instead (pieces
that each span the whole space) added those imbalances up, 1.13-1.63x ``auto``'s
energy distance. A cell's rows are put in a fixed order (their partition and
position before the shuffle), so the split is the same for any number of workers.
Why cells (and not per-partition dealing) is in ``docs/explanation/split.md``.

Every row goes to exactly one part by construction; it is also checked after the write
(rows written per part add up to the rows read). The report is computed in the same
pass from per-part column sketches (``tessera._sketch``) and a bottom-k sample of each
part for the joint energy distance.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tessera._sketch import merge_sketches, sketch_column
from tessera._tables import apply_types, check_types, infer_types
from tessera._validation import bad_value, check_positive_int
from tessera.errors import InvalidInputError
from tessera.split._cells import Cells, allocate, fit_cells, split_in_cell
from tessera.split._columns import resolved_overrides, type_overrides
from tessera.split._dask_report import PartitionResult, sketch_report

__all__ = ["DaskSplit", "split_dataset"]

_ROW = "__tessera_row"
_CELL = "__tessera_cell"
#: Sample rows the cells are fitted on: at least this many, and 100 per cell.
_CELL_SAMPLE = 20_000
_SAMPLE_ROWS = 2_000
#: The folder under ``out`` the tasks write to, renamed to the parts when all is checked.
_STAGING = ".incomplete"


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


def _split_pieces(
    part: pd.DataFrame,
    index: int,
    pieces: list[tuple[np.ndarray, np.random.SeedSequence, np.ndarray]],
    *,
    seed: int,
    out: Path,
    names: list[str],
    options: dict[str, Any],
    report_columns: list[str],
    cells: Cells | None = None,
) -> PartitionResult:
    """Split each piece (row positions, seed, sizes) of ``part`` and write the parts.

    ``sizes`` are fractions or row counts per part; the parts of all pieces of ``part``
    go to one file per part, ``part.<index>.parquet``. With ``cells``, the pieces are
    cells and are split in the table's distance space (:func:`split_in_cell`).
    """
    from tessera.split._api import part_indices

    k = len(names)
    group_column = options["groups"]
    taken_by_part: list[list[np.ndarray]] = [[] for _ in range(k)]
    for chunk, rng_seed, sizes in pieces:
        counts = np.asarray(sizes)
        integral = counts.sum() > 1.0 + 1e-9
        enough = chunk.size >= max(k, 2) * 2 and (
            group_column is None or part[group_column].iloc[chunk].nunique(dropna=False) >= k
        )
        if cells is not None and enough and (counts > 0).all():
            found = split_in_cell(
                part.iloc[chunk].reset_index(drop=True),
                cells,
                counts,
                np.random.default_rng(rng_seed),
                options,
            )
        elif cells is None and enough and (not integral or (counts > 0).all()):
            with warnings.catch_warnings():
                # A group larger than a chunk's smallest part still goes to one part.
                warnings.simplefilter("ignore")
                found = part_indices(
                    part.iloc[chunk].reset_index(drop=True),
                    sizes=tuple(counts.tolist()),
                    random_state=np.random.default_rng(rng_seed),
                    large_groups="warn",
                    **options,
                )
        else:  # too few rows to balance: parts drawn at random, whole groups together
            found = _random_parts(part.iloc[chunk], counts, group_column, rng_seed)
        for p in range(k):
            taken_by_part[p].append(chunk[found[p]])
    rows = [np.sort(np.concatenate(pieces_of)) for pieces_of in taken_by_part]
    keys = np.random.default_rng([seed, index, 1]).random(len(part))
    # every column's kind is given (typed once for the table): nothing is detected here
    table_types = infer_types(part.iloc[:0], options["types"])
    result = PartitionResult(counts=[], sketches=[], samples=[], groups=[], types=options["types"])
    for name, taken in zip(names, rows, strict=True):
        piece = part.iloc[taken]
        if len(piece):
            folder = out / name
            piece.to_parquet(folder / f"part.{index:06d}.parquet", index=False)
        result.counts.append(len(piece))
        typed = apply_types(piece[report_columns], table_types)
        result.sketches.append({c: sketch_column(typed[c]) for c in report_columns})
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


def _random_parts(
    rows: pd.DataFrame, sizes: np.ndarray, groups: Hashable | None, rng_seed: Any
) -> list[np.ndarray]:
    """Parts of a piece too small to balance: exact counts at random, or whole groups
    each drawn with its part's share."""
    rng = np.random.default_rng(rng_seed)
    k = sizes.size
    shares = sizes / sizes.sum()
    if groups is not None:
        codes, uniques = pd.factorize(rows[groups].to_numpy())
        labels = rng.choice(k, size=len(uniques), p=shares)[codes]
    elif sizes.sum() > 1.0 + 1e-9 and sizes.sum() == len(rows):
        labels = np.repeat(np.arange(k), sizes.astype(np.int64))[rng.permutation(len(rows))]
    else:
        labels = rng.choice(k, size=len(rows), p=shares)
    return [np.flatnonzero(labels == p) for p in range(k)]


def _split_whole(
    parts: list[pd.DataFrame],
    *,
    seed: int,
    fractions: np.ndarray,
    options: dict[str, Any],
    **kw: Any,
) -> Any:
    """The whole table in one piece: the in-memory split with the seed itself (the
    columns typed on the whole table, as in memory)."""
    part = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    part = part.reset_index(drop=True)
    piece = (np.arange(len(part)), np.random.SeedSequence(seed), fractions)
    options = {**options, "types": _typing(part, options)}
    return _split_pieces(part, 0, [piece], seed=seed, options=options, **kw)


def _typing(frame: pd.DataFrame, options: dict[str, Any]) -> dict[str, str]:
    """Every column's kind, detected on ``frame`` with the caller's ``types`` and
    identifier columns winning, as complete overrides (so nothing is detected again)."""
    given = type_overrides(options["id_columns"], options["types"])
    return resolved_overrides(infer_types(frame, given))


def _split_cells(
    part: pd.DataFrame,
    index: int,
    *,
    seed: int,
    fractions: np.ndarray,
    allocation: np.ndarray | None,
    rows_per_split: int,
    **kw: Any,
) -> Any:
    """Every cell in a shuffled partition split on its own, with its allocated row counts.

    Rows are first put in a fixed order (cell, then the row id given before the
    shuffle), so the result does not depend on how the shuffle delivered them. A cell
    that came out larger than ``rows_per_split`` (the cuts are fitted on a sample) is cut
    again in runs of rows, or whole groups by hash, its counts dealt over those.
    """
    if not len(part):
        return None  # no cell hashed to this partition
    part = part.reset_index(drop=True).sort_values([_CELL, _ROW], kind="stable")
    part = part.reset_index(drop=True)
    cells = part[_CELL].to_numpy()
    part = part.drop(columns=[_CELL, _ROW])
    pieces = []
    starts = [int(i) for i in np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])]
    for start, stop in zip(starts, [*starts[1:], cells.size], strict=True):
        cell = int(cells[start])
        rows = np.arange(start, stop)
        chunks = _chunks(part.iloc[rows], rows_per_split, kw["options"]["groups"])
        share = fractions if allocation is None else allocation[cell] / rows.size
        counts = allocate(np.array([c.size for c in chunks]), share)
        for number, (chunk, sizes) in enumerate(zip(chunks, counts, strict=True)):
            spawned = np.random.SeedSequence(seed, spawn_key=(cell, number))
            pieces.append((rows[chunk], spawned, sizes))
    return _split_pieces(part, index, pieces, seed=seed, **kw)


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


def _merge_results(found: list[PartitionResult | None]) -> PartitionResult | None:
    results = [r for r in found if r is not None]
    if not results:
        return None
    first = results[0]
    merged = PartitionResult(
        counts=list(first.counts),
        sketches=list(first.sketches),
        samples=list(first.samples),
        groups=list(first.groups),
        types=first.types,
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
    scheduler: Any = None,
) -> DaskSplit:
    """Split a Dask DataFrame or Parquet dataset into Parquet folders, out of core.

    Parameters
    ----------
    data : dask.dataframe.DataFrame or path
        The table: a Dask DataFrame or a Parquet dataset (folder, file or glob).
    out : path
        A new or empty folder; part ``name`` is written to
        ``out/name/part.NNNNNN.parquet``. The tasks write under ``out/.incomplete``,
        renamed to the parts once every row is checked to be in exactly one part: a
        split that fails leaves no part folder (and ``out`` as it was).
    sizes : sequence of float, default=(0.6, 0.2, 0.2)
        Fractions summing to 1. The totals are within one row of ``fraction * rows``
        (with ``groups``, within about a group per cell).
    names : sequence of str, optional
        Part names; default train/val/test (or train/test, or part0, part1, ...).
    method, target, strata, id_columns, types
        As in :func:`tessera.split.train_val_test_split`, applied within each
        piece; ``target``, ``groups`` and ``strata`` are column names here. The
        columns are typed once (``types`` and ``id_columns`` winning over detection on
        the table in one piece, or on the sample the cells are fitted on), and the
        cells, every piece and the report use those kinds: dates by value, free text by
        its words, identifiers left out.
    groups : str, optional
        A column whose rows always land in the same part (the data are shuffled by it
        first, so each group is in one partition).
    random_state : int, default=0
        Seed. A table in one piece is split with it as in memory; otherwise it draws
        the sample the cells are fitted on, and cell ``c`` is split with the seed
        spawned for ``(c, 0)``.
    rows_per_split : int, default=50_000
        The most rows split at once: a table of up to this many is split in one piece;
        a larger one in cells of near rows of about half to all of this many (a cell
        that comes out larger is cut again in runs of rows, or whole groups by a hash
        of their key). This bounds a worker's memory and time whatever the table's
        size; the in-memory splitter works on blocks of 1,500 near rows anyway, so
        cells much larger than that cost little balance.

    scheduler : str, distributed.Client or None, default=None
        Where to run: ``"local"`` (worker processes on this machine, for this call), a
        scheduler's address, or a client (see :func:`tessera._dask.dask_client`); ``None``
        runs on the scheduler Dask would use now, fixed for the whole call.

    Returns
    -------
    DaskSplit
        The folders, the rows per part (checked against the rows read) and the report.
    """
    from tessera._dask import check_scheduler
    from tessera._validation import check_in
    from tessera.split._methods import METHODS
    from tessera.synth._dask_fit import as_dask_frame

    check_in("method", method, METHODS)
    if scheduler is not None:
        check_scheduler(scheduler)  # before any folder is made
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
    # the overrides name columns and kinds: checked here, before any folder or task
    check_types([str(c) for c in frame.columns], type_overrides(id_columns, types))
    target_dir = Path(out).absolute()  # workers may run elsewhere: never relative to their cwd
    if target_dir.exists() and any(target_dir.iterdir()):
        raise bad_value(
            "out",
            str(out),
            "the folder exists and is not empty (old part files would mix with new ones)",
            "Pass a new or empty folder.",
        )
    # the tasks write under a staging folder, renamed to the parts once every row is
    # checked: a split that fails leaves no part folder that looks complete
    created = not target_dir.exists()
    staging = target_dir / _STAGING
    for name in part_names:
        (staging / name).mkdir(parents=True, exist_ok=True)
    options = {
        "method": method,
        "target": target,
        "groups": groups,
        "strata": strata,
        "id_columns": tuple(id_columns),
        "types": dict(types) if types is not None else None,
    }
    skip = {str(c) for c in id_columns} | ({str(groups)} if groups is not None else set())
    report_columns = [str(c) for c in frame.columns if str(c) not in skip]
    common: dict[str, Any] = {
        "seed": int(random_state),
        "out": staging,
        "names": part_names,
        "options": options,
        "report_columns": report_columns,
    }
    try:
        merged, rows = _run_split(
            data, frame, scheduler, rows_per_split, fractions, common, id_columns, groups
        )
        written = _rows_on_disk(staging, part_names)
        if sum(merged.counts) != rows or written != dict(
            zip(part_names, merged.counts, strict=True)
        ):
            raise InvalidInputError(
                f"out={str(out)!r}: the split wrote {written} rows per part but read {rows} "
                "rows; every row must be in exactly one part. Write to a new folder and rerun."
            )
    except BaseException:
        # a task still running elsewhere finds its folder gone and fails; nothing is kept
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                target_dir.rmdir()
        raise
    for name in part_names:
        (staging / name).rename(target_dir / name)
    staging.rmdir()
    report = sketch_report(part_names, merged, target=target, groups=groups, id_columns=id_columns)
    return DaskSplit(
        paths={n: target_dir / n for n in part_names},
        sizes=written,
        rows=rows,
        report=report,
    )


def _run_split(
    data: Any,
    frame: Any,
    scheduler: Any,
    rows_per_split: int,
    fractions: np.ndarray,
    common: dict[str, Any],
    id_columns: Sequence[Hashable],
    groups: Hashable | None,
) -> tuple[PartitionResult, int]:
    """Count the rows, split in one piece or in cells, and gather what the tasks kept."""
    from tessera._dask import chosen_scheduler

    dask = _dask()
    with chosen_scheduler(scheduler) as chosen:
        lengths = _partition_rows(data, frame)
        if lengths is None:
            counted = [dask.delayed(len)(part) for part in frame.to_delayed()]
            lengths = [int(x) for x in dask.compute(*counted, scheduler=chosen)]
        rows = int(sum(lengths))
        if rows <= rows_per_split:
            task = dask.delayed(_split_whole)(frame.to_delayed(), fractions=fractions, **common)
        else:
            exclude = [*id_columns, *([groups] if groups is not None else [])]
            task = _cell_tasks(
                frame,
                rows,
                exclude=exclude,
                fractions=fractions,
                rows_per_split=rows_per_split,
                chosen=chosen,
                common=common,
            )
        (merged,) = dask.compute(task, scheduler=chosen)
    return merged, rows


def _partition_rows(data: Any, frame: Any) -> list[int] | None:
    """Rows per partition from the Parquet footers, without reading the data; else None.

    Known when ``data`` is a local Parquet path whose files are Dask's partitions one to
    one (Dask's default for files under its block size).
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
        return [pq.ParquetFile(f).metadata.num_rows for f in files]
    except (OSError, ValueError):
        return None


def _cell_tasks(
    frame: Any,
    rows: int,
    *,
    exclude: list[Hashable],
    fractions: np.ndarray,
    rows_per_split: int,
    chosen: Any,
    common: dict[str, Any],
) -> Any:
    """The split of a table of several pieces: cells of near rows, each split on its own.

    1. Median cuts fitted on a sample of the table (:func:`fit_cells`) make cells of
       about ``rows_per_split`` rows; with ``groups``, the rows are shuffled by group
       first and a group's cell is that of its mean point.
    2. Without groups, the rows per cell are counted (a pass over the data) and every
       cell's rows per part are set for the whole table at once (:func:`allocate`).
    3. The rows are shuffled by cell into one partition per cell (Dask's out-of-core
       shuffle), and each cell is split by the in-memory splitter, as ``auto`` splits
       each of its blocks.
    """
    from tessera._dask import shuffle_method

    dask = _dask()
    groups = common["options"]["groups"]
    n_sample = max(_CELL_SAMPLE, 100 * -(-rows // rows_per_split))
    seed = common["seed"]
    (sample,) = dask.compute(
        frame.sample(frac=min(1.0, n_sample / rows), random_state=seed), scheduler=chosen
    )
    sample = sample.reset_index(drop=True)
    # typed once, on the sample: every cell is encoded and split with the same kinds
    typing = _typing(sample, common["options"])
    common = {**common, "options": {**common["options"], "types": typing}}
    cells = fit_cells(
        sample,
        n_rows=rows,
        rows_per_cell=rows_per_split,
        exclude=exclude,
        types=infer_types(sample, typing),
    )
    method = shuffle_method(chosen)
    meta = frame._meta.copy()
    meta[_ROW] = np.array([], dtype=np.int64)
    numbered = frame.map_partitions(_number, meta=meta)
    if groups is not None:
        numbered = numbered.shuffle(on=groups, npartitions=frame.npartitions, shuffle_method=method)
    meta = meta.copy()
    meta[_CELL] = np.array([], dtype=np.int64)
    tagged = numbered.map_partitions(_tag_cells, cells, groups, meta=meta)
    allocation = None
    if groups is None:
        counted = [dask.delayed(_count_cells)(p, cells.n_cells) for p in tagged.to_delayed()]
        per_cell = np.sum(dask.compute(*counted, scheduler=chosen), axis=0)
        allocation = allocate(per_cell, fractions)
    # One partition per cell (a hash shuffle would pile several cells on some workers).
    divisions = list(range(cells.n_cells + 1))
    shuffled = tagged.set_index(_CELL, drop=False, divisions=divisions, shuffle_method=method)
    tasks = [
        dask.delayed(_split_cells)(
            part,
            index,
            fractions=fractions,
            allocation=allocation,
            rows_per_split=rows_per_split,
            cells=cells,
            **common,
        )
        for index, part in enumerate(shuffled.to_delayed())
    ]
    return _tree(tasks)


def _number(part: pd.DataFrame, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """A row id (partition number, position) that fixes the rows' order after a shuffle."""
    index = 0 if partition_info is None else int(partition_info["number"])
    out = part.copy()
    out[_ROW] = (np.int64(index) << np.int64(32)) + np.arange(len(part), dtype=np.int64)
    return out


def _tag_cells(part: pd.DataFrame, cells: Any, groups: Hashable | None) -> pd.DataFrame:
    values = part.drop(columns=[_ROW])
    out = part.copy()
    out[_CELL] = cells.of_rows(values) if groups is None else cells.of_groups(values, groups)
    return out


def _count_cells(part: pd.DataFrame, n_cells: int) -> np.ndarray:
    return np.bincount(part[_CELL].to_numpy(dtype=np.int64), minlength=n_cells)


def _default_names(k: int) -> list[str]:
    if k == 3:
        return ["train", "val", "test"]
    if k == 2:
        return ["train", "test"]
    return [f"part{i}" for i in range(k)]


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


def _dask() -> Any:
    from tessera._dask import require_dask

    return require_dask("dask")
