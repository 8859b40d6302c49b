"""Issue 22's sets for guard_eval.py: Bedrock's PII types (marked spans) and content filters.

``pii_bedrock_{tuning,heldout}.txt`` mark each value as ``[[TYPE|value]]``; every Bedrock
type is scored on every line (a line without a mark must give no finding).
``content_{tuning,heldout}.tsv`` hold ``category, kind, text`` rows (kind: harmful,
lookalike, benign).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "guard"
_MARK = re.compile(r"\[\[([A-Z_]+)\|(.*?)\]\]")

Entity = tuple[str, int, int]


def read_marked(name: str) -> list[tuple[str, list[Entity]]]:
    """``(text, [(type, start, end), ...])`` per line of a marked PII file."""
    records = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, entities, cursor = "", [], 0
        for match in _MARK.finditer(line):
            text += line[cursor : match.start()]
            entities.append((match.group(1), len(text), len(text) + len(match.group(2))))
            text += match.group(2)
            cursor = match.end()
        text += line[cursor:]
        records.append((text, entities))
    return records


def score_marked(
    records: list[tuple[str, list[Entity]]], predict: Callable[[str], list[Entity]]
) -> tuple[Counter[Any], list[str]]:
    """Exact-span counts per type (``(type, "tp"|"fp"|"fn")``) and the mistakes."""
    counts: Counter[Any] = Counter()
    mistakes = []
    for text, gold in records:
        found = set(predict(text))
        for entity in found & set(gold):
            counts[entity[0], "tp"] += 1
        for entity in found - set(gold):
            counts[entity[0], "fp"] += 1
            mistakes.append(f"FP {entity[0]} {text[entity[1] : entity[2]]!r} in {text!r}")
        for entity in set(gold) - found:
            counts[entity[0], "fn"] += 1
            mistakes.append(f"FN {entity[0]} {text[entity[1] : entity[2]]!r} in {text!r}")
    return counts, mistakes


def prf(counts: Counter[Any], types: list[str] | None = None) -> tuple[float, float, float]:
    """Micro precision, recall, F1 over ``types`` (all when None)."""
    keep = (lambda t: True) if types is None else (lambda t: t in types)
    tp = sum(v for (t, k), v in counts.items() if k == "tp" and keep(t))
    fp = sum(v for (t, k), v in counts.items() if k == "fp" and keep(t))
    fn = sum(v for (t, k), v in counts.items() if k == "fn" and keep(t))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def read_content(name: str) -> list[tuple[str, str, str]]:
    """``(category, kind, text)`` rows of a content-filter set."""
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            category, kind, text = line.split("\t", 2)
            rows.append((category, kind, text))
    return rows


STRENGTHS = ("LOW", "MEDIUM", "HIGH")
_ORDER = ("NONE", "LOW", "MEDIUM", "HIGH")
_ACTS_FROM = {"LOW": "HIGH", "MEDIUM": "MEDIUM", "HIGH": "LOW"}


def content_table(
    rows: list[tuple[str, str, str]], confidences: list[dict[str, str]]
) -> tuple[list[str], dict[str, Any]]:
    """Markdown rows: per category P/R at each strength; look-alikes and benign flagged.

    ``confidences[i]`` maps each category to row ``i``'s confidence. For category C, the
    positives are C's harmful rows, the negatives every look-alike and benign row; harmful
    rows of other categories count for neither (hate is often an insult too).
    """
    lines = ["| category | strength | P | R | look-alikes flagged | benign flagged |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    summary: dict[str, Any] = {}
    categories = sorted({c for c, _, _ in rows}, key=["HATE", "INSULTS", "SEXUAL", "VIOLENCE",
                                                      "MISCONDUCT"].index)  # fmt: skip
    for category in categories:
        for strength in STRENGTHS:
            need = _ORDER.index(_ACTS_FROM[strength])
            tp = fp = fn = 0
            for (c, kind, _), conf in zip(rows, confidences, strict=True):
                flagged = _ORDER.index(conf[category]) >= need
                if c == category and kind == "harmful":
                    tp += flagged
                    fn += not flagged
                elif kind != "harmful":
                    fp += flagged
            look = [
                any(_ORDER.index(v) >= need for v in conf.values())
                for (c, kind, _), conf in zip(rows, confidences, strict=True)
                if c == category and kind == "lookalike"
            ]
            benign = [
                any(_ORDER.index(v) >= need for v in conf.values())
                for (c, kind, _), conf in zip(rows, confidences, strict=True)
                if c == category and kind == "benign"
            ]
            p = tp / (tp + fp) if tp + fp else 1.0
            r = tp / (tp + fn) if tp + fn else 1.0
            la, be = sum(look) / len(look), sum(benign) / len(benign)
            summary[category, strength] = (p, r, la, be)
            lines.append(
                f"| {category} | {strength} | {p:.2f} | {r:.2f} | {sum(look)}/{len(look)} "
                f"({la:.0%}) | {sum(benign)}/{len(benign)} ({be:.0%}) |"
            )
    return lines, summary
