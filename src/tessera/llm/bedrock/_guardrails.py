"""Bedrock Guardrails' CreateGuardrail bodies, to and from tessera's ``GuardrailConfig``.

========================================  ==============================================
Bedrock                                   tessera
========================================  ==============================================
``topicPolicyConfig.topicsConfig``        ``denied_topics`` (name, definition, examples)
``contentPolicyConfig.filtersConfig``    ``content_filters`` (the six types, strengths)
``wordPolicyConfig.wordsConfig``          ``words.words``
``wordPolicyConfig.managedWordLists...``  ``words.profanity`` (PROFANITY)
``sensitiveInformationPolicyConfig``      ``sensitive_information`` (entities, regexes)
``contextualGroundingPolicyConfig``       ``grounding`` (GROUNDING, RELEVANCE thresholds)
``blockedInputMessaging``                 ``blocked_input_message``
``blockedOutputsMessaging``               ``blocked_output_message``
========================================  ==============================================

Actions: Bedrock's ``BLOCK`` / ``ANONYMIZE`` / ``NONE`` (detect only) are tessera's, with
``NONE`` read as ``DETECT`` where a tessera policy has one action for both sources
(topics, words, grounding); a body whose input and output actions differ there is
refused naming the field, as is a filter or modality tessera does not have.

Content filters (HATE, INSULTS, SEXUAL, VIOLENCE, MISCONDUCT, PROMPT_ATTACK) are tessera's
``content_filters`` field for field. A configuration written with tessera's older
``prompt_attack`` policy (a similarity threshold) exports as a PROMPT_ATTACK filter of the
nearest strength: ``HIGH`` 0.6, ``MEDIUM`` 0.65, ``LOW`` 0.7. Documented defaults: an
export leaves out what equals Bedrock's default (``BLOCK`` actions, enabled sources),
writes ``type: DENY`` for every topic, and drops tessera's own settings Bedrock has no
field for (topic thresholds, phone regions), which an import restores to tessera's
defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera._validation import bad_value

__all__ = ["export_guardrail", "guardrail_from_bedrock", "guardrail_to_bedrock", "import_guardrail"]

_STRENGTHS = {"HIGH": 0.6, "MEDIUM": 0.65, "LOW": 0.7}
_CONTENT_TYPES = ("SEXUAL", "VIOLENCE", "HATE", "INSULTS", "MISCONDUCT", "PROMPT_ATTACK")
_TOP = (
    "name",
    "description",
    "topicPolicyConfig",
    "contentPolicyConfig",
    "wordPolicyConfig",
    "sensitiveInformationPolicyConfig",
    "contextualGroundingPolicyConfig",
    "blockedInputMessaging",
    "blockedOutputsMessaging",
    "kmsKeyId",
    "tags",
    "clientToken",
    "crossRegionConfig",
    "automatedReasoningPolicyConfig",
)


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise bad_value(where, value, "it must be a JSON object", f"Write {where} as an object.")
    return value


def _list(where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_value(where, value, "it must be a list", f"Write {where} as a list.")
    return value


def _sources(where: str, item: Mapping[str, Any]) -> list[str]:
    sources = [s for s in ("input", "output") if item.get(f"{s}Enabled", True) is not False]
    if not sources:
        raise bad_value(
            f"{where}.inputEnabled",
            False,
            "both sources are disabled",
            "Leave the entry out instead.",
        )
    return sources


def _one_action(where: str, item: Mapping[str, Any], default: str = "BLOCK") -> str:
    """The single tessera action of an entry with Bedrock's per-source actions."""
    base = item.get("action", default)
    actions = {item.get("inputAction", base), item.get("outputAction", base)}
    if len(actions) != 1:
        raise bad_value(
            f"{where}.outputAction",
            item.get("outputAction"),
            "tessera applies one action to both sources of this policy",
            "Give inputAction and outputAction the same value.",
        )
    (action,) = actions
    if action not in ("BLOCK", "NONE"):
        raise bad_value(f"{where}.inputAction", action, "it must be BLOCK or NONE", "Fix it.")
    return "DETECT" if action == "NONE" else "BLOCK"


