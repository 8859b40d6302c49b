"""The picture of a matrix-method step: the matrix, its zeros, lines and minimum."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tessera.assign.explain._frame import (
    BLUE,
    GREEN,
    GREY,
    INK,
    LIGHT,
    ORANGE,
    RED,
    footer,
    header,
    header_height,
    legend_height,
)
from tessera.assign.explain._scene import Scene
from tessera.assign.explain._steps import MatrixStep, fmt

if TYPE_CHECKING:
    from tessera.assign.explain._trace import Trace

__all__ = ["matrix_scene"]

CELL = 54
_LEGEND = [
    ("box", {"color": GREY, "fill": "#fff1c1", "width": "1"}, "zero"),
    ("ring", {"color": GREEN, "width": "3"}, "independent zero (matching)"),
    ("line", {"color": BLUE, "width": "10", "opacity": "0.35"}, "covering line"),
    ("box", {"color": ORANGE, "fill": "#fde3b0", "width": "3"}, "smallest uncovered entry"),
    ("text", {"text": "−m", "color": RED}, "uncovered: minus m"),
    ("text", {"text": "+m", "color": BLUE}, "covered twice: plus m"),
    ("box", {"color": GREEN, "fill": "#bfe6d9", "width": "2"}, "assigned"),
]


def _geometry(trace_names: tuple[str, ...], n: int, descriptions: list[str]) -> dict[str, int]:
    name_w = max(60, 8 * max(len(s) for s in trace_names) + 20)
    width = max(640, 16 + name_w + n * CELL + 100)
    top = header_height(descriptions, width)
    grid_y = top + 30
    legend_y = grid_y + n * CELL + 26 + 34
    height = legend_y + legend_height(_LEGEND, width) + 4
    return {
        "width": width,
        "grid_x": 16 + name_w,
        "grid_y": grid_y,
        "legend_y": legend_y,
        "height": height,
    }


def matrix_scene(trace: Trace, index: int) -> Scene:
    """Draw step ``index`` of a matrix trace; every step gets the same canvas size."""
    step = trace.steps[index]
    assert isinstance(step, MatrixStep)
    row_names, col_names, original = trace.row_names, trace.col_names, trace.cost
    descriptions = [s.description for s in trace.steps]
    count = len(trace.steps)
    n = len(row_names)
    geo = _geometry(row_names + col_names, n, descriptions)
    scene = Scene(geo["width"], geo["height"], title=f"Step {index + 1}: {step.title}")
    header(scene, index, count, step.title, step.description)
    a = step.matrix
    rows, cols = a.shape
    gx, gy = geo["grid_x"], geo["grid_y"]

    def centre(i: int, j: int) -> tuple[float, float]:
        return gx + j * CELL + CELL / 2, gy + i * CELL + CELL / 2

    for j in range(cols):
        scene.text(
            gx + j * CELL + CELL / 2, gy - 14, col_names[j], size=12, weight="bold", cls="col-name"
        )
    for i in range(rows):
        scene.text(
            gx - 12,
            gy + i * CELL + CELL / 2,
            row_names[i],
            size=12,
            anchor="end",
            weight="bold",
            cls="row-name",
        )

    assigned = set(step.matching) if step.kind == "assign" else set()
    covered_r, covered_c = set(step.covered_rows), set(step.covered_cols)
    for i in range(rows):
        for j in range(cols):
            value = float(a[i, j])
            zero = value == 0 and step.kind not in ("start", "maximize", "pad")
            fill = "#ffffff"
            if np.isinf(value):
                fill = "#eef0f2"
            elif (i, j) in assigned:
                fill = "#bfe6d9"
            elif zero:
                fill = "#fff1c1"
            cls = "cell zero" if zero else "cell"
            x, y = gx + j * CELL, gy + i * CELL
            scene.rect(
                x,
                y,
                CELL,
                CELL,
                fill=fill,
                stroke=LIGHT,
                width=1,
                cls=cls,
                data={"row": i, "col": j},
            )

    lines_opacity = 0.18 if step.kind == "adjust" else 0.35
    for i in step.covered_rows:
        band_y = gy + i * CELL + CELL / 2
        scene.line(
            gx - 6,
            band_y,
            gx + cols * CELL + 6,
            band_y,
            stroke=BLUE,
            width=12,
            opacity=lines_opacity,
            cls="line row",
            data={"row": i},
        )
    for j in step.covered_cols:
        band_x = gx + j * CELL + CELL / 2
        scene.line(
            band_x,
            gy - 4,
            band_x,
            gy + rows * CELL + 6,
            stroke=BLUE,
            width=12,
            opacity=lines_opacity,
            cls="line col",
            data={"col": j},
        )

    if step.minimum_at is not None:
        i, j = step.minimum_at
        scene.rect(
            gx + j * CELL + 3,
            gy + i * CELL + 3,
            CELL - 6,
            CELL - 6,
            fill="none",
            stroke=ORANGE,
            width=3.5,
            rx=4,
            cls="minimum",
            data={"row": i, "col": j},
        )

    for i in range(rows):
        for j in range(cols):
            value = float(a[i, j])
            cx, cy = centre(i, j)
            zero = value == 0 and step.kind not in ("start", "maximize", "pad")
            color = GREY if np.isinf(value) else INK
            scene.text(
                cx,
                cy,
                fmt(value),
                size=16,
                weight="bold" if zero else "normal",
                fill=color,
                cls="value",
            )
            if step.kind == "adjust" and step.minimum is not None:
                mark = _adjust_mark(i in covered_r, j in covered_c, fmt(step.minimum))
                if mark:
                    scene.text(
                        gx + (j + 1) * CELL - 4,
                        gy + i * CELL + 9,
                        mark[0],
                        size=10,
                        anchor="end",
                        weight="bold",
                        fill=mark[1],
                        cls="delta",
                    )

    for i, j in step.matching:
        cx, cy = centre(i, j)
        scene.circle(cx, cy, 15, stroke=GREEN, width=3, cls="star", data={"row": i, "col": j})

    if step.kind == "row_reduction":
        for i, r in enumerate(step.reductions):
            scene.text(
                gx + cols * CELL + 14,
                gy + i * CELL + CELL / 2,
                f"−{fmt(r)}",
                size=13,
                anchor="start",
                fill=RED,
                cls="reduction",
            )
    if step.kind == "column_reduction":
        for j, r in enumerate(step.reductions):
            scene.text(
                gx + j * CELL + CELL / 2,
                gy + rows * CELL + 14,
                f"−{fmt(r)}",
                size=13,
                fill=RED,
                cls="reduction",
            )

    footer(scene, geo["legend_y"], _caption(step, n, original), _LEGEND)
    return scene


def _adjust_mark(row_covered: bool, col_covered: bool, m: str) -> tuple[str, str] | None:
    if not row_covered and not col_covered:
        return f"−{m}", RED
    if row_covered and col_covered:
        return f"+{m}", BLUE
    return None


def _caption(step: MatrixStep, n: int, original: np.ndarray) -> str:
    bound = f"taken off every assignment so far: {fmt(step.taken_off)}"
    if step.kind in ("cover", "adjust"):
        text = f"{step.n_lines} line(s), {len(step.matching)} independent zero(s), n = {n}"
        if step.minimum is not None:
            text += f", m = {fmt(step.minimum)}"
        return f"{text}; {bound}"
    if step.kind == "assign":
        terms = [
            float(original[i, j])
            for i, j in step.matching
            if i < original.shape[0] and j < original.shape[1]
        ]
        total = " + ".join(fmt(t) for t in terms) + f" = {fmt(sum(terms))}"
        return f"Original costs: {total}; {bound}"
    if step.kind in ("row_reduction", "column_reduction"):
        return bound[0].upper() + bound[1:]
    return f"{step.matrix.shape[0]} x {step.matrix.shape[1]} matrix"
