"""``apply_guardrail``: run a guardrail's policies over one text, as Bedrock's ApplyGuardrail.

Every configured policy that applies to the text's source runs, and each reports what it
found (a finding with span and score) in :attr:`GuardrailResult.assessments`. A finding
under a BLOCK action replaces the whole text with the configured blocked message; under
ANONYMIZE the span is replaced by a ``{TYPE}`` tag; under DETECT it is only reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tessera._validation import bad_value, check_in
from tessera.llm.guard._config import (
    ENTITY_TYPES,
    ContentFilter,
    GroundingPolicy,
    GuardrailConfig,
    PromptAttackPolicy,
    SensitiveInformationPolicy,
    WordPolicy,
    canonical_entity,
)
from tessera.llm.guard._pii import Span, find_entities, find_regexes, resolve_overlaps
from tessera.llm.guard._words import find_words

__all__ = ["Finding", "GuardrailResult", "apply_guardrail"]

POLICIES = (
    "sensitive_information", "words", "denied_topics", "prompt_attack", "content", "grounding",
)  # fmt: skip
_DONE = {"BLOCK": "BLOCKED", "ANONYMIZE": "ANONYMIZED", "DETECT": "DETECTED", "NONE": "DETECTED"}


@dataclass(frozen=True)
class Finding:
    """One thing a policy found (or, for grounding, one score it measured).

    ``start``/``end`` index the text given to :func:`apply_guardrail` (for grounding: the
    answer's least supported sentence). ``action`` is ``"BLOCKED"``, ``"ANONYMIZED"``,
    ``"DETECTED"`` or ``"NONE"`` (a score that passed its threshold).
    """

    policy: str
    type: str
    action: str
    start: int | None
    end: int | None
    match: str | None
    score: float | None = None
    threshold: float | None = None
    confidence: str | None = None


@dataclass(frozen=True)
class GuardrailResult:
    """What :func:`apply_guardrail` decided.

    Attributes
    ----------
    action : {"NONE", "INTERVENED"}
        ``"INTERVENED"`` when a finding blocked or anonymised the text.
    text : str
        The text to use: unchanged, anonymised, or the blocked message.
    source : {"input", "output"}
    assessments : dict of str to tuple of Finding
        Per policy that ran, what it found (empty when nothing).
    """

    action: Literal["NONE", "INTERVENED"]
    text: str
    source: str
    assessments: dict[str, tuple[Finding, ...]] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        """Whether a BLOCK action replaced the text with the blocked message."""
        return any(f.action == "BLOCKED" for f in self.findings)

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding of every policy, in policy order."""
        return tuple(f for policy in self.assessments.values() for f in policy)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "action": self.action,
            "text": self.text,
            "source": self.source,
            "assessments": {k: [asdict(f) for f in v] for k, v in self.assessments.items()},
        }


def _spans_to_findings(
    policy: str, text: str, spans: list[Span], action_for: Any
) -> tuple[Finding, ...]:
    return tuple(
        Finding(policy, s.type, _DONE[action_for(s.type)], s.start, s.end, text[s.start : s.end])
        for s in spans
    )


def _sensitive(policy: SensitiveInformationPolicy, text: str, source: str) -> tuple[Finding, ...]:
    # Detectors know Bedrock's names; findings carry the name the configuration used.
    configured = {canonical_entity(r.type): r.type for r in policy.entities if r.enabled(source)}
    spans = find_entities(text, list(configured), phone_regions=policy.phone_regions)
    spans += find_regexes(text, [(r.name, r.pattern) for r in policy.regexes])
    kept = resolve_overlaps(spans, ENTITY_TYPES, text)
    named = [Span(s.start, s.end, configured.get(s.type, s.type)) for s in kept]
    return _spans_to_findings(
        "sensitive_information", text, named, lambda kind: policy.action_for(kind, source)
    )


def _words(policy: WordPolicy, text: str) -> tuple[Finding, ...]:
    spans = find_words(text, profanity=policy.profanity, words=policy.words)
    return _spans_to_findings("words", text, spans, lambda _: policy.action)


