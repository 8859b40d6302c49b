"""``tessera demo``: the tour of every part on embedded defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tessera.cli._app import app, console, edge


@app.command()
@edge
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the HTML page and its pictures.")
    ] = Path("out/demo"),
) -> None:
    """Tour every part of Tessera and write a self-contained HTML page."""
    from tessera.demo import run_demo

    try:  # no per-file progress bars from transformers while the llm sections load models
        from transformers.utils import logging as hf_logging
    except ImportError:  # the llm extra is absent: those sections say so themselves
        pass
    else:
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    page = run_demo(out, console=console)
    console.print(f"\nWrote [bold]{page}[/]")
