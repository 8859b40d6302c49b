"""Synthetic data and splits on Dask: 1 and 2 workers with a memory limit, and in process.

One process runs everything on a ``LocalCluster`` of 1, then 2, worker processes (one
thread each, ``--memory-limit`` each):

- **synth**: a copula fitted on ``tessera.synth.customers`` (``--fit-rows`` rows; its
  free-text column dropped, its keys regenerated)
  samples ``--synth-rows`` rows with ``sample_dask`` to a Parquet folder; beside it, the
  in-process writer (``write_chunks``, the same blocks and seed) writes one Parquet file.
  The Parquet files of 1 and 2 workers are compared table by table (and the in-process
  file against them), so "identical" is measured, not assumed.
- **split**: ``--split-rows`` rows of the same copula (numbers, categories, dates) are
  written as a Parquet dataset, then ``split_dataset`` (``--method``, default auto)
  splits it into train/val/test folders; the part files of 1 and 2 workers are compared.
  The in-process ``train_val_test_split`` runs on the first ``--inprocess-rows`` rows
  (auto on 20M rows in one process takes hours): the divergence ratio (energy distance
  of the parts, summed) of ``split_dataset`` against in-memory auto is measured on such
  tables, ``--ratio-seeds`` of them, split into ``--ratio-partitions`` partitions.

Peak memory per worker: each worker's resident set size, polled every 0.2 s through
``client.run`` (the maximum seen over the run). Wall time covers the work and the
write, not the cluster's start.

Run ``python benchmarks/scale_bench.py [--synth-rows 50000000] [--split-rows 20000000]
[--write]``; ``--write`` replaces the ``## scale`` section of benchmarks/RESULTS.md.
The halves can run at different times: ``--keep FILE`` stores each half's rows (and the
command that measured them) in a JSON file, and a later run with ``--synth-rows 0`` (or
``--split-rows 0``) and the same ``--keep`` reports the stored half beside the new one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _peak_rss() -> int:
    """This process's peak resident set size so far (Linux reports kB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class PeakMemory:
    """The largest resident set size seen on each worker while the block runs."""

    def __init__(self, client: Any, every_s: float = 0.2) -> None:
        self.client = client
        self.every_s = every_s
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                for worker, rss in self.client.run(_rss).items():
                    self.peaks[worker] = max(self.peaks.get(worker, 0), rss)
            except Exception:  # a worker restarting: the next poll sees it
                pass
            self._stop.wait(self.every_s)

    @contextmanager
    def watch(self) -> Iterator[PeakMemory]:
        thread = threading.Thread(target=self._poll, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()


@contextmanager
def cluster(workers: int, memory_limit: str) -> Iterator[Any]:
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",
        ) as local,
        distributed.Client(local) as client,
    ):
        # Each worker imports Tessera once before the clock starts (part of its start).
        client.run(_warm)
        yield client


def _warm() -> None:
    import tessera.split._dask  # noqa: F401
    import tessera.synth._dask  # noqa: F401


def _same_files(a: Path, b: Path) -> bool:
    import pyarrow.parquet as pq

    left, right = sorted(a.rglob("*.parquet")), sorted(b.rglob("*.parquet"))
    if [p.relative_to(a) for p in left] != [p.relative_to(b) for p in right]:
        return False
    return all(pq.read_table(x).equals(pq.read_table(y)) for x, y in zip(left, right, strict=True))


def _in_order(paths: Any) -> list[Path]:
    """Dask's part files in partition order: part.2 before part.10 (a natural sort)."""
    from dask.utils import natural_sort_key

    return sorted(paths, key=lambda p: natural_sort_key(str(p)))


