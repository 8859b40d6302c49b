"""Batch runs: a flow over every record of a dataset, each output scored against an expectation.

A dataset is a JSON Lines file (one object per line), a CSV file with a header row, or a
list of dicts. Each record gives the flow's input and the expected value: the input is the
record's ``input_field`` (default: its ``input`` field if it has one, else the whole record
less the expected field), the expectation its ``expected_field`` (default ``expected``).

An evaluator scores each output in [0, 1]: ``exact`` (same text, surrounding space
ignored), ``contains`` (the expected text occurs in the output, case ignored), ``numeric``
(the first number in the output is within ``tolerance`` of the expected number), or a
function ``f(output, expected) -> bool | float``, given as a callable or as an allow-listed
``"package.module:function"``. A record passes when its score reaches
``pass_threshold``; a record whose run fails scores 0 and counts as an error.

With ``evaluator="flow"`` the flow scores itself: the whole record (expected value
included) is its input, an ``Evaluation`` node inside it compares, and the scored Output
node's document is the score.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tessera._validation import bad_value, short_repr
from tessera.errors import InvalidInputError, TesseraError
from tessera.llm.flows._policy import (
    RetrievalRoots,
    StorageRoots,
    check_allowed_code,
    check_retrieval_roots,
    check_storage_roots,
    code_refusal,
    resolve_code,
)
from tessera.llm.flows._run import run_flow
from tessera.llm.flows._spec import FlowSpec
from tessera.llm.flows._validate import require_valid

__all__ = [
    "EVALUATORS",
    "BatchMetrics",
    "BatchRecord",
    "BatchResult",
    "read_dataset",
    "resolve_evaluator",
    "run_batch",
    "score_with",
]

Evaluator = str | Callable[[Any, Any], bool | float]
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _NUMBER.search(value) if isinstance(value, str) else None
    return float(match.group()) if match else None


def _exact(output: Any, expected: Any) -> bool:
    return _text(output) == _text(expected)


def _contains(output: Any, expected: Any) -> bool:
    return _text(expected).casefold() in _text(output).casefold()


#: The evaluators known by name (``numeric`` also takes ``tolerance``).
EVALUATORS = ("contains", "exact", "numeric")


@dataclass(frozen=True)
class BatchRecord:
    """One record's run: what went in, what came out, its score."""

    index: int
    run_id: str
    input: Any
    expected: Any
    output: Any
    score: float
    passed: bool
    error: str | None
    latency_ms: float


@dataclass(frozen=True)
class BatchMetrics:
    """The aggregate of a batch.

    Attributes
    ----------
    records, passed, errors : int
        How many records ran, passed, and failed to run.
    accuracy : float
        ``passed / records``.
    mean_score : float
        The mean score (errors score 0).
    latency_p50_ms, latency_p95_ms : float
        Percentiles of the per-record run time (linear interpolation).
    """

    records: int
    passed: int
    errors: int
    accuracy: float
    mean_score: float
    latency_p50_ms: float
    latency_p95_ms: float


