"""Generated pages in a real headless Chromium: no errors, pictures render, stepping works."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.assign import explain, taxi_example

pytestmark = pytest.mark.browser


def test_helper_reports_errors_and_outside_requests(browser, tmp_path: Path) -> None:
    """The helper itself: a broken page must be reported as broken."""
    page_file = tmp_path / "broken.html"
    page_file.write_text(
        "<h1>Broken</h1><img src='https://example.invalid/x.png'>"
        "<script>console.error('boom'); null.field;</script>",
        encoding="utf-8",
    )
    with browser.open(page_file) as page:
        assert page.text("h1") == "Broken"
        assert any("boom" in e for e in page.console_errors)
        assert page.page_errors and "null" in page.page_errors[0]
        assert page.outside_requests == ["https://example.invalid/x.png"]


def stepper_state(page, root: str) -> tuple[str, int]:
    """The counter text and how many step pictures are visible inside ``root``."""
    counter = page.text(f"{root} .counter")
    shown = page.evaluate(
        f"""Array.from(document.querySelectorAll('{root} figure.step'))
            .filter(f => f.getBoundingClientRect().height > 0).length"""
    )
    return counter, int(shown)


def test_demo_page_renders(browser, demo_page: Path, tmp_path: Path) -> None:
    with browser.open(demo_page) as page:
        assert page.errors == []
        assert page.outside_requests == []
        assert page.text("h1") == "Tessera demo"
        assert "Optimal assignment: tessera.assign" in page.texts("section h2")
        assign = "section#assign"
        assert "Optimal: 36 minutes" in page.texts(f"{assign} h3")
        assert page.count(f"{assign} .assign-keys figure svg") == 6
        # Every step picture is inline SVG that the browser laid out with a real size.
        sizes = page.evaluate(
            """Array.from(document.querySelectorAll('.assign-keys svg'))
                .map(s => s.getBoundingClientRect().width)"""
        )
        assert len(sizes) == 6 and min(sizes) > 200
        shot = page.screenshot(tmp_path / "demo.png")
        assert shot.stat().st_size > 50_000


@pytest.mark.parametrize("method", ["matrix", "graph"])
def test_demo_stepping_views(browser, demo_page: Path, method: str) -> None:
    root = f'.assign-stepper[data-method="{method}"] .tx'
    with browser.open(demo_page) as page:
        counter, shown = stepper_state(page, root)
        total = page.count(f"{root} figure.step")
        assert counter == f"Step 1 of {total}" and shown == 1 and total > 3
        assert not page.page.locator(f"{root} button.prev").is_enabled()
        page.click(f"{root} button.next")
        assert stepper_state(page, root) == (f"Step 2 of {total}", 1)
        page.click(f"{root} ol.steps-nav li:last-child")
        assert stepper_state(page, root) == (f"Step {total} of {total}", 1)
        assert not page.page.locator(f"{root} button.next").is_enabled()
        page.click(f"{root} button.prev")
        assert stepper_state(page, root)[0] == f"Step {total - 1} of {total}"
        # The other method's viewer did not move.
        other = "graph" if method == "matrix" else "matrix"
        other_root = f'.assign-stepper[data-method="{other}"] .tx'
        assert stepper_state(page, other_root)[0].startswith("Step 1 of ")
        assert page.errors == []


@pytest.mark.parametrize("method", ["matrix", "graph"])
def test_explainer_page_renders_and_steps(browser, tmp_path: Path, method: str) -> None:
    cost, people, taxis = taxi_example()
    trace = explain(cost, method, row_names=people, col_names=taxis)
    path = trace.save(tmp_path / f"{method}.html")
    with browser.open(path) as page:
        assert page.errors == [] and page.outside_requests == []
        assert page.count("svg") == len(trace.steps)
        assert stepper_state(page, ".tx") == (f"Step 1 of {len(trace.steps)}", 1)
        page.click("button.next")
        assert stepper_state(page, ".tx") == (f"Step 2 of {len(trace.steps)}", 1)
        page.press("ArrowRight")
        assert page.text(".counter") == f"Step 3 of {len(trace.steps)}"
        page.press("ArrowLeft")
        assert page.text(".counter") == f"Step 2 of {len(trace.steps)}"
        assert "total 36" in page.text(".summary")
        assert page.errors == []
