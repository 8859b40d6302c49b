"""Write a large synthetic table in chunks: bounded memory, per-chunk seeds, optional processes.

Chunk ``i`` is made by a pure function of (its first row, its size, its seed), and its
seed is spawned from one master seed (:func:`chunk_seeds`), so the table is the same
whether it is written by one process, by several, or by Dask partitions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tessera._validation import bad_value, check_positive_int
from tessera.synth._random import chunk_seeds
from tessera.synth._spec import TableSpec, generate_chunk

__all__ = [
    "chunk_plan",
    "generate_table",
    "model_writer",
    "sample_chunk",
    "spec_writer",
    "write_chunks",
]

ChunkFunction = Callable[[int, int, np.random.SeedSequence], pd.DataFrame]


def chunk_plan(rows: int, chunk_size: int, seed: int | None) -> list[tuple[int, int, Any]]:
    """``(start, size, seed)`` for each chunk of a ``rows``-row table."""
    rows = check_positive_int("rows", rows, minimum=0)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    starts = list(range(0, rows, chunk_size))
    seeds = chunk_seeds(seed, len(starts))
    return [(s, min(chunk_size, rows - s), q) for s, q in zip(starts, seeds, strict=True)]


def sample_chunk(model_document: dict[str, Any], start: int, size: int, seed: Any) -> pd.DataFrame:
    """Rows of a saved copula (its JSON document), from their own seed."""
    from tessera.synth._copula import GaussianCopula

    model = GaussianCopula.from_dict(model_document)
    return model.sample(size, random_state=np.random.default_rng(seed), first_row=start)


def spec_chunk(spec: TableSpec, start: int, size: int, seed: Any) -> pd.DataFrame:
    """:func:`generate_chunk` with the spec first, for :func:`functools.partial`."""
    return generate_chunk(spec, start, size, seed)


class _Writer:
    def __init__(self, path: Path, date_formats: dict[str, str] | None = None) -> None:
        self.path = path
        self.date_formats = date_formats or {}
        self.kind = path.suffix.lower()
        if self.kind not in (".csv", ".parquet"):
            raise bad_value(
                "out",
                str(path),
                "the file must end in .csv or .parquet",
                "Name the output data.csv or data.parquet.",
            )
        self._parquet: Any = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == ".csv":
            formats = {c: f for c, f in self.date_formats.items() if f != "ISO8601"}
            if formats:
                frame = frame.copy()
                for column, fmt in formats.items():
                    if column in frame.columns:
                        frame[column] = frame[column].dt.strftime(fmt)
            frame.to_csv(
                self.path, mode="w" if self._first else "a", header=self._first, index=False
            )
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        self._first = False

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()


def write_chunks(
    make_chunk: ChunkFunction,
    rows: int,
    out: str | Path,
    *,
    chunk_size: int = 100_000,
    seed: int | None = None,
    workers: int = 1,
    on_chunk: Callable[[int], None] | None = None,
    date_formats: dict[str, str] | None = None,
) -> Path:
    """Write ``rows`` rows made by ``make_chunk`` to a CSV or Parquet file, chunk by chunk.

    ``date_formats`` (``{column: strftime format}``) writes those datetime columns of a
    CSV file in the format the real table used. At most ``2 * workers`` chunks are in
    memory at once; ``on_chunk(rows_written)`` is called after each chunk (for a progress
    bar). ``make_chunk`` must be picklable (a module-level function or a
    :func:`functools.partial` of one) when ``workers > 1``.
    """
    workers = check_positive_int("workers", workers)
    plan = chunk_plan(rows, chunk_size, seed)
    writer = _Writer(Path(out), date_formats)
    try:
        if workers == 1:
            for start, size, chunk_seed in plan:
                writer.write(make_chunk(start, size, chunk_seed))
                if on_chunk:
                    on_chunk(size)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                pending: deque[tuple[int, Future[pd.DataFrame]]] = deque()
                for start, size, chunk_seed in plan:
                    pending.append((size, pool.submit(make_chunk, start, size, chunk_seed)))
                    if len(pending) >= 2 * workers:
                        _drain_one(pending, writer, on_chunk)
                while pending:
                    _drain_one(pending, writer, on_chunk)
        if not plan:
            writer.write(make_chunk(0, 0, np.random.SeedSequence(seed)))
    finally:
        writer.close()
    return Path(out)


def _drain_one(
    pending: deque[Any], writer: _Writer, on_chunk: Callable[[int], None] | None
) -> None:
    size, future = pending.popleft()
    writer.write(future.result())
    if on_chunk:
        on_chunk(size)


def spec_writer(spec: TableSpec) -> ChunkFunction:
    """The picklable chunk function of a spec."""
    return partial(spec_chunk, spec)


def model_writer(model_document: dict[str, Any]) -> ChunkFunction:
    """The picklable chunk function of a saved copula."""
    return partial(sample_chunk, model_document)


def generate_table(
    spec: TableSpec | str | Path,
    rows: int | None = None,
    out: str | Path | None = None,
    *,
    chunk_size: int = 100_000,
    seed: int | None = None,
    workers: int = 1,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame | Path:
    """Make the table a spec describes: in memory, or streamed to a CSV/Parquet file.

    Parameters
    ----------
    spec : TableSpec or path
        A validated spec or the path of a YAML/JSON spec file.
    rows : int, optional
        Row count; default: the spec's ``rows``.
    out : path, optional
        ``.csv`` or ``.parquet`` file to stream to; if omitted, the table is returned.
    chunk_size : int, default=100_000
        Rows per chunk (memory is bounded by about ``2 * workers`` chunks).
    seed : int, optional
        Master seed; default: the spec's ``seed``. Chunk seeds are spawned from it, so
        the rows do not depend on ``workers``.
    workers : int, default=1
        Processes generating chunks.
    on_chunk : callable, optional
        Called with each chunk's row count once written.

    Returns
    -------
    pandas.DataFrame or pathlib.Path
    """
    from tessera.synth._spec import load_spec

    if not isinstance(spec, TableSpec):
        spec = load_spec(spec)
    rows = spec.rows if rows is None else rows
    if rows is None:
        raise bad_value(
            "rows", None, "the spec has no 'rows' and none was passed", "Pass rows=N (or --rows N)."
        )
    seed = spec.seed if seed is None else seed
    if out is not None:
        return write_chunks(
            spec_writer(spec),
            rows,
            out,
            chunk_size=chunk_size,
            seed=seed,
            workers=workers,
            on_chunk=on_chunk,
        )
    chunks = [generate_chunk(spec, s, n, q) for s, n, q in chunk_plan(rows, chunk_size, seed)]
    if not chunks:
        return generate_chunk(spec, 0, 0, np.random.SeedSequence(seed))
    return pd.concat(chunks, ignore_index=True)