@dataclass(frozen=True)
class BatchResult:
    """The metrics and the per-record table of :func:`run_batch`."""

    flow: str
    metrics: BatchMetrics
    records: tuple[BatchRecord, ...]

    def rows(self) -> list[dict[str, Any]]:
        """The per-record table as dicts (one per record, in dataset order)."""
        return [asdict(record) for record in self.records]

    def write(self, path: str | Path) -> Path:
        """Write the per-record table as ``.csv`` or ``.jsonl`` (by the suffix)."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in (".csv", ".jsonl"):
            raise bad_value(
                "path", str(path), "the table is written as .csv or .jsonl", "Name a .csv file."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        with target.open("w", encoding="utf-8", newline="") as file:
            if suffix == ".jsonl":
                for row in rows:
                    file.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            else:
                writer = csv.DictWriter(file, fieldnames=list(BatchRecord.__dataclass_fields__))
                writer.writeheader()
                for row in rows:
                    writer.writerow(
                        {
                            k: v if isinstance(v, str | int | float) or v is None else _text(v)
                            for k, v in row.items()
                        }
                    )
        return target


def read_dataset(source: str | Path | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records of a ``.jsonl`` or ``.csv`` file (or a list of dicts, copied).

    Raises
    ------
    InvalidInputError
        A line that is not a JSON object (with its line number), an unknown suffix, or no
        records at all.
    """
    if not isinstance(source, str | Path):
        records = [dict(r) for r in source if isinstance(r, Mapping)]
        if len(records) != len(source):
            raise bad_value("dataset", source, "every record must be a dict", "Pass dicts.")
    else:
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as file:
                records = [dict(row) for row in csv.DictReader(file)]
        elif suffix in (".jsonl", ".ndjson"):
            records = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(
                        f"dataset={str(path)!r}, line {number}: not JSON ({exc.msg}). "
                        "Write one JSON object per line."
                    ) from None
                if not isinstance(record, dict):
                    raise InvalidInputError(
                        f"dataset={str(path)!r}, line {number}: {type(record).__name__}, not "
                        "an object. Write one JSON object per line."
                    )
                records.append(record)
        else:
            raise bad_value(
                "dataset", str(path), "a dataset is a .jsonl or .csv file", "Convert it."
            )
    if not records:
        raise bad_value("dataset", str(source)[:60], "it has no records", "Add records.")
    return records


def _from_flow(output: Any, expected: Any) -> bool | float:
    """``evaluator="flow"``: the scored output is already the score."""
    if isinstance(output, bool) or (isinstance(output, int | float) and 0 <= output <= 1):
        return output
    raise InvalidInputError(
        f"evaluator='flow' scores the Output's document, but it is {short_repr(output)}; "
        "connect an Evaluation node's score (a number in [0, 1]) to the scored Output."
    )


def resolve_evaluator(
    evaluator: Evaluator, tolerance: float, allowed_code: Iterable[str]
) -> Callable[[Any, Any], bool | float]:
    """The scoring function for an evaluator name, callable or allow-listed reference."""
    if callable(evaluator):
        return evaluator
    if evaluator == "exact":
        return _exact
    if evaluator == "contains":
        return _contains
    if evaluator == "numeric":
        if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
            raise bad_value("tolerance", tolerance, "it must be a number >= 0", "Pass 0.01.")

        def numeric(output: Any, expected: Any) -> bool:
            got, want = _number(output), _number(expected)
            return got is not None and want is not None and abs(got - want) <= tolerance

        return numeric
    if isinstance(evaluator, str) and ":" in evaluator:
        reason = code_refusal(evaluator, allowed_code)
        if reason is not None:
            raise bad_value(
                "evaluator",
                evaluator,
                f"a function evaluator must be in the Code allow-list; {reason}",
                f"Pass allowed_code=[{evaluator!r}] (or --allow-code on the command line) "
                "only if you trust it.",
            )
        try:
            return resolve_code(evaluator, allowed_code)
        except InvalidInputError:
            raise bad_value(
                "evaluator", evaluator, "it names no function", "Fix the name."
            ) from None
    raise bad_value(
        "evaluator",
        evaluator,
        f"it must be one of {', '.join(EVALUATORS)}, a callable or 'package.module:function'",
        "Pass evaluator='exact'.",
    )


def score_with(evaluate: Callable[[Any, Any], bool | float], output: Any, expected: Any) -> float:
    """``evaluate(output, expected)`` as a float in [0, 1], or a clear error."""
    value = evaluate(output, expected)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and 0.0 <= value <= 1.0:
        return float(value)
    raise InvalidInputError(
        f"the evaluator returned {value!r}; an evaluator returns a bool or a score in [0, 1]."
    )


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else 0.0


def _pick_output(outputs: Mapping[str, Any], output: str | None) -> Any:
    if output is not None:
        return outputs.get(output)
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    raise InvalidInputError(
        f"the run produced {len(outputs)} outputs ({', '.join(sorted(outputs)) or 'none'}); "
        "name the one to score with output='<Output node name>' (--output)."
    )


