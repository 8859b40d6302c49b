"""Fine-tuning data: Bedrock-style JSONL chat records, read and checked line by line.

One record per line::

    {"system": "You answer in JSON.", "messages": [
        {"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}

``system`` is optional; ``messages`` alternate user, assistant, user, ... and end with an
assistant reply (the text the model learns to write). Every record is checked and every
problem is reported, with its line number, in one :class:`DataValidationError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera._validation import bad_value, short_repr
from tessera.errors import InvalidInputError

__all__ = [
    "DataProblem",
    "DataValidationError",
    "Record",
    "check_records",
    "read_lines",
    "read_records",
]

#: Keys a record may hold.
RECORD_KEYS = ("messages", "system")
#: Problems shown in an error message (all of them stay on ``.problems``).
SHOWN_PROBLEMS = 30


@dataclass(frozen=True)
class Record:
    """One training conversation.

    Attributes
    ----------
    system : str or None
        The system prompt, when the record has one.
    messages : tuple of dict
        ``{"role": "user" | "assistant", "content": str}``, alternating, user first,
        assistant last.
    line : int
        The record's line in its file (1-based).
    """

    system: str | None
    messages: tuple[dict[str, str], ...]
    line: int

    def chat(self) -> list[dict[str, str]]:
        """The conversation as chat messages, the system prompt first when present."""
        head = [{"role": "system", "content": self.system}] if self.system is not None else []
        return head + [dict(m) for m in self.messages]


@dataclass(frozen=True)
class DataProblem:
    """One rule a record breaks.

    Attributes
    ----------
    line : int
        1-based line in the file (0 for a problem with the file as a whole).
    field : str
        The offending field, e.g. ``messages[1].role``.
    message : str
        The value, the rule and the fix.
    source : str, default=""
        The file, when problems of several files are reported together.
    """

    line: int
    field: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        if self.source:
            where = f"{self.source} {where}"
        return f"{where}: {self.field}: {self.message}"


class DataValidationError(InvalidInputError):
    """The fine-tuning data breaks one or more rules; ``.problems`` lists them all."""

    def __init__(self, source: str, problems: Sequence[DataProblem], records: int) -> None:
        self.source = source
        self.problems = tuple(problems)
        shown = "\n  ".join(str(p) for p in self.problems[:SHOWN_PROBLEMS])
        more = len(self.problems) - SHOWN_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"{source}: {len(self.problems)} problem(s) in {records} record(s); fix every "
            f"line listed and run again:\n  {shown}{tail}"
        )


def _problem(line: int, field: str, value: Any, rule: str, fix: str) -> DataProblem:
    return DataProblem(line, field, f"{field}={short_repr(value)} is invalid: {rule}. {fix}")


def _check_message(line: int, index: int, message: Any, problems: list[DataProblem]) -> None:
    field = f"messages[{index}]"
    expected = "user" if index % 2 == 0 else "assistant"
    if not isinstance(message, dict):
        problems.append(
            _problem(
                line,
                field,
                message,
                "each message must be an object",
                f'Write {{"role": "{expected}", "content": "..."}}.',
            )
        )
        return
    extra = sorted(set(message) - {"role", "content"})
    if extra:
        problems.append(
            _problem(
                line,
                field,
                message,
                f"unknown key(s) {extra}; a message holds only 'role' and 'content'",
                "Remove the other keys.",
            )
        )
    role = message.get("role")
    if role not in ("user", "assistant"):
        rule = "the role must be 'user' or 'assistant'"
        if role == "system":
            rule += " (the system prompt goes in the record's 'system' key)"
        problems.append(_problem(line, f"{field}.role", role, rule, f"Use role {expected!r}."))
    elif role != expected:
        problems.append(
            _problem(
                line,
                f"{field}.role",
                role,
                f"messages must alternate user, assistant, ... starting with user, so message "
                f"{index} must be {expected!r}",
                "Merge consecutive messages of one role, or add the missing turn.",
            )
        )
    content = message.get("content")
    if not isinstance(content, str):
        problems.append(
            _problem(
                line,
                f"{field}.content",
                content,
                "the content must be a string",
                "Write the message text as a JSON string.",
            )
        )
    elif not content.strip():
        problems.append(
            _problem(
                line,
                f"{field}.content",
                content,
                "the content is empty",
                "Write the message text, or drop the record.",
            )
        )


def _parse_record(line: int, text: str, problems: list[DataProblem]) -> Record | None:
    """Check one line; append its problems and return the record when it has none."""
    before = len(problems)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(
            DataProblem(
                line,
                "json",
                f"not valid JSON ({exc.msg} at column {exc.colno}). Write one JSON object "
                "per line.",
            )
        )
        return None
    if not isinstance(value, dict):
        problems.append(
            _problem(
                line,
                "record",
                value,
                "each line must be a JSON object",
                'Write {"system": "...", "messages": [...]}.',
            )
        )
        return None
    extra = sorted(set(value) - set(RECORD_KEYS))
    if extra:
        problems.append(
            _problem(
                line,
                "record",
                sorted(value),
                f"unknown key(s) {extra}; a record holds 'system' (optional) and 'messages'",
                "Remove or rename the other keys.",
            )
        )
    system = value.get("system")
    if "system" in value and (not isinstance(system, str) or not system.strip()):
        problems.append(
            _problem(
                line,
                "system",
                system,
                "the system prompt must be a non-empty string",
                "Write the system prompt, or leave the 'system' key out.",
            )
        )
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append(
            _problem(
                line,
                "messages",
                messages,
                "a record needs a non-empty list of messages",
                'Write "messages": [{"role": "user", ...}, {"role": "assistant", ...}].',
            )
        )
        return None
    for index, message in enumerate(messages):
        _check_message(line, index, message, problems)
    last = messages[-1]
    if len(messages) % 2 == 1 and isinstance(last, dict) and last.get("role") == "user":
        problems.append(
            _problem(
                line,
                f"messages[{len(messages) - 1}].role",
                "user",
                "the conversation must end with an assistant message (the text to learn)",
                "Add the assistant's reply, or drop the last user message.",
            )
        )
    if len(problems) > before:
        return None
    return Record(
        system=system if isinstance(system, str) else None,
        messages=tuple({"role": m["role"], "content": m["content"]} for m in messages),
        line=line,
    )


def check_records(lines: Iterable[str]) -> tuple[list[Record], list[DataProblem]]:
    """Parse JSONL text line by line; return the valid records and every problem found.

    Blank lines are skipped (they still count for line numbers).
    """
    records: list[Record] = []
    problems: list[DataProblem] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        record = _parse_record(number, text, problems)
        if record is not None:
            records.append(record)
    if not records and not problems:
        problems.append(
            DataProblem(0, "records", "the file holds no records. Write one JSON object a line.")
        )
    return records, problems


def read_records(path: str | Path, *, argument: str = "data") -> list[Record]:
    """Read and check a JSONL file of chat records.

    Parameters
    ----------
    path : str or pathlib.Path
        A UTF-8 JSONL file, one record a line.
    argument : str, default="data"
        The name used for ``path`` in error messages.

    Returns
    -------
    list of Record

    Raises
    ------
    DataValidationError
        Listing every problem of every line when any record breaks a rule.
    InvalidInputError
        When ``path`` is not a readable file.
    """
    lines = read_lines(path, argument=argument)
    records, problems = check_records(lines)
    if problems:
        raise DataValidationError(str(path), problems, sum(1 for x in lines if x.strip()))
    return records


def read_lines(path: str | Path, *, argument: str = "data") -> list[str]:
    """The lines of a UTF-8 text file, or an error naming ``argument`` and the path."""
    file = Path(path)
    if not file.is_file():
        raise bad_value(argument, str(path), "it must be an existing JSONL file", "Check the path.")
    try:
        return file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise bad_value(
            argument,
            str(path),
            f"it is not UTF-8 text ({exc.reason} at byte {exc.start})",
            "Save the file as UTF-8.",
        ) from None
