"""Shared by the benchmark scripts: update one section of benchmarks/RESULTS.md."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace (or append) the ``## name`` section of ``path``, leaving the others alone.

    ``text`` is the whole section, starting with its ``## name`` heading.
    """
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    body = text.rstrip("\n") + "\n"
    if pattern.search(current):
        updated = pattern.sub(lambda _: body + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + body
    path.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def publish(name: str, lines: list[str], write: bool, path: Path = RESULTS) -> int:
    """Print a benchmark's section (``lines``, its ``## name`` heading first) and, with
    ``write``, put it in ``path`` (:func:`write_section`); the script's exit status."""
    import sys

    text = "\n".join(lines) + "\n"
    print(text)
    if write:
        write_section(name, text, path)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table: a left-aligned first column, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
