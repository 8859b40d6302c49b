"""A support-ticket flow on the embedded model: classify, branch, retrieve, answer.

Run from the repository root::

    python examples/support_flow.py                          # the three sample tickets
    python examples/support_flow.py "My parcel never came"    # your own ticket(s)
    python examples/support_flow.py --model myserver:llama3   # another model for every node

The flow is ``src/tessera/llm/_data/flows/support-ticket.yaml``: BM25 retrieves passages
from a folder of FAQ documents, a few-shot prompt classifies the ticket, a Code node maps
the completion to a class (the best passage's document decides when it names none), and a
Condition node sends answerable tickets to a prompt grounded in the passages and the rest
to a person. Each run is stored as a trace: ``tessera flows trace RUN_ID`` replays it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from tessera.llm.flows import run_flow
from tessera.llm.flows.examples import EXAMPLE_CODE, support_flow_path

SAMPLE_TICKETS = (
    "I was charged twice for the same order, can I get one payment back?",
    "The kettle will not connect to my Wi-Fi during setup.",
    "How long does delivery take to Norway?",
)


def handle(ticket: str, *, model: str | None = None, trace: bool = True) -> dict[str, Any]:
    """Run the support flow on one ticket; return what the page and the terminal show."""
    backend_factory = None
    if model is not None:
        from tessera.llm.backends import get_backend

        def backend_factory(_: str | None) -> Any:
            return get_backend(model)

    result = run_flow(
        support_flow_path(),
        {"text": ticket},
        allowed_code=[EXAMPLE_CODE],
        backend_factory=backend_factory,
        trace=trace,
    )
    shown: dict[str, Any] = {"ticket": ticket, "run_id": result.run_id, "sources": []}
    for event in result.events:
        if event.kind == "condition":
            shown["branch"] = event.data["condition"]
        elif event.kind == "node_output" and event.node == "search":
            shown["sources"] = [p["source"] for p in event.data["retrievalResults"]]
    shown["category"] = result.outputs["label"]
    shown["reply"] = result.outputs.get("reply")
    shown["escalated"] = "escalate" in result.outputs
    return shown


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tickets", nargs="*", help="Tickets to handle (default: three samples).")
    parser.add_argument("--model", help="A model id for every prompt (default: the embedded one).")
    args = parser.parse_args(argv)
    handled = []
    for ticket in args.tickets or SAMPLE_TICKETS:
        shown = handle(ticket, model=args.model)
        handled.append(shown)
        print(f"ticket:   {ticket}")
        print(f"class:    {shown['category']} (branch {shown['branch']})")
        print(f"passages: {', '.join(shown['sources']) or 'none'}")
        answer = shown["reply"] if shown["reply"] is not None else "(handed to a person)"
        print(f"answer:   {' '.join(str(answer).split())}")
        print(f"trace:    tessera flows trace {shown['run_id']}\n")
    return handled


if __name__ == "__main__":
    main()
