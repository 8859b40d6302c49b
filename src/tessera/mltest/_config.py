"""Validate YAML/JSON config files against a pydantic model or a JSON Schema, with line numbers."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tessera._validation import bad_value
from tessera.errors import InvalidInputError, MissingExtraError
from tessera.mltest._config_lines import line_of, yaml_tree
from tessera.mltest._failure import MLTestFailure, recorded

__all__ = ["validate_config"]

_SUFFIXES = (".yaml", ".yml", ".json")


def _load(path: Path) -> tuple[Any, Any]:
    """The parsed data and its YAML node tree (for line numbers; JSON is read as YAML too)."""
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise _syntax_failure(path, exc.lineno, exc.msg) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise _syntax_failure(path, line, str(exc.problem or exc)) from None
    return data, yaml_tree(text)


def _syntax_failure(path: Path, line: int, problem: str) -> MLTestFailure:
    return MLTestFailure(
        "validate_config",
        expected=f"{path.name} to parse as {'JSON' if path.suffix == '.json' else 'YAML'}",
        measured=f"a syntax error: {problem}",
        where=f"{path}:{line}",
        details={"errors": [(line, (), problem)]},
    )


def _model_errors(data: Any, model: type) -> tuple[Any, list[tuple[tuple[Any, ...], str]]]:
    import pydantic

    errors: list[tuple[tuple[Any, ...], str]] = list(_unknown_keys(data, model, ()))
    result = None
    try:
        result = model.model_validate(data)  # type: ignore[attr-defined]
    except pydantic.ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key (not in the model)"
            elif error["type"] != "missing" and "input" in error:
                message += f" (got {error['input']!r})"
            errors.append((loc, message))
    return result, errors


def _forbids_or_allows(model: type) -> bool:
    return getattr(model, "model_config", {}).get("extra") in ("forbid", "allow")


def _unknown_keys(
    data: Any, annotation: Any, loc: tuple[Any, ...]
) -> typing.Iterator[tuple[tuple[Any, ...], str]]:
    """Keys the model would silently ignore (extra='ignore' is pydantic's default)."""
    import pydantic

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if _is_model(a)]
        others = [
            a for a in typing.get_args(annotation) if not _is_model(a) and a is not type(None)
        ]
        if len(models) == 1 and not others:
            yield from _unknown_keys(data, models[0], loc)
        return
    if origin in (list, tuple, set, frozenset) and isinstance(data, list):
        args = typing.get_args(annotation)
        for i, item in enumerate(data):
            yield from _unknown_keys(item, args[0] if args else Any, (*loc, i))
        return
    if origin in (dict, Mapping) and isinstance(data, Mapping):
        args = typing.get_args(annotation)
        for key, item in data.items():
            yield from _unknown_keys(item, args[1] if len(args) == 2 else Any, (*loc, key))
        return
    if not (_is_model(annotation) and isinstance(data, Mapping)):
        return
    fields: dict[str, pydantic.fields.FieldInfo] = annotation.model_fields
    names: dict[str, str] = {}
    for name, info in fields.items():
        names[name] = name
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                names[alias] = name
    for key, item in data.items():
        if key in names:
            yield from _unknown_keys(item, fields[names[key]].annotation, (*loc, key))
        elif not _forbids_or_allows(annotation):
            yield (*loc, key), "unknown key (not in the model)"


