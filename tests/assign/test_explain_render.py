"""The explainer's renderers: text, rich, SVG, PNG, GIF, HTML and save()."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from tessera.assign import Trace, explain, taxi_example
from tessera.assign.explain import GraphStep, MatrixStep
from tessera.errors import InvalidInputError

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module", params=["matrix", "graph"])
def trace(request: pytest.FixtureRequest) -> Trace:
    cost, people, taxis = taxi_example()
    return explain(cost, request.param, row_names=people, col_names=taxis)


def classes(root: ET.Element, tag: str, name: str) -> list[ET.Element]:
    return [e for e in root.iter(SVG + tag) if name in (e.get("class") or "").split()]


def test_text_mentions_every_step(trace: Trace) -> None:
    text = trace.to_text()
    for k, step in enumerate(trace.steps, 1):
        assert f"Step {k} [{step.kind}] {step.title}" in text
    assert "total 36" in text and "Ana" in text and "Taxi 4" in text


def test_rich_renders_every_step(trace: Trace) -> None:
    console = Console(record=True, width=120, color_system=None)
    console.print(trace)
    out = console.export_text()
    for k, step in enumerate(trace.steps, 1):
        assert f"Step {k}/{len(trace.steps)} [{step.kind}]" in out


def test_every_svg_parses_and_shows_the_step(trace: Trace) -> None:
    svgs = trace.svgs()
    assert len(svgs) == len(trace.steps)
    sizes = set()
    for k, (svg, step) in enumerate(zip(svgs, trace.steps, strict=True)):
        root = ET.fromstring(svg)
        assert root.tag == SVG + "svg"
        sizes.add((root.get("width"), root.get("height")))
        titles = [t.text for t in classes(root, "text", "title")]
        assert titles == [f"Step {k + 1} of {len(svgs)} · {step.title}"]
        assert classes(root, "text", "legend-label")
        if isinstance(step, MatrixStep):
            rows, cols = step.matrix.shape
            assert len(classes(root, "rect", "cell")) == rows * cols
            zeros = int((step.matrix == 0).sum()) if step.kind not in ("start",) else 0
            assert len(classes(root, "rect", "zero")) == zeros
            assert len(classes(root, "circle", "star")) == len(step.matching)
            lines = classes(root, "line", "line")
            assert len(lines) == step.n_lines
            assert len(classes(root, "rect", "minimum")) == (step.minimum_at is not None)
            assert [t.text for t in classes(root, "text", "value")].count("0") >= zeros
        else:
            assert isinstance(step, GraphStep)
            n = len(step.row_labels)
            rows = classes(root, "circle", "row")
            cols = classes(root, "circle", "col")
            assert len(rows) == len(cols) == n
            shown = [c.get("data-label") for c in rows]
            assert shown == [str(int(x)) for x in step.row_labels]
            assert len(classes(root, "circle", "tree")) == len(step.tree_rows) + len(step.tree_cols)
            edges = classes(root, "line", "edge")
            base = [e for e in edges if e.get("class") in ("edge", "edge equality")]
            assert len(base) == n * n  # the complete bipartite graph, each edge once
            eq = {
                (int(e.get("data-row")), int(e.get("data-col")))
                for e in classes(root, "line", "equality")
            }
            assert eq == set(step.equality_edges)
            matched = {
                (int(e.get("data-row")), int(e.get("data-col")))
                for e in classes(root, "line", "matched")
            }
            assert matched == set(step.matching)
            assert len(classes(root, "line", "path")) == len(step.path)
            tree = {
                (int(e.get("data-row")), int(e.get("data-col")))
                for e in classes(root, "line", "tree")
            }
            assert tree == set(step.tree_edges) - set(step.matching)
            assert len(classes(root, "line", "min-slack")) == (step.kind in ("slack", "revise"))
    assert len(sizes) == 1, "every frame of a trace has the same size"


def test_svg_is_self_contained(trace: Trace) -> None:
    for svg in trace.svgs():
        assert "href" not in svg and "url(" not in svg
        assert re.findall(r"https?://[^\"']+", svg) == ["http://www.w3.org/2000/svg"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_one_self_contained_page(trace: Trace) -> None:
    page = trace.to_html()
    parser = _Page()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert page.startswith("<!DOCTYPE html>") and tags.count("html") == 1
    figures = [a for t, a in parser.tags if t == "figure"]
    assert len(figures) == len(trace.steps)
    assert [a["data-kind"] for a in figures] == [s.kind for s in trace.steps]
    assert tags.count("svg") == len(trace.steps)
    assert tags.count("script") == 1 and all(
        "src" not in a for t, a in parser.tags if t == "script"
    )
    assert "link" not in tags and "img" not in tags and "iframe" not in tags
    assert "@import" not in page and "url(" not in page
    assert set(re.findall(r"https?://[^\"'\s]+", page)) == {"http://www.w3.org/2000/svg"}
    assert 'class="prev"' in page and 'class="next"' in page and "ArrowRight" in page
    assert f'data-steps="{len(trace.steps)}"' in page


def test_html_fragment_embeds(trace: Trace) -> None:
    fragment = trace.to_html(standalone=False)
    assert "<html" not in fragment and fragment.count("<script>") == 1
    assert fragment.count('<figure class="step"') == len(trace.steps)


def test_gif_has_one_frame_per_step(trace: Trace, tmp_path: Path) -> None:
    path = trace.to_gif(tmp_path / "t.gif", fps=2)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == len(trace.steps)
        assert gif.info["duration"] == 500 and gif.info.get("loop") == 0
        first = np.asarray(gif.convert("RGB"))
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
    assert first.shape == last.shape and not np.array_equal(first, last)


def test_png_is_the_picture(trace: Trace, tmp_path: Path) -> None:
    path = trace.to_png(tmp_path / "t.png", 0)
    root = ET.fromstring(trace.to_svg(0))
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.size == (int(root.get("width")), int(root.get("height")))
        pixels = np.asarray(png.convert("RGB"))
    # Not blank: there is dark ink (text) and some colour (edges, zeros).
    assert (pixels.min(axis=2) < 80).mean() > 0.005
    assert (pixels.max(axis=2) - pixels.min(axis=2) > 60).mean() > 0.002


def test_save_dispatches_on_suffix(trace: Trace, tmp_path: Path) -> None:
    html = trace.save(tmp_path / "t.html")
    assert html.read_text(encoding="utf-8") == trace.to_html()
    assert trace.save(tmp_path / "t.SVG").read_text(encoding="utf-8") == trace.to_svg(-1)
    stack = ET.fromstring(trace.to_svg_stack())
    nested = stack.findall(SVG + "svg")
    assert len(nested) == len(trace.steps)
    assert int(stack.get("height")) == sum(int(s.get("height")) for s in nested)
    with Image.open(trace.save(tmp_path / "t.gif")) as gif:
        assert gif.n_frames == len(trace.steps)
    with Image.open(trace.save(tmp_path / "t.png")) as png:
        assert png.format == "PNG"
    with pytest.raises(InvalidInputError, match=r"path='t\.pdf'.*suffix '\.pdf' must be \.html"):
        trace.save(tmp_path / "t.pdf")


def test_bad_render_arguments(trace: Trace, tmp_path: Path) -> None:
    n = len(trace.steps)
    assert trace.to_svg(-1) == trace.to_svg(n - 1)
    with pytest.raises(InvalidInputError, match=f"step_index={n}.*{n} steps"):
        trace.to_svg(n)
    with pytest.raises(InvalidInputError, match="step_index='1'"):
        trace.to_svg("1")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="fps=0"):
        trace.to_gif(tmp_path / "t.gif", fps=0)


@pytest.mark.parametrize("method", ["matrix", "graph"])
def test_pictures_of_awkward_problems(method: str) -> None:
    """Rectangular, forbidden pairs, floats, maximise: every picture still parses."""
    cost = np.array([[1.5, np.inf, 3.25], [2.0, 0.125, np.inf]])
    trace = explain(cost, method)
    for svg in trace.svgs():
        ET.fromstring(svg)
    assert "∞" in trace.to_text() or method == "graph"
    if method == "graph":  # forbidden pairs are not edges of the graph
        root = ET.fromstring(trace.to_svg(0))
        drawn = {
            (int(e.get("data-row")), int(e.get("data-col"))) for e in classes(root, "line", "edge")
        }
        assert drawn == {(i, j) for i in range(3) for j in range(3)} - {(0, 1), (1, 2)}
    big = explain(np.arange(36).reshape(6, 6) % 7, method, maximize=True)
    assert ET.fromstring(big.to_svg()).tag == SVG + "svg"
    assert "maximise" in big.to_text()
