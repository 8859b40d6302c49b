"""OpenAI's ``response_format``, ``tools`` and ``tool_choice``: their shapes and checks.

The shapes are pydantic models of the request body (``ChatCompletionRequest`` holds
them), so /openapi.json documents them. The JSON Schemas inside them (a
``json_schema`` response format, a function's ``parameters``) are checked here, once,
before any decoding, by :func:`check_schema`: bounded in size and depth (the limits
OpenAI documents for structured outputs, :data:`MAX_SCHEMA_DEPTH` and the others),
only the keywords constrained decoding enforces (:data:`SUPPORTED_KEYWORDS`), and valid
under the JSON Schema 2020-12 meta-schema. Every refusal is an
:class:`~tessera.llm.serve._http.ApiError` 400 whose ``param`` is the field at fault
(``response_format.json_schema.schema.properties.age.type``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tessera._validation import short_repr
from tessera.llm.serve._http import ApiError

__all__ = [
    "MAX_ENUM_VALUES",
    "MAX_SCHEMA_DEPTH",
    "MAX_SCHEMA_NODES",
    "SUPPORTED_KEYWORDS",
    "TOOL_NAME",
    "FunctionDefinition",
    "JsonSchemaSpec",
    "NamedToolChoice",
    "ResponseFormat",
    "ToolCall",
    "ToolChoice",
    "ToolDefinition",
    "check_schema",
    "check_tools",
    "closed",
]

#: A function's name, as OpenAI's API requires it: letters, digits, ``_`` and ``-``.
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The deepest a schema may nest (subschemas inside subschemas, and JSON values inside
#: ``enum``, ``const``, ``default``, ``examples``).
MAX_SCHEMA_DEPTH = 32
#: The most subschemas and values one request's schemas may hold, all schemas together
#: (OpenAI: 5000 object properties in all).
MAX_SCHEMA_NODES = 5000
#: The most ``enum`` values one request's schemas may hold in all (OpenAI: 1000).
MAX_ENUM_VALUES = 1000

#: Keywords whose value is a subschema, a list of them, or a name -> subschema map.
_ONE = (
    "items", "additionalProperties", "not", "contains", "propertyNames", "if", "then",
    "else", "unevaluatedProperties", "unevaluatedItems", "additionalItems",
)  # fmt: skip
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")

#: Keywords constrained decoding enforces (those llguidance implements), and annotations.
#: Others that restrict values (``not``, ``if``/``then``/``else``, ``uniqueItems``,
#: ``contains``, ``dependentRequired``, ``propertyNames``, ``unevaluatedProperties``,
#: ``$dynamicRef``, a ``$ref`` outside the document, ...) are refused, so a schema is never
#: enforced in part.
SUPPORTED_KEYWORDS = frozenset(
    {
        # structure
        "type", "properties", "required", "additionalProperties", "patternProperties",
        "items", "prefixItems",
        "anyOf", "oneOf", "allOf", "enum", "const", "$ref", "$defs", "definitions",
        # bounds
        "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
        "minProperties", "maxProperties",
        # annotations: no effect on what is valid
        "$schema", "$id", "$comment", "title", "description", "default", "examples",
        "deprecated", "readOnly", "writeOnly", "discriminator", "nullable",
        "contentEncoding", "contentMediaType",
    }
)  # fmt: skip


class JsonSchemaSpec(BaseModel):
    """The ``json_schema`` of a ``json_schema`` response format."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(description="The schema's name: letters, digits, '_' and '-'.")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(
        None,
        alias="schema",
        description="A JSON Schema (2020-12) the answer validates against; left out, any "
        "JSON object.",
    )
    strict: bool | None = Field(
        None, description="Accepted; the schema is always enforced while decoding."
    )


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``.

    ``{"type": "text"}`` (plain text, the default), ``{"type": "json_object"}`` (any JSON
    object) or ``{"type": "json_schema", "json_schema": {...}}`` (an answer that
    validates against the schema). One model rather than a tagged union, so that an
    error names the field as the client wrote it (``response_format.json_schema.schema``).
    """

    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = Field(
        None, description="With type json_schema (and only then): the schema and its name."
    )

    @model_validator(mode="after")
    def _schema_with_its_type(self) -> ResponseFormat:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError(
                "json_schema is given with type 'json_schema', and only then; send "
                '{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}'
            )
        return self


class FunctionDefinition(BaseModel):
    """A function the model may call."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Letters, digits, '_' and '-', at most 64.")
    description: str | None = None
    parameters: dict[str, Any] | None = Field(
        None,
        description="A JSON Schema of the arguments object; left out, no arguments.",
    )
    strict: bool | None = Field(
        None, description="Accepted; the parameters are always enforced while decoding."
    )


