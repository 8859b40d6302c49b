"""ApplyGuardrail's request and response, to and from :func:`tessera.llm.guard.apply_guardrail`.

A request's ``content`` is a list of ``{"text": {"text", "qualifiers"}}`` blocks: blocks
qualified ``grounding_source`` and ``query`` feed the contextual grounding check, the
others (``guard_content``, or no qualifier) are the text guarded, joined by newlines.
Each tessera finding becomes the entry of Bedrock's assessment for its policy:
``topicPolicy.topics``, ``contentPolicy.filters`` (prompt attacks and content filters),
``wordPolicy.customWords`` / ``managedWordLists``, ``sensitiveInformationPolicy.piiEntities``
/ ``regexes`` and ``contextualGroundingPolicy.filters``. A finding that only detected
is reported with action ``NONE`` and ``detected: true``, as Bedrock's detect mode does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tessera._validation import bad_value

__all__ = ["GuardedText", "apply_request", "apply_response", "assessment"]

_ACTIONS = {"BLOCKED": "BLOCKED", "ANONYMIZED": "ANONYMIZED", "DETECTED": "NONE", "NONE": "NONE"}


@dataclass(frozen=True)
class GuardedText:
    """What an ApplyGuardrail request asks to check."""

    text: str
    source: Literal["input", "output"]
    grounding_source: str | None
    query: str | None


def apply_request(body: Any) -> GuardedText:
    """ApplyGuardrail's body as a :class:`GuardedText` (errors name the field)."""
    if not isinstance(body, Mapping):
        raise bad_value("body", body, "it must be a JSON object", "Send source and content.")
    unknown = sorted(set(body) - {"source", "content", "outputScope"})
    if unknown:
        raise bad_value(unknown[0], "...", "ApplyGuardrail has no such field", "Leave it out.")
    source = body.get("source")
    if source not in ("INPUT", "OUTPUT"):
        raise bad_value("source", source, "it must be INPUT or OUTPUT", "Pass source='INPUT'.")
    content = body.get("content")
    if not isinstance(content, list) or not content:
        raise bad_value(
            "content",
            content,
            "it must be a non-empty list of text blocks",
            'Pass [{"text": {"text": "..."}}].',
        )
    guarded: list[str] = []
    grounding: list[str] = []
    queries: list[str] = []
    for index, block in enumerate(content):
        where = f"content[{index}]"
        inner = block.get("text") if isinstance(block, Mapping) else None
        if not isinstance(inner, Mapping) or not isinstance(inner.get("text"), str):
            kind = next(iter(block), None) if isinstance(block, Mapping) else None
            rule = (
                f"{kind!r} blocks are not supported (images are not checked locally)"
                if kind not in (None, "text")
                else "it must be {'text': {'text': str, 'qualifiers': [...]}}"
            )
            raise bad_value(where, "...", rule, "Send text blocks.")
        qualifiers = inner.get("qualifiers") or []
        allowed = {"grounding_source", "query", "guard_content"}
        if not isinstance(qualifiers, list) or not set(qualifiers) <= allowed:
            raise bad_value(
                f"{where}.text.qualifiers",
                qualifiers,
                f"qualifiers are {sorted(allowed)}",
                "Fix the qualifiers.",
            )
        if "grounding_source" in qualifiers:
            grounding.append(inner["text"])
        elif "query" in qualifiers:
            queries.append(inner["text"])
        else:
            guarded.append(inner["text"])
    return GuardedText(
        "\n".join(guarded),
        "input" if source == "INPUT" else "output",
        "\n".join(grounding) if grounding else None,
        "\n".join(queries) if queries else None,
    )


def assessment(result: Any, entity_types: tuple[str, ...] = ()) -> dict[str, Any]:
    """Bedrock's ``GuardrailAssessment`` of a :class:`~tessera.llm.guard.GuardrailResult`."""
    from tessera.llm.guard import ENTITY_TYPES

    known = set(ENTITY_TYPES) | set(entity_types)
    out: dict[str, Any] = {}

    def add(policy: str, kind: str, entry: dict[str, Any]) -> None:
        out.setdefault(policy, {}).setdefault(kind, []).append(entry)

    for finding in result.findings:
        action = _ACTIONS.get(finding.action, finding.action)
        detected = {"detected": True} if action != "NONE" or finding.action == "DETECTED" else {}
        if finding.policy == "sensitive_information":
            if finding.type in known:
                entry = {"match": finding.match, "type": finding.type, "action": action}
                add("sensitiveInformationPolicy", "piiEntities", {**entry, **detected})
            else:
                entry = {"name": finding.type, "match": finding.match, "action": action}
                add("sensitiveInformationPolicy", "regexes", {**entry, **detected})
        elif finding.policy == "words":
            if finding.type == "PROFANITY":
                entry = {"match": finding.match, "type": "PROFANITY", "action": action}
                add("wordPolicy", "managedWordLists", {**entry, **detected})
            else:
                add(
                    "wordPolicy",
                    "customWords",
                    {"match": finding.match, "action": action, **detected},
                )
        elif finding.policy == "denied_topics":
            add(
                "topicPolicy",
                "topics",
                {"name": finding.type, "type": "DENY", "action": action, **detected},
            )
        elif finding.policy == "grounding":
            if finding.action == "NONE":
                detected = {}
            entry = {
                "type": finding.type,
                "threshold": finding.threshold,
                "score": finding.score,
                "action": action,
            }
            add("contextualGroundingPolicy", "filters", {**entry, **detected})
        else:  # prompt attacks and the content filters (HATE, INSULTS, ...)
            kind = "PROMPT_ATTACK" if finding.policy == "prompt_attack" else finding.type
            confidence = getattr(finding, "confidence", None) or "HIGH"
            entry = {"type": kind, "confidence": confidence, "action": action}
            strength = getattr(finding, "strength", None)
            if strength:
                entry["filterStrength"] = strength
            add("contentPolicy", "filters", {**entry, **detected})
    return out


def apply_response(result: Any, *, text_units: int) -> dict[str, Any]:
    """ApplyGuardrail's response body."""
    intervened = result.action == "INTERVENED"
    units = {
        name: text_units
        for name in (
            "topicPolicyUnits",
            "contentPolicyUnits",
            "wordPolicyUnits",
            "sensitiveInformationPolicyUnits",
            "sensitiveInformationPolicyFreeUnits",
            "contextualGroundingPolicyUnits",
        )
    }
    return {
        "usage": units,
        "action": "GUARDRAIL_INTERVENED" if intervened else "NONE",
        "outputs": [{"text": result.text}] if intervened else [],
        "assessments": [assessment(result)],
    }
