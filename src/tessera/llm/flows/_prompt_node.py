"""The Prompt node: a registry prompt (``name@label``, ``name@3``) or an inline body, rendered
with the node's inputs as variables and sent to the variant's model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from tessera.errors import InvalidInputError
from tessera.llm.flows._guard_node import GuardrailAttachment, guard_prompt, prompt_guard_problems
from tessera.llm.flows._nodes import ANY_TYPE, NodeType, RunContext, register_node_type
from tessera.llm.flows._schema_paths import data_type_of
from tessera.llm.flows._spec import NodeSpec, Problem

__all__ = ["PromptConfiguration", "PromptNode"]


class PromptConfiguration(BaseModel):
    """``prompt`` (a registry reference) or ``inline`` (a prompt body), and a ``variant``."""

    model_config = ConfigDict(extra="forbid")
    prompt: str | None = None
    inline: dict[str, Any] | None = None
    variant: str | None = None
    guardrail: GuardrailAttachment | None = None

    @field_validator("prompt")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None:
            from tessera.llm._versioned import parse_ref

            parse_ref(value)
        return value

    @field_validator("inline")
    @classmethod
    def _body(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from tessera.llm.prompts import check_body

            check_body(value, "inline")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> PromptConfiguration:
        if (self.prompt is None) == (self.inline is None):
            raise ValueError(
                "give exactly one of prompt (a registry reference such as 'name@production') "
                "and inline (a prompt body)"
            )
        return self


def _variable_problems(node: NodeSpec, body: Any) -> list[Problem]:
    """Inputs that are not variables of the prompt, and required variables not fed."""
    inputs = {port.name for port in node.inputs}
    declared = body.variables
    problems = [
        Problem(
            node.name,
            f"inputs.{name}",
            f"the prompt has no variable {name!r} (variables: {', '.join(declared) or 'none'}); "
            "remove the input or declare the variable",
        )
        for name in sorted(inputs - set(declared))
    ]
    for name, variable in declared.items():
        if variable.required and name not in inputs:
            problems.append(
                Problem(
                    node.name,
                    f"inputs.{name}",
                    f"the prompt's variable {name!r} has no default and no input feeds it; "
                    f"add an input named {name!r}",
                )
            )
    return problems


@register_node_type
class PromptNode(NodeType):
    """Renders a prompt with the inputs as its variables and runs it on the variant's model.

    Text prompts are sent as one user message; chat prompts as their messages. The
    output ``modelCompletion`` is the reply's text or, when the variant declares an
    ``output_schema``, the parsed value (decoded under the schema; an Object for an object
    schema), whose fields downstream expressions may select (``$.data.city``); validation
    checks those fields against the schema of an inline prompt. An attached ``guardrail``
    (:class:`~tessera.llm.flows._guard_node.GuardrailAttachment`) checks the user messages
    before the call and the completion after it.
    """

    type_name = "Prompt"
    configuration_model = PromptConfiguration
    required_outputs = {"modelCompletion": "String"}
    extra_inputs = True

    def check(self, node: NodeSpec) -> list[Problem]:
        config: PromptConfiguration = self.configuration(node)
        guard_problems = prompt_guard_problems(node, config.guardrail)
        if config.inline is None:
            return guard_problems  # a registry prompt is resolved when the flow runs
        from tessera.llm.prompts import check_body

        body = check_body(config.inline, "inline")
        problems = _variable_problems(node, body)
        if config.variant is not None:
            try:
                body.variant(config.variant)
            except InvalidInputError as exc:
                problems.append(Problem(node.name, "configuration.variant", str(exc)))
        return problems + guard_problems

    def _inline_variant(self, node: NodeSpec) -> Any:
        """The variant of an inline prompt (None for a registry prompt or a bad one)."""
        from tessera.llm.prompts import check_body

        try:
            config: PromptConfiguration = self.configuration(node)
            if config.inline is None:
                return None
            return check_body(config.inline, "inline").variant(config.variant)
        except (ValidationError, InvalidInputError):  # reported by the other checks
            return None

    def output_types(self, node: NodeSpec) -> Mapping[str, str]:
        """``modelCompletion``: a String, or the type of the prompt's ``output_schema`` (an
        Object with ``tools``: the call; any type for a registry prompt, resolved when the
        flow runs)."""
        if node.configuration.get("prompt") is not None:
            return {"modelCompletion": ANY_TYPE}
        variant = self._inline_variant(node)
        schema = None if variant is None else variant.answer_schema()
        if schema is None:
            return self.required_outputs
        return {"modelCompletion": data_type_of(schema) or ANY_TYPE}

    def output_schema(self, node: NodeSpec, output: str) -> Mapping[str, Any] | None:
        """The inline prompt's answer schema for ``modelCompletion``: its ``output_schema``,
        or with ``tools`` the schema of a call (``$.data.arguments.city``)."""
        variant = self._inline_variant(node)
        if output != "modelCompletion" or variant is None:
            return None
        schema: Mapping[str, Any] | None = variant.answer_schema()
        return schema

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        from tessera.llm.prompts import check_body, render

        config: PromptConfiguration = self.configuration(node)
        if config.inline is not None:
            body = check_body(config.inline, "inline")
            source = f"the inline prompt of node {node.name!r}"
        else:
            assert config.prompt is not None
            body = ctx.registry.prompt(config.prompt)
            source = f"prompt {config.prompt!r}"
        variant = body.variant(config.variant)
        rendered = render(body, inputs, source=source)
        messages = variant.prepare(
            [{"role": "user", "content": rendered}] if isinstance(rendered, str) else rendered
        )
        if config.guardrail is None:
            result = ctx.backend(variant.model).chat(messages, variant.generation_params())
            completion, finish = result.text, result.finish_reason
        else:
            finish = "stop"
            completion = guard_prompt(
                ctx,
                node,
                config.guardrail,
                messages,
                inputs,
                lambda checked: ctx.backend(variant.model).chat(
                    checked, variant.generation_params()
                ),
            )
        if variant.answer_schema() is None:
            return {"modelCompletion": completion}
        return {"modelCompletion": _parsed(completion, finish, node.name, variant.max_tokens)}


def _parsed(text: str, finish_reason: str, node: str, max_tokens: int) -> Any:
    """The structured answer of a prompt with an ``output_schema``, parsed."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        why = (
            f"max_tokens={max_tokens} ended it before the JSON was complete"
            if finish_reason == "length"
            else "it is not JSON (a guardrail may have masked part of it)"
        )
        raise InvalidInputError(
            f"modelCompletion={text[:60]!r} of node {node!r} is invalid: the prompt declares an "
            f"output_schema or tools, but {why}. Raise the variant's max_tokens, or bound the "
            "schema's strings (maxLength) and arrays (maxItems)."
        ) from None
