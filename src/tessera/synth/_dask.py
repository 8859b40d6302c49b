"""Synthetic tables as Dask DataFrames: fixed seeded blocks, any number of partitions.

A table of ``n`` rows is cut into blocks of ``block_rows`` rows (the last one shorter);
block ``b`` starts at row ``b * block_rows`` and is made by the same pure chunk function
as the in-process writer (:func:`tessera.synth._stream.sample_chunk` for a copula,
:func:`tessera.synth.generate_chunk` for a spec) from the seed spawned for its index
(:func:`tessera.synth.chunk_seeds`). Partitions are runs of whole blocks, so the rows
depend only on ``(seed, block_rows)``: not on ``npartitions``, on the number of
workers, or on which worker made which block. With the same seed and
``block_rows == chunk_size`` they are the rows ``tessera synth sample`` writes in
one process.

Dask is imported here only, when one of these functions is called.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tessera._validation import bad_value, check_positive_int
from tessera.synth._random import chunk_seeds

if TYPE_CHECKING:
    from tessera.synth._copula import GaussianCopula
    from tessera.synth._spec import TableSpec

__all__ = ["BLOCK_ROWS", "blocks_frame", "generate_dask", "sample_dask", "write_parquet"]

#: Rows per seeded block (the in-process writer's default chunk size, so that the two agree).
BLOCK_ROWS = 100_000

BlockFunction = Callable[[int, int, np.random.SeedSequence], pd.DataFrame]


def _master_seed(random_state: Any) -> int:
    """An int seed: the one given, or fresh entropy fixed once for the whole frame."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise bad_value(
            "random_state",
            random_state,
            "on Dask it must be an int seed or None (a Generator cannot be shared by "
            "partitions made on different workers)",
            "Pass an int such as random_state=0.",
        )
    if random_state < 0:
        raise bad_value("random_state", random_state, "seeds must be >= 0", "Pass an int >= 0.")
    return int(random_state)


def _partition(
    make_block: BlockFunction,
    blocks: list[tuple[int, int, np.random.SeedSequence]],
    meta: pd.DataFrame,
) -> pd.DataFrame:
    """One partition: its blocks, each from its own seed, indexed by global row number."""
    if not any(size for _, size, _ in blocks):
        return meta.copy()
    frames = [make_block(start, size, seed) for start, size, seed in blocks]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    # A block without a missing value comes out int64/bool where others are Int64/boolean;
    # every partition gets the frame's one schema, so the Parquet files agree.
    differ = {c: t for c, t in meta.dtypes.items() if frame[c].dtype != t}
    if differ:
        frame = frame.astype(differ)
    first = blocks[0][0]
    frame.index = pd.RangeIndex(first, first + len(frame))
    return frame


