"""Column kinds given by a user: ``--types col=kind,...`` and YAML schema files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tessera._validation import bad_value

__all__ = ["load_constraints", "load_types", "parse_types"]


def parse_types(text: str | None) -> dict[str, str]:
    """``"a=datetime,b=identifier"`` -> ``{"a": "datetime", "b": "identifier"}``.

    A date format may follow the kind after a colon (``d=datetime:%d/%m/%Y``); commas
    inside a format are not supported (use a schema file).
    """
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, kind = item.partition("=")
        if not sep or not name.strip() or not kind.strip():
            raise bad_value(
                "--types",
                text,
                f"{item.strip()!r} is not column=kind",
                "Write e.g. --types signup=datetime,customer_id=identifier.",
            )
        out[name.strip()] = kind.strip()
    return out


def load_types(path: str | Path | None, text: str | None = None) -> dict[str, str]:
    """Kinds from a YAML (or JSON) schema file, then ``--types`` text on top.

    The file is either ``{column: kind}`` or ``{"columns": {column: kind}}``, where a
    kind is a string (``datetime``, ``datetime:%d/%m/%Y``) or a mapping
    ``{type: datetime, format: "%d/%m/%Y"}``.
    """
    import yaml

    kinds: dict[str, str] = {}
    if path is not None:
        source = Path(path)
        if not source.is_file():
            raise bad_value("--schema", str(path), "no such file", "Check the path.")
        try:
            document = yaml.safe_load(source.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise bad_value(
                "--schema", str(path), f"it is not YAML ({exc})", "Fix the file."
            ) from None
        if isinstance(document, dict) and isinstance(document.get("columns"), dict):
            document = document["columns"]
        elif isinstance(document, dict):
            document = {k: v for k, v in document.items() if k != "constraints"}
        if not isinstance(document, dict):
            raise bad_value(
                "--schema",
                str(path),
                "it must map column names to kinds",
                "Write lines like 'signup: datetime' (optionally under 'columns:').",
            )
        for name, value in document.items():
            kinds[str(name)] = _kind_text(str(name), value)
    kinds.update(parse_types(text))
    return kinds


def _kind_text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        fmt = value.get("format")
        return f"{value['type']}:{fmt}" if fmt else str(value["type"])
    raise bad_value(
        f"schema[{name!r}]",
        value,
        "a kind is a string or {type: ..., format: ...}",
        f"Write '{name}: datetime' or '{name}: {{type: datetime, format: \"%d/%m/%Y\"}}'.",
    )


def load_constraints(path: str | Path | None) -> list[str]:
    """The ``constraints:`` list of a YAML schema file (empty without a file or a list)."""
    import yaml

    if path is None:
        return []
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    rules = document.get("constraints", []) if isinstance(document, dict) else []
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise bad_value(
            "--schema constraints",
            rules,
            "it must be a list of strings",
            'Write e.g. \'constraints: ["total = price * quantity", "start <= end"]\'.',
        )
    return list(rules)
