"""The root typer application, shared options and the error edge."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from tessera import __version__
from tessera.errors import TesseraError

app = typer.Typer(
    name="tessera",
    help="Tessera: optimal assignment, distribution-preserving splits and more.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

#: The ``--db`` option of the commands that keep state (prompts, flows, keys, serve).
DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="The tessera database (default: $TESSERA_HOME/tessera.db).",
        show_default=False,
    ),
]


def edge(func: F) -> F:
    """Turn library and file errors into one red line on stderr and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (TesseraError, OSError, ValueError) as exc:
            # escape(): messages hold lists like [Ann, Bob] that rich would read as markup.
            message = escape(str(exc))
            err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        console.print(f"tessera {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Tessera: applied machine-learning tools you can rely on."""


def main() -> None:
    """Entry point of the ``tessera`` console script."""
    # Import the command modules for their registrations.
    from tessera.cli import (  # noqa: F401
        _assign,
        _assign_batch,
        _demo,
        _flows,
        _guard,
        _llm,
        _prompts,
        _serve,
        _split,
        _synth,
        _tune,
    )

    app(prog_name="tessera")
    sys.exit(0)
