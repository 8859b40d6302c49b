"""``tessera flows``: validate, run, stream, batch-evaluate and version flows; read run traces.

Presentation only: the work is done by :mod:`tessera.llm.flows`, imported inside the
commands so that ``tessera --help`` stays light.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tessera._dask import SCHEDULER_HELP
from tessera.cli._app import DbOption, app, console, edge, err_console
from tessera.cli._bedrock import BindingsOption, BindOption, FormatOption, bindings_of, read_json
from tessera.errors import InvalidInputError

flows_app = typer.Typer(
    name="flows",
    help="Flows: typed graphs of prompts, models, retrieval and code, run locally.",
    no_args_is_help=True,
)
app.add_typer(flows_app, name="flows")

FlowArg = Annotated[
    str,
    typer.Argument(
        help="A flow file (.yaml/.json), a saved flow reference (NAME, NAME@3, "
        "NAME@production, NAME@draft) or a shipped example's name (support-ticket, "
        "support-ticket-classifier).",
        show_default=False,
    ),
]
AllowCode = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-code",
        help="Allow Code nodes to call this 'package.module:function', or with "
        "'package.module:*' the public functions defined in that module (not the names it "
        "imports); repeatable. The shipped examples' functions are always allowed.",
        show_default=False,
    ),
]
RetrievalRoot = Annotated[
    list[Path] | None,
    typer.Option(
        "--retrieval-root",
        help="A folder Retrieval nodes may read inside of (repeatable); the shipped "
        "examples' knowledge folders are always allowed, nothing else by default.",
        show_default=False,
    ),
]
StorageRoot = Annotated[
    list[Path] | None,
    typer.Option(
        "--storage-root",
        help="A folder Storage nodes may write and read inside of (repeatable); none by "
        "default, so a flow with a Storage node needs one.",
        show_default=False,
    ),
]
Db = DbOption


def _allowed(allow_code: list[str] | None) -> list[str]:
    from tessera.llm.flows.examples import EXAMPLE_CODE

    return [EXAMPLE_CODE, *(allow_code or [])]


def _shipped(name: str) -> Any:
    """A shipped example by name: support-ticket, or its classifier alone."""
    from tessera.llm.flows.examples import classifier_flow, support_flow_path

    if name == "support-ticket-classifier":
        return classifier_flow()
    candidate = support_flow_path().parent / f"{name}.yaml"
    return candidate if candidate.is_file() else None


def _resolve(flow: str, db: Path | None) -> tuple[Any, int | None]:
    """A flow file, a saved reference, or a shipped example: (spec source, version)."""
    from tessera.errors import NotFoundError
    from tessera.llm.flows import FlowRegistry

    path = Path(flow)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.is_file():
        return path, None
    try:
        stored = FlowRegistry(db).stored(flow)
    except NotFoundError:
        shipped = _shipped(flow)
        if shipped is None:
            raise
        return shipped, None
    return stored.spec, stored.version


def _quiet_models() -> None:
    """No weight-loading progress bars from transformers when a node loads a local model."""
    from tessera.errors import MissingExtraError

    try:
        from tessera.cli._llm import _quiet_transformers

        _quiet_transformers()
    except MissingExtraError:
        pass  # flows without model nodes run without the llm extra's model libraries


def _json_input(text: str) -> Any:
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        from tessera._validation import bad_value

        raise bad_value(
            "--input",
            text,
            f"it must be JSON ({exc.msg} at column {exc.colno})",
            """Quote it for the shell: --input '{"text": "..."}', or pass @file.json.""",
        ) from None


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _print(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@flows_app.command("validate")
@edge
def validate(
    flow: FlowArg,
    allow_code: AllowCode = None,
    retrieval_root: RetrievalRoot = None,
    storage_root: StorageRoot = None,
    db: Db = None,
) -> None:
    """Check FLOW against every rule; print each problem (exit 1 when there is any)."""
    from tessera.llm.flows import load_flow, validate_flow

    source, _ = _resolve(flow, db)
    problems = validate_flow(
        source,
        allowed_code=_allowed(allow_code),
        retrieval_roots=retrieval_root or (),
        storage_roots=storage_root or (),
    )
    if problems:
        for problem in problems:
            err_console.print(f"[red]-[/] {escape(str(problem))}", highlight=False)
        err_console.print(f"[bold red]error:[/] {len(problems)} problem(s) in {escape(flow)}")
        raise typer.Exit(code=1)
    spec = load_flow(source)
    _print(f"{spec.name}: valid ({len(spec.nodes)} nodes, {len(spec.connections)} connections)")


@flows_app.command("run")
@edge
def run(
    flow: FlowArg,
    input: Annotated[
        str, typer.Option("--input", "-i", help="The flow's input as JSON, or @file.json.")
    ],
    stream: Annotated[
        bool, typer.Option("--stream", help="Print each event as it happens.")
    ] = False,
    allow_code: AllowCode = None,
    retrieval_root: RetrievalRoot = None,
    storage_root: StorageRoot = None,
    trace: Annotated[
        bool, typer.Option("--trace/--no-trace", help="Store the run as a trace.")
    ] = True,
    db: Db = None,
) -> None:
    """Run FLOW on --input and print its outputs as JSON (events too with --stream)."""
    from tessera.llm.flows import stream_flow

    source, version = _resolve(flow, db)
    _quiet_models()
    outputs: dict[str, Any] = {}
    run_id = ""
    for event in stream_flow(
        source,
        _json_input(input),
        allowed_code=_allowed(allow_code),
        retrieval_roots=retrieval_root or (),
        storage_roots=storage_root or (),
        trace=trace,
        db=db,
        flow_version=version,
    ):
        if event.kind == "flow_start":
            run_id = str(event.data.get("run_id", ""))
        if event.kind == "flow_end":
            outputs = dict(event.data.get("outputs", {}))
        if stream:
            node = f" {event.node}" if event.node else ""
            _print(f"{event.at[11:23]} {event.kind}{node} {_short(event.data)}")
    _print(json.dumps(outputs, ensure_ascii=False, indent=2, default=str))
    if trace and run_id:
        err_console.print(f"run {run_id} (tessera flows trace {run_id})", highlight=False)


@flows_app.command("batch")
@edge
def batch(
    flow: FlowArg,
    data: Annotated[Path, typer.Argument(help="A .jsonl or .csv dataset, one record per run.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the per-record table (.csv or .jsonl)."),
    ] = None,
    evaluator: Annotated[
        str,
        typer.Option(
            "--evaluator",
            "-e",
            help="exact, contains, numeric, an allow-listed 'package.module:function', or flow "
            "(the flow's Evaluation node scores; the whole record goes in).",
        ),
    ] = "exact",
    output: Annotated[
        str | None,
        typer.Option("--output", help="The Output node to score (default: the only one)."),
    ] = None,
    expected_field: Annotated[
        str, typer.Option("--expected-field", help="The field with the expected value.")
    ] = "expected",
    input_field: Annotated[
        str | None,
        typer.Option(
            "--input-field", help="The field given to the flow (default: input, or the record)."
        ),
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Absolute tolerance of 'numeric'.")
    ] = 1e-6,
    allow_code: AllowCode = None,
    retrieval_root: RetrievalRoot = None,
    storage_root: StorageRoot = None,
    db: Db = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help=SCHEDULER_HELP, show_default=False)
    ] = None,
) -> None:
    """Run FLOW on every record of DATA, score each output, print the metrics."""
    from tessera.llm.flows import run_batch

    source, version = _resolve(flow, db)
    _quiet_models()
    with console.status("running the batch") as status:
        result = run_batch(
            source,
            data,
            evaluator=evaluator,
            output=output,
            input_field=input_field,
            expected_field=expected_field,
            tolerance=tolerance,
            allowed_code=_allowed(allow_code),
            retrieval_roots=retrieval_root or (),
            storage_roots=storage_root or (),
            out=out,
            db=db,
            flow_version=version,
            progress=lambda done, total: status.update(f"record {done}/{total}"),
            scheduler=scheduler,
        )
    m = result.metrics
    table = Table(title=f"{result.flow} on {data.name}")
    for column in ("records", "passed", "accuracy", "mean score", "errors", "p50 ms", "p95 ms"):
        table.add_column(column, justify="right")
    table.add_row(
        str(m.records),
        str(m.passed),
        f"{m.accuracy:.3f}",
        f"{m.mean_score:.3f}",
        str(m.errors),
        f"{m.latency_p50_ms:.0f}",
        f"{m.latency_p95_ms:.0f}",
    )
    console.print(table)
    for record in result.records:
        if record.error is not None:
            _print(f"record {record.index}: {record.error}")
    if out is not None:
        _print(f"per-record table: {out}")


@flows_app.command("save")
@edge
def save(
    file: Annotated[Path, typer.Argument(help="The flow file to save (validated first).")],
    message: Annotated[str, typer.Option("--message", "-m", help="The version's note.")] = "",
    label: Annotated[
        str | None,
        typer.Option("--label", help="Point this label at the saved version."),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Save even under the name of a shipped example flow."),
    ] = False,
    db: Db = None,
) -> None:
    """Validate FILE and store it as the next version of its flow."""
    from tessera.llm.flows import FlowRegistry, load_flow

    name = load_flow(file).name
    if _shipped(name) is not None and not replace:
        raise InvalidInputError(
            f"name={name!r} is invalid: it is the name of a flow shipped with tessera, which "
            "a saved flow would hide from `tessera flows run NAME`. Rename the flow, or pass "
            "--replace to shadow the shipped one on purpose."
        )
    version = FlowRegistry(db).save(file, message=message, label=label)
    labels = f" ({', '.join(version.labels)})" if version.labels else ""
    _print(f"{version.name} version {version.number}{labels}")


@flows_app.command("delete")
@edge
def delete(
    name: Annotated[str, typer.Argument(help="The saved flow's name.")],
    version: Annotated[
        int | None, typer.Option("--version", help="Delete this version only.")
    ] = None,
    db: Db = None,
) -> None:
    """Delete a saved flow (every version, labels and draft), or one version of it."""
    from tessera.llm.flows import FlowRegistry

    registry = FlowRegistry(db)
    if version is None:
        registry.delete(name)
        _print(f"deleted flow {name}")
    else:
        registry.delete_version(name, version)
        _print(f"deleted {name} version {version}")


@flows_app.command("import")
@edge
def import_(
    file: Annotated[Path, typer.Argument(help="A Bedrock CreateFlow body (JSON).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the tessera flow (YAML) here.")],
    format: FormatOption = "bedrock",
    bindings: BindingsOption = None,
    bind: BindOption = None,
) -> None:
    """Translate a Bedrock flow into a tessera flow file (validate, run or save it next)."""
    from tessera.llm.bedrock import flow_from_bedrock

    if format != "bedrock":
        raise InvalidInputError(
            "format='tessera' is invalid here: tessera flow files need no import. Run or "
            "save them directly, or pass --format bedrock."
        )
    spec = flow_from_bedrock(read_json(file), bindings=bindings_of(bindings, bind))
    out.write_text(spec.to_yaml(), encoding="utf-8")
    _print(f"wrote {out} ({spec.name}: {len(spec.nodes)} nodes)")


@flows_app.command("export")
@edge
def export(
    flow: FlowArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
    format: FormatOption = "bedrock",
    bindings: BindingsOption = None,
    bind: BindOption = None,
    db: Db = None,
) -> None:
    """Write FLOW (a file, a saved NAME@VERSION or a shipped example) as a Bedrock
    CreateFlow body; its folders and functions are named through --bindings."""
    from tessera.llm.bedrock import flow_to_bedrock
    from tessera.llm.flows import load_flow

    source, _ = _resolve(flow, db)
    spec = load_flow(source)
    if format == "tessera":
        text = spec.to_yaml()
    else:
        body = flow_to_bedrock(spec, bindings=bindings_of(bindings, bind))
        text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    _print(f"wrote {out}")


@flows_app.command("versions")
@edge
def versions(name: Annotated[str, typer.Argument(help="The flow's name.")], db: Db = None) -> None:
    """List NAME's versions, oldest first, with their labels."""
    from tessera.llm.flows import FlowRegistry

    table = Table(title=name)
    for column in ("version", "created", "labels", "message"):
        table.add_column(column)
    for version in FlowRegistry(db).versions(name):
        table.add_row(
            str(version.number),
            version.created_at[:19],
            ", ".join(version.labels),
            escape(version.message),
        )
    console.print(table)


