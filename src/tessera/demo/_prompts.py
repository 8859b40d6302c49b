"""The demo's prompts section: a prompt versioned, labelled, compared, rendered and run.

Everything happens in a throw-away database (a temporary folder removed afterwards), never
in the user's ``$TESSERA_HOME`` registry: the page shows the versions and labels table, the
diff of version 1 against version 2, the messages each renders to, and the production
version's default variant answering on the embedded model.
"""

from __future__ import annotations

import html
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.demo._page import LLM_INSTALL, Section
from tessera.errors import MissingExtraError

__all__ = ["NAME", "V1", "V2", "VARIABLES", "PromptTour", "prompts_section", "tour_prompts"]

#: The prompt's name in the temporary registry.
NAME = "kettle-help"
_SYSTEM_V1 = (
    "You answer questions about the {{product}} in one short sentence.\n"
    "{{#if vip}}\n"
    "The customer is a member: thank them first.\n"
    "{{/if}}\n"
)
#: Version 1: a chat prompt with declared variables and an ``{{#if}}`` block.
V1: dict[str, Any] = {
    "type": "chat",
    "system": _SYSTEM_V1,
    "messages": [{"role": "user", "content": "{{question}}"}],
    "variables": {
        "product": {"default": "Aurora smart kettle"},
        "question": {"description": "the customer's question"},
        "vip": {"type": "boolean", "default": False},
    },
    "variants": [{"name": "local", "model": "tessera", "max_tokens": 16}],
}
#: Version 2: friendlier wording, a shorter answer, a second variant.
V2: dict[str, Any] = {
    **V1,
    "system": _SYSTEM_V1.replace("one short sentence", "one friendly sentence").replace(
        "thank them first", "thank them by name first"
    ),
    "messages": [{"role": "user", "content": "Question from {{name}}: {{question}}"}],
    "variables": {**V1["variables"], "name": {"default": "a customer"}},
    "variants": [
        {"name": "local", "model": "tessera", "max_tokens": 12},
        {"name": "warm", "model": "tessera", "max_tokens": 12, "temperature": 0.7, "seed": 7},
    ],
}
#: The values the page renders both versions with (and runs production on).
VARIABLES: dict[str, Any] = {
    "question": "Why does my kettle switch off before the water boils?",
    "vip": True,
    "name": "Ada",
}
_WRAP = ' style="white-space:pre-wrap;text-align:left"'
_LEFT = ' style="text-align:left"'
_INSTALL = LLM_INSTALL


@dataclass(frozen=True)
class PromptTour:
    """What the tour did in its temporary registry.

    Attributes
    ----------
    versions : list of tessera.llm._versioned.Version
        Every committed version, oldest first, with its labels.
    diff : tessera.llm.prompts.PromptDiff
        Version 1 against version 2.
    rendered : dict of str to list of dict
        The chat messages ``NAME@production`` and ``NAME@latest`` render to for
        :data:`VARIABLES` (each version gets the variables it declares).
    run : tessera.llm.prompts.VariantRun or None
        The production version's default variant on the embedded model; None when skipped.
    run_skipped : str or None
        Why the run was skipped.
    """

    versions: list[Any]
    diff: Any
    rendered: dict[str, list[dict[str, str]]]
    run: Any
    run_skipped: str | None


def _model_missing() -> str | None:
    """Why the embedded model cannot run here, or None when it can."""
    from tessera.llm._model import default_gguf_path
    from tessera.llm._torch import require

    try:
        for module in ("torch", "transformers"):
            require(module)
        default_gguf_path()
    except MissingExtraError as exc:
        return str(exc)
    return None


def tour_prompts(db: Path | str, *, run: bool = True) -> PromptTour:
    """Create, commit, label, edit, compare, render and run :data:`NAME` in ``db``.

    Parameters
    ----------
    db : path-like
        The SQLite file of the registry to use (a fresh one: the prompt must not exist).
    run : bool, default=True
        Run the production version's default variant on the embedded model (skipped, with
        the reason, when the ``llm`` extra or the model is missing).
    """
    from tessera.llm.prompts import PromptRegistry

    registry = PromptRegistry(db=db)
    registry.create(NAME, V1, description="Answers kettle questions", tags=["demo"])
    registry.commit(NAME, "first version")
    registry.set_label(NAME, "production", 1)
    registry.update_draft(NAME, V2)
    registry.commit(NAME, "friendlier, by name, a warm variant")
    rendered = {}
    for ref in (f"{NAME}@production", f"{NAME}@latest"):
        declared = registry.prompt(ref).variables
        messages = registry.render(ref, {k: v for k, v in VARIABLES.items() if k in declared})
        rendered[ref] = (
            messages if isinstance(messages, list) else [{"role": "user", "content": messages}]
        )
    answer, skipped = None, "not asked for" if not run else _model_missing()
    if skipped is None:
        production = f"{NAME}@production"
        declared = registry.prompt(production).variables
        (answer,) = registry.run(
            production,
            {k: v for k, v in VARIABLES.items() if k in declared},
            variants=[registry.prompt(production).variant().name],
        )
    return PromptTour(
        versions=registry.versions(NAME),
        diff=registry.diff(f"{NAME}@1", f"{NAME}@2"),
        rendered=rendered,
        run=answer,
        run_skipped=skipped,
    )


