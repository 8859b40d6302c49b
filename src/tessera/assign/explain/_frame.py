"""What every picture shares: palette, header, caption and legend."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from tessera.assign.explain._scene import Scene

__all__ = [
    "BLUE",
    "GREEN",
    "GREY",
    "INK",
    "LIGHT",
    "MUTED",
    "ORANGE",
    "PURPLE",
    "RED",
    "SKY",
    "footer",
    "header",
    "header_height",
    "legend",
    "legend_height",
    "wrap",
]

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies;
# widths and dashes differ too, so no meaning rests on hue alone.
BLUE = "#0072B2"
GREEN = "#009E73"
RED = "#D55E00"  # vermillion
ORANGE = "#E69F00"
PURPLE = "#CC79A7"
SKY = "#56B4E9"
INK = "#1d232a"
MUTED = "#57606a"
GREY = "#8c959f"
LIGHT = "#d0d7de"

_CHAR = 7.3  # average width of a 13 px DejaVu Sans character, in pixels
_LINE = 17


def wrap(text: str, width_px: float, size: float = 13) -> list[str]:
    """Break ``text`` into lines that fit ``width_px`` at font ``size``."""
    chars = max(20, int(width_px / (_CHAR * size / 13)))
    return textwrap.wrap(text, chars) or [""]


def header_height(descriptions: Sequence[str], width: int) -> int:
    """Height of the header that fits the longest description of a trace."""
    lines = max(len(wrap(d, width - 32)) for d in descriptions)
    return 44 + _LINE * lines + 6


def header(scene: Scene, index: int, count: int, title: str, description: str) -> None:
    """Step number, title and description at the top of the picture."""
    heading = f"Step {index + 1} of {count} · {title}"
    size = 16.0
    while size > 10 and len(heading) * _CHAR * 1.1 * size / 13 > scene.width - 32:
        size -= 1
    scene.text(16, 24, heading, size=size, anchor="start", weight="bold", cls="title")
    for k, line in enumerate(wrap(description, scene.width - 32)):
        scene.text(16, 48 + _LINE * k, line, size=13, anchor="start", fill=MUTED, cls="description")


_ITEM_GAP = 22


def _item_width(label: str) -> float:
    return 34 + len(label) * _CHAR * 12 / 13 + _ITEM_GAP


def legend_height(items: Sequence[tuple[str, dict[str, str], str]], width: int) -> int:
    rows, x = 1, 16.0
    for _, _, label in items:
        w = _item_width(label)
        if x + w > width - 8 and x > 16:
            rows, x = rows + 1, 16.0
        x += w
    return rows * 22 + 8


def footer(
    scene: Scene, y: float, caption: str, items: Sequence[tuple[str, dict[str, str], str]]
) -> None:
    """The caption line (the step's key figures) and the legend below it."""
    scene.text(
        16, y - 30, caption, size=13, anchor="start", weight="bold", fill=MUTED, cls="caption"
    )
    legend(scene, y, items)


def legend(scene: Scene, y: float, items: Sequence[tuple[str, dict[str, str], str]]) -> None:
    """Swatches with labels, wrapped across rows, starting at height ``y``.

    Each item is ``(kind, style, label)``; kind is ``"line"``, ``"ring"``,
    ``"box"`` or ``"text"`` (style ``{"text": ..., "color": ...}``).
    """
    x = 16.0
    for kind, style, label in items:
        w = _item_width(label)
        if x + w > scene.width - 8 and x > 16:
            x, y = 16.0, y + 22
        color = style.get("color", INK)
        if kind == "line":
            scene.line(
                x + 5,
                y,
                x + 21,
                y,
                stroke=color,
                width=float(style.get("width", "3")),
                dash=style.get("dash", ""),
                opacity=float(style.get("opacity", "1")),
                cls="legend-swatch",
            )
        elif kind == "ring":
            scene.circle(
                x + 13,
                y,
                8,
                fill=style.get("fill", "#ffffff"),
                stroke=color,
                width=float(style.get("width", "2.5")),
                dash=style.get("dash", ""),
                cls="legend-swatch",
            )
        elif kind == "box":
            scene.rect(
                x + 3,
                y - 9,
                20,
                18,
                fill=style.get("fill", "#ffffff"),
                stroke=color,
                width=float(style.get("width", "1")),
                cls="legend-swatch",
            )
        else:
            scene.text(
                x + 13,
                y,
                style.get("text", "?"),
                size=12,
                weight="bold",
                fill=color,
                cls="legend-swatch",
            )
        scene.text(x + 32, y, label, size=12, anchor="start", fill=MUTED, cls="legend-label")
        x += w