def _topics(config: GuardrailConfig, text: str, source: str) -> tuple[Finding, ...]:
    from tessera.llm.guard._semantic import match_topic

    findings = []
    for topic in config.denied_topics:
        if source not in topic.sources:
            continue
        best = match_topic(text, topic.definition, topic.examples)
        if best is not None and best.score >= topic.threshold:
            match = text[best.start : best.end]
            findings.append(
                Finding(
                    "denied_topics", topic.name, _DONE[topic.action], best.start, best.end,
                    match, round(best.score, 4), topic.threshold,
                )
            )  # fmt: skip
    return tuple(findings)


def _attack(policy: PromptAttackPolicy, text: str) -> tuple[Finding, ...]:
    from tessera.llm.guard._semantic import match_attack

    best = match_attack(text, policy.extra_exemplars)
    if best is None or best.score < policy.threshold:
        return ()
    return (
        Finding(
            "prompt_attack", best.label, _DONE[policy.action], best.start, best.end,
            text[best.start : best.end], round(best.score, 4), policy.threshold,
        ),
    )  # fmt: skip


def _content(config: GuardrailConfig, text: str, source: str) -> tuple[Finding, ...]:
    from tessera.llm.guard._content import CONFIDENCES, min_confidence, score_content

    active: dict[str, ContentFilter] = {
        f.type: f for f in config.content_filters if min_confidence(f.strength_for(source))
    }
    categories = [kind for kind in active if kind != "PROMPT_ATTACK"]
    findings = []
    for score in score_content(text, categories) if categories else []:
        rule = active[score.category]
        need = CONFIDENCES.index(min_confidence(rule.strength_for(source)) or "HIGH")
        if CONFIDENCES.index(score.confidence) >= need:
            findings.append(
                Finding(
                    "content", score.category, _DONE[rule.action_for(source)], score.start,
                    score.end, text[score.start : score.end], round(score.probability, 4),
                    round(score.cuts[need - 1], 4), score.confidence,
                )
            )  # fmt: skip
    if "PROMPT_ATTACK" in active:
        from tessera.llm.guard._semantic import match_attack

        rule = active["PROMPT_ATTACK"]
        need = CONFIDENCES.index(min_confidence(rule.strength_for(source)) or "HIGH")
        best = match_attack(text)
        if best is not None:
            confidence = _attack_confidence(best.score)
            if CONFIDENCES.index(confidence) >= need:
                findings.append(
                    Finding(
                        "content", "PROMPT_ATTACK", _DONE[rule.action_for(source)], best.start,
                        best.end, text[best.start : best.end], round(best.score, 4),
                        ATTACK_CONFIDENCE_CUTS[need - 1], confidence,
                    )
                )  # fmt: skip
    return tuple(findings)


#: The prompt-attack score's confidence cuts (LOW, MEDIUM, HIGH): MEDIUM is the attack
#: filter's default threshold, so a MEDIUM-strength PROMPT_ATTACK filter acts as before.
ATTACK_CONFIDENCE_CUTS = (0.4, 0.6, 0.8)


def _attack_confidence(score: float) -> str:
    level = sum(score >= cut for cut in ATTACK_CONFIDENCE_CUTS)
    return ("NONE", "LOW", "MEDIUM", "HIGH")[level]


def _grounding(
    policy: GroundingPolicy, text: str, grounding_source: str | None, query: str | None
) -> tuple[Finding, ...]:
    from tessera.llm.guard._grounding import score_grounding, score_relevance

    failed = _DONE[policy.action]
    findings = []
    if policy.grounding_threshold is not None and grounding_source is not None:
        scores = score_grounding(text, grounding_source)
        threshold = policy.grounding_threshold
        start: int | None = None
        end: int | None = None
        match: str | None = None
        if scores.sentences:
            weak = scores.weakest
            start, end, match = weak.start, weak.end, text[weak.start : weak.end]
        action = failed if scores.score < threshold else "NONE"
        score = round(scores.score, 4)
        findings.append(
            Finding("grounding", "GROUNDING", action, start, end, match, score, threshold)
        )
    if policy.relevance_threshold is not None and query is not None:
        relevance = score_relevance(text, query) if text.strip() else 0.0
        threshold = policy.relevance_threshold
        action = failed if relevance < threshold else "NONE"
        findings.append(
            Finding(
                "grounding", "RELEVANCE", action, None, None, None, round(relevance, 4), threshold
            )
        )
    return tuple(findings)


