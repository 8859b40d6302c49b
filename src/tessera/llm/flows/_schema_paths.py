"""What a JSONPath selects inside a JSON Schema: the check of downstream expressions.

A node whose output has a known JSON Schema (a Prompt node whose prompt declares an
``output_schema``) lets validation check each connection's expression against it: every
field the path names must be a property of the schema there (in any ``anyOf``/``oneOf``
branch, through local ``$ref`` s), and when the selected part has one ``type``, the input
that receives it must declare that type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["data_type_of", "path_problem"]

#: JSON Schema types -> flow data types.
_DATA_TYPES = {
    "object": "Object",
    "array": "Array",
    "string": "String",
    "integer": "Number",
    "number": "Number",
    "boolean": "Boolean",
}
#: How many $ref hops are followed before giving up (a schema may refer to itself).
_MAX_HOPS = 32


def data_type_of(schema: Mapping[str, Any] | bool) -> str | None:
    """The flow data type of the values ``schema`` admits, or None when not one type."""
    if not isinstance(schema, Mapping):
        return None
    kind = schema.get("type")
    if isinstance(kind, str):
        return _DATA_TYPES.get(kind)
    if "properties" in schema:
        return "Object"
    if "items" in schema or "prefixItems" in schema:
        return "Array"
    return None


def _a(data_type: str) -> str:
    return f"an {data_type}" if data_type[0] in "AEIOU" else f"a {data_type}"


def _resolve(root: Mapping[str, Any], node: Any) -> Any:
    """``node`` with its local ``$ref`` s followed."""
    for _ in range(_MAX_HOPS):
        ref = node.get("$ref") if isinstance(node, Mapping) else None
        if not (isinstance(ref, str) and ref.startswith("#")):
            return node
        target: Any = root
        for token in ref[2:].split("/") if ref != "#" else ():
            key = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or key not in target:
                return {}
            target = target[key]
        node = target
    return {}


def _branches(root: Mapping[str, Any], node: Any) -> list[Mapping[str, Any]]:
    """``node`` and the schemas of its ``anyOf``/``oneOf``/``allOf``, refs followed."""
    found: list[Mapping[str, Any]] = []
    pending = [node]
    while pending and len(found) < 256:
        current = _resolve(root, pending.pop())
        if not isinstance(current, Mapping):
            continue
        found.append(current)
        for keyword in ("anyOf", "oneOf", "allOf"):
            if isinstance(current.get(keyword), list):
                pending.extend(current[keyword])
    return found


def path_problem(
    schema: Mapping[str, Any], steps: Sequence[str | int], expected: str | None
) -> str | None:
    """Why the path ``steps`` cannot select a value of type ``expected`` from ``schema``.

    Returns None when it can, or when the schema does not say (an object without
    ``properties``, an array without ``items``).
    """
    node: Any = schema
    walked = "$.data"
    for step in steps:
        options = _branches(schema, node)
        if isinstance(step, str):
            maps = [o["properties"] for o in options if isinstance(o.get("properties"), Mapping)]
            if not maps:
                return None
            found = [m[step] for m in maps if step in m]
            if not found:
                names = sorted({name for m in maps for name in m})
                return (
                    f"{walked} has no field {step!r} in the output schema (its fields: "
                    f"{', '.join(names) or 'none'})"
                )
            node = found[0] if len(found) == 1 else {"anyOf": found}
            walked += f".{step}"
        else:
            items = [o["items"] for o in options if isinstance(o.get("items"), Mapping | bool)]
            if not items:
                return None
            node = items[0]
            walked += f"[{step}]"
    leaf = _resolve(schema, node)
    actual = data_type_of(leaf)
    if expected is not None and actual is not None and actual != expected:
        return f"{walked} is {_a(actual)} in the output schema, not {_a(expected)}"
    return None