class ToolDefinition(BaseModel):
    """One of ``tools``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(BaseModel):
    """The function a named ``tool_choice`` forces."""

    model_config = ConfigDict(extra="forbid")
    name: str


class NamedToolChoice(BaseModel):
    """``{"type": "function", "function": {"name": ...}}``: call this function."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class FunctionCall(BaseModel):
    """A call's function and its arguments (a JSON string)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    arguments: str


class ToolCall(BaseModel):
    """A tool call an assistant message carries (sent back in the next request)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


def _refuse(param: str, value: Any, rule: str, fix: str) -> ApiError:
    return ApiError(400, f"{param}={short_repr(value)} is invalid: {rule}. {fix}", param=param)


def _subschemas(schema: dict[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """(path, subschema) for each subschema directly inside ``schema``."""
    for keyword in _ONE:
        if keyword in schema and not isinstance(schema[keyword], list):
            yield f"{path}.{keyword}", schema[keyword]
    for keyword in _LIST:
        if isinstance(schema.get(keyword), list):
            for index, item in enumerate(schema[keyword]):
                yield f"{path}.{keyword}.{index}", item
    for keyword in _MAP:
        if isinstance(schema.get(keyword), dict):
            for name, item in schema[keyword].items():
                yield f"{path}.{keyword}.{name}", item
    if isinstance(schema.get("items"), list):  # draft 4-7 tuple form
        for index, item in enumerate(schema["items"]):
            yield f"{path}.items.{index}", item


def _value_depth(value: Any) -> int:
    """How deep a JSON value nests (iteratively: it may nest past the recursion limit)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_SCHEMA_DEPTH:
            return depth
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
    return deepest


class _Budget:
    """What the schemas of one request may hold in all."""

    def __init__(self) -> None:
        self.nodes = 0
        self.enum_values = 0


def check_schema(schema: Any, param: str, budget: _Budget | None = None) -> dict[str, Any]:
    """Check a JSON Schema of a request before it is compiled for decoding.

    Parameters
    ----------
    schema : Any
        The schema as sent.
    param : str
        Where it sits in the request (``response_format.json_schema.schema``): every
        error's ``param`` starts with it.
    budget : optional
        Shared by the schemas of one request, so that their sizes add up.

    Returns
    -------
    dict
        ``schema``, unchanged.

    Raises
    ------
    ApiError
        400 naming the field at fault: a schema that is not an object, nests deeper than
        :data:`MAX_SCHEMA_DEPTH`, holds more than :data:`MAX_SCHEMA_NODES` subschemas or
        :data:`MAX_ENUM_VALUES` enum values, uses a keyword outside
        :data:`SUPPORTED_KEYWORDS`, refers (``$ref``) outside itself, or breaks the JSON
        Schema meta-schema.
    """
    budget = budget or _Budget()
    if not isinstance(schema, dict):
        raise _refuse(param, schema, "a JSON Schema here must be an object", "Send {...}.")
    pending: list[tuple[str, Any, int]] = [(param, schema, 1)]
    refs: list[tuple[str, str]] = []
    while pending:  # iterative: a hostile schema may nest past Python's recursion limit
        path, node, depth = pending.pop()
        if isinstance(node, bool):  # true / false are schemas too
            continue
        if not isinstance(node, dict):
            raise _refuse(path, node, "a subschema must be an object or a boolean", "Fix it.")
        if depth > MAX_SCHEMA_DEPTH:
            raise _refuse(
                path,
                "{...}",
                f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels",
                "Flatten it, or name repeated parts in $defs and $ref them.",
            )
        budget.nodes += 1
        if budget.nodes > MAX_SCHEMA_NODES:
            raise _refuse(
                path,
                "{...}",
                f"the request's schemas hold more than {MAX_SCHEMA_NODES} subschemas",
                "Send smaller schemas.",
            )
        _check_keywords(node, path, budget)
        if "$ref" in node:
            refs.append((f"{path}.$ref", node["$ref"]))
        pending.extend((p, s, depth + 1) for p, s in _subschemas(node, path))
    _check_meta_schema(schema, param)
    for where, ref in refs:
        if not _resolves(schema, ref):
            raise _refuse(
                where,
                ref,
                "it refers to nothing in the schema",
                "Refer to a subschema that exists ('#/$defs/Name' with Name in $defs).",
            )
    return schema


def _resolves(root: dict[str, Any], ref: str) -> bool:
    """Whether the local JSON pointer ``ref`` (``#/$defs/Name``) names a subschema."""
    from urllib.parse import unquote

    node: Any = root
    for token in ref[2:].split("/") if ref != "#" else ():
        key = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False
    return isinstance(node, dict | bool)


def _check_keywords(node: dict[str, Any], path: str, budget: _Budget) -> None:
    for keyword, value in node.items():
        if keyword not in SUPPORTED_KEYWORDS:
            supported = ", ".join(sorted(SUPPORTED_KEYWORDS))
            raise _refuse(
                f"{path}.{keyword}",
                value,
                f"the JSON Schema keyword {keyword!r} is not supported in structured output "
                "(it could not be enforced while decoding)",
                f"Remove it, or express the rule with these keywords: {supported}.",
            )
        if keyword in ("enum", "const", "default", "examples"):
            if _value_depth(value) > MAX_SCHEMA_DEPTH:
                raise _refuse(
                    f"{path}.{keyword}",
                    "[...]",
                    f"the value nests deeper than {MAX_SCHEMA_DEPTH} levels",
                    "Send a flatter value.",
                )
        if keyword == "enum" and isinstance(value, list):
            budget.enum_values += len(value)
            if budget.enum_values > MAX_ENUM_VALUES:
                raise _refuse(
                    f"{path}.enum",
                    f"<{len(value)} values>",
                    f"the request's schemas hold more than {MAX_ENUM_VALUES} enum values in all",
                    "Use fewer values, or a pattern or a plain string type.",
                )
    ref = node.get("$ref")
    if ref is not None and not (isinstance(ref, str) and (ref == "#" or ref.startswith("#/"))):
        raise _refuse(
            f"{path}.$ref",
            ref,
            "only references inside the schema itself ('#/$defs/Name') are supported",
            "Put the referenced schema in $defs and refer to '#/$defs/Name'.",
        )


def _check_meta_schema(schema: dict[str, Any], param: str) -> None:
    """Refuse a schema the JSON Schema 2020-12 meta-schema rejects (types, bounds)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = ".".join([param, *(str(p) for p in error.absolute_path)])
        raise _refuse(
            where,
            error.instance,
            f"it is not a valid JSON Schema: {error.message}",
            "Fix the schema (JSON Schema 2020-12).",
        ) from None
    except RecursionError:  # bounded above; kept so that no schema can make a 500
        raise _refuse(param, "{...}", "the schema nests too deeply", "Flatten it.") from None


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` whose objects that list ``properties`` admit no others.

    An object schema with ``properties`` and no ``additionalProperties`` admits any other
    key in JSON Schema; decoded as such, a small model adds keys of its own invention.
    Such objects are decoded closed (``"additionalProperties": false``, what OpenAI's
    strict mode requires anyway): every answer still validates against the schema as
    sent. Objects under ``allOf`` are left as they are (closing one part would forbid
    the others' keys).
    """
    import copy

    whole = copy.deepcopy(schema)
    pending: list[tuple[Any, bool]] = [(whole, True)]
    while pending:
        node, may_close = pending.pop()
        if not isinstance(node, dict):
            continue
        open_keys = ("additionalProperties", "patternProperties", "unevaluatedProperties")
        if may_close and "properties" in node and not any(k in node for k in open_keys):
            node["additionalProperties"] = False
        for path, child in _subschemas(node, ""):
            pending.append((child, not path.startswith(".allOf.")))
    return whole


def check_tools(tools: list[ToolDefinition]) -> None:
    """Check ``tools``: names OpenAI accepts, no name twice, valid parameter schemas.

    Raises
    ------
    ApiError
        400 naming the field (``tools.0.function.name``,
        ``tools.1.function.parameters.properties.city.type``).
    """
    seen: set[str] = set()
    budget = _Budget()
    for index, tool in enumerate(tools):
        name, where = tool.function.name, f"tools.{index}.function"
        if TOOL_NAME.fullmatch(name) is None:
            raise _refuse(
                f"{where}.name",
                name,
                "a function name is 1 to 64 letters, digits, '_' or '-'",
                "Rename the function (get_weather).",
            )
        if name in seen:
            raise _refuse(
                f"{where}.name", name, "two tools have this name", "Give each tool its own name."
            )
        seen.add(name)
        parameters = tool.function.parameters
        if parameters is None:
            continue
        check_schema(parameters, f"{where}.parameters", budget)
        kind = parameters.get("type")
        if kind is not None and kind != "object":
            raise _refuse(
                f"{where}.parameters.type",
                kind,
                "a function's parameters are an object",
                'Send {"type": "object", "properties": {...}}.',
            )


def check_response_schema(spec: JsonSchemaSpec) -> dict[str, Any]:
    """The schema of a ``json_schema`` response format, checked (any object if left out)."""
    where = "response_format.json_schema"
    if TOOL_NAME.fullmatch(spec.name) is None:
        raise _refuse(
            f"{where}.name",
            spec.name,
            "a schema name is 1 to 64 letters, digits, '_' or '-'",
            "Rename it (answer).",
        )
    if spec.schema_ is None:
        return {"type": "object"}
    return check_schema(spec.schema_, f"{where}.schema")
