"""``tessera prompts``: the versioned prompt registry from the terminal.

Presentation only: :class:`tessera.llm.prompts.PromptRegistry` does the work. A prompt file
is YAML: the prompt body (``type``, ``text`` or ``system`` + ``messages``, ``variables``,
``variants``, ``default_variant``) plus optional ``name``, ``description`` and ``tags``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from tessera.cli._app import DbOption, app, console, edge
from tessera.cli._bedrock import BindingsOption, BindOption, FormatOption, bindings_of, read_json
from tessera.errors import InvalidInputError

prompts_app = typer.Typer(
    name="prompts",
    help="Versioned prompts: create, commit, label, render, diff, run, export.",
    no_args_is_help=True,
)
app.add_typer(prompts_app, name="prompts")

#: Keys of a prompt file that describe the prompt rather than belong to its body.
_META = ("name", "description", "tags")

Db = DbOption
BaseRevision = Annotated[
    int | None,
    typer.Option(
        "--base-revision",
        help="The draft revision you read (tessera prompts show NAME@draft): refuse the "
        "change if someone changed the draft since.",
        show_default=False,
    ),
]
Vars = Annotated[
    list[str] | None,
    typer.Option("--var", help="A variable as NAME=VALUE; repeat for more.", show_default=False),
]
VarsFile = Annotated[
    Path | None,
    typer.Option("--vars", help="A JSON file of variables (--var wins).", show_default=False),
]


def _registry(db: Path | None) -> Any:
    from tessera.llm.prompts import PromptRegistry

    return PromptRegistry(db=db)


def _read_prompt_file(file: Path, name: str | None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(name, body, metadata) from a prompt YAML file."""
    from tessera.llm.prompts._diff import load_yaml

    data = load_yaml(file.read_text(encoding="utf-8"), str(file))
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            f"{file}: the file holds {type(data).__name__}, not a mapping. Write the prompt "
            f"as YAML keys: name, type, text (or system and messages), variables, variants."
        )
    meta = {k: data[k] for k in _META if k in data}
    body = {k: v for k, v in data.items() if k not in _META}
    chosen = name or meta.get("name")
    if not chosen:
        raise InvalidInputError(
            f"{file}: no prompt name. Add 'name: my-prompt' to the file or pass --name."
        )
    if name and meta.get("name") not in (None, name):
        raise InvalidInputError(
            f"--name={name!r} differs from name={meta['name']!r} in {file}. Use one of them."
        )
    return str(chosen), body, meta


def _variables(pairs: list[str] | None, file: Path | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f'--vars={str(file)!r} is not valid JSON: {exc}. Write {{"name": "value"}}.'
            ) from None
        if not isinstance(loaded, dict):
            raise InvalidInputError(
                f"--vars={str(file)!r}: the file holds {type(loaded).__name__}, not a JSON "
                f'object. Write {{"name": "value"}}.'
            )
        values.update(loaded)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInputError(
                f"--var={pair!r} is invalid: write NAME=VALUE, e.g. --var ticket='It leaks'."
            )
        values[key] = value
    return values


def _label_text(labels: Mapping[str, int] | tuple[str, ...]) -> str:
    if isinstance(labels, Mapping):
        return ", ".join(f"{k}→{v}" for k, v in labels.items())
    return ", ".join(labels)


@prompts_app.command("create")
@edge
def create(
    file: Annotated[Path, typer.Argument(help="A prompt YAML file.")],
    name: Annotated[str | None, typer.Option(help="The name (default: the file's).")] = None,
    db: Db = None,
) -> None:
    """Create a prompt from FILE (its draft; commit it to make version 1)."""
    chosen, body, meta = _read_prompt_file(file, name)
    draft = _registry(db).create(
        chosen, body, description=meta.get("description", ""), tags=meta.get("tags", ())
    )
    console.print(
        f"created {escape(draft.name)} (draft revision {draft.revision}); commit it with: "
        f"tessera prompts commit {escape(draft.name)} -m '...'",
        highlight=False,
    )


@prompts_app.command("edit")
@edge
def edit(
    file: Annotated[Path, typer.Argument(help="A prompt YAML file.")],
    name: Annotated[str | None, typer.Option(help="The name (default: the file's).")] = None,
    base_revision: BaseRevision = None,
    db: Db = None,
) -> None:
    """Replace a prompt's draft (and its description and tags, when FILE has them)."""
    chosen, body, meta = _read_prompt_file(file, name)
    registry = _registry(db)
    draft = registry.update_draft(chosen, body, base_revision=base_revision)
    if "description" in meta:
        registry.set_description(chosen, meta["description"])
    if "tags" in meta:
        registry.set_tags(chosen, meta["tags"])
    console.print(
        f"updated the draft of {escape(chosen)} (revision {draft.revision})", highlight=False
    )


