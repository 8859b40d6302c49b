"""``tessera synth``: generate a table from a spec, fit a copula, sample from it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from tessera.cli._app import app, console, edge

synth_app = typer.Typer(
    name="synth",
    help="Synthetic data: generate from a spec, fit a Gaussian copula, sample from it.",
    no_args_is_help=True,
)
app.add_typer(synth_app, name="synth")

Rows = Annotated[int | None, typer.Option("--rows", "-n", help="Number of rows to write.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv or .parquet.")]
Seed = Annotated[int | None, typer.Option(help="Master seed (each chunk's seed derives from it).")]
ChunkSize = Annotated[int, typer.Option(help="Rows per chunk (bounds memory).")]
Workers = Annotated[int, typer.Option(help="Processes generating chunks in parallel.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run on Dask and write --out as a folder of Parquet files (one per partition): "
        "'local' (--workers processes here) or a scheduler's address (tcp://host:port). "
        "Needs the dask extra.",
    ),
]


@contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("rows", total=total)
        yield lambda rows: progress.advance(task, rows)


@synth_app.command("generate")
@edge
def generate(
    spec: Annotated[Path, typer.Argument(help="Table spec: .yaml, .yml or .json.")],
    out: Out,
    rows: Rows = None,
    seed: Seed = None,
    chunk_size: ChunkSize = 100_000,
    workers: Workers = 1,
    quiet: Quiet = False,
    scheduler: Scheduler = None,
) -> None:
    """Generate the table a spec describes, streamed in chunks to CSV or Parquet."""
    from tessera.synth import generate_table, load_spec

    table_spec = load_spec(spec)
    total = table_spec.rows if rows is None else rows
    if scheduler is not None:
        from tessera.synth._dask import generate_dask, write_parquet

        frame = generate_dask(table_spec, rows, seed=seed, block_rows=chunk_size)
        write_parquet(frame, out, scheduler=scheduler, n_workers=workers)
        console.print(f"wrote {total:,} rows to {out} (Parquet, on Dask)", highlight=False)
        return
    with _progress(total or 0, quiet) as advance:
        written = generate_table(
            table_spec,
            rows,
            out,
            chunk_size=chunk_size,
            seed=seed,
            workers=workers,
            on_chunk=advance,
        )
    console.print(f"wrote {total:,} rows to {written}", highlight=False)


Types = Annotated[
    str | None,
    typer.Option(
        "--types",
        help="Column kinds that override the detected ones: col=datetime,id=identifier "
        "(numeric, integer, category, boolean, datetime[:FORMAT], text, identifier).",
    ),
]
Schema = Annotated[
    Path | None,
    typer.Option("--schema", help="YAML file of column kinds ({column: kind}); --types wins."),
]


@synth_app.command("fit")
@edge
def fit(
    data: Annotated[
        Path, typer.Argument(help="Real table: .csv, .tsv, .parquet, .xlsx or .jsonl.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file (.json).")],
    max_discrete: Annotated[
        int, typer.Option(help="Numeric columns with at most this many values are discrete.")
    ] = 20,
    types: Types = None,
    schema: Schema = None,
    identifiers: Annotated[
        str,
        typer.Option(help="Identifier columns: regenerate (new keys), drop, or keep (real)."),
    ] = "regenerate",
    text: Annotated[str, typer.Option(help="Free-text columns: generate (lorem) or drop.")] = (
        "generate"
    ),
    constraint: Annotated[
        list[str] | None,
        typer.Option(
            "--constraint",
            help="A rule every sampled row keeps exactly: 'total = price * quantity' or "
            "'start <= end' (repeat the option; also 'constraints:' in the schema).",
        ),
    ] = None,
    privacy: Annotated[
        bool,
        typer.Option(
            "--privacy",
            help="Privacy mode: no value in the model stands for fewer than 10 rows "
            "(binned quantiles, rare values left out).",
        ),
    ] = False,
) -> None:
    """Fit a Gaussian copula to a table and save it as JSON; print the column kinds."""
    from tessera._tables import load_constraints, load_types, read_table
    from tessera.synth import GaussianCopula

    frame = read_table(data)
    given = load_types(schema, types) or None
    rules = load_constraints(schema) + list(constraint or [])
    model = GaussianCopula(
        max_discrete=max_discrete,
        types=given,
        identifiers=identifiers,
        text=text,
        constraints=rules or None,
        privacy=privacy,
    ).fit(frame)
    model.save(out)
    console.print("column kinds (override with --types col=kind or --schema):", highlight=False)
    for line in model.types_.lines():
        console.print(f"  {line}", highlight=False, markup=False)
    for rule in rules:
        console.print(f"  constraint kept exactly: {rule}", highlight=False, markup=False)
    console.print(
        f"fitted {frame.shape[1]} columns on {frame.shape[0]:,} rows; model in {out}",
        highlight=False,
    )


@synth_app.command("sample")
@edge
def sample(
    model: Annotated[Path, typer.Argument(help="A model written by 'tessera synth fit'.")],
    out: Out,
    rows: Annotated[int, typer.Option("--rows", "-n", help="Number of rows to write.")],
    seed: Seed = None,
    chunk_size: ChunkSize = 100_000,
    workers: Workers = 1,
    quiet: Quiet = False,
    scheduler: Scheduler = None,
) -> None:
    """Sample rows from a saved copula, streamed in chunks to CSV or Parquet."""
    import json

    from tessera.synth import GaussianCopula, write_chunks
    from tessera.synth._stream import model_writer

    fitted = GaussianCopula.load(model)  # validates the file once
    if scheduler is not None:
        from tessera.synth._dask import write_parquet

        frame = fitted.sample_dask(rows, random_state=seed, block_rows=chunk_size)
        write_parquet(frame, out, scheduler=scheduler, n_workers=workers)
        console.print(f"wrote {rows:,} rows to {out} (Parquet, on Dask)", highlight=False)
        return
    document = fitted.to_dict()
    formats = fitted.types_.date_formats() if fitted.types_ is not None else {}
    with _progress(rows, quiet) as advance:
        write_chunks(
            model_writer(json.loads(json.dumps(document))),
            rows,
            out,
            chunk_size=chunk_size,
            seed=seed,
            workers=workers,
            on_chunk=advance,
            date_formats=formats,
        )
    console.print(f"wrote {rows:,} rows to {out}", highlight=False)