def _anonymize(text: str, findings: tuple[Finding, ...]) -> str:
    pieces = []
    cursor = 0
    masked = sorted(
        (f for f in findings if f.action == "ANONYMIZED" and f.start is not None),
        key=lambda f: f.start or 0,
    )
    for finding in masked:
        start, end = finding.start or 0, finding.end or 0
        if start >= cursor:
            pieces.append(text[cursor:start])
            pieces.append("{" + finding.type + "}")
        # A span overlapping the previous tag (a custom word inside an email) widens it.
        cursor = max(cursor, end)
    pieces.append(text[cursor:])
    return "".join(pieces)


def _check_text(name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        rule = "it must be a str or None" if optional else "it must be a str"
        raise bad_value(name, value, rule, f"Pass the text as a Python str ({name}='...').")


def apply_guardrail(
    config: GuardrailConfig | Mapping[str, Any],
    text: str,
    source: Literal["input", "output"] = "input",
    grounding_source: str | None = None,
    query: str | None = None,
) -> GuardrailResult:
    """Apply a guardrail to ``text``: detect, anonymise or block.

    Parameters
    ----------
    config : GuardrailConfig or mapping
        The guardrail (a mapping is validated with :meth:`GuardrailConfig.from_mapping`).
    text : str
        A user's input or a model's output.
    source : {"input", "output"}, default="input"
        Which side ``text`` is on: each policy runs on the sources it lists; the prompt
        attack filter runs on inputs and the grounding check on outputs only.
    grounding_source : str, optional
        The reference the output must be grounded in (needed by ``grounding_threshold``).
    query : str, optional
        The question the output answers (needed by ``relevance_threshold``).

    Returns
    -------
    GuardrailResult
        ``action="INTERVENED"`` when something was blocked or anonymised.

    Raises
    ------
    InvalidInputError
        A bad argument or configuration, or a grounding check configured for an output
        without the ``grounding_source`` or ``query`` it needs.
    """
    guard = config if isinstance(config, GuardrailConfig) else GuardrailConfig.from_mapping(config)
    _check_text("text", text)
    check_in("source", source, ("input", "output"))
    _check_text("grounding_source", grounding_source, optional=True)
    _check_text("query", query, optional=True)
    assessments: dict[str, tuple[Finding, ...]] = {}
    pii = guard.sensitive_information
    if pii is not None and source in pii.sources:
        assessments["sensitive_information"] = _sensitive(pii, text, source)
    if guard.words is not None and source in guard.words.sources:
        assessments["words"] = _words(guard.words, text)
    if any(source in topic.sources for topic in guard.denied_topics) and text.strip():
        assessments["denied_topics"] = _topics(guard, text, source)
    attack = guard.prompt_attack
    if attack is not None and source in attack.sources and text.strip():
        assessments["prompt_attack"] = _attack(attack, text)
    if any(f.strength_for(source) != "NONE" for f in guard.content_filters) and text.strip():
        assessments["content"] = _content(guard, text, source)
    if guard.grounding is not None and source == "output":
        policy = guard.grounding
        if policy.grounding_threshold is not None and grounding_source is None:
            raise bad_value(
                "grounding_source", None, "the guardrail's grounding check needs the source "
                "the output must be grounded in", "Pass grounding_source='...' (the retrieved "
                "passages), or set grounding.grounding_threshold to null.",
            )  # fmt: skip
        if policy.relevance_threshold is not None and query is None:
            raise bad_value(
                "query", None, "the guardrail's relevance check needs the user's query",
                "Pass query='...', or set grounding.relevance_threshold to null.",
            )  # fmt: skip
        assessments["grounding"] = _grounding(policy, text, grounding_source, query)
    findings = tuple(f for found in assessments.values() for f in found)
    if any(f.action == "BLOCKED" for f in findings):
        message = guard.blocked_input_message if source == "input" else guard.blocked_output_message
        return GuardrailResult("INTERVENED", message, source, assessments)
    if any(f.action == "ANONYMIZED" for f in findings):
        return GuardrailResult("INTERVENED", _anonymize(text, findings), source, assessments)
    return GuardrailResult("NONE", text, source, assessments)
