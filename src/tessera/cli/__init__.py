"""The ``tessera`` command line: a thin typer layer over the library.

Each part registers its commands in its own module here; no logic lives in
the CLI beyond reading arguments, calling the library and printing.
"""

from __future__ import annotations

from tessera.cli._app import app, main

__all__ = ["app", "main"]
