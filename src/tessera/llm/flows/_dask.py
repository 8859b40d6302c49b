"""Batch runs on Dask: the records of :func:`run_batch` spread over a cluster's workers.

The records go out in chunks, one task per chunk, each running :meth:`BatchJob.run` (the
code the in-process batch runs) on every record of its chunk. Models load through the
backend registry, which keeps one backend per model id and process, so a worker loads each
model once and keeps it for every later chunk.

Exactly once: a chunk's answers reach the result only when its task finishes, and the
client assembles the table in dataset order. When a worker dies mid-chunk, the scheduler
runs the chunk again on another worker (up to ``distributed.scheduler.allowed-failures``
times), and the lost attempt's answers never arrive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from tessera._dask import dask_client, require_dask
from tessera.errors import TesseraError
from tessera.llm.flows._batch import BatchJob, BatchRecord

__all__ = ["chunk_records", "run_on_dask"]

# Chunks per worker: enough to balance uneven records and to lose little when one dies,
# few enough that task overhead stays small beside a flow run.
_CHUNKS_PER_WORKER = 4
_MAX_CHUNK = 64


def chunk_records(count: int, workers: int) -> int:
    """Records per task for ``count`` records over ``workers`` workers."""
    return max(1, min(_MAX_CHUNK, math.ceil(count / (_CHUNKS_PER_WORKER * max(1, workers)))))


def _run_chunk(job: BatchJob, chunk: Sequence[tuple[int, Any, Any]]) -> list[BatchRecord]:
    """Run on a worker: every record of ``chunk``, in order."""
    return [job.run(index, document, expected) for index, document, expected in chunk]


def run_on_dask(
    job: BatchJob,
    inputs: Sequence[tuple[int, Any, Any]],
    *,
    scheduler: Any,
    progress: Callable[[int, int], None] | None = None,
) -> list[BatchRecord]:
    """Run ``job`` on every ``(index, document, expected)`` of ``inputs`` on Dask.

    Returns the records in the order of ``inputs``, each exactly once.
    """
    with dask_client(scheduler) as client:
        distributed = require_dask("distributed")
        size = chunk_records(len(inputs), len(client.nthreads()))
        chunks = [list(inputs[start : start + size]) for start in range(0, len(inputs), size)]
        # The job travels inside each task (not scattered once): a copy held by a worker
        # that dies would be lost with it.
        futures = [client.submit(_run_chunk, job, chunk, pure=False) for chunk in chunks]
        order = {future.key: number for number, future in enumerate(futures)}
        answers: list[list[BatchRecord] | None] = [None] * len(chunks)
        done = 0
        for future in distributed.as_completed(futures):
            try:
                part = future.result()
            except distributed.KilledWorker as exc:
                number = order[future.key]
                first, last = chunks[number][0][0], chunks[number][-1][0]
                raise TesseraError(
                    f"records {first}-{last} were given up: every worker that ran them died "
                    f"({exc}). Dask retries a chunk on another worker up to "
                    "distributed.scheduler.allowed-failures times; look for a record that "
                    "crashes its process (memory, a native library) and run it alone."
                ) from None
            answers[order[future.key]] = part
            done += len(part)
            if progress is not None:
                progress(done, len(inputs))
    return [record for part in answers if part is not None for record in part]
