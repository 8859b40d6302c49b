"""The demo's assignment section and the ``tessera demo`` command (no browser needed)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tessera.assign import solve, taxi_example
from tessera.cli import _demo  # noqa: F401  (registers the command on the app)
from tessera.cli._app import app
from tessera.demo._assign import _greedy, _optimal_assignments, assign_section


@pytest.fixture(scope="module")
def section():
    return assign_section()


class _Tags(HTMLParser):
    """Collects tag names and the URLs a page would load."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if (
                name in ("src", "href", "xlink:href")
                and value
                and not value.startswith(("#", "data:"))
            ):
                self.urls.append(value)


def parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


def test_greedy_rule_and_its_cost() -> None:
    cost, people, taxis = taxi_example()
    chosen = _greedy(cost.astype(float))
    # Each person in turn takes the nearest free taxi (ties to the first).
    free = list(range(4))
    for i, j in enumerate(chosen):
        assert cost[i, j] == min(cost[i, k] for k in free)
        free.remove(j)
    assert cost[np.arange(4), chosen].sum() == 48


def test_optimal_assignments_are_exactly_the_minimum_ones() -> None:
    cost = taxi_example()[0].astype(float)
    optima = _optimal_assignments(cost, 36.0)
    assert len(optima) == 2
    assert all(cost[np.arange(4), list(p)].sum() == 36 for p in optima)


def test_summary_lines(section) -> None:
    text = "\n".join(section.summary)
    cost, people, taxis = taxi_example()
    result = solve(cost)
    pairs = ", ".join(
        f"{people[i]} → {taxis[j]}" for i, j in zip(result.rows, result.cols, strict=True)
    )
    assert f"optimal total 36 min: {pairs}" in text
    assert "Greedy (each person takes the nearest free taxi): 48 min, 12 more" in text
    assert "Dual certificate: sum of potentials = 36, verify() = True" in text
    assert re.search(r"matrix method \d+ steps, graph method \d+ steps, totals 36 and 36", text)
    speed = re.search(r"1000x1000 problem solved in ([\d.]+) ms \(scipy: ([\d.]+) ms\)", text)
    assert speed and float(speed.group(1)) > 0 and float(speed.group(2)) > 0
    assert text.endswith("certificate verified: True")


def test_body_is_self_contained_and_holds_both_methods(section) -> None:
    page = parse(section.body_html)
    assert page.urls == [], "the section must load nothing from outside"
    body = section.body_html
    # Key steps as inline SVG (three per method) plus every step of both stepping views.
    assert len(re.findall(r'<figure data-method="matrix"', body)) == 3
    assert len(re.findall(r'<figure data-method="graph"', body)) == 3
    steps = re.findall(r'<figure class="step"', body)
    assert page.tags.count("svg") == 6 + len(steps)
    assert 'class="assign-stepper" data-method="matrix"' in body
    assert 'class="assign-stepper" data-method="graph"' in body
    for heading in ("Optimal: 36 minutes", "Greedy: 48 minutes", "The dual certificate"):
        assert heading in body
    assert "certificate verified: True" in body


def test_speed_note_is_measured_not_written_down() -> None:
    """Each build solves a fresh random problem: the optima it reports differ."""
    optima = {
        re.search(r"same optimum\s+\(([\d.e+-]+)\)", assign_section().body_html).group(1)
        for _ in range(2)
    }
    assert len(optima) == 2


def test_demo_page_file(demo_page: Path) -> None:
    text = demo_page.read_text(encoding="utf-8")
    assert demo_page.name == "index.html"
    assert '<section id="assign">' in text
    assert parse(text).urls == []


def test_demo_command_writes_the_page(tmp_path: Path, tessera_home: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "index.html").is_file()
    assert "Optimal assignment: tessera.assign" in result.output
    assert "optimal total 36 min" in result.output
