"""``tessera guard check``: apply a guardrail to a text, from a file or the registry.

Presentation only: the work is done by :func:`tessera.llm.guard.apply_guardrail`. The exit
code tells scripts what happened: 0 nothing was blocked or anonymised, 1 the guardrail
intervened, 2 the command could not run (bad configuration, missing file, ...).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tessera.cli._app import DbOption, app, console, edge, err_console
from tessera.cli._bedrock import FormatOption, read_json
from tessera.errors import TesseraError

guard_app = typer.Typer(
    name="guard",
    help="Guardrails: sensitive information, words, denied topics, prompt attacks, grounding.",
    no_args_is_help=True,
)
app.add_typer(guard_app, name="guard")


class Side(StrEnum):
    """Which side of the model the text is on."""

    input = "input"
    output = "output"


#: Exit codes of ``tessera guard check``.
EXIT_NONE, EXIT_INTERVENED, EXIT_ERROR = 0, 1, 2


def _read(argument: str, value: str) -> str:
    if value == "-":
        return sys.stdin.read()
    return value if argument == "TEXT" else Path(value).read_text(encoding="utf-8")


def _config(config: Path | None, guardrail: str | None, db: Path | None = None) -> Any:
    from tessera.errors import InvalidInputError
    from tessera.llm.guard import GuardrailConfig, load_guardrail

    if (config is None) == (guardrail is None):
        raise InvalidInputError(
            f"--config={config!s} --guardrail={guardrail!s}: give exactly one of them. Pass "
            "--config guard.yaml (a file) or --guardrail NAME@label (from the registry)."
        )
    if config is not None:
        return GuardrailConfig.load(config)
    return load_guardrail(str(guardrail), db=db)


def _print(result: Any) -> None:
    colour = "red" if result.action == "INTERVENED" else "green"
    console.print(f"[bold {colour}]{result.action}[/] ({result.source})")
    console.print(escape(result.text), highlight=False, soft_wrap=True)
    if not result.findings:
        return
    table = Table()
    for column in ("policy", "type", "action", "span", "match", "score / threshold"):
        table.add_column(column, overflow="fold")
    for f in result.findings:
        span = f"{f.start}-{f.end}" if f.start is not None else ""
        score = "" if f.score is None else f"{f.score:.3f} / {f.threshold}"
        if f.confidence is not None:
            score += f" ({f.confidence})"
        table.add_row(f.policy, f.type, f.action, span, escape(f.match or ""), score)
    console.print(table)


@guard_app.command("check")
def check(
    text: Annotated[
        str, typer.Argument(metavar="TEXT", help="The text to check, or - to read it from stdin.")
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="A guardrail YAML or JSON file.", show_default=False),
    ] = None,
    guardrail: Annotated[
        str | None,
        typer.Option(
            "--guardrail",
            "-g",
            help="A saved guardrail: NAME, NAME@3, NAME@production.",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        Side, typer.Option("--source", "-s", help="input (a user's prompt) or output (a reply).")
    ] = Side.input,
    grounding_source: Annotated[
        Path | None,
        typer.Option(
            "--grounding-source",
            help="A file with the reference the output must be grounded in.",
            show_default=False,
        ),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            "--query", "-q", help="The question the output answers (relevance).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Apply a guardrail to TEXT; exit 0 (none), 1 (intervened) or 2 (error)."""
    from tessera.llm.guard import apply_guardrail

    try:
        guard = _config(config, guardrail, db)
        body = _read("TEXT", text)
        reference = _read("--grounding-source", str(grounding_source)) if grounding_source else None
        result = apply_guardrail(
            guard, body, source=source.value, grounding_source=reference, query=query
        )
    except (TesseraError, OSError, ValueError) as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(code=EXIT_ERROR) from None
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
    else:
        _print(result)
    raise typer.Exit(code=EXIT_INTERVENED if result.action == "INTERVENED" else EXIT_NONE)


