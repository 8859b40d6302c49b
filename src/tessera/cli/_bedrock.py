"""Options shared by the ``--format bedrock`` imports and exports (prompts, guardrails, flows).

Presentation only: the translation is :mod:`tessera.llm.bedrock`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

__all__ = ["BindOption", "BindingsOption", "FormatOption", "bindings_of", "read_json"]

FormatOption = Annotated[
    Literal["tessera", "bedrock"],
    typer.Option(
        "--format",
        "-f",
        help="tessera: tessera's YAML export. bedrock: Amazon Bedrock's JSON (one object).",
    ),
]
BindingsOption = Annotated[
    Path | None,
    typer.Option(
        "--bindings",
        help="A YAML/JSON bindings file mapping Bedrock names to local ones (models, "
        "knowledge_bases, s3, lambdas); see the how-to 'Run a Bedrock app on Tessera'.",
        show_default=False,
    ),
]
BindOption = Annotated[
    list[str] | None,
    typer.Option(
        "--bind",
        help="MODEL_ID=LOCAL_MODEL, a model binding added to --bindings; repeat for more.",
        show_default=False,
    ),
]


def bindings_of(file: Path | None, binds: list[str] | None) -> Any:
    """The bindings of ``--bindings FILE`` plus ``--bind MODEL_ID=MODEL`` options."""
    from dataclasses import replace

    from tessera._validation import bad_value
    from tessera.llm.bedrock import load_bindings

    bindings = load_bindings(file)
    models = dict(bindings.models)
    for value in binds or ():
        model_id, sep, model = value.rpartition("=")
        if not sep or not model_id or not model:
            raise bad_value(
                "--bind",
                value,
                "it reads MODEL_ID=LOCAL_MODEL",
                "Pass e.g. --bind amazon.titan-text-express-v1=tessera.",
            )
        models[model_id] = model
    return replace(bindings, models=models)


def read_json(file: Path) -> Any:
    """A JSON file's value; an error naming the file and where it is not JSON."""
    from tessera._validation import bad_value

    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise bad_value(
            "file", str(file), f"it cannot be read ({exc.strerror})", "Pass an existing file."
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_value(
            "file", str(file), f"it is not JSON ({exc})", "Pass Bedrock's JSON (one object)."
        ) from None
