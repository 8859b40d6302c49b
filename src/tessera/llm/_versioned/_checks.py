"""Argument checks shared by the versioned store: names, labels, references, bodies, tags."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from tessera._validation import bad_value, short_repr
from tessera.errors import InvalidInputError, NotFoundError

__all__ = [
    "MAX_NUMBER",
    "RESERVED_LABELS",
    "check_body",
    "check_label",
    "check_name",
    "check_number",
    "check_tags",
    "check_text",
    "check_version",
    "invalid_from_pydantic",
    "parse_ref",
    "parse_version",
]

# The first character is never '.' or '-': no '.', '..', '.hidden' or '-rf' (names end up in
# URLs, file names and command lines).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
_TAG = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
#: Labels the store keeps itself (``latest``) or that name the draft in a reference.
RESERVED_LABELS = ("draft", "latest")

#: The largest version number, label target or draft revision: SQLite's largest integer.
MAX_NUMBER = 2**63 - 1


def check_name(name: Any, argument: str = "name") -> str:
    """Return ``name`` or raise unless it is 1-64 letters, digits, ``-``, ``_`` or ``.``
    that does not start with ``.`` or ``-`` (so never ``.``, ``..`` or ``-rf``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad_value(
            argument,
            name,
            "a name is 1 to 64 characters, each a letter, digit, '-', '_' or '.', and does "
            "not start with '.' or '-' (no spaces, slashes or control characters)",
            "Pick a name such as 'support-triage' or 'summarise_v2'.",
        )
    return name


def check_number(argument: str, value: Any) -> int:
    """Return ``value`` or raise unless it is an int from 1 to :data:`MAX_NUMBER`.

    The check of every draft revision a caller passes in: a bool, a float, zero, a
    negative number or one past SQLite's integer range is an :class:`InvalidInputError`
    naming ``argument``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NUMBER:
        raise InvalidInputError(
            f"{argument}={_shown(value)} is invalid: it must be an int from 1 to {MAX_NUMBER} "
            f"(2**63 - 1). Pass the number the store gave you."
        )
    return value


def check_version(value: Any, argument: str = "version") -> int:
    """Return the version number ``value`` or raise.

    Raises
    ------
    InvalidInputError
        ``value`` is not an int >= 1 (a bool, a float, zero, a negative number).
    NotFoundError
        ``value`` is past :data:`MAX_NUMBER`: no version can have that number, and SQLite
        could not even look it up.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            f"{argument}={_shown(value)} is invalid: it must be an int >= 1. Pass {argument}=1."
        )
    if value > MAX_NUMBER:
        raise _no_such_number(argument, _shown(value))
    return value


def parse_version(text: str, argument: str = "ref") -> int | None:
    """The version number that a selector (the part after ``@``) names, or ``None``.

    ``None`` when ``text`` is not all ASCII digits (a label, ``latest``, ``draft``).
    Digits go through :func:`check_version`: ``0`` is refused, a number past
    :data:`MAX_NUMBER` is a :class:`NotFoundError` (converted only when short enough:
    ``int()`` refuses texts of more than 4300 digits).
    """
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(MAX_NUMBER)):
        raise _no_such_number(argument, short_repr(text))
    return check_version(int(digits), argument)


def _shown(value: Any) -> str:
    # repr() refuses ints of more than 4300 digits, and a message needs no more than 60.
    if isinstance(value, int) and value.bit_length() > 256:
        return f"<an int of {value.bit_length()} bits>"
    return short_repr(value)


def _no_such_number(argument: str, shown: str) -> NotFoundError:
    return NotFoundError(
        f"{argument}={shown}: no version exists past {MAX_NUMBER} (2**63 - 1, SQLite's largest "
        f"integer); versions count up from 1. Pass an existing version number."
    )


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
    if text.isascii() and text.isdigit():
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