def blocks_frame(
    make_block: BlockFunction,
    n: int,
    *,
    npartitions: int | None,
    seed: int,
    block_rows: int,
    meta: pd.DataFrame,
) -> Any:
    """A Dask DataFrame of ``n`` rows made block by block by ``make_block``.

    ``make_block(start, size, seed)`` must be a picklable pure function; ``meta`` is an
    empty frame with the output's columns and dtypes. The index is the global row
    number, and the divisions are known.
    """
    dd = _dask_dataframe()
    n = check_positive_int("n", n, minimum=0)
    block_rows = check_positive_int("block_rows", block_rows)
    n_blocks = max(1, math.ceil(n / block_rows))
    if npartitions is None:
        npartitions = n_blocks
    npartitions = check_positive_int("npartitions", npartitions)
    npartitions = min(npartitions, n_blocks)
    seeds = chunk_seeds(seed, n_blocks)
    plan = [
        (b * block_rows, max(0, min(block_rows, n - b * block_rows)), seeds[b])
        for b in range(n_blocks)
    ]
    cuts = [(i * n_blocks) // npartitions for i in range(npartitions + 1)]
    parts = [plan[cuts[i] : cuts[i + 1]] for i in range(npartitions)]
    divisions = [part[0][0] for part in parts] + [max(n - 1, 0)]
    return dd.from_map(
        _partition,
        [make_block] * len(parts),
        parts,
        [meta] * len(parts),
        meta=meta,
        divisions=divisions,
        enforce_metadata=False,
    )


def sample_dask(
    model: GaussianCopula,
    n: int,
    *,
    npartitions: int | None = None,
    random_state: int | None = None,
    block_rows: int = BLOCK_ROWS,
) -> Any:
    """``n`` rows of a fitted copula as a lazy Dask DataFrame (see the module notes)."""
    model._check_fitted()
    seed = _master_seed(random_state)
    return blocks_frame(
        CopulaBlocks(model.to_dict()),
        n,
        npartitions=npartitions,
        seed=seed,
        block_rows=block_rows,
        meta=_copula_meta(model),
    )


class CopulaBlocks:
    """The copula's chunk sampler as a picklable callable that rebuilds the model once.

    ``CopulaBlocks(document)(start, size, seed)`` equals
    :func:`tessera.synth._stream.sample_chunk` ``(document, start, size, seed)``; the
    JSON document travels to the workers and the model is rebuilt once per process.
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._model: GaussianCopula | None = None

    def __call__(self, start: int, size: int, seed: np.random.SeedSequence) -> pd.DataFrame:
        from tessera.synth._copula import GaussianCopula

        if self._model is None:
            self._model = GaussianCopula.from_dict(self.document)
        return self._model.sample(size, random_state=np.random.default_rng(seed), first_row=start)

    def __getstate__(self) -> dict[str, Any]:
        return {"document": self.document, "_model": None}


def _copula_meta(model: GaussianCopula) -> pd.DataFrame:
    """The empty frame of a copula's output: nullable dtypes for columns that have gaps."""
    probe = model.sample(64, random_state=0)
    gaps = {c.name for c in model.columns_ if c.missing_rate > 0}
    nullable = {"int64": "Int64", "bool": "boolean"}
    dtypes = {
        name: nullable.get(str(dtype), dtype) if name in gaps else dtype
        for name, dtype in probe.dtypes.items()
    }
    return probe.iloc[:0].astype(dtypes)


def generate_dask(
    spec: TableSpec | str | Path,
    rows: int | None = None,
    *,
    npartitions: int | None = None,
    seed: int | None = None,
    block_rows: int = BLOCK_ROWS,
) -> Any:
    """The table a spec describes as a lazy Dask DataFrame.

    Parameters
    ----------
    spec : TableSpec or path
        A validated spec or the path of a YAML/JSON spec file.
    rows : int, optional
        Row count; default: the spec's ``rows``.
    npartitions : int, optional
        Partitions (runs of whole blocks); default: one per block.
    seed : int, optional
        Master seed; default: the spec's ``seed``, else fresh entropy.
    block_rows : int, default=BLOCK_ROWS
        Rows per seeded block: with ``chunk_size=block_rows`` the rows equal
        :func:`tessera.synth.generate_table`'s.

    Returns
    -------
    dask.dataframe.DataFrame
    """
    from tessera.synth._spec import load_spec
    from tessera.synth._stream import spec_writer

    table_spec = spec if not isinstance(spec, str | Path) else load_spec(spec)
    rows = table_spec.rows if rows is None else rows
    if rows is None:
        raise bad_value(
            "rows", None, "the spec has no 'rows' and none was passed", "Pass rows=N (or --rows N)."
        )
    master = _master_seed(table_spec.seed if seed is None else seed)
    make_block = spec_writer(table_spec)
    meta = make_block(0, 0, np.random.SeedSequence(master))
    return blocks_frame(
        make_block, rows, npartitions=npartitions, seed=master, block_rows=block_rows, meta=meta
    )


def write_parquet(frame: Any, out: str | Path, *, scheduler: Any, n_workers: int | None) -> Path:
    """Write a Dask DataFrame as a partitioned Parquet dataset (one file per partition).

    ``scheduler`` is ``"local"``, a scheduler address or a ``distributed.Client``
    (see :func:`tessera._dask.dask_client`).
    """
    from tessera._dask import dask_client

    target = Path(out)
    if target.suffix.lower() in (".csv", ".parquet") or (target.exists() and not target.is_dir()):
        raise bad_value(
            "out",
            str(out),
            "on Dask the output is a folder of Parquet files (one per partition)",
            "Name a folder, e.g. --out synthetic/.",
        )
    with dask_client(scheduler, n_workers=n_workers):
        # The client just opened is Dask's default, so the write runs on its workers.
        frame.to_parquet(str(target), write_index=False)
    return target


def _dask_dataframe() -> Any:
    from tessera._dask import require_dask

    require_dask("dask")
    return require_dask("dask.dataframe")
