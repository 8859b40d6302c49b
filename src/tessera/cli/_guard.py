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


def _config(config: Path | None, guardrail: str | None) -> Any:
    from tessera.errors import InvalidInputError
    from tessera.llm.guard import GuardrailConfig, load_guardrail

    if (config is None) == (guardrail is None):
        raise InvalidInputError(
            f"--config={config!s} --guardrail={guardrail!s}: give exactly one of them. Pass "
            "--config guard.yaml (a file) or --guardrail NAME@label (from the registry)."
        )
    if config is not None:
        return GuardrailConfig.load(config)
    return load_guardrail(str(guardrail))


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
) -> None:
    """Apply a guardrail to TEXT; exit 0 (none), 1 (intervened) or 2 (error)."""
    from tessera.llm.guard import apply_guardrail

    try:
        guard = _config(config, guardrail)
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