@prompts_app.command("commit")
@edge
def commit(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What changed.")] = "",
    base_revision: BaseRevision = None,
    db: Db = None,
) -> None:
    """Snapshot NAME's draft as its next version.

    With --base-revision the version holds exactly that draft revision, or nothing is
    committed (someone changed the draft since you read it).
    """
    version = _registry(db).commit(name, message, base_revision=base_revision)
    console.print(f"{escape(name)}@{version.number} committed", highlight=False)


@prompts_app.command("show")
@edge
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@3, NAME@production or NAME@draft.")],
    db: Db = None,
) -> None:
    """Print a prompt version (or the draft) as YAML, with its details."""
    from tessera.llm._versioned import Draft
    from tessera.llm.prompts._diff import to_yaml

    registry = _registry(db)
    found = registry.resolve(ref)
    draft = registry.draft(found.name)
    table = Table(show_header=False, box=None)
    table.add_row("name", escape(found.name))
    if isinstance(found, Draft):
        table.add_row("version", "draft")
        table.add_row("revision", str(found.revision))
        table.add_row("updated", found.updated_at)
    else:
        table.add_row("version", str(found.number))
        table.add_row("labels", escape(_label_text(found.labels)))
        table.add_row("message", escape(found.message))
        table.add_row("created", found.created_at)
    table.add_row("description", escape(draft.description))
    table.add_row("tags", escape(", ".join(draft.tags)))
    console.print(table)
    console.print(Syntax(to_yaml(found.body), "yaml", theme="ansi_dark", word_wrap=True))


@prompts_app.command("list")
@edge
def list_(db: Db = None) -> None:
    """List the prompts: latest version, labels, tags, description."""
    registry = _registry(db)
    table = Table("name", "latest", "labels", "tags", "description")
    for name in registry.names():
        labels = registry.labels(name)
        draft = registry.draft(name)
        others = {k: v for k, v in labels.items() if k != "latest"}
        table.add_row(
            escape(name),
            str(labels.get("latest", "draft only")),
            escape(_label_text(others)),
            escape(", ".join(draft.tags)),
            escape(draft.description),
        )
    console.print(table)


@prompts_app.command("versions")
@edge
def versions(name: Annotated[str, typer.Argument(help="The prompt.")], db: Db = None) -> None:
    """List NAME's versions with their labels and messages."""
    table = Table("version", "labels", "created", "message")
    for version in _registry(db).versions(name):
        table.add_row(
            str(version.number),
            escape(_label_text(version.labels)),
            version.created_at,
            escape(version.message),
        )
    console.print(table)


@prompts_app.command("label")
@edge
def label(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    label: Annotated[str, typer.Argument(help="The label, e.g. production.")],
    version: Annotated[int, typer.Argument(help="The version it points at.")],
    db: Db = None,
) -> None:
    """Point LABEL of NAME at VERSION (moving it if it pointed elsewhere)."""
    _registry(db).set_label(name, label, version)
    console.print(f"{escape(name)}@{escape(label)} → {version}", highlight=False)


@prompts_app.command("unlabel")
@edge
def unlabel(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    label: Annotated[str, typer.Argument(help="The label to remove.")],
    db: Db = None,
) -> None:
    """Remove LABEL from NAME (the version stays)."""
    _registry(db).delete_label(name, label)
    console.print(f"removed {escape(name)}@{escape(label)}", highlight=False)


@prompts_app.command("delete")
@edge
def delete(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    version: Annotated[
        int | None, typer.Option("--version", help="Delete only this version.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also delete labels pointing at what goes.")
    ] = False,
    db: Db = None,
) -> None:
    """Delete a version of NAME, or (without --version) the whole prompt."""
    registry = _registry(db)
    if version is not None:
        registry.delete_version(name, version, force=force)
        console.print(f"deleted {escape(name)}@{version}", highlight=False)
        return
    labels = {k: v for k, v in registry.labels(name).items() if k != "latest"}
    if labels and not force:
        raise InvalidInputError(
            f"name={name!r}: labels {', '.join(labels)} still point at its versions. Pass "
            f"--force to delete the prompt with them, or remove them with 'unlabel'."
        )
    registry.delete(name)
    console.print(f"deleted {escape(name)} (its version numbers stay retired)", highlight=False)


