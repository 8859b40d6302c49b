"""``tessera split``: split a table file into parts that look alike, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tessera.cli._app import app, console, edge


def _sizes(text: str) -> list[float]:
    from tessera._validation import bad_value

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise bad_value(
            "--sizes", text, "it must be comma-separated numbers", "Pass e.g. --sizes 60,20,20."
        ) from None
    if abs(sum(values) - 100.0) < 1e-6:
        return [v / 100.0 for v in values]
    return values


@app.command()
@edge
def split(
    data: Annotated[
        Path, typer.Argument(help="Table to split: .csv, .tsv, .parquet, .xlsx or .jsonl.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the parts and report.html.")],
    target: Annotated[str | None, typer.Option(help="Target column (kept balanced).")] = None,
    sizes: Annotated[
        str, typer.Option(help="Part sizes: percentages, fractions or row counts.")
    ] = "60,20,20",
    method: Annotated[
        str, typer.Option(help="auto, random, stratified, cluster or twin.")
    ] = "auto",
    id_column: Annotated[
        list[str] | None,
        typer.Option("--id", help="Identifier column (kept with its row, out of the distance)."),
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Group column: rows of one group stay together.")
    ] = None,
    strata: Annotated[str | None, typer.Option(help="Column whose proportions are kept.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same split).")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or parquet (default: as the input).")
    ] = None,
    types: Annotated[
        str | None,
        typer.Option(
            "--types",
            help="Column kinds that override the detected ones: col=datetime,id=identifier "
            "(numeric, integer, category, boolean, datetime[:FORMAT], text, identifier).",
        ),
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option("--schema", help="YAML file of column kinds ({column: kind}); --types wins."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Split out of core on Dask: DATA is a Parquet dataset (folder), each part a "
            "folder of Parquet files under --out. 'local' (worker processes here) or a "
            "scheduler's address (tcp://host:port). Needs the dask extra.",
        ),
    ] = None,
) -> None:
    """Split DATA into train/val/test files that share one distribution, and write a report."""
    from tessera._tables import infer_types, load_types, read_table, write_table
    from tessera._validation import check_in
    from tessera.split import split_report, train_val_test_split

    fractions = _sizes(sizes)
    if scheduler is not None:
        _split_on_dask(
            data,
            out,
            scheduler,
            fractions,
            method,
            target,
            group,
            strata,
            seed,
            id_column,
            load_types(schema, types),
        )
        return
    kind = fmt or ("parquet" if data.suffix.lower() == ".parquet" else "csv")
    check_in("--format", kind, ("csv", "parquet"))
    table = read_table(data)
    given = load_types(schema, types)
    for name in id_column or ():
        given.setdefault(name, "identifier")
    if group is not None:
        given.setdefault(group, "category")
    kinds = infer_types(table, given)
    parts = train_val_test_split(
        table,
        sizes=fractions,
        method=method,
        target=target,
        groups=group,
        strata=strata,
        random_state=seed,
        id_columns=tuple(id_column or ()),
        types=given,
    )
    console.print("column kinds (override with --types col=kind or --schema):", highlight=False)
    for line in kinds.lines():
        console.print(f"  {line}", highlight=False, markup=False)
    names = {2: ["train", "test"], 3: ["train", "val", "test"]}.get(
        len(parts), [f"part{i + 1}" for i in range(len(parts))]
    )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, part in zip(names, parts, strict=True):
        written.append(write_table(part, out / f"{name}.{kind}"))
    report = split_report(
        dict(zip(names, parts, strict=True)),
        target=target,
        id_columns=tuple(id_column or ()),
        groups=group,
        types=given,
    )
    written.append(report.write_html(out / "report.html"))
    report.print(console)
    for path in written:
        console.print(f"Wrote [bold]{path}[/]", highlight=False)


def _split_on_dask(
    data: Path,
    out: Path,
    scheduler: str,
    fractions: list[float],
    method: str,
    target: str | None,
    group: str | None,
    strata: str | None,
    seed: int | None,
    id_column: list[str] | None,
    given: dict[str, str],
) -> None:
    from tessera.split import split_dataset

    result = split_dataset(
        data,
        out,
        sizes=fractions,
        method=method,
        target=target,
        groups=group,
        strata=strata,
        random_state=0 if seed is None else seed,
        id_columns=tuple(id_column or ()),
        types=given or None,
        scheduler=scheduler,
    )
    result.report.print(console)
    for name, path in result.paths.items():
        console.print(f"Wrote [bold]{path}[/] ({result.sizes[name]:,} rows)", highlight=False)