@flows_app.command("label")
@edge
def label(
    name: Annotated[str, typer.Argument(help="The flow's name.")],
    label: Annotated[str, typer.Argument(help="The label (production, staging, ...).")],
    version: Annotated[int, typer.Argument(help="The version it points at.")],
    db: Db = None,
) -> None:
    """Point LABEL of flow NAME at VERSION."""
    from tessera.llm.flows import FlowRegistry

    FlowRegistry(db).set_label(name, label, version)
    _print(f"{name}@{label} -> version {version}")


@flows_app.command("traces")
@edge
def traces(
    flow: Annotated[
        str | None, typer.Option("--flow", help="Only runs of this flow.", show_default=False)
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="succeeded, failed, cancelled or running."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most this many runs (1 to 10,000).")
    ] = 20,
    db: Db = None,
) -> None:
    """List recorded runs, newest first."""
    from tessera.llm.flows import list_traces

    found = list_traces(flow, limit=limit, status=status, db=db)  # type: ignore[arg-type]
    # One line per run, never wrapped or cut: the run id is what `tessera flows trace`
    # takes, and a table would fold it on a narrow terminal (or in a pipe).
    for t in found:
        version = "" if t.flow_version is None else f"@{t.flow_version}"
        ms = "" if t.duration_ms is None else f"  {t.duration_ms:.0f} ms"
        console.print(
            f"{t.run_id}  {escape(t.flow_name)}{version}  {t.status}  {t.started_at[:19]}"
            f"{ms}  {t.event_count} events",
            soft_wrap=True,
            highlight=False,
        )
    if not found:
        console.print("no recorded runs")


@flows_app.command("trace")
@edge
def trace(
    run_id: Annotated[str, typer.Argument(help="The run's id (from `tessera flows traces`).")],
    db: Db = None,
) -> None:
    """Print one run: its inputs, every event and its outputs."""
    from tessera.llm.flows import get_trace

    t = get_trace(run_id, db=db)
    version = "" if t.flow_version is None else f" version {t.flow_version}"
    _print(f"run {t.run_id}: {t.flow_name}{version}, {t.status}, started {t.started_at}")
    if t.error:
        _print(f"error: {t.error}")
    _print(f"inputs: {_short(t.inputs, 200)}")
    for event in t.events:
        node = f" {event.node}" if event.node else ""
        _print(f"  {event.seq:>3} {event.at[11:23]} {event.kind}{node} {_short(event.data)}")
    _print(f"outputs: {json.dumps(t.outputs, ensure_ascii=False, default=str)}")
