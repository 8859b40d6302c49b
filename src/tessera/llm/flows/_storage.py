"""The Storage node: write and read documents by key in a local folder.

:class:`DocumentStore` keeps one file per key: ``<key>.json`` (any JSON value) or
``<key>.txt`` (text). Keys are relative names made of safe segments, so no key can reach
outside the folder; writes are atomic (a temporary file in the same folder, flushed to
disk, then renamed over the old one), so a reader sees the old document or the new one,
never half of one.

A Storage node's folder must lie inside a storage root, a folder the operator names
(``storage_roots=`` in Python, ``--storage-root`` on the command line); there is none by
default. Validation (so saving a flow over HTTP) and the run both check it (see
:mod:`tessera.llm.flows._policy`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tessera._validation import bad_value
from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm.flows._nodes import NodeType, RunContext, folder_message, register_node_type
from tessera.llm.flows._spec import NodeSpec, Problem

__all__ = ["KEY_PATTERN", "DocumentStore", "StorageConfiguration", "StorageNode"]

#: A key: segments of letters, digits, ``.``, ``_`` and ``-`` joined by ``/``; no segment
#: starts with ``.`` (so neither ``..`` nor hidden files), at most 200 characters.
KEY_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*"
_KEY = re.compile(KEY_PATTERN)
_MAX_KEY = 200

StorageFormat = Literal["json", "text"]
_SUFFIX = {"json": ".json", "text": ".txt"}


def check_key(key: Any) -> str:
    """Return ``key`` or raise :class:`InvalidInputError` unless it is a safe key."""
    if not isinstance(key, str) or not _KEY.fullmatch(key) or len(key) > _MAX_KEY:
        raise bad_value(
            "key",
            key,
            f"a storage key is 1 to {_MAX_KEY} characters of letters, digits, '.', '_', '-' "
            "in '/'-separated segments, none starting with '.' (no absolute paths, no '..')",
            "Use a name such as 'tickets/1042' or 'summary-2026-11'.",
        )
    return key


class DocumentStore:
    """Documents by key in one folder.

    Parameters
    ----------
    folder : str or Path
        Created on the first write if missing.
    format : {'json', 'text'}, default='json'
        ``json`` stores any JSON value as ``<key>.json``; ``text`` stores strings as
        ``<key>.txt``.
    """

    def __init__(self, folder: str | Path, *, format: StorageFormat = "json") -> None:
        if format not in _SUFFIX:
            raise bad_value("format", format, "it must be 'json' or 'text'", "Pass one of those.")
        self.folder = Path(folder).expanduser().resolve()
        self.format: StorageFormat = format

    def path(self, key: str) -> Path:
        """The file of ``key`` (checked to lie inside the folder, symbolic links resolved)."""
        check_key(key)
        path = (self.folder / f"{key}{_SUFFIX[self.format]}").resolve()
        if not path.is_relative_to(self.folder):
            raise bad_value(
                "key",
                key,
                f"it resolves outside the storage folder {str(self.folder)!r} (through a "
                "symbolic link)",
                "Remove the link or store under another key.",
            )
        return path

    def write(self, key: str, content: Any) -> Path:
        """Store ``content`` under ``key`` atomically; return the file written."""
        if self.format == "text":
            if not isinstance(content, str):
                raise bad_value(
                    "content",
                    content,
                    "a text store holds strings",
                    "Pass a string, or use format='json' for other values.",
                )
            data = content
        else:
            try:
                data = json.dumps(content, ensure_ascii=False, indent=2, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise bad_value(
                    "content",
                    content,
                    f"it cannot be stored as JSON ({exc})",
                    "Pass strings, numbers, booleans, None, lists and dicts with string keys.",
                ) from None
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    def read(self, key: str) -> Any:
        """The document stored under ``key``.

        Raises
        ------
        NotFoundError
            When nothing is stored under ``key``.
        """
        path = self.path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(
                f"key={key!r} is invalid: nothing is stored under it in "
                f"{str(self.folder)!r} (no {path.name}). Write it first, or check the key "
                f"against keys() ({len(self.keys())} stored)."
            ) from None
        if self.format == "text":
            return text
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"key={key!r}: {path} is not valid JSON ({exc.msg} at line {exc.lineno}). "
                "Fix or remove the file, or read it with format='text'."
            ) from None

    def keys(self) -> list[str]:
        """Every stored key, sorted."""
        suffix = _SUFFIX[self.format]
        if not self.folder.is_dir():
            return []
        keys = []
        for path in self.folder.rglob(f"*{suffix}"):
            key = path.relative_to(self.folder).as_posix()[: -len(suffix)]
            if path.is_file() and _KEY.fullmatch(key):
                keys.append(key)
        return sorted(keys)


class StorageConfiguration(BaseModel):
    """``configuration`` of a Storage node.

    Attributes
    ----------
    folder : str
        The storage folder (relative to the flow file's folder). Resolved, it must lie
        inside a storage root (``storage_roots=``, ``--storage-root``).
    mode : {'write', 'read'}
        Write inputs ``key`` and ``content``; read input ``key`` to output ``document``.
    format : {'json', 'text'}, default='json'
        How documents are stored (see :class:`DocumentStore`).
    """

    model_config = ConfigDict(extra="forbid")

    folder: str = Field(min_length=1)
    mode: Literal["write", "read"]
    format: StorageFormat = "json"


@register_node_type
class StorageNode(NodeType):
    """``Storage``: write a document by key, or read one back.

    ``mode: write``: inputs ``key`` (String) and ``content`` (any type); optional output
    ``location`` (String, the file written). ``mode: read``: input ``key``; output
    ``document`` (any declared type; a stored value of another type fails the run).

    The folder must lie inside the run's storage roots (:attr:`RunContext.storage_roots`),
    checked at validation and again when the node runs; the key, an input known only when
    the node runs, is checked then (:func:`check_key`).
    """

    type_name: ClassVar[str] = "Storage"
    configuration_model: ClassVar[type[BaseModel]] = StorageConfiguration
    required_inputs: ClassVar[dict[str, str]] = {"key": "String"}
    extra_inputs: ClassVar[bool] = True
    extra_outputs: ClassVar[bool] = True

    def check(self, node: NodeSpec) -> list[Problem]:
        config = StorageConfiguration.model_validate(node.configuration)
        problems = []
        if config.mode == "write":
            inputs, outputs = {"key", "content"}, {"location"}
            if node.input("content") is None:
                problems.append(
                    Problem(node.name, "inputs", "mode 'write' needs an input named 'content'")
                )
            location = node.output("location")
            if location is not None and location.type != "String":
                problems.append(
                    Problem(node.name, "outputs.location.type", "location is String text")
                )
        else:
            inputs, outputs = {"key"}, {"document"}
            if node.output("document") is None:
                problems.append(
                    Problem(node.name, "outputs", "mode 'read' needs an output named 'document'")
                )
        for side, ports, allowed in (
            ("inputs", node.inputs, inputs),
            ("outputs", node.outputs, outputs),
        ):
            problems.extend(
                Problem(
                    node.name,
                    f"{side}.{port.name}",
                    f"mode {config.mode!r} {'takes' if side == 'inputs' else 'outputs'} only "
                    f"{sorted(allowed)}; remove it",
                )
                for port in ports
                if port.name not in allowed
            )
        return problems

    def check_access(self, node: NodeSpec, ctx: RunContext) -> list[Problem]:
        folder = StorageConfiguration.model_validate(node.configuration).folder
        reason = ctx.storage_folder_refusal(folder)
        if reason is None:
            return []
        message = folder_message(folder, reason, roots="storage")
        return [Problem(node.name, "configuration.folder", message)]

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        config = StorageConfiguration.model_validate(node.configuration)
        # Checked again here: a run may get a context validation never saw (a stored flow).
        store = DocumentStore(ctx.storage_folder(config.folder), format=config.format)
        if config.mode == "write":
            path = store.write(inputs["key"], inputs["content"])
            return {"location": str(path)} if node.output("location") is not None else {}
        return {"document": store.read(inputs["key"])}
