"""Running a flow: validation, a worker thread, events streamed as they happen, traces.

:func:`stream_flow` validates the flow, runs it in a worker thread (see
:mod:`tessera.llm.flows._engine` for the rules of execution) and yields each event as it
happens; :func:`run_flow` collects them. Each run is stored as a trace in the tessera
database (:class:`~tessera.llm.flows.TraceWriter`) unless ``trace=False``.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.errors import InvalidInputError
from tessera.llm.flows._engine import Engine, type_ok
from tessera.llm.flows._nodes import FlowEvent, RunContext
from tessera.llm.flows._policy import (
    RetrievalRoots,
    StorageRoots,
    check_allowed_code,
    check_retrieval_roots,
    check_storage_roots,
)
from tessera.llm.flows._resume import Resume
from tessera.llm.flows._spec import FlowSpec
from tessera.llm.flows._validate import require_valid

__all__ = ["FlowResult", "run_flow", "stream_flow"]


@dataclass(frozen=True)
class FlowResult:
    """What a run produced.

    Attributes
    ----------
    run_id : str
        The run's id (its trace is stored under it when tracing).
    outputs : dict
        Output node name -> document (a list with one document per item for an Output
        inside an Iterator). Outputs whose branch did not run are absent.
    events : tuple of FlowEvent
        Every event, in order.
    """

    run_id: str
    outputs: dict[str, Any]
    events: tuple[FlowEvent, ...]


_DONE = object()  # put on the queue when the run ends well


class _Cancelled(Exception):
    """Raised in the worker when the consumer closed the event stream."""


def stream_flow(
    flow: FlowSpec | Mapping[str, Any] | str | Path,
    inputs: Any,
    *,
    allowed_code: Iterable[str] = (),
    retrieval_roots: RetrievalRoots = (),
    storage_roots: StorageRoots = (),
    registry: Any = None,
    backend_factory: Callable[[str | None], Any] | None = None,
    trace: bool = True,
    db: str | Path | sqlite3.Connection | None = None,
    flow_version: int | None = None,
    run_id: str | None = None,
    resume: Resume | None = None,
) -> Iterator[FlowEvent]:
    """Run a flow, yielding each event as it happens.

    Parameters
    ----------
    flow : FlowSpec, dict, str or pathlib.Path
        The flow (anything :func:`~tessera.llm.flows.load_flow` reads); it is validated
        first.
    inputs : Any
        The document given to the Input node (its declared type is checked).
    allowed_code : iterable of str, default=()
        Code functions the flow may call: ``"package.module:function"`` or
        ``"package.module:*"`` (the public functions defined in that module; see
        :func:`~tessera.llm.flows.code_allowed`).
    retrieval_roots : iterable of str or pathlib.Path, default=()
        Folders Retrieval nodes may read inside of, besides the knowledge folders shipped
        with tessera; a folder outside them is a validation problem.
    storage_roots : iterable of str or pathlib.Path, default=()
        Folders Storage nodes may write and read inside of (none by default); a Storage
        folder outside them is a validation problem.
    registry : PromptRegistry, optional
        Where Prompt nodes resolve ``name@label`` references; default: the registry in
        ``$TESSERA_HOME``.
    backend_factory : callable, optional
        ``model id -> backend``; default :func:`tessera.llm.backends.get_backend`.
    trace : bool, default=True
        Store the run (inputs, events, outputs, status, timings) in the database.
    db : path or sqlite3.Connection, optional
        The database for the trace (default ``$TESSERA_HOME/tessera.db``).
    flow_version : int, optional
        Recorded in the trace when the flow came from the flow store.
    run_id : str, optional
        Default: a new random id.
    resume : Resume, optional
        Go on from a run that stopped with :class:`~tessera.llm.flows.InputRequired`: the
        replies to its AskUser nodes and the outputs of the nodes that had finished (see
        :mod:`tessera.llm.flows._resume`).

    Yields
    ------
    FlowEvent
        ``flow_start``, then ``node_input``/``condition``/``node_output``/``flow_output``
        per node, then ``flow_end`` (or ``error``).

    Raises
    ------
    FlowValidationError
        At the call (before anything runs), when the flow breaks a rule.
    InvalidInputError
        At the call, when ``inputs`` does not have the Input node's declared type, an
        ``allowed_code`` entry is malformed or a retrieval or storage root is not a
        folder.
    FlowRunError
        While iterating, after the ``error`` event, naming the node that failed.

    Notes
    -----
    The flow runs in a worker thread as soon as iteration starts; closing the iterator
    early stops the run at its next event and records the trace as ``cancelled``.
    """
    allowed = check_allowed_code(allowed_code)
    roots = check_retrieval_roots(retrieval_roots)
    storage = check_storage_roots(storage_roots)
    spec = require_valid(flow, allowed_code=allowed, retrieval_roots=roots, storage_roots=storage)
    entry = next(node for node in spec.nodes if node.type == "Input")
    declared = entry.outputs[0].type if entry.outputs else None
    if declared is not None and not type_ok(inputs, declared):
        raise InvalidInputError(
            f"inputs={inputs!r:.80} has type {type(inputs).__name__}, but the Input node "
            f"{entry.name!r} declares its document {declared}. Pass a {declared} or change "
            "the declared type."
        )
    run_id = run_id if run_id is not None else uuid.uuid4().hex
    ctx = RunContext(
        run_id=run_id,
        flow=spec,
        allowed_code=allowed,
        base_dir=spec.base_dir,
        retrieval_roots=roots,
        storage_roots=storage,
        registry_factory=(lambda: registry) if registry is not None else None,
        backend_factory=backend_factory,
        resume=resume,
    )
    open_trace: Callable[[], Any] | None = None
    if trace:
        from tessera.llm.flows._traces import TraceWriter

        def open_trace() -> Any:
            return TraceWriter(spec.name, inputs, flow_version=flow_version, run_id=run_id, db=db)

    return _events(spec, inputs, ctx, open_trace)


def _events(
    spec: FlowSpec, inputs: Any, ctx: RunContext, open_trace: Callable[[], Any] | None
) -> Iterator[FlowEvent]:
    """Run the flow in a worker thread; yield its events from the queue it fills.

    The trace is opened when iteration starts, so an iterator never consumed leaves none.
    """
    writer = open_trace() if open_trace is not None else None
    events: queue.Queue[Any] = queue.Queue()
    cancelled = threading.Event()

    def emit(event: FlowEvent) -> None:
        if cancelled.is_set():
            raise _Cancelled
        if writer is not None:
            writer.record(event)
        events.put(event)

    ctx.emitter = emit
    engine = Engine(ctx, emit)
    ctx.subflow_runner = engine.run_subflow

    def work() -> None:
        started = time.perf_counter()
        outcome: Any = _DONE
        outputs: dict[str, Any] | None = None
        try:
            engine.emit("flow_start", None, {"flow": spec.name, "run_id": ctx.run_id})
            outputs = engine.run_graph(spec, inputs, "")
            elapsed = round((time.perf_counter() - started) * 1000, 3)
            summary = {"status": "succeeded", "outputs": outputs, "duration_ms": elapsed}
            engine.emit("flow_end", None, summary)
        except _Cancelled:
            outcome = None
        except BaseException as exc:  # handed to the consuming thread
            outcome = exc
        try:
            if writer is not None and outcome is _DONE:
                writer.finish(outputs=outputs, status="succeeded")
            elif writer is not None and outcome is None:
                writer.finish(status="cancelled", error="the consumer stopped reading events")
            elif writer is not None:
                writer.finish(status="failed", error=str(outcome))
        except Exception as exc:  # the trace failed: the consumer must still hear of it
            outcome = outcome if isinstance(outcome, BaseException) else exc
        events.put(outcome)

    worker = threading.Thread(target=work, name=f"flow-{ctx.run_id[:8]}", daemon=True)
    worker.start()
    try:
        while True:
            item = events.get()
            if item is _DONE or item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        cancelled.set()
        worker.join()


def run_flow(
    flow: FlowSpec | Mapping[str, Any] | str | Path,
    inputs: Any,
    *,
    allowed_code: Iterable[str] = (),
    retrieval_roots: RetrievalRoots = (),
    storage_roots: StorageRoots = (),
    registry: Any = None,
    backend_factory: Callable[[str | None], Any] | None = None,
    trace: bool = True,
    db: str | Path | sqlite3.Connection | None = None,
    flow_version: int | None = None,
    run_id: str | None = None,
    resume: Resume | None = None,
) -> FlowResult:
    """Run a flow to the end and return its outputs and events.

    Takes the arguments of :func:`stream_flow`.

    Raises
    ------
    FlowValidationError
        When the flow breaks a rule (nothing runs).
    InvalidInputError
        When ``inputs`` does not have the Input node's declared type (nothing runs).
    FlowRunError
        When a node fails; :attr:`FlowRunError.node` names it.
    """
    run_id = run_id if run_id is not None else uuid.uuid4().hex
    events = stream_flow(
        flow,
        inputs,
        allowed_code=allowed_code,
        retrieval_roots=retrieval_roots,
        storage_roots=storage_roots,
        registry=registry,
        backend_factory=backend_factory,
        trace=trace,
        db=db,
        flow_version=flow_version,
        run_id=run_id,
        resume=resume,
    )
    collected = list(events)
    end = collected[-1]
    return FlowResult(run_id=run_id, outputs=dict(end.data["outputs"]), events=tuple(collected))