def run_batch(
    flow: FlowSpec | Mapping[str, Any] | str | Path,
    dataset: str | Path | Sequence[Mapping[str, Any]],
    *,
    evaluator: Evaluator = "exact",
    output: str | None = None,
    input_field: str | None = None,
    expected_field: str = "expected",
    tolerance: float = 1e-6,
    pass_threshold: float = 1.0,
    allowed_code: Iterable[str] = (),
    retrieval_roots: RetrievalRoots = (),
    storage_roots: StorageRoots = (),
    out: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    scheduler: Any = None,
    **run_options: Any,
) -> BatchResult:
    """Run ``flow`` on every record of ``dataset`` and score each output.

    Parameters
    ----------
    flow : FlowSpec, dict, str or pathlib.Path
        The flow (validated once, before any record runs).
    dataset : str, pathlib.Path or sequence of dict
        A ``.jsonl`` or ``.csv`` file, or the records.
    evaluator : {'exact', 'contains', 'numeric', 'flow'}, callable or str, default='exact'
        How an output is scored against the expected value (see the module notes);
        ``'flow'``: the flow holds an ``Evaluation`` node, gets the whole record, and the
        scored Output's document is the score.
    output : str or None, default=None
        The Output node whose document is scored; default the run's only output.
    input_field : str or None, default=None
        The record field given to the flow; default ``input`` if present, else the record
        without ``expected_field``.
    expected_field : str, default='expected'
        The record field holding the expected value (every record needs it).
    tolerance : float, default=1e-6
        The ``numeric`` evaluator's absolute tolerance.
    pass_threshold : float, default=1.0
        A record passes when its score is at least this.
    allowed_code : iterable of str, default=()
        Code nodes and a function evaluator the batch may call (see
        :func:`~tessera.llm.flows.code_allowed`).
    retrieval_roots : iterable of str or pathlib.Path, default=()
        Folders Retrieval nodes may read inside of, besides the shipped knowledge folders
        (see :func:`~tessera.llm.flows.validate_flow`).
    storage_roots : iterable of str or pathlib.Path, default=()
        Folders Storage nodes may write and read inside of (none by default).
    out : str, pathlib.Path or None, default=None
        Also write the per-record table here (``.csv`` or ``.jsonl``).
    progress : callable or None, default=None
        Called as ``progress(done, total)`` after each record (after each chunk of
        records on Dask).
    scheduler : str, distributed.Client or None, default=None
        Run the records on Dask: ``"local"`` (worker processes on this machine), a
        scheduler's address (``"tcp://host:port"``) or a client; needs the ``dask`` extra.
        Same outputs and metrics as in this process; see the Notes.
    **run_options
        Passed to :func:`~tessera.llm.flows.run_flow` (``registry``, ``backend_factory``,
        ``db``, ``flow_version``, ``trace``).

    Returns
    -------
    BatchResult
        The metrics and one :class:`BatchRecord` per record, in dataset order.

    Notes
    -----
    With a ``scheduler``, the records go to the workers in chunks; each worker process
    loads a model once (the first Prompt node that asks for it) and keeps it for every
    later chunk. A chunk whose worker dies (a crash, an out-of-memory kill) runs again on
    another worker, and only the answers of chunks that finished are kept, so every record
    appears exactly once in the result and the table. Side effects of the lost attempt
    (its run traces, Storage writes) are not undone: a retried record may have two traces.
    ``run_options`` must be picklable (a ``db`` path, ``trace``, ``flow_version``).
    """
    if scheduler is not None:
        from tessera._dask import check_scheduler

        check_scheduler(scheduler)
    allowed = check_allowed_code(allowed_code)
    roots = check_retrieval_roots(retrieval_roots)
    storage = check_storage_roots(storage_roots)
    spec = require_valid(flow, allowed_code=allowed, retrieval_roots=roots, storage_roots=storage)
    records = read_dataset(dataset)
    self_scored = evaluator == "flow"
    evaluate = _from_flow if self_scored else resolve_evaluator(evaluator, tolerance, allowed)
    if not (isinstance(pass_threshold, int | float) and 0.0 <= pass_threshold <= 1.0):
        raise bad_value("pass_threshold", pass_threshold, "it must lie in [0, 1]", "Pass 1.0.")
    for index, record in enumerate(records):
        for field in (expected_field, input_field):
            if field is not None and field not in record:
                raise InvalidInputError(
                    f"record {index} has no field {field!r} (fields: {', '.join(record)}). "
                    f"Add it to every record, or name another field."
                )
    job = BatchJob(
        spec=spec,
        evaluate=evaluate,
        output=output,
        pass_threshold=float(pass_threshold),
        allowed_code=allowed,
        retrieval_roots=roots,
        storage_roots=storage,
        run_options=dict(run_options),
    )
    inputs = [
        (index, _document(record, input_field, expected_field, self_scored), record[expected_field])
        for index, record in enumerate(records)
    ]
    if scheduler is not None:
        from tessera.llm.flows._dask import run_on_dask

        results = run_on_dask(job, inputs, scheduler=scheduler, progress=progress)
    else:
        results = []
        for index, document, expected in inputs:
            results.append(job.run(index, document, expected))
            if progress is not None:
                progress(index + 1, len(records))
    batch = batch_result(spec.name, results)
    if out is not None:
        batch.write(out)
    return batch


