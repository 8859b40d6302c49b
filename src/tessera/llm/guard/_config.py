"""The guardrail configuration: a validated mapping (or YAML document) of filter policies.

Shaped like Amazon Bedrock Guardrails: sensitive-information filters, word filters, denied
topics, a prompt-attack filter and a contextual grounding check, each optional, plus the
messages returned in place of a blocked input or output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tessera._validation import short_repr
from tessera.errors import InvalidInputError

__all__ = [
    "BEDROCK_ENTITY_TYPES",
    "CONTENT_FILTER_TYPES",
    "ContentFilter",
    "DeniedTopic",
    "ENTITY_ALIASES",
    "ENTITY_TYPES",
    "EntityRule",
    "GroundingPolicy",
    "GuardrailConfig",
    "PromptAttackPolicy",
    "RegexRule",
    "SensitiveInformationPolicy",
    "WordPolicy",
    "canonical_entity",
]

#: Every built-in sensitive-information entity type, in tie-breaking priority order:
#: Amazon Bedrock's ``piiEntitiesConfig`` types under Bedrock's names, then Tessera's own
#: national identifiers (Germany, France, Spain, Italy, the Netherlands).
ENTITY_TYPES = (
    "CREDIT_DEBIT_CARD_NUMBER",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "US_SOCIAL_SECURITY_NUMBER",
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
    "UK_NATIONAL_INSURANCE_NUMBER",
    "DE_TAX_ID",
    "FR_NIR",
    "ES_NIF",
    "IT_FISCAL_CODE",
    "NL_BSN",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "VEHICLE_IDENTIFICATION_NUMBER",
    "SWIFT_CODE",
    "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER",
    "CA_HEALTH_NUMBER",
    "CA_SOCIAL_INSURANCE_NUMBER",
    "US_BANK_ROUTING_NUMBER",
    "US_PASSPORT_NUMBER",
    "US_BANK_ACCOUNT_NUMBER",
    "DRIVER_ID",
    "LICENSE_PLATE",
    "CREDIT_DEBIT_CARD_EXPIRY",
    "CREDIT_DEBIT_CARD_CVV",
    "PIN",
    "PASSWORD",
    "USERNAME",
    "EMAIL",
    "URL",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "PHONE",
    "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
    "ADDRESS",
    "AGE",
    "NAME",
)

#: Earlier Tessera names, still accepted; a finding carries the name the configuration used.
ENTITY_ALIASES = {
    "CREDIT_CARD": "CREDIT_DEBIT_CARD_NUMBER",
    "IBAN": "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "US_SSN": "US_SOCIAL_SECURITY_NUMBER",
    "UK_NINO": "UK_NATIONAL_INSURANCE_NUMBER",
    "UK_NHS": "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
}

#: The types Amazon Bedrock's sensitive-information filter knows (its names).
BEDROCK_ENTITY_TYPES = tuple(sorted(t for t in ENTITY_TYPES if t not in {
    "DE_TAX_ID", "FR_NIR", "ES_NIF", "IT_FISCAL_CODE", "NL_BSN"}))  # fmt: skip


def canonical_entity(name: str) -> str:
    """Bedrock's name for entity type ``name`` (an alias or already canonical)."""
    return ENTITY_ALIASES.get(name, name)


Source = Literal["input", "output"]
#: ``NONE`` (Bedrock's word) and ``DETECT`` both report a finding and change nothing.
PiiAction = Literal["BLOCK", "ANONYMIZE", "NONE", "DETECT"]
_GUIDE = "See docs/how-to/guardrails.md for the configuration's shape."


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class EntityRule(_Model):
    """One built-in entity type and what to do when it is found, per source as Bedrock.

    ``action`` applies to both sources unless ``input_action`` / ``output_action`` say
    otherwise; ``input_enabled`` / ``output_enabled`` turn the type off on one side.
    """

    type: str
    action: PiiAction | None = Field(None, description="Default: the policy's action.")
    input_action: PiiAction | None = None
    output_action: PiiAction | None = None
    input_enabled: bool = True
    output_enabled: bool = True

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        upper = value.upper()
        if upper not in ENTITY_TYPES and upper not in ENTITY_ALIASES:
            raise ValueError(
                f"unknown entity type; known types: {', '.join(ENTITY_TYPES)} "
                f"(and the older names {', '.join(ENTITY_ALIASES)})"
            )
        return upper

    def enabled(self, source: str) -> bool:
        """Whether this type is checked on ``source`` ("input" or "output")."""
        return self.input_enabled if source == "input" else self.output_enabled


