"""The demo's flows section: the shipped support-ticket flow run on the embedded model.

For each ticket the page shows the class the flow gave it, the branch it took, the FAQ
passages BM25 retrieved and the grounded answer (or the hand-off), from the run's events.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from tessera.demo._page import LLM_INSTALL, Section, skipped_section
from tessera.errors import MissingExtraError

__all__ = ["TICKETS", "flows_section"]

#: The tickets the demo runs (two, so the section takes seconds).
TICKETS = (
    "I was charged twice for the same order, can I get one payment back?",
    "The kettle will not connect to my Wi-Fi during setup.",
)
_WRAP = ' style="white-space:pre-wrap;text-align:left"'
_INSTALL = LLM_INSTALL


@dataclass(frozen=True)
class TicketRun:
    """What one run of the support flow did, read from its events."""

    ticket: str
    run_id: str
    category: str
    branch: str
    passages: list[dict[str, Any]]
    reply: str | None
    seconds: float


def _read(ticket: str, result: Any) -> TicketRun:
    category, branch, passages = "", "", []
    for event in result.events:
        if event.kind == "condition" and event.node == "route":
            branch = str(event.data.get("condition", ""))
        elif event.kind == "node_output" and event.node == "category":
            category = str(event.data.get("category", ""))
        elif event.kind == "node_output" and event.node == "search":
            passages = list(event.data.get("retrievalResults", []))
    end = result.events[-1].data
    return TicketRun(
        ticket=ticket,
        run_id=result.run_id,
        category=category,
        branch=branch,
        passages=passages,
        reply=result.outputs.get("reply"),
        seconds=float(end.get("duration_ms", 0.0)) / 1000.0,
    )


def run_tickets(tickets: tuple[str, ...] = TICKETS) -> list[TicketRun]:
    """Run the shipped support flow on each ticket (traced, like any run)."""
    from tessera.llm.flows import run_flow
    from tessera.llm.flows.examples import EXAMPLE_CODE, support_flow_path

    return [
        _read(ticket, run_flow(support_flow_path(), {"text": ticket}, allowed_code=[EXAMPLE_CODE]))
        for ticket in tickets
    ]


def _skipped(reason: str) -> Section:
    return skipped_section(
        "flows",
        "Flows: a support-ticket flow",
        "runs the shipped support-ticket flow on the embedded model",
        reason,
        _INSTALL,
    )


def _ticket_html(run: TicketRun) -> str:
    rows = "".join(
        f"<tr><td>{i}</td><td>{html.escape(str(p.get('source', '')))}</td>"
        f'<td style="text-align:left">{html.escape(str(p.get("title", "")))}</td>'
        f"<td>{float(p.get('score', 0.0)):.2f}</td></tr>"
        for i, p in enumerate(run.passages, start=1)
    )
    passages = (
        "<table><tr><th>#</th><th>FAQ document</th><th>section</th><th>BM25 score</th></tr>"
        f"{rows}</table>"
        if run.passages
        else "<p>No passages (the retrieval branch did not run).</p>"
    )
    answer = (
        f"<pre{_WRAP}>{html.escape(run.reply)}</pre>"
        if run.reply is not None
        else "<p>Handed to a person (the <code>escalate</code> output).</p>"
    )
    return (
        f'<div class="ticket"><h3>Ticket</h3><pre{_WRAP}>{html.escape(run.ticket)}</pre>'
        f"<p>class <b>{html.escape(run.category)}</b>, branch <b>{html.escape(run.branch)}</b>, "
        f"{run.seconds:.1f} s, run <code>{html.escape(run.run_id)}</code></p>"
        f"<h4>Retrieved passages</h4>{passages}<h4>Answer</h4>{answer}</div>"
    )


def flows_section() -> Section:
    """Run the support flow on :data:`TICKETS` with the embedded model."""
    from tessera.llm._model import default_gguf_path
    from tessera.llm._torch import require

    try:
        for module in ("torch", "transformers", "bm25s", "Stemmer"):
            require(module)
        default_gguf_path()
    except MissingExtraError as exc:
        return _skipped(str(exc))
    runs = run_tickets()
    body = (
        "<p>The shipped flow <code>support-ticket.yaml</code> classifies a ticket with a "
        "few-shot prompt on the embedded SmolLM2-135M-Instruct, normalises the completion "
        "with a Code node, branches on the class, retrieves FAQ passages with BM25 "
        "(a folder of 15 Markdown documents about a fictional smart kettle) and answers "
        "with a prompt grounded in them; unclear tickets go to a person. Every event of "
        "each run is stored as a trace.</p>"
        + "".join(_ticket_html(run) for run in runs)
        + '<p class="muted">From the terminal: <code>tessera flows run support-ticket --input '
        '\'{"text": "..."}\' --stream</code>, then <code>tessera flows trace RUN_ID</code>.'
        "</p>"
    )
    summary = [
        f"{run.ticket[:48]}... -> {run.category} ({run.branch}), "
        f"{len(run.passages)} passages, {run.seconds:.1f} s"
        for run in runs
    ]
    return Section(
        key="flows", title="Flows: a support-ticket flow", summary=summary, body_html=body
    )