def _document(
    record: Mapping[str, Any], input_field: str | None, expected_field: str, self_scored: bool
) -> Any:
    """What the flow gets from ``record``: see :func:`run_batch`'s ``input_field``."""
    if input_field is not None:
        return record[input_field]
    if self_scored:  # the flow compares with the expected value itself
        return dict(record)
    if "input" in record:
        return record["input"]
    return {k: v for k, v in record.items() if k != expected_field}


@dataclass(frozen=True)
class BatchJob:
    """Everything one record's run needs besides the record: sent once to each worker."""

    spec: FlowSpec
    evaluate: Callable[[Any, Any], bool | float]
    output: str | None
    pass_threshold: float
    allowed_code: tuple[str, ...]
    retrieval_roots: Any
    storage_roots: Any
    run_options: dict[str, Any]

    def run(self, index: int, document: Any, expected: Any) -> BatchRecord:
        """Run the flow on one record and score it (a failed run scores 0, its error kept)."""
        started = time.perf_counter()
        run_id, value, error, score = "", None, None, 0.0
        try:
            result = run_flow(
                self.spec,
                document,
                allowed_code=self.allowed_code,
                retrieval_roots=self.retrieval_roots,
                storage_roots=self.storage_roots,
                **self.run_options,
            )
            run_id = result.run_id
            value = _pick_output(result.outputs, self.output)
            score = score_with(self.evaluate, value, expected)
        except (TesseraError, ValueError, TypeError, OSError) as exc:
            run_id = getattr(exc, "run_id", "") or run_id
            error = f"{type(exc).__name__}: {exc}"
        latency = (time.perf_counter() - started) * 1000.0
        return BatchRecord(
            index=index,
            run_id=run_id,
            input=document,
            expected=expected,
            output=value,
            score=score,
            passed=error is None and score >= self.pass_threshold,
            error=error,
            latency_ms=latency,
        )


def batch_result(flow: str, results: Sequence[BatchRecord]) -> BatchResult:
    """The metrics of ``results`` (in dataset order) and the table."""
    latencies = [r.latency_ms for r in results]
    passed = sum(r.passed for r in results)
    metrics = BatchMetrics(
        records=len(results),
        passed=passed,
        errors=sum(r.error is not None for r in results),
        accuracy=passed / len(results),
        mean_score=sum(r.score for r in results) / len(results),
        latency_p50_ms=_percentile(latencies, 50),
        latency_p95_ms=_percentile(latencies, 95),
    )
    return BatchResult(flow, metrics, tuple(results))
