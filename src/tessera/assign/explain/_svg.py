"""SVG pictures of a trace: one per step, or all steps stacked in one file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.assign.explain._scene import FONT, Scene
from tessera.assign.explain._steps import MatrixStep

if TYPE_CHECKING:
    from tessera.assign.explain._trace import Trace

__all__ = ["stacked_svg", "step_scene", "step_svg"]


def step_scene(trace: Trace, index: int) -> Scene:
    """The picture of step ``index`` as a :class:`Scene` (for SVG or raster output)."""
    if isinstance(trace.steps[index], MatrixStep):
        from tessera.assign.explain._draw_matrix import matrix_scene

        return matrix_scene(trace, index)
    from tessera.assign.explain._draw_graph import graph_scene

    return graph_scene(trace, index)


def step_svg(trace: Trace, index: int) -> str:
    """A self-contained SVG document for step ``index``."""
    return step_scene(trace, index).to_svg()


def stacked_svg(trace: Trace) -> str:
    """Every step, top to bottom, in one SVG document."""
    scenes = [step_scene(trace, k) for k in range(len(trace.steps))]
    width = max(s.width for s in scenes)
    height = sum(s.height for s in scenes)
    parts, y = [], 0
    for scene in scenes:
        parts.append(scene.to_svg(x=0, y=y))
        y += scene.height
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}">'
        f"<title>Hungarian method, {trace.method} method: {len(scenes)} steps</title>"
        + "".join(parts)
        + "</svg>"
    )
