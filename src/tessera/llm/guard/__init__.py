"""Guardrails for LLM inputs and outputs, all local: Amazon Bedrock Guardrails' policies.

Sensitive-information filters (checksummed identifiers, emails, phones, addresses, custom
regexes; block, anonymise or detect), word filters (a profanity list and custom words,
through obfuscations), denied topics and a prompt-attack detector (sentence embeddings of
the offline all-MiniLM-L6-v2) and a contextual grounding check of outputs.

Importing this package is light: the embedding model (and torch) load on first use.

Examples
--------
>>> from tessera.llm.guard import apply_guardrail
>>> config = {"sensitive_information": {"entities": ["EMAIL"], "action": "ANONYMIZE"}}
>>> apply_guardrail(config, "Write to ann@example.org today.").text
'Write to {EMAIL} today.'
"""

from __future__ import annotations

from tessera.llm.guard._apply import Finding, GuardrailResult, apply_guardrail
from tessera.llm.guard._config import (
    BEDROCK_ENTITY_TYPES,
    CONTENT_FILTER_TYPES,
    ENTITY_ALIASES,
    ENTITY_TYPES,
    ContentFilter,
    DeniedTopic,
    EntityRule,
    GroundingPolicy,
    GuardrailConfig,
    PromptAttackPolicy,
    RegexRule,
    SensitiveInformationPolicy,
    WordPolicy,
)
from tessera.llm.guard._store import (
    guardrail_versions,
    list_guardrails,
    load_guardrail,
    save_guardrail,
    set_label,
)
from tessera.llm.guard._words import profanity_list

__all__ = [
    "BEDROCK_ENTITY_TYPES",
    "CONTENT_FILTER_TYPES",
    "ContentFilter",
    "DeniedTopic",
    "ENTITY_ALIASES",
    "ENTITY_TYPES",
    "EntityRule",
    "Finding",
    "GroundingPolicy",
    "GuardrailConfig",
    "GuardrailResult",
    "PromptAttackPolicy",
    "RegexRule",
    "SensitiveInformationPolicy",
    "WordPolicy",
    "apply_guardrail",
    "guardrail_versions",
    "list_guardrails",
    "load_guardrail",
    "profanity_list",
    "save_guardrail",
    "set_label",
]