def _is_model(annotation: Any) -> bool:
    import pydantic

    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def _closed(schema: Any) -> Any:
    """A copy of a JSON Schema whose objects reject keys they do not declare."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    open_keys = ("additionalProperties", "patternProperties", "unevaluatedProperties")
    if "properties" in out and not any(k in out for k in open_keys):
        out["additionalProperties"] = False
    return out


def _schema_errors(data: Any, schema: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    try:
        import jsonschema
    except ImportError:
        raise MissingExtraError(
            "validate_config with a JSON Schema needs jsonschema: pip install jsonschema "
            "(or pass a pydantic model)"
        ) from None
    closed = _closed(dict(schema))
    validator_class = jsonschema.validators.validator_for(closed)
    try:
        validator_class.check_schema(closed)
    except jsonschema.SchemaError as exc:
        raise bad_value(
            "model_or_schema",
            schema,
            f"it is not a valid JSON Schema ({exc.message})",
            "Fix the schema (see jsonschema's check_schema).",
        ) from None
    errors = []
    for error in sorted(validator_class(closed).iter_errors(data), key=lambda e: list(e.path)):
        loc = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = set(error.schema.get("properties", {}))
            for key in error.instance:
                if key not in allowed:
                    errors.append(((*loc, key), "unknown key (not in the schema)"))
            continue
        errors.append((loc, error.message))
    return errors


@recorded("validate_config")
def validate_config(path: str | Path, model_or_schema: Any) -> Any:
    """Validate a YAML or JSON config file; every error names its key path and line.

    Unknown keys are errors, also for pydantic models left at the default
    ``extra="ignore"`` (a typo such as ``learning_rat`` would otherwise be
    dropped silently) and for JSON Schemas that do not say
    ``additionalProperties`` (objects are closed unless the schema opens them).

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.yaml``/``.yml`` or ``.json`` file.
    model_or_schema : pydantic model class or mapping
        A :class:`pydantic.BaseModel` subclass, or a JSON Schema (needs
        ``jsonschema``).

    Returns
    -------
    object
        The model instance, or the parsed data for a JSON Schema.

    Raises
    ------
    MLTestFailure
        On a syntax error or any validation error; ``details["errors"]`` lists
        ``(line, key_path, message)``.

    Examples
    --------
    >>> import tempfile, pathlib, pydantic
    >>> from tessera.mltest import validate_config
    >>> class Train(pydantic.BaseModel):
    ...     lr: float
    ...     epochs: int = 10
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.yaml"
    >>> _ = path.write_text("lr: 0.01\\nepochs: 3\\n")
    >>> validate_config(path, Train)
    Train(lr=0.01, epochs=3)
    >>> _ = path.write_text("lr: 0.01\\nepochz: 3\\n")
    >>> validate_config(path, Train)
    Traceback (most recent call last):
    ...
    tessera.mltest.MLTestFailure: validate_config failed
      expected: train.yaml to match Train
      measured: 1 error(s):
        train.yaml:2 epochz: unknown key (not in the model)
    ...
    """
    path = Path(path)
    # The whole path, never cut short: it is the thing to fix.
    if path.suffix.lower() not in _SUFFIXES:
        raise InvalidInputError(
            f"path={str(path)!r} is invalid: it must end in .yaml, .yml or "
            ".json. Rename the file, or pass a YAML/JSON file."
        )
    if not path.is_file():
        raise InvalidInputError(
            f"path={str(path)!r} is invalid: no such file. Check the path "
            f"(relative paths start at {Path.cwd()})."
        )
    if _is_model(model_or_schema):
        kind = model_or_schema.__name__
    elif isinstance(model_or_schema, Mapping):
        kind = f"JSON Schema {model_or_schema.get('title', '(untitled)')}"
    else:
        raise bad_value(
            "model_or_schema",
            model_or_schema,
            "it must be a pydantic model class or a JSON Schema mapping",
            "Pass e.g. a class TrainConfig(BaseModel).",
        )
    data, tree = _load(path)
    if _is_model(model_or_schema):
        result, errors = _model_errors(data, model_or_schema)
    else:
        result, errors = data, _schema_errors(data, model_or_schema)
    if not errors:
        return result
    located = sorted(
        ((line_of(tree, loc), loc, message) for loc, message in errors),
        key=lambda e: (e[0], [str(p) for p in e[1]]),
    )
    listing = "\n".join(
        f"    {path.name}:{line} {'.'.join(map(str, loc)) or '(top level)'}: {msg}"
        for line, loc, msg in located
    )
    raise MLTestFailure(
        "validate_config",
        expected=f"{path.name} to match {kind}",
        measured=f"{len(located)} error(s):\n{listing}",
        where=f"{path} lines {', '.join(str(e[0]) for e in located)}",
        details={"errors": located},
    )
