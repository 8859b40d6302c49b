"""Safe YAML output that reads back to the same strings.

PyYAML with ``allow_unicode=True`` writes U+0085 (NEXT LINE) raw inside a quoted scalar,
and its own loader then folds it into a space: a prompt, flow or guardrail exported and
imported again would lose it. Strings that contain it are written double-quoted, where the
emitter escapes it (``\\N``).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["dump_yaml"]


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """SafeDumper; see :func:`dump_yaml`."""

    blocks = False


class _BlockDumper(_Dumper):
    """Also writes multi-line strings as ``|`` blocks, readable in a review."""

    blocks = True


def _represent_str(dumper: _Dumper, value: str) -> yaml.Node:
    style = None
    if "\x85" in value:
        style = '"'
    elif dumper.blocks and "\n" in value and value.strip():
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any, *, blocks: bool = False, width: int | None = None) -> str:
    """Safe YAML of ``data``, keys in their given order, Unicode kept, strings exact.

    ``blocks=True`` writes multi-line strings as ``|`` blocks.
    """
    dumper = _BlockDumper if blocks else _Dumper
    return str(yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=width))