@prompts_app.command("render")
@edge
def render(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@3, NAME@production or NAME@draft.")],
    var: Vars = None,
    vars_file: VarsFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: Db = None,
) -> None:
    """Render REF with variables: its text, or its chat messages."""
    rendered = _registry(db).render(ref, _variables(var, vars_file))
    if as_json:
        typer.echo(json.dumps(rendered, ensure_ascii=False, indent=2))
    elif isinstance(rendered, str):
        typer.echo(rendered)
    else:
        for message in rendered:
            console.rule(f"[bold]{message['role']}[/]", align="left")
            console.print(message["content"], markup=False, highlight=False)


@prompts_app.command("diff")
@edge
def diff(
    ref_a: Annotated[str, typer.Argument(help="The old side, e.g. NAME@1.")],
    ref_b: Annotated[str, typer.Argument(help="The new side, e.g. NAME@2 or NAME@draft.")],
    db: Db = None,
) -> None:
    """Compare two prompt versions: a unified diff of their YAML and the changed fields."""
    result = _registry(db).diff(ref_a, ref_b)
    if result.identical:
        console.print(f"{escape(ref_a)} and {escape(ref_b)} are identical", highlight=False)
        return
    console.print(Syntax(result.unified, "diff", theme="ansi_dark", word_wrap=True))
    table = Table("field", "change", "before", "after")
    for change in result.changes:
        table.add_row(
            escape(change.path),
            change.change,
            "" if change.change == "added" else escape(repr(change.before)),
            "" if change.change == "removed" else escape(repr(change.after)),
        )
    console.print(table)


@prompts_app.command("run")
@edge
def run(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@3, NAME@production or NAME@draft.")],
    var: Vars = None,
    vars_file: VarsFile = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant", help="Run only this variant; repeat for more.", show_default=False
        ),
    ] = None,
    db: Db = None,
) -> None:
    """Run REF on its variants side by side and show each answer with its timing."""
    from tessera.cli._llm import _quiet_transformers
    from tessera.errors import MissingExtraError

    try:
        _quiet_transformers()
    except MissingExtraError:
        pass  # variants on HTTP endpoints need no transformers
    runs = _registry(db).run(ref, _variables(var, vars_file), variant)
    table = Table("variant", "model", "seconds", "tokens in/out", "finish", "text")
    for result in runs:
        table.add_row(
            escape(result.variant),
            escape(result.model),
            f"{result.seconds:.2f}",
            f"{result.prompt_tokens}/{result.completion_tokens}",
            result.finish_reason,
            escape(result.text if result.error is None else f"error: {result.error}"),
        )
    console.print(table)


@prompts_app.command("export")
@edge
def export(
    names: Annotated[
        list[str] | None, typer.Argument(help="Prompts to export (default: all).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
    format: FormatOption = "tessera",
    db: Db = None,
) -> None:
    """Export prompts (versions, labels, tags, drafts) as YAML, for review in git; with
    --format bedrock, one prompt (NAME, NAME@3, NAME@draft) as a CreatePrompt body."""
    if format == "bedrock":
        from tessera.llm.bedrock import export_prompt

        if not names or len(names) != 1:
            raise InvalidInputError(
                f"names={names!r} is invalid: --format bedrock exports one prompt. Pass one "
                "NAME (or NAME@VERSION)."
            )
        text = json.dumps(export_prompt(names[0], db=db), indent=2, ensure_ascii=False) + "\n"
    else:
        text = _registry(db).export_yaml(names or None)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(out))}", highlight=False)


@prompts_app.command("import")
@edge
def import_(
    file: Annotated[Path, typer.Argument(help="A file written by 'tessera prompts export'.")],
    format: FormatOption = "tessera",
    bindings: BindingsOption = None,
    bind: BindOption = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="bedrock: replace the draft of an existing prompt.")
    ] = False,
    db: Db = None,
) -> None:
    """Import an export (all or nothing; names must be new); with --format bedrock, a
    CreatePrompt body as a draft (its modelIds bound with --bindings or --bind)."""
    if format == "bedrock":
        from tessera.llm.bedrock import import_prompt

        draft = import_prompt(
            read_json(file), db=db, bindings=bindings_of(bindings, bind), replace=replace
        )
        console.print(f"imported prompt {escape(draft.name)} (draft)", highlight=False)
        return
    names = _registry(db).import_yaml(file.read_text(encoding="utf-8"))
    console.print(f"imported {len(names)} prompt(s): {escape(', '.join(names))}", highlight=False)