@guard_app.command("import")
@edge
def import_(
    file: Annotated[Path, typer.Argument(help="A guardrail file (YAML/JSON, or Bedrock JSON).")],
    format: FormatOption = "tessera",
    db: DbOption = None,
) -> None:
    """Save a guardrail file as the next version of the guardrail it names; with --format
    bedrock, a CreateGuardrail body."""
    if format == "bedrock":
        from tessera.llm.bedrock import import_guardrail

        version = import_guardrail(read_json(file), db=db)
    else:
        from tessera.llm.guard import GuardrailConfig, save_guardrail

        config = GuardrailConfig.load(file)
        version = save_guardrail(config.name, config, message=f"imported {file.name}", db=db)
    console.print(
        f"saved guardrail {escape(version.name)} version {version.number}", highlight=False
    )


@guard_app.command("export")
@edge
def export(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@3, NAME@label or NAME@draft.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
    format: FormatOption = "tessera",
    db: DbOption = None,
) -> None:
    """Print a stored guardrail as YAML; with --format bedrock, as a CreateGuardrail body."""
    if format == "bedrock":
        from tessera.llm.bedrock import export_guardrail

        text = json.dumps(export_guardrail(ref, db=db), indent=2, ensure_ascii=False) + "\n"
    else:
        from tessera.llm.guard import load_guardrail

        text = load_guardrail(ref, db=db).to_yaml()
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(out))}", highlight=False)


@guard_app.command("save")
@edge
def save(
    name: Annotated[str, typer.Argument(help="The guardrail's name in the registry.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="A guardrail YAML or JSON file.")],
    label: Annotated[
        str | None,
        typer.Option(
            "--label", "-l", help="Point this label at the new version.", show_default=False
        ),
    ] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="What changed.")] = "",
    db: DbOption = None,
) -> None:
    """Validate a guardrail file and commit it as the next version of NAME."""
    from tessera.llm.guard import GuardrailConfig, save_guardrail

    version = save_guardrail(
        name, GuardrailConfig.load(config), message=message, label=label, db=db
    )
    labels = ", ".join(version.labels)
    console.print(
        f"saved guardrail {escape(name)} version {version.number} ({escape(labels)})",
        highlight=False,
    )


@guard_app.command("label")
@edge
def label(
    name: Annotated[str, typer.Argument(help="The guardrail's name.")],
    label: Annotated[str, typer.Argument(help="The label to point (production, staging, ...).")],
    version: Annotated[
        int | None,
        typer.Option(
            "--version", "-v", help="The version (default: the latest).", show_default=False
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Point LABEL of guardrail NAME at a version, so NAME@LABEL loads it."""
    from tessera.llm.guard import set_label

    pointed = set_label(name, label, version, db=db)
    console.print(f"{escape(name)}@{escape(label)} -> version {pointed.number}", highlight=False)


@guard_app.command("list")
@edge
def list_(db: DbOption = None) -> None:
    """List the stored guardrails with their latest version and labels."""
    from tessera.llm.guard import guardrail_versions, list_guardrails

    table = Table()
    for column in ("name", "versions", "labels"):
        table.add_column(column, overflow="fold")
    for name in list_guardrails(db=db):
        versions = guardrail_versions(name, db=db)
        labels = ", ".join(f"{lab}={v.number}" for v in versions for lab in v.labels)
        table.add_row(escape(name), str(len(versions)), escape(labels))
    console.print(table)


@guard_app.command("show")
@edge
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@3, NAME@label or NAME@draft.")],
    db: DbOption = None,
) -> None:
    """Print a stored guardrail's configuration as YAML."""
    from tessera.llm.guard import load_guardrail

    typer.echo(load_guardrail(ref, db=db).to_yaml(), nl=False)


@guard_app.command("versions")
@edge
def versions(
    name: Annotated[str, typer.Argument(help="The guardrail's name.")],
    db: DbOption = None,
) -> None:
    """List the versions of guardrail NAME, oldest first, with their labels and messages."""
    from tessera.llm.guard import guardrail_versions

    table = Table()
    for column in ("version", "created", "labels", "message"):
        table.add_column(column, overflow="fold")
    for version in guardrail_versions(name, db=db):
        table.add_row(
            str(version.number),
            version.created_at,
            escape(", ".join(version.labels)),
            escape(version.message),
        )
    console.print(table)
