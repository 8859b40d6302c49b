"""The shipped example: a support-ticket flow over the FAQ of a fictional smart kettle.

``support-ticket.yaml`` retrieves FAQ passages for a ticket with BM25, classifies it with a
few-shot prompt, maps the completion to a class with :func:`support_category` (a Code
node; the best passage's document decides when the completion names no class), and either
answers from the passages or hands the ticket to a person. ``support-tickets.jsonl``
holds 30 labelled tickets for measuring the classifier with
:func:`~tessera.llm.flows.run_batch`.

Run it::

    tessera flows run support-ticket --input '{"text": "I was charged twice"}'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = [
    "CATEGORIES",
    "EXAMPLE_CODE",
    "classifier_flow",
    "faq_folder",
    "named_category",
    "support_category",
    "support_flow_path",
    "support_tickets_path",
]

#: The ticket classes, and words a small model may answer with instead of the class name.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "billing": ("billing", "bill", "charge", "payment", "invoice", "subscription", "refund"),
    "shipping": ("shipping", "ship", "delivery", "deliver", "parcel", "tracking", "courier"),
    "returns": ("returns", "return", "damaged", "broken", "warranty", "replacement"),
    "account": ("account", "password", "login", "log in", "sign in", "two-factor", "email"),
    "technical": ("technical", "tech", "wifi", "wi-fi", "firmware", "error", "app", "setup"),
}

#: The Code allow-list entry the example needs (the CLI allows it by default).
EXAMPLE_CODE = "tessera.llm.flows.examples:*"

_DATA = Path(__file__).resolve().parent.parent / "_data"


def named_category(completion: str) -> str | None:
    """The category a classifier's completion names, or ``None``.

    The completion's words are matched against :data:`CATEGORIES`; the category whose
    word comes first wins, so "Billing (refund)" is billing. A 135M model sometimes
    answers "Refund" or "Delivery issue"; those land in their category too.
    """
    text = completion.casefold()
    best: tuple[int, str] | None = None
    for category, words in CATEGORIES.items():
        for word in words:
            match = re.search(rf"\b{re.escape(word)}", text)
            if match and (best is None or match.start() < best[0]):
                best = (match.start(), category)
    return best[1] if best else None


def support_category(completion: str, passages: list[dict[str, Any]] | None = None) -> str:
    """The ticket's class: named by the completion, else that of the best FAQ passage.

    Parameters
    ----------
    completion : str
        The classifier prompt's completion.
    passages : list of dict, optional
        Retrieval results, best first (``source`` is the FAQ file, named
        ``<category>-<topic>.md``).

    Returns
    -------
    str
        One of :data:`CATEGORIES`, or ``"other"`` when the completion names none and no
        passage comes from a category's document.

    Examples
    --------
    >>> support_category(" Billing.")
    'billing'
    >>> support_category("repair", [{"source": "returns-damaged-item.md"}])
    'returns'
    >>> support_category("Hello!")
    'other'
    """
    named = named_category(completion)
    if named is not None:
        return named
    for passage in passages or []:
        prefix = str(passage.get("source", "")).split("/")[-1].split("-")[0]
        if prefix in CATEGORIES:
            return prefix
    return "other"


def _data_path(*parts: str) -> Path:
    return _DATA.joinpath(*parts)


def support_flow_path() -> Path:
    """The shipped ``support-ticket.yaml``."""
    return _data_path("flows", "support-ticket.yaml")


def support_tickets_path() -> Path:
    """The 30 labelled tickets (``text``, ``expected``) as JSON Lines."""
    return _data_path("flows", "support-tickets.jsonl")


def faq_folder() -> Path:
    """The shipped FAQ documents (the example's knowledge base)."""
    return _data_path("faq")


def classifier_flow() -> dict[str, Any]:
    """The classifying part of the support flow alone (ticket -> category), as a document.

    Built from ``support-ticket.yaml`` so that both use the same prompt; its one output,
    ``label``, is the category. Batch-measuring it costs a few tokens per ticket.
    The retrieval node stays: the category node falls back on its best passage.
    """
    import yaml

    document = yaml.safe_load(support_flow_path().read_text(encoding="utf-8"))
    keep = {"ticket", "search", "classify", "category", "label"}
    document["name"] = "support-ticket-classifier"
    document["description"] = "The classifier of support-ticket alone."
    document["nodes"] = [node for node in document["nodes"] if node["name"] in keep]
    for node in document["nodes"]:
        if node["type"] == "Retrieval":  # no file to resolve a relative folder against
            node["configuration"]["folder"] = str(faq_folder())
    document["connections"] = [
        c for c in document["connections"] if c["source"] in keep and c["target"] in keep
    ]
    return dict(document)
