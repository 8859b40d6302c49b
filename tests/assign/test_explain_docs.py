"""The Hungarian walkthrough's pictures are the renderer's current output."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "explanation"


def _load(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _make_images():  # type: ignore[no-untyped-def]
    return _load(DOCS / "make_images.py")


def test_committed_pictures_match_the_renderer() -> None:
    wanted = _make_images().images()
    on_disk = {p.name for p in (DOCS / "img").glob("*.svg")}
    assert on_disk == set(wanted), "run python docs/explanation/make_images.py"
    for name, svg in wanted.items():
        assert (DOCS / "img" / name).read_text(encoding="utf-8") == svg, (
            f"{name} is stale: run python docs/explanation/make_images.py"
        )


def test_walkthrough_links_existing_pictures() -> None:
    text = (DOCS / "hungarian.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\((img/[^)]+)\)", text)
    assert len(linked) >= 15
    for link in linked:
        assert (DOCS / link).is_file(), link
