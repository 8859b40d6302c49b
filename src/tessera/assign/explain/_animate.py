"""PNG pictures and animated GIFs of a trace, rasterised with matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tessera.assign.explain._svg import step_scene

if TYPE_CHECKING:
    from tessera.assign.explain._trace import Trace

__all__ = ["write_gif", "write_png"]


def write_png(trace: Trace, path: Path, index: int, *, dpi: int = 100) -> Path:
    """Rasterise step ``index`` into ``path``."""
    step_scene(trace, index).to_image(dpi=dpi).save(path, format="PNG")
    return path


def write_gif(trace: Trace, path: Path, *, fps: float = 1.0) -> Path:
    """One frame per step, ``fps`` frames a second, looping forever."""
    from PIL import Image

    frames = [step_scene(trace, k).to_image() for k in range(len(trace.steps))]
    # One shared adaptive palette keeps colours steady from frame to frame.
    paletted = [frame.quantize(colors=255, dither=Image.Dither.NONE) for frame in frames]
    paletted[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=paletted[1:],
        duration=int(round(1000 / fps)),
        loop=0,
        disposal=1,
        optimize=False,
    )
    return path
