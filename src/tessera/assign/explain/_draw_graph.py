"""The picture of a graph-method step: the bipartite graph with labels, edges and tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tessera.assign.explain._frame import (
    BLUE,
    GREEN,
    INK,
    LIGHT,
    MUTED,
    ORANGE,
    PURPLE,
    RED,
    footer,
    header,
    header_height,
    legend_height,
)
from tessera.assign.explain._scene import Scene
from tessera.assign.explain._steps import GraphStep, fmt

if TYPE_CHECKING:
    from tessera.assign.explain._trace import Trace

__all__ = ["graph_scene"]

GAP = 78
RADIUS = 22
_LEGEND = [
    ("line", {"color": LIGHT, "width": "1.5"}, "other edge"),
    ("line", {"color": BLUE, "width": "2.5"}, "equality edge (tight)"),
    ("line", {"color": GREEN, "width": "6"}, "matched"),
    ("line", {"color": RED, "width": "5"}, "augmenting path"),
    ("line", {"color": ORANGE, "width": "2", "dash": "3 4"}, "slack to a column outside T"),
    ("line", {"color": ORANGE, "width": "4"}, "minimum slack"),
    ("ring", {"color": PURPLE, "width": "4", "fill": "#f6e3ee"}, "tree: S (rows), T (columns)"),
    ("line", {"color": PURPLE, "width": "4"}, "tree edge"),
    ("ring", {"color": MUTED, "width": "2"}, "number inside: label"),
]


def _geometry(names: tuple[str, ...], n: int, descriptions: list[str]) -> dict[str, int]:
    name_w = max(60, 8 * max(len(s) for s in names) + 24)
    width = max(640, 2 * (name_w + 40) + 320)
    top = header_height(descriptions, width)
    nodes_y = top + 46
    legend_y = nodes_y + (n - 1) * GAP + RADIUS + 52
    height = legend_y + legend_height(_LEGEND, width) + 4
    return {
        "width": width,
        "left": 16 + name_w + 40,
        "right": width - 16 - name_w - 40,
        "top": top,
        "nodes_y": nodes_y,
        "legend_y": legend_y,
        "height": height,
    }


def graph_scene(trace: Trace, index: int) -> Scene:
    """Draw step ``index`` of a graph trace; every step gets the same canvas size."""
    step = trace.steps[index]
    assert isinstance(step, GraphStep)
    row_names, col_names, maximize = trace.row_names, trace.col_names, trace.maximize
    descriptions = [s.description for s in trace.steps]
    count = len(trace.steps)
    allowed = np.isfinite(trace.square)
    n = len(row_names)
    geo = _geometry(row_names + col_names, n, descriptions)
    scene = Scene(geo["width"], geo["height"], title=f"Step {index + 1}: {step.title}")
    header(scene, index, count, step.title, step.description)
    lx, rx, y0 = geo["left"], geo["right"], geo["nodes_y"]

    def ry(i: int) -> float:
        return y0 + i * GAP

    scene.text(lx, geo["top"] + 8, "rows", size=12, fill=MUTED, italic=True)
    scene.text(rx, geo["top"] + 8, "columns", size=12, fill=MUTED, italic=True)

    def edge(i: int, j: int, **style: object) -> None:
        scene.line(lx + RADIUS, ry(i), rx - RADIUS, ry(j), data={"row": i, "col": j}, **style)  # type: ignore[arg-type]

    equality = set(step.equality_edges)
    for i in range(n):
        for j in range(n):
            if (i, j) not in equality and allowed[i, j]:  # forbidden pairs have no edge
                edge(i, j, stroke=LIGHT, width=1.2, cls="edge")
    for i, j in step.equality_edges:
        edge(i, j, stroke=BLUE, width=2.5, cls="edge equality")
    matched = set(step.matching)
    for i, j in step.tree_edges:
        if (i, j) not in matched:  # matched tree edges are drawn green below
            edge(i, j, stroke=PURPLE, width=4, cls="edge tree")

    best: dict[int, tuple[int, float]] = {}
    for i, j, s in step.slacks:
        if j not in best or s < best[j][1]:
            best[j] = (i, s)
    for j, (i, _) in sorted(best.items()):
        if (i, j) != step.min_slack_edge:
            edge(i, j, stroke=ORANGE, width=2, dash="3 4", cls="edge slack")
    if step.min_slack_edge is not None and step.kind in ("slack", "revise"):
        i, j = step.min_slack_edge
        edge(i, j, stroke=ORANGE, width=4, cls="edge min-slack")

    path = set(step.path)
    for i, j in step.matching:
        if (i, j) not in path:
            edge(i, j, stroke=GREEN, width=6, cls="edge matched")
    for t, (i, j) in enumerate(step.path):
        leaving = t % 2 == 1  # odd edges of the path are matched now and leave the matching
        if leaving:
            edge(i, j, stroke=GREEN, width=6, cls="edge matched")
        edge(
            i,
            j,
            stroke=RED,
            width=4 if leaving else 5,
            dash="7 6" if leaving else "",
            cls="edge path",
        )

    tree_r, tree_c = set(step.tree_rows), set(step.tree_cols)
    for side, names, labels, tree, x in (
        ("row", row_names, step.row_labels, tree_r, lx),
        ("col", col_names, step.col_labels, tree_c, rx),
    ):
        for k, name in enumerate(names):
            y = ry(k)
            in_tree = k in tree
            dummy = name.startswith("dummy")
            scene.circle(
                x,
                y,
                RADIUS,
                fill="#f6e3ee" if in_tree else "#ffffff",
                stroke=PURPLE if in_tree else MUTED,
                width=4 if in_tree else 2,
                dash="4 3" if dummy else "",
                cls=f"node {side}" + (" tree" if in_tree else ""),
                data={side: k, "label": fmt(labels[k])},
            )
            label = fmt(labels[k])
            size = 14 if len(label) <= 3 else max(8, 14 - 2 * (len(label) - 3))
            scene.text(x, y, label, size=size, weight="bold", cls="label")
            off = -RADIUS - 10 if side == "row" else RADIUS + 10
            scene.text(
                x + off,
                y - 6,
                name,
                size=13,
                anchor="end" if side == "row" else "start",
                weight="bold",
                fill=INK,
                cls="name",
            )
            note = _note(step, side, k, in_tree, best, maximize)
            if note:
                scene.text(
                    x + off,
                    y + 11,
                    note[0],
                    size=11,
                    anchor="end" if side == "row" else "start",
                    fill=note[1],
                    cls="note",
                )

    footer(scene, geo["legend_y"], _caption(step, n, maximize), _LEGEND)
    return scene


def _note(
    step: GraphStep,
    side: str,
    k: int,
    in_tree: bool,
    best: dict[int, tuple[int, float]],
    maximize: bool,
) -> tuple[str, str] | None:
    if step.kind == "revise" and in_tree and step.min_slack is not None:
        up = (side == "row") != maximize
        sign = "+" if up else "−"
        return f"{sign}{fmt(step.min_slack)}", PURPLE
    if step.kind == "slack" and side == "col" and k in best:
        return f"slack {fmt(best[k][1])}", ORANGE
    return None


def _caption(step: GraphStep, n: int, maximize: bool) -> str:
    total = sum(step.row_labels) + sum(step.col_labels)
    bound = "an upper" if maximize else "a lower"
    return (
        f"Sum of labels {fmt(total)} ({bound} bound on every assignment) · "
        f"matching {len(step.matching)} of {n}"
    )
