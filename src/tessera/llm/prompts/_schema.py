"""The prompt body: template, declared variables, variants; checked with pydantic.

A body is what a prompt's draft and versions store. :func:`check_body` validates a mapping
and returns its normal form (defaults filled in, a ``default`` variant added when none is
given), so that every stored body reads the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tessera.errors import InvalidInputError
from tessera.llm._versioned import check_name, invalid_from_pydantic
from tessera.llm.prompts._template import Node, parse, variables_used

if TYPE_CHECKING:
    from tessera.llm.backends import GenerationParams

__all__ = [
    "MAX_VARIANTS",
    "Message",
    "PromptBody",
    "PromptTool",
    "Variable",
    "Variant",
    "check_body",
]

#: The most variants one prompt may carry.
MAX_VARIANTS = 5

_IDENTIFIER = r"^[A-Za-z_]\w*$"
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
}


class Variable(BaseModel):
    """A declared template variable.

    ``type`` is ``"string"`` (default), ``"number"`` or ``"boolean"``. A variable with a
    ``default`` is optional; one without is required. ``required`` may be written for
    readability; it must agree with the default (the normal form always holds it).
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["string", "number", "boolean"] = "string"
    description: str = ""
    default: str | bool | int | float | None = None
    required: bool | None = None

    @model_validator(mode="after")
    def _default_has_the_type(self) -> Variable:
        value = self.default
        if self.required is None:
            self.required = value is None
        elif self.required != (value is None):
            raise ValueError(
                "required: true with a default, or required: false without one; a variable "
                "is optional exactly when it has a default"
            )
        if value is None:
            return self
        if isinstance(value, bool) != (self.type == "boolean") or not isinstance(
            value, _TYPES[self.type]
        ):
            raise ValueError(f"the default {value!r} is not a {self.type}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("the default must be a finite number")
        return self


class Message(BaseModel):
    """One chat message template."""

    model_config = ConfigDict(extra="forbid", strict=True)
    role: Literal["system", "user", "assistant"]
    content: str


def _check_json_schema(value: dict[str, Any]) -> None:
    """Raise ValueError unless ``value`` passes the JSON Schema 2020-12 meta-schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the schema"
        raise ValueError(f"it is not a valid JSON Schema at {where}: {exc.message}") from None
    except RecursionError:
        raise ValueError("the schema nests too deeply") from None


class PromptTool(BaseModel):
    """A function a variant's model may call (Bedrock's ``toolSpec``, OpenAI's function).

    With ``tools``, a variant's answer is one call, ``{"name", "arguments"}``, decoded
    so that ``arguments`` validates against the tool's ``parameters``.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})

    @field_validator("parameters")
    @classmethod
    def _an_object_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_json_schema(value)
        if value.get("type", "object") != "object":
            raise ValueError(f"a tool's parameters are an object, not {value.get('type')!r}")
        return value


class Variant(BaseModel):
    """A model and its inference parameters; a prompt runs on any of its variants.

    ``model`` is a backend id (``"tessera"``, ``"tessera:/path/model"``,
    ``"<endpoint>:<model>"``); the parameters are those of
    :class:`tessera.llm.backends.GenerationParams`. ``output_schema`` (a JSON Schema) makes
    the answer structured: it is decoded under the schema (``json_schema`` of
    :class:`~tessera.llm.backends.GenerationParams`), and a flow's Prompt node emits the
    parsed value instead of the text. ``tools`` (:class:`PromptTool`) make the answer one
    call of one of them (of ``tool_choice`` when set): ``{"name", "arguments"}``, decoded
    under :meth:`answer_schema`, the tools described in the system message
    (:meth:`prepare`).
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = "default"
    model: str = "tessera"
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    stop: list[str] = []
    seed: int | None = None
    output_schema: dict[str, Any] | None = None
    tools: list[PromptTool] | None = None
    tool_choice: str | None = None
    metadata: dict[str, Any] = {}

    @field_validator("output_schema")
    @classmethod
    def _a_json_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_json_schema(value)
        return value

    @field_validator("temperature", "top_p", mode="before")
    @classmethod
    def _int_is_a_number(cls, value: Any) -> Any:
        # YAML reads "temperature: 1" as an int; it means the float.
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _params_in_range(self) -> Variant:
        check_name(self.name, "variant name")
        if not self.model.strip():
            raise ValueError("model is empty; pass 'tessera' or '<endpoint>:<model>'")
        names = [tool.name for tool in self.tools or ()]
        if self.tools is not None and not names:
            raise ValueError("tools is empty; list at least one tool, or leave tools out")
        if len(set(names)) != len(names):
            raise ValueError(f"tool names repeat: {names}; give each tool its own name")
        if self.tools and self.output_schema is not None:
            raise ValueError(
                "a variant has output_schema or tools, not both (with tools, the answer is "
                "a call); keep one"
            )
        if self.tool_choice is not None and self.tool_choice not in names:
            raise ValueError(
                f"tool_choice {self.tool_choice!r} is not one of the tools {names}; name one "
                "of them, or leave tool_choice out to let the model pick"
            )
        self.generation_params()
        return self

    def answer_schema(self) -> dict[str, Any] | None:
        """The JSON Schema the answer is decoded under: ``output_schema``, or with
        ``tools`` a call ``{"name", "arguments"}`` of one of them (``tool_choice``'s if
        set); None for free text."""
        if self.tools:
            from tessera.llm._tools import ToolSpec, call_schema

            chosen = [t for t in self.tools if self.tool_choice in (None, t.name)]
            return call_schema(
                [ToolSpec(t.name, t.description or None, t.parameters) for t in chosen]
            )
        return self.output_schema

    def prepare(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """``messages`` as this variant sends them: with its ``tools`` described in the
        system message (see :mod:`tessera.llm._tools`), else unchanged."""
        if not self.tools:
            return messages
        from tessera.llm._tools import tools_prompt, with_tools

        shown = [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in self.tools
            if self.tool_choice in (None, t.name)
        ]
        return with_tools(messages, tools_prompt(shown))

    def generation_params(self) -> GenerationParams:
        """The :class:`~tessera.llm.backends.GenerationParams` of this variant."""
        from tessera.llm.backends import GenerationParams

        return GenerationParams(
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            stop=tuple(self.stop),
            seed=self.seed,
            json_schema=self.answer_schema(),
        )


class PromptBody(BaseModel):
    """A prompt: a text or chat template, its variables and its variants."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["text", "chat"]
    text: str | None = None
    system: str | None = None
    messages: list[Message] = []
    variables: dict[str, Variable] = {}
    variants: list[Variant] = Field(default_factory=lambda: [Variant()])
    default_variant: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PromptBody:
        if self.type == "text":
            if self.text is None or self.system is not None or self.messages:
                raise ValueError("a text prompt has 'text' and neither 'system' nor 'messages'")
        elif self.text is not None or not self.messages:
            raise ValueError("a chat prompt has 'messages' (and optionally 'system'), no 'text'")
        for name in self.variables:
            if not re.match(_IDENTIFIER, name):
                raise ValueError(
                    f"variable name {name!r} must be letters, digits and '_', not starting "
                    f"with a digit"
                )
        if not 1 <= len(self.variants) <= MAX_VARIANTS:
            raise ValueError(f"a prompt has 1 to {MAX_VARIANTS} variants, not {len(self.variants)}")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names repeat: {names}")
        if self.default_variant is None:
            self.default_variant = names[0]
        elif self.default_variant not in names:
            raise ValueError(f"default_variant {self.default_variant!r} is not one of {names}")
        return self

    def templates(self) -> dict[str, str]:
        """Every template string, keyed by where it sits (``text``, ``messages[0].content``)."""
        if self.type == "text":
            return {"text": self.text or ""}
        found = {"system": self.system} if self.system is not None else {}
        found.update({f"messages[{i}].content": m.content for i, m in enumerate(self.messages)})
        return found

    def parsed(self, source: str = "body") -> dict[str, tuple[Node, ...]]:
        """Every template parsed (raises on a malformed one, naming where it sits)."""
        return {where: parse(text, f"{source}.{where}") for where, text in self.templates().items()}

    def variant(self, name: str | None = None) -> Variant:
        """The named variant, or the default one."""
        wanted = self.default_variant if name is None else name
        for variant in self.variants:
            if variant.name == wanted:
                return variant
        raise InvalidInputError(
            f"variant={name!r} is invalid: the prompt has variants "
            f"{[v.name for v in self.variants]}. Pass one of them."
        )


def check_body(body: Any, argument: str = "body") -> PromptBody:
    """Validate a prompt body: schema, templates, variables declared exactly as used.

    Raises
    ------
    InvalidInputError
        Naming every rejected field, a malformed template with its line and column, a
        variable used but not declared, or declared but never used.
    """
    if isinstance(body, PromptBody):
        body = body.model_dump(mode="json")
    if not isinstance(body, Mapping):
        raise InvalidInputError(
            f"{argument}={body!r} is invalid: a prompt body is a mapping with 'type' and a "
            f"template. Pass for example {{'type': 'text', 'text': 'Hello {{{{name}}}}'}}."
        )
    try:
        prompt = PromptBody.model_validate(dict(body))
    except ValidationError as exc:
        raise invalid_from_pydantic(argument, exc) from None
    used: set[str] = set()
    for nodes in prompt.parsed(argument).values():
        used |= variables_used(nodes)
    declared = set(prompt.variables)
    if used - declared:
        missing = sorted(used - declared)
        raise InvalidInputError(
            f"{argument}.variables: the template uses {missing} but does not declare them. "
            f"Declare each under 'variables' (e.g. {missing[0]}: {{type: string}})."
        )
    if declared - used:
        unused = sorted(declared - used)
        raise InvalidInputError(
            f"{argument}.variables: {unused} are declared but the template never uses them. "
            f"Remove them or use them as {{{{{unused[0]}}}}}."
        )
    return prompt
