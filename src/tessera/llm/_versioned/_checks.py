"""Argument checks shared by the versioned store: names, labels, references, bodies, tags."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from tessera._validation import bad_value, short_repr
from tessera.errors import InvalidInputError

__all__ = [
    "RESERVED_LABELS",
    "check_body",
    "check_label",
    "check_name",
    "check_tags",
    "check_text",
    "invalid_from_pydantic",
    "parse_ref",
]

_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TAG = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
#: Labels the store keeps itself (``latest``) or that name the draft in a reference.
RESERVED_LABELS = ("draft", "latest")


def check_name(name: Any, argument: str = "name") -> str:
    """Return ``name`` or raise unless it is 1-64 letters, digits, ``-``, ``_`` or ``.``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad_value(
            argument,
            name,
            "a name is 1 to 64 characters, each a letter, digit, '-', '_' or '.'",
            "Pick a name such as 'support-triage' or 'summarise_v2'.",
        )
    return name


def check_label(label: Any, argument: str = "label") -> str:
    """Return ``label`` or raise unless it is a valid, non-reserved, non-numeric label."""
    text = check_name(label, argument)
    if text in RESERVED_LABELS:
        raise bad_value(
            argument,
            label,
            f"'{label}' is reserved ('latest' follows the newest version, 'draft' is the draft)",
            "Pick another label, such as 'production' or 'staging'.",
        )
    if text.isdigit():
        raise bad_value(
            argument,
            label,
            "a label cannot be all digits (NAME@3 means version 3)",
            "Add a letter, such as 'v3'.",
        )
    return text


def parse_ref(ref: Any) -> tuple[str, str | None]:
    """Split ``"name"`` or ``"name@selector"`` into ``(name, selector or None)``."""
    if not isinstance(ref, str) or ref.count("@") > 1:
        raise bad_value(
            "ref",
            ref,
            "a reference is NAME or NAME@SELECTOR (a version number, a label, 'latest', 'draft')",
            "Pass for example 'greeting', 'greeting@3' or 'greeting@production'.",
        )
    name, _, selector = ref.partition("@")
    check_name(name, "ref")
    if "@" in ref and not selector:
        raise bad_value(
            "ref",
            ref,
            "nothing follows '@'",
            f"Pass '{name}@3', '{name}@production' or just '{name}'.",
        )
    return name, selector if "@" in ref else None


def check_body(body: Any) -> str:
    if not isinstance(body, Mapping):
        raise bad_value("body", body, "a body is a dict (a JSON object)", "Pass a dict.")
    try:
        return json.dumps(dict(body), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise bad_value(
            "body",
            body,
            f"a body must be JSON data (dicts, lists, strings, finite numbers, bools, None): {exc}",
            "Convert other values to strings or numbers first.",
        ) from None


def check_tags(tags: Any) -> tuple[str, ...]:
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise bad_value("tags", tags, "tags are a list of strings", "Pass tags=['support'].")
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise bad_value(
                "tags",
                tags,
                f"tag {short_repr(tag)} is not 1 to 64 letters, digits or '-_.:/'",
                "Use tags such as 'support' or 'team:search'.",
            )
    return tuple(dict.fromkeys(tags))


def check_text(argument: str, value: Any) -> str:
    if not isinstance(value, str):
        raise bad_value(argument, value, "it must be a string", f"Pass {argument}='...'.")
    return value


def invalid_from_pydantic(argument: str, error: ValidationError) -> InvalidInputError:
    """One :class:`InvalidInputError` naming every field pydantic rejected, with its value."""
    problems = []
    for item in error.errors(include_url=False):
        where = argument + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]
        )
        message = str(item["msg"]).removeprefix("Value error, ").rstrip(".")
        if item["loc"] and item["type"] not in ("value_error", "missing"):
            problems.append(f"{where}={short_repr(item['input'], 40)}: {message}")
        else:
            problems.append(f"{where}: {message}")
    return InvalidInputError(
        f"{argument} is invalid: {'; '.join(problems)}. Fix the fields named above."
    )