def _same_as_one_file(folder: Path, single: Path) -> bool:
    """The folder's files, in order, hold the single file's rows: compared file by file.

    The single file is read in batches as long as each folder file (never whole: 50M
    rows as Python objects would not fit in memory).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    def plain(table: Any) -> pd.DataFrame:
        frame = table.to_pandas()
        return frame.astype(object).where(frame.notna(), None).reset_index(drop=True)

    batches = pq.ParquetFile(single).iter_batches(batch_size=65_536)
    pending: list[Any] = []
    held = 0
    for path in _in_order(folder.glob("*.parquet")):
        part = pq.read_table(path)
        while held < part.num_rows:
            batch = next(batches, None)
            if batch is None:
                return False
            pending.append(batch)
            held += batch.num_rows
        joined = pa.Table.from_batches(pending)
        mine, rest = joined.slice(0, part.num_rows), joined.slice(part.num_rows)
        if not plain(part).equals(plain(mine)):
            return False
        pending, held = rest.to_batches(), rest.num_rows
    return held == 0 and next(batches, None) is None


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def bench_synth(args: argparse.Namespace, model: Any, work: Path) -> list[dict[str, Any]]:
    from tessera.synth._dask import write_parquet
    from tessera.synth._stream import model_writer, write_chunks

    rows: list[dict[str, Any]] = []
    n = args.synth_rows
    for workers in args.workers:
        out = work / f"synth-{workers}"
        with cluster(workers, args.memory_limit) as client:
            frame = model.sample_dask(n, random_state=0, block_rows=args.block_rows)
            with PeakMemory(client).watch() as peak:
                start = time.perf_counter()
                write_parquet(frame, out, scheduler=client, n_workers=None)
                wall = time.perf_counter() - start
        rows.append(
            {"path": f"Dask, {workers} worker(s)", "wall": wall, "rows": n, "peak": peak.peaks}
        )
        print(f"synth {workers} worker(s): {wall:.1f} s, {n / wall:,.0f} rows/s", flush=True)
    same = _same_files(work / f"synth-{args.workers[0]}", work / f"synth-{args.workers[-1]}")
    rows[-1]["same"] = same
    if args.inprocess_synth:
        single = work / "synth-inprocess.parquet"
        document = model.to_dict()
        wall = timed(
            lambda: write_chunks(
                model_writer(document), n, single, chunk_size=args.block_rows, seed=0
            )
        )
        rows.append(
            {
                "path": "in process (write_chunks)",
                "wall": wall,
                "rows": n,
                "peak": {"this process": _peak_rss()},
                "same": _same_as_one_file(work / f"synth-{args.workers[0]}", single),
            }
        )
        print(f"synth in process: {wall:.1f} s", flush=True)
    return rows


def _split_input(model: Any, n: int, folder: Path, args: argparse.Namespace) -> None:
    from tessera.synth._dask import write_parquet

    with cluster(max(args.workers), args.memory_limit) as client:
        frame = model.sample_dask(n, random_state=1, block_rows=args.split_partition_rows)
        keep = ["age", "income", "segment", "region", "products", "balance"]
        write_parquet(frame[keep], folder, scheduler=client, n_workers=None)


def bench_split(args: argparse.Namespace, model: Any, work: Path) -> list[dict[str, Any]]:
    from tessera.split import split_dataset

    source = work / "split-input"
    _split_input(model, args.split_rows, source, args)
    rows: list[dict[str, Any]] = []
    for workers in args.workers:
        out = work / f"split-{workers}"
        with cluster(workers, args.memory_limit) as client:
            with PeakMemory(client).watch() as peak:
                start = time.perf_counter()
                result = split_dataset(
                    source, out, method=args.method, random_state=0, scheduler=client
                )
                wall = time.perf_counter() - start
        rows.append(
            {
                "path": f"Dask, {workers} worker(s), {args.method}",
                "wall": wall,
                "rows": result.rows,
                "peak": peak.peaks,
                "sizes": result.sizes,
            }
        )
        print(
            f"split {workers} worker(s): {wall:.1f} s {result.sizes}, peak {_peaks(peak.peaks)}"
            f" GiB, load {_load()}",
            flush=True,
        )
    if len(args.workers) > 1:  # one worker count: nothing to compare with
        rows[-1]["same"] = _same_files(
            work / f"split-{args.workers[0]}", work / f"split-{args.workers[-1]}"
        )
    return rows


def divergence_ratios(args: argparse.Namespace, model: Any, work: Path) -> list[dict[str, Any]]:
    """split_dataset's energy (summed over parts) over in-memory auto's, on small tables."""
    import dask

    from tessera.split import part_indices, split_dataset, split_report

    n, parts = args.inprocess_rows, args.ratio_partitions
    keep = ["age", "income", "segment", "region", "products", "balance"]
    out: list[dict[str, Any]] = []
    for seed in range(args.ratio_seeds):
        table = model.sample(n, random_state=100 + seed)[keep]
        folder = work / f"ratio-{seed}"
        import dask.dataframe as dd

        dd.from_pandas(table, npartitions=parts).to_parquet(folder, write_index=False)
        start = time.perf_counter()
        indices = part_indices(table, random_state=seed)
        in_memory_s = time.perf_counter() - start
        theirs = split_report([table.iloc[i] for i in indices])
        with dask.config.set(scheduler="synchronous"):
            start = time.perf_counter()
            result = split_dataset(folder, work / f"ratio-out-{seed}", random_state=seed)
            dask_s = time.perf_counter() - start
        frames = [pd.read_parquet(result.paths[p]) for p in ("train", "val", "test")]
        ours = split_report(frames)
        a, b = sum(theirs.energy.values()), sum(ours.energy.values())
        # The same table forced into cells of at most a partition's rows (rows_per_split =
        # its rows): how a table of more than rows_per_split rows is split.
        with dask.config.set(scheduler="synchronous"):
            forced = split_dataset(
                folder,
                work / f"ratio-pieces-{seed}",
                random_state=seed,
                rows_per_split=-(-n // parts),
            )
        pieces = split_report([pd.read_parquet(forced.paths[p]) for p in ("train", "val", "test")])
        c = sum(pieces.energy.values())
        out.append(
            {
                "seed": seed,
                "auto": a,
                "dask": b,
                "ratio": b / a,
                "pieces": c,
                "pieces_ratio": c / a,
                "ks_auto": theirs.worst("ks"),
                "ks_dask": ours.worst("ks"),
                "in_memory_s": in_memory_s,
                "dask_s": dask_s,
            }
        )
        print(f"ratio seed {seed}: {b / a:.3f}, in cells {c / a:.3f}", flush=True)
    return out


def _gb(value: int) -> str:
    return f"{value / 2**30:.2f}"


def _peaks(peaks: dict[str, int]) -> str:
    return ", ".join(_gb(v) for _, v in sorted(peaks.items())) or "-"


def _command() -> str:
    return "`python benchmarks/scale_bench.py " + " ".join(sys.argv[1:]) + "`"


def _load() -> str:
    load = os.getloadavg()
    return f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"


def render(
    args: argparse.Namespace,
    synth: list[Any],
    split: list[Any],
    ratios: list[Any],
    runs: list[dict[str, str]],
) -> str:
    lines = ["## scale", ""]
    for run in runs:
        lines += [
            f"{run['what']}: {run['command']}, finished {run['finished']} "
            f"(load average {run['load']} then).",
            "",
        ]
    lines += [
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs shared with other "
        f"users, Python {platform.python_version()}. LocalCluster workers: one thread "
        f"each, memory limit {args.memory_limit} each; peak = the largest resident set "
        "size seen on each worker (GiB).",
        "",
        "| work | rows | wall s | rows/s | peak GiB per worker | same output as 1 worker |",
        "|---|---:|---:|---:|---|---|",
    ]
    for label, table in (("synth sample", synth), ("split", split)):
        for row in table:
            same = {True: "yes", False: "NO"}.get(row.get("same"), "")  # type: ignore[arg-type]
            lines.append(
                f"| {label}: {row['path']} | {row['rows']:,} | {row['wall']:.1f} | "
                f"{row['rows'] / row['wall']:,.0f} | {_peaks(row['peak'])} | {same} |"
            )
    if split:
        lines += ["", f"Split part sizes: {split[-1]['sizes']}."]
    if ratios:
        lines += [
            "",
            f"Divergence against in-memory auto ({args.inprocess_rows:,}-row tables of the "
            f"same copula, {args.ratio_partitions} partitions; energy distance of val and "
            "test to train, summed, x 1e4; worst KS). A table of at most rows_per_split "
            "rows is split in one piece, so `split_dataset` gives in-memory auto's own "
            "split; 'in cells' forces rows_per_split down to a partition's rows, so the "
            "table is split in cells of near rows as a larger table is:",
            "",
            "| table seed | in-memory auto | split_dataset | ratio | in cells | ratio | "
            "worst KS auto | worst KS split_dataset |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in ratios:
            lines.append(
                f"| {r['seed']} | {r['auto'] * 1e4:.3f} | {r['dask'] * 1e4:.3f} | "
                f"{r['ratio']:.2f} | {r['pieces'] * 1e4:.3f} | {r['pieces_ratio']:.2f} | "
                f"{r['ks_auto']:.4f} | {r['ks_dask']:.4f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-rows", type=int, default=50_000_000)
    parser.add_argument("--split-rows", type=int, default=20_000_000)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--block-rows", type=int, default=1_000_000)
    parser.add_argument("--split-partition-rows", type=int, default=500_000)
    parser.add_argument("--method", default="auto")
    parser.add_argument("--fit-rows", type=int, default=5_000)
    parser.add_argument("--inprocess-rows", type=int, default=2_000)
    parser.add_argument("--ratio-partitions", type=int, default=2)
    parser.add_argument("--ratio-seeds", type=int, default=3)
    parser.add_argument("--no-inprocess-synth", dest="inprocess_synth", action="store_false")
    parser.add_argument("--work", type=Path, default=None, help="Scratch folder (default: temp).")
    parser.add_argument("--write", action="store_true")
    parser.add_argument(
        "--keep", type=Path, default=None, help="JSON file of each half's rows (see above)."
    )
    args = parser.parse_args()

    from tessera.synth import GaussianCopula, customers

    # Free text is left out: lorem ipsum would dominate the time and is not what scales.
    real = customers(args.fit_rows, random_state=0)
    model = GaussianCopula(segment_by=None, text="drop").fit(real)
    work = args.work or Path(tempfile.mkdtemp(prefix="tessera-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        synth = bench_synth(args, model, work) if args.synth_rows else []
        split = bench_split(args, model, work) if args.split_rows else []
        ratios = divergence_ratios(args, model, work) if args.ratio_seeds else []
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    stamp = {
        "command": _command(),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": _load(),
    }
    kept: dict[str, Any] = {}
    if args.keep is not None and args.keep.exists():  # read now: another run may have written
        kept = json.loads(args.keep.read_text(encoding="utf-8"))
    if synth:
        kept["synth"] = {"rows": synth, **stamp, "what": "synth"}
    if split or ratios:
        kept["split"] = {"rows": split, "ratios": ratios, **stamp, "what": "split"}
    if args.keep is not None:
        args.keep.write_text(json.dumps(kept, indent=1, default=str), encoding="utf-8")
    synth = kept.get("synth", {}).get("rows", synth)
    split = kept.get("split", {}).get("rows", split)
    ratios = kept.get("split", {}).get("ratios", ratios)
    runs = [
        {k: v for k, v in kept[h].items() if k != "rows"} for h in ("synth", "split") if h in kept
    ]
    if not runs:
        runs = [{**stamp, "what": "all"}]
    text = render(args, synth, split, ratios, runs)
    print(text)
    if args.write:
        write_section("scale", text)


if __name__ == "__main__":
    main()