def _diff_html(unified: str) -> str:
    colours = {"+": "#dafbe1", "-": "#ffebe9", "@": "#ddf4ff"}
    lines = []
    for line in unified.splitlines():
        colour = None if line.startswith(("+++", "---")) else colours.get(line[:1])
        style = f";background:{colour}" if colour else ""
        lines.append(f'<span style="display:block{style}">{html.escape(line)}</span>')
    return f'<pre class="prompt-diff">{"".join(lines)}</pre>'


def _short(value: Any) -> str:
    text = "" if value is None else repr(value)
    return html.escape(text if len(text) <= 60 else text[:57] + "...")


def _messages_html(ref: str, messages: list[dict[str, str]]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m['role'])}</td><td><pre{_WRAP}>{html.escape(m['content'])}"
        "</pre></td></tr>"
        for m in messages
    )
    return (
        f'<div class="prompt-rendered"><h4>{html.escape(ref)}</h4>'
        f"<table><tr><th>role</th><th>content</th></tr>{rows}</table></div>"
    )


def _body(tour: PromptTour) -> str:
    versions = "".join(
        f"<tr><td>{v.number}</td><td{_LEFT}>{html.escape(v.message)}</td>"
        f"<td>{html.escape(', '.join(v.labels))}</td></tr>"
        for v in tour.versions
    )
    changes = "".join(
        f"<tr><td{_LEFT}><code>{html.escape(c.path)}</code></td><td>{c.change}</td>"
        f"<td{_LEFT}>{_short(c.before)}</td><td{_LEFT}>{_short(c.after)}</td></tr>"
        for c in tour.diff.changes
    )
    if tour.run is not None:
        run = tour.run
        answer = (
            f"<h3>Production's default variant on the embedded model</h3>"
            f"<p>variant <b>{html.escape(run.variant)}</b> on <code>{html.escape(run.model)}"
            f"</code>: {run.completion_tokens} tokens in {run.seconds:.2f} s "
            f"(finish reason {html.escape(run.finish_reason)})</p>"
            f'<pre class="prompt-answer"{_WRAP}>{html.escape(run.text)}</pre>'
        )
    else:
        answer = (
            f'<p class="muted">The run on the embedded model was skipped: '
            f"{html.escape(tour.run_skipped or '')}. To see it: {html.escape(_INSTALL)}.</p>"
        )
    variables = ", ".join(f"<code>{html.escape(f'{k}={v!r}')}</code>" for k, v in VARIABLES.items())
    return (
        f"<p>A chat prompt <code>{NAME}</code> with declared variables and an "
        "<code>{{#if vip}}</code> block, created in a temporary registry (a SQLite file "
        "deleted afterwards): version 1 committed and labelled <code>production</code>, "
        "the draft edited and committed as version 2. <code>latest</code> follows the newest "
        "version; <code>production</code> stays where it was put.</p>"
        '<h3>Versions and labels</h3><table class="prompt-versions"><tr><th>version</th>'
        f"<th>message</th><th>labels</th></tr>{versions}</table>"
        f"<h3>Version 1 against version 2</h3>{_diff_html(tour.diff.unified)}"
        '<table class="prompt-changes"><tr><th>field</th><th>change</th><th>before</th>'
        f"<th>after</th></tr>{changes}</table>"
        f"<h3>Rendered for {variables}</h3>"
        "<p>Each version takes the variables it declares; an undeclared one is an error.</p>"
        + "".join(_messages_html(ref, messages) for ref, messages in tour.rendered.items())
        + answer
        + '<p class="muted">From the terminal: <code>tessera prompts create FILE.yaml</code>, '
        "<code>commit</code>, <code>label</code>, <code>diff NAME@1 NAME@2</code>, "
        "<code>render NAME@production --var question=...</code>, <code>run</code>.</p>"
    )


def prompts_section() -> Section:
    """Tour the prompt registry in a temporary database (see :func:`tour_prompts`)."""
    with tempfile.TemporaryDirectory(prefix="tessera-demo-prompts-") as folder:
        tour = tour_prompts(Path(folder) / "prompts.db")
    labels = {label: v.number for v in tour.versions for label in v.labels}
    summary = [
        f"{NAME}: {len(tour.versions)} versions, labels "
        + ", ".join(f"{k} -> {v}" for k, v in sorted(labels.items())),
        f"v1 -> v2: {len(tour.diff.changes)} fields changed ("
        + ", ".join(c.path for c in tour.diff.changes[:2])
        + (", ..." if len(tour.diff.changes) > 2 else "")
        + ")",
    ]
    if tour.run is not None:
        summary.append(
            f"production on {tour.run.model}: {tour.run.completion_tokens} tokens in "
            f"{tour.run.seconds:.2f} s: {tour.run.text.strip()[:30]!r}"
        )
    else:
        summary.append(f"run skipped: {tour.run_skipped}")
    return Section(
        key="prompts",
        title="Prompts: a versioned registry",
        summary=summary,
        body_html=_body(tour),
    )