def _topics(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    topics = []
    for index, item in enumerate(
        _list("topicPolicyConfig.topicsConfig", config.get("topicsConfig"))
    ):
        where = f"topicPolicyConfig.topicsConfig[{index}]"
        item = _mapping(where, item)
        if item.get("type", "DENY") != "DENY":
            raise bad_value(f"{where}.type", item.get("type"), "it must be DENY", "Fix it.")
        topic = {
            "name": item.get("name"),
            "definition": item.get("definition"),
            "examples": list(item.get("examples") or []),
            "action": _one_action(where, item),
            "sources": _sources(where, item),
        }
        topics.append(topic)
    return topics


def _content(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``filtersConfig`` as tessera's ``content_filters`` (Bedrock's fields, snake case)."""
    filters = []
    entries = _list("contentPolicyConfig.filtersConfig", config.get("filtersConfig"))
    for index, item in enumerate(entries):
        where = f"contentPolicyConfig.filtersConfig[{index}]"
        item = _mapping(where, item)
        kind = item.get("type")
        if kind not in _CONTENT_TYPES:
            raise bad_value(
                f"{where}.type", kind, f"it must be one of {', '.join(_CONTENT_TYPES)}", "Fix it."
            )
        entry: dict[str, Any] = {"type": kind}
        for side in ("input", "output"):
            strength = item.get(f"{side}Strength", "NONE")
            if strength not in ("NONE", *_STRENGTHS):
                raise bad_value(
                    f"{where}.{side}Strength",
                    strength,
                    "it must be NONE, LOW, MEDIUM or HIGH",
                    "Fix it.",
                )
            entry[f"{side}_strength"] = strength
            action = item.get(f"{side}Action", "BLOCK")
            if action not in ("BLOCK", "NONE"):
                raise bad_value(
                    f"{where}.{side}Action", action, "it must be BLOCK or NONE", "Fix it."
                )
            entry[f"{side}_action"] = action
            if item.get(f"{side}Enabled") is False:
                entry[f"{side}_enabled"] = False
        for modality in ("inputModalities", "outputModalities"):
            if item.get(modality) not in (None, ["TEXT"]):
                raise bad_value(
                    f"{where}.{modality}",
                    item[modality],
                    "only TEXT is checked locally",
                    "Leave it out or pass ['TEXT'].",
                )
        filters.append(entry)
    return filters


def _words(config: Mapping[str, Any]) -> dict[str, Any] | None:
    words = []
    actions = set()
    profanity = False
    for index, item in enumerate(_list("wordPolicyConfig.wordsConfig", config.get("wordsConfig"))):
        where = f"wordPolicyConfig.wordsConfig[{index}]"
        item = _mapping(where, item)
        words.append(item.get("text"))
        actions.add(_one_action(where, item))
    managed = _list("wordPolicyConfig.managedWordListsConfig", config.get("managedWordListsConfig"))
    for index, item in enumerate(managed):
        where = f"wordPolicyConfig.managedWordListsConfig[{index}]"
        item = _mapping(where, item)
        if item.get("type") != "PROFANITY":
            raise bad_value(f"{where}.type", item.get("type"), "it must be PROFANITY", "Fix it.")
        profanity = True
        actions.add(_one_action(where, item))
    if not words and not profanity:
        return None
    if len(actions) != 1:
        raise bad_value(
            "wordPolicyConfig",
            "...",
            "tessera applies one action to every word",
            "Give every word the same actions.",
        )
    return {"words": words, "profanity": profanity, "action": actions.pop()}


def _pii_action(where: str, value: Any) -> str:
    if value not in ("BLOCK", "ANONYMIZE", "NONE"):
        raise bad_value(where, value, "it must be BLOCK, ANONYMIZE or NONE", "Fix it.")
    return str(value)


def _sensitive(config: Mapping[str, Any]) -> dict[str, Any] | None:
    entities = []
    for index, item in enumerate(
        _list("sensitiveInformationPolicyConfig.piiEntitiesConfig", config.get("piiEntitiesConfig"))
    ):
        where = f"sensitiveInformationPolicyConfig.piiEntitiesConfig[{index}]"
        item = _mapping(where, item)
        rule: dict[str, Any] = {
            "type": item.get("type"),
            "action": _pii_action(f"{where}.action", item.get("action")),
        }
        for side in ("input", "output"):
            if f"{side}Action" in item:
                rule[f"{side}_action"] = _pii_action(f"{where}.{side}Action", item[f"{side}Action"])
            if item.get(f"{side}Enabled") is False:
                rule[f"{side}_enabled"] = False
        entities.append(rule)
    regexes = []
    for index, item in enumerate(
        _list("sensitiveInformationPolicyConfig.regexesConfig", config.get("regexesConfig"))
    ):
        where = f"sensitiveInformationPolicyConfig.regexesConfig[{index}]"
        item = _mapping(where, item)
        regex = {
            "name": item.get("name"),
            "pattern": item.get("pattern"),
            "action": _pii_action(f"{where}.action", item.get("action")),
        }
        if item.get("description"):
            regex["description"] = item["description"]
        regexes.append(regex)
    if not entities and not regexes:
        return None
    return {"entities": entities, "regexes": regexes}


def _grounding(config: Mapping[str, Any]) -> dict[str, Any] | None:
    found: dict[str, Any] = {"grounding_threshold": None, "relevance_threshold": None}
    actions = set()
    for index, item in enumerate(
        _list("contextualGroundingPolicyConfig.filtersConfig", config.get("filtersConfig"))
    ):
        where = f"contextualGroundingPolicyConfig.filtersConfig[{index}]"
        item = _mapping(where, item)
        if item.get("enabled") is False:
            continue
        kind = item.get("type")
        if kind not in ("GROUNDING", "RELEVANCE"):
            raise bad_value(f"{where}.type", kind, "it must be GROUNDING or RELEVANCE", "Fix it.")
        found[f"{kind.lower()}_threshold"] = item.get("threshold")
        actions.add(_one_action(where, item))
    if not actions:
        return None
    if len(actions) != 1:
        raise bad_value(
            "contextualGroundingPolicyConfig",
            "...",
            "tessera applies one action to both checks",
            "Give both filters the same action.",
        )
    return {**found, "action": actions.pop()}


#: GetGuardrail's names -> CreateGuardrail's (``aws bedrock get-guardrail`` output imports).
_GET_NAMES = {
    "topicPolicy": "topicPolicyConfig",
    "topics": "topicsConfig",
    "contentPolicy": "contentPolicyConfig",
    "filters": "filtersConfig",
    "wordPolicy": "wordPolicyConfig",
    "words": "wordsConfig",
    "managedWordLists": "managedWordListsConfig",
    "sensitiveInformationPolicy": "sensitiveInformationPolicyConfig",
    "piiEntities": "piiEntitiesConfig",
    "regexes": "regexesConfig",
    "contextualGroundingPolicy": "contextualGroundingPolicyConfig",
}
_READ_ONLY = (
    "guardrailId",
    "guardrailArn",
    "version",
    "status",
    "statusReasons",
    "failureRecommendations",
    "createdAt",
    "updatedAt",
    "kmsKeyArn",
    "crossRegionDetails",
    "ResponseMetadata",
)


def _from_get_shape(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """A GetGuardrail answer as the CreateGuardrail body it describes (others unchanged)."""
    if not any(
        key in body for key in ("guardrailId", *(k for k in _GET_NAMES if k.endswith("Policy")))
    ):
        return body

    def rename(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {_GET_NAMES.get(k, k): rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    kept = {k: v for k, v in body.items() if k not in _READ_ONLY}
    renamed: dict[str, Any] = rename(kept)
    for policy in renamed.values():  # GetGuardrail adds tiers; they change nothing locally
        if isinstance(policy, dict):
            policy.pop("tier", None)
    return renamed


def guardrail_from_bedrock(body: Mapping[str, Any]) -> Any:
    """A CreateGuardrail body as a :class:`~tessera.llm.guard.GuardrailConfig`.

    Raises
    ------
    InvalidInputError
        Naming the field: a filter tessera does not have, actions tessera cannot apply
        per source, or what :meth:`GuardrailConfig.from_mapping` refuses.
    """
    from tessera.llm.guard import GuardrailConfig

    body = _from_get_shape(_mapping("body", body))
    unknown = sorted(set(body) - set(_TOP))
    if unknown:
        raise bad_value(unknown[0], "...", "CreateGuardrail has no such field", "Leave it out.")
    if body.get("automatedReasoningPolicyConfig"):
        raise bad_value(
            "automatedReasoningPolicyConfig",
            "...",
            "automated reasoning checks are not supported locally",
            "Leave it out.",
        )
    config: dict[str, Any] = {"name": body.get("name", "guardrail")}
    if body.get("description"):
        config["description"] = body["description"]
    if "blockedInputMessaging" in body:
        config["blocked_input_message"] = body["blockedInputMessaging"]
    if "blockedOutputsMessaging" in body:
        config["blocked_output_message"] = body["blockedOutputsMessaging"]
    parts = {
        "denied_topics": _topics(
            _mapping("topicPolicyConfig", body.get("topicPolicyConfig") or {})
        ),
        "content_filters": _content(
            _mapping("contentPolicyConfig", body.get("contentPolicyConfig") or {})
        ),
        "words": _words(_mapping("wordPolicyConfig", body.get("wordPolicyConfig") or {})),
        "sensitive_information": _sensitive(
            _mapping(
                "sensitiveInformationPolicyConfig",
                body.get("sensitiveInformationPolicyConfig") or {},
            )
        ),
        "grounding": _grounding(
            _mapping(
                "contextualGroundingPolicyConfig", body.get("contextualGroundingPolicyConfig") or {}
            )
        ),
    }
    config.update({k: v for k, v in parts.items() if v})
    return GuardrailConfig.from_mapping(config)


def _actions(action: str, sources: tuple[str, ...] = ("input", "output")) -> dict[str, Any]:
    out: dict[str, Any] = {}
    theirs = "NONE" if action in ("DETECT", "NONE") else action
    if theirs != "BLOCK":
        out["inputAction"] = out["outputAction"] = theirs
    for side in ("input", "output"):
        if side not in sources:
            out[f"{side}Enabled"] = False
    return out


def _strength(threshold: float) -> str:
    return min(_STRENGTHS, key=lambda s: (abs(_STRENGTHS[s] - threshold), _STRENGTHS[s]))


def guardrail_to_bedrock(config: Any) -> dict[str, Any]:
    """A :class:`~tessera.llm.guard.GuardrailConfig` (or mapping) as a CreateGuardrail body."""
    from tessera.llm.guard import GuardrailConfig

    guard = config if isinstance(config, GuardrailConfig) else GuardrailConfig.from_mapping(config)
    body: dict[str, Any] = {"name": guard.name}
    if guard.description:
        body["description"] = guard.description
    if guard.denied_topics:
        body["topicPolicyConfig"] = {
            "topicsConfig": [
                {
                    "name": t.name,
                    "definition": t.definition,
                    **({"examples": list(t.examples)} if t.examples else {}),
                    "type": "DENY",
                    **_actions(t.action, t.sources),
                }
                for t in guard.denied_topics
            ]
        }
    filters = [_filter(f) for f in getattr(guard, "content_filters", ())]
    attack = guard.prompt_attack
    if attack is not None and not any(f["type"] == "PROMPT_ATTACK" for f in filters):
        filters.append(
            {
                "type": "PROMPT_ATTACK",
                "inputStrength": _strength(attack.threshold),
                "outputStrength": "NONE",
                **({"inputAction": "NONE"} if attack.action == "DETECT" else {}),
            }
        )
    if filters:
        body["contentPolicyConfig"] = {"filtersConfig": filters}
    if guard.words is not None:
        words = guard.words
        policy: dict[str, Any] = {}
        if words.words:
            policy["wordsConfig"] = [{"text": w, **_actions(words.action)} for w in words.words]
        if words.profanity:
            policy["managedWordListsConfig"] = [{"type": "PROFANITY", **_actions(words.action)}]
        body["wordPolicyConfig"] = policy
    if guard.sensitive_information is not None:
        pii = guard.sensitive_information
        sensitive: dict[str, Any] = {}
        if pii.entities:
            entries = []
            for rule in pii.entities:
                entry: dict[str, Any] = {
                    "type": rule.type,
                    "action": _pii(rule.action or pii.action),
                }
                for side in ("input", "output"):
                    own = getattr(rule, f"{side}_action", None)
                    if own is not None:
                        entry[f"{side}Action"] = _pii(own)
                    if getattr(rule, f"{side}_enabled", True) is False:
                        entry[f"{side}Enabled"] = False
                entries.append(entry)
            sensitive["piiEntitiesConfig"] = entries
        if pii.regexes:
            sensitive["regexesConfig"] = [
                {
                    "name": r.name,
                    **({"description": r.description} if r.description else {}),
                    "pattern": r.pattern,
                    "action": _pii(r.action or pii.action),
                }
                for r in pii.regexes
            ]
        body["sensitiveInformationPolicyConfig"] = sensitive
    if guard.grounding is not None:
        grounding = guard.grounding
        filters = []
        for kind, threshold in (
            ("GROUNDING", grounding.grounding_threshold),
            ("RELEVANCE", grounding.relevance_threshold),
        ):
            if threshold is not None:
                extra = {"action": "NONE"} if grounding.action == "DETECT" else {}
                filters.append({"type": kind, "threshold": threshold, **extra})
        body["contextualGroundingPolicyConfig"] = {"filtersConfig": filters}
    body["blockedInputMessaging"] = guard.blocked_input_message
    body["blockedOutputsMessaging"] = guard.blocked_output_message
    return body


def _filter(rule: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": rule.type,
        "inputStrength": rule.input_strength,
        "outputStrength": rule.output_strength,
    }
    for side in ("input", "output"):
        action = getattr(rule, f"{side}_action")
        if action != "BLOCK":
            entry[f"{side}Action"] = "NONE"
        if getattr(rule, f"{side}_enabled") is False:
            entry[f"{side}Enabled"] = False
    return entry


def _pii(action: str) -> str:
    return "NONE" if action == "DETECT" else action


def import_guardrail(body: Mapping[str, Any], *, db: Any = None, message: str = "") -> Any:
    """Save a CreateGuardrail body as the next version of the guardrail it names.

    Parameters
    ----------
    body : mapping
        The Bedrock JSON (see :func:`guardrail_from_bedrock`); ``name`` names the guardrail.
    db : str or Path or None, default=None
        The database; None for ``$TESSERA_HOME/tessera.db``.
    message : str, default=""
        The version's commit message.

    Returns
    -------
    Version
        The committed version (created on first import).
    """
    from tessera.llm.guard import save_guardrail

    config = guardrail_from_bedrock(body)
    return save_guardrail(config.name, config, message=message or "imported from Bedrock", db=db)


def export_guardrail(ref: str, *, db: Any = None) -> dict[str, Any]:
    """The CreateGuardrail body of a stored guardrail (``NAME``, ``NAME@2``, ``NAME@draft``)."""
    from tessera.llm.guard import load_guardrail

    return guardrail_to_bedrock(load_guardrail(ref, db=db))