class RegexRule(_Model):
    """A custom pattern (Python ``re`` syntax) whose matches are sensitive."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    pattern: str
    description: str = ""
    action: PiiAction | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        if compiled.fullmatch("") is not None:
            raise ValueError("the pattern matches the empty string; make it match at least 1 char")
        return value


def _entity_rule(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


class SensitiveInformationPolicy(_Model):
    """Built-in entity types (checksums verified where they exist) and custom regexes."""

    entities: tuple[EntityRule, ...] = ()
    regexes: tuple[RegexRule, ...] = ()
    action: PiiAction = "ANONYMIZE"
    phone_regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL")
    sources: tuple[Source, ...] = ("input", "output")

    @field_validator("entities", mode="before")
    @classmethod
    def _names_or_rules(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            return [_entity_rule(item) for item in value]
        return value

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import phonenumbers

        known = phonenumbers.SUPPORTED_REGIONS
        for region in value:
            if region.upper() not in known:
                raise ValueError(f"{region!r} is not an ISO 3166 region code phonenumbers knows")
        return tuple(region.upper() for region in value)

    @model_validator(mode="after")
    def _unique_and_nonempty(self) -> Self:
        types = [canonical_entity(rule.type) for rule in self.entities]
        repeated = sorted({t for t in types if types.count(t) > 1})
        if repeated:
            raise ValueError(f"entity types listed twice: {', '.join(repeated)}")
        names = [rule.name for rule in self.regexes]
        builtin = set(ENTITY_TYPES) | set(ENTITY_ALIASES)
        clash = sorted({n for n in names if names.count(n) > 1 or n.upper() in builtin})
        if clash:
            raise ValueError(f"regex names repeated or equal to an entity type: {', '.join(clash)}")
        if not self.entities and not self.regexes:
            raise ValueError("the policy lists no entities and no regexes")
        return self

    def action_for(self, kind: str, source: str = "input") -> PiiAction:
        """The action for entity type or regex name ``kind`` on ``source``."""
        for rule in self.entities:
            if rule.type == kind:
                side = rule.input_action if source == "input" else rule.output_action
                return side or rule.action or self.action
        for regex in self.regexes:
            if regex.name == kind:
                return regex.action or self.action
        return self.action


class WordPolicy(_Model):
    """The shipped profanity list and custom words or phrases, matched as whole words."""

    profanity: bool = False
    words: tuple[str, ...] = ()
    action: PiiAction = "BLOCK"
    sources: tuple[Source, ...] = ("input", "output")

    @field_validator("words")
    @classmethod
    def _words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for word in value:
            if not any(ch.isalnum() for ch in word):
                raise ValueError(f"word {word!r} has no letter or digit")
        return value

    @model_validator(mode="after")
    def _nonempty(self) -> Self:
        if not self.profanity and not self.words:
            raise ValueError("set profanity: true or list some words")
        return self


class DeniedTopic(_Model):
    """A topic to refuse, matched by sentence-embedding similarity."""

    name: str = Field(min_length=1, max_length=100)
    definition: str = Field(min_length=1, max_length=1000)
    examples: tuple[str, ...] = Field((), max_length=100)
    threshold: float = Field(0.4, ge=0.0, le=1.0)
    action: Literal["BLOCK", "DETECT"] = "BLOCK"
    sources: tuple[Source, ...] = ("input", "output")


class PromptAttackPolicy(_Model):
    """Jailbreak and prompt-injection detection: patterns and exemplar similarity."""

    threshold: float = Field(0.6, ge=0.0, le=1.0)
    action: Literal["BLOCK", "DETECT"] = "BLOCK"
    extra_exemplars: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ("input",)


Strength = Literal["NONE", "LOW", "MEDIUM", "HIGH"]
ContentAction = Literal["BLOCK", "NONE", "DETECT"]
#: Bedrock's content filter types: five harm categories and prompt attacks.
CONTENT_FILTER_TYPES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK")


class ContentFilter(_Model):
    """One content filter as Bedrock's ``filtersConfig``: a strength and an action per source.

    A strength says from which confidence on the filter acts: ``HIGH`` from LOW, ``MEDIUM``
    from MEDIUM, ``LOW`` from HIGH only, ``NONE`` never. ``strength`` and ``action`` set both
    sources at once; ``BLOCK`` replaces the text, ``NONE`` (or ``DETECT``) only reports.
    ``PROMPT_ATTACK`` runs on inputs only (its output strength must stay ``NONE``).
    """

    type: Literal["HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK"]
    input_strength: Strength = "MEDIUM"
    output_strength: Strength = "MEDIUM"
    input_action: ContentAction = "BLOCK"
    output_action: ContentAction = "BLOCK"
    input_enabled: bool = True
    output_enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _both_sides(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            data = dict(value)
            if isinstance(data.get("type"), str):
                data["type"] = data["type"].upper()
            for short in ("strength", "action"):
                if short in data:
                    shared = data.pop(short)
                    data.setdefault(f"input_{short}", shared)
                    if data.get("type") != "PROMPT_ATTACK" or short == "action":
                        data.setdefault(f"output_{short}", shared)
            if data.get("type") == "PROMPT_ATTACK":
                data.setdefault("output_strength", "NONE")
            return data
        return value

    @model_validator(mode="after")
    def _prompt_attack_on_inputs(self) -> Self:
        if self.type == "PROMPT_ATTACK" and self.output_strength != "NONE":
            raise ValueError(
                "PROMPT_ATTACK checks inputs only, as in Bedrock; set output_strength: NONE"
            )
        return self

    def strength_for(self, source: str) -> str:
        """The strength on ``source``; ``NONE`` when the filter is off there."""
        if source == "input":
            return self.input_strength if self.input_enabled else "NONE"
        return self.output_strength if self.output_enabled else "NONE"

    def action_for(self, source: str) -> str:
        """``BLOCK`` or ``DETECT`` on ``source``."""
        action = self.input_action if source == "input" else self.output_action
        return "BLOCK" if action == "BLOCK" else "DETECT"


class GroundingPolicy(_Model):
    """Contextual grounding (answer vs source) and relevance (answer vs query) of outputs."""

    grounding_threshold: float | None = Field(0.7, ge=0.0, le=1.0)
    relevance_threshold: float | None = Field(0.3, ge=0.0, le=1.0)
    action: Literal["BLOCK", "DETECT"] = "BLOCK"

    @model_validator(mode="after")
    def _some_threshold(self) -> Self:
        if self.grounding_threshold is None and self.relevance_threshold is None:
            raise ValueError("both thresholds are null; set grounding_threshold or both")
        return self


class GuardrailConfig(_Model):
    """A guardrail: the policies to apply and the messages that replace blocked text.

    Build it with :meth:`from_mapping`, :meth:`from_yaml` or :meth:`load` (YAML or JSON
    file); every validation failure raises :class:`~tessera.errors.InvalidInputError`
    naming the field, its value and the rule.
    """

    name: str = "guardrail"
    description: str = ""
    blocked_input_message: str = "Sorry, I can't respond to that request."
    blocked_output_message: str = "Sorry, I can't provide that response."
    sensitive_information: SensitiveInformationPolicy | None = None
    words: WordPolicy | None = None
    denied_topics: tuple[DeniedTopic, ...] = ()
    prompt_attack: PromptAttackPolicy | None = None
    grounding: GroundingPolicy | None = None
    content_filters: tuple[ContentFilter, ...] = ()

    @model_validator(mode="after")
    def _unique_topics(self) -> Self:
        names = [topic.name for topic in self.denied_topics]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"denied topic names repeated: {', '.join(repeated)}")
        kinds = [f.type for f in self.content_filters]
        twice = sorted({k for k in kinds if kinds.count(k) > 1})
        if twice:
            raise ValueError(f"content filter types listed twice: {', '.join(twice)}")
        return self

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> GuardrailConfig:
        """Validate a plain mapping (as read from YAML or JSON)."""
        if not isinstance(mapping, Mapping):
            raise InvalidInputError(
                f"config={short_repr(mapping)} is invalid: a guardrail configuration must be "
                f"a mapping of policies. {_GUIDE}"
            )
        try:
            return cls.model_validate(dict(mapping))
        except ValidationError as exc:
            raise _invalid(exc) from None

    @classmethod
    def from_yaml(cls, text: str) -> GuardrailConfig:
        """Validate a YAML (or JSON) document."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"config is not valid YAML: {exc}. {_GUIDE}") from None
        return cls.from_mapping(data)

    @classmethod
    def load(cls, path: str | Path) -> GuardrailConfig:
        """Read and validate a YAML or JSON file."""
        return cls.from_yaml(Path(path).read_text(encoding="utf-8"))

    def to_mapping(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_mapping` turns back into an equal config."""
        # Only absent policies are left out: a null inside one (grounding_threshold: null,
        # the check turned off) must survive, or reading it back would restore the default.
        data: dict[str, Any] = self.model_dump(mode="json")
        return {key: value for key, value in data.items() if value is not None}

    def to_yaml(self) -> str:
        """The configuration as a YAML document."""
        from tessera.llm._yaml import dump_yaml

        return dump_yaml(self.to_mapping())


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part not in ("function-after", "function-before") and not part.startswith("tuple["):
            text += f".{part}" if text else str(part)
    return text or "config"


def _invalid(exc: ValidationError) -> InvalidInputError:
    """One message per problem: the field, its value, the rule, the fix."""
    lines = []
    for error in exc.errors(include_url=False):
        where = _location(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            fix = "Remove it or check its spelling."
        elif error["type"] == "missing":
            fix = "Add it."
        else:
            fix = "Correct it."
        lines.append(f"{where}={short_repr(error.get('input'))} is invalid: {message}. {fix}")
    head = "guardrail configuration is invalid" if len(lines) > 1 else ""
    body = "\n".join(lines)
    return InvalidInputError(f"{head}:\n{body}\n{_GUIDE}" if head else f"{body} {_GUIDE}")
