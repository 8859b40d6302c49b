"""A tiny vector scene: drawn once, written as SVG or rasterised with matplotlib.

The pictures are built from four shapes (rectangles, lines, circles, text) in
pixel coordinates, y pointing down. :meth:`Scene.to_svg` writes them as a
self-contained SVG string; :meth:`Scene.to_image` draws the same shapes with
matplotlib's Agg backend (imported only then) for PNG and GIF frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["FONT", "Scene"]

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"


@dataclass
class _Shape:
    kind: str
    geometry: tuple[float, ...]
    style: dict[str, Any]
    cls: str
    data: dict[str, str]
    text: str = ""


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


@dataclass
class Scene:
    """Shapes on a ``width`` x ``height`` pixel canvas with a white background."""

    width: int
    height: int
    title: str = ""
    shapes: list[_Shape] = field(default_factory=list)

    def _add(
        self,
        kind: str,
        geometry: tuple[float, ...],
        cls: str,
        data: dict[str, Any] | None,
        text: str = "",
        **style: Any,
    ) -> None:
        shown = {k: str(v) for k, v in (data or {}).items()}
        self.shapes.append(_Shape(kind, geometry, style, cls, shown, text))

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        fill: str = "none",
        stroke: str = "none",
        width: float = 1.0,
        rx: float = 0.0,
        dash: str = "",
        opacity: float = 1.0,
        cls: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        self._add(
            "rect",
            (x, y, w, h),
            cls,
            data,
            fill=fill,
            stroke=stroke,
            width=width,
            rx=rx,
            dash=dash,
            opacity=opacity,
        )

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        *,
        stroke: str,
        width: float = 1.0,
        dash: str = "",
        opacity: float = 1.0,
        cls: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        self._add(
            "line",
            (x1, y1, x2, y2),
            cls,
            data,
            stroke=stroke,
            width=width,
            dash=dash,
            opacity=opacity,
        )

    def circle(
        self,
        cx: float,
        cy: float,
        r: float,
        *,
        fill: str = "none",
        stroke: str = "none",
        width: float = 1.0,
        dash: str = "",
        cls: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        self._add(
            "circle",
            (cx, cy, r),
            cls,
            data,
            fill=fill,
            stroke=stroke,
            width=width,
            dash=dash,
            opacity=1.0,
        )

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 13,
        anchor: str = "middle",
        weight: str = "normal",
        fill: str = "#1d232a",
        italic: bool = False,
        cls: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        self._add(
            "text",
            (x, y),
            cls,
            data,
            text,
            size=size,
            anchor=anchor,
            weight=weight,
            fill=fill,
            italic=italic,
        )

    # -- SVG ---------------------------------------------------------------

    def to_svg(self, *, x: float | None = None, y: float | None = None) -> str:
        """The scene as an SVG document (or a nested ``<svg>`` placed at ``x, y``)."""
        place = "" if x is None else f' x="{_num(x)}" y="{_num(y or 0)}"'
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg"{place} width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'font-family="{FONT}">'
            f"<title>{escape(self.title)}</title>"
            f'<rect class="background" width="{self.width}" height="{self.height}" fill="#ffffff"/>'
        )
        return head + "".join(_svg(shape) for shape in self.shapes) + "</svg>"

    # -- raster ------------------------------------------------------------

    def to_image(self, *, dpi: int = 100) -> Image:
        """Rasterise with matplotlib (Agg); returns an RGB :class:`PIL.Image.Image`."""
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from PIL import Image as PILImage

        fig = Figure(figsize=(self.width / 100.0, self.height / 100.0), dpi=dpi)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_xlim(0, self.width)
        ax.set_ylim(self.height, 0)
        ax.set_axis_off()
        pt = 0.72  # points per pixel at 100 dpi
        for z, shape in enumerate(self.shapes):
            _draw(ax, shape, pt, z)
        canvas.draw()  # type: ignore[no-untyped-call]
        rgba = np.asarray(canvas.buffer_rgba()).copy()  # type: ignore[no-untyped-call]
        return PILImage.fromarray(rgba).convert("RGB")


def _attrs(shape: _Shape) -> str:
    out = f' class="{escape(shape.cls)}"' if shape.cls else ""
    for key, value in shape.data.items():
        out += f' data-{key}="{escape(value)}"'
    return out


def _paint(style: dict[str, Any]) -> str:
    out = f' fill="{style.get("fill", "none")}"'
    if style.get("stroke", "none") != "none":
        out += f' stroke="{style["stroke"]}" stroke-width="{_num(style["width"])}"'
        if style.get("dash"):
            out += f' stroke-dasharray="{style["dash"]}"'
    if style.get("opacity", 1.0) != 1.0:
        out += f' opacity="{style["opacity"]}"'
    return out


def _svg(shape: _Shape) -> str:
    g, s = shape.geometry, shape.style
    if shape.kind == "rect":
        rx = f' rx="{_num(s["rx"])}"' if s["rx"] else ""
        return (
            f'<rect{_attrs(shape)} x="{_num(g[0])}" y="{_num(g[1])}" width="{_num(g[2])}" '
            f'height="{_num(g[3])}"{rx}{_paint(s)}/>'
        )
    if shape.kind == "line":
        return (
            f'<line{_attrs(shape)} x1="{_num(g[0])}" y1="{_num(g[1])}" x2="{_num(g[2])}" '
            f'y2="{_num(g[3])}" stroke-linecap="round"{_paint({**s, "fill": "none"})}/>'
        )
    if shape.kind == "circle":
        return (
            f'<circle{_attrs(shape)} cx="{_num(g[0])}" cy="{_num(g[1])}" r="{_num(g[2])}"'
            f"{_paint(s)}/>"
        )
    style = f' font-size="{_num(s["size"])}" text-anchor="{s["anchor"]}" fill="{s["fill"]}"'
    if s["weight"] != "normal":
        style += f' font-weight="{s["weight"]}"'
    if s["italic"]:
        style += ' font-style="italic"'
    return (
        f'<text{_attrs(shape)} x="{_num(g[0])}" y="{_num(g[1])}" '
        f'dominant-baseline="central"{style}>{escape(shape.text)}</text>'
    )


def _dashes(dash: str, width: float) -> Any:
    if not dash:
        return "solid"
    pattern = tuple(float(p) / max(width, 0.5) for p in dash.split())
    return (0, pattern)


def _draw(ax: Any, shape: _Shape, pt: float, z: int) -> None:
    from matplotlib.patches import Circle, FancyBboxPatch, Rectangle

    g, s = shape.geometry, shape.style
    if shape.kind in ("rect", "circle"):
        fill = s["fill"]
        common = dict(
            facecolor="none" if fill == "none" else fill,
            edgecolor="none" if s["stroke"] == "none" else s["stroke"],
            linewidth=s["width"] * pt if s["stroke"] != "none" else 0.0,
            linestyle=_dashes(s["dash"], s["width"]),
            alpha=s["opacity"] if s["opacity"] != 1.0 else None,
            zorder=z,
        )
        if shape.kind == "circle":
            ax.add_patch(Circle((g[0], g[1]), g[2], **common))
        elif s["rx"]:
            box = f"round,pad=0,rounding_size={s['rx']}"
            ax.add_patch(FancyBboxPatch((g[0], g[1]), g[2], g[3], boxstyle=box, **common))
        else:
            ax.add_patch(Rectangle((g[0], g[1]), g[2], g[3], **common))
    elif shape.kind == "line":
        ax.plot(
            [g[0], g[2]],
            [g[1], g[3]],
            color=s["stroke"],
            linewidth=s["width"] * pt,
            linestyle=_dashes(s["dash"], s["width"]),
            solid_capstyle="round",
            dash_capstyle="round",
            alpha=s["opacity"] if s["opacity"] != 1.0 else None,
            zorder=z,
        )
    else:
        ax.text(
            g[0],
            g[1],
            shape.text,
            fontsize=s["size"] * pt,
            color=s["fill"],
            ha={"start": "left", "middle": "center", "end": "right"}[s["anchor"]],
            va="center_baseline",
            fontweight=s["weight"],
            fontstyle="italic" if s["italic"] else "normal",
            zorder=z,
            fontfamily="DejaVu Sans",
        )
